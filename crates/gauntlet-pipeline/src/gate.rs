//! The `gate` stage before a destructive one: each device it names must
//! be a block device the plan allows (after symlinks resolve), unmounted,
//! unused, and blank as far as a read-only probe can tell — no file
//! system, partition table or volume metadata in its first mebibyte.
//! Anything found fails the gate, which holds the run: an operator clears
//! the device and retries, or overrides with a reason (kept in every
//! report), and only then does the destructive stage run.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use gauntlet_observe::probe_device;
use gauntlet_store::StageEnd;
use serde_json::{Value, json};

/// What the gate found on one device, each a reason to hold.
struct Finding {
    device: PathBuf,
    resolved: PathBuf,
    problems: Vec<String>,
}

/// Checks `devices` for the destructive stage `stage`.
pub(crate) fn check(stage: &str, devices: &[PathBuf], allowed: &[PathBuf]) -> StageEnd {
    let allowed: Vec<PathBuf> = allowed
        .iter()
        .map(|a| std::fs::canonicalize(a).unwrap_or_else(|_| a.clone()))
        .collect();
    let findings: Vec<Finding> = devices.iter().map(|d| inspect(d, &allowed)).collect();
    let shown: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "device": f.device, "resolved": f.resolved, "problems": f.problems,
            })
        })
        .collect();
    let held: Vec<String> = findings
        .iter()
        .filter(|f| !f.problems.is_empty())
        .map(|f| {
            format!(
                "unexpected data on {}: {}",
                f.device.display(),
                f.problems.join("; ")
            )
        })
        .collect();
    let summary = json!({ "guards": stage, "devices": shown });
    if held.is_empty() {
        StageEnd::passed().with_summary(summary)
    } else {
        StageEnd::failed(format!(
            "{}; stage {stage} would overwrite it: clear the device and retry, or override with a reason",
            held.join("; ")
        ))
        .with_summary(summary)
    }
}

fn inspect(device: &Path, allowed: &[PathBuf]) -> Finding {
    let mut finding = Finding {
        device: device.to_owned(),
        resolved: device.to_owned(),
        problems: Vec::new(),
    };
    let resolved = match std::fs::canonicalize(device) {
        Ok(r) => r,
        Err(e) => {
            finding.problems.push(format!("cannot be found: {e}"));
            return finding;
        }
    };
    finding.resolved = resolved.clone();
    if !allowed.contains(&resolved) {
        finding.problems.push(format!(
            "it is {}, which is not in allowed_devices",
            resolved.display()
        ));
        return finding;
    }
    let meta = match std::fs::metadata(&resolved) {
        Ok(m) => m,
        Err(e) => {
            finding.problems.push(format!("cannot be read: {e}"));
            return finding;
        }
    };
    if !meta.file_type().is_block_device() {
        finding.problems.push("is not a block device".to_owned());
        return finding;
    }
    let rdev = meta.rdev();
    finding.problems.extend(in_use(rdev));
    match probe_device(&resolved) {
        Ok(found) => finding
            .problems
            .extend(found.iter().map(ToString::to_string)),
        Err(e) => finding
            .problems
            .push(format!("cannot be probed (read-only): {e}")),
    }
    finding
}

/// Mounts, swap and holders (device-mapper, md) on the device or its
/// partitions.
fn in_use(rdev: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    // The device's sysfs directory; its partitions are directories inside.
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok();
    let on_device = |m: u32, n: u32| {
        (m, n) == (major, minor)
            || sys.as_ref().is_some_and(|sys| {
                std::fs::canonicalize(format!("/sys/dev/block/{m}:{n}"))
                    .is_ok_and(|p| p.starts_with(sys))
            })
    };
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        for line in info.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let (Some(dev), Some(point)) = (fields.get(2), fields.get(4)) else {
                continue;
            };
            let Some((m, n)) = dev.split_once(':') else {
                continue;
            };
            if let (Ok(m), Ok(n)) = (m.parse(), n.parse())
                && on_device(m, n)
            {
                problems.push(format!("mounted at {point}"));
            }
        }
    }
    if let Ok(swaps) = std::fs::read_to_string("/proc/swaps") {
        for line in swaps.lines().skip(1) {
            let Some(path) = line.split_whitespace().next() else {
                continue;
            };
            if let Ok(meta) = std::fs::metadata(path)
                && meta.file_type().is_block_device()
                && on_device(libc::major(meta.rdev()), libc::minor(meta.rdev()))
            {
                problems.push(format!("in use as swap ({path})"));
            }
        }
    }
    if let Some(sys) = &sys
        && let Ok(holders) = std::fs::read_dir(sys.join("holders"))
    {
        for h in holders.flatten() {
            problems.push(format!("held by {}", h.file_name().to_string_lossy()));
        }
    }
    problems
}
