//! Errors that name the place in the plan that is wrong.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A plan that could not be loaded. `Display` starts with
/// `file:line:column:` where there is a place to point at, the form
/// editors and terminals turn into a link.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("{}: cannot read the plan: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Not TOML, a wrong type or an unknown key (reported by the TOML parser).
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid TOML that breaks a plan rule.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A rule about the plan as a whole, with no one place to point at
    /// (e.g. a plan without stages).
    #[error("{}: {message}", path.display())]
    Plan { path: PathBuf, message: String },
    /// A bad command-line option: `--set`, `--cycles`, `--modules`.
    #[error("{message}")]
    Option { message: String },
}

impl PlanError {
    /// 1-based line of the offending key or value, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            PlanError::Syntax { line, .. } | PlanError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// 1-based column (in characters) of the offending key or value.
    pub fn column(&self) -> Option<usize> {
        match self {
            PlanError::Syntax { column, .. } | PlanError::Invalid { column, .. } => Some(*column),
            _ => None,
        }
    }

    pub(crate) fn option(message: impl Into<String>) -> Self {
        PlanError::Option {
            message: message.into(),
        }
    }

    pub(crate) fn syntax(path: &Path, text: &str, error: &toml::de::Error) -> Self {
        // serde speaks of fields; a plan has keys.
        let message = error
            .message()
            .trim_end()
            .replace("unknown field", "unknown key")
            .replace("missing field", "missing key");
        match error.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                PlanError::Syntax {
                    path: path.to_owned(),
                    line,
                    column,
                    message,
                }
            }
            None => PlanError::Plan {
                path: path.to_owned(),
                message,
            },
        }
    }

    pub(crate) fn invalid(path: &Path, text: &str, span: Range<usize>, message: String) -> Self {
        let (line, column) = line_column(text, span.start);
        PlanError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    }
}

/// 1-based line and column (counted in characters) of byte `offset`.
/// An offset past the end or inside a character is clamped, never a panic.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes, one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 8), (2, 2));
        assert_eq!(line_column(text, 999), (3, 1));
    }
}
