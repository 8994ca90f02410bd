//! Sweeping what dead gauntlets left: on a host, the process groups and
//! pid files of run directories whose owner is dead; here, the control
//! socket directories of dead owners.

use crate::owner::{Liveness, RunDir};
use crate::{Host, SshError, script};

/// What a sweep of one host removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// The run directories removed (their owners were dead).
    pub run_dirs: Vec<String>,
    /// How many process groups were still running in them, and were
    /// killed.
    pub groups_killed: u64,
}

/// Removes from `host` what gauntlet processes of this machine that are
/// dead (gone, or of an earlier boot of this machine) left in run
/// directories of the user this connection logs in as: their process
/// groups are SIGKILLed when provably theirs (the leader's recorded
/// start time, or the node's marker in a member's environment) and of
/// the host's current boot, then their pid files and directories go.
///
/// Never touched: run directories of live owners (this process's own
/// included), of other machines (a pid means nothing off its machine;
/// their own gauntlets and keepers see to them), of other users, and
/// anything this crate did not name; a pid file naming a group that is
/// no longer the node's is removed and nothing is signalled.
///
/// A connection's keeper cleans up its own run directory when the
/// connection ends however it ends; the sweep is for what a keeper
/// could not see to (a host that lost the connection without noticing,
/// a keeper killed on the host). Call it after connecting, before
/// starting anything.
pub async fn sweep(host: &Host) -> Result<Swept, SshError> {
    let listed = host
        .control_async("list run directories".into(), script::list_run_dirs())
        .await?;
    let dead: Vec<String> = listed
        .lines()
        .filter(|name| {
            RunDir::parse(name).is_some_and(|dir| dir.owner.liveness() == Liveness::Dead)
        })
        .map(str::to_owned)
        .collect();
    if dead.is_empty() {
        return Ok(Swept::default());
    }
    let out = host
        .control_async(
            "sweep dead owners' run directories".into(),
            script::sweep(&dead),
        )
        .await?;
    let groups_killed = out
        .lines()
        .find_map(|l| l.strip_prefix("gauntlet-ssh swept ")?.trim().parse().ok())
        .unwrap_or(0);
    Ok(Swept {
        run_dirs: dead,
        groups_killed,
    })
}

/// Removes control socket directories under `/tmp` that dead gauntlet
/// processes of this user left (a killed gauntlet's master exits by
/// itself within seconds; its directory stays). Returns how many.
pub fn sweep_control_dirs() -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return 0;
    };
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(crate::host::CONTROL_PREFIX))
        else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(start), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid || gauntlet_node::owner_alive(pid, start) {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::CONTROL_PREFIX;

    #[test]
    fn a_dead_owner_s_control_dir_is_removed_and_a_live_one_s_kept() {
        let me = crate::Owner::current();
        let dead = std::path::PathBuf::from(format!(
            "/tmp/{CONTROL_PREFIX}{}-{}-test{}",
            i32::MAX,
            me.start,
            std::process::id()
        ));
        let live = std::path::PathBuf::from(format!(
            "/tmp/{CONTROL_PREFIX}{}-{}-test{}",
            me.pid,
            me.start,
            std::process::id()
        ));
        let stranger =
            std::path::PathBuf::from(format!("/tmp/{CONTROL_PREFIX}not-ours-{}", me.pid));
        for dir in [&dead, &live, &stranger] {
            std::fs::create_dir_all(dir.join(".ssh-connection0")).unwrap();
            std::fs::write(dir.join(".ssh-connection0/log"), "").unwrap();
        }
        assert!(sweep_control_dirs() >= 1);
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(stranger.exists());
        std::fs::remove_dir_all(&live).unwrap();
        std::fs::remove_dir_all(&stranger).unwrap();
    }
}
