//! etcd v3 through its JSON gateway: `POST /v3/kv/range` for a read,
//! `/v3/kv/put` for a write, and `/v3/kv/txn` comparing the value for a
//! cas (compare `value == from`, then put `to`). Keys and values travel
//! base64; a value is the integer's decimal text.
//!
//! Not gRPC: the `etcd-client` crate builds its protobuf code with
//! `protoc` at build time, which every build of gauntlet would then need.
//! The gateway is etcd's own, documented, and served at `/v3/` since 3.4
//! (the same paths as examples/python/etcd_client.py).
//!
//! Errors, as [`super`] turns them into answers: a connection refused (or
//! a host that does not resolve, or a connect timeout) means the request
//! never reached etcd, and a 4xx answer that etcd refused it; anything
//! else on a write or cas — a timeout after the request went out, a cut
//! connection, a 5xx such as `etcdserver: request timed out` — may have
//! applied. After a transport error or a 5xx a client that fails over moves on
//! to the next endpoint for its next request.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};
use ureq::http::Uri;

use super::{EndpointChoice, EndpointError, Endpoints, Store, StoreError};

/// How reads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reads {
    /// Through the leader's quorum (etcd's default).
    #[default]
    Linearizable,
    /// By the member alone, possibly stale (`serializable: true`).
    Serializable,
}

/// A member's client URL, checked: `http://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    /// Checks one `--endpoints` URL. Plain `http` only: gauntlet is built
    /// without a TLS stack.
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let t = text.trim();
        let not_a_url = |reason: String| EndpointError::NotAUrl {
            endpoint: t.to_owned(),
            reason,
        };
        let unsupported = |reason| EndpointError::Unsupported {
            endpoint: t.to_owned(),
            reason,
        };
        let uri: Uri = t.parse().map_err(|e: ureq::http::uri::InvalidUri| {
            not_a_url(format!("{e}; expected http://HOST:PORT"))
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(unsupported(
                    "https needs TLS, which gauntlet is built without; give the member's http:// URL",
                ));
            }
            Some(_) => return Err(unsupported("the scheme must be http://")),
            None => return Err(not_a_url("no scheme; expected http://HOST:PORT".into())),
        }
        let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
            return Err(not_a_url("no host; expected http://HOST:PORT".into()));
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(unsupported(
                "a member's URL has no path or query: http://HOST:PORT",
            ));
        }
        Ok(Endpoint(format!("http://{authority}")))
    }

    /// `http://HOST:PORT`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an etcd client needs.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<Endpoint>,
    pub reads: Reads,
    /// For each request, connecting included.
    pub timeout: Duration,
    /// Which endpoint it talks to, and whether it fails over.
    pub endpoints_choice: EndpointChoice,
}

/// Why an etcd operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("{endpoint}: {source}")]
    Transport {
        endpoint: String,
        #[source]
        source: ureq::Error,
    },
    #[error("{endpoint}: {} within {after:?}", if never_sent_timeout(*phase) { "could not connect" } else { "no answer" })]
    Timeout {
        endpoint: String,
        after: Duration,
        phase: ureq::Timeout,
    },
    #[error("{endpoint} answered HTTP {status}: {message}")]
    Status {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint} answered what is not etcd's JSON: {source}")]
    BadAnswer {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("key {key:?} holds {value:?}, not an integer")]
    NotAnInteger { key: String, value: String },
}

impl StoreError for EtcdError {
    fn certainly_not_applied(&self) -> bool {
        match self {
            EtcdError::Transport { source, .. } => never_sent(source),
            EtcdError::Timeout { phase, .. } => never_sent_timeout(*phase),
            // etcd refused it (a bad request, too many requests).
            EtcdError::Status { status, .. } => (400..500).contains(status),
            EtcdError::BadAnswer { .. } => false,
            EtcdError::NotAnInteger { .. } => true,
        }
    }
}

/// Whether `e` happened before the request could reach the server.
fn never_sent(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::BadUri(_) => true,
        ureq::Error::Timeout(phase) => never_sent_timeout(*phase),
        // Only connecting fails these ways (ureq's own split: the
        // address answered no, or there is no route to it).
        ureq::Error::Io(io) => matches!(
            io.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::NetworkDown
                | io::ErrorKind::AddrNotAvailable
        ),
        _ => false,
    }
}

