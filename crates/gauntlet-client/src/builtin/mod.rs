//! Built-in client programs: `gauntlet client etcd` and `gauntlet client
//! redis` speak the cluster client protocol ([`crate::protocol`]) on
//! stdin and stdout, so a cluster test of etcd or Redis needs nothing
//! but gauntlet.
//!
//! The loop is here and has no I/O of its own: [`serve`] reads request
//! lines from any reader, hands each parsed [`Op`] to a [`Store`] (one
//! per system: [`etcd::Etcd`], [`redis::Redis`]) and writes one answer
//! line per request to any writer, flushed. A line that is not a request
//! (not JSON, an unknown `f`, a key that is neither a string nor a
//! number) gets a `fail` answer and the loop goes on.
//!
//! How an error becomes an answer is decided once, here, from what the
//! store's error says ([`StoreError::certainly_not_applied`]):
//!
//! | operation | error | answer |
//! |---|---|---|
//! | read | any | `fail` (a read changes nothing) |
//! | write, cas | the request never reached the store, or it refused it | `fail` |
//! | write, cas | anything else (a timeout, a connection cut mid-way) | `info` |
//! | cas | the value was not `from`, or the key does not exist | `fail` `"mismatch"` |

pub mod etcd;
pub mod redis;

use std::io::{self, BufRead, Read, Write};

use serde_json::{Map, Value};

/// The longest request line read; a longer one gets a `fail` answer.
pub const MAX_LINE: usize = 1 << 20;

/// One operation on a register, parsed from its request line. Keys are
/// strings in the store: a JSON number key is written out (`3` is `"3"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Read { key: String },
    Write { key: String, value: i64 },
    Cas { key: String, from: i64, to: i64 },
}

/// Why a line is not a request this client can carry out.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request line is longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("the request is not UTF-8")]
    NotUtf8,
    #[error("the request is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("the request is not a JSON object")]
    NotAnObject,
    #[error("the request has no \"f\" string")]
    NoF,
    #[error("unknown f {0:?}: this client does read, write and cas")]
    UnknownF(String),
    #[error("{f} needs a \"key\" that is a string or a number")]
    BadKey { f: &'static str },
    #[error("{f} needs a \"value\" that is {expected}")]
    BadValue {
        f: &'static str,
        expected: &'static str,
    },
}

impl Op {
    /// Parses one request line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Op, RequestError> {
        let text = std::str::from_utf8(line).map_err(|_| RequestError::NotUtf8)?;
        let value: Value = serde_json::from_str(text)?;
        let Value::Object(req) = value else {
            return Err(RequestError::NotAnObject);
        };
        let f = req
            .get("f")
            .and_then(Value::as_str)
            .ok_or(RequestError::NoF)?;
        match f {
            "read" => Ok(Op::Read {
                key: key(&req, "read")?,
            }),
            "write" => Ok(Op::Write {
                key: key(&req, "write")?,
                value: req
                    .get("value")
                    .and_then(Value::as_i64)
                    .ok_or(RequestError::BadValue {
                        f: "write",
                        expected: "an integer",
                    })?,
            }),
            "cas" => {
                let pair = req.get("value").and_then(Value::as_array);
                let (from, to) = match pair.map(Vec::as_slice) {
                    Some([from, to]) => (from.as_i64(), to.as_i64()),
                    _ => (None, None),
                };
                match (from, to) {
                    (Some(from), Some(to)) => Ok(Op::Cas {
                        key: key(&req, "cas")?,
                        from,
                        to,
                    }),
                    _ => Err(RequestError::BadValue {
                        f: "cas",
                        expected: "[from, to], two integers",
                    }),
                }
            }
            other => Err(RequestError::UnknownF(other.to_owned())),
        }
    }
}

/// The request's key as the store's string.
fn key(req: &Map<String, Value>, f: &'static str) -> Result<String, RequestError> {
    match req.get("key") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(RequestError::BadKey { f }),
    }
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A read happened and saw this (`None`: the key does not exist).
    Read(Option<i64>),
    /// A write or cas happened.
    Done,
    /// It certainly did not happen.
    Fail(String),
    /// It may or may not have happened.
    Info(String),
}

impl Answer {
    /// The answer line (without its newline): the protocol's JSON object, `type` first.
    pub fn to_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            /// Present (null included) for a read only.
            #[serde(skip_serializing_if = "Option::is_none")]
            value: Option<Option<i64>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
        }
        let (kind, value, error) = match self {
            Answer::Read(v) => ("ok", Some(*v), None),
            Answer::Done => ("ok", None, None),
            Answer::Fail(e) => ("fail", None, Some(e.as_str())),
            Answer::Info(e) => ("info", None, Some(e.as_str())),
        };
        let line = Line { kind, value, error };
        serde_json::to_string(&line).unwrap_or_else(|e| {
            // Unreachable (a struct of strings and integers), but an
            // answer line must go out whatever happens.
            format!(r#"{{"type":"info","error":"answer not written: {e}"}}"#)
        })
    }
}

