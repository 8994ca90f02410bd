//! A host's vital signs in one round trip: what `gauntlet nodes` shows for
//! each node of a fleet. [`VITALS_SCRIPT`] is a POSIX `sh` script run on
//! the host (it only reads `/proc` and runs `df`); [`parse_vitals`] reads
//! its output here, with the inventory's parsers.

use serde::{Deserialize, Serialize};

use crate::inventory::{meminfo_mib, parse_loadavg, parse_uptime};

/// Prints each section after a `==name` line.
pub const VITALS_SCRIPT: &str = "echo ==loadavg; cat /proc/loadavg; \
echo ==meminfo; cat /proc/meminfo; \
echo ==uptime; cat /proc/uptime; \
echo ==cpus; grep -c ^processor /proc/cpuinfo; \
echo ==df; df -Pk /";

/// What a host is doing now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    /// 1, 5 and 15 minutes.
    pub load_avg: Option<[f64; 3]>,
    pub cpus: Option<usize>,
    pub mem_total_mib: Option<u64>,
    pub mem_available_mib: Option<u64>,
    pub uptime_s: Option<u64>,
    /// The root file system.
    pub disk_total_mib: Option<u64>,
    pub disk_free_mib: Option<u64>,
}

/// Reads [`VITALS_SCRIPT`]'s output; a section that is missing or does
/// not parse is `None`, never a made-up zero.
pub fn parse_vitals(text: &str) -> Vitals {
    let section = |name: &str| -> &str {
        let marker = format!("=={name}\n");
        let Some(start) = text.find(&marker).map(|i| i + marker.len()) else {
            return "";
        };
        let rest = &text[start..];
        &rest[..rest.find("\n==").map_or(rest.len(), |i| i + 1)]
    };
    let (disk_total_mib, disk_free_mib) = parse_df(section("df"));
    Vitals {
        load_avg: parse_loadavg(section("loadavg")),
        cpus: section("cpus").trim().parse().ok(),
        mem_total_mib: meminfo_mib(section("meminfo"), "MemTotal"),
        mem_available_mib: meminfo_mib(section("meminfo"), "MemAvailable"),
        uptime_s: parse_uptime(section("uptime")),
        disk_total_mib,
        disk_free_mib,
    }
}

/// `df -Pk`'s one data line: total and available, KiB → MiB.
fn parse_df(text: &str) -> (Option<u64>, Option<u64>) {
    let Some(line) = text.lines().nth(1) else {
        return (None, None);
    };
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let kib = |i: usize| {
        words
            .get(i)
            .and_then(|w| w.parse::<u64>().ok())
            .map(|k| k / 1024)
    };
    (kib(1), kib(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_output_from_this_machine_parses() {
        let out = std::process::Command::new("sh")
            .args(["-c", VITALS_SCRIPT])
            .output()
            .unwrap();
        let v = parse_vitals(&String::from_utf8_lossy(&out.stdout));
        assert!(v.load_avg.is_some(), "{v:?}");
        assert!(v.cpus.is_some_and(|c| c >= 1), "{v:?}");
        assert!(v.mem_total_mib.is_some_and(|m| m > 0), "{v:?}");
        assert!(v.mem_available_mib.is_some(), "{v:?}");
        assert!(v.uptime_s.is_some(), "{v:?}");
        assert!(
            v.disk_total_mib.is_some_and(|t| t > 0) && v.disk_free_mib.is_some(),
            "{v:?}"
        );
    }

    #[test]
    fn a_missing_section_is_unknown_not_zero() {
        let v = parse_vitals("==loadavg\n0.50 0.40 0.30 1/100 4242\n==df\ngarbage\n");
        assert_eq!(v.load_avg, Some([0.5, 0.4, 0.3]));
        assert_eq!(v.mem_total_mib, None);
        assert_eq!(v.disk_total_mib, None);
        assert_eq!(v.cpus, None);
    }
}
