//! A real lab: namespaces, bridges, routes and a NAT box, checked with UDP
//! packets sent from inside the hosts. Needs root (CI runs as root); skips
//! with a note otherwise.

#![allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr"
)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use gauntlet_lab::{Lab, LabOptions, state, sys};

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: the network lab needs root");
    }
    root
}

const LAB: &str = r#"
[[segment]]
name = "eu"
subnet = "10.91.1.0/24"
[[segment]]
name = "asia"
subnet = "10.91.2.0/24"
[[nat]]
name = "home"
type = "port-restricted"
outside = "eu"
[[host]]
name = "a"
segment = "eu"
[[host]]
name = "b"
segment = "asia"
[[host]]
name = "c"
behind = "home"
"#;

/// A UDP socket bound inside host `host`'s namespace.
fn socket_in(lab: &Lab, host: &str, bind: &str) -> UdpSocket {
    let ns = lab.netns_of(host).unwrap();
    let bind = bind.to_owned();
    sys::in_netns(&ns, move || {
        let s = UdpSocket::bind(&bind).map_err(|e| gauntlet_lab::LabError::Io {
            what: "bind".into(),
            source: e,
        })?;
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Ok(s)
    })
    .unwrap()
}

/// Whether a datagram from `from` reaches `to` and an answer comes back,
/// and the address `to` saw it from.
fn round_trip(from: &UdpSocket, to: &UdpSocket, to_addr: SocketAddr) -> Option<SocketAddr> {
    for _ in 0..3 {
        from.send_to(b"ping", to_addr).unwrap();
        let mut buf = [0u8; 16];
        if let Ok((_, seen)) = to.recv_from(&mut buf) {
            to.send_to(b"pong", seen).unwrap();
            if from.recv_from(&mut buf).is_ok() {
                return Some(seen);
            }
        }
    }
    None
}

