//! Resource sampling of a service's process group from `/proc`, and the
//! cgroup OOM-kill counter.
//!
//! A service is a process group (gauntlet-node starts each in its own), so
//! its footprint is the sum over the group: a shell wrapper plus the real
//! program, or a server with worker processes, counts as one service.
//! The `parse_*` functions are sans-IO; the rest are thin readers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The fields of `/proc/<pid>/stat` the samplers use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    /// The command name, without its parentheses (may contain spaces).
    pub comm: String,
    /// `R`, `S`, `D`, `Z`, `T`, ...
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    /// User and system CPU time, in clock ticks.
    pub utime: u64,
    pub stime: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name is in parentheses and
/// may itself contain spaces and `)`, so the fields after it are found from
/// the *last* `)`.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = line[..open].trim().parse().ok()?;
    let comm = line[open + 1..close].to_owned();
    // After the name: state(3) ppid(4) pgrp(5) session tty tpgid flags
    // minflt cminflt majflt cmajflt utime(14) stime(15), numbered as in proc(5).
    let rest: Vec<&str> = line[close + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    Some(ProcStat {
        pid,
        comm,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
    })
}

/// The pids of every process whose stat says it is in group `pgid`,
/// scanning `<proc_root>/*/stat`. Processes that vanish mid-scan are
/// skipped.
pub fn group_pids_in(proc_root: &Path, pgid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
            (parse_stat(&stat)?.pgrp == pgid).then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The processes of a process group (scans `/proc/*/stat`, field `pgrp`).
pub fn group_pids(pgid: i32) -> Vec<i32> {
    group_pids_in(Path::new("/proc"), pgid)
}

/// A process group's footprint at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupSample {
    /// Resident memory summed over the group (shared pages count once per
    /// process, as `ps` does: an over-estimate for forking servers).
    pub rss_bytes: u64,
    /// `utime + stime` summed over the group's live processes. Ticks of
    /// processes that already exited are gone, so this can go down.
    pub cpu_ticks: u64,
    pub processes: usize,
}

/// [`sample_group`] under another `/proc` (a fixture in tests).
pub fn sample_group_in(proc_root: &Path, pgid: i32) -> Option<GroupSample> {
    let pids: Vec<u32> = group_pids_in(proc_root, pgid)
        .into_iter()
        .map(|p| p as u32)
        .collect();
    // A pid recycled since the scan is someone else's: keep the group's.
    sample_of(proc_root, &pids, |stat| stat.pgrp == pgid)
}

/// The RSS and CPU ticks of `pids` that are alive and pass `keep`.
fn sample_of(
    proc_root: &Path,
    pids: &[u32],
    keep: impl Fn(&ProcStat) -> bool,
) -> Option<GroupSample> {
    let mut sample = GroupSample::default();
    for pid in pids {
        let dir = proc_root.join(pid.to_string());
        // Read stat again rather than reuse a scan's: the ticks should be
        // as close in time to the RSS as possible.
        let Some(stat) = fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
            .filter(|s| keep(s))
        else {
            continue; // exited since it was listed
        };
        let rss = fs::read_to_string(dir.join("status"))
            .ok()
            .and_then(|s| gauntlet_node::status_rss_bytes(&s))
            .unwrap_or(0);
        sample.rss_bytes += rss;
        sample.cpu_ticks += stat.utime + stat.stime;
        sample.processes += 1;
    }
    (sample.processes > 0).then_some(sample)
}

/// The group's RSS and CPU ticks now; `None` when the group has no process.
pub fn sample_group(pgid: i32) -> Option<GroupSample> {
    sample_group_in(Path::new("/proc"), pgid)
}

/// The RSS and CPU ticks of these processes now (a node's members, as its
/// backend lists them: its cgroup, daemons included); `None` when none of
/// them is alive.
pub fn sample_pids(pids: &[u32]) -> Option<GroupSample> {
    sample_of(Path::new("/proc"), pids, |_| true)
}

/// A node's footprint now, whatever runs it: its backend's own figures
/// (a container engine's stats) when it keeps them, else its member
/// processes read from `/proc`. `None` when it has no process left.
pub fn usage_of(node: &dyn gauntlet_node::NodeControl) -> Option<gauntlet_node::Usage> {
    node.usage().or_else(|| {
        let sample = sample_pids(&node.member_pids())?;
        Some(gauntlet_node::Usage {
            rss_bytes: sample.rss_bytes,
            cpu_ns: sample.cpu_ticks.saturating_mul(1_000_000_000) / clock_ticks_per_second(),
        })
    })
}

/// CPU use between two [`usage_of`] figures taken `elapsed` apart, in
/// percent of one core; 0 when `elapsed` is zero or the figure went down.
pub fn cpu_percent_between(
    before: &gauntlet_node::Usage,
    after: &gauntlet_node::Usage,
    elapsed: Duration,
) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    after.cpu_ns.saturating_sub(before.cpu_ns) as f64 / 1e9 / secs * 100.0
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), 100 if unknown.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// CPU use between two samples taken `elapsed` apart, in percent of one
/// core (a process busy on two cores is 200). 0 when `elapsed` is zero or
/// the ticks went down (a busy process exited between the samples).
pub fn cpu_percent(before: &GroupSample, after: &GroupSample, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks);
    ticks as f64 / clock_ticks_per_second() as f64 / secs * 100.0
}

