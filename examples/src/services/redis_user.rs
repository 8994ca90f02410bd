//! `redis-user`: a `gauntlet soak` user program for Redis. It turns JSON
//! line requests on stdin into Redis commands and answers each with one JSON
//! line on stdout:
//!
//! ```text
//! {"op":"write","key":"k17","value":"v-3-42"}  ->  {"ok":true}
//! {"op":"read","key":"k17"}                    ->  {"ok":true,"value":"v-3-42"}   (or null)
//! anything else, or any failure                ->  {"ok":false,"error":"…"}
//! ```
//!
//! The soak journals a write as acknowledged only on `"ok":true`, so that
//! answer must mean Redis said `+OK`; everything else, including a request
//! cut off mid-way whose effect is unknown, is `"ok":false`. One answer per
//! line, always: the soak waits for it, and bad input never ends the
//! program. It exits 0 at the end of stdin.
//!
//! One connection, reopened lazily after any failure, and no retries: a
//! retried SET could succeed where the first one had already taken effect,
//! and the soak, not this program, decides what a failure means.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::resp::{self, Reply};

pub const USAGE: &str = "\
usage: redis-user --redis HOST:PORT [--timeout-ms N]

  --redis HOST:PORT   the Redis to talk to (required)
  --timeout-ms N      per-request limit, connecting included (default 2000)

Reads one JSON request per line on stdin and answers each with one line on stdout:
  {\"op\":\"write\",\"key\":K,\"value\":V}  SET K V   -> {\"ok\":true}
  {\"op\":\"read\",\"key\":K}               GET K     -> {\"ok\":true,\"value\":V or null}
Failures answer {\"ok\":false,\"error\":\"...\"}. Exits 0 at the end of stdin.";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub redis: String,
    pub timeout: Duration,
}

impl Config {
    /// Parses the flags (without the program name). Accepts `--flag value`
    /// and `--flag=value`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let mut redis = None;
        let mut timeout = Duration::from_millis(2000);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
                _ => (arg.clone(), None),
            };
            let value = inline
                .map(str::to_owned)
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--redis" => redis = Some(value),
                "--timeout-ms" => match value.parse::<u64>() {
                    Ok(0) => return Err("--timeout-ms must be at least 1".to_owned()),
                    Ok(ms) => timeout = Duration::from_millis(ms),
                    Err(_) => return Err(format!("--timeout-ms: not a valid number: {value:?}")),
                },
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(Config {
            redis: redis.ok_or("--redis HOST:PORT is required")?,
            timeout,
        })
    }
}

/// The program.
pub fn main() -> ExitCode {
    ExitCode::from(run(std::env::args().skip(1).collect()))
}

/// [`main`] with its arguments given (`gauntlet example-node redis-user ARGS`).
pub fn run(args: Vec<String>) -> u8 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return 0;
    }
    let config = match Config::parse(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("redis-user: {err}\n\n{USAGE}");
            return 2;
        }
    };
    let mut client = Client::new(config.redis, config.timeout);
    match serve(io::stdin().lock(), io::stdout().lock(), &mut client) {
        Ok(()) => 0,
        Err(err) => {
            // stdin or stdout broke: the soak is gone, nobody to answer.
            eprintln!("redis-user: {err}");
            1
        }
    }
}

/// Answers every request line of `input` with one line on `output`, until
/// `input` ends. Errors only when `input` or `output` fails.
pub fn serve(
    mut input: impl BufRead,
    mut output: impl Write,
    client: &mut Client,
) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let answer = client.answer(&line);
        serde_json::to_writer(&mut output, &answer)?;
        output.write_all(b"\n")?;
        // The soak waits for this line before it sends the next request.
        output.flush()?;
    }
}

/// A request line, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Write { key: String, value: String },
    Read { key: String },
}

fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the request is not UTF-8".to_owned())?;
    let request: Value = serde_json::from_str(text.trim_end_matches(['\n', '\r']))
        .map_err(|err| format!("bad JSON: {err}"))?;
    let Some(fields) = request.as_object() else {
        return Err("the request must be a JSON object".to_owned());
    };
    let string = |name: &str| match fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("\"{name}\" must be a string")),
        None => Err(format!("missing \"{name}\"")),
    };
    match string("op")?.as_str() {
        "write" => Ok(Request::Write {
            key: string("key")?,
            value: string("value")?,
        }),
        "read" => Ok(Request::Read {
            key: string("key")?,
        }),
        op => Err(format!("unknown op {op:?}: expected \"write\" or \"read\"")),
    }
}

fn failure(error: impl Into<String>) -> Value {
    json!({"ok": false, "error": error.into()})
}

/// One Redis connection, opened on demand and dropped after any failure.
pub struct Client {
    address: String,
    timeout: Duration,
    connection: Option<BufReader<DeadlineStream>>,
}

impl Client {
    pub fn new(address: String, timeout: Duration) -> Client {
        Client {
            address,
            timeout,
            connection: None,
        }
    }