#[test]
fn hosts_reach_each_other_across_segments_and_out_of_a_nat() {
    if !root() {
        return;
    }
    let spec = gauntlet_plan::load_lab_str(LAB, Path::new("lab.toml")).unwrap();
    let mut lab = Lab::up(&spec, &LabOptions::default()).unwrap();
    // This machine reaches the segments over the control link.
    let routes = std::process::Command::new("ip")
        .args(["-4", "route"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).to_string();
    assert!(
        routes.contains("10.91.1.0/24 via 169.254.") && routes.contains(&lab.id().control()),
        "{routes}"
    );
    let namespaces = lab.record().namespaces.clone();
    assert_eq!(namespaces.len(), 5, "core, one NAT box, three hosts");
    for ns in &namespaces {
        assert!(sys::netns_path(ns).exists(), "{ns}");
    }
    let addr = |h: &str| lab.spec().host(h).unwrap().address();
    assert_eq!(addr("a"), Ipv4Addr::new(10, 91, 1, 2));

    let a = socket_in(&lab, "a", "0.0.0.0:4000");
    let b = socket_in(&lab, "b", "0.0.0.0:4000");
    let c = socket_in(&lab, "c", "0.0.0.0:4000");
    // Across the router: a (eu) and b (asia) see each other's own address.
    let seen = round_trip(&a, &b, SocketAddr::from((addr("b"), 4000))).expect("a reaches b");
    assert_eq!(seen, SocketAddr::from((addr("a"), 4000)));
    // Out of the NAT: b sees c as the box's public address, port kept.
    let public = lab.spec().nat("home").unwrap().outside_addr;
    let seen = round_trip(&c, &b, SocketAddr::from((addr("b"), 4000))).expect("c reaches b");
    assert_eq!(seen, SocketAddr::from((public, 4000)));
    // Nobody outside reaches the private address behind the NAT.
    assert_eq!(
        round_trip(&a, &c, SocketAddr::from((addr("c"), 4000))),
        None
    );
    // The backend runs a program inside the host: it sees only lo and eth0.
    let backend = lab.backend("b").unwrap();
    assert_eq!(
        backend.netns(),
        sys::netns_path(&lab.netns_of("b").unwrap())
    );

    let id = lab.id().clone();
    lab.down().unwrap();
    assert!(
        !Path::new("/sys/class/net").join(id.control()).exists(),
        "the control link is left"
    );
    for ns in &namespaces {
        assert!(!sys::netns_path(ns).exists(), "{ns} left behind");
    }
    assert!(!state::lab_dir(&id).exists());
}

/// The management network: this machine reaches the hosts behind NAT
/// boxes at their management addresses; nothing else does (not a host on
/// a segment, not another NATed host), and a NATed host's own traffic
/// still leaves through its NAT box.
#[test]
fn the_management_network_reaches_nated_hosts_from_here_only() {
    if !root() {
        return;
    }
    let text = LAB.replace("10.91.", "10.78.")
        + "[management]\nsubnet = \"10.78.250.0/24\"\n\
           [[host]]\nname = \"d\"\nbehind = \"home\"\n";
    let spec = gauntlet_plan::load_lab_str(&text, Path::new("lab.toml")).unwrap();
    let mut lab = Lab::up(&spec, &LabOptions::default()).unwrap();
    assert!(lab.record().unrouted.is_empty(), "{:?}", lab.record());
    let host = |h: &str| lab.spec().host(h).unwrap().clone();
    assert_eq!(host("a").management, None);
    assert_eq!(host("c").management, Some(Ipv4Addr::new(10, 78, 250, 2)));
    assert_eq!(host("d").management, Some(Ipv4Addr::new(10, 78, 250, 3)));
    let managed = SocketAddr::from((host("c").management.unwrap(), 4000));

    let here = UdpSocket::bind("0.0.0.0:0").unwrap();
    here.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let a = socket_in(&lab, "a", "0.0.0.0:4000");
    let b = socket_in(&lab, "b", "0.0.0.0:4000");
    let c = socket_in(&lab, "c", "0.0.0.0:4000");
    let d = socket_in(&lab, "d", "0.0.0.0:4000");
    assert!(round_trip(&here, &c, managed).is_some(), "here reaches c");
    assert_eq!(round_trip(&a, &c, managed), None, "a host on a segment");
    assert_eq!(round_trip(&d, &c, managed), None, "another NATed host");
    // c's own traffic still goes out through its box.
    let public = lab.spec().nat("home").unwrap().outside_addr;
    let seen =
        round_trip(&c, &b, SocketAddr::from((host("b").address(), 4000))).expect("c reaches b");
    assert_eq!(seen.ip(), std::net::IpAddr::V4(public));

    let id = lab.id().clone();
    lab.down().unwrap();
    let routes = std::process::Command::new("ip")
        .args(["-4", "route"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&routes.stdout).contains("10.78.250.0/24"),
        "the management route is left"
    );
    assert!(!Path::new("/sys/class/net").join(id.control()).exists());
}

#[test]
fn a_failed_build_leaves_nothing() {
    if !root() {
        return;
    }
    // The loader never makes this, the kernel refuses it: a host whose
    // gateway is outside its subnet. The build fails at the host's route,
    // after the core and the NAT box were made.
    let mut spec =
        gauntlet_plan::load_lab_str(&LAB.replace("10.91.", "10.97."), Path::new("lab.toml"))
            .unwrap();
    spec.hosts[2].gateway = Ipv4Addr::new(10, 99, 99, 1);
    let err = Lab::up(&spec, &LabOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("route add default via 10.99.99.1"), "{err}");
    // The error names the namespace, and through it the lab's id.
    let id = err
        .split("gt-")
        .nth(1)
        .and_then(|rest| rest.get(..6))
        .and_then(gauntlet_lab::LabId::parse)
        .expect("the error names the lab's namespace");
    let left: Vec<String> = std::fs::read_dir(sys::NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| id.owns_namespace(n))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!state::lab_dir(&id).exists());
}

/// The median round trip from `from` to the echo at `to`, over `n` tries
/// (`None` when fewer than half came back).
fn median_rtt(from: &UdpSocket, to: &UdpSocket, to_addr: SocketAddr, n: usize) -> Option<Duration> {
    let mut rtts = Vec::new();
    for _ in 0..n {
        let start = std::time::Instant::now();
        if round_trip(from, to, to_addr).is_some() {
            rtts.push(start.elapsed());
        }
    }
    if rtts.len() * 2 < n {
        return None;
    }
    rtts.sort();
    Some(rtts[rtts.len() / 2])
}

