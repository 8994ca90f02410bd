//! One direction of a proxied connection: reads from one peer, queues, and
//! writes to the other as the active toxic allows.
//!
//! Reading and writing are decoupled by a FIFO of chunks, each stamped with
//! when it was read. The writer only ever writes the head of the queue, once
//! it is due, so delays never reorder chunks; and while a slow writer lets the
//! queue fill up to [`BUDGET`], the reader stops, so the sender is held back
//! by TCP flow control rather than the proxy buffering without bound.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::{FAR_FUTURE, State, Toxic, later};

/// Size of one read.
const READ_CHUNK: usize = 16 * 1024;

/// Bytes a direction may hold queued before it stops reading.
const BUDGET: usize = 256 * 1024;

/// A piece of the stream, read at `arrived`. An empty chunk stands for the
/// end of stream, queued like data so it is not delivered before it.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    /// How much of `data` has been written already.
    written: usize,
    arrived: Instant,
    /// Where in `latency ± jitter` this chunk lands, in `[-1, 1]`; drawn on
    /// arrival so the delay stays the same however often it is computed.
    spread: f64,
}

impl Chunk {
    fn is_eof(&self) -> bool {
        self.data.is_empty()
    }

    fn rest(&self) -> &[u8] {
        &self.data[self.written..]
    }
}

/// The next write the toxic allows: not before `at`, at most `limit` bytes.
#[derive(Clone, Copy, Debug)]
struct Plan {
    at: Instant,
    limit: usize,
}

/// What a write step did.
enum Wrote {
    Bytes(usize),
    Eof,
}

/// A token bucket for [`Toxic::Bandwidth`].
#[derive(Debug)]
struct Bucket {
    /// Bytes per second.
    rate: f64,
    /// A tenth of a second's worth: small enough to keep the rate smooth over
    /// short spans, large enough that writes are not byte by byte.
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(bytes_per_sec: u64, now: Instant) -> Self {
        let rate = bytes_per_sec as f64;
        let capacity = (rate / 10.0).max(1.0);
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            at: now,
        }
    }

    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * self.rate).min(self.capacity)
    }

    /// When `want` bytes (or a bucketful, if fewer) may be written, and how
    /// many; `None` if nothing ever may (a zero rate).
    fn plan(&self, want: usize, now: Instant) -> Option<Plan> {
        if self.rate <= 0.0 {
            return None;
        }
        let tokens = self.tokens_at(now);
        let need = (want as f64).min(self.capacity);
        if tokens >= need {
            let limit = (tokens.floor() as usize).clamp(1, want);
            return Some(Plan { at: now, limit });
        }
        let wait = Duration::try_from_secs_f64((need - tokens) / self.rate).unwrap_or(FAR_FUTURE);
        let limit = (need.floor() as usize).clamp(1, want);
        Some(Plan {
            at: later(now, wait),
            limit,
        })
    }

    fn take(&mut self, bytes: usize, now: Instant) {
        self.tokens = self.tokens_at(now) - bytes as f64;
        self.at = now;
    }
}

/// `latency ± jitter` at `spread`, never negative.
fn delay(latency: Duration, jitter: Duration, spread: f64) -> Duration {
    let secs = latency.as_secs_f64() + spread * jitter.as_secs_f64();
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(FAR_FUTURE)
}

/// One direction: from `reader` to `writer`.
pub(crate) struct Direction<'a, R, W> {
    reader: R,
    writer: W,
    rx: watch::Receiver<State>,
    /// Bytes delivered to `writer`, shared with the proxy's stats.
    delivered: &'a AtomicU64,
    queue: VecDeque<Chunk>,
    /// Bytes in `queue` not written yet.
    queued: usize,
    eof_read: bool,
    bucket: Option<Bucket>,
    /// Draws each chunk's place in `latency ± jitter`, from the run's seed.
    jitter: ChaCha8Rng,
}

