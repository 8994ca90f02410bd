//! The shaper on real packets: UDP between two hosts of a lab whose core
//! sends what it forwards between the segments through [`LinkQueues`].
//!
//! The lab is built by [`Lab::up`] with an unshaped link, so the lab starts
//! no shaper of its own; each test starts the [`LinkQueues`] it tests in the
//! core, with its own parameters (some a lab file cannot give, such as a
//! tiny queue limit), and adds the `NFQUEUE` rules itself.
//!
//! Needs root, `ip`, `nft` and `iptables`; without them each test says so
//! and passes. The bounds are generous on purpose: these tests check that
//! the links do the right thing, not how precisely (that is `gauntlet bench
//! lab`'s job, see `gauntlet_lab::measure`).
#![allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr, which the harness captures"
)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use gauntlet_lab::queue::{LinkQueues, LinkStats, QueueConfig};
use gauntlet_lab::shaper::LinkParams;
use gauntlet_lab::{Lab, LabOptions, names, sys};

const A_TO_B: u16 = 1;
const B_TO_A: u16 = 2;
const ECHO_PORT: u16 = 7007;

/// Why the tests cannot run here, if they cannot.
fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "iptables", "nft"] {
        if sys::find_program(tool).is_none() {
            return Some(format!("no `{tool}`"));
        }
    }
    None
}

