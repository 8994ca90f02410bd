//! Machine inventory for `probe` stages: what the machine is, and how it
//! differs from what a plan expects.
//!
//! Everything is read from files under a root directory ([`inventory_from`]),
//! so tests use a fixture tree; only the statvfs of mounted filesystems and
//! interface addresses ([`inventory`] alone) ask the kernel directly.
//! Unreadable facts are `None` (JSON `null`), never a made-up 0: a probe
//! stage must tell "no swap" from "could not tell".

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ffi::{CStr, CString};
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gauntlet_plan::{ExpectCheck, Expectation, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resources::unescape_mount;

/// What a machine is. Serialized as JSON, its field names are the names
/// `expected` tables use (see [`compare`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub hostname: Option<String>,
    /// `uname -r`.
    pub kernel: Option<String>,
    /// `PRETTY_NAME` from `/etc/os-release`.
    pub os: Option<String>,
    /// `x86_64`, `aarch64`, ... (what gauntlet was built for).
    pub arch: String,
    /// Logical CPUs.
    pub cpus: usize,
    pub cpu_model: Option<String>,
    pub mem_total_mib: Option<u64>,
    pub mem_available_mib: Option<u64>,
    pub swap_total_mib: Option<u64>,
    pub uptime_s: Option<u64>,
    /// 1, 5 and 15 minutes.
    pub load_avg: Option<[f64; 3]>,
    /// Real filesystems (no proc, tmpfs, cgroup, ...), one per device, in
    /// mount order.
    pub disks: Vec<Disk>,
    /// By name.
    pub nics: Vec<Nic>,
    /// Empty where the machine has no hwmon sensors (VMs, containers).
    pub temperatures: Vec<Temp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub mount: String,
    pub fs: String,
    pub device: String,
    pub total_mib: Option<u64>,
    /// Free to unprivileged users (`f_bavail`), which is what a service
    /// that is not root can still write.
    pub free_mib: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub name: String,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// `up`, `down`, `unknown` (loopback and tunnels say unknown).
    pub operstate: Option<String>,
    /// `10.0.0.2/24`, `fe80::1/64`. Only filled by [`inventory`], which can
    /// ask the kernel; [`inventory_from`] leaves it empty.
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Temp {
    /// The hwmon device's `name` (`coretemp`, `k10temp`, `nvme`, ...).
    pub sensor: String,
    /// The input's `temp<N>_label`, else `temp<N>`.
    pub label: String,
    pub celsius: f64,
}

/// This machine's inventory.
pub fn inventory() -> Inventory {
    let mut inv = inventory_from(Path::new("/"));
    let mut addresses = interface_addresses();
    for nic in &mut inv.nics {
        nic.addresses = addresses.remove(&nic.name).unwrap_or_default();
    }
    if inv.cpus == 0 {
        // /proc/cpuinfo without `processor` lines (some architectures).
        inv.cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    }
    inv
}

/// The inventory read from `proc/`, `sys/` and `etc/` under `root` (`/` for
/// this machine, a fixture tree in tests).
pub fn inventory_from(root: &Path) -> Inventory {
    let read = |rel: &str| fs::read_to_string(root.join(rel)).ok();
    let first_line = |rel: &str| {
        read(rel)
            .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
            .filter(|l| !l.is_empty())
    };
    let cpuinfo = read("proc/cpuinfo").unwrap_or_default();
    let meminfo = read("proc/meminfo").unwrap_or_default();
    Inventory {
        hostname: first_line("proc/sys/kernel/hostname"),
        kernel: first_line("proc/sys/kernel/osrelease"),
        os: read("etc/os-release").and_then(|s| parse_os_release(&s)),
        arch: std::env::consts::ARCH.to_owned(),
        cpus: count_cpus(&cpuinfo),
        cpu_model: cpu_model(&cpuinfo),
        mem_total_mib: meminfo_mib(&meminfo, "MemTotal"),
        mem_available_mib: meminfo_mib(&meminfo, "MemAvailable"),
        swap_total_mib: meminfo_mib(&meminfo, "SwapTotal"),
        uptime_s: read("proc/uptime").and_then(|s| parse_uptime(&s)),
        load_avg: read("proc/loadavg").and_then(|s| parse_loadavg(&s)),
        disks: disks(root, &read("proc/mounts").unwrap_or_default()),
        nics: nics(root),
        temperatures: temperatures(root),
    }
}

/// `PRETTY_NAME`, unquoted.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(value.to_owned()).filter(|v| !v.is_empty())
    })
}

