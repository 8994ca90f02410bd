//! Images built from a Dockerfile and its context directory: Compose's
//! `build: { context, dockerfile, args }`.
//!
//! The context is tarred here, as `docker build` does on its client side:
//! every file under the directory but what the `.dockerignore` at its root
//! leaves out (not BuildKit's `<Dockerfile>.dockerignore`), with the Dockerfile and `.dockerignore`
//! always in (the engine reads the one, and leaves both out of `COPY`
//! when they are ignored). Symbolic links go in as links, never followed;
//! sockets, FIFOs and devices are left out. The tar is made in memory,
//! hence a limit on the files' total size ([`CONTEXT_LIMIT`]).
//!
//! It is then built as [`build_from_binary`](crate::build_from_binary)'s
//! context is, by the same code: the classic builder without its cache,
//! labelled with the run, the owner and [`CONTENT_LABEL`](crate::CONTENT_LABEL),
//! here the hash of the tar, the Dockerfile's path and the build
//! arguments; an image of the same tag and hash is reused. Files keep
//! their modes and modification times (as `docker build` sends them), so
//! touching a file makes a new hash and a new build.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::dockerignore::Ignore;
use crate::image::{self, Context};
use crate::{DockerError, Engine, Image, Ownership};

/// The most a context's files may hold together: 512 MiB, as the tar is
/// made in memory before it is sent. A bigger context usually means a
/// `.dockerignore` is missing (a `target/` or `node_modules/`).
pub const CONTEXT_LIMIT: u64 = 512 << 20;

/// Builds image `tag` from `dockerfile` (its path relative to `context`,
/// `"Dockerfile"` unless a plan says otherwise) with the directory
/// `context`, passing `args` as the build arguments (`ARG`), labelled with
/// `ownership` and the context's hash.
///
/// Refused before anything is sent ([`DockerError::Invalid`]): a
/// Dockerfile outside the context (`../Dockerfile`, an absolute path, a
/// symbolic link that leads out) or missing, a bad `.dockerignore`
/// pattern, files adding up to more than [`CONTEXT_LIMIT`]. A step that
/// fails (a `RUN` that exits non-zero, a `COPY` of a missing file) is
/// [`DockerError::Build`] with the builder's message and its last lines.
///
/// An image already tagged `tag` with the same hash is reused, unless its
/// owner is a dead process of this host. Nothing is pulled: a `FROM`
/// names an image the engine has.
pub async fn build_from_dockerfile(
    engine: &Engine,
    ownership: &Ownership,
    tag: &str,
    context: &Path,
    dockerfile: &str,
    args: &BTreeMap<String, String>,
) -> Result<Image, DockerError> {
    let (made, dockerfile) = {
        let (dir, file, given) = (context.to_owned(), dockerfile.to_owned(), args.clone());
        // Walking, reading and hashing a context is blocking file work.
        tokio::task::spawn_blocking(move || make(&dir, &file, &given, CONTEXT_LIMIT))
            .await
            .map_err(|e| DockerError::Invalid {
                what: format!("build context {}", context.display()),
                why: format!("preparing it failed: {e}"),
            })??
    };
    image::build(engine, ownership, tag, made, &dockerfile, args).await
}

/// The context of directory `dir` for `dockerfile`, and the Dockerfile's
/// path in it as the engine is to be told (`/`-separated, symbolic links
/// resolved).
fn make(
    dir: &Path,
    dockerfile: &str,
    args: &BTreeMap<String, String>,
    limit: u64,
) -> Result<(Context, String), DockerError> {
    let root = std::fs::canonicalize(dir).map_err(io(dir))?;
    if !root.is_dir() {
        return Err(DockerError::Invalid {
            what: format!("build context {}", dir.display()),
            why: "it is not a directory".to_owned(),
        });
    }
    let dockerfile = dockerfile_in(&root, dir, dockerfile)?;
    let ignore_path = root.join(".dockerignore");
    let mut ignore = match std::fs::read(&ignore_path) {
        Ok(bytes) => {
            Ignore::parse(&String::from_utf8_lossy(&bytes)).map_err(|why| DockerError::Invalid {
                what: ignore_path.display().to_string(),
                why,
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => return Err(io(&ignore_path)(e)),
    };
    ignore.keep(&dockerfile);
    ignore.keep(".dockerignore");

    let mut walk = Walk {
        ignore: &ignore,
        context: dir,
        entries: Vec::new(),
        bytes: 0,
        limit,
    };
    walk.dir(&root, "")?;
    let tar = tar_of(&walk.entries)?;
    // The tar is not all: the same context builds another image from
    // another Dockerfile or with other arguments.
    let extra = serde_json::to_vec(&(&dockerfile, args)).map_err(|e| DockerError::Invalid {
        what: format!("build arguments of {}", dir.display()),
        why: e.to_string(),
    })?;
    let content = image::sha256(&[&tar, &extra]);
    Ok((Context { tar, content }, dockerfile))
}

/// `dockerfile`'s path inside the context `root` (canonical; `given` is
/// the context as the caller named it, for messages), checked to be a
/// file there.
fn dockerfile_in(root: &Path, given: &Path, dockerfile: &str) -> Result<String, DockerError> {
    let refuse = |why: String| DockerError::Invalid {
        what: format!("dockerfile {dockerfile}"),
        why,
    };
    let outside = || {
        refuse(format!(
            "it is outside the build context {}",
            given.display()
        ))
    };
    let path = Path::new(dockerfile);
    if dockerfile.is_empty() {
        return Err(refuse("no path given".to_owned()));
    }
    if path.is_absolute() {
        return Err(refuse(format!(
            "it must be a path relative to the build context {}",
            given.display()
        )));
    }
    // Lexically first: `a/../../Dockerfile` is outside even when `a` is a
    // link that leads elsewhere.
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => return Err(outside()),
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    let full = root.join(path);
    let real = match std::fs::canonicalize(&full) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(format!(
                "there is no such file in the build context {}",
                given.display()
            )));
        }
        Err(e) => return Err(io(&full)(e)),
    };
    let Ok(inside) = real.strip_prefix(root) else {
        return Err(outside());
    };
    if !real.is_file() {
        return Err(refuse("it is not a file".to_owned()));
    }
    let parts: Option<Vec<&str>> = inside
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    parts
        .map(|p| p.join("/"))
        .ok_or_else(|| refuse("its path is not UTF-8".to_owned()))
}

