//! `http-service`: a small HTTP/1.1 key-value service for plans, with knobs
//! that make it misbehave on purpose (leak, crash, start slowly), an
//! optional Redis dependency, and a `--selftest` client mode that a plan
//! uses as a module test.
//!
//! std only: a thread per connection and `Connection: close` keep it
//! simple enough to read in one sitting, which matters more for an example
//! than throughput.
//!
//! Endpoints: `GET /health` (200 `ok`, or 503 `redis unreachable`),
//! `GET /` (`{"requests": n, "leaked_kib": k}`), `GET` and `PUT /kv/<key>`
//! (the body is the value), 404 for anything else.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const USAGE: &str = "\
usage: http-service [--port P] [--bind ADDR] [--redis HOST:PORT]
                    [--leak-kib-per-request N] [--crash-after N] [--slow-start SECS]
       http-service --selftest URL

  --port P                    port to listen on, 0 for any free one (default 8080)
  --bind ADDR                 address to listen on (default 127.0.0.1)
  --redis HOST:PORT           keep /kv values in Redis; /health is 503 until it answers PING
  --leak-kib-per-request N    every request leaks N KiB of touched memory
  --crash-after N             exit with status 3 right after answering the Nth request
  --slow-start SECS           wait this long before listening
  --selftest URL              client mode: check URL/health and a /kv round trip, exit 0 or 1

On start it prints `http-service listening on ADDR:PORT` to stdout.";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub redis: Option<String>,
    pub leak_kib_per_request: usize,
    pub crash_after: Option<u64>,
    pub slow_start: Duration,
    pub selftest: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 8080,
            // Loopback unless asked: an example must not open a port to the
            // network by surprise.
            bind: "127.0.0.1".to_owned(),
            redis: None,
            leak_kib_per_request: 0,
            crash_after: None,
            slow_start: Duration::ZERO,
            selftest: None,
        }
    }
}

impl Config {
    /// Parses the flags (without the program name). Accepts `--flag value`
    /// and `--flag=value`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let mut config = Config::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
                _ => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .map(str::to_owned)
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--port" => config.port = number(&flag, &value()?)?,
                "--bind" => config.bind = value()?,
                "--redis" => config.redis = Some(value()?),
                "--leak-kib-per-request" => config.leak_kib_per_request = number(&flag, &value()?)?,
                "--crash-after" => match number(&flag, &value()?)? {
                    0 => return Err("--crash-after must be at least 1".to_owned()),
                    n => config.crash_after = Some(n),
                },
                "--slow-start" => {
                    let text = value()?;
                    config.slow_start = text
                        .parse::<f64>()
                        .ok()
                        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                        .ok_or_else(|| format!("{flag}: not a number of seconds: {text:?}"))?;
                }
                "--selftest" => config.selftest = Some(value()?),
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(config)
    }
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: not a valid number: {text:?}"))
}

/// The program: serve, or run the self-test with `--selftest`.
pub fn main() -> ExitCode {
    ExitCode::from(run(std::env::args().skip(1).collect()))
}

/// [`main`] with its arguments given (`gauntlet example-node http-service ARGS`).
pub fn run(args: Vec<String>) -> u8 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return 0;
    }
    let config = match Config::parse(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("http-service: {err}\n\n{USAGE}");
            return 2;
        }
    };
    if let Some(url) = &config.selftest {
        return if selftest(url) { 0 } else { 1 };
    }
    match serve(config) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("http-service: {err}");
            1
        }
    }
}

/// Where `/kv` values live.
enum Store {
    Memory(Mutex<HashMap<String, Vec<u8>>>),
    Redis(String),
}

struct Service {
    store: Store,
    requests: AtomicU64,
    leak_kib_per_request: usize,
    leaked_kib: AtomicU64,
    /// The leaked blocks, kept reachable so the allocator (or the optimizer)
    /// cannot hand the memory back: the point is that RSS grows.
    leaked: Mutex<Vec<Box<[u8]>>>,
    crash_after: Option<u64>,
}