    /// The answer to one request line.
    pub fn answer(&mut self, line: &[u8]) -> Value {
        let request = match parse_request(line) {
            Ok(request) => request,
            Err(err) => return failure(err),
        };
        let reply = match &request {
            Request::Write { key, value } => {
                self.command(&[b"SET", key.as_bytes(), value.as_bytes()])
            }
            Request::Read { key } => self.command(&[b"GET", key.as_bytes()]),
        };
        let answer = match (&request, reply) {
            (Request::Write { .. }, Ok(Reply::Simple(ok))) if ok == "OK" => json!({"ok": true}),
            // Lossy: a value that is not UTF-8 cannot be one this program
            // wrote, and its lossy text shows the soak a wrong value (a
            // violation) rather than an unreadable key (no verdict).
            (Request::Read { .. }, Ok(Reply::Bulk(value))) => {
                json!({"ok": true, "value": String::from_utf8_lossy(&value)})
            }
            (Request::Read { .. }, Ok(Reply::Nil)) => json!({"ok": true, "value": null}),
            (_, Ok(Reply::Error(err))) => failure(format!("redis: {err}")),
            (_, Ok(other)) => failure(format!("unexpected reply {other:?}")),
            (_, Err(err)) => failure(self.describe(&err)),
        };
        // Failures only: a line per success would drown the soak's logs.
        if answer["ok"] != true {
            eprintln!("redis-user: {request:?} -> {}", answer["error"]);
        }
        answer
    }

    /// Sends one command and reads its reply, all within the timeout.
    /// A Redis error reply is `Ok(Reply::Error)`: the connection is fine.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let deadline = Instant::now() + self.timeout;
        // Taken out, and put back only after a complete exchange: after a
        // failure the stream may still hold a late or partial reply, which
        // the next request would read as its own answer.
        let mut connection = match self.connection.take() {
            Some(mut connection) => {
                connection.get_mut().deadline = deadline;
                connection
            }
            None => {
                let stream = connect(&self.address, deadline)?;
                eprintln!("redis-user: connected to {}", self.address);
                BufReader::new(DeadlineStream { stream, deadline })
            }
        };
        connection.get_mut().write_all(&resp::encode(args))?;
        let reply = resp::read_reply(&mut connection)?;
        self.connection = Some(connection);
        Ok(reply)
    }

    fn describe(&self, err: &io::Error) -> String {
        match err.kind() {
            // A socket timeout surfaces as EAGAIN (`WouldBlock`) on Unix.
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                format!("{}: timed out after {:?}", self.address, self.timeout)
            }
            io::ErrorKind::ConnectionRefused => format!("{}: connection refused", self.address),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                format!("{}: connection lost: {err}", self.address)
            }
            _ => format!("{}: {err}", self.address),
        }
    }
}

/// A TCP stream whose reads and writes must all finish by `deadline`.
/// Socket timeouts bound a single call; setting them to the time left
/// before every call bounds the whole request, however many reads its
/// reply takes.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    fn time_left(&self) -> io::Result<Duration> {
        time_left(self.deadline)
    }
}

fn time_left(deadline: Instant) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.time_left()?))?;
        self.stream.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.time_left()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn connect(address: &str, deadline: Instant) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, time_left(deadline)?) {
            Ok(stream) => {
                // Requests are single small writes answered before the next
                // one; Nagle's delay would only add latency.
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(err) => last = err,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags() {
        assert_eq!(
            Config::parse(args("--redis 127.0.0.1:6379")).unwrap(),
            Config {
                redis: "127.0.0.1:6379".into(),
                timeout: Duration::from_secs(2),
            }
        );
        let config = Config::parse(args("--timeout-ms=250 --redis=db:6379")).unwrap();
        assert_eq!(config.timeout, Duration::from_millis(250));
        assert_eq!(config.redis, "db:6379");
        for bad in [
            "",
            "--redis",
            "--timeout-ms 100",
            "--redis r:1 --timeout-ms 0",
            "--redis r:1 --timeout-ms soon",
            "--redis r:1 --frobnicate 1",
        ] {
            assert!(Config::parse(args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests() {
        assert_eq!(
            parse_request(br#"{"op":"write","key":"k","value":"a b\nc","extra":1}"#),
            Ok(Request::Write {
                key: "k".into(),
                value: "a b\nc".into()
            })
        );
        assert_eq!(
            parse_request(b"{\"op\":\"read\",\"key\":\"k\"}\r\n"),
            Ok(Request::Read { key: "k".into() })
        );
        for (bad, why) in [
            (&b""[..], "bad JSON"),
            (b"\n", "bad JSON"),
            (b"not json", "bad JSON"),
            (b"[1]", "JSON object"),
            (b"{}", "missing \"op\""),
            (br#"{"op":7}"#, "\"op\" must be a string"),
            (br#"{"op":"delete","key":"k"}"#, "unknown op \"delete\""),
            (br#"{"op":"write","key":"k"}"#, "missing \"value\""),
            (
                br#"{"op":"write","key":"k","value":3}"#,
                "\"value\" must be",
            ),
            (br#"{"op":"read"}"#, "missing \"key\""),
            (b"{\"op\":\"read\",\"key\":\"\xff\"}", "not UTF-8"),
        ] {
            let err = parse_request(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn serve_answers_every_line_and_stops_at_eof() {
        // Nothing listens on port 1: every Redis request fails, and fast.
        let mut client = Client::new("127.0.0.1:1".into(), Duration::from_millis(500));
        let input = &b"garbage\n{\"op\":\"read\",\"key\":\"k\"}\n{\"op\":\"nope\"}"[..];
        let mut output = Vec::new();
        serve(input, &mut output, &mut client).unwrap();
        let answers: Vec<Value> = output
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(answers.len(), 3, "{}", String::from_utf8_lossy(&output));
        for answer in &answers {
            assert_eq!(answer["ok"], false, "{answer}");
            assert!(answer["error"].is_string(), "{answer}");
        }
        assert!(answers[1]["error"].as_str().unwrap().contains("refused"));
    }
}
