//! `${name}` substitution. `$${` stands for a literal `${`; any other `$`
//! is kept as it is, so shell commands (`echo $HOME`) need no escaping.

use std::collections::BTreeMap;

/// The variable every plan has: the plan file's directory, absolute.
pub const PLAN_DIR: &str = "plan_dir";

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubstError {
    Undefined(String),
    Unclosed,
    BadName(String),
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

/// A variable name: a letter or `_`, then letters, digits or `_`.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One piece of a template.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits `text` into literal text and variable references.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, SubstError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push(Piece::Text(&rest[..at]));
            out.push(Piece::Text("${"));
            rest = tail;
        } else if let Some(body) = after.strip_prefix("${") {
            out.push(Piece::Text(&rest[..at]));
            let end = body.find('}').ok_or(SubstError::Unclosed)?;
            let name = &body[..end];
            if !valid_name(name) {
                return Err(SubstError::BadName(name.to_owned()));
            }
            out.push(Piece::Var(name));
            rest = &body[end + 1..];
        } else {
            out.push(Piece::Text(&rest[..=at]));
            rest = &after[1..];
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// The names `text` refers to, in order.
pub(crate) fn references(text: &str) -> Result<Vec<&str>, SubstError> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Expands every `${name}` in `text` from `vars`.
pub(crate) fn substitute(
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, SubstError> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => out.push_str(
                vars.get(name)
                    .ok_or_else(|| SubstError::Undefined(name.to_owned()))?,
            ),
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
    fn expands_and_escapes() {
        let v = vars();
        assert_eq!(
            substitute("${host}:${port}", &v).as_deref(),
            Ok("127.0.0.1:6390")
        );
        assert_eq!(
            substitute("$${port} $HOME $$ a$", &v).as_deref(),
            Ok("${port} $HOME $$ a$")
        );
        assert_eq!(substitute("$$${port}", &v).as_deref(), Ok("$${port}"));
        assert_eq!(
            substitute("${nope}", &v),
            Err(SubstError::Undefined("nope".into()))
        );
        assert_eq!(substitute("${port", &v), Err(SubstError::Unclosed));
        assert_eq!(
            substitute("${a b}", &v),
            Err(SubstError::BadName("a b".into()))
        );
        assert_eq!(references("${a}-${b}$${c}").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn soak_templates_are_not_variables() {
        // `{{key}}` is filled in by the soak users at run time; `${…}`
        // expansion leaves it (and its braces) exactly as written.
        let v = vars();
        assert_eq!(
            substitute("http://${host}:${port}/kv/{{key}}?v={{value}}", &v).as_deref(),
            Ok("http://127.0.0.1:6390/kv/{{key}}?v={{value}}")
        );
        assert_eq!(
            substitute(r#"{"v":"{{value}}","u":{{user}}}"#, &v).as_deref(),
            Ok(r#"{"v":"{{value}}","u":{{user}}}"#)
        );
        assert_eq!(references("{{key}} {{port}}").unwrap(), Vec::<&str>::new());
    }
}