/// `key : value` lines of /proc/cpuinfo.
fn cpuinfo_values<'a>(cpuinfo: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> {
    cpuinfo.lines().filter_map(move |line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn count_cpus(cpuinfo: &str) -> usize {
    cpuinfo_values(cpuinfo, "processor").count()
}

/// x86 says `model name`; ARM and others use other keys.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "cpu model", "Processor", "Hardware", "cpu"]
        .iter()
        .find_map(|key| cpuinfo_values(cpuinfo, key).find(|v| !v.is_empty()))
        .map(str::to_owned)
}

/// A `/proc/meminfo` line (`MemTotal:  24683656 kB`) in MiB.
pub(crate) fn meminfo_mib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k != key {
            return None;
        }
        let kib: u64 = v.split_ascii_whitespace().next()?.parse().ok()?;
        Some(kib / 1024)
    })
}

pub(crate) fn parse_uptime(text: &str) -> Option<u64> {
    let secs: f64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs as u64)
}

pub(crate) fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut words = text.split_ascii_whitespace().map(|w| w.parse::<f64>().ok());
    Some([words.next()??, words.next()??, words.next()??])
}

/// Filesystems that are not on a block device but still hold data.
const NON_BLOCK_REAL: &[&str] = &[
    "overlay",
    "zfs",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "9p",
    "virtiofs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
];

/// Block devices that hold no writable data worth reporting (snap images,
/// CD-ROMs).
const READ_ONLY_IMAGES: &[&str] = &["squashfs", "iso9660", "udf"];

/// The real filesystems of a `/proc/mounts`, each device once (bind mounts
/// such as a container's `/etc/hosts` repeat the root's device).
fn disks(root: &Path, mounts: &str) -> Vec<Disk> {
    let mut seen = HashSet::new();
    let mut disks = Vec::new();
    for line in mounts.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mount), Some(fs)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let real = (device.starts_with('/') && !READ_ONLY_IMAGES.contains(&fs))
            || NON_BLOCK_REAL.contains(&fs);
        if !real || !seen.insert(device.to_owned()) {
            continue;
        }
        let mount = unescape_mount(mount);
        let sizes = statvfs_mib(&root.join(mount.trim_start_matches('/')));
        disks.push(Disk {
            fs: fs.to_owned(),
            device: unescape_mount(device),
            total_mib: sizes.map(|(total, _)| total),
            free_mib: sizes.map(|(_, free)| free),
            mount,
        });
    }
    disks
}

/// (total, available to unprivileged users) in MiB.
#[allow(clippy::useless_conversion)] // the field types are not u64 on every target
fn statvfs_mib(path: &Path) -> Option<(u64, u64)> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `buf` is a valid, writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    let unit = u64::from(buf.f_frsize);
    let mib = |blocks: u64| blocks.saturating_mul(unit) / (1024 * 1024);
    Some((mib(u64::from(buf.f_blocks)), mib(u64::from(buf.f_bavail))))
}

fn nics(root: &Path) -> Vec<Nic> {
    let dir = root.join("sys/class/net");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut nics: Vec<Nic> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().to_str()?.to_owned();
            let attr = |file: &str| {
                fs::read_to_string(dir.join(&name).join(file))
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            };
            Some(Nic {
                mac: attr("address"),
                mtu: attr("mtu").and_then(|m| m.parse().ok()),
                operstate: attr("operstate"),
                addresses: Vec::new(),
                name,
            })
        })
        // `bonding_masters` is a file, not an interface.
        .filter(|nic| dir.join(&nic.name).is_dir())
        .collect();
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    nics
}

fn temperatures(root: &Path) -> Vec<Temp> {
    crate::hwmon::read_hwmon(&root.join("sys/class/hwmon"))
        .into_iter()
        .filter(|r| r.kind == gauntlet_plan::SensorKind::Temp)
        .map(|r| Temp {
            sensor: r.chip,
            label: r.label,
            celsius: r.value,
        })
        .collect()
}

/// Each interface's addresses with prefix lengths, from `getifaddrs`.
fn interface_addresses() -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return by_name;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive
        // until freeifaddrs; its name is a NUL-terminated string, and its
        // address structs are the type their family says.
        unsafe {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
            let prefix = |bytes: &[u8]| bytes.iter().map(|b| b.count_ones()).sum::<u32>();
            let address = match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                    let len = (!ifa.ifa_netmask.is_null()).then(|| {
                        let mask = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                        mask.sin_addr.s_addr.count_ones()
                    });
                    with_prefix(addr.to_string(), len)
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let addr = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    let len = (!ifa.ifa_netmask.is_null()).then(|| {
                        let mask = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
                        prefix(&mask.sin6_addr.s6_addr)
                    });
                    with_prefix(addr.to_string(), len)
                }
                _ => continue, // AF_PACKET: the MAC, already known
            };
            by_name.entry(name).or_default().push(address);
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    by_name
}

