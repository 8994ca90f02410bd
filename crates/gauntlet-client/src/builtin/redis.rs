//! Redis: `GET` for a read, `SET` for a write, and a cas as one Lua
//! script, atomic on the server ([`CAS_SCRIPT`]). A value is the
//! integer's decimal text.
//!
//! One connection at a time, opened on first use with the client's
//! timeout for connecting (and Redis's handshake), and read and write
//! timeouts of the same length on every command, so a paused or
//! partitioned server answers `info` after the timeout rather than
//! hanging the test. After an error other than a Redis error reply the
//! connection is dropped and the next request connects again (to the
//! next endpoint if the client fails over). Errors, as [`super`] turns them into answers: failing to
//! connect, or an error reply from Redis (it refused the command), means
//! the command did not run; anything else after the command went out (a
//! read timeout, a connection reset) may have applied.

use std::time::Duration;

use redis::{ErrorKind, IntoConnectionInfo};

use super::{EndpointChoice, EndpointError, Endpoints, Store, StoreError};

/// The compare-and-set: `KEYS[1]` becomes `ARGV[2]` when it holds
/// `ARGV[1]`; 1 when it did, 0 when not (a missing key included).
pub const CAS_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// A server's URL, checked: `redis://HOST:PORT[/DB]` (or any URL the
/// `redis` crate takes without TLS).
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    client: redis::Client,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let t = text.trim();
        let unsupported = |reason| EndpointError::Unsupported {
            endpoint: t.to_owned(),
            reason,
        };
        match t.split_once("://").map(|(scheme, _)| scheme) {
            Some("rediss" | "valkeys") => {
                return Err(unsupported(
                    "TLS (rediss://) needs a TLS stack, which gauntlet is built without; give a redis:// URL",
                ));
            }
            Some("redis" | "valkey" | "unix" | "redis+unix" | "valkey+unix") | None => {}
            Some(_) => return Err(unsupported("the scheme must be redis://")),
        }
        let info = t
            .into_connection_info()
            .map_err(|e| EndpointError::NotAUrl {
                endpoint: t.to_owned(),
                reason: format!("{e}; expected redis://HOST:PORT"),
            })?;
        // No `CLIENT SETINFO` after connecting (a name for Redis's client
        // list, two replies ignored): connecting then sends nothing unless
        // the URL has a password or a database, so the timeout bounds it
        // once, and a paused server times out on the operation's own
        // command, the one that counts.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(|e| {
            EndpointError::NotAUrl {
                endpoint: t.to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(Endpoint {
            url: t.to_owned(),
            client,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }
}

/// What a Redis client needs.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub endpoints: Vec<Endpoint>,
    /// For connecting, and for each command's reply.
    pub timeout: Duration,
    /// Which endpoint it talks to, and whether it fails over.
    pub endpoints_choice: EndpointChoice,
}

/// Why a Redis operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("{endpoint}: could not connect: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("{endpoint}: could not connect within {after:?}")]
    ConnectTimeout { endpoint: String, after: Duration },
    #[error("{endpoint}: no reply within {after:?}")]
    Timeout { endpoint: String, after: Duration },
    #[error("{endpoint}: {source}")]
    Command {
        endpoint: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("key {key:?} holds {value:?}, not an integer")]
    NotAnInteger { key: String, value: String },
}

impl StoreError for RedisError {
    fn certainly_not_applied(&self) -> bool {
        match self {
            // The operation's command was not sent.
            RedisError::Connect { .. } | RedisError::ConnectTimeout { .. } => true,
            // It went out; Redis may run it yet.
            RedisError::Timeout { .. } => false,
            // Redis answered with an error: it refused the command (a
            // script that errs does so at its GET, before its SET).
            RedisError::Command { source, .. } => is_error_reply(source),
            RedisError::NotAnInteger { .. } => true,
        }
    }
}

