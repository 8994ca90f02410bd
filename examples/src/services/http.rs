//! `http-service`: a small HTTP/1.1 key-value service for plans, with knobs
//! that make it misbehave on purpose (leak, crash, start slowly), an
//! optional Redis dependency, and a `--selftest` client mode that a plan
//! uses as a module test.
//!
//! std only: a thread per connection (kept only when the client asks) keep it
//! simple enough to read in one sitting, which matters more for an example
//! than throughput.
//!
//! Endpoints: `GET /health` (200 `ok`, or 503 `redis unreachable` /
//! `data file failed`), `GET /` (`{"requests": n, "leaked_kib": k}`), `GET`
//! and `PUT /kv/<key>` (the body is the value; `GET` answers 200 with exactly
//! the value, or 404), 404 for anything else.
//!
//! `/kv` values live in memory, in Redis (`--redis`), or in memory backed by
//! an append-only file (`--data-file`), which `gauntlet soak` uses to check
//! "no data loss": a PUT answered 200 must survive a SIGKILL and a restart.
//! `--ack-before-durable` breaks exactly that promise, on purpose.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::resp::{self, Reply};

pub const USAGE: &str = "\
usage: http-service [--port P] [--bind ADDR]
                    [--redis HOST:PORT | --data-file PATH [--ack-before-durable [--flush-every-ms N]]]
                    [--leak-kib-per-request N] [--crash-after N] [--slow-start SECS]
       http-service --selftest URL

  --port P                    port to listen on, 0 for any free one (default 8080)
  --bind ADDR                 address to listen on (default 127.0.0.1)
  --redis HOST:PORT           keep /kv values in Redis; /health is 503 until it answers PING
  --data-file PATH            keep /kv values in an append-only file, replayed at start;
                              a PUT is written and fsynced before it is answered 200
  --ack-before-durable        BUG ON PURPOSE (with --data-file): answer PUTs at once and
                              write them to the file only every --flush-every-ms, so a
                              SIGKILL loses acknowledged writes
  --flush-every-ms N          how often --ack-before-durable writes its buffer (default 2000)
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
    /// `--data-file`: the append-only file behind `/kv`.
    pub data_file: Option<PathBuf>,
    /// `--ack-before-durable`: the deliberate durability bug.
    pub ack_before_durable: bool,
    /// `--flush-every-ms`: how often the bug's buffer reaches the file.
    pub flush_every: Duration,
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
            data_file: None,
            ack_before_durable: false,
            flush_every: Duration::from_millis(2000),
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
                "--data-file" => config.data_file = Some(PathBuf::from(value()?)),
                "--ack-before-durable" => match inline {
                    Some(_) => return Err(format!("{flag} takes no value")),
                    None => config.ack_before_durable = true,
                },
                "--flush-every-ms" => match number(&flag, &value()?)? {
                    0 => return Err("--flush-every-ms must be at least 1".to_owned()),
                    ms => config.flush_every = Duration::from_millis(ms),
                },
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        if config.data_file.is_some() && config.redis.is_some() {
            // Values live in one place; two would need a story about which
            // one wins after a restart.
            return Err("--data-file and --redis exclude each other".to_owned());
        }
        if config.ack_before_durable && config.data_file.is_none() {
            return Err("--ack-before-durable needs --data-file".to_owned());
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
    File(FileStore),
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
    // Replay before listening: a client that sees the listening line must
    // already see every value that survived the last run.
    let store = match (config.redis, &config.data_file) {
        (Some(address), _) => Store::Redis(address),
        (None, Some(path)) => Store::File(FileStore::open(path, config.ack_before_durable)?),
        (None, None) => Store::Memory(Mutex::default()),
    };
    let listener = TcpListener::bind((config.bind.as_str(), config.port))?;
    let address = listener.local_addr()?;
    // A `--port 0` user learns the port from this line, so flush it now
    // (stdout is block-buffered when it is a pipe).
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "http-service listening on {address}")?;
    stdout.flush()?;
    drop(stdout);

    let service = Arc::new(Service {
        store,
        requests: AtomicU64::new(0),
        leak_kib_per_request: config.leak_kib_per_request,
        leaked_kib: AtomicU64::new(0),
        leaked: Mutex::default(),
        crash_after: config.crash_after,
    });
    if config.ack_before_durable {
        let service = Arc::clone(&service);
        thread::spawn(move || {
            if let Store::File(store) = &service.store {
                store.flush_periodically(config.flush_every);
            }
        });
    }
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
    /// The client asked to keep the connection (`Connection: keep-alive`).
    keep_alive: bool,
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
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

