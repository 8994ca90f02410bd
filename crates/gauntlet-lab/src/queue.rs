//! The IO edge of the links: one thread that takes the packets the core
//! namespace forwards between segments from NFQUEUE and gives them back when
//! their [`Shaper`] says so.
//!
//! The core namespace sends each directed link's forwarded packets to its own
//! queue number:
//!
//! ```text
//! iptables -A FORWARD -i <in-if> -o <out-if> -j NFQUEUE --queue-num <N>
//! ```
//!
//! and [`LinkQueues`] binds those numbers, one [`Shaper`] each, from a thread
//! that has entered that namespace (NFQUEUE is per namespace). A packet's
//! verdict is held until its release time (NFQUEUE allows verdicts out of
//! order), then it is accepted; lost or overflowing packets are dropped at
//! once.
//!
//! # Fail closed
//!
//! The queues are not fail-open and the rules have no `--queue-bypass`:
//! a packet never slips past the shaper. When the kernel's queue is full
//! (the thread is not keeping up) the kernel drops the packet, and
//! [`LinkStats::dropped_kernel`] counts it; when the thread is stopped or
//! dies, the links carry nothing.
//!
//! # Start before the rules
//!
//! Start the queues before adding the `NFQUEUE` rules. While the thread
//! configures a queue it reads the kernel's acknowledgements, and the `nfq`
//! crate discards any packet that arrives in between: such a packet then
//! waits in the kernel, without a verdict, until the queue is unbound.
//!
//! # Timing
//!
//! The `nfq` crate does not expose its socket, so the thread cannot sleep on
//! it; it receives without blocking and, when nothing is waiting, sleeps
//! until the next release or for [`QueueConfig::poll_interval`], whichever
//! comes first. A packet's arrival is thus seen up to one poll interval late
//! (200 µs by default), and its delay counts from when it is seen. Releases
//! are on time to the sleep's precision (tens of µs). The clock is
//! [`Instant`] (monotonic). The price of polling is the idle cost: about 5 %
//! of a core at 200 µs (measured), falling in proportion to a longer
//! interval.
//!
//! # Throughput
//!
//! The kernel sends one netlink message per packet and the crate reads one
//! per `recv`, so there is no batch receive; each verdict is one `sendto`.
//! Packets are only copied as metadata (the shaper needs the length), and
//! each receive buffer is one page, kept alive while its packet is held:
//! 50 000 packets/s through a 100 ms link hold 5 000 packets, 20 MB. Measured
//! (`gauntlet_lab::measure`) on 2 loaded cores: 20 000 packets/s through a
//! 100 ms link with no loss at under 20 % of a core; above about 50 000
//! packets/s the netlink socket's buffer (the kernel's default, ~200
//! messages, which the crate gives no way to enlarge) overflows whenever the
//! thread is not scheduled for a few milliseconds, and the kernel drops
//! ([`LinkStats::dropped_kernel`]).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netns::{self, NetnsError};
use crate::shaper::{DropReason, LinkParams, ParamsError, Shaper, Verdict};

/// What [`LinkQueues::start`] needs.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// The network namespace the thread enters before opening the queues
    /// (e.g. [`netns::named`]`("core")`); `None` stays in the caller's.
    pub netns: Option<PathBuf>,
    /// The queue numbers to bind, one per directed link, with their
    /// starting parameters.
    pub links: Vec<(u16, LinkParams)>,
    /// Link `n`'s shaper draws from a stream seeded with
    /// `base_seed + n` (wrapping), so the two directions of a connection
    /// have independent streams and a run is reproducible from one seed.
    pub base_seed: u64,
    /// The longest the thread sleeps before looking for new packets.
    pub poll_interval: Duration,
    /// The kernel's limit of packets waiting for a verdict, per queue: the
    /// packets the shaper holds plus those not yet read. `None` takes
    /// twice the largest starting `queue_limit_packets`, at least 4096. It is
    /// set once: raising a link's queue limit above it later means the kernel
    /// drops what the shaper would have kept.
    pub kernel_queue_len: Option<u32>,
}

/// The default [`QueueConfig::poll_interval`].
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_micros(200);

impl QueueConfig {
    /// No links yet, seed 0, default timing; `netns` as in [`QueueConfig::netns`].
    pub fn new(netns: Option<PathBuf>) -> QueueConfig {
        QueueConfig {
            netns,
            links: Vec::new(),
            base_seed: 0,
            poll_interval: DEFAULT_POLL_INTERVAL,
            kernel_queue_len: None,
        }
    }

