//! The signature probe against what the real tools write: mkfs, mkswap and
//! sfdisk from Debian, on image files (no root, no device needed). A tool
//! that is missing is said on stderr; CI installs them all.

use std::path::Path;
use std::process::Command;

use gauntlet_observe::{SignatureClass, probe_device};

/// An image of `mib` MiB of zeros (sparse).
fn image(dir: &Path, name: &str, mib: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(mib << 20).unwrap();
    path
}

/// Runs `program args... image`; false (and says so) when the tool is missing.
fn make(program: &str, args: &[&str], image: &Path, stdin: Option<&str>) -> bool {
    use std::io::Write;
    let mut cmd = Command::new(program);
    cmd.args(args).arg(image);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            #[allow(clippy::disallowed_macros, reason = "a skipped case says why")]
            {
                eprintln!("skipped: {program} is not installed");
            }
            return false;
        }
        Err(e) => panic!("{program}: {e}"),
    };
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn kinds(path: &Path) -> Vec<(&'static str, SignatureClass)> {
    probe_device(path)
        .unwrap()
        .into_iter()
        .map(|s| (s.kind, s.class))
        .collect()
}

#[test]
fn file_systems_made_by_their_tools_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str, u64); 5] = [
        ("mkfs.ext4", &["-q", "-F"], "ext4", 16),
        ("mkfs.ext2", &["-q", "-F"], "ext2", 16),
        ("mkfs.vfat", &[], "vfat", 16),
        ("mkfs.xfs", &["-q", "-f"], "xfs", 320),
        ("mkswap", &[], "swap", 16),
    ];
    for (program, args, kind, mib) in cases {
        let img = image(dir.path(), kind, mib);
        if make(program, args, &img, None) {
            assert_eq!(
                kinds(&img),
                [(kind, SignatureClass::FileSystem)],
                "{program}"
            );
        }
    }
}

#[test]
fn partition_tables_made_by_sfdisk_are_found() {
    let dir = tempfile::tempdir().unwrap();
    for (label, kind) in [("gpt", "gpt"), ("dos", "dos")] {
        let img = image(dir.path(), label, 16);
        let script = format!("label: {label}\n,8MiB,L\n");
        if make("sfdisk", &["--quiet"], &img, Some(&script)) {
            let found = kinds(&img);
            assert_eq!(found, [(kind, SignatureClass::PartitionTable)], "{label}");
        }
    }
}

#[test]
fn a_zeroed_image_and_a_wiped_one_hold_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "zeros", 4);
    assert!(kinds(&img).is_empty());
    if make("mkfs.ext4", &["-q", "-F"], &img, None) {
        assert!(!kinds(&img).is_empty());
        // wipefs erases exactly the signatures blkid knows.
        if make("wipefs", &["--all", "--quiet"], &img, None) {
            assert!(kinds(&img).is_empty(), "{:?}", kinds(&img));
        }
    }
}

#[test]
fn a_missing_device_is_an_error_not_an_empty_device() {
    assert!(probe_device(Path::new("/nonexistent/sdz")).is_err());
}
