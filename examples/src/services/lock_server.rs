//! `lock-server`: an example lock service for cluster tests, with a bug to
//! switch on. Locks are numbers; a client names itself in each request.
//! One JSON line per request over TCP, one line back:
//!
//! ```text
//! {"op":"acquire","lock":3,"client":"c1"}  ->  {"ok":true}   (free, or already c1's)
//!                                              {"ok":false,"holder":"c2"}
//! {"op":"release","lock":3,"client":"c1"}  ->  {"ok":true}   (it was c1's; now free)
//!                                              {"ok":false,"holder":"c2"}  (or null: free)
//! anything else                            ->  {"ok":false,"error":"..."}
//! ```
//!
//! An error answer changed nothing. Correct (the default), it keeps the
//! holder table in `DIR/locks.json`, written to a temporary file, fsynced
//! and renamed over the old one *before* it answers a grant or a release,
//! and reads it back at start: a SIGKILL and a restart forget nothing.
//! `--forgetful` is the deliberate bug: the table lives in memory only, so
//! after a kill the server has forgotten who holds what and grants a held
//! lock again — two clients hold it at once, which
//! `examples/python/one_holder.py` finds in the history.
//!
//! ```text
//! gauntlet example-node lock-server --listen 10.75.0.2:7000 --data DIR [--forgetful]
//! ```
//!
//! It binds only the address given. Bounded: a request line of at most
//! [`MAX_LINE`] bytes (a longer one is answered with an error and the
//! connection closed), [`MAX_CONNECTIONS`] connections at once (more are
//! closed at once), [`MAX_LOCKS`] locks held at once, client names of at
//! most [`MAX_CLIENT`] bytes, and idle connections closed after a minute.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

pub const USAGE: &str = "\
usage: lock-server --listen ADDR:PORT --data DIR [--forgetful]

  --listen ADDR:PORT  the one address to listen on
  --data DIR          where the holder table is kept (DIR/locks.json), across restarts
  --forgetful         BUG ON PURPOSE: keep the table in memory only, so a restart
                      forgets every holder and grants held locks again";

/// The longest request line, newline included.
pub const MAX_LINE: usize = 4096;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Locks held at once.
pub const MAX_LOCKS: usize = 10_000;
/// The longest client name.
pub const MAX_CLIENT: usize = 128;
/// A connection that sends nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(60);
/// The holder table's file in `--data`.
const TABLE_FILE: &str = "locks.json";

/// Who holds each held lock.
pub type Table = BTreeMap<u64, String>;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: String,
    pub data: PathBuf,
    pub forgetful: bool,
}

impl Config {
    /// Parses the flags (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let (mut listen, mut data, mut forgetful) = (None, None, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--listen" => listen = Some(value()?),
                "--data" => data = Some(PathBuf::from(value()?)),
                "--forgetful" => forgetful = true,
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(Config {
            listen: listen.ok_or("--listen ADDR:PORT is required")?,
            data: data.ok_or("--data DIR is required")?,
            forgetful,
        })
    }
}

/// One request line against `table`: the answer, and whether the table
/// changed (and must be made durable before the answer goes out). An
/// answer with `error` leaves the table as it was.
pub fn handle(table: &mut Table, line: &str) -> (Value, bool) {
    let error = |why: &str| (json!({"ok": false, "error": why}), false);
    let Ok(req) = serde_json::from_str::<Value>(line) else {
        return error("not JSON");
    };
    let Some(lock) = req.get("lock").and_then(Value::as_u64) else {
        return error("\"lock\" must be a non-negative integer");
    };
    let client = match req.get("client").and_then(Value::as_str) {
        Some(c) if !c.is_empty() && c.len() <= MAX_CLIENT => c,
        _ => return error("\"client\" must be a name of 1 to 128 bytes"),
    };
    let granted = (json!({"ok": true}), true);
    match (req.get("op").and_then(Value::as_str), table.get(&lock)) {
        (Some("acquire"), None) if table.len() >= MAX_LOCKS => error("too many locks held"),
        (Some("acquire"), None) => {
            table.insert(lock, client.to_owned());
            granted
        }
        // Acquiring a lock one holds already is granted, and changes nothing.
        (Some("acquire"), Some(h)) if h == client => (json!({"ok": true}), false),
        (Some("release"), Some(h)) if h == client => {
            table.remove(&lock);
            granted
        }
        (Some("acquire" | "release"), holder) => (json!({"ok": false, "holder": holder}), false),
        _ => error("\"op\" must be \"acquire\" or \"release\""),
    }
}

/// The holder table as its file holds it: `[[lock, holder], ...]`.
fn to_json(table: &Table) -> String {
    let pairs: Vec<Value> = table.iter().map(|(l, h)| json!([l, h])).collect();
    Value::Array(pairs).to_string() + "\n"
}