impl Service {
    /// Serves one connection: one request, or several when the client asks
    /// for `Connection: keep-alive` (simulated users do, so a soak's cost is
    /// not connection setup). An idle connection is closed after 10 s.
    fn handle(&self, mut stream: TcpStream) {
        // A client that connects and stalls must not hold a thread forever.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        // Answers go out as head and body writes; on a kept connection
        // Nagle would hold the body for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        loop {
            let request = match read_request(&mut stream) {
                // Connected and closed without a word: a TCP health probe
                // (or a kept connection the client is done with).
                Ok(None) => return,
                Ok(Some(request)) => request,
                Err(response) => {
                    let _ = write_response(&mut stream, &response, false);
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
            let crash = self.crash_after == Some(n);
            let keep = request.keep_alive && !crash;
            let written = write_response(&mut stream, &response, keep);
            if crash {
                let _ = stream.shutdown(Shutdown::Write);
                eprintln!("http-service: crashing after request {n} (--crash-after)");
                std::process::exit(3);
            }
            if !keep || written.is_err() {
                return;
            }
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
            Store::File(store) => match store.failure() {
                None => Response::text(200, "ok"),
                Some(err) => {
                    eprintln!("http-service: data file: {err}");
                    Response::text(503, "data file failed")
                }
            },
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
            Store::File(store) => Ok(store.get(key)),
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
            Store::File(store) => match store.put(key, value) {
                Ok(()) => Response::text(200, "ok"),
                Err(err) => Response::text(500, &format!("data file: {err}")),
            },
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

/// `/kv` values in memory, backed by an append-only file (`--data-file`).
/// Each PUT appends one line, `key\tvalue\n`, both fields escaped by
/// [`escape`] so a tab or newline in them cannot split the line. At start
/// the file is replayed, the last write of a key winning.
///
/// Lock order is `log`, then `values`: updating the map while still holding
/// the log keeps the two in the same order when PUTs race on one key.
struct FileStore {
    values: Mutex<HashMap<String, Vec<u8>>>,
    log: Mutex<Log>,
    ack_before_durable: bool,
}

struct Log {
    file: File,
    /// Lines already acknowledged but not yet in the file; only
    /// `--ack-before-durable` uses it, and a SIGKILL loses it.
    pending: Vec<u8>,
    /// The first write or fsync error. Writes are refused from then on:
    /// after a failed fsync Linux may have dropped the dirty pages, so a
    /// retry can "succeed" without the data ever reaching the disk.
    failed: Option<String>,
}

impl FileStore {
    fn open(path: &Path, ack_before_durable: bool) -> io::Result<FileStore> {
        let context = |err: io::Error| {
            io::Error::new(err.kind(), format!("--data-file {}: {err}", path.display()))
        };
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        let (mut file, created) = match options.clone().create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                (options.open(path).map_err(context)?, false)
            }
            Err(err) => return Err(context(err)),
        };
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(context)?;
        let replay = replay(&data);
        let torn = data.len() - replay.complete;
        if torn > 0 {
            // A write cut short (a crash mid-append). Cut it off, or the next
            // append would glue onto the fragment and corrupt that next,
            // acknowledged, write.
            file.set_len(replay.complete as u64).map_err(context)?;
            file.sync_data().map_err(context)?;
        }
        if created {
            // A new file's directory entry must be durable too, or a machine
            // crash can lose the whole file along with every fsynced line.
            sync_parent_dir(path).map_err(context)?;
        }
        eprintln!(
            "http-service: data file {}: replayed {} writes of {} keys, skipped {} damaged \
             lines, dropped a torn tail of {torn} bytes",
            path.display(),
            replay.writes,
            replay.values.len(),
            replay.skipped,
        );
        if ack_before_durable {
            eprintln!(
                "http-service: --ack-before-durable: PUTs are acknowledged before they are \
                 durable; a crash loses them (deliberate bug)"
            );
        }
        Ok(FileStore {
            values: Mutex::new(replay.values),
            log: Mutex::new(Log {
                file,
                pending: Vec::new(),
                failed: None,
            }),
            ack_before_durable,
        })
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.values).get(key).cloned()
    }

    /// Stores a value; `Ok` is the promise the 200 makes.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let line = encode_line(key, value);
        let mut guard = lock(&self.log);
        let log = &mut *guard;
        if let Some(err) = &log.failed {
            return Err(format!("refusing writes after an earlier failure: {err}"));
        }
        if self.ack_before_durable {
            // THE BUG, on purpose: the caller answers 200 now, yet the value
            // is only in this process's memory until the next flush. A
            // SIGKILL in between loses writes the client was told are safe.
            log.pending.extend_from_slice(&line);
        } else if let Err(err) = append(&mut log.file, &line) {
            // Durable before acknowledged. Written, the line survives a
            // SIGKILL (the kernel has it); fsynced, it survives a power cut.
            // One fsync per PUT under the lock serializes writers; group
            // commit would batch them, at a price in code an example need
            // not pay.
            let err = err.to_string();
            log.failed = Some(err.clone());
            return Err(err);
        }
        lock(&self.values).insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn failure(&self) -> Option<String> {
        lock(&self.log).failed.clone()
    }

    /// The background half of `--ack-before-durable`: every `every`, moves
    /// the buffered lines to the file. Runs until the process ends.
    fn flush_periodically(&self, every: Duration) {
        loop {
            thread::sleep(every);
            let mut guard = lock(&self.log);
            let log = &mut *guard;
            if log.pending.is_empty() || log.failed.is_some() {
                continue;
            }
            let pending = std::mem::take(&mut log.pending);
            if let Err(err) = append(&mut log.file, &pending) {
                eprintln!("http-service: data file: {err}");
                log.failed = Some(err.to_string());
            }
        }
    }
}

fn append(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_data()
}

fn sync_parent_dir(file: &Path) -> io::Result<()> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// What a data file holds.
#[derive(Debug, Default, PartialEq)]
struct Replay {
    values: HashMap<String, Vec<u8>>,
    /// Lines applied.
    writes: usize,
    /// Complete lines that did not decode. Appends never produce one, so
    /// they mean outside damage; skipping them keeps the rest readable.
    skipped: usize,
    /// Bytes up to the end of the last complete line; anything after is a
    /// torn write and is ignored, even if it happens to decode, since its
    /// value may be cut short.
    complete: usize,
}

fn replay(data: &[u8]) -> Replay {
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut replay = Replay {
        complete,
        ..Replay::default()
    };
    for line in data[..complete].split_inclusive(|&b| b == b'\n') {
        match decode_line(&line[..line.len() - 1]) {
            Some((key, value)) => {
                replay.values.insert(key, value);
                replay.writes += 1;
            }
            None => replay.skipped += 1,
        }
    }
    replay
}

fn encode_line(key: &str, value: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(key.len() + value.len() + 2);
    escape(key.as_bytes(), &mut line);
    line.push(b'\t');
    escape(value, &mut line);
    line.push(b'\n');
    line
}

fn decode_line(line: &[u8]) -> Option<(String, Vec<u8>)> {
    let tab = line.iter().position(|&b| b == b'\t')?;
    let key = String::from_utf8(unescape(&line[..tab])?).ok()?;
    Some((key, unescape(&line[tab + 1..])?))
}

/// Percent-escapes `%` and every ASCII control byte (tab, CR, LF among
/// them) as `%XX`; everything else, UTF-8 included, stays readable.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b == b'%' || b.is_ascii_control() {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

/// The inverse of [`escape`]; `None` for anything it cannot have written.
fn unescape(field: &[u8]) -> Option<Vec<u8>> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let high = hex(bytes.next()?)?;
                let low = hex(bytes.next()?)?;
                out.push(high << 4 | low);
            }
            b if b.is_ascii_control() => return None,
            b => out.push(b),
        }
    }
    Some(out)
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
    let mut keep_alive = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Response::text(400, "bad header line"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| Response::text(400, "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = value.eq_ignore_ascii_case("keep-alive");
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
        keep_alive,
    }))
}