impl<'a, R, W> Direction<'a, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub(crate) fn new(
        reader: R,
        writer: W,
        rx: watch::Receiver<State>,
        delivered: &'a AtomicU64,
        seed: u64,
    ) -> Self {
        Direction {
            reader,
            writer,
            rx,
            delivered,
            queue: VecDeque::new(),
            queued: 0,
            eof_read: false,
            bucket: None,
            jitter: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Forwards until the end of stream has been read and delivered (the
    /// writer shut down), or an I/O error, which ends the connection.
    ///
    /// Toxics that end the connection (refuse, reset, timeout) are not
    /// handled here but by dropping this future; all its awaits are
    /// cancel-safe (`read`, `write`, `shutdown`, sleeps).
    pub(crate) async fn run(mut self) -> io::Result<()> {
        let mut buf = vec![0; READ_CHUNK];
        let mut toxic = self.rx.borrow_and_update().toxic.clone();
        self.retune(None, toxic.as_ref());
        let mut watching = true;
        loop {
            if self.eof_read && self.queue.is_empty() {
                return Ok(());
            }
            let plan = self.plan(toxic.as_ref(), Instant::now());
            let can_read = !self.eof_read && self.queued < BUDGET;
            let head = self.queue.front();
            let writer = &mut self.writer;
            tokio::select! {
                read = self.reader.read(&mut buf), if can_read => {
                    let n = read?;
                    self.on_read(&buf[..n], toxic.as_ref());
                }
                wrote = async {
                    // Both are `Some` when the branch is enabled.
                    let (Some(plan), Some(head)) = (plan, head) else {
                        return std::future::pending().await;
                    };
                    tokio::time::sleep_until(plan.at.into()).await;
                    if head.is_eof() {
                        writer.shutdown().await?;
                        Ok(Wrote::Eof)
                    } else {
                        writer.write(&head.rest()[..plan.limit]).await.map(Wrote::Bytes)
                    }
                }, if plan.is_some() => self.on_write(wrote?)?,
                changed = self.rx.changed(), if watching => {
                    if changed.is_err() {
                        // The proxy is shutting down; the connection's cut
                        // signal sees it too and drops this future.
                        watching = false;
                    } else {
                        let next = self.rx.borrow_and_update().toxic.clone();
                        self.retune(toxic.as_ref(), next.as_ref());
                        toxic = next;
                    }
                }
                // Only once the proxy is shutting down and this direction
                // waits on nothing else (say, a stalled end of stream): the
                // connection's cut signal is about to drop this future.
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// Adapts the state to a new toxic.
    fn retune(&mut self, old: Option<&Toxic>, new: Option<&Toxic>) {
        if new.is_some_and(Toxic::stalls) {
            // Nothing goes through any more, not even what was already read;
            // only a pending end of stream is kept, to be delivered if the
            // stall is lifted.
            self.queue.retain(Chunk::is_eof);
            self.queued = 0;
        }
        if old != new {
            self.bucket = match new {
                Some(&Toxic::Bandwidth { bytes_per_sec }) => {
                    Some(Bucket::new(bytes_per_sec, Instant::now()))
                }
                _ => None,
            };
        }
    }

    /// When and how much of the head of the queue may be written, if
    /// anything is to be written.
    fn plan(&self, toxic: Option<&Toxic>, now: Instant) -> Option<Plan> {
        let head = self.queue.front()?;
        let mut plan = Plan {
            at: now,
            limit: head.rest().len(),
        };
        match toxic {
            Some(toxic) if toxic.stalls() => return None,
            Some(&Toxic::Latency { latency, jitter }) => {
                plan.at = later(head.arrived, delay(latency, jitter, head.spread));
            }
            _ => {}
        }
        if let (Some(bucket), false) = (&self.bucket, head.is_eof()) {
            plan = bucket.plan(plan.limit, now)?;
        }
        Some(plan)
    }

    fn on_read(&mut self, data: &[u8], toxic: Option<&Toxic>) {
        if data.is_empty() {
            self.eof_read = true;
        } else if toxic.is_some_and(Toxic::stalls) {
            return;
        }
        self.queued += data.len();
        self.queue.push_back(Chunk {
            data: data.to_vec(),
            written: 0,
            arrived: Instant::now(),
            spread: self.jitter.random_range(-1.0..=1.0),
        });
    }

    fn on_write(&mut self, wrote: Wrote) -> io::Result<()> {
        let Some(head) = self.queue.front_mut() else {
            return Ok(());
        };
        match wrote {
            Wrote::Eof => {
                self.queue.pop_front();
            }
            Wrote::Bytes(0) => return Err(io::ErrorKind::WriteZero.into()),
            Wrote::Bytes(n) => {
                head.written += n;
                self.queued -= n;
                self.delivered.fetch_add(n as u64, Ordering::Relaxed);
                if let Some(bucket) = &mut self.bucket {
                    bucket.take(n, Instant::now());
                }
                if head.rest().is_empty() {
                    self.queue.pop_front();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_hands_out_a_tenth_of_a_second_then_waits() {
        let now = Instant::now();
        let bucket = Bucket::new(10_000, now);
        let first = bucket.plan(5_000, now).expect("a positive rate writes");
        assert_eq!(first.at, now);
        assert_eq!(first.limit, 1_000);

        let mut bucket = bucket;
        bucket.take(1_000, now);
        let next = bucket.plan(5_000, now).expect("a positive rate writes");
        assert_eq!(next.limit, 1_000);
        let wait = next.at - now;
        assert!(
            wait >= Duration::from_millis(99) && wait <= Duration::from_millis(101),
            "{wait:?}"
        );
    }

    #[test]
    fn bucket_small_writes_and_tiny_rates() {
        let now = Instant::now();
        let bucket = Bucket::new(10_000, now);
        assert_eq!(bucket.plan(10, now).map(|p| p.limit), Some(10));
        let tiny = Bucket::new(1, now);
        assert_eq!(tiny.plan(100, now).map(|p| p.limit), Some(1));
        assert!(Bucket::new(0, now).plan(1, now).is_none());
    }

    #[test]
    fn delay_stays_within_jitter_and_never_negative() {
        let ms = Duration::from_millis;
        assert_eq!(delay(ms(100), ms(20), 1.0), ms(120));
        assert_eq!(delay(ms(100), ms(20), -1.0), ms(80));
        assert_eq!(delay(ms(10), ms(50), -1.0), Duration::ZERO);
        assert_eq!(delay(Duration::MAX, Duration::MAX, 1.0), FAR_FUTURE);
    }

    /// The jitter comes from the seed: the same seed gives the same spreads
    /// chunk after chunk, another seed others.
    #[test]
    fn jitter_is_drawn_from_the_seed() {
        let spreads = |seed: u64| {
            let (_tx, rx) = watch::channel(State {
                toxic: None,
                since: Instant::now(),
            });
            let delivered = AtomicU64::new(0);
            let mut d = Direction::new(tokio::io::empty(), tokio::io::sink(), rx, &delivered, seed);
            for _ in 0..8 {
                d.on_read(b"x", None);
            }
            d.queue.iter().map(|c| c.spread).collect::<Vec<f64>>()
        };
        assert_eq!(spreads(1), spreads(1));
        assert_ne!(spreads(1), spreads(2));
        assert!(spreads(3).iter().all(|s| (-1.0..=1.0).contains(s)));
    }
}
