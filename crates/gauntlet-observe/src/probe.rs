//! Health probes: one attempt ([`probe_once`]) and the wait for a service
//! to become healthy ([`wait_healthy`]).
//!
//! Probes never fail with an error: whatever goes wrong (a refused
//! connection, a bad URL, a missing program) is an unhealthy
//! [`ProbeOutcome`] whose `detail` says why, because that is what a report
//! shows next to the service.

use std::io;
use std::time::{Duration, Instant};

use std::sync::Arc;

use gauntlet_node::NodeControl;
use gauntlet_plan::{Command, CommandLine, HealthCheck, Probe};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backoff::Backoff;

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub healthy: bool,
    /// From the start of the attempt to its end, success or not.
    pub latency: Duration,
    /// Why, in a few words: `HTTP 503`, `connection refused`,
    /// `exit status 1: <last stderr line>`, `timed out after 2s`.
    pub detail: String,
}

/// Why a probe could not get an answer; its `Display` is the outcome's
/// `detail`.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("only http:// URLs are supported, not {0:?}")]
    Scheme(String),
    #[error("bad URL {0:?}: {1}")]
    Url(String, &'static str),
    #[error("{0}")]
    Io(#[from] IoFailure),
    #[error("connection closed before a status line")]
    NoStatusLine,
    #[error("not an HTTP status line: {0:?}")]
    BadStatusLine(String),
    #[error("cannot run {program:?}: {source}")]
    Spawn { program: String, source: IoFailure },
    #[error("empty command")]
    EmptyCommand,
    #[error("cannot run the check inside: {0}")]
    Exec(String),
}

/// An I/O error in a report's words: "connection refused" rather than
/// "Connection refused (os error 111)".
#[derive(Debug, thiserror::Error)]
#[error("{}", short_io_error(.0))]
struct IoFailure(#[from] io::Error);

fn short_io_error(err: &io::Error) -> String {
    use io::ErrorKind::*;
    let phrase = match err.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset",
        ConnectionAborted => "connection aborted",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "address not available",
        TimedOut => "timed out",
        NotFound => "not found",
        PermissionDenied => "permission denied",
        _ => return err.to_string(),
    };
    phrase.to_owned()
}

/// `2s`, `1.5s` or `250ms`: a timeout as a person would write it.
fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Runs one probe from this machine, bounded by `timeout` (a command
/// probe's whole process group is killed when it runs out of time). An
/// `exec` probe needs the node to run in: [`probe_in`].
pub async fn probe_once(probe: &Probe, timeout: Duration) -> ProbeOutcome {
    probe_in(probe, timeout, None).await
}

/// [`probe_once`], with the node an `exec` probe runs its program inside
/// (`None`: the service is not running, and the probe says so).
pub async fn probe_in(
    probe: &Probe,
    timeout: Duration,
    inside: Option<Arc<dyn NodeControl>>,
) -> ProbeOutcome {
    let start = Instant::now();
    // A TCP probe's latency is its connect's, not the moment it then
    // watches the connection.
    let mut connected = None;
    let result = match probe {
        Probe::Http { url, status } => bounded(timeout, http_probe(url, *status)).await,
        Probe::Tcp { address } => bounded(timeout, tcp_probe(address, start, &mut connected)).await,
        Probe::Command(command) => command_probe(command, timeout).await,
        Probe::Exec { argv } => exec_probe(argv, timeout, inside).await,
    };
    let (healthy, detail) = match result {
        Ok(answer) => answer,
        Err(err) => (false, err.to_string()),
    };
    ProbeOutcome {
        healthy,
        latency: connected.unwrap_or_else(|| start.elapsed()),
        detail,
    }
}

/// A probe's answer: healthy or not, and the detail.
type Answer = Result<(bool, String), ProbeError>;

async fn bounded(timeout: Duration, probe: impl Future<Output = Answer>) -> Answer {
    tokio::time::timeout(timeout, probe)
        .await
        .unwrap_or_else(|_| Ok((false, format!("timed out after {}", human(timeout)))))
}

/// How long a TCP probe watches the connection it made.
const TCP_HOLD: Duration = Duration::from_millis(20);

/// Connects, then watches the connection for [`TCP_HOLD`]: a port proxy
/// (Docker's userland proxy in front of a published port) accepts at once
/// and closes as soon as nothing behind it answers, so a connection
/// closed or reset at once is no server. One that stays open, or sends a
/// banner, is.
async fn tcp_probe(address: &str, start: Instant, connected: &mut Option<Duration>) -> Answer {
    let stream = TcpStream::connect(address).await.map_err(IoFailure::from)?;
    *connected = Some(start.elapsed());
    let mut byte = [0u8; 1];
    match tokio::time::timeout(TCP_HOLD, stream.peek(&mut byte)).await {
        Ok(Ok(0)) => Ok((
            false,
            "accepted and closed at once (a port proxy with nothing behind it?)".to_owned(),
        )),
        Ok(Err(e)) => Ok((false, format!("accepted, then {}", IoFailure::from(e)))),
        Ok(Ok(_)) | Err(_) => Ok((true, "connected".to_owned())),
    }
}

/// The parts of an `http://` URL a GET needs.
#[derive(Debug, PartialEq)]
struct HttpUrl<'a> {
    /// `host:port` to connect to (brackets kept around an IPv6 address).
    authority: String,
    /// The `Host` header: as written in the URL.
    host_header: &'a str,
    /// Path and query, starting with `/`.
    target: String,
}

fn parse_http_url(url: &str) -> Result<HttpUrl<'_>, ProbeError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(ProbeError::Url(url.to_owned(), "no scheme (http://...)"));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(ProbeError::Scheme(scheme.to_owned()));
    }
    let (host_port, target) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        // `http://host?q`: the path is empty, but on the wire it is `/`.
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if host_port.is_empty() {
        return Err(ProbeError::Url(url.to_owned(), "no host"));
    }
    if host_port.contains('@') {
        return Err(ProbeError::Url(
            url.to_owned(),
            "credentials are not supported",
        ));
    }
    // The port is after the last colon, unless that colon is inside an
    // IPv6 address's brackets.
    let has_port = match host_port.rfind(':') {
        Some(i) => !host_port[i..].contains(']'),
        None => false,
    };
    let authority = if has_port {
        let port = &host_port[host_port.rfind(':').unwrap_or(0) + 1..];
        if port.parse::<u16>().is_err() {
            return Err(ProbeError::Url(url.to_owned(), "bad port"));
        }
        host_port.to_owned()
    } else {
        format!("{host_port}:80")
    };
    Ok(HttpUrl {
        authority,
        host_header: host_port,
        target,
    })
}