/// Listens and serves until killed. Returns only if binding fails.
pub fn serve(config: Config) -> io::Result<()> {
    if !config.slow_start.is_zero() {
        eprintln!(
            "http-service: slow start, listening in {:?}",
            config.slow_start
        );
        thread::sleep(config.slow_start);
    }
    let listener = TcpListener::bind((config.bind.as_str(), config.port))?;
    let address = listener.local_addr()?;
    // A `--port 0` user learns the port from this line, so flush it now
    // (stdout is block-buffered when it is a pipe).
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "http-service listening on {address}")?;
    stdout.flush()?;
    drop(stdout);

    let service = Arc::new(Service {
        store: match config.redis {
            Some(address) => Store::Redis(address),
            None => Store::Memory(Mutex::default()),
        },
        requests: AtomicU64::new(0),
        leak_kib_per_request: config.leak_kib_per_request,
        leaked_kib: AtomicU64::new(0),
        leaked: Mutex::default(),
        crash_after: config.crash_after,
    });
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let service = Arc::clone(&service);
                thread::spawn(move || service.handle(stream));
            }
            Err(err) => {
                // Out of file descriptors and the like: back off briefly
                // rather than spin.
                eprintln!("http-service: accept: {err}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

/// A parsed request; the query string is dropped from the path.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

impl Service {
    fn handle(&self, mut stream: TcpStream) {
        // A client that connects and stalls must not hold a thread forever.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let request = match read_request(&mut stream) {
            // Connected and closed without a word: a TCP health probe.
            Ok(None) => return,
            Ok(Some(request)) => request,
            Err(response) => {
                let _ = write_response(&mut stream, &response);
                return;
            }
        };
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        self.leak();
        let response = self.route(&request);
        eprintln!(
            "http-service: #{n} {} {} -> {}",
            request.method, request.path, response.status
        );
        let _ = write_response(&mut stream, &response);
        if self.crash_after == Some(n) {
            let _ = stream.shutdown(Shutdown::Write);
            eprintln!("http-service: crashing after request {n} (--crash-after)");
            std::process::exit(3);
        }
    }

    fn leak(&self) {
        let kib = self.leak_kib_per_request;
        if kib == 0 {
            return;
        }
        // Zeroed allocations are mapped lazily; write to every page so the
        // leak shows in RSS, not just in virtual size.
        let mut block = vec![0u8; kib * 1024].into_boxed_slice();
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        lock(&self.leaked).push(block);
        self.leaked_kib.fetch_add(kib as u64, Ordering::SeqCst);
    }

    fn route(&self, request: &Request) -> Response {
        let method = request.method.as_str();
        match (method, request.path.as_str()) {
            ("GET", "/health") => self.health(),
            ("GET", "/") => Response {
                status: 200,
                content_type: "application/json",
                body: serde_json::json!({
                    "requests": self.requests.load(Ordering::SeqCst),
                    "leaked_kib": self.leaked_kib.load(Ordering::SeqCst),
                })
                .to_string()
                .into_bytes(),
            },
            (_, "/health" | "/") => Response::text(405, "method not allowed"),
            (_, path) => match path.strip_prefix("/kv/") {
                Some("") | None => Response::text(404, "not found"),
                Some(key) => match method {
                    "GET" => self.get(key),
                    "PUT" => self.put(key, &request.body),
                    _ => Response::text(405, "method not allowed"),
                },
            },
        }
    }

    fn health(&self) -> Response {
        match &self.store {
            Store::Memory(_) => Response::text(200, "ok"),
            Store::Redis(address) => match redis(address, &[b"PING"]) {
                Ok(Reply::Simple(pong)) if pong == "PONG" => Response::text(200, "ok"),
                other => {
                    eprintln!("http-service: redis at {address}: {other:?}");
                    Response::text(503, "redis unreachable")
                }
            },
        }
    }

    fn get(&self, key: &str) -> Response {
        let value = match &self.store {
            Store::Memory(map) => Ok(lock(map).get(key).cloned()),
            Store::Redis(address) => match redis(address, &[b"GET", key.as_bytes()]) {
                Ok(Reply::Bulk(value)) => Ok(Some(value)),
                Ok(Reply::Nil) => Ok(None),
                Ok(other) => Err(format!("unexpected reply {other:?}")),
                Err(err) => Err(err.to_string()),
            },
        };
        match value {
            Ok(Some(value)) => Response {
                status: 200,
                content_type: "application/octet-stream",
                body: value,
            },
            Ok(None) => Response::text(404, "no such key"),
            Err(err) => Response::text(502, &format!("redis: {err}")),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Response {
        match &self.store {
            Store::Memory(map) => {
                lock(map).insert(key.to_owned(), value.to_vec());
                Response::text(200, "ok")
            }
            Store::Redis(address) => match redis(address, &[b"SET", key.as_bytes(), value]) {
                Ok(Reply::Simple(ok)) if ok == "OK" => Response::text(200, "ok"),
                Ok(other) => Response::text(502, &format!("redis: unexpected reply {other:?}")),
                Err(err) => Response::text(502, &format!("redis: {err}")),
            },
        }
    }
}

/// A poisoned lock only means another request thread panicked; the map
/// itself is still consistent (every update is a single call).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads one request. `Ok(None)` when the client closed without sending
/// anything; `Err` is the error response to send.
fn read_request(stream: &mut TcpStream) -> Result<Option<Request>, Response> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::text(400, "request head too large"));
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(Response::text(400, "incomplete request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) if buf.is_empty() => return Ok(None),
            Err(_) => return Err(Response::text(400, "incomplete request")),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(Response::text(400, "bad request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::text(400, "only HTTP/1.x is spoken here"));
    }
    let mut length = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Response::text(400, "bad header line"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| Response::text(400, "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Response::text(411, "send a Content-Length, not chunks"));
        }
    }
    if length > MAX_BODY {
        return Err(Response::text(413, "body too large"));
    }
    let mut body = buf.split_off(head_end + 4);
    if body.len() < length {
        let missing = length - body.len();
        let mut rest = vec![0; missing];
        stream
            .read_exact(&mut rest)
            .map_err(|_| Response::text(400, "body shorter than its Content-Length"))?;
        body.extend_from_slice(&rest);
    }
    body.truncate(length);
    let path = target.split('?').next().unwrap_or_default().to_owned();
    Ok(Some(Request {
        method: method.to_owned(),
        path,
        body,
    }))
}

fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// A RESP reply, as far as PING, GET and SET need.
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Bulk(Vec<u8>),
    Nil,
    Integer(i64),
}

/// One Redis command on a fresh connection. A connection per request is
/// slow but leaves nothing to repair when Redis restarts under a fault.
fn redis(address: &str, args: &[&[u8]]) -> io::Result<Reply> {
    let mut stream = connect(address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut command = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        command.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        command.extend_from_slice(arg);
        command.extend_from_slice(b"\r\n");
    }
    stream.write_all(&command)?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(invalid("connection closed before a reply".to_owned()));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Err(io::Error::other(format!("error reply: {rest}"))),
        ":" => rest
            .parse()
            .map(Reply::Integer)
            .map_err(|_| invalid(format!("bad integer reply {line:?}"))),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| invalid(format!("bad bulk length {line:?}")))?;
            if len < 0 {
                return Ok(Reply::Nil);
            }
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= MAX_BODY)
                .ok_or_else(|| invalid(format!("bulk reply too large: {len}")))?;
            let mut value = vec![0; len + 2]; // and its CRLF
            reader.read_exact(&mut value)?;
            value.truncate(len);
            Ok(Reply::Bulk(value))
        }
        _ => Err(invalid(format!("unexpected reply {line:?}"))),
    }
}

