//! `{{name}}` templates for the URLs and bodies of HTTP user steps and the
//! readback, and captures from JSON answers.
//!
//! Deliberately tiny: no escapes, filters or conditionals. A name must be
//! known, because a typo silently rendered as an empty string would send
//! well-formed requests that test nothing.

use std::collections::BTreeMap;

/// Why a template could not be rendered. Offsets are byte offsets into the
/// template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{name}}` with a name not in the variables.
    #[error("template names {{{{{name}}}}}, which is not defined (known: {known})")]
    Unknown {
        /// The name as written (trimmed).
        name: String,
        /// The defined names, comma-separated, to spot the typo.
        known: String,
    },
    /// `{{` without a closing `}}`.
    #[error("template has `{{{{` at byte {at} without a closing `}}}}`")]
    Unclosed {
        /// Where the `{{` starts.
        at: usize,
    },
}

/// Replaces every `{{name}}` (spaces inside the braces allowed) with its
/// value. Text outside `{{…}}`, including a lone `{` or `}}`, is copied as
/// is; substituted values are not scanned again. (The parser is the plan's
/// one, [`gauntlet_plan::template`], in its run-time syntax.)
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    use gauntlet_plan::template::{self, Syntax};
    template::render(template, Syntax::RUN, vars).map_err(|e| match e {
        template::TemplateError::Unclosed { at } => TemplateError::Unclosed { at },
        template::TemplateError::Undefined { name } | template::TemplateError::BadName { name } => {
            TemplateError::Unknown {
                name,
                known: vars
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        }
    })
}

/// The value at `pointer` (RFC 6901, e.g. `/data/id`; `""` is the whole
/// document) as text for a template: strings without their quotes, any
/// other JSON (numbers, `null`, objects) as compact JSON. `None` if the
/// pointer finds nothing.
pub fn capture(json: &serde_json::Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