/// `oom_kill N` from a cgroup v2 `memory.events` (or a v1
/// `memory.oom_control`, which has the same line).
pub fn parse_oom_kill(events: &str) -> Option<u64> {
    events.lines().find_map(|line| {
        let mut words = line.split_ascii_whitespace();
        (words.next()? == "oom_kill")
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// Where the OOM-kill counter of this process's cgroup lives, given the
/// contents of `/proc/self/cgroup` and `/proc/self/mounts`: cgroup v2's
/// `memory.events` first (wherever cgroup2 is mounted, which on hybrid
/// systems is not `/sys/fs/cgroup`), else v1's `memory.oom_control`.
pub fn oom_counter_paths(cgroup: &str, mounts: &str) -> Vec<PathBuf> {
    let mount_of = |wanted: &dyn Fn(&str, &str) -> bool| {
        mounts.lines().find_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let (_, dir, fs, opts) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            wanted(fs, opts).then(|| PathBuf::from(unescape_mount(dir)))
        })
    };
    let mut paths = Vec::new();
    for line in cgroup.lines() {
        // hierarchy-id:controllers:path; the path may contain ':'.
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.is_empty() {
            if let Some(root) = mount_of(&|fs, _| fs == "cgroup2") {
                paths.insert(0, root.join(relative).join("memory.events"));
            }
        } else if controllers.split(',').any(|c| c == "memory")
            && let Some(root) =
                mount_of(&|fs, opts| fs == "cgroup" && opts.split(',').any(|o| o == "memory"))
        {
            paths.push(root.join(relative).join("memory.oom_control"));
        }
    }
    paths
}

/// The OOM-kill count of this process's cgroup (`oom_kill` in cgroup v2's
/// `memory.events`, or v1's `memory.oom_control`), if readable. Services
/// run in gauntlet's cgroup, so a rise between two readings around a
/// SIGKILL says the kernel's OOM killer sent it.
pub fn oom_kill_count() -> Option<u64> {
    let cgroup = fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    oom_counter_paths(&cgroup, &mounts)
        .iter()
        .find_map(|path| parse_oom_kill(&fs::read_to_string(path).ok()?))
}

/// Was this exit probably an OOM kill: SIGKILL that we did not send, and,
/// when the cgroup counter was readable both times, the counter went up.
/// Without the counter a SIGKILL from nobody we know of is still most
/// likely the OOM killer, so it counts.
pub fn looks_like_oom(
    signal: Option<i32>,
    sent_kill: bool,
    oom_before: Option<u64>,
    oom_after: Option<u64>,
) -> bool {
    if signal != Some(libc::SIGKILL) || sent_kill {
        return false;
    }
    match (oom_before, oom_after) {
        (Some(before), Some(after)) => after > before,
        _ => true,
    }
}

/// The nearest-rank percentile (`p` in percent: 95.0 for p95), the one
/// rule every figure of Gauntlet uses.
pub use gauntlet_check::figures::percentile;

/// `/proc/mounts` escapes space, tab, newline and backslash as octal
/// (`\040`); undo it.
pub(crate) fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
            && let Ok(byte) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        let line = "4242 (my (odd) name) S 1 4240 4240 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 1 0 123 4096 300";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.pid, 4242);
        assert_eq!(stat.comm, "my (odd) name");
        assert_eq!(stat.state, 'S');
        assert_eq!((stat.ppid, stat.pgrp), (1, 4240));
        assert_eq!((stat.utime, stat.stime), (17, 5));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 0"), None);
        assert_eq!(parse_stat(") 1 ("), None);
    }

    #[test]
    fn status_rss() {
        let status = "Name:\tsleep\nVmPeak:\t 8000 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n";
        assert_eq!(gauntlet_node::status_rss_bytes(status), Some(1234 * 1024));
        assert_eq!(gauntlet_node::status_rss_bytes("Name:\tkworker\n"), None);
    }

    #[test]
    fn oom_counter_lines_and_places() {
        let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(parse_oom_kill(events), Some(2));
        assert_eq!(parse_oom_kill("oom 1\n"), None);

        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n";
        let cgroup = "4:memory:/a/b\n0::/user.slice/x:y\n";
        assert_eq!(
            oom_counter_paths(cgroup, mounts),
            [
                PathBuf::from("/sys/fs/cgroup/unified/user.slice/x:y/memory.events"),
                PathBuf::from("/sys/fs/cgroup/memory/a/b/memory.oom_control"),
            ]
        );
        assert!(oom_counter_paths("0::/\n", "").is_empty());
    }

    #[test]
    fn mount_escapes() {
        assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(unescape_mount("/a\\\\b\\0"), "/a\\\\b\\0");
    }
}
