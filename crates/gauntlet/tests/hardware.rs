//! `gauntlet run` on a machine's hardware: stages whose hardware is absent
//! end skipped with the reason (and every report says skipped, never
//! passed); the sensor sampler records hwmon readings, fails a stage that
//! ran too hot and notes a sensor that stops answering; a destructive
//! stage's gate holds the run on a loop device that holds a file system,
//! and only an override lets the stage overwrite it.
//!
//! The hwmon tree here is a directory in hwmon's layout (`[sensors] root`)
//! that the stages change while the run watches: this machine, like most
//! VMs, has no `/sys/class/hwmon`. The devices are loop devices the tests
//! make on their own image files, and detach (see [`Loop`]).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Bench, explain, lab_allowed, read_json, stdout};
use serde_json::Value;

fn report_of(bench: &Bench) -> Value {
    let run = bench.runs().into_iter().next().expect("a run");
    read_json(&bench.artifact_dir(&run).join("REPORT.json"))
}

fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {report:#}"))
}

/// A hwmon tree: one CPU monitor with a temperature, one board monitor
/// with a fan.
fn hwmon(root: &Path) {
    for (dir, files) in [
        (
            "hwmon0",
            &[
                ("name", "cpu"),
                ("temp1_input", "41000"),
                ("temp1_label", "Package"),
            ][..],
        ),
        ("hwmon1", &[("name", "board"), ("fan1_input", "1500")][..]),
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for (file, text) in files {
            std::fs::write(root.join(dir).join(file), text).unwrap();
        }
    }
}

#[test]
fn absent_hardware_is_skipped_with_its_reason_and_never_reported_as_passed() {
    let bench = Bench::new();
    hwmon(&bench.path().join("hwmon"));
    let plan = bench.write_plan(
        "absent.toml",
        r#"
[sensors]
root = "hwmon"

[[stage]]
name = "gpu"
kind = "command"
command = "nvidia-smi -q"
requires = { programs = ["gauntlet-no-such-tool"] }

[[stage]]
name = "power"
kind = "command"
command = "exit 1"
requires = { sensors = ["power"] }

[[stage]]
name = "smart"
kind = "command"
command = "exit 1"
requires = { paths = ["/dev/gauntlet-no-such-disk"] }

[[stage]]
name = "probe"
kind = "command"
command = "exit 1"
requires = { command = "echo 'no SMART on /dev/vda' >&2; exit 1" }

[[stage]]
name = "cpu"
kind = "command"
command = "true"
requires = { programs = ["sh"], sensors = ["temp", "fan"] }
"#,
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let report = report_of(&bench);
    for (name, why) in [
        (
            "gpu",
            "gauntlet-no-such-tool is not installed (not on PATH)",
        ),
        ("power", "no power sensor under"),
        ("smart", "/dev/gauntlet-no-such-disk does not exist"),
        ("probe", "exit status 1: no SMART on /dev/vda"),
    ] {
        let s = stage(&report, name);
        assert_eq!(s["state"], "skipped", "{s:#}");
        let message = s["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{name}: {message}");
    }
    assert_eq!(stage(&report, "cpu")["state"], "passed");
    // The verdict is qualified everywhere a person looks.
    assert_eq!(report["summary"]["skipped"], 4, "{:#}", report["summary"]);
    let dir = bench.artifact_dir(&bench.runs()[0]);
    let md = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(md.contains("passed with 4 skipped"), "{md}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<skipped").count(), 4, "{junit}");
    assert!(
        stdout(&out).contains("PASS with 4 skipped (gpu, power, smart, probe)"),
        "{}",
        explain(&out)
    );

    // Nothing but skips: nothing was checked, and the verdict says so.
    let bench = Bench::new();
    let plan = bench.write_plan(
        "nothing.toml",
        r#"
[[stage]]
name = "gpu"
kind = "command"
command = "nvidia-smi -q"
requires = { programs = ["gauntlet-no-such-tool"] }
"#,
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "unknown: {}", explain(&out));
    assert_eq!(report_of(&bench)["run"]["result"], "unknown");
}

