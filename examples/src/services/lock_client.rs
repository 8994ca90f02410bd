//! `lock-client`: the cluster-test client of [`lock_server`](super::lock_server).
//! It speaks gauntlet's op protocol (`gauntlet_client::protocol`) on
//! stdin and stdout and the lock server's JSON lines over TCP:
//!
//! ```text
//! {"f":"acquire","key":3}  ->  {"type":"ok"}
//!                              {"type":"fail","error":"held by c4711-9f2e-0"}
//! {"f":"release","key":3}  ->  {"type":"ok"}
//!                              {"type":"fail","error":"not held by this client (holder: ...)"}
//! ```
//!
//! `fail` when the request certainly had no effect: refused (the lock is
//! someone else's), an error answer (the server changed nothing), or the
//! request never went out (the connection refused or timed out while
//! connecting, or broken before a byte of the request was written).
//! `info` when it may have: no answer within `--timeout` (default 1 s), or
//! the connection lost after the request was sent. After an error it
//! connects afresh for the next request; a connection the server closed
//! meanwhile (killed, restarted) is noticed before a request is written on
//! it, so a restart costs no `info`.
//!
//! The client names itself to the server with an id of its own process
//! (`c<pid>-<random>-<n>`), and takes the next `<n>` after every `info` it
//! answers: gauntlet gives the worker a new process number then, and the
//! id must name the history's process, or the new process would be granted
//! the locks the old one may hold. Exits 0 at the end of stdin.
//!
//! ```text
//! gauntlet example-node lock-client --endpoint 10.75.0.2:7000 [--timeout 1s]
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::lock_server::MAX_LINE;

pub const USAGE: &str = "\
usage: lock-client --endpoint ADDR:PORT [--timeout 1s]

  --endpoint ADDR:PORT  the lock server
  --timeout T           each request's limit, connecting included: 1s, 500ms or seconds (default 1s)";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub endpoint: String,
    pub timeout: Duration,
}

impl Config {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let (mut endpoint, mut timeout) = (None, Duration::from_secs(1));
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--endpoint" => endpoint = Some(value()?),
                "--timeout" => {
                    let text = value()?;
                    timeout = duration(&text).filter(|t| !t.is_zero()).ok_or_else(|| {
                        format!("--timeout: not a time such as 1s or 500ms: {text:?}")
                    })?;
                }
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(Config {
            endpoint: endpoint.ok_or("--endpoint ADDR:PORT is required")?,
            timeout,
        })
    }
}

/// `1s`, `500ms`, `1.5` (seconds).
fn duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let secs = number.parse::<f64>().ok()? * scale;
    Duration::try_from_secs_f64(secs).ok()
}

/// A request that went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Trouble {
    /// It never reached the server: `fail`.
    NotSent(String),
    /// It may have: `info`.
    Unknown(String),
}

/// An op line as the lock server's request: `(op, lock)`, or the `fail`
/// answer to give.
pub fn parse_op(line: &str) -> Result<(&'static str, u64), Value> {
    let fail = |why: &str| json!({"type": "fail", "error": why});
    let op: Value = serde_json::from_str(line).map_err(|_| fail("not JSON"))?;
    let f = match op.get("f").and_then(Value::as_str) {
        Some("acquire") => "acquire",
        Some("release") => "release",
        _ => return Err(fail("f must be acquire or release")),
    };
    let lock = op
        .get("key")
        .and_then(Value::as_u64)
        .ok_or_else(|| fail("key must be a lock number"))?;
    Ok((f, lock))
}

/// The answer to an op, from what the server said or what went wrong.
pub fn answer(f: &str, said: Result<Value, Trouble>) -> Value {
    match said {
        Ok(v) if v["ok"] == true => json!({"type": "ok"}),
        Ok(v) if v.get("holder").is_some() => {
            let holder = match &v["holder"] {
                Value::String(h) => h.clone(),
                _ => "none".to_owned(),
            };
            let error = if f == "acquire" {
                format!("held by {holder}")
            } else {
                format!("not held by this client (holder: {holder})")
            };
            json!({"type": "fail", "error": error})
        }
        // The server changes nothing when it answers an error.
        Ok(v) if v["error"].is_string() => {
            json!({"type": "fail", "error": format!("server: {}", v["error"].as_str().unwrap_or(""))})
        }
        Ok(v) => json!({"type": "info", "error": format!("unexpected answer {v}")}),
        Err(Trouble::NotSent(e)) => json!({"type": "fail", "error": e}),
        Err(Trouble::Unknown(e)) => json!({"type": "info", "error": e}),
    }
}

struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    /// Whether the server closed it (or sent what nobody asked for) since
    /// the last answer: a request written on it would be lost, and look
    /// indeterminate.
    fn is_stale(&self) -> bool {
        if !self.reader.buffer().is_empty() || self.writer.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let stale =
            !matches!(self.writer.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        self.writer.set_nonblocking(false).is_err() || stale
    }
}

/// The client: its connection and its name.
pub struct Client {
    config: Config,
    conn: Option<Connection>,
    name: String,
    generation: u64,
}

impl Client {
    pub fn new(config: Config) -> Client {
        let tag = crate::random_u64() as u16;
        Client {
            config,
            conn: None,
            name: format!("c{}-{tag:04x}", std::process::id()),
            generation: 0,
        }
    }

    /// The id the server knows this client's current process by.
    pub fn id(&self) -> String {
        format!("{}-{}", self.name, self.generation)
    }

    /// Answers one op line.
    pub fn apply(&mut self, line: &str) -> Value {
        let (f, lock) = match parse_op(line) {
            Ok(op) => op,
            Err(fail) => return fail,
        };
        let request = json!({"op": f, "lock": lock, "client": self.id()});
        let said = self.call(&request);
        if said.is_err() {
            self.conn = None;
        }
        let answer = answer(f, said);
        if answer["type"] == "info" {
            // A new process in the history: a new name at the server.
            self.generation += 1;
        }
        answer
    }

    fn call(&mut self, request: &Value) -> Result<Value, Trouble> {
        let deadline = Instant::now() + self.config.timeout;
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        if self.conn.as_ref().is_some_and(Connection::is_stale) {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect(left())?,
        };
        let conn = self.conn.insert(conn);
        let line = format!("{request}\n");
        let bytes = line.as_bytes();
        let sent = |e: io::Error| Trouble::Unknown(format!("sending: {e}"));
        conn.writer.set_write_timeout(Some(left())).map_err(sent)?;
        // A write that fails before any byte is taken sent nothing.
        let n = conn
            .writer
            .write(bytes)
            .map_err(|e| Trouble::NotSent(format!("not sent: {e}")))?;
        if n == 0 {
            return Err(Trouble::NotSent(
                "not sent: the connection took nothing".into(),
            ));
        }
        conn.writer.write_all(&bytes[n..]).map_err(sent)?;
        conn.reader
            .get_ref()
            .set_read_timeout(Some(left()))
            .map_err(|e| Trouble::Unknown(format!("waiting for the answer: {e}")))?;
        let mut buf = Vec::new();
        let got = (&mut conn.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf);
        match got {
            Ok(_) if buf.last() == Some(&b'\n') => serde_json::from_slice(&buf)
                .map_err(|_| Trouble::Unknown("the answer is not JSON".into())),
            Ok(0) => Err(Trouble::Unknown(
                "the connection closed after the request was sent".into(),
            )),
            Ok(_) => Err(Trouble::Unknown("a partial or overlong answer".into())),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Trouble::Unknown(format!(
                    "no answer within {} ms",
                    self.config.timeout.as_millis()
                )))
            }
            Err(e) => Err(Trouble::Unknown(format!("waiting for the answer: {e}"))),
        }
    }

    /// A fresh connection; whatever goes wrong, nothing was sent.
    fn connect(&self, limit: Duration) -> Result<Connection, Trouble> {
        let not_sent = |e: io::Error| Trouble::NotSent(format!("connecting: {e}"));
        let addr = self
            .config
            .endpoint
            .to_socket_addrs()
            .map_err(not_sent)?
            .next()
            .ok_or_else(|| Trouble::NotSent(format!("{}: no address", self.config.endpoint)))?;
        let stream = TcpStream::connect_timeout(&addr, limit).map_err(not_sent)?;
        stream.set_nodelay(true).map_err(not_sent)?;
        Ok(Connection {
            reader: BufReader::new(stream.try_clone().map_err(not_sent)?),
            writer: stream,
        })
    }
}

pub fn main() -> ExitCode {
    run(std::env::args().skip(1).collect())
}

