//! `${name}` substitution in plans: [`crate::template`]'s plan syntax,
//! with the loader's error messages.

use std::collections::BTreeMap;

pub(crate) use crate::template::valid_name;
use crate::template::{Syntax, TemplateError, render};

/// The variable every plan has: the plan file's directory, absolute.
pub const PLAN_DIR: &str = "plan_dir";

/// The variable every plan has for a service's own data directory: it
/// stays `{{data_dir}}` in the resolved plan, and the service's start
/// fills it in with `<run dir>/data/<service>` (made for it, kept across
/// its restarts), as [`DATA_DIR_PLACEHOLDER`].
pub const DATA_DIR: &str = "data_dir";

/// What `${data_dir}` leaves in a resolved plan.
pub const DATA_DIR_PLACEHOLDER: &str = "{{data_dir}}";

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubstError {
    Undefined(String),
    Unclosed,
    BadName(String),
}

impl From<TemplateError> for SubstError {
    fn from(e: TemplateError) -> SubstError {
        match e {
            TemplateError::Undefined { name } => SubstError::Undefined(name),
            TemplateError::Unclosed { .. } => SubstError::Unclosed,
            TemplateError::BadName { name } => SubstError::BadName(name),
        }
    }
}

impl SubstError {
    /// The message, with the known variables for an undefined one.
    pub fn describe<'a>(&self, known: impl IntoIterator<Item = &'a String>) -> String {
        match self {
            SubstError::Undefined(name) => format!(
                "undefined variable \"{name}\"; variables are: {}",
                known.into_iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            SubstError::Unclosed => {
                "\"${\" without a closing \"}\" (write \"$${\" for a literal \"${\")".to_owned()
            }
            SubstError::BadName(name) => format!(
                "invalid variable name \"{name}\" in \"${{…}}\": use letters, digits and _ (write \"$${{\" for a literal \"${{\")"
            ),
        }
    }
}

/// The names `text` refers to, in order.
pub(crate) fn references(text: &str) -> Result<Vec<&str>, SubstError> {
    Ok(crate::template::references(text, Syntax::PLAN)?)
}

/// Expands every `${name}` in `text` from `vars`.
pub(crate) fn substitute(
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, SubstError> {
    Ok(render(text, Syntax::PLAN, vars)?)
}
