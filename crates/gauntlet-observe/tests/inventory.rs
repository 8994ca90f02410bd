//! Machine inventory from a fixture tree and from this machine, and the
//! comparison with a plan's expectations.

use std::path::PathBuf;

use gauntlet_observe::{Difference, Disk, Nic, Temp, compare, inventory, inventory_from};
use gauntlet_plan::{ExpectCheck, Expectation, Severity};
use serde_json::json;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/machine")
}

#[test]
fn the_fixture_tree_gives_exact_values() {
    let inv = inventory_from(&fixture());
    assert_eq!(inv.hostname.as_deref(), Some("fixture-host"));
    assert_eq!(inv.kernel.as_deref(), Some("6.1.0-18-amd64"));
    assert_eq!(inv.os.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
    assert_eq!(inv.arch, std::env::consts::ARCH);
    assert_eq!(inv.cpus, 4);
    assert_eq!(
        inv.cpu_model.as_deref(),
        Some("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz")
    );
    assert_eq!(inv.mem_total_mib, Some(8192));
    assert_eq!(inv.mem_available_mib, Some(4096));
    assert_eq!(inv.swap_total_mib, Some(2048));
    assert_eq!(inv.uptime_s, Some(86461));
    assert_eq!(inv.load_avg, Some([0.52, 0.58, 0.59]));

    // Real filesystems only, each device once; sizes where statvfs works
    // (the fixture's directories live on whatever holds the checkout).
    let disks: Vec<(&str, &str, &str)> = inv
        .disks
        .iter()
        .map(|d| (d.mount.as_str(), d.fs.as_str(), d.device.as_str()))
        .collect();
    assert_eq!(
        disks,
        [
            ("/", "ext4", "/dev/vda1"),
            ("/data disk", "xfs", "/dev/vdb"),
            ("/mnt/nfs", "nfs4", "server:/export"),
        ]
    );
    for disk in &inv.disks[..2] {
        assert!(disk.total_mib.is_some_and(|t| t > 0), "{disk:?}");
        assert!(disk.free_mib <= disk.total_mib, "{disk:?}");
    }
    assert_eq!(
        inv.disks[2],
        Disk {
            mount: "/mnt/nfs".into(),
            fs: "nfs4".into(),
            device: "server:/export".into(),
            total_mib: None,
            free_mib: None,
        }
    );

    assert_eq!(
        inv.nics,
        [
            Nic {
                name: "eth0".into(),
                mac: Some("52:54:00:12:34:56".into()),
                mtu: Some(1500),
                operstate: Some("up".into()),
                addresses: vec![],
            },
            Nic {
                name: "lo".into(),
                mac: Some("00:00:00:00:00:00".into()),
                mtu: Some(65536),
                operstate: Some("unknown".into()),
                addresses: vec![],
            },
        ]
    );
    assert_eq!(
        inv.temperatures,
        [
            Temp {
                sensor: "coretemp".into(),
                label: "Package id 0".into(),
                celsius: 45.0,
            },
            Temp {
                sensor: "coretemp".into(),
                label: "temp2".into(),
                celsius: 43.5,
            },
            Temp {
                sensor: "nvme".into(),
                label: "temp1".into(),
                celsius: 38.85,
            },
        ]
    );
}

#[test]
fn an_empty_tree_gives_unknowns_not_zeros() {
    let empty = tempfile::tempdir().unwrap();
    let inv = inventory_from(empty.path());
    assert_eq!(inv.hostname, None);
    assert_eq!(inv.kernel, None);
    assert_eq!(inv.cpus, 0);
    assert_eq!(inv.mem_total_mib, None);
    assert_eq!(inv.load_avg, None);
    assert!(inv.disks.is_empty() && inv.nics.is_empty() && inv.temperatures.is_empty());
    let json = serde_json::to_value(&inv).unwrap();
    assert_eq!(json["mem_total_mib"], json!(null));
}

#[test]
fn this_machine() {
    let inv = inventory();
    assert!(inv.cpus >= 1, "{inv:?}");
    assert!(
        inv.kernel.as_deref().is_some_and(|k| !k.is_empty()),
        "{inv:?}"
    );
    assert!(inv.mem_total_mib.is_some_and(|m| m > 0), "{inv:?}");
    if let Some(lo) = inv.nics.iter().find(|n| n.name == "lo") {
        // Inside a fresh network namespace lo may be down and bare.
        if lo.operstate.as_deref() != Some("down") {
            assert!(lo.addresses.iter().any(|a| a == "127.0.0.1/8"), "{lo:?}");
        }
    }
    // It serializes, and compares with itself.
    let json = serde_json::to_value(&inv).unwrap();
    let same = compare(
        &json,
        &[expect(
            "cpus",
            ExpectCheck::Equals(json!(inv.cpus)),
            Severity::Critical,
        )],
    );
    assert!(same.is_empty(), "{same:?}");
}

fn expect(field: &str, check: ExpectCheck, severity: Severity) -> Expectation {
    Expectation {
        field: field.into(),
        check,
        severity,
    }
}

fn diff(field: &str, expected: &str, actual: &str, severity: Severity) -> Difference {
    Difference {
        field: field.into(),
        expected: expected.into(),
        actual: actual.into(),
        severity,
    }
}

#[test]
fn compare_each_check_kind_and_severity() {
    let inv = serde_json::to_value(inventory_from(&fixture())).unwrap();
    use ExpectCheck::*;
    use Severity::*;
    let met = [
        expect("cpus", Equals(json!(4)), Critical),
        expect("cpus", Equals(json!(4.0)), Critical),
        expect("kernel", Equals(json!("6.1.0-18-amd64")), Critical),
        expect("cpus", Min(4.0), Critical),
        expect("mem_total_mib", Max(8192.0), Warning),
        expect("os", Contains("bookworm".into()), Info),
        expect("nics.count", Equals(json!(2)), Critical),
        expect("disks.count", Min(1.0), Critical),
        expect("disks.0.fs", Equals(json!("ext4")), Critical),
        expect("disks./data disk.fs", Equals(json!("xfs")), Critical),
        expect("nics.eth0.mtu", Equals(json!(1500)), Critical),
        expect("load_avg.2", Max(1.0), Warning),
        expect("temperatures.Package id 0.celsius", Max(80.0), Warning),
    ];
    assert_eq!(compare(&inv, &met), []);

    let unmet = [
        expect("cpus", Equals(json!(8)), Critical),
        expect("kernel", Equals(json!("5.15")), Info),
        expect("cpus", Min(16.0), Critical),
        expect("mem_available_mib", Max(1024.0), Warning),
        expect("os", Contains("Ubuntu".into()), Info),
        expect("kernel", Min(6.0), Warning), // not a number
        expect("cpus", Contains("4".into()), Info), // not a string
        expect("nics.count", Equals(json!(3)), Warning),
        expect("nics.wlan0.mtu", Equals(json!(1500)), Critical),
        expect("gpu", Equals(json!("none")), Info),
        expect("disks.9.fs", Equals(json!("ext4")), Warning),
        expect("disks./mnt/nfs.total_mib", Min(1.0), Critical), // null
        expect("cpus.count", Equals(json!(1)), Info),
    ];
    assert_eq!(
        compare(&inv, &unmet),
        [
            diff("cpus", "8", "4", Critical),
            diff("kernel", "5.15", "6.1.0-18-amd64", Info),
            diff("cpus", "at least 16", "4", Critical),
            diff("mem_available_mib", "at most 1024", "4096", Warning),
            diff(
                "os",
                "containing \"Ubuntu\"",
                "Debian GNU/Linux 12 (bookworm)",
                Info
            ),
            diff("kernel", "at least 6", "6.1.0-18-amd64", Warning),
            diff("cpus", "containing \"4\"", "4", Info),
            diff("nics.count", "3", "2", Warning),
            diff("nics.wlan0.mtu", "1500", "absent", Critical),
            diff("gpu", "none", "absent", Info),
            diff("disks.9.fs", "ext4", "absent", Warning),
            diff("disks./mnt/nfs.total_mib", "at least 1", "absent", Critical),
            diff("cpus.count", "1", "absent", Info),
        ]
    );

    // Differences serialize for verdicts.
    let json = serde_json::to_value(diff("cpus", "8", "4", Critical)).unwrap();
    assert_eq!(
        json,
        json!({"field": "cpus", "expected": "8", "actual": "4", "severity": "critical"})
    );
}

#[test]
fn compare_renders_structured_values_as_json() {
    let inv = json!({"load_avg": [0.5, 0.5, 0.5], "flags": ["sse4_2", "avx2"]});
    let differences = compare(
        &inv,
        &[
            expect("load_avg", Equals(json!([0, 0, 0])), Severity::Info),
            expect("flags", Contains("avx512".into()), Severity::Info),
            expect("flags", Contains("avx".into()), Severity::Info),
        ],
    );
    use ExpectCheck::*;
    assert_eq!(
        differences,
        [
            diff("load_avg", "[0,0,0]", "[0.5,0.5,0.5]", Severity::Info),
            diff(
                "flags",
                "containing \"avx512\"",
                "[\"sse4_2\",\"avx2\"]",
                Severity::Info
            ),
        ]
    );
}