/// What a store's error says about the operation it ended.
pub trait StoreError: std::error::Error {
    /// Whether the operation certainly had no effect: the request never
    /// reached the store (the connection was refused), or the store
    /// answered that it refused it. When in doubt, `false`.
    fn certainly_not_applied(&self) -> bool;
}

/// A system the built-in client drives: one blocking call per operation,
/// each bounded by the client's timeout.
pub trait Store {
    type Error: StoreError;
    /// The key's value; `None` when it does not exist.
    fn read(&mut self, key: &str) -> Result<Option<i64>, Self::Error>;
    fn write(&mut self, key: &str, value: i64) -> Result<(), Self::Error>;
    /// Sets the key to `to` if its value is `from`; whether it did.
    fn cas(&mut self, key: &str, from: i64, to: i64) -> Result<bool, Self::Error>;
}

/// Carries out `op` on `store`.
pub fn apply<S: Store>(store: &mut S, op: &Op) -> Answer {
    let failed = |e: S::Error| {
        if e.certainly_not_applied() {
            Answer::Fail(e.to_string())
        } else {
            Answer::Info(e.to_string())
        }
    };
    match op {
        Op::Read { key } => match store.read(key) {
            Ok(v) => Answer::Read(v),
            // A read changes nothing: whatever went wrong, it did not happen.
            Err(e) => Answer::Fail(e.to_string()),
        },
        Op::Write { key, value } => match store.write(key, *value) {
            Ok(()) => Answer::Done,
            Err(e) => failed(e),
        },
        Op::Cas { key, from, to } => match store.cas(key, *from, *to) {
            Ok(true) => Answer::Done,
            Ok(false) => Answer::Fail("mismatch".into()),
            Err(e) => failed(e),
        },
    }
}

/// The answer to one request line.
pub fn answer<S: Store>(store: &mut S, line: &[u8]) -> Answer {
    match Op::parse(line) {
        Ok(op) => apply(store, &op),
        Err(e) => Answer::Fail(e.to_string()),
    }
}

/// How many requests a [`serve`] answered, by answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl Served {
    pub fn requests(&self) -> u64 {
        self.ok + self.fail + self.info
    }
}

/// Answers every request line of `input` on `output`, one line each,
/// flushed, until `input` ends. Fails only when reading `input` or
/// writing `output` does (the caller went away).
pub fn serve<S: Store>(
    store: &mut S,
    mut input: impl BufRead,
    mut output: impl Write,
) -> io::Result<Served> {
    let mut served = Served::default();
    let mut line = Vec::with_capacity(256);
    while let Some(read) = read_line(&mut input, &mut line)? {
        let answer = match read {
            Line::Whole => answer(store, &line),
            Line::TooLong => Answer::Fail(RequestError::TooLong.to_string()),
        };
        match answer {
            Answer::Read(_) | Answer::Done => served.ok += 1,
            Answer::Fail(_) => served.fail += 1,
            Answer::Info(_) => served.info += 1,
        }
        let mut out = answer.to_line();
        out.push('\n');
        // One write per answer: the line goes out whole, then at once.
        output.write_all(out.as_bytes())?;
        output.flush()?;
    }
    Ok(served)
}

enum Line {
    Whole,
    TooLong,
}

/// Reads the next line into `buf` without its `\n` (or `\r\n`); `None`
/// at the end of `input`. A line past [`MAX_LINE`] is skipped to its end.
fn read_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
    buf.clear();
    let n = <&mut R as Read>::take(&mut *input, MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(Line::Whole));
    }
    if buf.len() <= MAX_LINE {
        // The last line, without a newline.
        return Ok(Some(Line::Whole));
    }
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            break;
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                break;
            }
            None => {
                let len = available.len();
                input.consume(len);
            }
        }
    }
    Ok(Some(Line::TooLong))
}

/// Which endpoint a client talks to, and whether it ever moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointChoice {
    /// The endpoint to start on (mod their count).
    pub first: usize,
    /// Whether an error that may mean the endpoint is gone moves the
    /// client on to the next one (round robin). Without it the client
    /// keeps to its endpoint, as a Jepsen client is bound to its node:
    /// whatever that member answers, stale, refused or nothing, is what
    /// the history shows of it.
    pub failover: bool,
}