    /// Adds a directed link on queue `queue_num`.
    pub fn link(mut self, queue_num: u16, params: LinkParams) -> QueueConfig {
        self.links.push((queue_num, params));
        self
    }

    pub fn seed(mut self, base_seed: u64) -> QueueConfig {
        self.base_seed = base_seed;
        self
    }

    fn kernel_queue_len(&self) -> u32 {
        self.kernel_queue_len.unwrap_or_else(|| {
            let largest = self
                .links
                .iter()
                .map(|(_, p)| p.queue_limit_packets)
                .max()
                .unwrap_or(0);
            u32::try_from(largest.saturating_mul(2))
                .unwrap_or(u32::MAX)
                .max(4096)
        })
    }
}

/// What happened on one directed link since the queues started. Every packet
/// received is accepted, dropped (for one of the reasons), or still held:
/// `received = accepted + dropped_loss + dropped_queue_full +
/// dropped_at_stop + held`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets read from the queue.
    pub received: u64,
    /// Packets given back to the kernel at their release time.
    pub accepted: u64,
    /// Packets dropped by the link's random loss.
    pub dropped_loss: u64,
    /// Packets dropped because the link held `queue_limit_packets`.
    pub dropped_queue_full: u64,
    /// Packets still held when the queues stopped, dropped then.
    pub dropped_at_stop: u64,
    /// Packets the kernel dropped before the thread could read them (its
    /// queue was full, or the socket's buffer was): not in `received`.
    /// Refreshed every 100 ms and at stop.
    pub dropped_kernel: u64,
}

/// Why the queues could not start or went on.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("opening the NFQUEUE netlink socket: {0}")]
    Open(std::io::Error),
    #[error("binding and configuring NFQUEUE queue {queue_num}: {source}")]
    Bind {
        queue_num: u16,
        source: std::io::Error,
    },
    #[error("queue {0} is given twice")]
    DuplicateQueue(u16),
    #[error("queue {0} is not one of these links")]
    UnknownQueue(u16),
    #[error("link on queue {queue_num}: {source}")]
    Params { queue_num: u16, source: ParamsError },
    #[error("receiving from NFQUEUE: {0}")]
    Recv(std::io::Error),
    #[error("starting the queue thread: {0}")]
    Spawn(std::io::Error),
    #[error("the queue thread has stopped")]
    Stopped,
    #[error("the queue thread panicked")]
    Panicked,
}

/// The running queues of a namespace's links; see the module's doc. Dropping
/// it stops the thread (as [`LinkQueues::stop`], ignoring its outcome).
#[derive(Debug)]
pub struct LinkQueues {
    queue_nums: Vec<u16>,
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    thread: Option<JoinHandle<Result<(), QueueError>>>,
}

/// What the caller's side and the thread share: lock-free, so that reading
/// the stats never holds up packets.
#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    links: Vec<Counters>,
    /// Netlink errors that were not fatal (e.g. the kernel refusing a
    /// verdict): counted, not returned.
    errors: AtomicU64,
    /// The thread's Linux thread id (0 until it has started).
    tid: AtomicU32,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    dropped_loss: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_at_stop: AtomicU64,
    dropped_kernel: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LinkStats {
        LinkStats {
            received: self.received.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            dropped_loss: self.dropped_loss.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            dropped_at_stop: self.dropped_at_stop.load(Ordering::Relaxed),
            dropped_kernel: self.dropped_kernel.load(Ordering::Relaxed),
        }
    }
}

enum Command {
    Set { link: usize, params: LinkParams },
}

impl LinkQueues {
    /// Starts the thread, which enters the namespace, binds every link's
    /// queue (not fail-open, metadata only: the shaper needs the length, not
    /// the bytes) and shapes. Returns once the queues are bound, or with the
    /// reason they could not be.
    pub fn start(config: QueueConfig) -> Result<LinkQueues, QueueError> {
        let mut queue_nums: Vec<u16> = Vec::with_capacity(config.links.len());
        for (queue_num, params) in &config.links {
            if queue_nums.contains(queue_num) {
                return Err(QueueError::DuplicateQueue(*queue_num));
            }
            params.validate().map_err(|source| QueueError::Params {
                queue_num: *queue_num,
                source,
            })?;
            queue_nums.push(*queue_num);
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            links: queue_nums.iter().map(|_| Counters::default()).collect(),
            errors: AtomicU64::new(0),
            tid: AtomicU32::new(0),
        });
        let (commands, command_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("lab-queues".into())
            .spawn(move || run(config, thread_shared, command_rx, ready_tx))
            .map_err(QueueError::Spawn)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(LinkQueues {
                queue_nums,
                shared,
                commands,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                // The thread has returned after reporting; nothing to undo.
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(QueueError::Stopped),
                Err(_) => Err(QueueError::Panicked),
            },
        }
    }

