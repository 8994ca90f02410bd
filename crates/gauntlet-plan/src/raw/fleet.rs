//! The fleet file as written (`[defaults]`, `[[node]]`, `[[project]]`).

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
    #[serde(default)]
    pub project: Vec<Spanned<RawProject>>,
    #[serde(default)]
    pub notify: Vec<Spanned<super::RawNotify>>,
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

/// One `[[project]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    pub name: Spanned<String>,
    pub repo: Option<Spanned<String>>,
    pub build: Option<Spanned<super::RawCommandLine>>,
    pub build_timeout: Option<Spanned<toml::Value>>,
    pub artifact: Option<Spanned<String>>,
    pub install: Option<Spanned<String>>,
    pub nodes: Option<Spanned<Vec<Spanned<String>>>>,
    pub fix_hook: Option<Spanned<super::RawCommandLine>>,
    pub fix_timeout: Option<Spanned<toml::Value>>,
    pub checkpoints: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    pub max_builds: Option<Spanned<i64>>,
    pub max_fixes: Option<Spanned<i64>>,
    pub regression_tolerance_pct: Option<Spanned<f64>>,
    pub service: Option<Spanned<RawProjectService>>,
    #[serde(default)]
    pub suite: Vec<Spanned<RawSuite>>,
    pub criteria: Option<Spanned<RawCriteria>>,
}

/// One `[[project.suite]]`: a test the loop runs in its TEST phase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSuite {
    pub name: Spanned<String>,
    pub focus: Option<Spanned<Vec<Spanned<String>>>>,
    pub on: Option<Spanned<String>>,
    pub command: Option<Spanned<super::RawCommandLine>>,
    pub timeout: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub figure: Vec<Spanned<super::RawFigure>>,
}

/// `[project.criteria]`: what the `check` criterion runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCriteria {
    pub check: Option<Spanned<super::RawCommandLine>>,
    pub check_timeout: Option<Spanned<toml::Value>>,
}

/// `[project.service]`: how the project runs on each node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProjectService {
    pub command: Option<Spanned<super::RawCommandLine>>,
    pub systemd: Option<Spanned<String>>,
    pub stop_timeout: Option<Spanned<toml::Value>>,
    pub health: Option<Spanned<super::RawHealth>>,
}