async fn http_probe(url: &str, expected: u16) -> Answer {
    let url = parse_http_url(url)?;
    let mut stream = connect(&url.authority).await.map_err(IoFailure::from)?;
    stream
        .write_all(url.head("GET", Connection::Close, None).as_bytes())
        .await
        .map_err(IoFailure::from)?;
    // Only the status line: a health endpoint that streams must not hold
    // the probe until its timeout.
    let line = read_status_line(&mut stream).await?;
    let status = parse_status_line(&line)?;
    Ok((status == expected, format!("HTTP {status}")))
}

/// Whether a request asks to keep its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Close,
    KeepAlive,
}

impl HttpUrl<'_> {
    /// The request's head: every request Gauntlet sends is written here.
    fn head(&self, method: &str, connection: Connection, body: Option<usize>) -> String {
        let connection = match connection {
            Connection::Close => "close",
            Connection::KeepAlive => "keep-alive",
        };
        let length = body
            .map(|n| format!("Content-Length: {n}\r\n"))
            .unwrap_or_default();
        format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gauntlet\r\nConnection: {connection}\r\n{length}\r\n",
            self.target, self.host_header
        )
    }
}

/// A new connection, with Nagle off: Gauntlet's requests are small and
/// sent whole, and Nagle would hold one back for the peer's delayed ACK.
async fn connect(authority: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(authority).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Reads up to the first CRLF (a status line is short: at most 8 KiB is
/// read, so a server streaming garbage cannot grow the buffer forever).
async fn read_status_line(stream: &mut (impl AsyncRead + Unpin)) -> Result<String, ProbeError> {
    const LIMIT: usize = 8 * 1024;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            buf.truncate(end);
            break;
        }
        if buf.len() >= LIMIT {
            break;
        }
        let n = stream.read(&mut chunk).await.map_err(IoFailure::from)?;
        if n == 0 {
            if buf.is_empty() {
                return Err(ProbeError::NoStatusLine);
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `HTTP/1.1 503 Service Unavailable` → 503.
fn parse_status_line(line: &str) -> Result<u16, ProbeError> {
    let bad = || ProbeError::BadStatusLine(line.chars().take(80).collect());
    let mut words = line.split_ascii_whitespace();
    let version = words.next().ok_or_else(bad)?;
    if !version.starts_with("HTTP/") {
        return Err(bad());
    }
    let code = words.next().ok_or_else(bad)?;
    if code.len() != 3 {
        return Err(bad());
    }
    code.parse().map_err(|_| bad())
}

/// Runs the command through the local [`Backend`](gauntlet_node::Backend), so
/// it is in the kill registry and its own cgroup: a timeout, a cancelled
/// probe, a Ctrl-C or a SIGKILL of gauntlet (through the next sweep) kills it
/// and everything it left behind, `setsid` daemons included.
async fn command_probe(command: &Command, timeout: Duration) -> Answer {
    let (program, args): (&str, &[String]) = match &command.command {
        CommandLine::Shell(script) => ("sh", std::slice::from_ref(script)),
        CommandLine::Argv(argv) => match argv.split_first() {
            Some((program, args)) => (program.as_str(), args),
            None => return Err(ProbeError::EmptyCommand),
        },
    };
    let mut spec = gauntlet_node::NodeSpec::new(program);
    if matches!(command.command, CommandLine::Shell(_)) {
        spec.args.push("-c".into());
    }
    spec.args.extend(args.iter().map(Into::into));
    spec.env = command
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    // An empty cwd means "wherever gauntlet runs".
    if !command.cwd.as_os_str().is_empty() {
        spec.cwd = Some(command.cwd.clone());
    }
    spec.stderr_tail = 8;
    let output = gauntlet_node::run_to_end(&gauntlet_node::LocalBackend, &spec, None, timeout, 0)
        .await
        .map_err(|err| ProbeError::Spawn {
            program: program.to_owned(),
            source: IoFailure(match err {
                gauntlet_node::NodeError::Spawn { error, .. }
                | gauntlet_node::NodeError::Cwd { error, .. } => error,
                other => io::Error::other(other.to_string()),
            }),
        })?;
    if output.timed_out {
        return Ok((false, format!("timed out after {}", human(timeout))));
    }
    let termination = output.exit.termination;
    if termination.success() {
        return Ok((true, "exit status 0".to_owned()));
    }
    let how = match (termination.code(), termination.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "failed".to_owned(),
    };
    Ok(unhealthy(
        how,
        output.exit.stderr_tail.join("\n").as_bytes(),
    ))
}

/// Runs `argv` inside the node through its backend (a container's exec).
/// The engine cannot stop an exec that runs too long; it is left to end
/// with its container.
async fn exec_probe(
    argv: &[String],
    timeout: Duration,
    inside: Option<Arc<dyn NodeControl>>,
) -> Answer {
    let Some(node) = inside else {
        return Ok((false, "not running: nothing to run the check in".to_owned()));
    };
    let argv = argv.to_vec();
    let output = tokio::task::spawn_blocking(move || node.exec(&argv, timeout))
        .await
        .map_err(|e| ProbeError::Exec(e.to_string()))?
        .map_err(|e| ProbeError::Exec(e.to_string()))?;
    if output.timed_out {
        return Ok((false, format!("timed out after {}", human(timeout))));
    }
    let how = match output.exit_code {
        Some(0) => return Ok((true, "exit status 0".to_owned())),
        Some(code) => format!("exit status {code}"),
        None => "ended without an exit status".to_owned(),
    };
    Ok(unhealthy(how, output.output.as_bytes()))
}

/// A failed check's answer: how it ended, and the last line it wrote.
fn unhealthy(how: String, output: &[u8]) -> (bool, String) {
    match last_line(output) {
        Some(line) => (false, format!("{how}: {line}")),
        None => (false, how),
    }
}

fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(|line| line.chars().take(200).collect())
}

/// A service that became healthy.
#[derive(Debug, Clone, PartialEq)]
pub struct Healthy {
    pub attempts: u32,
    /// From the call to the healthy answer.
    pub elapsed: Duration,
    /// Every attempt's latency, failed ones included, in order.
    pub latencies: Vec<Duration>,
}

/// A service that never became healthy: the timeout passed, or its process
/// died (then `last_detail` starts with "the process exited").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not healthy after {attempts} attempt(s) in {elapsed:.1?}: {last_detail}")]
pub struct NeverHealthy {
    pub attempts: u32,
    pub elapsed: Duration,
    pub last_detail: String,
}

/// Probes until healthy or `check.timeout` passes, waiting between attempts
/// as [`Backoff`] says (`seed` seeds its jitter). Each attempt is bounded by
/// `check.probe_timeout` and by what is left of `check.timeout`.
///
/// `still_running` is polled before each attempt; when it returns false the
/// wait stops at once, since a dead process will not become healthy (the
/// error says the process exited). `inside` is asked before each attempt
/// for the node an `exec` check runs in (its life may begin after the
/// wait does).
pub async fn wait_healthy(
    check: &HealthCheck,
    seed: u64,
    mut still_running: impl FnMut() -> bool,
    inside: impl Fn() -> Option<Arc<dyn NodeControl>>,
) -> Result<Healthy, NeverHealthy> {
    let start = Instant::now();
    let deadline = start + check.timeout;
    let mut backoff = Backoff::new(check, seed);
    let mut attempts = 0;
    let mut latencies = Vec::new();
    let mut last_detail: Option<String> = None;
    loop {
        if !still_running() {
            let detail = match &last_detail {
                Some(last) => format!("the process exited (last probe: {last})"),
                None => "the process exited before the first probe".to_owned(),
            };
            return Err(NeverHealthy {
                attempts,
                elapsed: start.elapsed(),
                last_detail: detail,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NeverHealthy {
                attempts,
                elapsed: start.elapsed(),
                last_detail: last_detail
                    .unwrap_or_else(|| "no probe within the timeout".to_owned()),
            });
        }
        attempts += 1;
        let outcome = probe_in(&check.probe, check.probe_timeout.min(left), inside()).await;
        latencies.push(outcome.latency);
        if outcome.healthy {
            return Ok(Healthy {
                attempts,
                elapsed: start.elapsed(),
                latencies,
            });
        }
        last_detail = Some(outcome.detail);
        let pause = backoff.next().unwrap_or(check.max_interval);
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_host_and_target() {
        let url = parse_http_url("http://127.0.0.1:8080/health?x=1").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.host_header, "127.0.0.1:8080");
        assert_eq!(url.target, "/health?x=1");
        let url = parse_http_url("http://example.invalid").unwrap();
        assert_eq!(url.authority, "example.invalid:80");
        assert_eq!(url.target, "/");
        assert_eq!(parse_http_url("http://h:1?q").unwrap().target, "/?q");
        let url = parse_http_url("http://[::1]/x").unwrap();
        assert_eq!(url.authority, "[::1]:80");
        let url = parse_http_url("HTTP://[::1]:9/").unwrap();
        assert_eq!(url.authority, "[::1]:9");

        let err = parse_http_url("https://x/").unwrap_err().to_string();
        assert!(err.contains("only http://"), "{err}");
        for bad in ["x:80/health", "http://", "http://h:port/", "http://u@h/"] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 503 Service Unavailable").unwrap(),
            503
        );
        assert_eq!(parse_status_line("HTTP/1.0 200").unwrap(), 200);
        for bad in [
            "",
            "SSH-2.0-OpenSSH",
            "HTTP/1.1",
            "HTTP/1.1 2000 x",
            "HTTP/1.1 abc",
        ] {
            assert!(parse_status_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn details_read_well() {
        assert_eq!(human(Duration::from_secs(2)), "2s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(IoFailure(refused).to_string(), "connection refused");
        assert_eq!(last_line(b"a\nb\n\n  \n").as_deref(), Some("b"));
        assert_eq!(last_line(b" \n"), None);
    }
}

/// An HTTP answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One plain-HTTP/1.1 request (`Connection: close`), for simulated users
/// and readbacks: the body is read to the end of the connection (or
/// `Content-Length`), at most 16 MiB. Errors are one line, in a report's
/// words ("connection refused", "timed out after 2s").
pub async fn http_request(
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    HttpClient {
        kept: None,
        connection: Connection::Close,
    }
    .request(method, url, body, timeout)
    .await
}

/// With the headers in, the total length of the answer if it has a
/// `Content-Length` (so a keep-alive server need not close first).
fn complete_length(raw: &[u8]) -> Option<usize> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let length = head.lines().skip(1).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    })?;
    Some(end + 4 + length)
}

/// An HTTP/1.1 client that keeps its connection between requests
/// (`Connection: keep-alive`), for simulated users: hours of one
/// connection per request would make the soak's own cost mostly TCP setup.
/// A server that closes (or says `Connection: close`) gets a new
/// connection next time. A request that fails on a kept connection before
/// any byte of an answer arrived is sent once more on a fresh one (the
/// server closed the idle connection first); after that, an error is the
/// request's.
#[derive(Debug)]
pub struct HttpClient {
    kept: Option<(String, TcpStream)>,
    connection: Connection,
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}

impl HttpClient {
    pub fn new() -> HttpClient {
        HttpClient {
            kept: None,
            connection: Connection::KeepAlive,
        }
    }

    pub async fn request(
        &mut self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<HttpResponse, String> {
        let parsed = parse_http_url(url).map_err(|e| e.to_string())?;
        let head = parsed.head(method, self.connection, Some(body.map_or(0, <[u8]>::len)));
        let body = body.unwrap_or_default();
        let kept = self
            .kept
            .take()
            .filter(|(authority, _)| *authority == parsed.authority);
        let exchange = async {
            if let Some((_, stream)) = kept {
                match exchange(stream, head.as_bytes(), body).await {
                    Ok(done) => return Ok(done),
                    Err((false, _)) => {} // nothing came back: try a new connection
                    Err((true, e)) => return Err(e),
                }
            }
            let stream = connect(&parsed.authority)
                .await
                .map_err(|e| IoFailure::from(e).to_string())?;
            exchange(stream, head.as_bytes(), body)
                .await
                .map_err(|(_, e)| e)
        };
        let (response, reusable) = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {}", human(timeout))))?;
        if let (Some(stream), Connection::KeepAlive) = (reusable, self.connection) {
            self.kept = Some((parsed.authority, stream));
        }
        Ok(response)
    }
}

/// Sends a request on `stream` and reads one answer. `Err((answered, e))`
/// says whether any byte of an answer had arrived. On success the stream
/// comes back if it may be used again.
async fn exchange(
    mut stream: TcpStream,
    head: &[u8],
    body: &[u8],
) -> Result<(HttpResponse, Option<TcpStream>), (bool, String)> {
    const LIMIT: usize = 16 << 20;
    let io = |answered: bool| move |e: io::Error| (answered, IoFailure::from(e).to_string());
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head);
    request.extend_from_slice(body);
    stream.write_all(&request).await.map_err(io(false))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let total = loop {
        let n = stream.read(&mut chunk).await.map_err(io(!raw.is_empty()))?;
        if n == 0 {
            if raw.is_empty() {
                return Err((false, "connection closed".to_owned()));
            }
            break None;
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > LIMIT {
            return Err((true, "answer over 16 MiB".to_owned()));
        }
        if let Some(done) = complete_length(&raw)
            && raw.len() >= done
        {
            break Some(done);
        }
    };
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            (
                true,
                "connection closed before the headers ended".to_owned(),
            )
        })?;
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = parse_status_line(head_text.lines().next().unwrap_or_default())
        .map_err(|e| (true, e.to_string()))?;
    let closes = head_text.lines().skip(1).any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.trim().eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close")
        })
    });
    let body_end = total.unwrap_or(raw.len());
    let response = HttpResponse {
        status,
        body: raw[end + 4..body_end].to_vec(),
    };
    // Reusable only with a known length, the whole answer read and no close.
    let reusable = (total == Some(raw.len()) && !closes).then_some(stream);
    Ok((response, reusable))
}