    /// The queue numbers bound, in the configuration's order.
    pub fn queue_nums(&self) -> &[u16] {
        &self.queue_nums
    }

    fn index(&self, queue_num: u16) -> Option<usize> {
        self.queue_nums.iter().position(|q| *q == queue_num)
    }

    /// Changes a link's parameters (a fault, or its heal). The thread picks
    /// the change up within a poll interval; packets it already holds keep
    /// their release time.
    pub fn set(&self, queue_num: u16, params: LinkParams) -> Result<(), QueueError> {
        let link = self
            .index(queue_num)
            .ok_or(QueueError::UnknownQueue(queue_num))?;
        params
            .validate()
            .map_err(|source| QueueError::Params { queue_num, source })?;
        self.commands
            .send(Command::Set { link, params })
            .map_err(|_| QueueError::Stopped)
    }

    /// The link's counters so far; `None` for a queue number not bound here.
    pub fn stats(&self, queue_num: u16) -> Option<LinkStats> {
        let link = self.index(queue_num)?;
        self.shared.links.get(link).map(Counters::snapshot)
    }

    /// Netlink errors the thread met and went past (a verdict the kernel
    /// refused, a truncated message). Zero in a healthy run.
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// The Linux thread id of the queue thread while it runs, so its CPU
    /// time can be read (`/proc/self/task/<tid>/stat`); `None` once stopped.
    pub fn thread_id(&self) -> Option<u32> {
        let tid = self.shared.tid.load(Ordering::Relaxed);
        (self.is_running() && tid != 0).then_some(tid)
    }

    /// Whether the thread is still shaping (it ends on [`stop`](Self::stop)
    /// or a fatal socket error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread: the packets it holds are dropped (the link goes
    /// dark, as it does for the packets that arrive afterwards: the queues
    /// are unbound and the rules do not bypass), counted in
    /// [`LinkStats::dropped_at_stop`]. Returns the error that ended the
    /// thread early, if one did; once stopped, `Ok`. The stats stay readable.
    pub fn stop(&mut self) -> Result<(), QueueError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            None => Ok(()),
            Some(thread) => thread.join().unwrap_or(Err(QueueError::Panicked)),
        }
    }
}