#[test]
fn a_link_delays_and_a_fault_changes_it_at_run_time() {
    if !root() {
        return;
    }
    let text = r#"
[[segment]]
name = "eu"
subnet = "10.95.1.0/24"
[[segment]]
name = "asia"
subnet = "10.95.2.0/24"
[[link]]
between = ["eu", "asia"]
latency = "60ms"
[[host]]
name = "a"
segment = "eu"
[[host]]
name = "a2"
segment = "eu"
[[host]]
name = "b"
segment = "asia"
"#;
    let spec = gauntlet_plan::load_lab_str(text, Path::new("lab.toml")).unwrap();
    let lab = Lab::up(&spec, &LabOptions::default()).unwrap();
    let a = socket_in(&lab, "a", "0.0.0.0:4100");
    let a2 = socket_in(&lab, "a2", "0.0.0.0:4100");
    let b = socket_in(&lab, "b", "0.0.0.0:4100");
    let b_addr = SocketAddr::from((lab.spec().host("b").unwrap().address(), 4100));
    let a2_addr = SocketAddr::from((lab.spec().host("a2").unwrap().address(), 4100));
    // 60 ms each way across the link (generous bounds: a loaded machine
    // only adds); inside a segment no shaping at all.
    let rtt = median_rtt(&a, &b, b_addr, 5).expect("the link carries packets");
    assert!(
        rtt >= Duration::from_millis(118) && rtt < Duration::from_millis(600),
        "{rtt:?}"
    );
    let local = median_rtt(&a, &a2, a2_addr, 5).unwrap();
    assert!(local < Duration::from_millis(50), "{local:?}");

    // A fault: the link loses everything; then the heal.
    let cut = gauntlet_plan::LinkShape {
        loss_percent: 100.0,
        ..lab.spec().links[0].shape
    };
    lab.set_link("eu", "asia", &cut).unwrap();
    assert_eq!(median_rtt(&a, &b, b_addr, 2), None);
    lab.set_link("asia", "eu", &lab.spec().links[0].shape)
        .unwrap();
    assert!(median_rtt(&a, &b, b_addr, 3).is_some());
    let (there, back) = lab.link_stats("eu", "asia").unwrap();
    assert!(there.dropped_loss > 0 && there.accepted > 0, "{there:?}");
    assert!(back.accepted > 0, "{back:?}");
    // Only shaped links can change.
    assert!(lab.set_link("eu", "mars", &cut).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_drops_real_packets_one_way_until_healed() {
    use gauntlet_nemesis::{Fault, FaultExecutor, PartitionShape};
    if !root() {
        return;
    }
    let spec = gauntlet_plan::load_lab_str(&LAB.replace("10.91.", "10.98."), Path::new("lab.toml"))
        .unwrap();
    let lab = Lab::up(&spec, &LabOptions::default()).unwrap();
    let members: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .map(|h| (format!("n-{h}"), h.to_string()))
        .collect();
    let net = gauntlet_lab::LabNet::new(lab.record(), &members).unwrap();
    let a = socket_in(&lab, "a", "0.0.0.0:4200");
    let b = socket_in(&lab, "b", "0.0.0.0:4200");
    let b_addr = SocketAddr::from((lab.spec().host("b").unwrap().address(), 4200));
    let a_addr = SocketAddr::from((lab.spec().host("a").unwrap().address(), 4200));
    assert!(round_trip(&a, &b, b_addr).is_some());

    // b stops hearing a (asymmetric): a → b is lost, b → a still arrives.
    let mut grudge = gauntlet_net::Grudge::new(3);
    grudge.drop_from(1, 0);
    let fault = Fault::Partition {
        shape: PartitionShape::Asymmetric,
        grudge,
    };
    let value = net.inject(&fault, &[]).await.unwrap();
    assert_eq!(value["network"], "lab");
    a.send_to(b"lost", b_addr).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        b.recv_from(&mut buf).is_err(),
        "a's packet reached b through the cut"
    );
    b.send_to(b"heard", a_addr).unwrap();
    assert_eq!(
        a.recv_from(&mut buf).unwrap().1,
        b_addr,
        "the other way still works"
    );

    net.heal(&fault, &[]).await.unwrap();
    assert!(round_trip(&a, &b, b_addr).is_some(), "healed");
}

/// A lab being claimed is never swept: a sweeper running at the same
/// moment (another run's lab coming up) never finds its directory with
/// the lock free, so the claim always succeeds and its directory stays
/// while it is held.
#[test]
fn claims_and_sweeps_at_the_same_time_never_collide() {
    if !root() {
        return;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                state::sweep_dead().unwrap();
            }
        })
    };
    for _ in 0..300 {
        let id = gauntlet_lab::LabId::fresh();
        let (dir, held) = state::claim(&id).expect("a fresh lab is claimed");
        assert!(dir.is_dir(), "{} was swept while held", dir.display());
        std::thread::yield_now();
        assert!(dir.is_dir(), "{} was swept while held", dir.display());
        drop(held);
        let _ = std::fs::remove_dir_all(&dir);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sweeper.join().unwrap();
}
