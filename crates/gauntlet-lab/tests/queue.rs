//! The shaper on real packets: UDP between two namespaces through a router
//! namespace whose forwarded packets go through [`LinkQueues`].
//!
//! Needs root, `ip` and `iptables`; without them each test says so and
//! passes. The bounds are generous on purpose: these tests check that the
//! links do the right thing, not how precisely (that is `gauntlet bench
//! lab`'s job, see `gauntlet_lab::measure`).
#![allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr, which the harness captures"
)]

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use gauntlet_lab::measure::{Testbed, unique_prefix};
use gauntlet_lab::queue::{LinkQueues, LinkStats, QueueConfig};
use gauntlet_lab::shaper::LinkParams;

const A_TO_B: u16 = 1;
const B_TO_A: u16 = 2;
const ECHO_PORT: u16 = 7007;

/// Why the tests cannot run here, if they cannot.
fn unsupported() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // "Uid: real effective saved fs"
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some("not root".into());
    }
    for tool in ["ip", "iptables"] {
        let runs = Command::new(tool)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !runs {
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

/// A topology with both directions queued and an echo server on `b`.
struct Lab {
    queues: LinkQueues,
    client: UdpSocket,
    echo: UdpSocket,
    /// Held for its Drop, which deletes the namespaces; last, so that it
    /// goes after the sockets and the queue thread.
    _bed: Testbed,
}

impl Lab {
    fn new(a_to_b: LinkParams, b_to_a: LinkParams) -> Lab {
        let bed = Testbed::create(&unique_prefix("gtq")).expect("testbed");
        let queues = LinkQueues::start(
            QueueConfig::new(Some(bed.r()))
                .link(A_TO_B, a_to_b)
                .link(B_TO_A, b_to_a)
                .seed(2024),
        )
        .expect("queues start");
        bed.queue_rules(A_TO_B, Some(B_TO_A)).expect("rules");
        let client = bed.udp_socket(&bed.a(), 0).expect("client socket");
        let echo = bed.udp_socket(&bed.b(), ECHO_PORT).expect("echo socket");
        Lab {
            queues,
            client,
            echo,
            _bed: bed,
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
        let to = SocketAddr::V4(SocketAddrV4::new(Testbed::B, ECHO_PORT));
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
    let lab = Lab::new(LinkParams::default(), LinkParams::default());

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
    let lab = Lab::new(half.clone(), half);
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
    let mut lab = Lab::new(tight, LinkParams::default());
    let to = SocketAddr::V4(SocketAddrV4::new(Testbed::B, ECHO_PORT));
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