/// Whether Redis answered with an error reply (the connection is fine).
fn is_error_reply(e: &redis::RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

/// A client of one Redis at a time.
pub struct Redis {
    endpoints: Endpoints<Endpoint>,
    timeout: Duration,
    connection: Option<redis::Connection>,
    cas: redis::Script,
}

impl Redis {
    /// `None` when `config` has no endpoints.
    pub fn new(config: RedisConfig) -> Option<Redis> {
        Some(Redis {
            endpoints: Endpoints::new(config.endpoints, config.endpoints_choice)?,
            timeout: config.timeout,
            connection: None,
            cas: redis::Script::new(CAS_SCRIPT),
        })
    }

    /// The server the next command goes to.
    pub fn endpoint(&self) -> &str {
        self.endpoints.current().as_str()
    }

    /// Runs `command` on the connection, connecting first if there is
    /// none. After an error that is not a Redis error reply the
    /// connection is dropped and the next command connects again (to the
    /// next endpoint if the client fails over).
    fn run<T>(
        &mut self,
        command: impl FnOnce(&mut redis::Connection, &redis::Script) -> redis::RedisResult<T>,
    ) -> Result<T, RedisError> {
        let endpoint = self.endpoint().to_owned();
        let connection = match &mut self.connection {
            Some(c) => c,
            None => match self.connect() {
                Ok(c) => self.connection.insert(c),
                Err(source) => {
                    self.endpoints.after_error();
                    return Err(if source.is_timeout() {
                        RedisError::ConnectTimeout {
                            endpoint,
                            after: self.timeout,
                        }
                    } else {
                        RedisError::Connect { endpoint, source }
                    });
                }
            },
        };
        command(connection, &self.cas).map_err(|source| {
            if is_error_reply(&source) {
                return RedisError::Command { endpoint, source };
            }
            // Its next reply could be this command's late one.
            self.connection = None;
            self.endpoints.after_error();
            if source.is_timeout() {
                RedisError::Timeout {
                    endpoint,
                    after: self.timeout,
                }
            } else {
                RedisError::Command { endpoint, source }
            }
        })
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let c = self
            .endpoints
            .current()
            .client
            .get_connection_with_timeout(self.timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }
}

impl Store for Redis {
    type Error = RedisError;

    fn read(&mut self, key: &str) -> Result<Option<i64>, RedisError> {
        let value: Option<Vec<u8>> = self.run(|c, _| redis::cmd("GET").arg(key).query(c))?;
        let Some(bytes) = value else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| RedisError::NotAnInteger {
                key: key.to_owned(),
                value: text.into_owned(),
            })
    }

    fn write(&mut self, key: &str, value: i64) -> Result<(), RedisError> {
        self.run(|c, _| redis::cmd("SET").arg(key).arg(value).query(c))
    }

    fn cas(&mut self, key: &str, from: i64, to: i64) -> Result<bool, RedisError> {
        let swapped: i64 = self.run(|c, cas| cas.key(key).arg(from).arg(to).invoke(c))?;
        Ok(swapped == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_redis_urls() {
        for text in [
            "redis://10.0.0.2:6379",
            "redis://127.0.0.1:6380/2",
            " redis://localhost ",
        ] {
            let e = Endpoint::parse(text).unwrap();
            assert_eq!(e.as_str(), text.trim());
        }
        for (text, says) in [
            ("10.0.0.2:6379", "not a URL"),
            ("http://10.0.0.2:6379", "redis://"),
            ("", "not a URL"),
            ("rediss://10.0.0.2:6379", "TLS"),
        ] {
            let e = Endpoint::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn connecting_never_applies_and_a_cut_connection_may_have() {
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let timed_out = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(
            RedisError::Connect {
                endpoint: "redis://r".into(),
                source: refused
            }
            .certainly_not_applied()
        );
        assert!(
            !RedisError::Command {
                endpoint: "redis://r".into(),
                source: timed_out
            }
            .certainly_not_applied()
        );
        let after = Duration::from_millis(500);
        let endpoint = || "redis://r".to_owned();
        assert!(
            RedisError::ConnectTimeout {
                endpoint: endpoint(),
                after
            }
            .certainly_not_applied()
        );
        let timeout = RedisError::Timeout {
            endpoint: endpoint(),
            after,
        };
        assert!(!timeout.certainly_not_applied());
        assert_eq!(timeout.to_string(), "redis://r: no reply within 500ms");
    }
}
