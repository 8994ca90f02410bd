//! The lab tables of a plan: addresses handed out in a fixed order, and
//! every mistake named at its line.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use gauntlet_plan::{HostPlace, LoadOptions, NatType, load_lab_str, load_str};

const LAB: &str = r#"
[[segment]]
name = "eu"
subnet = "10.80.1.0/24"
[[segment]]
name = "asia"
subnet = "10.80.2.0/24"
[[link]]
between = ["eu", "asia"]
latency = "120ms"
jitter = "10ms"
loss = 0.5
bandwidth = "50mbit"
[[nat]]
name = "home1"
type = "port-restricted"
outside = "eu"
[[host]]
name = "bootstrap1"
segment = "eu"
[[host]]
name = "peer-behind-nat"
behind = "home1"
[[host]]
name = "stun"
segment = "eu"
addresses = 2
[[host]]
name = "tokyo"
segment = "asia"
"#;

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

#[test]
fn addresses_follow_the_documented_order() {
    let lab = load_lab_str(LAB, Path::new("lab.toml")).unwrap();
    let host = |n: &str| lab.host(n).unwrap();
    // Hosts of a segment first, in file order, from .2; then NAT boxes.
    assert_eq!(host("bootstrap1").addresses, [ip(10, 80, 1, 2)]);
    assert_eq!(host("stun").addresses, [ip(10, 80, 1, 3), ip(10, 80, 1, 4)]);
    assert_eq!(host("tokyo").addresses, [ip(10, 80, 2, 2)]);
    assert_eq!(host("tokyo").gateway, ip(10, 80, 2, 1));
    let nat = lab.nat("home1").unwrap();
    assert_eq!(nat.kind, NatType::PortRestricted);
    assert_eq!(nat.outside_addr, ip(10, 80, 1, 5));
    assert_eq!(nat.inside.to_string(), "192.168.0.0/24");
    assert_eq!(nat.mapping_timeout, Duration::from_secs(120));
    assert!(nat.hairpin);
    let peer = host("peer-behind-nat");
    assert_eq!(peer.place, HostPlace::Behind("home1".into()));
    assert_eq!(peer.addresses, [ip(192, 168, 0, 2)]);
    assert_eq!(peer.gateway, ip(192, 168, 0, 1));
    let link = &lab.links[0];
    assert_eq!(link.shape.latency, Duration::from_millis(120));
    assert_eq!(link.shape.jitter, Duration::from_millis(10));
    assert_eq!(link.shape.loss_percent, 0.5);
    assert_eq!(link.shape.bandwidth_bits_per_sec, Some(50_000_000));
}

#[test]
fn a_plan_carries_its_lab_and_services_name_hosts() {
    let plan = format!(
        "{LAB}\n[[service]]\nname = \"boot\"\ncommand = \"sleep 100\"\nhost = \"bootstrap1\"\n[[stage]]\nname = \"up\"\nkind = \"up\"\n"
    );
    let plan = load_str(&plan, Path::new("plan.toml"), &LoadOptions::default()).unwrap();
    assert_eq!(plan.lab.as_ref().unwrap().hosts.len(), 4);
    assert_eq!(plan.services[0].host.as_deref(), Some("bootstrap1"));

    let wrong = "[[service]]\nname = \"boot\"\ncommand = \"sleep 1\"\nhost = \"nowhere\"\n[[stage]]\nname = \"up\"\nkind = \"up\"\n";
    let err = load_str(wrong, Path::new("p.toml"), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("p.toml:4:8:") && err.contains("no lab"),
        "{err}"
    );
    let wrong = format!(
        "{LAB}\n[[service]]\nname = \"boot\"\ncommand = \"sleep 1\"\nhost = \"nowhere\"\n[[stage]]\nname = \"up\"\nkind = \"up\"\n"
    );
    let err = load_str(&wrong, Path::new("p.toml"), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no lab host called \"nowhere\"") && err.contains("bootstrap1"),
        "{err}"
    );
}

/// `(lab text, the line the error must name, words it must say)`.
fn rejects(text: &str, line: usize, words: &str) {
    let err = load_lab_str(text, Path::new("lab.toml")).unwrap_err();
    let message = err.to_string();
    assert_eq!(err.line(), Some(line), "{message}");
    assert!(message.contains(words), "{message:?} lacks {words:?}");
}

