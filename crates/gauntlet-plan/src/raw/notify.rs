//! `[[notify]]` as written.

use serde::Deserialize;
use toml::Spanned;

use super::RawCommandLine;

/// One `[[notify]]`: exactly one of `url` and `command`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    pub url: Option<Spanned<String>>,
    pub command: Option<Spanned<RawCommandLine>>,
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
    pub timeout: Option<Spanned<toml::Value>>,
    /// The name of the variable holding a bearer token (never the token).
    pub bearer_env: Option<Spanned<String>>,
}
