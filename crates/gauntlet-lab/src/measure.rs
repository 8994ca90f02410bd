//! How well the userspace links do what they are set to: figures for
//! `gauntlet bench lab`, and the small topology its tests use.
//!
//! [`Testbed`] is three namespaces, `a — r — b`, where `r` routes between two
//! /24s and sends what it forwards to NFQUEUE, one queue per direction: the
//! smallest network with a shaped link. [`measure_delay`] sends UDP packets
//! from `a` to `b` through one shaped direction and compares the one-way
//! delay and loss with the setting; [`measure_throughput`] floods an
//! unshaped link to see how many packets per second the queue thread passes.
//! Both need root, `ip` and `iptables`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::netns::{self, NetnsError};
use crate::queue::{LinkQueues, LinkStats, QueueConfig, QueueError};
use crate::shaper::LinkParams;

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("running {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("UDP socket: {0}")]
    Socket(std::io::Error),
}

/// Three network namespaces, `a — r — b`: `a` is 10.77.1.2/24, `b` is
/// 10.77.2.2/24, `r` routes between them (10.77.1.1 and 10.77.2.1). The
/// veth pairs are created from `r` straight into `a` and `b`, so nothing
/// appears in the root namespace. Dropping it deletes the namespaces (and so
/// the veths and rules), also when a test panics.
#[derive(Debug)]
pub struct Testbed {
    names: [String; 3],
}

impl Testbed {
    pub const A: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
    pub const B: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
    /// `r`'s interface towards `a` and towards `b`, for the rules.
    pub const R_TO_A: &str = "ra";
    pub const R_TO_B: &str = "rb";