macro_rules! require_lab {
    () => {
        if let Some(why) = unsupported() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// Segments `a` and `b` (in `10.<net>.1.0/24` and `10.<net>.2.0/24`), host
/// `a` and host `b`, routed unshaped.
fn lab_file(net: u8) -> String {
    format!(
        r#"
[[segment]]
name = "a"
subnet = "10.{net}.1.0/24"
[[segment]]
name = "b"
subnet = "10.{net}.2.0/24"
[[host]]
name = "a"
segment = "a"
[[host]]
name = "b"
segment = "b"
"#
    )
}

/// A lab with both directions queued and an echo server on host `b`.
struct Bed {
    queues: LinkQueues,
    client: UdpSocket,
    echo: UdpSocket,
    /// The echo server's address.
    to: SocketAddr,
    /// Last, so that it goes down after the sockets and the queue thread.
    _lab: Lab,
}

/// A UDP socket bound to `addr` inside host `host`'s namespace.
fn socket_in(lab: &Lab, host: &str, addr: SocketAddr) -> UdpSocket {
    let ns = lab.netns_of(host).expect("a host of the lab");
    sys::in_netns(&ns, move || {
        UdpSocket::bind(addr).map_err(|e| gauntlet_lab::LabError::Io {
            what: format!("bind {addr}"),
            source: e,
        })
    })
    .expect("socket")
}

impl Bed {
    /// `net` picks the subnets (one per test, so that no two labs of the
    /// tests share them).
    fn new(net: u8, a_to_b: LinkParams, b_to_a: LinkParams) -> Bed {
        let spec =
            gauntlet_plan::load_lab_str(&lab_file(net), Path::new("lab.toml")).expect("lab file");
        let lab = Lab::up(&spec, &LabOptions::default()).expect("lab up");
        let core = lab.id().core();
        let queues = LinkQueues::start(
            QueueConfig::new(Some(sys::netns_path(&core)))
                .link(A_TO_B, a_to_b)
                .link(B_TO_A, b_to_a)
                .seed(2024),
        )
        .expect("queues start");
        // Bound before the rules, as the queue module asks.
        let mut rules = String::from("*filter\n");
        for (from, to, queue_num) in [("a", "b", A_TO_B), ("b", "a", B_TO_A)] {
            rules.push_str(&format!(
                "-A FORWARD -i {} -o {} -j NFQUEUE --queue-num {queue_num}\n",
                names::bridge(from),
                names::bridge(to)
            ));
        }
        rules.push_str("COMMIT\n");
        let place = core.clone();
        sys::in_netns(&core, move || {
            sys::run("iptables-restore", &["--noflush"], Some(&rules), &place).map(drop)
        })
        .expect("rules");
        let addr = |host: &str| lab.spec().host(host).expect("host").address();
        let to = SocketAddr::from((addr("b"), ECHO_PORT));
        let client = socket_in(&lab, "a", SocketAddr::from((addr("a"), 0)));
        let echo = socket_in(&lab, "b", to);
        Bed {
            queues,
            client,
            echo,
            to,
            _lab: lab,
        }
    }

    fn stats(&self, queue_num: u16) -> LinkStats {
        self.queues.stats(queue_num).expect("a bound queue")
    }

    /// Sends `count` numbered datagrams to the echo server, `spacing`
    /// apart, and returns each one's round-trip time, `None` for those not
    /// back within `wait` of the last send.
    fn round_trips(
        &self,
        count: usize,
        spacing: Duration,
        wait: Duration,
    ) -> Vec<Option<Duration>> {
        let to = self.to;
        let stop = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        let start = Instant::now();
        std::thread::scope(|scope| {
            let _echo = echo_server(scope, &self.echo, &done);
            let mut sent_at = vec![Duration::ZERO; count];
            let receiving = scope.spawn(|| {
                let mut back: Vec<Option<Duration>> = vec![None; count];
                let mut buf = [0u8; 64];
                self.client
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .expect("timeout");
                let mut deadline = None;
                loop {
                    if let Ok(n) = self.client.recv(&mut buf)
                        && n >= 8
                    {
                        let seq = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
                        if let Some(slot) = back.get_mut(seq as usize) {
                            *slot = Some(start.elapsed());
                        }
                    }
                    if back.iter().all(Option::is_some) {
                        break;
                    }
                    if stop.load(Ordering::Relaxed) {
                        let deadline = *deadline.get_or_insert_with(|| Instant::now() + wait);
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                }
                back
            });
            for (seq, at) in sent_at.iter_mut().enumerate() {
                *at = start.elapsed();
                self.client
                    .send_to(&(seq as u64).to_le_bytes(), to)
                    .expect("send");
                std::thread::sleep(spacing);
            }
            // All sent: the receiver now waits `wait` at most.
            stop.store(true, Ordering::Relaxed);
            let back = receiving.join().expect("receiver");
            done.store(true, Ordering::Relaxed);
            back.into_iter()
                .zip(sent_at)
                .map(|(back, sent)| back.map(|b| b - sent))
                .collect()
        })
    }
}

/// Echoes datagrams on `socket` until `done` (checked every 20 ms).
fn echo_server<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    socket: &'scope UdpSocket,
    done: &'scope AtomicBool,
) -> ScopedJoinHandle<'scope, ()> {
    scope.spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let mut buf = [0u8; 2048];
        while !done.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        }
    })
}

