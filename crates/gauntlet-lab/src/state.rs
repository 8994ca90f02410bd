//! Who owns a lab, and sweeping what dead owners left.
//!
//! Each lab has a directory `/run/gauntlet/lab/<id>/` holding `owner.lock`
//! and `lab.json`. The process that built the lab holds an exclusive
//! `flock` on `owner.lock` for as long as the lab lives; the kernel drops
//! it when that process dies, however it dies (SIGKILL included), and
//! never because a pid was reused. So "the owner is dead" is exactly "the
//! lock can be taken", and a sweep takes it before touching anything.
//!
//! `lab.json` is written before the first namespace is made and lists
//! every namespace the lab will have, so a build interrupted half way is
//! swept too. A sweep deletes only namespaces listed there that carry the
//! lab's id in their name: nothing the lab did not create.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::names::LabId;
use crate::sys;
use gauntlet_plan::LabSpec;

/// Where labs keep their state: on tmpfs, gone at reboot like the
/// namespaces themselves.
pub const STATE_DIR: &str = "/run/gauntlet/lab";

/// What `lab.json` holds: enough to use the lab from another process
/// (`lab exec`, `lab status`) and to sweep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabRecord {
    pub id: String,
    /// The process that owns it (for `lab status`; liveness is the lock).
    pub owner_pid: u32,
    /// The file it was built from, if any.
    pub source: Option<PathBuf>,
    /// Unix seconds.
    pub created_at: u64,
    pub spec: LabSpec,
    /// Every namespace it has (or was about to make).
    pub namespaces: Vec<String>,
    /// Files it made outside its directory (clock offsets), removed with it.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Segments this machine has no route to, because it already routed
    /// their subnet (its own network, or another lab's).
    #[serde(default)]
    pub unrouted: Vec<String>,
}

/// The directory of lab `id`.
pub fn lab_dir(id: &LabId) -> PathBuf {
    Path::new(STATE_DIR).join(id.as_str())
}

/// The held lock that makes this process a lab's owner.
#[derive(Debug)]
pub struct OwnerLock {
    _file: File,
}

/// The prefix of a lab directory being claimed (`.claim-<pid>-<id>`).
const CLAIMING: &str = ".claim-";

