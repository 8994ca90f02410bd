//! The proxy against a small echo server, on loopback. Timing bounds are
//! loose on purpose ("at least X", "well under X + 5 s") so a loaded machine
//! does not make them flaky.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gauntlet_proxy::{Proxy, ProxyStats, Toxic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Upper bound for anything that should happen "at once".
const SOON: Duration = Duration::from_secs(5);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Echoes every connection until its client half-closes, then closes.
async fn echo_on(listener: TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
    }
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    tokio::spawn(echo_on(listener));
    addr
}

async fn proxy_to_echo() -> Proxy {
    let upstream = echo_server().await;
    Proxy::start(loopback(), upstream, 7)
        .await
        .expect("start proxy")
}

async fn connect(proxy: &Proxy) -> TcpStream {
    let stream = tokio::time::timeout(SOON, TcpStream::connect(proxy.local_addr()))
        .await
        .expect("connect in time")
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Writes `msg` and reads the same number of bytes back.
async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).await.expect("write");
    let mut back = vec![0; msg.len()];
    tokio::time::timeout(SOON, stream.read_exact(&mut back))
        .await
        .expect("answer in time")
        .expect("read answer");
    back
}

/// Asserts that `stream` is closed: the next read ends the stream or fails,
/// without any data, before `SOON`.
async fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    match tokio::time::timeout(SOON, stream.read(&mut buf)).await {
        Err(_) => panic!("connection still open"),
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("got {n} bytes from a closed connection"),
    }
}

/// Asserts that `stream` sees a reset where the OS reports one.
async fn assert_reset(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    let read = tokio::time::timeout(SOON, stream.read(&mut buf))
        .await
        .expect("reset in time");
    if cfg!(target_os = "linux") {
        let err = read.expect_err("a reset fails the read");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    } else {
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

/// Waits until `check` holds for the stats (connections wind down
/// asynchronously), failing after `SOON`.
async fn eventually(proxy: &Proxy, check: impl Fn(&ProxyStats) -> bool) -> ProxyStats {
    let deadline = Instant::now() + SOON;
    loop {
        let stats = proxy.stats();
        if check(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "stats never settled: {stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn proxy_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Proxy>();
}

#[tokio::test]
async fn clean_proxying_round_trips_a_large_payload() {
    let proxy = proxy_to_echo().await;
    assert_eq!(proxy.toxic(), None);
    let stream = connect(&proxy).await;
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();

    let (mut r, mut w) = stream.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.expect("write payload");
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut back))
        .await
        .expect("echo in time")
        .expect("read echo");
    writer.await.expect("writer");
    assert!(back == payload, "payload changed on the way");

    let stats = eventually(&proxy, |s| s.active == 0).await;
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.bytes_up, payload.len() as u64);
    assert_eq!(stats.bytes_down, payload.len() as u64);
    proxy.shutdown().await;
}

#[tokio::test]
async fn refuse_closes_new_and_open_connections_until_cleared() {
    let proxy = proxy_to_echo().await;
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"hello").await, b"hello");

    proxy.set(Some(Toxic::Refuse));
    assert_eq!(proxy.toxic(), Some(Toxic::Refuse));
    assert_closed(&mut open).await;
    let mut refused = connect(&proxy).await;
    assert_closed(&mut refused).await;
    assert_eq!(proxy.stats().refused, 1);

    proxy.set(None);
    let mut fresh = connect(&proxy).await;
    assert_eq!(round_trip(&mut fresh, b"again").await, b"again");
    proxy.shutdown().await;
}