fn median(mut rtts: Vec<Duration>) -> Duration {
    rtts.sort_unstable();
    rtts[rtts.len() / 2]
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn delay(latency: Duration) -> LinkParams {
    LinkParams {
        latency,
        ..LinkParams::default()
    }
}

#[test]
fn latency_applies_to_both_directions_and_changes_at_run_time() {
    require_lab!();
    let lab = Bed::new(77, LinkParams::default(), LinkParams::default());

    let fast = lab.round_trips(20, ms(5), ms(500));
    assert!(
        fast.iter().all(Option::is_some),
        "lost without loss: {fast:?}"
    );
    let fast = median(fast.into_iter().flatten().collect());
    assert!(fast < ms(50), "unshaped median RTT {fast:?}");

    // A fault: 100 ms each way.
    lab.queues.set(A_TO_B, delay(ms(100))).expect("set");
    lab.queues.set(B_TO_A, delay(ms(100))).expect("set");
    std::thread::sleep(ms(20));
    let slow = lab.round_trips(30, ms(10), ms(1500));
    assert!(
        slow.iter().all(Option::is_some),
        "lost without loss: {slow:?}"
    );
    let slow = median(slow.into_iter().flatten().collect());
    assert!(
        (ms(190)..ms(400)).contains(&slow),
        "median RTT {slow:?} with 100 ms each way"
    );

    // The heal.
    lab.queues.set(A_TO_B, LinkParams::default()).expect("set");
    lab.queues.set(B_TO_A, LinkParams::default()).expect("set");
    std::thread::sleep(ms(20));
    let healed = lab.round_trips(20, ms(5), ms(500));
    let healed = median(healed.into_iter().flatten().collect());
    assert!(healed < ms(50), "healed median RTT {healed:?}");

    for queue_num in [A_TO_B, B_TO_A] {
        let stats = lab.stats(queue_num);
        assert_eq!(stats.received, 70, "queue {queue_num}: {stats:?}");
        assert_eq!(stats.accepted, 70, "queue {queue_num}: {stats:?}");
        assert_eq!(stats.dropped_loss + stats.dropped_queue_full, 0);
        assert_eq!(stats.dropped_kernel, 0);
    }
    assert_eq!(lab.queues.errors(), 0);
}

#[test]
fn loss_drops_about_half_each_way() {
    require_lab!();
    let half = LinkParams {
        loss_percent: 50.0,
        ..LinkParams::default()
    };
    let lab = Bed::new(78, half.clone(), half);
    let sent = 400;
    let rtts = lab.round_trips(sent, ms(1), ms(300));
    let back = rtts.iter().filter(|r| r.is_some()).count() as u64;
    // Expected a quarter, 100 (σ ≈ 8.7); the shaper is seeded, so this
    // does not flake, but the bounds leave room for any seed.
    assert!((60..=150).contains(&back), "{back} of {sent} came back");

    // What the counters say must add up with what the sockets saw.
    let there = lab.stats(A_TO_B);
    let home = lab.stats(B_TO_A);
    assert_eq!(there.received, sent as u64, "{there:?}");
    assert_eq!(there.accepted + there.dropped_loss, there.received);
    assert!((140..=260).contains(&there.dropped_loss), "{there:?}");
    assert_eq!(
        home.received, there.accepted,
        "every delivered one is echoed"
    );
    assert_eq!(home.accepted + home.dropped_loss, home.received);
    assert_eq!(home.accepted, back, "{home:?}");
    assert_eq!(there.dropped_queue_full + home.dropped_queue_full, 0);
}

#[test]
fn a_full_link_drops_and_a_stopped_one_passes_nothing() {
    require_lab!();
    // A 1 s link that holds 5 packets.
    let tight = LinkParams {
        latency: Duration::from_secs(1),
        queue_limit_packets: 5,
        ..LinkParams::default()
    };
    let mut lab = Bed::new(79, tight, LinkParams::default());
    let to = lab.to;
    for seq in 0u64..20 {
        lab.client.send_to(&seq.to_le_bytes(), to).expect("send");
    }
    // Give the thread time to read them all (they are held for a second).
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.stats(A_TO_B).received < 20 && Instant::now() < deadline {
        std::thread::sleep(ms(10));
    }
    lab.queues.stop().expect("stop");
    assert!(!lab.queues.is_running());
    let stats = lab.stats(A_TO_B);
    assert_eq!(stats.received, 20, "{stats:?}");
    assert_eq!(stats.dropped_queue_full, 15, "{stats:?}");
    assert_eq!(stats.dropped_at_stop, 5, "{stats:?}");
    assert_eq!(stats.accepted, 0, "{stats:?}");

    // Stopped: the rules still queue, nobody listens, nothing passes.
    lab.echo.set_read_timeout(Some(ms(300))).expect("timeout");
    lab.client.send_to(b"after stop", to).expect("send");
    let mut buf = [0u8; 64];
    assert!(
        lab.echo.recv(&mut buf).is_err(),
        "a packet bypassed the stopped shaper"
    );
    assert!(lab.queues.set(A_TO_B, LinkParams::default()).is_err());
}
