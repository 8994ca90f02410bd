//! The soak sections as written: `[soak]`, `[users]` (with
//! `[[users.step]]`), `[readback]`, `[[fault]]`, `[proxy.<service>]`,
//! `[observer]` and `[invariants]`. Like the rest of `raw`, every table
//! denies unknown keys and keeps spans for later checks.

use std::fmt;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::{CommandLineVisitor, Entries, RawCommandLine};

/// `[soak]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSoak {
    pub minutes: Option<Spanned<toml::Value>>,
    pub duration: Option<Spanned<toml::Value>>,
    pub warmup: Option<Spanned<toml::Value>>,
    pub calm_timeout: Option<Spanned<toml::Value>>,
    pub scenario: Option<Spanned<String>>,
    pub seed: Option<Spanned<u64>>,
}

/// `[users]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUsers {
    pub count: Option<Spanned<u32>>,
    pub think_min: Option<Spanned<toml::Value>>,
    pub think_max: Option<Spanned<toml::Value>>,
    pub keys_per_user: Option<Spanned<u32>>,
    pub unreachable_after: Option<Spanned<toml::Value>>,
    pub program: Option<Spanned<RawProgram>>,
    pub step: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

/// One `[[users.step]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub name: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<u16>>,
    pub write: Option<Spanned<bool>>,
    pub capture: Option<Spanned<Entries<Spanned<String>>>>,
    pub timeout: Option<Spanned<toml::Value>>,
}

/// `[readback]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReadback {
    pub http: Option<Spanned<String>>,
    pub command: Option<Spanned<RawProgram>>,
    pub program: Option<Spanned<bool>>,
}

/// One `[[fault]]`. Flat, like a stage: which keys a kind takes is
/// checked after parsing, so the error can name the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    pub name: Option<Spanned<String>>,
    pub kind: Spanned<String>,
    pub service: Option<Spanned<String>>,
    pub every: Option<Spanned<toml::Value>>,
    pub duration: Option<Spanned<toml::Value>>,
    pub scenarios: Option<Spanned<Vec<Spanned<String>>>>,
    // partition
    pub mode: Option<Spanned<RawPartitionMode>>,
    // latency
    pub latency: Option<Spanned<toml::Value>>,
    pub jitter: Option<Spanned<toml::Value>>,
    // bandwidth
    pub rate: Option<Spanned<toml::Value>>,
    // timeout
    pub after: Option<Spanned<toml::Value>>,
    // clock
    pub offset: Option<Spanned<String>>,
    // link (and latency's `latency`, `jitter`)
    pub link: Option<Spanned<Vec<Spanned<String>>>>,
    pub loss: Option<Spanned<toml::Value>>,
    pub bandwidth: Option<Spanned<String>>,
    // link-down
    pub host: Option<Spanned<String>>,
}

impl RawFault {
    /// The kind-specific keys that are set, with their spans.
    pub fn kind_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        fn span<T>(s: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
            s.as_ref().map(Spanned::span)
        }
        [
            ("mode", span(&self.mode)),
            ("latency", span(&self.latency)),
            ("jitter", span(&self.jitter)),
            ("rate", span(&self.rate)),
            ("after", span(&self.after)),
            ("offset", span(&self.offset)),
            ("link", span(&self.link)),
            ("loss", span(&self.loss)),
            ("bandwidth", span(&self.bandwidth)),
            ("host", span(&self.host)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawPartitionMode {
    Refuse,
    Blackhole,
    Network,
}

/// One `[proxy.<service>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProxy {
    pub listen: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
}

/// `[observer]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawObserver {
    pub interval: Option<Spanned<toml::Value>>,
    pub log_patterns: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[invariants]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInvariants {
    pub p95_max: Option<Spanned<toml::Value>>,
    pub gap_max: Option<Spanned<toml::Value>>,
    pub grace: Option<Spanned<toml::Value>>,
    pub rss_slope_max_mb_per_hour: Option<Spanned<f64>>,
    pub recover_within: Option<Spanned<toml::Value>>,
    pub restart_budget: Option<u32>,
    pub flap_budget: Option<u32>,
    pub gate: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A program to run: a command (string or array), or a table with
/// `command`, `cwd` and `env`.
#[derive(Debug)]
pub(crate) enum RawProgram {
    Line(RawCommandLine),
    Table(RawProgramTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProgramTable {
    pub command: Option<Spanned<RawCommandLine>>,
    pub cwd: Option<Spanned<String>>,
    #[serde(default)]
    pub env: Entries<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawProgram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProgramVisitor)
    }
}

struct ProgramVisitor;

impl<'de> Visitor<'de> for ProgramVisitor {
    type Value = RawProgram;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a program: a command string, an array of strings, or a table with `command`, `cwd`, `env`",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        CommandLineVisitor.visit_str(v).map(RawProgram::Line)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        CommandLineVisitor.visit_seq(seq).map(RawProgram::Line)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        RawProgramTable::deserialize(MapAccessDeserializer::new(map)).map(RawProgram::Table)
    }
}