impl EndpointChoice {
    /// Endpoint `worker` when given (a test's workers spread evenly over
    /// the members), else the process id (spread at random).
    pub fn new(worker: Option<usize>, failover: bool) -> EndpointChoice {
        EndpointChoice {
            first: worker.unwrap_or(std::process::id() as usize),
            failover,
        }
    }
}

/// A client's endpoints and the one it talks to now.
#[derive(Debug)]
pub struct Endpoints<T> {
    list: Vec<T>,
    current: usize,
    failover: bool,
}

impl<T> Endpoints<T> {
    /// `None` when `list` is empty.
    pub fn new(list: Vec<T>, choice: EndpointChoice) -> Option<Endpoints<T>> {
        if list.is_empty() {
            return None;
        }
        let current = choice.first % list.len();
        Some(Endpoints {
            list,
            current,
            failover: choice.failover,
        })
    }

    pub fn current(&self) -> &T {
        &self.list[self.current]
    }

    /// After an error that may mean the current endpoint is gone: the
    /// next one (round robin) if the client fails over.
    pub fn after_error(&mut self) {
        if self.failover {
            self.current = (self.current + 1) % self.list.len();
        }
    }
}

/// Why an endpoint given on the command line cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{endpoint:?} is not a URL: {reason}")]
    NotAUrl { endpoint: String, reason: String },
    #[error("{endpoint:?}: {reason}")]
    Unsupported {
        endpoint: String,
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A store in memory, whose next call can be made to fail.
    #[derive(Default)]
    struct Mem {
        values: HashMap<String, i64>,
        fail_next: Option<MemError>,
    }

    #[derive(Debug, Clone, Copy, thiserror::Error)]
    enum MemError {
        #[error("connection refused")]
        Refused,
        #[error("timed out")]
        Timeout,
    }

    impl StoreError for MemError {
        fn certainly_not_applied(&self) -> bool {
            matches!(self, MemError::Refused)
        }
    }

    impl Store for Mem {
        type Error = MemError;
        fn read(&mut self, key: &str) -> Result<Option<i64>, MemError> {
            match self.fail_next.take() {
                Some(e) => Err(e),
                None => Ok(self.values.get(key).copied()),
            }
        }
        fn write(&mut self, key: &str, value: i64) -> Result<(), MemError> {
            if let Some(e) = self.fail_next.take() {
                return Err(e);
            }
            self.values.insert(key.to_owned(), value);
            Ok(())
        }
        fn cas(&mut self, key: &str, from: i64, to: i64) -> Result<bool, MemError> {
            if let Some(e) = self.fail_next.take() {
                return Err(e);
            }
            match self.values.get_mut(key) {
                Some(v) if *v == from => {
                    *v = to;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
    }

    /// The answer lines `serve` writes for `input`.
    fn served(store: &mut Mem, input: &[u8]) -> (Vec<Value>, Served) {
        let mut out = Vec::new();
        let counts = serve(store, input, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let answers = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (answers, counts)
    }

    #[test]
    fn a_register_through_the_loop() {
        let input = br#"{"f":"read","key":"k1"}
{"f":"write","key":"k1","value":3}
{"f":"read","key":"k1"}
{"f":"cas","key":"k1","value":[3,4]}
{"f":"cas","key":"k1","value":[3,5]}
{"f":"cas","key":"nope","value":[0,1]}
{"f":"read","key":"k1"}
{"f":"write","key":7,"value":-2}
{"f":"read","key":"7"}
"#;
        let (answers, counts) = served(&mut Mem::default(), input);
        let want = [
            r#"{"type":"ok","value":null}"#,
            r#"{"type":"ok"}"#,
            r#"{"type":"ok","value":3}"#,
            r#"{"type":"ok"}"#,
            r#"{"type":"fail","error":"mismatch"}"#,
            r#"{"type":"fail","error":"mismatch"}"#,
            r#"{"type":"ok","value":4}"#,
            r#"{"type":"ok"}"#,
            r#"{"type":"ok","value":-2}"#,
        ];
        let want: Vec<Value> = want.iter().map(|w| w.parse().unwrap()).collect();
        assert_eq!(answers, want);
        assert_eq!(
            counts,
            Served {
                ok: 7,
                fail: 2,
                info: 0
            }
        );
    }

    #[test]
    fn answers_are_lines_with_their_type_first() {
        assert_eq!(
            Answer::Read(Some(3)).to_line(),
            r#"{"type":"ok","value":3}"#
        );
        assert_eq!(
            Answer::Read(None).to_line(),
            r#"{"type":"ok","value":null}"#
        );
        assert_eq!(Answer::Done.to_line(), r#"{"type":"ok"}"#);
        assert_eq!(
            Answer::Fail("a \"quoted\"\nreason".into()).to_line(),
            r#"{"type":"fail","error":"a \"quoted\"\nreason"}"#
        );
        assert_eq!(
            Answer::Info("timed out".into()).to_line(),
            r#"{"type":"info","error":"timed out"}"#
        );
    }

    #[test]
    fn bad_lines_get_a_fail_answer_and_the_loop_goes_on() {
        let mut input = Vec::new();
        for bad in [
            &b"hello"[..],
            b"",
            b"[1,2]",
            b"{\"key\":\"k\"}",
            b"{\"f\":\"append\",\"key\":\"k\"}",
            b"{\"f\":\"read\"}",
            b"{\"f\":\"read\",\"key\":null}",
            b"{\"f\":\"write\",\"key\":\"k\",\"value\":\"x\"}",
            b"{\"f\":\"write\",\"key\":\"k\",\"value\":1.5}",
            b"{\"f\":\"cas\",\"key\":\"k\",\"value\":[1]}",
            b"{\"f\":\"cas\",\"key\":\"k\",\"value\":5}",
            b"\xff\xfe{}",
        ] {
            input.extend_from_slice(bad);
            input.push(b'\n');
        }
        input.extend_from_slice(b"{\"f\":\"write\",\"key\":\"k\",\"value\":1}\r\n");
        // The last line may lack its newline.
        input.extend_from_slice(b"{\"f\":\"read\",\"key\":\"k\"}");
        let (answers, counts) = served(&mut Mem::default(), &input);
        assert_eq!(answers.len(), 14, "{answers:?}");
        for a in &answers[..12] {
            assert_eq!(a["type"], "fail", "{a}");
            assert!(a["error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");
        }
        assert!(answers[4]["error"].as_str().unwrap().contains("append"));
        assert_eq!(answers[12], serde_json::json!({"type": "ok"}));
        assert_eq!(answers[13], serde_json::json!({"type": "ok", "value": 1}));
        assert_eq!(counts.requests(), 14);
    }

    #[test]
    fn a_line_too_long_is_skipped_to_its_end() {
        let mut input = vec![b'x'; MAX_LINE * 2 + 10];
        input.push(b'\n');
        input.extend_from_slice(b"{\"f\":\"read\",\"key\":\"k\"}\n");
        let (answers, _) = served(&mut Mem::default(), &input);
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert!(answers[0]["error"].as_str().unwrap().contains("longer"));
        assert_eq!(answers[1]["value"], Value::Null);
    }

    #[test]
    fn errors_become_fail_or_info_by_what_may_have_happened() {
        let cases = [
            ("read", MemError::Refused, "fail"),
            ("read", MemError::Timeout, "fail"),
            ("write", MemError::Refused, "fail"),
            ("write", MemError::Timeout, "info"),
            ("cas", MemError::Refused, "fail"),
            ("cas", MemError::Timeout, "info"),
        ];
        for (f, error, want) in cases {
            let mut store = Mem {
                fail_next: Some(error),
                ..Mem::default()
            };
            let line = match f {
                "read" => r#"{"f":"read","key":"k"}"#,
                "write" => r#"{"f":"write","key":"k","value":1}"#,
                _ => r#"{"f":"cas","key":"k","value":[1,2]}"#,
            };
            let a = answer(&mut store, line.as_bytes());
            let json: Value = a.to_line().parse().unwrap();
            assert_eq!(json["type"], want, "{f} {error:?}: {a:?}");
            assert_eq!(json["error"], error.to_string());
        }
    }

    #[test]
    fn a_closed_output_ends_the_loop_with_its_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = serve(
            &mut Mem::default(),
            &b"{\"f\":\"read\",\"key\":\"k\"}\n"[..],
            Closed,
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn endpoints_start_at_the_worker_and_move_on_only_when_they_fail_over() {
        let at = |first, failover| EndpointChoice { first, failover };
        assert!(Endpoints::<u8>::new(vec![], at(0, true)).is_none());
        let mut e = Endpoints::new(vec!["a", "b", "c"], at(4, true)).unwrap();
        assert_eq!(*e.current(), "b");
        e.after_error();
        assert_eq!(*e.current(), "c");
        e.after_error();
        assert_eq!(*e.current(), "a");
        let mut bound = Endpoints::new(vec!["a", "b", "c"], at(4, false)).unwrap();
        bound.after_error();
        assert_eq!(*bound.current(), "b", "a bound client keeps to its member");
        assert_eq!(EndpointChoice::new(Some(5), false).first, 5);
    }
}
