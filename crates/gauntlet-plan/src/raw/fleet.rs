//! The fleet file as written (`[defaults]`, `[[node]]`).

use serde::Deserialize;
use toml::Spanned;

use super::Entries;

/// The whole fleet file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleet {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: Entries<Spanned<toml::Value>>,
    pub defaults: Option<Spanned<RawSsh>>,
    #[serde(default)]
    pub node: Vec<Spanned<RawNode>>,
}

/// The SSH settings `[defaults]` gives every node.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSsh {
    pub port: Option<Spanned<i64>>,
    pub user: Option<Spanned<String>>,
    pub identity: Option<Spanned<String>>,
    pub known_hosts: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<toml::Value>>,
}

/// One `[[node]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub name: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub fallback_address: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub user: Option<Spanned<String>>,
    pub identity: Option<Spanned<String>>,
    pub known_hosts: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<toml::Value>>,
    pub role: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub nat: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: Entries<Spanned<String>>,
}