#[test]
fn bad_labs_are_named_at_their_line() {
    let seg = "[[segment]]\nname = \"eu\"\nsubnet = \"10.80.1.0/24\"\n";
    rejects(
        &format!("{seg}[[segment]]\nname = \"eu2\"\nsubnet = \"10.80.0.0/16\"\n"),
        6,
        "overlaps 10.80.1.0/24 of segment \"eu\"",
    );
    rejects(
        &format!("{seg}[[host]]\nname = \"a\"\nbehind = \"home9\"\n"),
        6,
        "no NAT box called \"home9\"",
    );
    rejects(
        "[[segment]]\nname = \"a-very-long-region\"\nsubnet = \"10.0.0.0/24\"\n",
        2,
        "too long for an interface name",
    );
    rejects(
        &format!("{seg}[[nat]]\nname = \"n\"\ntype = \"cone\"\noutside = \"eu\"\n"),
        6,
        "unknown NAT type \"cone\"",
    );
    rejects(
        &format!("{seg}[[link]]\nbetween = [\"eu\", \"mars\"]\n"),
        5,
        "no segment called \"mars\"",
    );
    rejects(
        &format!(
            "{seg}[[segment]]\nname = \"b\"\nsubnet = \"10.9.0.0/24\"\n[[link]]\nbetween = [\"eu\", \"b\"]\nbandwidth = \"5mbps\"\n"
        ),
        9,
        "bits per second",
    );
    rejects(
        &format!(
            "{seg}[[segment]]\nname = \"b\"\nsubnet = \"10.9.0.0/24\"\n[[link]]\nbetween = [\"eu\", \"b\"]\nloss = 150\n"
        ),
        9,
        "from 0 to 100",
    );
    rejects(
        &format!(
            "{seg}[[host]]\nname = \"a\"\nsegment = \"eu\"\n[[host]]\nname = \"a\"\nsegment = \"eu\"\n"
        ),
        8,
        "a second host called \"a\"",
    );
    rejects(
        &format!("{seg}[[host]]\nname = \"a\"\n"),
        5,
        "needs `segment",
    );
    rejects("[[segmnt]]\nname = \"eu\"\n", 1, "unknown key");
    rejects(
        "[[segment]]\nname = \"tiny\"\nsubnet = \"10.0.0.0/30\"\n[[host]]\nname = \"a\"\nsegment = \"tiny\"\n[[host]]\nname = \"b\"\nsegment = \"tiny\"\n",
        9,
        "no address left",
    );
    // A NAT's explicit inside that overlaps a segment.
    rejects(
        &format!(
            "{seg}[[nat]]\nname = \"n\"\ntype = \"symmetric\"\noutside = \"eu\"\ninside = \"10.80.1.0/25\"\n"
        ),
        8,
        "overlaps",
    );
}

#[test]
fn default_insides_skip_taken_subnets() {
    let text = "[[segment]]\nname = \"lan\"\nsubnet = \"192.168.0.0/24\"\n[[nat]]\nname = \"a\"\ntype = \"full-cone\"\noutside = \"lan\"\n[[nat]]\nname = \"b\"\ntype = \"symmetric\"\noutside = \"lan\"\n";
    let lab = load_lab_str(text, Path::new("lab.toml")).unwrap();
    assert_eq!(lab.nats[0].inside.to_string(), "192.168.1.0/24");
    assert_eq!(lab.nats[1].inside.to_string(), "192.168.2.0/24");
}

/// A soak plan on the lab above with `faults`.
fn soak_plan(faults: &str) -> String {
    format!(
        "{LAB}\n[[service]]\nname = \"api\"\ncommand = \"sleep 100\"\nhost = \"bootstrap1\"\n[[service]]\nname = \"local\"\ncommand = \"sleep 100\"\n[soak]\nduration = \"1m\"\n[users]\ncount = 1\n[[users.step]]\nname = \"get\"\nmethod = \"GET\"\nurl = \"http://10.80.1.2/\"\n[readback]\nhttp = \"http://10.80.1.2/{{{{key}}}}\"\n{faults}"
    )
}

