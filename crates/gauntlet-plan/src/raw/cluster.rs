//! A cluster test's tables as written: `[workload]`, `[nemesis]` and
//! `[[check]]` (with the lab tables and services on lab hosts).

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::RawCommandLine;

/// `[workload]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkload {
    pub kind: Spanned<String>,
    pub client: Spanned<RawClient>,
    pub ops_per_key: Option<Spanned<i64>>,
    pub keys: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub rate: Option<Spanned<toml::Value>>,
    pub time_limit: Option<Spanned<toml::Value>>,
    pub op_timeout: Option<Spanned<toml::Value>>,
    pub recovery: Option<Spanned<toml::Value>>,
}

/// `[nemesis]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNemesis {
    pub faults: Spanned<Vec<Spanned<String>>>,
    pub interval: Option<Spanned<toml::Value>>,
    pub partitions: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One `[[check]]`: a built-in checker by `name`, or a `program`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub name: Spanned<String>,
    pub program: Option<Spanned<RawCommandLine>>,
    pub timeout: Option<Spanned<toml::Value>>,
}

/// `client`: a program (a string or an array, as every command), or a
/// built-in client (`{ builtin = "etcd", ... }`).
#[derive(Debug)]
pub(crate) enum RawClient {
    Program(RawCommandLine),
    Builtin(RawBuiltinClient),
}

/// `client = { builtin = "etcd" | "redis", port, reads, endpoints, failover }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuiltinClient {
    pub builtin: Spanned<String>,
    pub port: Option<Spanned<i64>>,
    pub reads: Option<Spanned<String>>,
    /// Where the system listens, when its nodes are not the plan's
    /// services on lab hosts.
    pub endpoints: Option<Spanned<Vec<Spanned<String>>>>,
    pub failover: Option<Spanned<bool>>,
}

impl<'de> Deserialize<'de> for RawClient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ClientVisitor)
    }
}

struct ClientVisitor;

impl<'de> Visitor<'de> for ClientVisitor {
    type Value = RawClient;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a client program (a string or an array of strings) or a built-in client ({ builtin = \"etcd\" })",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawClient::Program(RawCommandLine::Shell(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        RawCommandLine::deserialize(de::value::SeqAccessDeserializer::new(seq))
            .map(RawClient::Program)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        RawBuiltinClient::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(RawClient::Builtin)
    }
}
