//! A cluster test's tables as written: `[workload]`, `[nemesis]` and
//! `[[check]]` (with the lab tables and services on lab hosts).

use serde::Deserialize;
use toml::Spanned;

use super::RawCommandLine;

/// `[workload]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkload {
    pub kind: Spanned<String>,
    pub client: Spanned<RawCommandLine>,
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
}

/// One `[[check]]`: a built-in checker by `name`, or a `program`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub name: Spanned<String>,
    pub program: Option<Spanned<RawCommandLine>>,
    pub timeout: Option<Spanned<toml::Value>>,
}