fn write_response(stream: &mut TcpStream, response: &Response, keep_alive: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// One Redis command on a fresh connection. A connection per request is
/// slow but leaves nothing to repair when Redis restarts under a fault.
/// An error reply (`-ERR …`) comes back as an `Err`, like a network error:
/// either way the request failed.
fn redis(address: &str, args: &[&[u8]]) -> io::Result<Reply> {
    let mut stream = connect(address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(&resp::encode(args))?;
    match resp::read_reply(&mut BufReader::new(stream))? {
        Reply::Error(err) => Err(io::Error::other(format!("error reply: {err}"))),
        reply => Ok(reply),
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
            "--ack-before-durable",
            "--data-file",
            "--data-file kv.log --redis 127.0.0.1:6379",
            "--data-file kv.log --ack-before-durable=yes",
            "--data-file kv.log --flush-every-ms 0",
        ] {
            assert!(Config::parse(args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn durability_flags() {
        let config = Config::parse(args("--data-file /tmp/kv.log")).unwrap();
        assert_eq!(config.data_file, Some(PathBuf::from("/tmp/kv.log")));
        assert!(!config.ack_before_durable);
        assert_eq!(config.flush_every, Duration::from_secs(2));
        let config = Config::parse(args(
            "--ack-before-durable --data-file=kv.log --flush-every-ms 250",
        ))
        .unwrap();
        assert!(config.ack_before_durable);
        assert_eq!(config.flush_every, Duration::from_millis(250));
    }

    #[test]
    fn lines_escape_separators_and_round_trip_any_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let line = encode_line("a\tb%c\nd é", &all);
        assert_eq!(line.iter().filter(|&&b| b == b'\t').count(), 1);
        assert_eq!(line.iter().position(|&b| b == b'\n'), Some(line.len() - 1));
        assert!(line.starts_with(b"a%09b%25c%0Ad \xc3\xa9\t"));
        assert_eq!(
            decode_line(&line[..line.len() - 1]),
            Some(("a\tb%c\nd é".to_owned(), all))
        );
        assert_eq!(decode_line(b"k\t"), Some(("k".to_owned(), Vec::new())));
        for bad in [
            &b"no tab"[..],
            b"k\tv%",
            b"k\tv%4",
            b"k\tv%zz",
            b"k\tv\tw",
            b"%ff\tv",
        ] {
            assert_eq!(decode_line(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn replay_keeps_the_last_write_and_ignores_a_torn_tail() {
        let data = b"a\t1\nb\t2\ngarbage\na\t3\nc\t4";
        let replay = replay(data);
        assert_eq!(replay.writes, 3);
        assert_eq!(replay.skipped, 1);
        assert_eq!(replay.complete, data.len() - 3);
        assert_eq!(
            replay.values,
            HashMap::from([
                ("a".to_owned(), b"3".to_vec()),
                ("b".to_owned(), b"2".to_vec())
            ])
        );
        assert_eq!(super::replay(b"").complete, 0);
        assert_eq!(super::replay(b"torn\t").values, HashMap::new());
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
    fn responses() {
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nnot found"),
            Some((404, b"not found".to_vec()))
        );
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