/// One thing in the context.
struct Entry {
    /// Its path in the tar (relative, `/`-separated).
    name: String,
    /// Where it is here.
    path: PathBuf,
    meta: Metadata,
    kind: Kind,
}

enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
}

/// A walk of the context, in name order (the same tree makes the same tar).
struct Walk<'a> {
    ignore: &'a Ignore,
    /// The context as the caller named it, for messages.
    context: &'a Path,
    entries: Vec<Entry>,
    /// The regular files' bytes so far.
    bytes: u64,
    limit: u64,
}

impl Walk<'_> {
    /// Adds what is in directory `dir` (`rel` inside the context).
    fn dir(&mut self, dir: &Path, rel: &str) -> Result<(), DockerError> {
        let mut children = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io(dir))?;
        children.sort();
        for path in children {
            let Some(name) = path.file_name() else {
                continue;
            };
            let name_text = name.to_string_lossy();
            let name = if rel.is_empty() {
                name_text.into_owned()
            } else {
                format!("{rel}/{name_text}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let excluded = self.ignore.excludes(&name);
            if meta.is_dir() {
                // An excluded directory is entered only for what an
                // exception may take back; it is not an entry itself.
                if excluded && !self.ignore.may_keep_below(&name) {
                    continue;
                }
                if !excluded {
                    self.push(name.clone(), path.clone(), meta, Kind::Dir)?;
                }
                self.dir(&path, &name)?;
                continue;
            }
            if excluded {
                continue;
            }
            let kind = if meta.file_type().is_symlink() {
                Kind::Symlink(std::fs::read_link(&path).map_err(io(&path))?)
            } else if meta.is_file() {
                self.bytes += meta.len();
                if self.bytes > self.limit {
                    return Err(DockerError::Invalid {
                        what: format!("build context {}", self.context.display()),
                        why: format!(
                            "its files add up to {} bytes by {name}, past the {} a context may hold here (it is made in memory); leave the rest out with a .dockerignore",
                            self.bytes,
                            size(self.limit)
                        ),
                    });
                }
                Kind::File
            } else {
                // A socket, a FIFO, a device: nothing a build copies.
                continue;
            };
            self.push(name, path, meta, kind)?;
        }
        Ok(())
    }

    fn push(
        &mut self,
        name: String,
        path: PathBuf,
        meta: Metadata,
        kind: Kind,
    ) -> Result<(), DockerError> {
        if path.file_name().and_then(|n| n.to_str()).is_none() {
            return Err(DockerError::Invalid {
                what: format!("build context {}", self.context.display()),
                why: format!("the name of {} is not UTF-8", path.display()),
            });
        }
        self.entries.push(Entry {
            name,
            path,
            meta,
            kind,
        });
        Ok(())
    }
}

/// The tar of `entries`: modes and times as they are here, owners root
/// (as `docker build` sends them; `COPY` makes files root's anyway).
fn tar_of(entries: &[Entry]) -> Result<Vec<u8>, DockerError> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.meta.mode() & 0o7777);
        header.set_mtime(u64::try_from(entry.meta.mtime()).unwrap_or(0));
        header.set_uid(0);
        header.set_gid(0);
        let failed = io(&entry.path);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, format!("{}/", entry.name), std::io::empty())
                    .map_err(failed)?;
            }
            Kind::File => {
                // Read whole, so the size in the header is what follows it
                // even if the file changes meanwhile.
                let data = std::fs::read(&entry.path).map_err(io(&entry.path))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, &entry.name, data.as_slice())
                    .map_err(failed)?;
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, &entry.name, target)
                    .map_err(failed)?;
            }
        }
    }
    tar.into_inner().map_err(|error| DockerError::Io {
        path: PathBuf::from("<build context>"),
        error,
    })
}