impl Drop for LinkQueues {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Something due at `at`, `seq`-th to arrive. Ordered so that a max-heap
/// ([`BinaryHeap`]) pops the earliest first, and things due at the same
/// instant in arrival order.
struct Due<T> {
    at: Duration,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Due<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Due<T> {}
impl<T> PartialOrd for Due<T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Due<T> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A held packet: its link's index and the message to give a verdict on.
type Held = Due<(usize, nfq::Message)>;

/// The most receive attempts in a row before releasing the due ones, so a
/// flood does not hold back releases.
const RECV_BATCH: usize = 64;

/// How often the kernel's drop counters are read.
const KERNEL_STATS_EVERY: Duration = Duration::from_millis(100);

/// The thread's state once the queues are bound.
struct Shaping {
    queue: nfq::Queue,
    queue_nums: Vec<u16>,
    shapers: Vec<Shaper>,
    shared: Arc<Shared>,
    held: BinaryHeap<Held>,
    seq: u64,
    epoch: Instant,
}

fn run(
    config: QueueConfig,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    ready: mpsc::SyncSender<Result<(), QueueError>>,
) -> Result<(), QueueError> {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    shared
        .tid
        .store(u32::try_from(tid).unwrap_or(0), Ordering::Relaxed);
    let queue = match open(&config) {
        Ok(queue) => queue,
        Err(e) => {
            // Reported to `start`, which returns it; if `start` is gone
            // there is nobody to tell.
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    let shapers = config
        .links
        .iter()
        .map(|(queue_num, params)| {
            Shaper::new(
                params.clone(),
                config.base_seed.wrapping_add(u64::from(*queue_num)),
            )
        })
        .collect();
    let mut shaping = Shaping {
        queue,
        queue_nums: config.links.iter().map(|(q, _)| *q).collect(),
        shapers,
        shared,
        held: BinaryHeap::with_capacity(4096),
        seq: 0,
        epoch: Instant::now(),
    };
    let _ = ready.send(Ok(()));
    let outcome = shaping.shape(&commands, config.poll_interval);
    shaping.finish();
    outcome
}

/// Enters the namespace and binds the queues.
fn open(config: &QueueConfig) -> Result<nfq::Queue, QueueError> {
    if let Some(path) = &config.netns {
        netns::enter(path)?;
    }
    let mut queue = nfq::Queue::open().map_err(QueueError::Open)?;
    let kernel_len = config.kernel_queue_len();
    for (queue_num, _) in &config.links {
        let queue_num = *queue_num;
        let bind = |queue: &mut nfq::Queue| -> std::io::Result<()> {
            queue.bind(queue_num)?;
            // Metadata only: the length comes with it (NFQA_CAP_LEN), and
            // the receive buffer stays one page per message.
            queue.set_copy_range(queue_num, 0)?;
            queue.set_fail_open(queue_num, false)?;
            queue.set_queue_max_len(queue_num, kernel_len)
        };
        bind(&mut queue).map_err(|source| QueueError::Bind { queue_num, source })?;
    }
    queue.set_nonblocking(true);
    Ok(queue)
}

/// Whether a receive error means the socket is unusable, rather than one
/// message was bad or a verdict was refused.
fn fatal(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT | libc::ENOTCONN)
    )
}

impl Shaping {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn shape(
        &mut self,
        commands: &mpsc::Receiver<Command>,
        poll_interval: Duration,
    ) -> Result<(), QueueError> {
        let mut kernel_stats_at = Duration::ZERO;
        while !self.shared.stop.load(Ordering::Relaxed) {
            while let Ok(Command::Set { link, params }) = commands.try_recv() {
                if let Some(shaper) = self.shapers.get_mut(link) {
                    shaper.set_params(params);
                }
            }

            // At most a batch of attempts (errors count too, so a socket
            // that keeps failing cannot keep the thread from stopping).
            let mut drained = false;
            for _ in 0..RECV_BATCH {
                match self.queue.recv() {
                    Ok(msg) => self.admit(msg),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        drained = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if fatal(&e) => return Err(QueueError::Recv(e)),
                    Err(_) => {
                        self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }

            let now = self.now();
            self.release_due(now);
            if now >= kernel_stats_at {
                self.read_kernel_drops();
                kernel_stats_at = now + KERNEL_STATS_EVERY;
            }
            if drained {
                // Nothing more waiting: sleep until the next release, or a
                // poll interval to look for new packets.
                let wake = self
                    .held
                    .peek()
                    .map_or(poll_interval, |h| h.at.saturating_sub(now))
                    .min(poll_interval);
                if !wake.is_zero() {
                    std::thread::sleep(wake);
                }
            }
        }
        Ok(())
    }

    fn admit(&mut self, msg: nfq::Message) {
        let queue_num = msg.get_queue_num();
        let Some(link) = self.queue_nums.iter().position(|q| *q == queue_num) else {
            // Only bound queues deliver; should one not be ours, it does not
            // pass unshaped.
            verdict(&mut self.queue, &self.shared, msg, nfq::Verdict::Drop);
            return;
        };
        let (Some(shaper), Some(counters)) =
            (self.shapers.get_mut(link), self.shared.links.get(link))
        else {
            verdict(&mut self.queue, &self.shared, msg, nfq::Verdict::Drop);
            return;
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        let now = self.epoch.elapsed();
        match shaper.admit(now, msg.get_original_len()) {
            Verdict::Release { at } if at <= now => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                verdict(&mut self.queue, &self.shared, msg, nfq::Verdict::Accept);
            }
            Verdict::Release { at } => {
                self.seq += 1;
                self.held.push(Due {
                    at,
                    seq: self.seq,
                    item: (link, msg),
                });
            }
            Verdict::Drop(reason) => {
                let counter = match reason {
                    DropReason::Loss => &counters.dropped_loss,
                    DropReason::QueueFull => &counters.dropped_queue_full,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                verdict(&mut self.queue, &self.shared, msg, nfq::Verdict::Drop);
            }
        }
    }

    fn release_due(&mut self, now: Duration) {
        while self.held.peek().is_some_and(|h| h.at <= now) {
            let Some(Due {
                item: (link, msg), ..
            }) = self.held.pop()
            else {
                break;
            };
            if let Some(counters) = self.shared.links.get(link) {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
            }
            verdict(&mut self.queue, &self.shared, msg, nfq::Verdict::Accept);
        }
    }

    /// Reads the kernel's per-queue drop counters for this thread's
    /// namespace (`/proc/thread-self`: `/proc/self/net` would be the main
    /// thread's namespace).
    fn read_kernel_drops(&self) {
        let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue")
        else {
            return;
        };
        for (queue_num, dropped) in parse_kernel_drops(&text) {
            if let Some(link) = self.queue_nums.iter().position(|q| *q == queue_num)
                && let Some(counters) = self.shared.links.get(link)
            {
                counters.dropped_kernel.store(dropped, Ordering::Relaxed);
            }
        }
    }

    /// Drops what is still held, reads the kernel's counters a last time
    /// and unbinds (closing the socket would unbind too).
    fn finish(&mut self) {
        while let Some(Due {
            item: (link, msg), ..
        }) = self.held.pop()
        {
            if let Some(counters) = self.shared.links.get(link) {
                counters.dropped_at_stop.fetch_add(1, Ordering::Relaxed);
            }
            verdict(&mut self.queue, &self.shared, msg, nfq::Verdict::Drop);
        }
        self.read_kernel_drops();
        for queue_num in self.queue_nums.clone() {
            if self.queue.unbind(queue_num).is_err() {
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Gives `msg` back to the kernel with `verdict`; a refusal is counted, as
/// there is nothing else to do about it.
fn verdict(queue: &mut nfq::Queue, shared: &Shared, mut msg: nfq::Message, verdict: nfq::Verdict) {
    msg.set_verdict(verdict);
    if queue.verdict(msg).is_err() {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// `(queue number, packets dropped by the kernel)` from
/// `/proc/net/netfilter/nfnetlink_queue`, whose lines are: queue number,
/// peer port id, queue total, copy mode, copy range, queue dropped, queue
/// user dropped (the socket's buffer was full), id sequence, 1.
fn parse_kernel_drops(text: &str) -> impl Iterator<Item = (u16, u64)> + '_ {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let queue_num = fields.first()?.parse().ok()?;
        let dropped: u64 = fields.get(5)?.parse().ok()?;
        let user_dropped: u64 = fields.get(6)?.parse().ok()?;
        Some((queue_num, dropped.saturating_add(user_dropped)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_drop_lines_parse() {
        let text = "    3  12345     0 2     0     7     2       99  1\n\
                    17      9     4 2     0     0     0        5  1\n";
        let parsed: Vec<(u16, u64)> = parse_kernel_drops(text).collect();
        assert_eq!(parsed, vec![(3, 9), (17, 0)]);
    }

    #[test]
    fn held_packets_pop_earliest_first_then_in_arrival_order() {
        let mut heap = BinaryHeap::new();
        for (at, seq) in [(5, 1), (1, 3), (1, 2), (9, 0), (0, 4)] {
            heap.push(Due {
                at: Duration::from_millis(at),
                seq,
                item: seq,
            });
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|d| d.item)).collect();
        assert_eq!(order, vec![4, 2, 3, 1, 0]);
    }

    #[test]
    fn config_checks_before_starting() {
        let twice = QueueConfig::new(None)
            .link(1, LinkParams::default())
            .link(1, LinkParams::default());
        assert!(matches!(
            LinkQueues::start(twice),
            Err(QueueError::DuplicateQueue(1))
        ));
        let bad = QueueConfig::new(None).link(
            2,
            LinkParams {
                loss_percent: 101.0,
                ..LinkParams::default()
            },
        );
        assert!(matches!(
            LinkQueues::start(bad),
            Err(QueueError::Params { queue_num: 2, .. })
        ));
    }

    #[test]
    fn kernel_queue_len_covers_the_shaper() {
        let config = QueueConfig::new(None).link(
            1,
            LinkParams {
                queue_limit_packets: 10_000,
                ..LinkParams::default()
            },
        );
        assert_eq!(config.kernel_queue_len(), 20_000);
        assert_eq!(QueueConfig::new(None).kernel_queue_len(), 4096);
    }
}
