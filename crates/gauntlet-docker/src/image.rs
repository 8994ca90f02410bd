//! Images built offline: `FROM scratch` with one executable and the shared
//! libraries it loads, so a test or a plan needs no registry and no base
//! image. Dockerfile builds ([`crate::build_from_dockerfile`]) go through
//! the same build code.
//!
//! The build context is a tar made here: a `Dockerfile`, the executable at
//! `/app/<name>`, and every library `ldd` lists (the dynamic loader too) at
//! the path `ldd` gives, so the loader finds them where it would on this
//! machine. It goes to the engine's build endpoint with the classic builder
//! (no BuildKit session is needed), labelled with the run, the owner and a
//! hash of the context. An image with the same tag and the same hash is
//! reused instead of rebuilt.
//!
//! Libraries a program opens at run time with `dlopen` (NSS modules other
//! than `files`, `iconv` converters, plugins) are not in `ldd`'s list and so
//! not in the image; an executable that needs them needs a fuller image.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::owner::Liveness;
use crate::{DockerError, Engine, OWNER_LABEL, Ownership};

/// The label holding the SHA-256 of an image's build context: the same
/// executable, libraries and entrypoint give the same hash.
pub const CONTENT_LABEL: &str = "io.gauntlet.content";

/// Where the executable lives inside the image.
const APP_DIR: &str = "app";

/// How many lines of builder output an error keeps.
const LOG_LINES: usize = 20;

/// An image on the engine, built (or found) by [`build_from_binary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The tag it was asked for.
    pub tag: String,
    /// The engine's image id (`sha256:...`).
    pub id: String,
    /// [`CONTENT_LABEL`]'s value.
    pub content: String,
    /// Whether an existing image was reused instead of built.
    pub reused: bool,
    /// The size of the build context sent (0 when reused).
    pub context_bytes: u64,
}

/// Builds image `tag` holding `executable` and the shared libraries it
/// needs, with entrypoint `["/app/<name>", args...]` (a container's command
/// is appended to it), labelled with `ownership` and the context's hash.
///
/// An image already tagged `tag` with the same hash is reused, unless its
/// owner is a dead process of this host (a sweep may remove it at any
/// moment): then it is built again. Builds never use the builder's cache,
/// so no build depends on another run's images.
pub async fn build_from_binary(
    engine: &Engine,
    ownership: &Ownership,
    tag: &str,
    executable: &Path,
    args: &[String],
) -> Result<Image, DockerError> {
    let context = {
        let (exe, args) = (executable.to_owned(), args.to_vec());
        // ldd runs a process and a debug binary is 100 MB to read and hash.
        tokio::task::spawn_blocking(move || Context::make(&exe, &args))
            .await
            .map_err(|e| DockerError::Invalid {
                what: format!("executable {}", executable.display()),
                why: format!("preparing its build context failed: {e}"),
            })??
    };

    build(
        engine,
        ownership,
        tag,
        context,
        "Dockerfile",
        &BTreeMap::new(),
    )
    .await
}