#[test]
fn sensors_are_sampled_a_hot_stage_fails_and_a_lost_sensor_is_noted() {
    let bench = Bench::new();
    hwmon(&bench.path().join("hwmon"));
    let plan = bench.write_plan(
        "heat.toml",
        r#"
[sensors]
root = "hwmon"
interval = "100ms"

[[stage]]
name = "warm"
kind = "command"
command = "echo 62000 > hwmon/hwmon0/temp1_input; sleep 0.4"
max_temp_c = 85

[[stage]]
name = "fan-dies"
kind = "command"
command = "rm -r hwmon/hwmon1; sleep 0.4"

[[stage]]
name = "burn"
kind = "command"
command = "echo 97500 > hwmon/hwmon0/temp1_input; sleep 0.4; echo 50000 > hwmon/hwmon0/temp1_input"
max_temp_c = 85
"#,
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    let report = report_of(&bench);
    let warm = stage(&report, "warm");
    assert_eq!(warm["state"], "passed", "{warm:#}");
    assert_eq!(warm["summary"]["sensors"]["hottest_c"], 62.0, "{warm:#}");
    assert_eq!(warm["summary"]["sensors"]["max_temp_checked"], true);
    let lost = &stage(&report, "fan-dies")["summary"]["sensors"]["lost"];
    assert_eq!(lost, &serde_json::json!(["board/fan1"]), "{lost:#}");
    let burn = stage(&report, "burn");
    assert_eq!(burn["state"], "failed", "{burn:#}");
    assert!(
        burn["message"]
            .as_str()
            .unwrap()
            .contains("cpu/Package reached 97.5 °C, above max_temp_c 85"),
        "{burn:#}"
    );
    let series: Vec<(&str, &str)> = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["subject"].as_str().unwrap()))
        .collect();
    assert!(
        series.contains(&("temperature", "cpu/Package")),
        "{series:?}"
    );
    assert!(series.contains(&("fan", "board/fan1")), "{series:?}");
    let html =
        std::fs::read_to_string(bench.artifact_dir(&bench.runs()[0]).join("report.html")).unwrap();
    assert!(
        html.contains(r#"id="chart-temperature""#),
        "temperatures are charted"
    );
    assert!(
        explain(&out).contains("sensor board/fan1 stopped answering"),
        "{}",
        explain(&out)
    );
}

#[test]
fn a_limit_no_sensor_can_check_is_said_not_passed_in_silence() {
    let bench = Bench::new();
    std::fs::create_dir_all(bench.path().join("empty-hwmon")).unwrap();
    let plan = bench.write_plan(
        "nosensor.toml",
        r#"
[sensors]
root = "empty-hwmon"

[[stage]]
name = "stress"
kind = "command"
command = "true"
max_temp_c = 85
"#,
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let report = report_of(&bench);
    let s = stage(&report, "stress");
    assert_eq!(s["summary"]["sensors"]["max_temp_checked"], false, "{s:#}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("max_temp_c 85 not checked: no temperature sensor"),
        "{s:#}"
    );
}

/// A loop device on an image file of the test's own, detached on drop
/// (a panic included).
struct Loop {
    device: PathBuf,
}

impl Loop {
    fn new(image: &Path) -> Loop {
        let f = std::fs::File::create(image).unwrap();
        f.set_len(32 << 20).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(image)
            .output()
            .expect("losetup (Debian util-linux / mount)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop {
            device: PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()),
        }
    }

    fn path(&self) -> &str {
        self.device.to_str().unwrap()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A destructive stage that writes a marker over the device's first MiB.
fn destructive_plan(bench: &Bench, devices: &[&Loop]) -> PathBuf {
    let list = devices
        .iter()
        .map(|d| format!("{:?}", d.path()))
        .collect::<Vec<_>>()
        .join(", ");
    let writes = devices
        .iter()
        .map(|d| {
            format!(
                "dd if=/dev/zero of={} bs=1M count=1 conv=fsync status=none",
                d.path()
            )
        })
        .collect::<Vec<_>>()
        .join(" && ");
    bench.write_plan(
        "wipe.toml",
        &format!(
            r#"
allowed_devices = [{list}]

[[stage]]
name = "wipe"
kind = "command"
command = "{writes}"
destructive = true
devices = [{list}]
"#
        ),
    )
}

#[test]
fn a_device_with_a_file_system_holds_the_run_until_an_override() {
    if !lab_allowed() {
        return;
    }
    let bench = Bench::new();
    let blank = Loop::new(&bench.path().join("blank.img"));
    let used = Loop::new(&bench.path().join("used.img"));
    run(&["mkfs.ext4", "-q", "-F", used.path()]);
    let plan = destructive_plan(&bench, &[&blank, &used]);
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    let held = report_of(&bench);
    assert_eq!(held["run"]["state"], "held");
    let gate = stage(&held, "wipe/gate");
    let message = gate["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "unexpected data on {}: ext4 signature",
            used.path()
        )),
        "{message}"
    );
    assert!(
        !message.contains(blank.path()),
        "the blank device is fine: {message}"
    );
    assert_eq!(
        stage(&held, "wipe")["state"],
        "pending",
        "nothing was overwritten"
    );
    let signature = std::fs::read(bench.path().join("used.img")).unwrap();
    assert_eq!(
        &signature[0x438..0x43a],
        &[0x53, 0xEF],
        "the file system is intact"
    );

    // The operator says why; only then the stage runs, and every report says so.
    let out = bench.gauntlet(&[
        "override",
        "latest",
        "--reason",
        "used.img is a scratch disk from the last test",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let done = report_of(&bench);
    assert_eq!(stage(&done, "wipe")["state"], "passed");
    assert_eq!(stage(&done, "wipe/gate")["state"], "overridden");
    assert_eq!(
        done["overrides"][0]["reason"],
        "used.img is a scratch disk from the last test"
    );
    let md =
        std::fs::read_to_string(bench.artifact_dir(&bench.runs()[0]).join("REPORT.md")).unwrap();
    assert!(md.contains("used.img is a scratch disk"), "{md}");
    let wiped = std::fs::read(bench.path().join("used.img")).unwrap();
    assert!(wiped[..1 << 20].iter().all(|b| *b == 0), "the stage ran");
}

#[test]
fn a_mounted_device_is_held_and_blank_devices_go_through() {
    if !lab_allowed() {
        return;
    }
    let bench = Bench::new();
    let blank = Loop::new(&bench.path().join("blank.img"));
    let plan = destructive_plan(&bench, &[&blank]);
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "blank: {}", explain(&out));

    let bench = Bench::new();
    let used = Loop::new(&bench.path().join("mounted.img"));
    run(&["mkfs.ext4", "-q", "-F", used.path()]);
    let mnt = bench.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run(&["mount", used.path(), mnt.to_str().unwrap()]);
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let plan = destructive_plan(&bench, &[&used]);
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    let gate = report_of(&bench);
    let message = stage(&gate, "wipe/gate")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("mounted at {}", mnt.display())),
        "{message}"
    );
}

