//! One proxied connection: the upstream connection, the two directions, and
//! the toxics that end a connection as a whole (refuse, reset, timeout).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::direction::Direction;
use crate::{Counters, State, Toxic, later};

/// Connecting to a remote upstream that drops SYNs would otherwise hold the
/// client for the OS's minutes-long SYN retry schedule.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a connection is ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Orderly close (FIN): refuse, timeout, proxy shutdown.
    Close,
    /// Abortive close (RST): the reset toxic.
    Reset,
}

/// One count in [`crate::ProxyStats::active`], taken when a connection is
/// accepted and given back however its task ends, including by being dropped.
pub(crate) struct Active(Arc<Counters>);

impl Active {
    pub(crate) fn enter(counters: Arc<Counters>) -> Self {
        Counters::bump(&counters.active, 1);
        Active(counters)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The seeds of a connection's two directions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seeds {
    up: u64,
    down: u64,
}

impl Seeds {
    /// The streams of the `n`-th accepted connection of a proxy seeded with
    /// `seed`: distinct per connection and direction, the same on every run.
    pub(crate) fn of(seed: u64, n: u64) -> Seeds {
        let base = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Seeds {
            up: base,
            down: base ^ 0xD1B5_4A32_D192_ED03,
        }
    }
}

/// Serves one accepted client connection until it ends or is cut.
pub(crate) async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    rx: watch::Receiver<State>,
    active: Active,
    seeds: Seeds,
) {
    let counters = &*active.0;
    let accepted_at = Instant::now();
    let cut = cut_signal(rx.clone(), accepted_at);
    tokio::pin!(cut);

    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream));
    let mut server = tokio::select! {
        connected = connect => match connected {
            Ok(Ok(server)) => server,
            // Refused, unreachable or timed out: the client gets the same
            // answer as from a down service, its connection closed.
            Ok(Err(_)) | Err(_) => {
                Counters::bump(&counters.upstream_errors, 1);
                return;
            }
        },
        how = &mut cut => {
            end(how, counters, [&client]);
            return;
        }
    };

    // The proxy forwards whatever it reads at once (or when a toxic says so);
    // Nagle's algorithm would add its own delays on top of the toxics'.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let cut_by = tokio::select! {
        // Both directions ended (end of stream or an I/O error either way):
        // dropping the sockets closes them.
        _ = pump(&mut client, &mut server, rx, counters, seeds) => None,
        how = &mut cut => Some(how),
    };
    if let Some(how) = cut_by {
        end(how, counters, [&client, &server]);
    }
}

/// Forwards both directions until both have delivered their end of stream,
/// or either fails.
async fn pump(
    client: &mut TcpStream,
    server: &mut TcpStream,
    rx: watch::Receiver<State>,
    counters: &Counters,
    seeds: Seeds,
) -> std::io::Result<()> {
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let up = Direction::new(
        client_read,
        server_write,
        rx.clone(),
        &counters.bytes_up,
        seeds.up,
    );
    let down = Direction::new(
        server_read,
        client_write,
        rx,
        &counters.bytes_down,
        seeds.down,
    );
    tokio::try_join!(up.run(), down.run())?;
    Ok(())
}

/// Resolves when the toxic says this connection must end, or the proxy is
/// shut down (the channel closed).
async fn cut_signal(mut rx: watch::Receiver<State>, accepted_at: Instant) -> Cut {
    loop {
        let state = rx.borrow_and_update().clone();
        match state.toxic {
            Some(Toxic::Refuse) => return Cut::Close,
            Some(Toxic::Reset) => return Cut::Reset,
            Some(Toxic::Timeout { after }) => {
                let deadline = later(state.since.max(accepted_at), after);
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline.into()) => return Cut::Close,
                    changed = rx.changed() => if changed.is_err() { return Cut::Close },
                }
            }
            _ => {
                if rx.changed().await.is_err() {
                    return Cut::Close;
                }
            }
        }
    }
}

/// Ends a connection cut by a toxic or the shutdown; the sockets close when
/// the caller drops them.
fn end<const N: usize>(how: Cut, counters: &Counters, sockets: [&TcpStream; N]) {
    if how == Cut::Reset {
        for socket in sockets {
            reset(socket);
        }
        Counters::bump(&counters.reset, 1);
    }
}

/// Makes the coming close of `socket` abortive: with `SO_LINGER` 0 the kernel
/// sends RST and drops unsent data, so the peer sees `ECONNRESET`. This zero
/// linger never blocks on close (unlike a positive one), which is why tokio
/// keeps `set_zero_linger` undeprecated. Failing to set it leaves an orderly
/// close, which still ends the connection.
pub(crate) fn reset(socket: &TcpStream) {
    let _ = socket.set_zero_linger();
}

#[cfg(test)]
mod tests {
    use super::Seeds;

    #[test]
    fn every_connection_and_direction_has_its_own_stream() {
        let a = Seeds::of(5, 1);
        assert_eq!((a.up, a.down), (Seeds::of(5, 1).up, Seeds::of(5, 1).down));
        assert_ne!(a.up, a.down);
        assert_ne!(a.up, Seeds::of(5, 2).up);
        assert_ne!(a.up, Seeds::of(6, 1).up);
    }
}