fn soak_error(faults: &str) -> String {
    load_str(
        &soak_plan(faults),
        Path::new("p.toml"),
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn lab_faults_are_checked_against_the_lab() {
    use gauntlet_plan::soak::{FaultKind, PartitionMode};
    let plan = load_str(
        &soak_plan(
            "[[fault]]\nkind = \"partition\"\nservice = \"api\"\nevery = \"1m\"\n\
             [[fault]]\nkind = \"link\"\nlink = [\"asia\", \"eu\"]\nloss = 20\nlatency = \"300ms\"\nevery = \"1m\"\n\
             [[fault]]\nkind = \"link-down\"\nhost = \"stun\"\nevery = \"1m\"\n\
             [[fault]]\nkind = \"clock\"\nservice = \"local\"\noffset = \"-2m\"\nevery = \"1m\"\n",
        ),
        Path::new("p.toml"),
        &LoadOptions::default(),
    )
    .unwrap();
    let faults = &plan.soak.as_ref().unwrap().faults;
    // On a lab host without a proxy, a partition is a real one.
    assert_eq!(
        faults[0].kind,
        FaultKind::Partition {
            mode: PartitionMode::Network
        }
    );
    match &faults[1].kind {
        FaultKind::Link { between, shape } => {
            assert_eq!(between, &["asia".to_owned(), "eu".to_owned()]);
            assert_eq!(shape.loss_percent, 20.0);
            assert_eq!(shape.latency, Duration::from_millis(300));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(faults[1].target, None);
    assert_eq!(
        faults[2].kind,
        FaultKind::LinkDown {
            host: "stun".into()
        }
    );
    assert_eq!(faults[3].kind, FaultKind::Clock { offset_s: -120 });

    let err = soak_error(
        "[[fault]]\nkind = \"partition\"\nservice = \"local\"\nmode = \"network\"\nevery = \"1m\"\n",
    );
    assert!(
        err.contains("network partition cuts a lab host or a container off"),
        "{err}"
    );
    let err = soak_error("[[fault]]\nkind = \"link\"\nlink = [\"eu\", \"mars\"]\nevery = \"1m\"\n");
    assert!(err.contains("joined by a [[link]]"), "{err}");
    let err = soak_error("[[fault]]\nkind = \"link-down\"\nhost = \"nowhere\"\nevery = \"1m\"\n");
    assert!(err.contains("no lab host called \"nowhere\""), "{err}");
    let err = soak_error(
        "[[fault]]\nkind = \"link\"\nlink = [\"eu\", \"asia\"]\nservice = \"api\"\nevery = \"1m\"\n",
    );
    assert!(
        err.contains("takes `link` or `host`, not `service`"),
        "{err}"
    );
    for bad in ["+0s", "+1.5s", "soon", "+400d"] {
        let err = soak_error(&format!(
            "[[fault]]\nkind = \"clock\"\nservice = \"api\"\noffset = \"{bad}\"\nevery = \"1m\"\n"
        ));
        assert!(err.contains("`offset`"), "{bad}: {err}");
    }
    let err = soak_error("[[fault]]\nkind = \"clock\"\nservice = \"api\"\nevery = \"1m\"\n");
    assert!(err.contains("has no `offset`"), "{err}");
}

#[test]
fn matrix_stages_are_checked_against_the_lab() {
    let stage = |body: &str| format!("{LAB}\n[[stage]]\nname = \"m\"\nkind = \"matrix\"\n{body}");
    let ok = load_str(
        &stage("connect = \"ping -c1 {{to_addr}}\"\nthresholds = { relayed = 50 }\n"),
        Path::new("p.toml"),
        &LoadOptions::default(),
    )
    .unwrap();
    match &ok.stages[0].kind {
        gauntlet_plan::StageKind::Matrix(m) => {
            assert_eq!(m.hosts, ["bootstrap1", "peer-behind-nat", "stun", "tokyo"]);
            assert_eq!(m.attempts, 3);
            assert_eq!(m.thresholds["relayed"], 50.0);
            assert_eq!(m.thresholds["direct"], 99.0, "defaults stay");
        }
        other => panic!("{other:?}"),
    }
    let err = |body: &str| {
        load_str(&stage(body), Path::new("p.toml"), &LoadOptions::default())
            .unwrap_err()
            .to_string()
    };
    assert!(err("connect = \"x {{port}}\"\n").contains("refers to {{port}}"));
    assert!(err("connect = \"x\"\nhosts = [\"tokyo\"]\n").contains("at least two hosts"));
    assert!(
        err("connect = \"x\"\nhosts = [\"tokyo\", \"mars\"]\n")
            .contains("no lab host called \"mars\"")
    );
    assert!(
        err("connect = \"x\"\nthresholds = { punched = 5 }\n")
            .contains("unknown category \"punched\"")
    );
    assert!(err("connect = \"x\"\nattempts = 0\n").contains("`attempts` is from 1 to 1000"));
    assert!(err("hosts = [\"tokyo\", \"stun\"]\n").contains("needs `connect`"));
    let no_lab = "[[stage]]\nname = \"m\"\nkind = \"matrix\"\nconnect = \"x\"\n";
    let e = load_str(no_lab, Path::new("p.toml"), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no lab"), "{e}");
}
