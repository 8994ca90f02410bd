//! How long a lab takes to build and remove, and how well its links do what
//! they are set to: the figures of `gauntlet bench lab`.
//!
//! Every measurement runs on a real lab, built by [`Lab::up`] from a
//! [`LabSpec`] as a lab file describes it, and removed by [`Lab::down`]:
//!
//! - [`measure_bring_up`] builds and removes [`bring_up_spec`] (10 hosts, 3
//!   segments, 4 NAT boxes of the four types, 2 shaped links) a number of
//!   times.
//! - [`measure_delay`] and [`measure_throughput`] use [`link_lab_spec`]: two
//!   segments `a` and `b`, one host on each (also called `a` and `b`), and
//!   the `[[link]]` between them carrying the settings under test. They send
//!   UDP from host `a` to host `b`, through the core and its shaper. Both
//!   sockets live in this process (each made inside its host's namespace),
//!   so the one-way delay is taken with one monotonic clock.
//!
//! All of it needs what the lab needs: root, `ip`, `nft` and `iptables`.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gauntlet_plan::{LabSpec, LinkShape};

use crate::queue::LinkStats;
use crate::{Lab, LabError, LabOptions, sys};

/// The lab of [`measure_bring_up`].
const BRING_UP_LAB: &str = r#"
[[segment]]
name = "eu"
subnet = "10.180.1.0/24"
[[segment]]
name = "us"
subnet = "10.180.2.0/24"
[[segment]]
name = "asia"
subnet = "10.180.3.0/24"

[[link]]
between = ["eu", "us"]
latency = "40ms"
jitter = "5ms"
[[link]]
between = ["us", "asia"]
latency = "80ms"
loss = 1.0

[[nat]]
name = "cone"
type = "full-cone"
outside = "eu"
[[nat]]
name = "addr"
type = "address-restricted"
outside = "us"
[[nat]]
name = "port"
type = "port-restricted"
outside = "asia"
[[nat]]
name = "sym"
type = "symmetric"
outside = "eu"

[[host]]
name = "eu1"
segment = "eu"
[[host]]
name = "eu2"
segment = "eu"
[[host]]
name = "us1"
segment = "us"
[[host]]
name = "us2"
segment = "us"
[[host]]
name = "asia1"
segment = "asia"
[[host]]
name = "asia2"
segment = "asia"
[[host]]
name = "home1"
behind = "cone"
[[host]]
name = "home2"
behind = "addr"
[[host]]
name = "home3"
behind = "port"
[[host]]
name = "home4"
behind = "sym"
"#;

/// The lab of the link measurements; its link's properties are replaced by
/// the settings under test.
const LINK_LAB: &str = r#"
[[segment]]
name = "a"
subnet = "10.181.1.0/24"
[[segment]]
name = "b"
subnet = "10.181.2.0/24"
[[link]]
between = ["a", "b"]
latency = "1ms"
[[host]]
name = "a"
segment = "a"
[[host]]
name = "b"
segment = "b"
"#;

/// The port host `b` receives on.
const RECEIVER_PORT: u16 = 9000;

/// The lab [`measure_bring_up`] builds: segments `eu`, `us` and `asia`
/// (10.180.1–3.0/24), links eu–us (40 ± 5 ms) and us–asia (80 ms, 1 %
/// loss), NAT boxes `cone` (full-cone), `addr` (address-restricted), `port`
/// (port-restricted) and `sym` (symmetric), two hosts on each segment and
/// one behind each NAT box.
pub fn bring_up_spec() -> LabSpec {
    gauntlet_plan::load_lab_str(BRING_UP_LAB, Path::new("bench-bring-up.toml"))
        .expect("the bring-up lab is a valid lab file")
}