/// Removes the directories of claims whose process died before it placed
/// them (an empty directory and a lock file each).
fn sweep_dead_claims() {
    let Ok(entries) = std::fs::read_dir(STATE_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(CLAIMING)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates lab `id`'s directory and takes its lock. The directory is made
/// and locked under a name no sweeper reads (`.claim-<pid>-<id>`), then
/// renamed into place: a sweeper never sees a lab directory whose lock is
/// free because its owner has not taken it yet (it would take the lock,
/// find no record, and remove the new lab's directory).
pub fn claim(id: &LabId) -> Result<(PathBuf, OwnerLock), LabError> {
    let dir = lab_dir(id);
    if dir.exists() {
        return Err(LabError::io(
            format!("lab {id} exists already"),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let staging = Path::new(STATE_DIR).join(format!("{CLAIMING}{}-{id}", std::process::id()));
    std::fs::create_dir_all(&staging)
        .map_err(|e| LabError::io(format!("cannot create {}", staging.display()), e))?;
    let file = open_lock(&staging)?;
    let taken = try_lock(&file);
    // The lock belongs to the open file, so it holds across the rename.
    let placed = taken && std::fs::rename(&staging, &dir).is_ok();
    if !placed {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(LabError::io(
            format!("lab {id} is already owned by a live process"),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    Ok((dir, OwnerLock { _file: file }))
}

fn open_lock(dir: &Path) -> Result<File, LabError> {
    let path = dir.join("owner.lock");
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LabError::io(format!("cannot open {}", path.display()), e))
}

fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Writes `lab.json` (atomically: a reader never sees half of it).
pub fn write_record(dir: &Path, record: &LabRecord) -> Result<(), LabError> {
    let path = dir.join("lab.json");
    let tmp = dir.join("lab.json.tmp");
    let text = serde_json::to_vec_pretty(record).expect("a record serializes");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| LabError::io(format!("cannot write {}", path.display()), e))
}

/// Reads `lab.json` of the lab in `dir`.
pub fn read_record(dir: &Path) -> Result<LabRecord, LabError> {
    let path = dir.join("lab.json");
    let text = std::fs::read(&path)
        .map_err(|e| LabError::io(format!("cannot read {}", path.display()), e))?;
    serde_json::from_slice(&text).map_err(|e| LabError::State {
        path,
        message: e.to_string(),
    })
}

/// A lab found on this machine.
#[derive(Debug, Clone)]
pub struct Found {
    pub record: LabRecord,
    /// Whether its owner still lives (and holds the lab up).
    pub alive: bool,
}

/// The directories of labs on this machine, by id (anything else under
/// [`STATE_DIR`] is not a lab's and is left alone).
fn lab_dirs() -> Vec<(LabId, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(STATE_DIR) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            let id = dir.file_name()?.to_str().and_then(LabId::parse)?;
            Some((id, dir))
        })
        .collect()
}

/// Every lab with a readable record, oldest first.
pub fn list() -> Vec<Found> {
    let mut found = Vec::new();
    for (id, dir) in lab_dirs() {
        let Ok(record) = read_record(&dir) else {
            continue;
        };
        if record.id != id.as_str() {
            continue;
        }
        let alive = match open_lock(&dir) {
            // The lock is released when `file` drops at the end of this
            // arm: probing does not keep a live lab's lock.
            Ok(file) => !try_lock(&file),
            Err(_) => true,
        };
        found.push(Found { record, alive });
    }
    found.sort_by_key(|f| f.record.created_at);
    found
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Labs whose owner was dead, removed.
    pub labs: Vec<String>,
    pub namespaces: usize,
    pub processes: usize,
}

/// Removes every lab whose owner is dead, and nothing else.
pub fn sweep_dead() -> Result<Swept, LabError> {
    sweep_dead_claims();
    let mut swept = Swept::default();
    for (id, dir) in lab_dirs() {
        let Ok(lock) = open_lock(&dir) else {
            continue;
        };
        if !try_lock(&lock) {
            continue; // alive
        }
        // We hold the lock now: no owner can come back, and no second
        // sweeper works on the same lab.
        // Without a record the build died before making anything.
        if let Ok(record) = read_record(&dir) {
            let (namespaces, processes) = remove_namespaces(&id, &record.namespaces)?;
            swept.namespaces += namespaces;
            swept.processes += processes;
            for file in &record.files {
                let _ = std::fs::remove_file(file);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        drop(lock);
        swept.labs.push(id.to_string());
    }
    Ok(swept)
}

/// Kills every process in `namespaces` (those of lab `id` only) and
/// deletes them. Returns how many namespaces and processes were removed.
pub fn remove_namespaces(id: &LabId, namespaces: &[String]) -> Result<(usize, usize), LabError> {
    let mut processes = 0;
    let mut present = Vec::new();
    for ns in namespaces.iter().filter(|ns| id.owns_namespace(ns)) {
        if !sys::netns_path(ns).exists() {
            continue;
        }
        // `ip netns pids` lists the processes whose network namespace is
        // this one: everything started in the lab, and nothing else.
        if let Ok(out) = sys::run("ip", &["netns", "pids", ns], None, "the machine") {
            for pid in out.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                // SAFETY: kill(2) on a pid the kernel just listed.
                if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                    processes += 1;
                }
            }
        }
        present.push(ns.as_str());
    }
    // The control link's end here: it would die with the core namespace,
    // but the kernel destroys a namespace lazily, and `down` promises
    // nothing is left when it returns.
    let control = id.control();
    if std::path::Path::new("/sys/class/net")
        .join(&control)
        .exists()
    {
        let _ = sys::run("ip", &["link", "del", &control], None, "the machine");
    }
    if !present.is_empty() {
        let script: String = present
            .iter()
            .map(|ns| format!("netns del {ns}\n"))
            .collect();
        sys::run(
            "ip",
            &["-force", "-batch", "-"],
            Some(&script),
            "the machine",
        )?;
    }
    Ok((present.len(), processes))
}