fn with_prefix(address: String, len: Option<u32>) -> String {
    match len {
        Some(len) => format!("{address}/{len}"),
        None => address,
    }
}

/// One way the inventory differs from a plan's `expected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub field: String,
    /// What the plan asked for: `4`, `at least 4`, `at most 8`,
    /// `containing "x86"`.
    pub expected: String,
    /// What the machine has, or `absent`.
    pub actual: String,
    pub severity: Severity,
}

/// Compares an inventory (as JSON: `serde_json::to_value(&inventory)`) with
/// a plan's expectations; one [`Difference`] per unmet expectation.
///
/// A field is a dotted path: `cpus`, `load_avg.0`, `disks.0.fs`. On a
/// list, a segment is an index, `count` (its length: `nics.count`), or the
/// `name`, `mount` or `label` of an element (`nics.eth0.mtu`,
/// `disks./.free_mib`). A missing or `null` field is a difference with
/// actual `absent`.
pub fn compare(inv: &Value, expected: &[Expectation]) -> Vec<Difference> {
    expected
        .iter()
        .filter_map(|expectation| {
            let actual = lookup(inv, &expectation.field);
            let (met, shown) = match actual.as_deref() {
                None | Some(Value::Null) => (false, "absent".to_owned()),
                Some(value) => (meets(value, &expectation.check), render(value)),
            };
            (!met).then(|| Difference {
                field: expectation.field.clone(),
                expected: describe(&expectation.check),
                actual: shown,
                severity: expectation.severity,
            })
        })
        .collect()
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<Cow<'a, Value>> {
    let mut current = Cow::Borrowed(root);
    for segment in path.split('.') {
        let next = match current {
            Cow::Borrowed(Value::Object(map)) => Cow::Borrowed(map.get(segment)?),
            Cow::Borrowed(Value::Array(items)) => {
                if segment == "count" {
                    Cow::Owned(Value::from(items.len()))
                } else if let Ok(index) = segment.parse::<usize>() {
                    Cow::Borrowed(items.get(index)?)
                } else {
                    Cow::Borrowed(items.iter().find(|item| {
                        ["name", "mount", "label"]
                            .iter()
                            .any(|key| item.get(key).and_then(Value::as_str) == Some(segment))
                    })?)
                }
            }
            // `count` is the only owned value, and it has no fields.
            _ => return None,
        };
        current = next;
    }
    Some(current)
}

fn meets(actual: &Value, check: &ExpectCheck) -> bool {
    match check {
        ExpectCheck::Equals(expected) => match (actual.as_f64(), expected.as_f64()) {
            // 4 == 4.0: TOML and serde may disagree on integer vs float.
            (Some(a), Some(e)) => a == e,
            _ => actual == expected,
        },
        ExpectCheck::Min(min) => actual.as_f64().is_some_and(|a| a >= *min),
        ExpectCheck::Max(max) => actual.as_f64().is_some_and(|a| a <= *max),
        ExpectCheck::Contains(needle) => match actual {
            Value::String(s) => s.contains(needle.as_str()),
            Value::Array(items) => items
                .iter()
                .any(|item| item.as_str().is_some_and(|s| s.contains(needle.as_str()))),
            _ => false,
        },
    }
}

fn describe(check: &ExpectCheck) -> String {
    match check {
        ExpectCheck::Equals(value) => render(value),
        ExpectCheck::Min(min) => format!("at least {min}"),
        ExpectCheck::Max(max) => format!("at most {max}"),
        ExpectCheck::Contains(needle) => format!("containing {needle:?}"),
    }
}

/// Strings bare, everything else as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_parsers() {
        let os = "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_os_release("PRETTY_NAME=Alpine").as_deref(),
            Some("Alpine")
        );
        assert_eq!(parse_os_release("NAME=x"), None);
        assert_eq!(parse_uptime("13645.40 14199.90\n"), Some(13645));
        assert_eq!(parse_uptime("nan 1"), None);
        assert_eq!(
            parse_loadavg("1.80 1.53 1.30 3/86 2945\n"),
            Some([1.8, 1.53, 1.3])
        );
        assert_eq!(parse_loadavg("1.0 2.0"), None);
        assert_eq!(
            meminfo_mib("MemTotal:       24683656 kB\n", "MemTotal"),
            Some(24105)
        );
        assert_eq!(meminfo_mib("MemTotal: 1 kB\n", "SwapTotal"), None);
        assert_eq!(
            cpu_model("processor : 0\nHardware : BCM2835\n").as_deref(),
            Some("BCM2835")
        );
    }
}