#[tokio::test]
async fn blackhole_keeps_connections_but_forwards_nothing() {
    let proxy = proxy_to_echo().await;
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"before").await, b"before");

    proxy.set(Some(Toxic::Blackhole));
    let mut fresh = connect(&proxy).await;
    for stream in [&mut open, &mut fresh] {
        stream.write_all(b"ping").await.expect("write");
        let mut buf = [0; 16];
        let read = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
        assert!(read.is_err(), "blackholed request got {read:?}");
    }

    proxy.set(None);
    // What was sent into the hole is gone; the connections themselves live on.
    assert_eq!(round_trip(&mut open, b"after").await, b"after");
    assert_eq!(round_trip(&mut fresh, b"after").await, b"after");
    let mut new = connect(&proxy).await;
    assert_eq!(round_trip(&mut new, b"new").await, b"new");
    assert_eq!(proxy.stats().refused, 0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn latency_delays_both_directions() {
    let proxy = proxy_to_echo().await;
    let latency = Duration::from_millis(200);
    proxy.set(Some(Toxic::Latency {
        latency,
        jitter: Duration::ZERO,
    }));
    let mut stream = connect(&proxy).await;
    let started = Instant::now();
    assert_eq!(round_trip(&mut stream, b"slow").await, b"slow");
    let took = started.elapsed();
    assert!(took >= 2 * latency, "round trip took only {took:?}");
    assert!(took < 2 * latency + SOON, "round trip took {took:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn latency_with_jitter_keeps_order() {
    let proxy = proxy_to_echo().await;
    proxy.set(Some(Toxic::Latency {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(50),
    }));
    let stream = connect(&proxy).await;
    let (mut r, mut w) = stream.into_split();
    let count: u32 = 200;
    let writer = tokio::spawn(async move {
        for i in 0..count {
            w.write_all(&i.to_be_bytes()).await.expect("write");
            // Separate writes, so they travel as separate chunks with their
            // own jitter.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut back))
        .await
        .expect("echo in time")
        .expect("read echo");
    writer.await.expect("writer");
    let got: Vec<u32> = back
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().expect("whole numbers")))
        .collect();
    assert_eq!(got, (0..count).collect::<Vec<_>>());
    proxy.shutdown().await;
}

#[tokio::test]
async fn clearing_latency_releases_what_it_holds() {
    let proxy = proxy_to_echo().await;
    let mut stream = connect(&proxy).await;
    proxy.set(Some(Toxic::Latency {
        latency: Duration::from_secs(600),
        jitter: Duration::ZERO,
    }));
    stream.write_all(b"held").await.expect("write");
    let mut buf = [0; 4];
    let early = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
    assert!(early.is_err(), "delayed data came early: {early:?}");

    proxy.set(None);
    tokio::time::timeout(SOON, stream.read_exact(&mut buf))
        .await
        .expect("released in time")
        .expect("read");
    assert_eq!(&buf, b"held");
    proxy.shutdown().await;
}

#[tokio::test]
async fn bandwidth_caps_throughput() {
    let proxy = proxy_to_echo().await;
    proxy.set(Some(Toxic::Bandwidth {
        bytes_per_sec: 64 * 1024,
    }));
    let stream = connect(&proxy).await;
    let payload: Vec<u8> = (0..128 * 1024).map(|i| (i % 256) as u8).collect();
    let started = Instant::now();
    let (mut r, mut w) = stream.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.expect("write");
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut back))
        .await
        .expect("echo in time")
        .expect("read echo");
    writer.await.expect("writer");
    let took = started.elapsed();
    assert!(back == payload, "payload changed on the way");
    assert!(
        took >= Duration::from_millis(1500),
        "128 KiB at 64 KiB/s took only {took:?}"
    );
    assert!(took < Duration::from_secs(2) + SOON, "took {took:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn reset_resets_open_and_new_connections() {
    let proxy = proxy_to_echo().await;
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"hello").await, b"hello");

    proxy.set(Some(Toxic::Reset));
    assert_reset(&mut open).await;
    let mut fresh = connect(&proxy).await;
    assert_reset(&mut fresh).await;
    let stats = eventually(&proxy, |s| s.reset == 2).await;
    assert_eq!(stats.refused, 0);

    proxy.set(None);
    let mut healed = connect(&proxy).await;
    assert_eq!(round_trip(&mut healed, b"again").await, b"again");
    proxy.shutdown().await;
}

