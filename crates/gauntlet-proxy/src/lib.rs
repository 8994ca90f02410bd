//! An in-process, Toxiproxy-like TCP proxy for soak faults.
//!
//! `gauntlet soak` puts a [`Proxy`] in front of each service's TCP port and
//! points its clients at the proxy, so faults can be injected on the wire
//! without root, iptables or `tc`: partitions (refusing or blackholing),
//! latency with jitter, bandwidth caps, connection resets and timeouts.
//!
//! One toxic is active at a time. It is carried to every connection through a
//! [`tokio::sync::watch`] channel, so [`Proxy::set`] takes effect at once on
//! open connections as well as on new ones.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use gauntlet_proxy::{Proxy, Toxic};
//!
//! let seed = 42; // the run's seed: it draws the jitter
//! let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), "127.0.0.1:5432".parse().unwrap(), seed).await?;
//! // Clients connect to proxy.local_addr() instead of port 5432.
//! proxy.set(Some(Toxic::Latency { latency: Duration::from_millis(100), jitter: Duration::from_millis(20) }));
//! // ...
//! proxy.set(None);
//! proxy.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod connection;
mod direction;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A fault applied to the traffic going through a [`Proxy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toxic {
    /// Partition, refusing: new connections are accepted and closed at once
    /// (counted as [`ProxyStats::refused`]); open ones are closed.
    Refuse,
    /// Partition, blackhole: connections are accepted and open ones kept, but
    /// no byte is forwarded either way; what is read is discarded, so clients
    /// see timeouts rather than errors.
    Blackhole,
    /// Every chunk forwarded, in both directions, is held for `latency` ±
    /// a uniform `jitter`. Order is kept per direction: a chunk never
    /// overtakes the one read before it, even when its own jitter is smaller.
    Latency { latency: Duration, jitter: Duration },
    /// Throughput capped at `bytes_per_sec` per direction per connection
    /// (a token bucket holding a tenth of a second's worth). Zero stalls the
    /// traffic: data is buffered up to the per-direction budget, then the
    /// senders are held back by TCP flow control.
    Bandwidth { bytes_per_sec: u64 },
    /// New and open connections are reset: closed with `SO_LINGER` 0, so both
    /// peers see `ECONNRESET` instead of an orderly end of stream.
    Reset,
    /// Data stops flowing (as in [`Toxic::Blackhole`]) and each connection is
    /// closed `after` this long after the toxic was set, or after the
    /// connection was accepted if that was later.
    Timeout { after: Duration },
}

impl Toxic {
    /// Whether the toxic stops all data (what is read is thrown away).
    fn stalls(&self) -> bool {
        matches!(
            self,
            Toxic::Blackhole | Toxic::Timeout { .. } | Toxic::Refuse | Toxic::Reset
        )
    }
}

/// Counters of a [`Proxy`] since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// Connections accepted by the listener, including those refused or reset
    /// at once and those whose upstream could not be reached.
    pub accepted: u64,
    /// Connections currently open.
    pub active: u64,
    /// New connections closed at once because [`Toxic::Refuse`] was active
    /// (open connections it cuts are not counted).
    pub refused: u64,
    /// Connections reset by [`Toxic::Reset`], new or open.
    pub reset: u64,
    /// Connections closed because the upstream could not be reached.
    pub upstream_errors: u64,
    /// Bytes delivered from clients to the upstream.
    pub bytes_up: u64,
    /// Bytes delivered from the upstream to clients.
    pub bytes_down: u64,
}

/// The live counters behind [`ProxyStats`], shared by all tasks of a proxy.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    active: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    upstream_errors: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            accepted: get(&self.accepted),
            active: get(&self.active),
            refused: get(&self.refused),
            reset: get(&self.reset),
            upstream_errors: get(&self.upstream_errors),
            bytes_up: get(&self.bytes_up),
            bytes_down: get(&self.bytes_down),
        }
    }
}

/// What the watch channel carries: the toxic and when it was set, which
/// [`Toxic::Timeout`] counts from.
#[derive(Clone, Debug)]
struct State {
    toxic: Option<Toxic>,
    since: Instant,
}

/// A running proxy: a listener forwarding each accepted connection to a new
/// connection to the upstream, with the active [`Toxic`] applied.
///
/// Dropping it without [`Proxy::shutdown`] also stops it (closing the watch
/// channel winds every task down), only without waiting for that.
#[derive(Debug)]
pub struct Proxy {
    local_addr: SocketAddr,
    state: watch::Sender<State>,
    counters: Arc<Counters>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0 = any) and forwards each accepted
    /// connection to `upstream` (a new upstream connection per client
    /// connection). Runs on the current tokio runtime.
    ///
    /// `seed` draws the jitter: each direction of the n-th accepted
    /// connection has its own stream derived from it, so a run's seed
    /// decides the proxy's delays as it decides everything else.
    ///
    /// Fails only if the listener cannot be bound; an unreachable upstream
    /// closes the client connections instead (see
    /// [`ProxyStats::upstream_errors`]), since the upstream may come back.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        seed: u64,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let (state, rx) = watch::channel(State {
            toxic: None,
            since: Instant::now(),
        });
        let counters = Arc::new(Counters::default());
        let acceptor = tokio::spawn(accept_loop(
            listener,
            upstream,
            rx,
            Arc::clone(&counters),
            seed,
        ));
        Ok(Proxy {
            local_addr,
            state,
            counters,
            acceptor,
        })
    }

    /// The address the proxy listens on (with the port chosen when 0 was given).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Replaces the active toxic (`None` = clean). Takes effect at once, also
    /// on open connections, as described for each [`Toxic`].
    pub fn set(&self, toxic: Option<Toxic>) {
        // `send_replace` rather than `send`: it stores the value even while no
        // receiver is subscribed, so `toxic()` always reflects the last `set`.
        self.state.send_replace(State {
            toxic,
            since: Instant::now(),
        });
    }

    /// The active toxic (`None` = clean).
    pub fn toxic(&self) -> Option<Toxic> {
        self.state.borrow().toxic.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }

    /// Stops accepting, closes every connection, and waits for its tasks.
    /// When it returns the listening port is free and no socket is left open.
    pub async fn shutdown(self) {
        let Proxy {
            state, acceptor, ..
        } = self;
        // Closing the channel is the stop signal: every task watches it.
        drop(state);
        // The acceptor waits for all connection tasks before it ends. A panic
        // in it has nothing left to clean up, so the error is not propagated.
        let _ = acceptor.await;
    }
}

/// After a failed `accept` (say, out of file descriptors), wait this long
/// before trying again rather than spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until the proxy is shut down, then waits for every
/// connection task, so that `shutdown` returning means nothing is left.
async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mut rx: watch::Receiver<State>,
    counters: Arc<Counters>,
    seed: u64,
) {
    let mut connections = JoinSet::new();
    let mut connection_count: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _peer)) => {
                    Counters::bump(&counters.accepted, 1);
                    connection_count += 1;
                    let toxic = rx.borrow().toxic.clone();
                    if let Some(client) = admit(client, toxic.as_ref(), &counters) {
                        let active = connection::Active::enter(Arc::clone(&counters));
                        let seeds = connection::Seeds::of(seed, connection_count);
                        connections.spawn(connection::serve(client, upstream, rx.clone(), active, seeds));
                    }
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            // Reap finished connections so the set does not grow unbounded.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = rx.changed() => if changed.is_err() { break },
        }
    }
    // Free the port before waiting for connections to wind down.
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Applies the partition toxics to a connection just accepted; returns it if
/// it is to be served.
fn admit(client: TcpStream, toxic: Option<&Toxic>, counters: &Counters) -> Option<TcpStream> {
    match toxic {
        Some(Toxic::Refuse) => {
            Counters::bump(&counters.refused, 1);
            None
        }
        Some(Toxic::Reset) => {
            connection::reset(&client);
            Counters::bump(&counters.reset, 1);
            None
        }
        _ => Some(client),
    }
}

/// `at + delay`, saturating far in the future instead of overflowing
/// (huge toxic durations mean "never" in practice).
fn later(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .or_else(|| at.checked_add(FAR_FUTURE))
        .unwrap_or(at)
}

/// About thirty years: as good as never, and still representable.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);
