//! The lab's tables as written (`[[segment]]`, `[[link]]`, `[[nat]]`,
//! `[[host]]`), in a plan or a `lab.toml` of their own.

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

/// One `[[segment]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSegment {
    pub name: Spanned<String>,
    pub subnet: Spanned<String>,
}

/// One `[[link]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLink {
    pub between: Spanned<Vec<Spanned<String>>>,
    pub latency: Option<Spanned<toml::Value>>,
    pub jitter: Option<Spanned<toml::Value>>,
    pub loss: Option<Spanned<toml::Value>>,
    pub bandwidth: Option<Spanned<String>>,
}

/// One `[[nat]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNat {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub outside: Spanned<String>,
    pub inside: Option<Spanned<String>>,
    pub mapping_timeout: Option<Spanned<toml::Value>>,
    pub hairpin: Option<bool>,
}

/// One `[[host]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub name: Spanned<String>,
    pub segment: Option<Spanned<String>>,
    pub behind: Option<Spanned<String>>,
    pub addresses: Option<Spanned<i64>>,
}

/// `[management]`: a network this machine reaches every host on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManagement {
    pub subnet: Spanned<String>,
}

/// The lab tables, wherever they were read.
#[derive(Debug, Default)]
pub(crate) struct RawLab<'a> {
    pub segment: &'a [Spanned<RawSegment>],
    pub link: &'a [Spanned<RawLink>],
    pub nat: &'a [Spanned<RawNat>],
    pub host: &'a [Spanned<RawHost>],
    pub management: Option<&'a Spanned<RawManagement>>,
}

/// A `lab.toml`: the lab tables, and a plan's other keys let through
/// unread, so a whole plan also serves as a lab file (`gauntlet lab up
/// plan.toml`) while a typo at the top level is still an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLabFile {
    #[serde(default)]
    pub segment: Vec<Spanned<RawSegment>>,
    #[serde(default)]
    pub link: Vec<Spanned<RawLink>>,
    #[serde(default)]
    pub nat: Vec<Spanned<RawNat>>,
    #[serde(default)]
    pub host: Vec<Spanned<RawHost>>,
    pub management: Option<Spanned<RawManagement>>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub name: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub description: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub vars: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub service: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub stage: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub soak: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub users: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub readback: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub fault: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub proxy: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub observer: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub invariants: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub workload: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub nemesis: Option<IgnoredAny>,
    #[allow(dead_code, reason = "a plan's key, read by the plan loader")]
    pub check: Option<IgnoredAny>,
}