/// The one way both builds go to the engine: reuses the image tagged `tag`
/// if it holds `context.content` ([`reusable`]); else sends the context to
/// the classic builder with `dockerfile` (its path in the context) and the
/// build arguments `args`, labelled, without the builder's cache; keeps
/// the builder's last lines of output for the error of a failed step, and
/// inspects the image made.
pub(crate) async fn build(
    engine: &Engine,
    ownership: &Ownership,
    tag: &str,
    context: Context,
    dockerfile: &str,
    args: &BTreeMap<String, String>,
) -> Result<Image, DockerError> {
    if let Some(image) = reusable(engine, tag, &context.content).await? {
        return Ok(image);
    }

    let content_label = HashMap::from([(CONTENT_LABEL.to_owned(), context.content.clone())]);
    let labels = ownership.labels(&content_label);
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile)
        .t(tag)
        .rm(true)
        .forcerm(true)
        // The builder's cache would take a step's result from another run's
        // image, which that run may remove mid-build ("failed to get
        // digest"); the reuse above covers what the cache would save.
        .nocache(true)
        .labels(&labels);
    if !args.is_empty() {
        options = options.buildargs(&args.iter().collect::<HashMap<_, _>>());
    }
    let context_bytes = context.tar.len() as u64;
    let mut log: VecDeque<String> = VecDeque::new();
    let mut steps = StepImages::default();
    let mut output = engine.client().build_image(
        options.build(),
        None,
        Some(bollard::body_full(context.tar.into())),
    );
    while let Some(item) = output.next().await {
        match item {
            Ok(info) => {
                for line in info.stream.iter().flat_map(|s| s.lines()) {
                    let line = line.trim_end();
                    steps.read(line);
                    if !line.is_empty() {
                        if log.len() == LOG_LINES {
                            log.pop_front();
                        }
                        log.push_back(line.to_owned());
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                drop(output);
                steps.remove(engine, None).await;
                return Err(DockerError::Build {
                    tag: tag.to_owned(),
                    message: error.trim().to_owned(),
                    log: log.into(),
                });
            }
            Err(error) => {
                drop(output);
                steps.remove(engine, None).await;
                return Err(DockerError::Engine {
                    what: format!("build image {tag}"),
                    error,
                });
            }
        }
    }
    drop(output);
    let inspect = engine
        .client()
        .inspect_image(tag)
        .await
        .map_err(DockerError::engine(format!(
            "inspect image {tag} after building it"
        )))?;
    let id = inspect.id.unwrap_or_default();
    steps.remove(engine, Some(&id)).await;
    Ok(Image {
        tag: tag.to_owned(),
        id,
        content: context.content,
        reused: false,
        context_bytes,
    })
}

/// The images the classic builder commits for a build's steps, read from
/// its output (` ---> <id>` after each step but a `FROM`, whose id is its
/// base's). Those the built image does not stand on stay behind as
/// untagged images: every step of a failed build, an earlier stage's
/// steps of a multi-stage one. They carry only their base's labels (the
/// builder adds the build's in a last step of its own): none when the base
/// is not the run's (`FROM scratch`, a user's `FROM debian`), so no
/// cleanup would ever find them. So they are removed after the build.
#[derive(Debug, Default)]
struct StepImages {
    /// Short ids, in the order committed.
    ids: Vec<String>,
    /// The step being read is a `FROM`.
    in_from: bool,
}

impl StepImages {
    /// Reads one line of the builder's output.
    fn read(&mut self, line: &str) {
        let line = line.trim();
        if let Some(step) = line.strip_prefix("Step ") {
            // "Step 2/5 : COPY app /app"
            let instruction = step.split_once(" : ").map_or("", |(_, i)| i);
            self.in_from = instruction
                .split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case("FROM"));
        } else if let Some(id) = line.strip_prefix("---> ") {
            // Not " ---> Running in <container>", nor a FROM's base.
            if !self.in_from && id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.ids.push(id.to_owned());
            }
        }
    }

    /// Removes the step images, the last first, but `built` (the image
    /// made, `sha256:...`). Never forced: one the built image stands on
    /// refuses, as it should; one gone with a later one's removal is a 404.
    async fn remove(self, engine: &Engine, built: Option<&str>) {
        let built = built.map(|id| id.trim_start_matches("sha256:"));
        for id in self.ids.iter().rev() {
            if built.is_some_and(|b| b.starts_with(id.as_str())) {
                continue;
            }
            let _ = remove_image(engine, id).await;
        }
    }
}

/// The image tagged `tag`, if it holds `content` and no sweep may take it.
async fn reusable(engine: &Engine, tag: &str, content: &str) -> Result<Option<Image>, DockerError> {
    let inspect = match engine.client().inspect_image(tag).await {
        Ok(inspect) => inspect,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(error) => {
            return Err(DockerError::Engine {
                what: format!("inspect image {tag}"),
                error,
            });
        }
    };
    let labels = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    if labels.get(CONTENT_LABEL).map(String::as_str) != Some(content) {
        return Ok(None);
    }
    let dead_owner = labels
        .get(OWNER_LABEL)
        .and_then(|o| crate::owner::parse_owner_label(o))
        .is_some_and(|o| o.liveness() == Liveness::Dead);
    if dead_owner {
        return Ok(None);
    }
    Ok(Some(Image {
        tag: tag.to_owned(),
        id: inspect.id.unwrap_or_default(),
        content: content.to_owned(),
        reused: true,
        context_bytes: 0,
    }))
}