/// Whether a timeout in `phase` came before the request went out. The
/// phase past connecting may have delivered it (and when the call's
/// whole time ran out while connecting, ureq names the `Global` limit:
/// `info`, the safe answer).
fn never_sent_timeout(phase: ureq::Timeout) -> bool {
    matches!(phase, ureq::Timeout::Resolve | ureq::Timeout::Connect)
}

/// A client of an etcd cluster: one member at a time.
pub struct Etcd {
    agent: ureq::Agent,
    timeout: Duration,
    endpoints: Endpoints<Endpoint>,
    serializable: bool,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[allow(dead_code, reason = "only there to be required: etcd always sends it")]
    header: IgnoredAny,
    /// Absent when no key matched.
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    /// Absent when empty (proto3 leaves out defaults).
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct PutResponse {
    #[allow(dead_code, reason = "only there to be required: etcd always sends it")]
    header: IgnoredAny,
}

#[derive(Deserialize)]
struct TxnResponse {
    #[allow(dead_code, reason = "only there to be required: etcd always sends it")]
    header: IgnoredAny,
    /// Absent when false.
    #[serde(default)]
    succeeded: bool,
}

/// The gateway's error body: `{"error": "...", "code": 14, "message": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error: String,
}

impl Etcd {
    /// `None` when `config` has no endpoints.
    pub fn new(config: EtcdConfig) -> Option<Etcd> {
        let endpoints = Endpoints::new(config.endpoints, config.endpoints_choice)?;
        let agent = ureq::Agent::config_builder()
            // The whole call, connecting and the answer's body included.
            .timeout_global(Some(config.timeout))
            // Connecting gets a little less, so that a connect that never
            // completes (a partitioned member drops the SYN) times out as
            // a connect, which is certain not to have applied (`fail`),
            // rather than as the whole call (`info`).
            .timeout_connect(Some(config.timeout.mul_f64(0.9)))
            // etcd's error answers (4xx, 5xx) carry their reason in the body.
            .http_status_as_error(false)
            // The members are where the test says, never behind an
            // HTTP_PROXY from the environment.
            .proxy(None)
            .build()
            .into();
        Some(Etcd {
            agent,
            timeout: config.timeout,
            endpoints,
            serializable: config.reads == Reads::Serializable,
        })
    }

    /// The member the next request goes to.
    pub fn endpoint(&self) -> &str {
        self.endpoints.current().as_str()
    }

    /// POSTs `body` to `path` on the current member and reads etcd's
    /// answer. A transport error or a 5xx moves a client that fails over on to the
    /// next member.
    fn call<T: DeserializeOwned>(&mut self, path: &str, body: &Value) -> Result<T, EtcdError> {
        let endpoint = self.endpoint().to_owned();
        let sent = self
            .agent
            .post(format!("{endpoint}{path}"))
            .header("content-type", "application/json")
            .send(body.to_string());
        let text = sent.and_then(|mut answer| {
            let status = answer.status().as_u16();
            answer.body_mut().read_to_string().map(|t| (status, t))
        });
        let (status, text) = match text {
            Ok(answer) => answer,
            Err(source) => {
                self.endpoints.after_error();
                return Err(match source {
                    ureq::Error::Timeout(phase) => EtcdError::Timeout {
                        endpoint,
                        after: self.timeout,
                        phase,
                    },
                    source => EtcdError::Transport { endpoint, source },
                });
            }
        };
        if status != 200 {
            if status >= 500 {
                self.endpoints.after_error();
            }
            let message = match serde_json::from_str::<ErrorBody>(&text) {
                Ok(b) if !b.message.is_empty() => b.message,
                Ok(b) if !b.error.is_empty() => b.error,
                _ => text.chars().take(200).collect(),
            };
            return Err(EtcdError::Status {
                endpoint,
                status,
                message,
            });
        }
        serde_json::from_str(&text).map_err(|source| EtcdError::BadAnswer { endpoint, source })
    }
}

fn b64(text: &str) -> String {
    B64.encode(text)
}

impl Store for Etcd {
    type Error = EtcdError;

    fn read(&mut self, key: &str) -> Result<Option<i64>, EtcdError> {
        let mut body = json!({"key": b64(key)});
        if self.serializable {
            body["serializable"] = true.into();
        }
        let answer: RangeResponse = self.call("/v3/kv/range", &body)?;
        let Some(kv) = answer.kvs.first() else {
            return Ok(None);
        };
        let bytes = B64.decode(&kv.value).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        match text.trim().parse() {
            Ok(v) => Ok(Some(v)),
            Err(_) => Err(EtcdError::NotAnInteger {
                key: key.to_owned(),
                value: if bytes.is_empty() && !kv.value.is_empty() {
                    format!("base64 {:?}", kv.value)
                } else {
                    text.into_owned()
                },
            }),
        }
    }

