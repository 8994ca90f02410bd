//! Compose's variable interpolation over the file's text, before it is
//! parsed: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?message}`, `${VAR?message}`, and `$$` for a `$`.
//!
//! Values come from the caller's lookup (the plan's `[vars]`, then
//! gauntlet's environment, then the `.env` file beside the Compose file).
//! A variable with no value and no default is an error naming its line:
//! Compose would put an empty string there with a warning, and an empty
//! image name or port is a run that fails later for a reason far away.
//! Substitution never adds a line (a value with a newline is refused), so
//! every line number after it is still the file's. A `#` comment is left
//! alone.

/// A variable that could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InterpolationError {
    /// 1-based.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `text` with every variable filled in from `lookup`.
pub(super) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        interpolate_line(line, index + 1, lookup, &mut out)?;
    }
    Ok(out)
}

fn interpolate_line(
    line: &str,
    number: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), InterpolationError> {
    let fail = |at: usize, message: String| InterpolationError {
        line: number,
        column: line[..at].chars().count() + 1,
        message,
    };
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' if quote.is_none() => quote = Some(c),
            _ if quote == Some(c) => quote = None,
            // A comment: a `#` at the start or after a blank, outside quotes.
            b'#' if quote.is_none() && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                out.push_str(&line[i..]);
                return Ok(());
            }
            b'$' => {
                let (value, used) = variable(&line[i..], lookup).map_err(|m| fail(i, m))?;
                if value.contains('\n') {
                    return Err(fail(
                        i,
                        "the value has a newline, which would move every later line of the file"
                            .to_owned(),
                    ));
                }
                out.push_str(&value);
                i += used;
                continue;
            }
            _ => {}
        }
        // Copy one whole character.
        let len = line[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&line[i..i + len]);
        i += len;
    }
    Ok(())
}

/// The value of the reference at the start of `text` (which starts with
/// `$`) and how many bytes it took.
fn variable(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), String> {
    let rest = &text[1..];
    if rest.starts_with('$') {
        return Ok(("$".to_owned(), 2));
    }
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if let Some(braced) = rest.strip_prefix('{') {
        let Some(end) = braced.find('}') else {
            return Err("`${` without its closing `}`".to_owned());
        };
        let inner = &braced[..end];
        let name_len = inner.len() - inner.trim_start_matches(is_name).len();
        let (name, modifier) = inner.split_at(name_len);
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`${{{inner}}}` does not start with a variable name"
            ));
        }
        let value = lookup(name);
        let resolved = match modifier {
            "" => value.ok_or_else(|| unset(name))?,
            m if m.starts_with(":-") => value
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| m[2..].to_owned()),
            m if m.starts_with('-') => value.unwrap_or_else(|| m[1..].to_owned()),
            m if m.starts_with(":?") => value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} is required: {}", &m[2..]))?,
            m if m.starts_with('?') => {
                value.ok_or_else(|| format!("{name} is required: {}", &m[1..]))?
            }
            m => return Err(format!("unknown modifier {m:?} in `${{{inner}}}`")),
        };
        return Ok((resolved, end + 3));
    }
    let name_len = rest.len() - rest.trim_start_matches(is_name).len();
    if name_len == 0 {
        return Err("a lone `$`: write `$$` for a dollar sign".to_owned());
    }
    let name = &rest[..name_len];
    Ok((lookup(name).ok_or_else(|| unset(name))?, name_len + 1))
}

fn unset(name: &str) -> String {
    format!(
        "variable {name} has no value: set it in the plan's [vars], the environment or the .env file beside the Compose file, or give a default (`${{{name}:-default}}`)"
    )
}

/// The `KEY=VALUE` lines of an env file (`.env`, `env_file:`): blank
/// lines and `#` comments skipped, `export ` allowed, one level of quotes
/// taken off. A line without `=` is an error naming it.
pub(super) fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((index + 1, format!("{line:?} is not KEY=VALUE")));
        };
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        out.push((key.trim().to_owned(), unquoted.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn every_form_compose_knows_is_filled_in() {
        let text =
            "a: $PORT\nb: ${PORT}\nc: ${NOPE:-9}\nd: ${EMPTY:-x}\ne: ${EMPTY-x}\nf: $$HOME\n";
        let out = interpolate(text, &vars).unwrap();
        assert_eq!(out, "a: 8080\nb: 8080\nc: 9\nd: x\ne: \nf: $HOME\n");
    }

    #[test]
    fn an_unset_variable_is_an_error_at_its_line_but_not_in_a_comment() {
        let text = "a: 1\n# uses ${NOPE}\nb: x # and $NOPE\nc: ${NOPE}\n";
        let err = interpolate(text, &vars).unwrap_err();
        assert_eq!((err.line, err.column), (4, 4));
        assert!(err.message.contains("NOPE has no value"), "{}", err.message);
        let err = interpolate("x: ${NOPE:?set the port}\n", &vars).unwrap_err();
        assert!(err.message.contains("set the port"));
        assert!(interpolate("x: ${PORT\n", &vars).is_err());
        assert!(interpolate("x: a $ b\n", &vars).is_err());
    }

    #[test]
    fn a_hash_inside_quotes_is_no_comment() {
        let out = interpolate("x: \"#$PORT\"\n", &vars).unwrap();
        assert_eq!(out, "x: \"#8080\"\n");
    }

    #[test]
    fn env_files_read_as_compose_reads_them() {
        let env = parse_env_file("# c\n\nA=1\nexport B=\"two words\"\nC='x'\n").unwrap();
        assert_eq!(
            env,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
        assert_eq!(parse_env_file("A=1\nnope\n").unwrap_err().0, 2);
    }
}