/// `512 MiB`, or `2048 bytes` when not whole MiB.
fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DockerError {
    let path = path.to_owned();
    move |error| DockerError::Io { path, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// The tar's entries: name -> (kind, link target or contents).
    fn entries(tar: &[u8]) -> BTreeMap<String, (tar::EntryType, String)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let kind = e.header().entry_type();
                let mut text = String::new();
                if let Some(target) = e.link_name().unwrap() {
                    text = target.to_string_lossy().into_owned();
                } else {
                    std::io::Read::read_to_string(&mut e, &mut text).unwrap();
                }
                (name, (kind, text))
            })
            .collect()
    }

    #[test]
    fn the_context_honours_dockerignore_and_keeps_links_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(
            d,
            ".dockerignore",
            "# build output\ntarget\n*.log\n!keep.log\nDockerfile\n",
        );
        write(d, "src/main.rs", "fn main() {}");
        write(d, "target/debug/big", "big");
        write(d, "app.log", "noise");
        write(d, "keep.log", "kept");
        std::os::unix::fs::symlink("src/main.rs", d.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("outside")).unwrap();
        let (context, dockerfile) = make(d, "Dockerfile", &BTreeMap::new(), CONTEXT_LIMIT).unwrap();
        assert_eq!(dockerfile, "Dockerfile");
        let got = entries(&context.tar);
        let names: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "keep.log",
                "link",
                "outside",
                "src/",
                "src/main.rs"
            ],
            "ignored: target/, app.log; kept although ignored: the Dockerfile"
        );
        assert_eq!(got["link"], (tar::EntryType::Symlink, "src/main.rs".into()));
        assert_eq!(
            got["outside"],
            (tar::EntryType::Symlink, "/etc/passwd".into()),
            "a link is not followed, wherever it leads"
        );
        assert_eq!(got["src/main.rs"].1, "fn main() {}");
    }

    #[test]
    fn the_hash_follows_the_content_the_dockerfile_and_the_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "other.Dockerfile", "FROM scratch\n");
        write(d, "a.txt", "a");
        let none = BTreeMap::new();
        let hash = |file: &str, args: &BTreeMap<String, String>| {
            make(d, file, args, CONTEXT_LIMIT).unwrap().0.content
        };
        let first = hash("Dockerfile", &none);
        assert_eq!(first, hash("Dockerfile", &none), "deterministic");
        assert_ne!(first, hash("other.Dockerfile", &none));
        let args = BTreeMap::from([("V".to_owned(), "1".to_owned())]);
        assert_ne!(first, hash("Dockerfile", &args));
        write(d, "a.txt", "b");
        assert_ne!(first, hash("Dockerfile", &none));
    }

    #[test]
    fn a_dockerfile_outside_the_context_or_missing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("ctx");
        write(&context, "Dockerfile", "FROM scratch\n");
        write(&context, "sub/Dockerfile", "FROM scratch\n");
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        std::os::unix::fs::symlink("../Dockerfile", context.join("escape")).unwrap();
        let none = BTreeMap::new();
        let refused = |file: &str| match make(&context, file, &none, CONTEXT_LIMIT) {
            Err(DockerError::Invalid { what, why }) => format!("{what}: {why}"),
            other => panic!("{file}: {:?}", other.map(|(_, f)| f)),
        };
        for outside in ["../Dockerfile", "sub/../../Dockerfile", "escape"] {
            let text = refused(outside);
            assert!(
                text.starts_with(&format!("dockerfile {outside}: it is outside")),
                "{text}"
            );
        }
        assert!(refused("/etc/hostname").contains("relative"));
        assert!(refused("Nope").contains("no such file"));
        assert!(refused("sub").contains("not a file"));
        let (_, file) = make(&context, "./sub/../sub/Dockerfile", &none, CONTEXT_LIMIT).unwrap();
        assert_eq!(file, "sub/Dockerfile");
    }

    #[test]
    fn a_context_past_the_limit_is_refused_with_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "big", &"x".repeat(3000));
        let err = make(d, "Dockerfile", &BTreeMap::new(), 2 << 10)
            .err()
            .unwrap()
            .to_string();
        // The Dockerfile's 13 bytes, then big's 3000.
        assert!(
            err.contains("3013 bytes by big, past the 2048 bytes a context"),
            "{err}"
        );
        write(d, ".dockerignore", "big\n");
        assert!(make(d, "Dockerfile", &BTreeMap::new(), 2 << 10).is_ok());
    }

    #[test]
    fn a_bad_dockerignore_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(dir.path(), ".dockerignore", "[oops\n");
        let err = make(dir.path(), "Dockerfile", &BTreeMap::new(), CONTEXT_LIMIT)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(".dockerignore: line 1"), "{err}");
    }
}