    /// Creates `<prefix>-a`, `<prefix>-r` and `<prefix>-b`. The prefix must
    /// be unique among the live namespaces (e.g. with the pid in it);
    /// namespaces left with these names by an earlier crash are deleted
    /// first.
    pub fn create(prefix: &str) -> Result<Testbed, MeasureError> {
        let names = ["a", "r", "b"].map(|role| format!("{prefix}-{role}"));
        for name in &names {
            // A leftover from a run that was killed; usually absent.
            if netns::named(name).exists() {
                let _ = ip(&["netns", "del", name]);
            }
        }
        // From here on, dropping the guard cleans up whatever was made.
        let bed = Testbed { names };
        let [a, r, b] = &bed.names;
        for name in &bed.names {
            ip(&["netns", "add", name])?;
            ip(&["-n", name, "link", "set", "lo", "up"])?;
        }
        let gateway_a = "10.77.1.1";
        let gateway_b = "10.77.2.1";
        for (ns, peer, r_if, peer_if, r_addr, peer_addr, gateway) in [
            (
                a,
                a,
                Self::R_TO_A,
                "a0",
                "10.77.1.1/24",
                "10.77.1.2/24",
                gateway_a,
            ),
            (
                b,
                b,
                Self::R_TO_B,
                "b0",
                "10.77.2.1/24",
                "10.77.2.2/24",
                gateway_b,
            ),
        ] {
            ip(&[
                "-n", r, "link", "add", r_if, "type", "veth", "peer", "name", peer_if, "netns",
                peer,
            ])?;
            ip(&["-n", r, "addr", "add", r_addr, "dev", r_if])?;
            ip(&["-n", r, "link", "set", r_if, "up"])?;
            ip(&["-n", ns, "addr", "add", peer_addr, "dev", peer_if])?;
            ip(&["-n", ns, "link", "set", peer_if, "up"])?;
            ip(&["-n", ns, "route", "add", "default", "via", gateway])?;
        }
        ip(&["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        Ok(bed)
    }

    /// The handle of namespace `a`, `r` or `b` for [`netns::enter`].
    pub fn a(&self) -> PathBuf {
        netns::named(&self.names[0])
    }
    pub fn r(&self) -> PathBuf {
        netns::named(&self.names[1])
    }
    pub fn b(&self) -> PathBuf {
        netns::named(&self.names[2])
    }

    /// Sends what `r` forwards from `a` to `b` to queue `a_to_b`, and from
    /// `b` to `a` to `b_to_a` (`None`: that direction is not queued).
    /// Start the [`LinkQueues`] first (see [`crate::queue`]).
    pub fn queue_rules(&self, a_to_b: u16, b_to_a: Option<u16>) -> Result<(), MeasureError> {
        let r = &self.names[1];
        let mut rules = vec![(Self::R_TO_A, Self::R_TO_B, a_to_b)];
        if let Some(b_to_a) = b_to_a {
            rules.push((Self::R_TO_B, Self::R_TO_A, b_to_a));
        }
        for (in_if, out_if, queue_num) in rules {
            let queue_num = queue_num.to_string();
            ip(&[
                "netns",
                "exec",
                r,
                "iptables",
                "-A",
                "FORWARD",
                "-i",
                in_if,
                "-o",
                out_if,
                "-j",
                "NFQUEUE",
                "--queue-num",
                &queue_num,
            ])?;
        }
        Ok(())
    }

    /// A UDP socket bound to `port` on `a`'s or `b`'s address (`ns` is
    /// [`a`](Self::a) or [`b`](Self::b)); it stays in that namespace
    /// whichever thread uses it.
    pub fn udp_socket(&self, ns: &std::path::Path, port: u16) -> Result<UdpSocket, MeasureError> {
        let ip = if *ns == self.a() { Self::A } else { Self::B };
        let addr = SocketAddr::V4(SocketAddrV4::new(ip, port));
        netns::run_in(ns, || UdpSocket::bind(addr))?.map_err(MeasureError::Socket)
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for name in &self.names {
            if netns::named(name).exists() {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

/// Runs `ip <args>`, failing with its stderr.
fn ip(args: &[&str]) -> Result<(), MeasureError> {
    let command = format!("ip {}", args.join(" "));
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| MeasureError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(MeasureError::Command {
            command,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// What [`measure_delay`] sends.
#[derive(Clone, Debug)]
pub struct DelayOptions {
    /// The shaped link, `a` to `b`.
    pub params: LinkParams,
    pub packets: u64,
    /// Packets per second, evenly spaced.
    pub rate: u64,
    /// UDP payload bytes (at least 16: sequence number and send time).
    pub payload_len: usize,
    pub seed: u64,
}

impl Default for DelayOptions {
    /// 10^4 packets of 64 bytes at 5000/s through a 100 ms link.
    fn default() -> Self {
        DelayOptions {
            params: LinkParams {
                latency: Duration::from_millis(100),
                ..LinkParams::default()
            },
            packets: 10_000,
            rate: 5_000,
            payload_len: 64,
            seed: 1,
        }
    }
}

/// How the link behaved compared with its setting.
#[derive(Clone, Debug)]
pub struct DelayReport {
    pub sent: u64,
    pub received: u64,
    pub loss_setting_percent: f64,
    pub observed_loss_percent: f64,
    pub latency_setting: Duration,
    /// One-way delay, send to receive, of the packets that arrived.
    pub median_delay: Duration,
    pub p99_delay: Duration,
    pub max_delay: Duration,
    /// The same without the shaper: the namespaces' own cost, measured with
    /// the link set to nothing, for comparison.
    pub baseline_median_delay: Duration,
    /// The link's counters at the end.
    pub stats: LinkStats,
}

const QUEUE_A_TO_B: u16 = 7;

/// Sends `options.packets` UDP packets from `a` to `b` through a link set to
/// `options.params` and reports the one-way delay and the loss; a first
/// pass through the same link set to nothing gives the baseline. Builds and
/// removes its own [`Testbed`].
pub fn measure_delay(options: &DelayOptions) -> Result<DelayReport, MeasureError> {
    let bed = Testbed::create(&unique_prefix("gtm"))?;
    let mut queues = LinkQueues::start(
        QueueConfig::new(Some(bed.r()))
            .link(QUEUE_A_TO_B, LinkParams::default())
            .seed(options.seed),
    )?;
    bed.queue_rules(QUEUE_A_TO_B, None)?;
    let sender = bed.udp_socket(&bed.a(), 0)?;
    let receiver = bed.udp_socket(&bed.b(), 9000)?;
    let to = SocketAddr::V4(SocketAddrV4::new(Testbed::B, 9000));

    let baseline_packets = (options.packets / 10).max(100);
    let baseline = one_way(&sender, &receiver, to, options, baseline_packets, 0)?;

    queues.set(QUEUE_A_TO_B, options.params.clone())?;
    // Let the thread pick the change up.
    std::thread::sleep(Duration::from_millis(20));
    let before = queues.stats(QUEUE_A_TO_B).unwrap_or_default();
    let mut delays = one_way(
        &sender,
        &receiver,
        to,
        options,
        options.packets,
        baseline_packets,
    )?;
    let after = queues.stats(QUEUE_A_TO_B).unwrap_or_default();
    queues.stop()?;

    delays.sort_unstable();
    let mut baseline = baseline;
    baseline.sort_unstable();
    let received = delays.len() as u64;
    let sent = options.packets;
    Ok(DelayReport {
        sent,
        received,
        loss_setting_percent: options.params.loss_percent,
        observed_loss_percent: if sent == 0 {
            0.0
        } else {
            (sent - received.min(sent)) as f64 * 100.0 / sent as f64
        },
        latency_setting: options.params.latency,
        median_delay: quantile(&delays, 0.5),
        p99_delay: quantile(&delays, 0.99),
        max_delay: delays.last().copied().unwrap_or_default(),
        baseline_median_delay: quantile(&baseline, 0.5),
        stats: LinkStats {
            received: after.received - before.received,
            accepted: after.accepted - before.accepted,
            dropped_loss: after.dropped_loss - before.dropped_loss,
            dropped_queue_full: after.dropped_queue_full - before.dropped_queue_full,
            dropped_at_stop: after.dropped_at_stop - before.dropped_at_stop,
            dropped_kernel: after.dropped_kernel - before.dropped_kernel,
        },
    })
}

/// Sends `count` packets numbered from `first` at `options.rate` and returns
/// the one-way delays of those that arrive (the receiver gives up once
/// nothing has come for the link's latency + jitter + 1 s).
fn one_way(
    sender: &UdpSocket,
    receiver: &UdpSocket,
    to: SocketAddr,
    options: &DelayOptions,
    count: u64,
    first: u64,
) -> Result<Vec<Duration>, MeasureError> {
    let epoch = Instant::now();
    let quiet = options.params.latency + options.params.jitter + Duration::from_secs(1);
    receiver
        .set_read_timeout(Some(quiet))
        .map_err(MeasureError::Socket)?;
    let end = first + count;
    std::thread::scope(|scope| {
        let receiving = scope.spawn(move || {
            let mut delays = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            let mut buf = [0u8; 2048];
            while let Ok(n) = receiver.recv(&mut buf) {
                let now = elapsed_nanos(epoch);
                let Some((seq, sent)) = decode(&buf[..n]) else {
                    continue;
                };
                if (first..end).contains(&seq) {
                    delays.push(Duration::from_nanos(now.saturating_sub(sent)));
                }
                if delays.len() as u64 == count {
                    break;
                }
            }
            delays
        });
        let mut payload = vec![0u8; options.payload_len.max(16)];
        let interval = Duration::from_secs(1) / u32::try_from(options.rate.max(1)).unwrap_or(1);
        let mut send_error = None;
        for (i, seq) in (first..end).enumerate() {
            let due = interval * u32::try_from(i).unwrap_or(u32::MAX);
            let ahead = due.saturating_sub(epoch.elapsed());
            if !ahead.is_zero() {
                std::thread::sleep(ahead);
            }
            encode(&mut payload, seq, elapsed_nanos(epoch));
            if let Err(e) = sender.send_to(&payload, to) {
                send_error = Some(e);
                break;
            }
        }
        let delays = receiving.join().unwrap_or_default();
        match send_error {
            Some(e) => Err(MeasureError::Socket(e)),
            None => Ok(delays),
        }
    })
}

fn elapsed_nanos(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn encode(payload: &mut [u8], seq: u64, sent_nanos: u64) {
    if let Some(head) = payload.get_mut(..16) {
        head[..8].copy_from_slice(&seq.to_le_bytes());
        head[8..].copy_from_slice(&sent_nanos.to_le_bytes());
    }
}

fn decode(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let sent = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((seq, sent))
}

/// The `q` quantile of sorted `values` (nearest rank); zero when empty.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// What [`measure_throughput`] sends.
#[derive(Clone, Debug)]
pub struct ThroughputOptions {
    /// Packets per second, sent in 1 ms batches.
    pub rate: u64,
    pub duration: Duration,
    /// The link's delay: with a delay, the thread holds `rate × latency`
    /// packets at a time.
    pub latency: Duration,
    /// UDP payload bytes.
    pub payload_len: usize,
}

impl Default for ThroughputOptions {
    /// 20 000 packets/s of 64 bytes for 2 s through a 100 ms link.
    fn default() -> Self {
        ThroughputOptions {
            rate: 20_000,
            duration: Duration::from_secs(2),
            latency: Duration::from_millis(100),
            payload_len: 64,
        }
    }
}

/// Whether the queue thread kept up with a sustained rate.
#[derive(Clone, Debug)]
pub struct ThroughputReport {
    pub sent: u64,
    /// The rate the sender managed (it shares the machine with the queue
    /// thread and the receiver).
    pub sent_per_sec: f64,
    /// Packets that reached `b`'s socket.
    pub delivered: u64,
    /// Delivered per second, from the first packet sent to the last
    /// delivered, less the link's latency.
    pub delivered_per_sec: f64,
    /// The link's counters. Losses, if any, show where: the kernel's queue
    /// (`dropped_kernel`: the thread did not keep up), the link's limit
    /// (`dropped_queue_full`), or `b`'s socket buffer (`delivered` below
    /// `accepted`).
    pub stats: LinkStats,
    /// CPU time the queue thread used per second of the run, in percent of
    /// one core; `None` when it could not be read.
    pub queue_thread_cpu_percent: Option<f64>,
}

/// Sends `options.rate` UDP packets per second for `options.duration` from
/// `a` to `b` through a queued link with `options.latency` and no other
/// impairment, and counts what arrives.
pub fn measure_throughput(options: &ThroughputOptions) -> Result<ThroughputReport, MeasureError> {
    let bed = Testbed::create(&unique_prefix("gtt"))?;
    let params = LinkParams {
        latency: options.latency,
        queue_limit_packets: 1_000_000,
        ..LinkParams::default()
    };
    let mut queues = LinkQueues::start(QueueConfig::new(Some(bed.r())).link(QUEUE_A_TO_B, params))?;
    bed.queue_rules(QUEUE_A_TO_B, None)?;
    let sender = bed.udp_socket(&bed.a(), 0)?;
    let receiver = bed.udp_socket(&bed.b(), 9000)?;
    // Long enough to hear the last packet, however slow the rate.
    let gap = Duration::from_secs_f64(2.0 / options.rate.max(1) as f64);
    let quiet = options.latency + gap.max(Duration::from_millis(500));
    receiver
        .set_read_timeout(Some(quiet))
        .map_err(MeasureError::Socket)?;
    let to = SocketAddr::V4(SocketAddrV4::new(Testbed::B, 9000));
    let payload = vec![0u8; options.payload_len];
    // The first packet also resolves the neighbours; not part of the figure.
    sender.send_to(&payload, to).map_err(MeasureError::Socket)?;
    let mut buf = [0u8; 2048];
    receiver.recv(&mut buf).map_err(MeasureError::Socket)?;
    let before = queues.stats(QUEUE_A_TO_B).unwrap_or_default();
    let cpu_before = queue_thread_cpu();

    let total = (options.rate as f64 * options.duration.as_secs_f64()) as u64;
    let delivered = AtomicU64::new(0);
    let epoch = Instant::now();
    let (sent, send_elapsed, last_delivery) = std::thread::scope(|scope| {
        let receiving = scope.spawn(|| {
            let mut buf = [0u8; 2048];
            let mut last = Duration::ZERO;
            while receiver.recv(&mut buf).is_ok() {
                last = epoch.elapsed();
                if delivered.fetch_add(1, Ordering::Relaxed) + 1 == total {
                    break;
                }
            }
            last
        });
        let mut sent = 0u64;
        while sent < total {
            // Catch up to where the rate says we should be, then nap.
            let due = (epoch.elapsed().as_secs_f64() * options.rate as f64) as u64 + 1;
            while sent < due.min(total) {
                // A full socket buffer (ENOBUFS) is the sender outrunning
                // its own interface: the packet is not sent, not counted.
                if sender.send_to(&payload, to).is_ok() {
                    sent += 1;
                } else {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let send_elapsed = epoch.elapsed();
        (sent, send_elapsed, receiving.join().unwrap_or_default())
    });
    let cpu_after = queue_thread_cpu();
    let wall = epoch.elapsed();
    // Let the kernel drop counters refresh.
    std::thread::sleep(Duration::from_millis(150));
    let after = queues.stats(QUEUE_A_TO_B).unwrap_or_default();
    queues.stop()?;
    let delivered = delivered.load(Ordering::Relaxed);
    let span = last_delivery
        .saturating_sub(options.latency)
        .max(Duration::from_nanos(1));
    Ok(ThroughputReport {
        sent,
        sent_per_sec: sent as f64 / send_elapsed.max(Duration::from_nanos(1)).as_secs_f64(),
        delivered,
        delivered_per_sec: delivered as f64 / span.as_secs_f64(),
        stats: LinkStats {
            received: after.received - before.received,
            accepted: after.accepted - before.accepted,
            dropped_loss: after.dropped_loss - before.dropped_loss,
            dropped_queue_full: after.dropped_queue_full - before.dropped_queue_full,
            dropped_at_stop: after.dropped_at_stop - before.dropped_at_stop,
            dropped_kernel: after.dropped_kernel - before.dropped_kernel,
        },
        queue_thread_cpu_percent: match (cpu_before, cpu_after) {
            (Some(b), Some(a)) => Some((a - b).as_secs_f64() * 100.0 / wall.as_secs_f64()),
            _ => None,
        },
    })
}

/// CPU time (user + system) used so far by this process's queue thread
/// (named `lab-queues`), if there is exactly one.
fn queue_thread_cpu() -> Option<Duration> {
    let mut found = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "lab-queues" {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the parenthesised name: state is field 3; utime and
        // stime are fields 14 and 15, in clock ticks (100 per second on Linux).
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        found = Some(Duration::from_millis((utime + stime) * 10));
    }
    found
}

/// `<tag><pid>-<n>`: unique among this process's testbeds and other
/// processes'.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{tag}{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let mut payload = [0u8; 64];
        encode(&mut payload, 42, 123_456_789);
        assert_eq!(decode(&payload), Some((42, 123_456_789)));
        assert_eq!(decode(&payload[..10]), None);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let ms = |n: u64| Duration::from_millis(n);
        let values: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(quantile(&values, 0.5), ms(50));
        assert_eq!(quantile(&values, 0.99), ms(99));
        assert_eq!(quantile(&values, 1.0), ms(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