    fn write(&mut self, key: &str, value: i64) -> Result<(), EtcdError> {
        let body = json!({"key": b64(key), "value": b64(&value.to_string())});
        let _: PutResponse = self.call("/v3/kv/put", &body)?;
        Ok(())
    }

    fn cas(&mut self, key: &str, from: i64, to: i64) -> Result<bool, EtcdError> {
        let key = b64(key);
        // A key that does not exist never compares equal (etcd: "always
        // fail if comparing a value on a key that doesn't exist").
        let body = json!({
            "compare": [{
                "key": key,
                "target": "VALUE",
                "result": "EQUAL",
                "value": b64(&from.to_string()),
            }],
            "success": [{"requestPut": {"key": key, "value": b64(&to.to_string())}}],
        });
        let answer: TxnResponse = self.call("/v3/kv/txn", &body)?;
        Ok(answer.succeeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_urls_of_a_member() {
        for (text, want) in [
            ("http://10.0.0.2:2379", "http://10.0.0.2:2379"),
            ("http://10.0.0.2:2379/", "http://10.0.0.2:2379"),
            (" http://etcd-1:2379 ", "http://etcd-1:2379"),
            ("http://[::1]:2379", "http://[::1]:2379"),
        ] {
            assert_eq!(Endpoint::parse(text).unwrap().as_str(), want);
        }
        for (text, says) in [
            ("10.0.0.2:2379", "not a URL"),
            ("not a url", "not a URL"),
            ("", "not a URL"),
            ("https://10.0.0.2:2379", "TLS"),
            ("redis://10.0.0.2:6379", "http://"),
            ("http://10.0.0.2:2379/v3", "no path"),
            ("http://10.0.0.2:2379?x=1", "no path"),
        ] {
            let e = Endpoint::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn what_never_reached_etcd_is_certain() {
        let transport = |source| EtcdError::Transport {
            endpoint: "http://e:2379".into(),
            source,
        };
        assert!(transport(ureq::Error::ConnectionFailed).certainly_not_applied());
        assert!(transport(ureq::Error::Timeout(ureq::Timeout::Connect)).certainly_not_applied());
        assert!(
            transport(ureq::Error::Io(io::ErrorKind::ConnectionRefused.into()))
                .certainly_not_applied()
        );
        assert!(!transport(ureq::Error::Timeout(ureq::Timeout::Global)).certainly_not_applied());
        let timeout = |phase| EtcdError::Timeout {
            endpoint: "http://e:2379".into(),
            after: Duration::from_millis(500),
            phase,
        };
        assert!(timeout(ureq::Timeout::Connect).certainly_not_applied());
        assert_eq!(
            timeout(ureq::Timeout::Connect).to_string(),
            "http://e:2379: could not connect within 500ms"
        );
        let global = timeout(ureq::Timeout::Global);
        assert!(!global.certainly_not_applied());
        assert_eq!(global.to_string(), "http://e:2379: no answer within 500ms");
        assert!(
            !transport(ureq::Error::Io(io::ErrorKind::ConnectionReset.into()))
                .certainly_not_applied()
        );
        let status = |status| EtcdError::Status {
            endpoint: "http://e:2379".into(),
            status,
            message: String::new(),
        };
        assert!(status(400).certainly_not_applied());
        assert!(!status(503).certainly_not_applied());
    }

    #[test]
    fn gateway_answers_parse_with_their_defaults_left_out() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{"cluster_id":"14841639068965178418","revision":"5"},"count":"1",
                "kvs":[{"key":"azE=","create_revision":"2","mod_revision":"5","version":"4","value":"NA=="}]}"#,
        )
        .unwrap();
        assert_eq!(r.kvs[0].value, "NA==");
        let r: RangeResponse = serde_json::from_str(r#"{"header":{"revision":"5"}}"#).unwrap();
        assert!(r.kvs.is_empty());
        let t: TxnResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(!t.succeeded);
        let t: TxnResponse =
            serde_json::from_str(r#"{"header":{},"succeeded":true,"responses":[]}"#).unwrap();
        assert!(t.succeeded);
        // Not etcd: a 200 without a header is no acknowledgement.
        assert!(serde_json::from_str::<PutResponse>("{}").is_err());
    }
}