pub fn run(args: Vec<String>) -> ExitCode {
    let config = match Config::parse(args) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("lock-client: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut client = Client::new(config);
    eprintln!("lock-client {} to {}", client.id(), client.config.endpoint);
    let (mut ok, mut fail, mut info) = (0u64, 0u64, 0u64);
    let stdin = io::stdin();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let answer = client.apply(&line);
        match answer["type"].as_str() {
            Some("ok") => ok += 1,
            Some("fail") => fail += 1,
            _ => {
                info += 1;
                eprintln!(
                    "lock-client: info ({}); now {}",
                    answer["error"],
                    client.id()
                );
            }
        }
        // One answer per request, flushed: gauntlet waits for it.
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    eprintln!(
        "lock-client {}: {ok} ok, {fail} fail, {info} info",
        client.id()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn ops_become_requests_or_fail() {
        assert_eq!(parse_op(r#"{"f":"acquire","key":3}"#), Ok(("acquire", 3)));
        assert_eq!(parse_op(r#"{"f":"release","key":0}"#), Ok(("release", 0)));
        for bad in [
            "x",
            r#"{"f":"read","key":3}"#,
            r#"{"f":"acquire","key":"k3"}"#,
            r#"{"f":"acquire"}"#,
        ] {
            assert_eq!(parse_op(bad).unwrap_err()["type"], "fail", "{bad}");
        }
    }

    #[test]
    fn what_the_server_said_becomes_the_answer() {
        let ok = |v: Value| answer("acquire", Ok(v));
        assert_eq!(ok(json!({"ok": true})), json!({"type": "ok"}));
        assert_eq!(
            ok(json!({"ok": false, "holder": "c1-0"})),
            json!({"type": "fail", "error": "held by c1-0"})
        );
        assert_eq!(
            answer("release", Ok(json!({"ok": false, "holder": null}))),
            json!({"type": "fail", "error": "not held by this client (holder: none)"})
        );
        assert_eq!(ok(json!({"ok": false, "error": "x"}))["type"], "fail");
        assert_eq!(ok(json!({"ok": "maybe"}))["type"], "info");
        assert_eq!(
            answer("acquire", Err(Trouble::NotSent("refused".into())))["type"],
            "fail"
        );
        assert_eq!(
            answer("release", Err(Trouble::Unknown("timeout".into())))["type"],
            "info"
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(duration("soon"), None);
        let parse = |a: &[&str]| Config::parse(a.iter().map(|s| s.to_string()));
        assert_eq!(
            parse(&["--endpoint", "h:1"]).unwrap().timeout,
            Duration::from_secs(1)
        );
        assert!(parse(&["--endpoint", "h:1", "--timeout", "0s"]).is_err());
        assert!(parse(&[]).is_err());
    }

    /// A listener that answers each request line with `answer`, and
    /// closes each connection after `per_connection` of them.
    fn fake_server(answer: &'static str, per_connection: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for _ in 0..per_connection {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if !answer.is_empty() {
                        let _ = stream.write_all(format!("{answer}\n").as_bytes());
                    }
                }
            }
        });
        addr
    }

    fn client(endpoint: String) -> Client {
        Client::new(Config {
            endpoint,
            timeout: Duration::from_millis(300),
        })
    }

    #[test]
    fn a_closed_connection_is_replaced_before_a_request_is_lost_on_it() {
        // One answer per connection: every second request would be written
        // on a connection the server has closed.
        let mut c = client(fake_server(r#"{"ok":true}"#, 1));
        let id = c.id();
        for _ in 0..5 {
            assert_eq!(c.apply(r#"{"f":"acquire","key":1}"#), json!({"type": "ok"}));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(c.id(), id, "no info, no new name");
    }

    #[test]
    fn refused_is_fail_and_silence_is_info_with_a_new_name() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = client(format!("127.0.0.1:{port}"));
        let id = c.id();
        assert_eq!(c.apply(r#"{"f":"acquire","key":1}"#)["type"], "fail");
        assert_eq!(c.id(), id);
        let mut c = client(fake_server("", 10));
        let id = c.id();
        let started = Instant::now();
        assert_eq!(c.apply(r#"{"f":"release","key":1}"#)["type"], "info");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_ne!(c.id(), id, "a new process, a new name");
    }
}