fn from_json(text: &str) -> Result<Table, String> {
    let pairs: Vec<(u64, String)> =
        serde_json::from_str(text).map_err(|e| format!("not a holder table: {e}"))?;
    Ok(pairs.into_iter().collect())
}

/// Writes the table to `dir/locks.json` durably: a temporary file,
/// fsynced, renamed over the old one, the directory fsynced.
fn persist(dir: &Path, table: &Table) -> io::Result<()> {
    let tmp = dir.join(format!("{TABLE_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(to_json(table).as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(TABLE_FILE))?;
    // The rename is done; a failed directory fsync cannot undo it, so it
    // is not reported as a failure to persist.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The table `dir` holds, empty when there is none yet.
fn load(dir: &Path) -> Result<Table, String> {
    let path = dir.join(TABLE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => from_json(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Table::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

struct Server {
    table: Mutex<Table>,
    /// Where the table is kept; `None` when forgetful.
    dir: Option<PathBuf>,
}

impl Server {
    /// Answers one request; a change is durable before it is answered.
    /// Requests are served one at a time, so grants reach the file in the
    /// order they are answered.
    fn answer(&self, line: &str) -> Value {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let before = self.dir.as_ref().map(|_| table.clone());
        let (answer, changed) = handle(&mut table, line);
        if let (true, Some(dir), Some(before)) = (changed, &self.dir, before)
            && let Err(e) = persist(dir, &table)
        {
            *table = before;
            return json!({"ok": false, "error": format!("cannot keep the table: {e}")});
        }
        answer
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes: `Ok(None)` at the end of
/// the stream (a partial last line included), `Err` for a longer one.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
    buf.clear();
    reader.take(MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    match buf.last() {
        Some(b'\n') => Ok(Some(())),
        _ if buf.len() > MAX_LINE => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request line too long",
        )),
        _ => Ok(None),
    }
}

fn serve(server: &Server, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut buf = Vec::new();
    loop {
        let answer = match read_line(&mut reader, &mut buf) {
            Ok(Some(())) => match std::str::from_utf8(&buf) {
                Ok(line) => server.answer(line.trim_end()),
                Err(_) => json!({"ok": false, "error": "not UTF-8"}),
            },
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let answer = json!({"ok": false, "error": e.to_string()});
                writer.write_all(format!("{answer}\n").as_bytes())?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        writer.write_all(format!("{answer}\n").as_bytes())?;
    }
}

/// Counts a connection while it is served.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn main() -> ExitCode {
    run(std::env::args().skip(1).collect())
}

pub fn run(args: Vec<String>) -> ExitCode {
    let config = match Config::parse(args) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("lock-server: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let table = if config.forgetful {
        Table::new()
    } else {
        if let Err(e) = std::fs::create_dir_all(&config.data) {
            eprintln!("lock-server: {}: {e}", config.data.display());
            return ExitCode::FAILURE;
        }
        // A table that cannot be read is not started from empty: that
        // would be the forgetful server's bug.
        match load(&config.data) {
            Ok(t) => t,
            Err(why) => {
                eprintln!("lock-server: {why}");
                return ExitCode::FAILURE;
            }
        }
    };
    let listener = match TcpListener::bind(&config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lock-server: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "lock-server listening on {} ({}; {} locks held)",
        config.listen,
        if config.forgetful {
            "FORGETFUL: the table is in memory only".to_owned()
        } else {
            format!("the table in {}", config.data.join(TABLE_FILE).display())
        },
        table.len()
    );
    let server = Arc::new(Server {
        table: Mutex::new(table),
        dir: (!config.forgetful).then_some(config.data),
    });
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let mut stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, say: wait, then go on.
                eprintln!("lock-server: accept: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(b"{\"ok\":false,\"error\":\"too many connections\"}\n");
            continue;
        }
        let slot = Slot(active.clone());
        let server = server.clone();
        let spawned = thread::Builder::new()
            .name("lock-conn".into())
            .spawn(move || {
                let _slot = slot;
                if let Err(e) = serve(&server, stream) {
                    eprintln!("lock-server: connection: {e}");
                }
            });
        if let Err(e) = spawned {
            eprintln!("lock-server: cannot serve a connection: {e}");
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(table: &mut Table, op: &str, lock: u64, client: &str) -> (Value, bool) {
        handle(
            table,
            &json!({"op": op, "lock": lock, "client": client}).to_string(),
        )
    }

    #[test]
    fn one_holder_per_lock_and_only_the_holder_releases() {
        let mut t = Table::new();
        assert_eq!(ask(&mut t, "acquire", 3, "a"), (json!({"ok": true}), true));
        // Held: refused, naming the holder; again by the holder: granted,
        // nothing changes.
        assert_eq!(
            ask(&mut t, "acquire", 3, "b"),
            (json!({"ok": false, "holder": "a"}), false)
        );
        assert_eq!(ask(&mut t, "acquire", 3, "a"), (json!({"ok": true}), false));
        assert_eq!(
            ask(&mut t, "release", 3, "b"),
            (json!({"ok": false, "holder": "a"}), false)
        );
        assert_eq!(ask(&mut t, "acquire", 4, "b"), (json!({"ok": true}), true));
        assert_eq!(ask(&mut t, "release", 3, "a"), (json!({"ok": true}), true));
        assert_eq!(
            ask(&mut t, "release", 3, "a"),
            (json!({"ok": false, "holder": null}), false)
        );
        assert_eq!(ask(&mut t, "acquire", 3, "b"), (json!({"ok": true}), true));
        assert_eq!(t, Table::from([(3, "b".to_owned()), (4, "b".to_owned())]));
    }

    #[test]
    fn bad_requests_are_errors_that_change_nothing() {
        let mut t = Table::from([(1, "a".to_owned())]);
        let long = "x".repeat(MAX_CLIENT + 1);
        for line in [
            "nope".to_owned(),
            r#"{"op":"acquire","client":"a"}"#.to_owned(),
            r#"{"op":"acquire","lock":-1,"client":"a"}"#.to_owned(),
            r#"{"op":"acquire","lock":"1","client":"a"}"#.to_owned(),
            r#"{"op":"acquire","lock":2}"#.to_owned(),
            r#"{"op":"acquire","lock":2,"client":""}"#.to_owned(),
            json!({"op": "acquire", "lock": 2, "client": long}).to_string(),
            r#"{"op":"steal","lock":1,"client":"b"}"#.to_owned(),
            r#"{"lock":1,"client":"b"}"#.to_owned(),
        ] {
            let (answer, changed) = handle(&mut t, &line);
            assert_eq!(answer["ok"], false, "{line}");
            assert!(answer["error"].is_string(), "{line}: {answer}");
            assert!(!changed, "{line}");
        }
        assert_eq!(t, Table::from([(1, "a".to_owned())]));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t: Table = (0..MAX_LOCKS as u64).map(|l| (l, "a".to_owned())).collect();
        let (answer, changed) = ask(&mut t, "acquire", u64::MAX, "a");
        assert_eq!(answer["error"], "too many locks held");
        assert!(!changed);
        // Held ones still answer as before.
        assert_eq!(ask(&mut t, "release", 0, "a"), (json!({"ok": true}), true));
    }

    #[test]
    fn the_table_survives_its_file() {
        let dir = std::env::temp_dir().join(format!("lock-server-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir).unwrap(), Table::new());
        let t = Table::from([(3, "a".to_owned()), (u64::MAX, "b\"q".to_owned())]);
        persist(&dir, &t).unwrap();
        assert_eq!(load(&dir).unwrap(), t);
        assert!(!dir.join("locks.json.tmp").exists());
        std::fs::write(dir.join(TABLE_FILE), "garbage").unwrap();
        assert!(load(&dir).is_err(), "a bad table is not an empty one");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_are_bounded() {
        let mut buf = Vec::new();
        let mut two = &b"{\"a\":1}\n{\"b\""[..];
        assert_eq!(read_line(&mut two, &mut buf).unwrap(), Some(()));
        assert_eq!(buf, b"{\"a\":1}\n");
        // A partial last line is the end.
        assert_eq!(read_line(&mut two, &mut buf).unwrap(), None);
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(read_line(&mut &long[..], &mut buf).is_err());
        let mut exact = vec![b'x'; MAX_LINE - 1];
        exact.push(b'\n');
        assert_eq!(read_line(&mut &exact[..], &mut buf).unwrap(), Some(()));
    }

    #[test]
    fn flags() {
        let parse = |a: &[&str]| Config::parse(a.iter().map(|s| s.to_string()));
        assert_eq!(
            parse(&["--listen", "127.0.0.1:7", "--data", "/d", "--forgetful"]).unwrap(),
            Config {
                listen: "127.0.0.1:7".into(),
                data: "/d".into(),
                forgetful: true
            }
        );
        assert!(
            !parse(&["--listen", "a:1", "--data", "/d"])
                .unwrap()
                .forgetful
        );
        assert!(parse(&["--listen", "a:1"]).is_err());
        assert!(parse(&["--data", "/d"]).is_err());
        assert!(parse(&["--listen"]).is_err());
        assert!(parse(&["--listen", "a:1", "--data", "/d", "--fast"]).is_err());
    }
}
