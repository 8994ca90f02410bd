//! The users' HTTP client keeps its connection, and gets a new one when
//! the server closes (with or without saying so).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gauntlet_observe::HttpClient;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Serves `per_connection` answers per connection (then closes without a
/// word), counting connections.
async fn server(per_connection: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                for _ in 0..per_connection {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.strip_prefix("Content-Length: ") {
                            length = v.parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let answer = format!("got {}", String::from_utf8_lossy(&body));
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{answer}",
                        answer.len()
                    );
                    stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (format!("http://{addr}/kv/a"), connections)
}

#[tokio::test]
async fn requests_share_one_connection() {
    let (url, connections) = server(usize::MAX).await;
    let mut client = HttpClient::new();
    for i in 0..5 {
        let body = format!("v{i}");
        let r = client
            .request("PUT", &url, Some(body.as_bytes()), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, format!("got v{i}").into_bytes());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_the_server_dropped_is_replaced_without_an_error() {
    // One answer per connection, then the server closes silently: every
    // later request finds its kept connection dead before any answer.
    let (url, connections) = server(1).await;
    let mut client = HttpClient::new();
    for i in 0..3 {
        let body = format!("v{i}");
        let r = client
            .request("PUT", &url, Some(body.as_bytes()), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.body, format!("got v{i}").into_bytes());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connection_is_an_error_in_plain_words() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut client = HttpClient::new();
    let e = client
        .request(
            "GET",
            &format!("http://127.0.0.1:{port}/"),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(e.contains("refused"), "{e}");
}