/// The id of image `name` (a tag or an id) when the engine has it;
/// `None` when it has not (nothing is pulled).
pub async fn find_image(engine: &Engine, name: &str) -> Result<Option<String>, DockerError> {
    match engine.client().inspect_image(name).await {
        Ok(inspect) => Ok(Some(inspect.id.unwrap_or_default())),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(error) => Err(DockerError::Engine {
            what: format!("inspect image {name}"),
            error,
        }),
    }
}

/// Removes image `image` (a tag or an id) if no container uses it. Never
/// forced: an image in use by another run's container stays.
pub async fn remove_image(engine: &Engine, image: &str) -> Result<(), DockerError> {
    let options = RemoveImageOptionsBuilder::default().force(false).build();
    engine
        .client()
        .remove_image(image, Some(options), None)
        .await
        .map(drop)
        .map_err(DockerError::engine(format!("remove image {image}")))
}

/// A build context: the tar and its hash ([`CONTENT_LABEL`]'s value).
pub(crate) struct Context {
    pub(crate) tar: Vec<u8>,
    pub(crate) content: String,
}

impl Context {
    fn make(executable: &Path, args: &[String]) -> Result<Context, DockerError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |error| DockerError::Io { path, error }
        };
        let exe = std::fs::canonicalize(executable).map_err(io(executable))?;
        // The name it was called by, not its symlink's target: programs
        // that act by `argv[0]` (redis-server is a link to
        // redis-check-rdb) must keep it.
        let called = if executable.file_name().is_some() {
            executable
        } else {
            exe.as_path()
        };
        let name = called
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| DockerError::Invalid {
                what: format!("executable {}", exe.display()),
                why: "its file name is not UTF-8".to_owned(),
            })?
            .to_owned();
        // Path inside the image (without the leading '/') -> file here.
        let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
        files.insert(format!("{APP_DIR}/{name}"), exe.clone());
        for library in shared_libraries(&exe)? {
            let inside = library.to_string_lossy().trim_start_matches('/').to_owned();
            files.insert(inside, library);
        }
        let dockerfile = dockerfile(&format!("/{APP_DIR}/{name}"), args);

        let mut tar = tar::Builder::new(Vec::new());
        // Fixed metadata, sorted entries: the same inputs make the same
        // bytes, so the hash of the tar is the hash of the content.
        let append = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, kind, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_size(data.len() as u64);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            tar.append_data(&mut header, path, data)
        };
        let tar_err = |error| DockerError::Io {
            path: PathBuf::from("<build context>"),
            error,
        };
        append(
            &mut tar,
            "Dockerfile",
            0o644,
            tar::EntryType::Regular,
            dockerfile.as_bytes(),
        )
        .map_err(tar_err)?;
        let dirs: BTreeSet<String> = files
            .keys()
            .flat_map(|inside| {
                let parts: Vec<&str> = inside.split('/').collect();
                (1..parts.len())
                    .map(|n| parts[..n].join("/"))
                    .collect::<Vec<_>>()
            })
            .collect();
        append(&mut tar, "rootfs/", 0o755, tar::EntryType::Directory, &[]).map_err(tar_err)?;
        for dir in &dirs {
            append(
                &mut tar,
                &format!("rootfs/{dir}/"),
                0o755,
                tar::EntryType::Directory,
                &[],
            )
            .map_err(tar_err)?;
        }
        for (inside, here) in &files {
            // Read through symlinks (`/lib64/ld-linux-x86-64.so.2` is one):
            // the image gets the file at the path the loader asks for.
            let data = std::fs::read(here).map_err(io(here))?;
            append(
                &mut tar,
                &format!("rootfs/{inside}"),
                0o755,
                tar::EntryType::Regular,
                &data,
            )
            .map_err(tar_err)?;
        }
        let tar = tar.into_inner().map_err(tar_err)?;
        let content = sha256(&[&tar]);
        Ok(Context { tar, content })
    }
}

/// `FROM scratch`, the root file system, and the entrypoint in exec form
/// (JSON), so arguments reach the program as given, with no shell.
fn dockerfile(entry: &str, args: &[String]) -> String {
    let mut entrypoint = vec![entry.to_owned()];
    entrypoint.extend(args.iter().cloned());
    let entrypoint = serde_json::to_string(&entrypoint).expect("strings serialize");
    format!("FROM scratch\nCOPY rootfs/ /\nENTRYPOINT {entrypoint}\n")
}

