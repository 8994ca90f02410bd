//! The run's directory: `<store>/<workload>/<run-id>/`, also reachable as
//! `<store>/<run-id>` (where the run store looks for a run's files); or
//! `<store>/<workload>/<timestamp>/` for a run the store does not know (the
//! bench). `latest` links either way.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Creates a fresh run directory (and its `node-logs/`) and returns it.
pub(crate) fn create_run_dir(store: &Path, workload: &str) -> std::io::Result<PathBuf> {
    let parent = store.join(workload);
    std::fs::create_dir_all(&parent)?;
    let stamp = timestamp(SystemTime::now());
    // Two runs in the same millisecond get distinct directories.
    for n in 0.. {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::create_dir(dir.join("node-logs"))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// Creates `<store>/<workload>/<name>/` (and its `node-logs/`), which must
/// be new, and links `<store>/<name>` to it: the run store finds every
/// run's files at `<store>/<run-id>/`, and the README's
/// `store/<workload>/...` stays true.
pub(crate) fn create_named_run_dir(
    store: &Path,
    workload: &str,
    name: &str,
) -> std::io::Result<PathBuf> {
    let parent = store.join(workload);
    std::fs::create_dir_all(&parent)?;
    let dir = parent.join(name);
    std::fs::create_dir(&dir)?;
    std::fs::create_dir(dir.join("node-logs"))?;
    std::os::unix::fs::symlink(Path::new(workload).join(name), store.join(name))?;
    Ok(dir)
}

/// Points `<store>/latest` and `<store>/<workload>/latest` at `run_dir`.
/// A link that cannot be made is no reason to fail a run: each one that
/// could not be is returned with why, for a warning.
pub(crate) fn link_latest(store: &Path, workload: &str, run_dir: &Path) -> Vec<String> {
    let Some(name) = run_dir.file_name() else {
        return vec![format!(
            "{}: a run directory without a name",
            run_dir.display()
        )];
    };
    [
        (store.join("latest"), Path::new(workload).join(name)),
        (
            store.join(workload).join("latest"),
            Path::new(name).to_owned(),
        ),
    ]
    .into_iter()
    .filter_map(|(link, target)| {
        relink(&link, &target)
            .err()
            .map(|e| format!("{} not pointed at the run: {e}", link.display()))
    })
    .collect()
}

/// Points the symbolic link `link` at `target`, atomically (a reader never
/// sees it missing). Only a symbolic link is replaced: a file or directory
/// of that name is not gauntlet's, and is left alone (an error). No
/// temporary link is left behind either way.
pub(crate) fn relink(link: &Path, target: &Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    match std::fs::symlink_metadata(link) {
        Ok(m) if !m.file_type().is_symlink() => {
            let what = if m.is_dir() { "a directory" } else { "a file" };
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("it is {what} gauntlet did not make, left as it is"),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = link.file_name().unwrap_or_default().to_string_lossy();
    let tmp = link.with_file_name(format!(".{name}.{}.tmp-link", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// `20261123T162755.123Z`: sortable, UTC, safe in file names.
fn timestamp(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (y, m, day, h, mi, s, milli) = gauntlet_events::clock::utc_parts(ms);
    format!("{y:04}{m:02}{day:02}T{h:02}{mi:02}{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_451_275_123);
        assert_eq!(timestamp(t), "20261123T162755.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(timestamp(leap).starts_with("20000229T"));
    }

    #[test]
    fn run_dirs_are_unique_and_latest_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let a = create_run_dir(tmp.path(), "echo").unwrap();
        let b = create_run_dir(tmp.path(), "echo").unwrap();
        assert_ne!(a, b);
        assert!(b.join("node-logs").is_dir());
        assert!(link_latest(tmp.path(), "echo", &a).is_empty());
        assert!(link_latest(tmp.path(), "echo", &b).is_empty());
        let latest = std::fs::canonicalize(tmp.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b).unwrap());
        let wl_latest = std::fs::canonicalize(tmp.path().join("echo/latest")).unwrap();
        assert_eq!(wl_latest, latest);
    }

    #[test]
    fn only_a_link_is_replaced_and_no_temporary_link_is_left() {
        let tmp = tempfile::tempdir().unwrap();
        let a = create_run_dir(tmp.path(), "echo").unwrap();
        std::fs::create_dir(tmp.path().join("latest")).unwrap();
        std::fs::write(tmp.path().join("latest/mine"), "keep").unwrap();
        std::fs::write(tmp.path().join("echo/latest"), "also mine").unwrap();
        let problems = link_latest(tmp.path(), "echo", &a);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("is a directory gauntlet did not make"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("is a file gauntlet did not make"),
            "{problems:?}"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("latest/mine")).unwrap(),
            "keep"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("echo/latest")).unwrap(),
            "also mine"
        );
        for dir in [tmp.path().to_owned(), tmp.path().join("echo")] {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(!name.contains("tmp-link"), "{name} left behind");
            }
        }
    }

    #[test]
    fn named_run_dirs_are_linked_from_the_store_and_latest_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let id = "r20261123-162755-abc";
        let a = create_named_run_dir(tmp.path(), "echo", id).unwrap();
        assert_eq!(a, tmp.path().join("echo").join(id));
        assert!(a.join("node-logs").is_dir());
        assert!(create_named_run_dir(tmp.path(), "echo", id).is_err());
        assert_eq!(
            std::fs::read_link(tmp.path().join(id)).unwrap(),
            Path::new("echo").join(id)
        );
        assert!(link_latest(tmp.path(), "echo", &a).is_empty());
        let canon = std::fs::canonicalize(&a).unwrap();
        for link in [id, "latest", "echo/latest"] {
            assert_eq!(std::fs::canonicalize(tmp.path().join(link)).unwrap(), canon);
        }
    }
}