fn connect(address: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{address}: no address"));
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// A minimal HTTP/1.1 client call: `(status, body)`.
pub fn request(
    authority: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = connect(authority, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP response"))
}

/// `(status, body)` of a complete `Connection: close` response.
fn parse_response(response: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    let status = head.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some((status, response[head_end + 4..].to_vec()))
}

/// `http://host:port/prefix` → (`host:port`, `/prefix`).
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(format!("only http:// is supported, not {scheme}://")),
        None => url,
    };
    let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, prefix.trim_end_matches('/').to_owned()))
}

/// "connection refused" rather than "Connection refused (os error 111)".
fn short(err: io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".to_owned(),
        _ => err.to_string(),
    }
}

/// The `--selftest` client: `GET /health` answers 200, and a value `PUT`
/// to `/kv/selftest-<pid>` comes back from `GET`. Prints a line per check
/// and a summary; true when every check passed.
pub fn selftest(url: &str) -> bool {
    let (authority, prefix) = match split_url(url) {
        Ok(parts) => parts,
        Err(err) => {
            println!("FAIL {err}");
            println!("selftest: 0 passed, 1 failed");
            return false;
        }
    };
    let pid = std::process::id();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let key = format!("{prefix}/kv/selftest-{pid}");
    let value = format!("selftest value {pid}.{nanos}");
    let expect = |method: &str, path: &str, body: Option<&[u8]>, want: Option<&[u8]>| {
        let (status, got) = request(&authority, method, path, body).map_err(short)?;
        if status != 200 {
            return Err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&got).trim()
            ));
        }
        match want {
            Some(want) if got != want => Err(format!(
                "got {:?}, want {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want)
            )),
            _ => Ok(()),
        }
    };
    let checks = [
        (
            format!("GET {prefix}/health"),
            expect("GET", &format!("{prefix}/health"), None, None),
        ),
        (
            format!("PUT {key}"),
            expect("PUT", &key, Some(value.as_bytes()), None),
        ),
        (
            format!("GET {key} returns the value"),
            expect("GET", &key, None, Some(value.as_bytes())),
        ),
    ];
    let mut failed = 0;
    for (name, result) in &checks {
        match result {
            Ok(()) => println!("ok   {name}"),
            Err(err) => {
                failed += 1;
                println!("FAIL {name}: {err}");
            }
        }
    }
    println!(
        "selftest: {} passed, {failed} failed",
        checks.len() - failed
    );
    failed == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags() {
        assert_eq!(Config::parse(args("")).unwrap(), Config::default());
        let config = Config::parse(args(
            "--port 0 --bind=0.0.0.0 --redis 127.0.0.1:6379 --leak-kib-per-request 64 \
             --crash-after 3 --slow-start 1.5",
        ))
        .unwrap();
        assert_eq!(config.port, 0);
        assert_eq!(config.bind, "0.0.0.0");
        assert_eq!(config.redis.as_deref(), Some("127.0.0.1:6379"));
        assert_eq!(config.leak_kib_per_request, 64);
        assert_eq!(config.crash_after, Some(3));
        assert_eq!(config.slow_start, Duration::from_millis(1500));
        for bad in [
            "--port",
            "--port 70000",
            "--crash-after 0",
            "--slow-start -1",
            "--slow-start soon",
            "--frobnicate",
            "serve",
        ] {
            assert!(Config::parse(args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/").unwrap(),
            ("127.0.0.1:8080".to_owned(), String::new())
        );
        assert_eq!(
            split_url("localhost/api").unwrap(),
            ("localhost:80".to_owned(), "/api".to_owned())
        );
        assert!(split_url("https://x").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn resp_replies() {
        let reply = |bytes: &[u8]| read_reply(&mut &bytes[..]);
        assert_eq!(reply(b"+PONG\r\n").unwrap(), Reply::Simple("PONG".into()));
        assert_eq!(
            reply(b"$5\r\nhello\r\n").unwrap(),
            Reply::Bulk(b"hello".to_vec())
        );
        assert_eq!(reply(b"$-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(reply(b":42\r\n").unwrap(), Reply::Integer(42));
        assert!(
            reply(b"-ERR wrong\r\n")
                .unwrap_err()
                .to_string()
                .contains("ERR wrong")
        );
        assert!(reply(b"").is_err());
        assert!(reply(b"*1\r\n").is_err());
        assert!(reply(b"$5\r\nhel").is_err());
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nnot found"),
            Some((404, b"not found".to_vec()))
        );
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
