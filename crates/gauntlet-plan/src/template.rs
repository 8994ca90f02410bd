//! The one template parser, in its two syntaxes:
//!
//! - [`Syntax::PLAN`], `${name}`: plan variables, expanded when the plan is
//!   loaded. `$${` stands for a literal `${`; any other `$` is kept as it
//!   is, so shell commands (`echo $HOME`) need no escaping. Names are
//!   letters, digits and `_`.
//! - [`Syntax::RUN`], `{{name}}`: what changes while the run goes (a soak
//!   user's `{{key}}`, a captured `{{id}}`), rendered per request. Spaces
//!   inside the braces are allowed; there is no escape.
//!
//! Both refuse an unknown name, because a typo silently rendered as an empty
//! string would send well-formed requests that test nothing. Substituted
//! values are never scanned again.

use std::collections::BTreeMap;

/// How references are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syntax {
    open: &'static str,
    close: &'static str,
    /// Written for a literal `open`.
    escape: Option<&'static str>,
    /// Names must be identifiers (else spaces around them are trimmed).
    strict_names: bool,
}

impl Syntax {
    /// `${name}`, with `$${` for a literal `${`.
    pub const PLAN: Syntax = Syntax {
        open: "${",
        close: "}",
        escape: Some("$${"),
        strict_names: true,
    };
    /// `{{name}}` (`{{ name }}` too).
    pub const RUN: Syntax = Syntax {
        open: "{{",
        close: "}}",
        escape: None,
        strict_names: false,
    };
}

/// Why a template could not be read or rendered. Offsets are byte offsets
/// into the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A name not among the variables.
    #[error("undefined variable \"{name}\"")]
    Undefined { name: String },
    /// An opening without its close.
    #[error("an opening at byte {at} without its close")]
    Unclosed { at: usize },
    /// A `${…}` whose inside is not a name.
    #[error("invalid variable name \"{name}\"")]
    BadName { name: String },
}

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// A variable name: a letter or `_`, then letters, digits or `_`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `text` into literal text and variable references.
pub fn pieces(text: &str, syntax: Syntax) -> Result<Vec<Piece<'_>>, TemplateError> {
    // Where a reference or an escape can start: the first byte they share.
    let lead = syntax.open.as_bytes()[0] as char;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(lead) {
        let after = &rest[at..];
        if let Some(tail) = syntax.escape.and_then(|e| after.strip_prefix(e)) {
            out.push(Piece::Text(&rest[..at]));
            out.push(Piece::Text(syntax.open));
            rest = tail;
        } else if let Some(body) = after.strip_prefix(syntax.open) {
            out.push(Piece::Text(&rest[..at]));
            let end = body.find(syntax.close).ok_or(TemplateError::Unclosed {
                at: text.len() - rest.len() + at,
            })?;
            let name = &body[..end];
            let name = if syntax.strict_names {
                if !valid_name(name) {
                    return Err(TemplateError::BadName {
                        name: name.to_owned(),
                    });
                }
                name
            } else {
                name.trim()
            };
            out.push(Piece::Var(name));
            rest = &body[end + syntax.close.len()..];
        } else {
            let next = at + lead.len_utf8();
            out.push(Piece::Text(&rest[..next]));
            rest = &rest[next..];
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// The names `text` refers to, in order.
pub fn references(text: &str, syntax: Syntax) -> Result<Vec<&str>, TemplateError> {
    Ok(pieces(text, syntax)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Replaces every reference in `text` with its value from `vars`.
pub fn render(
    text: &str,
    syntax: Syntax,
    vars: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text, syntax)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => {
                out.push_str(vars.get(name).ok_or_else(|| TemplateError::Undefined {
                    name: name.to_owned(),
                })?)
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("port", "6390"), ("host", "127.0.0.1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn plan_syntax_expands_and_escapes() {
        let (v, p) = (vars(), Syntax::PLAN);
        assert_eq!(
            render("${host}:${port}", p, &v).as_deref(),
            Ok("127.0.0.1:6390")
        );
        assert_eq!(
            render("$${port} $HOME $$ a$", p, &v).as_deref(),
            Ok("${port} $HOME $$ a$")
        );
        assert_eq!(render("$$${port}", p, &v).as_deref(), Ok("$${port}"));
        assert_eq!(
            render("${nope}", p, &v),
            Err(TemplateError::Undefined {
                name: "nope".into()
            })
        );
        assert_eq!(
            render("ab${port", p, &v),
            Err(TemplateError::Unclosed { at: 2 })
        );
        assert_eq!(
            render("${a b}", p, &v),
            Err(TemplateError::BadName { name: "a b".into() })
        );
        assert_eq!(references("${a}-${b}$${c}", p).unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn run_syntax_trims_and_has_no_escape() {
        let (v, r) = (vars(), Syntax::RUN);
        assert_eq!(
            render("{{ host }}:{{port}} { } }}", r, &v).as_deref(),
            Ok("127.0.0.1:6390 { } }}")
        );
        assert_eq!(render("${port}", r, &v).as_deref(), Ok("${port}"));
        assert_eq!(
            render("x{{port", r, &v),
            Err(TemplateError::Unclosed { at: 1 })
        );
        // Values are not scanned again.
        let looped = BTreeMap::from([("a".to_owned(), "{{a}}".to_owned())]);
        assert_eq!(render("{{a}}", r, &looped).as_deref(), Ok("{{a}}"));
    }
}