/// The shared libraries `executable` loads, the dynamic loader included,
/// as absolute paths; none for a static executable.
fn shared_libraries(executable: &Path) -> Result<Vec<PathBuf>, DockerError> {
    let ldd_err = |why: String| DockerError::Ldd {
        executable: executable.to_owned(),
        why,
    };
    let out = Command::new("ldd")
        .arg(executable)
        .output()
        .map_err(|e| ldd_err(format!("cannot run ldd: {e} (Debian's libc-bin has it)")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // glibc's ldd exits 1 for a static executable.
        if stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        return Err(ldd_err(
            format!("{} {}", stderr.trim(), stdout.trim())
                .trim()
                .to_owned(),
        ));
    }
    parse_ldd(&stdout).map_err(|library| DockerError::MissingLibrary {
        executable: executable.to_owned(),
        library,
    })
}

/// Parses `ldd` output; `Err(soname)` for the first library not found.
///
/// ```text
///     linux-vdso.so.1 (0x00007ffd...)                       kernel-provided: skipped
///     libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)  the path after "=>"
///     /lib64/ld-linux-x86-64.so.2 (0x...)                   the loader: its own path
///     libfoo.so.1 => not found                              an error
/// ```
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.contains("statically linked") {
            continue;
        }
        let (name, target) = match line.split_once("=>") {
            Some((name, target)) => (name.trim(), target.trim()),
            None => (line, line),
        };
        if target.starts_with("not found") {
            return Err(name.to_owned());
        }
        let path = target.split(" (").next().unwrap_or("").trim();
        if path.starts_with('/') && !libraries.iter().any(|l: &PathBuf| l == Path::new(path)) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

/// `sha256:<hex>` of `parts` one after the other, as the engine writes
/// digests.
pub(crate) fn sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_paths_and_skips_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd5b5f2000)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f4193c02000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4193a20000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f4193d15000)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(
            parse_ldd("\tstatically linked\n").unwrap(),
            Vec::<PathBuf>::new()
        );
        assert_eq!(
            parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err(),
            "libfoo.so.1"
        );
    }

    #[test]
    fn step_images_are_read_from_the_builder_s_output_but_a_from_s() {
        let mut steps = StepImages::default();
        for line in [
            "Step 1/5 : FROM gauntlet-test/sh:r1 AS one",
            " ---> 0123456789ab",
            "Step 2/5 : COPY a /a",
            " ---> a21d6a41d599",
            "Step 3/5 : from scratch",
            " ---> ",
            "Step 4/5 : RUN [\"/sh\"]",
            " ---> Running in a798855308c5",
            "Removing intermediate container a798855308c5",
            " ---> c2b34773a2dc",
            "Step 5/5 : LABEL io.gauntlet.run=r1",
            " ---> 748ca9677db9",
            "Successfully built 748ca9677db9",
        ] {
            steps.read(line);
        }
        assert_eq!(steps.ids, ["a21d6a41d599", "c2b34773a2dc", "748ca9677db9"]);
    }

    #[test]
    fn the_entrypoint_is_exec_form_json() {
        assert_eq!(
            dockerfile("/app/gauntlet", &["example-node".into(), "a \"b\"".into()]),
            "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/app/gauntlet\",\"example-node\",\"a \\\"b\\\"\"]\n"
        );
    }

    #[test]
    fn the_context_is_deterministic_and_holds_the_loader() {
        // The test binary itself: dynamically linked like any Rust program.
        let me = std::env::current_exe().unwrap();
        let a = Context::make(&me, &[]).unwrap();
        let b = Context::make(&me, &[]).unwrap();
        assert_eq!(a.content, b.content);
        let c = Context::make(&me, &["x".into()]).unwrap();
        assert_ne!(
            a.content, c.content,
            "the entrypoint is part of the content"
        );
        let mut archive = tar::Archive::new(a.tar.as_slice());
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(paths[0], "Dockerfile");
        let name = me.file_name().unwrap().to_str().unwrap();
        assert!(paths.contains(&format!("rootfs/app/{name}")), "{paths:?}");
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("rootfs/") && p.contains("ld-linux")),
            "the dynamic loader is in the image: {paths:?}"
        );
    }

    #[test]
    fn a_missing_executable_is_named() {
        let err = Context::make(Path::new("/nonexistent/prog"), &[])
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("/nonexistent/prog: "), "{err}");
    }
}