#[tokio::test]
async fn timeout_stops_data_then_closes() {
    let proxy = proxy_to_echo().await;
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"hello").await, b"hello");

    let after = Duration::from_millis(300);
    let set_at = Instant::now();
    proxy.set(Some(Toxic::Timeout { after }));
    let mut fresh = connect(&proxy).await;
    for stream in [&mut open, &mut fresh] {
        stream.write_all(b"lost").await.expect("write");
        assert_closed(stream).await;
        let took = set_at.elapsed();
        assert!(took >= after, "closed after only {took:?}");
        assert!(took < after + SOON, "closed after {took:?}");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn stats_count_connections_and_bytes() {
    let proxy = proxy_to_echo().await;
    for _ in 0..3 {
        let mut stream = connect(&proxy).await;
        assert_eq!(round_trip(&mut stream, b"0123456789").await, b"0123456789");
    }
    proxy.set(Some(Toxic::Refuse));
    for _ in 0..2 {
        let mut stream = connect(&proxy).await;
        assert_closed(&mut stream).await;
    }
    let stats = eventually(&proxy, |s| s.active == 0 && s.refused == 2).await;
    assert_eq!(
        stats,
        ProxyStats {
            accepted: 5,
            active: 0,
            refused: 2,
            reset: 0,
            upstream_errors: 0,
            bytes_up: 30,
            bytes_down: 30,
        }
    );
    let json = serde_json::to_value(stats).expect("stats serialize");
    assert_eq!(json["accepted"], 5);
    assert_eq!(json["bytes_down"], 30);
    proxy.shutdown().await;
}

#[tokio::test]
async fn upstream_down_closes_clients_and_the_proxy_keeps_running() {
    // A port nothing listens on: bound, noted, released.
    let upstream = {
        let listener = TcpListener::bind(loopback()).await.expect("bind");
        listener.local_addr().expect("addr")
    };
    let proxy = Proxy::start(loopback(), upstream, 7)
        .await
        .expect("start proxy");
    for _ in 0..2 {
        let mut stream = connect(&proxy).await;
        assert_closed(&mut stream).await;
    }
    let stats = eventually(&proxy, |s| s.upstream_errors == 2 && s.active == 0).await;
    assert_eq!(stats.accepted, 2);

    // The service comes back on its port: the same proxy reaches it.
    let listener = TcpListener::bind(upstream).await.expect("rebind upstream");
    tokio::spawn(echo_on(listener));
    let mut stream = connect(&proxy).await;
    assert_eq!(round_trip(&mut stream, b"back").await, b"back");
    proxy.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_connections_and_releases_everything() {
    let upstream = echo_server().await;
    let runtime = tokio::runtime::Handle::current();
    let baseline = runtime.metrics().num_alive_tasks();

    let proxy = Proxy::start(loopback(), upstream, 7)
        .await
        .expect("start proxy");
    let addr = proxy.local_addr();
    let mut clean = connect(&proxy).await;
    assert_eq!(round_trip(&mut clean, b"hello").await, b"hello");
    proxy.set(Some(Toxic::Latency {
        latency: Duration::from_secs(60),
        jitter: Duration::ZERO,
    }));
    let mut delayed = connect(&proxy).await;
    delayed
        .write_all(b"held in the queue")
        .await
        .expect("write");
    eventually(&proxy, |s| s.active == 2).await;

    tokio::time::timeout(SOON, proxy.shutdown())
        .await
        .expect("shutdown in time");
    assert_closed(&mut clean).await;
    assert_closed(&mut delayed).await;
    let refused = TcpStream::connect(addr).await.expect_err("nobody listens");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    TcpListener::bind(addr)
        .await
        .expect("the port is free again");

    // Only the echo server's own tasks could outlive the proxy, and they end
    // once the proxy's upstream connections are closed.
    let deadline = Instant::now() + SOON;
    while runtime.metrics().num_alive_tasks() > baseline {
        assert!(Instant::now() < deadline, "tasks left behind");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn dropping_the_proxy_also_stops_it() {
    let proxy = proxy_to_echo().await;
    let mut stream = connect(&proxy).await;
    assert_eq!(round_trip(&mut stream, b"hello").await, b"hello");
    drop(proxy);
    assert_closed(&mut stream).await;
}
