//! The lab's NAT boxes are what they claim: a host behind each of the four
//! types is classified as that type by an RFC 5780 discovery client
//! talking to a STUN server with two addresses outside, and a host on the
//! segment itself as `open` (the negative control: no NAT at all). Three
//! segments joined by slow, lossy links; the STUN server is a region away
//! from most of them. Needs root (CI runs as root).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{gauntlet, stderr, stdout};
use serde_json::Value;

const LAB: &str = r#"
[[segment]]
name = "net"
subnet = "10.94.1.0/24"
[[segment]]
name = "far"
subnet = "10.94.2.0/24"
[[segment]]
name = "third"
subnet = "10.94.3.0/24"
# Slow and lossy links between the regions: the discovery retries (three
# tries per request) ride out a lost packet.
[[link]]
between = ["net", "far"]
latency = "20ms"
jitter = "5ms"
loss = 0.5
bandwidth = "20mbit"
[[link]]
between = ["net", "third"]
latency = "60ms"
loss = 0.5
[[nat]]
name = "full"
type = "full-cone"
outside = "far"
[[nat]]
name = "addr"
type = "address-restricted"
outside = "far"
[[nat]]
name = "port"
type = "port-restricted"
outside = "third"
[[nat]]
name = "sym"
type = "symmetric"
outside = "net"
[[host]]
name = "stun"
segment = "net"
addresses = 2
[[host]]
name = "plain"
segment = "far"
[[host]]
name = "behind-full"
behind = "full"
[[host]]
name = "behind-addr"
behind = "addr"
[[host]]
name = "behind-port"
behind = "port"
[[host]]
name = "behind-sym"
behind = "sym"
"#;

/// Kills the STUN server and takes the lab down, also on a failed assert.
struct Cleanup {
    server: Option<Child>,
    lab: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new(gauntlet())
            .args(["lab", "down", &self.lab])
            .output();
    }
}

#[test]
fn each_nat_type_is_classified_as_itself_by_rfc_5780() {
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, LAB).unwrap();
    let out = Command::new(gauntlet())
        .args(["lab", "up", "--json", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let record: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let id = record["id"].as_str().unwrap().to_owned();
    let mut cleanup = Cleanup {
        server: None,
        lab: id.clone(),
    };
    // stun is the first host of `net`: .2 and .3.
    let mut server = Command::new(gauntlet())
        .args(["lab", "exec", "--lab", &id, "stun", "--"])
        .arg(gauntlet())
        .args([
            "example-node",
            "stun-server",
            "--primary",
            "10.94.1.2:3478",
            "--alternate",
            "10.94.1.3:3479",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening"), "{line:?}");
    cleanup.server = Some(server);

    for (host, expected) in [
        ("plain", "open"),
        ("behind-full", "full-cone"),
        ("behind-addr", "address-restricted"),
        ("behind-port", "port-restricted"),
        ("behind-sym", "symmetric"),
    ] {
        let out = Command::new(gauntlet())
            .args(["lab", "exec", "--lab", &id, host, "--"])
            .arg(gauntlet())
            .args([
                "example-node",
                "nat-discover",
                "--server",
                "10.94.1.2:3478",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(report["type"], expected, "{host}: {report}");
        if expected != "open" {
            // Seen from outside as its NAT box's public address.
            let nat = host.strip_prefix("behind-").unwrap();
            let public = record["spec"]["nats"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["name"] == nat)
                .unwrap()["outside_addr"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                report["mapped"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{public}:")),
                "{host}: {report}"
            );
        }
    }
    drop(cleanup);
}
