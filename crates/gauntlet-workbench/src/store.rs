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
pub(crate) fn link_latest(store: &Path, workload: &str, run_dir: &Path) -> std::io::Result<()> {
    let name = run_dir.file_name().expect("run dirs have names");
    relink(&store.join("latest"), &Path::new(workload).join(name))?;
    relink(&store.join(workload).join("latest"), Path::new(name))
}

fn relink(link: &Path, target: &Path) -> std::io::Result<()> {
    // Replace atomically: a reader never sees the link missing.
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
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
        link_latest(tmp.path(), "echo", &a).unwrap();
        link_latest(tmp.path(), "echo", &b).unwrap();
        let latest = std::fs::canonicalize(tmp.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b).unwrap());
        let wl_latest = std::fs::canonicalize(tmp.path().join("echo/latest")).unwrap();
        assert_eq!(wl_latest, latest);
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
        link_latest(tmp.path(), "echo", &a).unwrap();
        let canon = std::fs::canonicalize(&a).unwrap();
        for link in [id, "latest", "echo/latest"] {
            assert_eq!(std::fs::canonicalize(tmp.path().join(link)).unwrap(), canon);
        }
    }
}