/// The lab of [`measure_delay`] and [`measure_throughput`]: segments `a`
/// (10.181.1.0/24) and `b` (10.181.2.0/24) with host `a` and host `b`, and
/// a `[[link]]` between them set to `shape` (a declared link always goes
/// through the shaper, so one set to nothing measures the shaper's own
/// cost).
pub fn link_lab_spec(shape: &LinkShape) -> LabSpec {
    let mut spec = gauntlet_plan::load_lab_str(LINK_LAB, Path::new("bench-link.toml"))
        .expect("the link lab is a valid lab file");
    spec.links[0].shape = *shape;
    spec
}

/// The fewest, the middle and the most of a few timings.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
}

impl Spread {
    /// Of `values` (any order); zero when empty.
    pub fn of(values: &[Duration]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        Spread {
            min: sorted.first().copied().unwrap_or_default(),
            median: quantile(&sorted, 0.5),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

/// How long [`bring_up_spec`]'s lab took to build and to remove.
#[derive(Clone, Debug)]
pub struct BringUpReport {
    pub rounds: usize,
    pub hosts: usize,
    pub segments: usize,
    pub nats: usize,
    pub shaped_links: usize,
    /// [`Lab::up`], as its [`Lab::build_time`] says.
    pub up: Spread,
    /// [`Lab::down`].
    pub down: Spread,
}

/// Builds and removes [`bring_up_spec`]'s lab `rounds` times, one after
/// the other. Back to back on purpose, as a test suite builds its labs: a
/// build right after a teardown is slower (measured: about 0.18 s against
/// 0.06 s on an idle machine), as the kernel is still destroying the last
/// lab's namespaces in the background.
pub fn measure_bring_up(rounds: usize) -> Result<BringUpReport, LabError> {
    let spec = bring_up_spec();
    let mut ups = Vec::with_capacity(rounds);
    let mut downs = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut lab = Lab::up(
            &spec,
            &LabOptions {
                seed: round as u64,
                source: None,
            },
        )?;
        ups.push(lab.build_time);
        let started = Instant::now();
        lab.down()?;
        downs.push(started.elapsed());
    }
    Ok(BringUpReport {
        rounds,
        hosts: spec.hosts.len(),
        segments: spec.segments.len(),
        nats: spec.nats.len(),
        shaped_links: spec.links.len(),
        up: Spread::of(&ups),
        down: Spread::of(&downs),
    })
}

/// [`link_lab_spec`]'s lab, up, with a UDP socket on host `a` (any port)
/// and one on host `b` ([`RECEIVER_PORT`]).
struct LinkLab {
    lab: Lab,
    sender: UdpSocket,
    receiver: UdpSocket,
    /// The receiver's address.
    to: SocketAddr,
}

impl LinkLab {
    fn up(shape: &LinkShape, seed: u64) -> Result<LinkLab, LabError> {
        let spec = link_lab_spec(shape);
        let lab = Lab::up(&spec, &LabOptions { seed, source: None })?;
        let host = |name: &str| spec.host(name).expect("the link lab's hosts").address();
        let to = SocketAddr::from((host("b"), RECEIVER_PORT));
        let sender = udp_socket(&lab, "a", SocketAddr::from((host("a"), 0)))?;
        let receiver = udp_socket(&lab, "b", to)?;
        Ok(LinkLab {
            lab,
            sender,
            receiver,
            to,
        })
    }

    /// The shaper's counters of the direction `a` to `b`.
    fn stats(&self) -> Result<LinkStats, LabError> {
        Ok(self.lab.link_stats("a", "b")?.0)
    }

    /// CPU time the shaper's thread has used so far.
    fn shaper_cpu(&self) -> Option<Duration> {
        self.lab.shaper_thread_id().and_then(thread_cpu)
    }
}

/// A UDP socket bound to `addr` inside host `host`'s namespace.
fn udp_socket(lab: &Lab, host: &str, addr: SocketAddr) -> Result<UdpSocket, LabError> {
    sys::in_netns(&lab.netns_of(host)?, move || {
        UdpSocket::bind(addr).map_err(|e| LabError::io(format!("binding UDP {addr}"), e))
    })
}

fn socket_error(what: &str) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |e| LabError::io(what, e)
}

/// What [`measure_delay`] sends.
#[derive(Clone, Debug)]
pub struct DelayOptions {
    /// The link's settings, `a` to `b`.
    pub shape: LinkShape,
    pub packets: u64,
    /// Packets per second, evenly spaced.
    pub rate: u64,
    /// UDP payload bytes (at least 16: sequence number and send time).
    pub payload_len: usize,
    /// The seed of the link's random streams.
    pub seed: u64,
}

impl Default for DelayOptions {
    /// 10^4 packets of 64 bytes at 5000/s through a 100 ms link.
    fn default() -> Self {
        DelayOptions {
            shape: LinkShape {
                latency: Duration::from_millis(100),
                ..LinkShape::default()
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
    /// Packets that reached host `b`'s socket.
    pub received: u64,
    pub loss_setting_percent: f64,
    /// Sent but not received, in percent of sent.
    pub observed_loss_percent: f64,
    pub latency_setting: Duration,
    pub jitter_setting: Duration,
    /// One-way delay, send to receive, of the packets that arrived.
    pub median_delay: Duration,
    pub p99_delay: Duration,
    pub max_delay: Duration,
    /// The median one-way delay of the same path with the link set to
    /// nothing (the packets still pass the shaper, which holds none): the
    /// namespaces' and the queue's own cost.
    pub baseline_median_delay: Duration,
    /// The shaper's counters for the measured packets, `a` to `b`.
    pub stats: LinkStats,
}

impl DelayReport {
    /// What the setting added: the median delay less the baseline's.
    pub fn added_median_delay(&self) -> Duration {
        self.median_delay.saturating_sub(self.baseline_median_delay)
    }
}

/// Builds [`link_lab_spec`]'s lab with the link set to `options.shape`,
/// sends a tenth of `options.packets` (at least 100) through it set to
/// nothing for the baseline, sets it back and sends `options.packets` UDP
/// packets from host `a` to host `b`, and reports the one-way delay and the
/// loss. Removes the lab.
pub fn measure_delay(options: &DelayOptions) -> Result<DelayReport, LabError> {
    let bed = LinkLab::up(&options.shape, options.seed)?;

    bed.lab.set_link("a", "b", &LinkShape::default())?;
    // Let the thread pick the change up.
    std::thread::sleep(Duration::from_millis(20));
    let baseline_packets = (options.packets / 10).max(100);
    let mut baseline = one_way(&bed, options, baseline_packets, 0)?;

    bed.lab.set_link("a", "b", &options.shape)?;
    std::thread::sleep(Duration::from_millis(20));
    let before = bed.stats()?;
    let mut delays = one_way(&bed, options, options.packets, baseline_packets)?;
    let after = bed.stats()?;
    let mut lab = bed.lab;
    lab.down()?;

    delays.sort_unstable();
    baseline.sort_unstable();
    let received = delays.len() as u64;
    let sent = options.packets;
    Ok(DelayReport {
        sent,
        received,
        loss_setting_percent: options.shape.loss_percent,
        observed_loss_percent: if sent == 0 {
            0.0
        } else {
            (sent - received.min(sent)) as f64 * 100.0 / sent as f64
        },
        latency_setting: options.shape.latency,
        jitter_setting: options.shape.jitter,
        median_delay: quantile(&delays, 0.5),
        p99_delay: quantile(&delays, 0.99),
        max_delay: delays.last().copied().unwrap_or_default(),
        baseline_median_delay: quantile(&baseline, 0.5),
        stats: difference(&after, &before),
    })
}

/// Sends `count` packets numbered from `first` at `options.rate` and returns
/// the one-way delays of those that arrive (the receiver gives up once
/// nothing has come for the link's latency + jitter + 1 s).
fn one_way(
    bed: &LinkLab,
    options: &DelayOptions,
    count: u64,
    first: u64,
) -> Result<Vec<Duration>, LabError> {
    let epoch = Instant::now();
    let quiet = options.shape.latency + options.shape.jitter + Duration::from_secs(1);
    let receiver = &bed.receiver;
    receiver
        .set_read_timeout(Some(quiet))
        .map_err(socket_error("setting the receiver's timeout"))?;
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
            if let Err(e) = bed.sender.send_to(&payload, bed.to) {
                send_error = Some(e);
                break;
            }
        }
        let delays = receiving.join().unwrap_or_default();
        match send_error {
            Some(e) => Err(LabError::io("sending UDP from host a", e)),
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

/// The counters' growth from `before` to `after`.
fn difference(after: &LinkStats, before: &LinkStats) -> LinkStats {
    LinkStats {
        received: after.received.saturating_sub(before.received),
        accepted: after.accepted.saturating_sub(before.accepted),
        dropped_loss: after.dropped_loss.saturating_sub(before.dropped_loss),
        dropped_queue_full: after
            .dropped_queue_full
            .saturating_sub(before.dropped_queue_full),
        dropped_at_stop: after.dropped_at_stop.saturating_sub(before.dropped_at_stop),
        dropped_kernel: after.dropped_kernel.saturating_sub(before.dropped_kernel),
    }
}

/// What [`measure_throughput`] sends.
#[derive(Clone, Debug)]
pub struct ThroughputOptions {
    /// Packets per second, sent in 1 ms batches.
    pub rate: u64,
    pub duration: Duration,
    /// The link's delay: with a delay, the shaper holds `rate × latency`
    /// packets at a time. Zero still passes every packet through the
    /// shaper.
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

/// Whether the shaper kept up with a sustained rate, and at what cost.
#[derive(Clone, Debug)]
pub struct ThroughputReport {
    pub sent: u64,
    /// The rate the sender managed (it shares the machine with the shaper
    /// and the receiver).
    pub sent_per_sec: f64,
    /// Packets that reached host `b`'s socket.
    pub delivered: u64,
    /// Delivered per second, from the first packet sent to the last
    /// delivered, less the link's latency.
    pub delivered_per_sec: f64,
    /// The link's counters, `a` to `b`. Losses, if any, show where: the
    /// kernel's queue (`dropped_kernel`: the shaper did not keep up), the
    /// link's limit (`dropped_queue_full`), or `b`'s socket buffer
    /// (`delivered` below `accepted`).
    pub stats: LinkStats,
    /// CPU time (user + system) the shaper's thread used during the run;
    /// `None` when it could not be read.
    pub shaper_cpu: Option<Duration>,
    /// The run, from the first packet sent to the last delivered.
    pub wall: Duration,
}

impl ThroughputReport {
    /// The shaper thread's CPU in percent of one core over the run.
    pub fn shaper_cpu_percent(&self) -> Option<f64> {
        self.shaper_cpu
            .map(|cpu| cpu.as_secs_f64() * 100.0 / self.wall.as_secs_f64().max(1e-9))
    }

    /// Packets the shaper passed per second of its own CPU time: what one
    /// core running only the shaper would pass at this cost per packet.
    pub fn packets_per_cpu_second(&self) -> Option<f64> {
        self.shaper_cpu
            .filter(|cpu| !cpu.is_zero())
            .map(|cpu| self.stats.received as f64 / cpu.as_secs_f64())
    }
}

/// Builds [`link_lab_spec`]'s lab with the link set to `options.latency`
/// (and nothing else), sends `options.rate` UDP packets per second for
/// `options.duration` from host `a` to host `b`, counts what arrives and
/// reads the shaper thread's CPU time. Removes the lab.
pub fn measure_throughput(options: &ThroughputOptions) -> Result<ThroughputReport, LabError> {
    let shape = LinkShape {
        latency: options.latency,
        ..LinkShape::default()
    };
    let bed = LinkLab::up(&shape, 0)?;
    // Room for a burst while the receiving thread is not scheduled, so the
    // figure is the shaper's, not the socket's (root may exceed rmem_max).
    set_receive_buffer(&bed.receiver, 8 << 20);
    // Long enough to hear the last packet, however slow the rate.
    let gap = Duration::from_secs_f64(2.0 / options.rate.max(1) as f64);
    let quiet = options.latency + gap.max(Duration::from_millis(500));
    let (sender, receiver, to) = (&bed.sender, &bed.receiver, bed.to);
    receiver
        .set_read_timeout(Some(quiet))
        .map_err(socket_error("setting the receiver's timeout"))?;
    let payload = vec![0u8; options.payload_len];
    // The first packet also resolves the neighbours; not part of the figure.
    sender
        .send_to(&payload, to)
        .map_err(socket_error("sending UDP from host a"))?;
    let mut buf = [0u8; 2048];
    receiver
        .recv(&mut buf)
        .map_err(socket_error("receiving the first packet on host b"))?;
    let before = bed.stats()?;
    let cpu_before = bed.shaper_cpu();

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
    let cpu_after = bed.shaper_cpu();
    let wall = last_delivery.max(Duration::from_nanos(1));
    // Let the kernel's drop counters refresh (every 100 ms).
    std::thread::sleep(Duration::from_millis(150));
    let after = bed.stats()?;
    let mut lab = bed.lab;
    lab.down()?;
    let delivered = delivered.load(Ordering::Relaxed);
    let span = last_delivery
        .saturating_sub(options.latency)
        .max(Duration::from_nanos(1));
    Ok(ThroughputReport {
        sent,
        sent_per_sec: sent as f64 / send_elapsed.max(Duration::from_nanos(1)).as_secs_f64(),
        delivered,
        delivered_per_sec: delivered as f64 / span.as_secs_f64(),
        stats: difference(&after, &before),
        shaper_cpu: match (cpu_before, cpu_after) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b)),
            _ => None,
        },
        wall,
    })
}

/// Asks for a receive buffer of `bytes` beyond `net.core.rmem_max`
/// (`SO_RCVBUFFORCE`, root only); the default stays if refused.
fn set_receive_buffer(socket: &UdpSocket, bytes: libc::c_int) {
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int,
    // on a descriptor `socket` owns for the whole call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// CPU time (user + system) thread `tid` of this process has used so far,
/// from `/proc/self/task/<tid>/stat`.
fn thread_cpu(tid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz)
    })
}

/// utime + stime, in clock ticks, from a `stat` line: fields 14 and 15,
/// counting the parenthesised name (which may hold spaces) as field 2.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
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
        let spread = Spread::of(&[ms(3), ms(1), ms(2)]);
        assert_eq!(
            (spread.min, spread.median, spread.max),
            (ms(1), ms(2), ms(3))
        );
    }

    #[test]
    fn the_labs_load() {
        let spec = bring_up_spec();
        assert_eq!(
            (spec.hosts.len(), spec.segments.len(), spec.nats.len()),
            (10, 3, 4)
        );
        assert_eq!(spec.links.iter().filter(|l| l.shape.is_shaped()).count(), 2);
        let kinds: std::collections::BTreeSet<String> =
            spec.nats.iter().map(|n| n.kind.to_string()).collect();
        assert_eq!(kinds.len(), 4, "one NAT box of each type: {kinds:?}");

        let shape = LinkShape {
            latency: Duration::from_micros(100_500),
            loss_percent: 5.0,
            ..LinkShape::default()
        };
        assert_eq!(link_lab_spec(&shape).links[0].shape, shape);
    }

    #[test]
    fn cpu_ticks_come_after_the_name() {
        let stat = "4242 (lab queues) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }
}