/// A figure's value in a stage's summary.
fn figure(stage: &Value, name: &str) -> f64 {
    stage["summary"]["figures"]
        .as_array()
        .unwrap_or_else(|| panic!("no figures: {stage:#}"))
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_f64())
        .unwrap_or_else(|| panic!("no figure {name}: {stage:#}"))
}

#[test]
fn the_hardware_example_judges_real_tools_and_skips_what_is_absent() {
    if !(common::have("stress-ng", "stress-ng")
        && common::have("fio", "fio")
        && common::have("iperf3", "iperf3"))
    {
        return;
    }
    let bench = Bench::new();
    let port = common::free_port().to_string();
    let scratch = bench.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out = bench.gauntlet(&[
        "run",
        common::example("plans/hardware.toml").to_str().unwrap(),
        "--set",
        "seconds=1",
        // In one second on a busy machine (CI runs test binaries side by
        // side), touching 256 MiB can take the whole second: no bogo op
        // is counted, and the floor fails the stage. A smaller area is
        // stressed many times over.
        "--set",
        "vm_bytes=32M",
        "--set",
        &format!("iperf_port={port}"),
        "--set",
        &format!("scratch={}", scratch.display()),
        "--set",
        "disk=/dev/gauntlet-no-such-disk",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let report = report_of(&bench);
    assert!(figure(stage(&report, "cpu-stress"), "cpu_bogo_ops_per_s") > 0.0);
    assert!(figure(stage(&report, "memory-stress"), "vm_bogo_ops_per_s") > 0.0);
    assert!(figure(stage(&report, "storage-randread"), "read_iops") >= 1000.0);
    assert!(figure(stage(&report, "storage-randread"), "read_p99_ns") > 0.0);
    assert!(figure(stage(&report, "storage-randwrite"), "write_iops") >= 500.0);
    assert!(figure(stage(&report, "network"), "received_bits_per_s") >= 1e8);
    let smart = stage(&report, "smart");
    assert_eq!(smart["state"], "skipped", "{smart:#}");
    assert!(
        smart["message"]
            .as_str()
            .unwrap()
            .contains("no SMART on /dev/gauntlet-no-such-disk"),
        "{smart:#}"
    );
    // Absent here, present on a GPU machine: never a pass without running.
    let gpu = stage(&report, "gpu");
    if !std::path::Path::new("/usr/bin/nvidia-smi").exists() {
        assert_eq!(gpu["state"], "skipped", "{gpu:#}");
    }
    assert_ne!(gpu["state"], "pending");
    // fio removed its file; the iperf3 server is gone.
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    common::assert_no_processes_with_marker(&bench.marker);
}

#[test]
fn the_wipe_example_holds_on_a_file_system_and_erases_only_after_an_override() {
    if !(lab_allowed() && common::have("fio", "fio")) {
        return;
    }
    let bench = Bench::new();
    let disk = Loop::new(&bench.path().join("disk.img"));
    run(&["mkfs.ext4", "-q", "-F", disk.path()]);
    let plan = common::example("plans/hardware-wipe.toml");
    let set = format!("disk={}", disk.path());
    let out = bench.gauntlet(&[
        "run",
        plan.to_str().unwrap(),
        "--set",
        &set,
        "--set",
        "seconds=1",
    ]);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    assert_eq!(report_of(&bench)["run"]["held_stage"], "badblocks/gate");
    let out = bench.gauntlet(&[
        "override",
        "latest",
        "--reason",
        "a loop device of this test",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        stdout(&out).contains("with 1 overridden (badblocks/gate)"),
        "{}",
        explain(&out)
    );
    let report = report_of(&bench);
    assert_eq!(figure(stage(&report, "badblocks"), "bad_blocks"), 0.0);
    // badblocks left the device blank, so the second gate lets fio through.
    assert_eq!(stage(&report, "raw-randwrite/gate")["state"], "passed");
    assert!(figure(stage(&report, "raw-randwrite"), "write_iops") > 0.0);
}
