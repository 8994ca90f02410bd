//! Shell quoting: every value that travels inside a remote command line
//! (a program, its arguments, its environment, its working directory, a
//! path) is one POSIX single-quoted word, so the remote shell hands it to
//! the program byte for byte and interprets none of it.
//!
//! Inside single quotes a POSIX shell treats every byte literally except
//! the closing quote, so a quote in the value is written as `'\''` (close,
//! an escaped quote, reopen). A NUL byte cannot be part of any argument,
//! variable or path, and is refused rather than cut.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::SshError;

/// `value` as one single-quoted POSIX shell word, appended to `out`.
/// `what` names the value in the error for a NUL byte.
pub(crate) fn push_quoted(out: &mut Vec<u8>, value: &OsStr, what: &str) -> Result<(), SshError> {
    let bytes = value.as_bytes();
    if bytes.contains(&0) {
        return Err(SshError::Invalid {
            what: what.to_owned(),
            why: format!(
                "{:?} holds a NUL byte, which no argument, variable or path can hold",
                value
            ),
        });
    }
    out.push(b'\'');
    for &b in bytes {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    Ok(())
}

/// `value` as one single-quoted POSIX shell word.
pub fn quote(value: impl AsRef<OsStr>) -> Result<Vec<u8>, SshError> {
    let mut out = Vec::new();
    push_quoted(&mut out, value.as_ref(), "a value")?;
    Ok(out)
}

/// Text that is known to be safe as it is (names this crate makes): quoted
/// all the same, as a `String`.
pub(crate) fn quote_str(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    out.push_str(&value.replace('\'', "'\\''"));
    out.push('\'');
    out
}

/// Whether `name` can be an environment variable the shell exports:
/// letters, digits and `_`, not starting with a digit.
pub(crate) fn is_env_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::process::Command;

    /// Strings a shell would love to interpret.
    fn hostile() -> Vec<OsString> {
        let mut values: Vec<OsString> = [
            "",
            " ",
            "plain",
            "two words",
            "'",
            "''",
            "'\\''",
            "it's",
            "\"double\"",
            "$HOME",
            "${HOME}",
            "$(touch /tmp/gauntlet-ssh-quote-pwned)",
            "`touch /tmp/gauntlet-ssh-quote-pwned`",
            "; touch /tmp/gauntlet-ssh-quote-pwned",
            "a && b || c",
            "| cat",
            "> /tmp/gauntlet-ssh-quote-pwned",
            "< /etc/passwd",
            "*",
            "/*",
            "?",
            "[a-z]",
            "~",
            "~root",
            "#comment",
            "!",
            "!!",
            "\\",
            "\\\\",
            "\\'",
            "trailing\\",
            "line\nbreak",
            "\n",
            "\r\n",
            "tab\there",
            "-n",
            "-e",
            "--",
            "%s%s%n",
            "a=b",
            "{a,b}",
            "\u{7f}\u{1b}[31mred",
            "ünïcödé ✓",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        // Not UTF-8 at all.
        values.push(OsString::from_vec(vec![0xff, 0xfe, b'\'', 0x80, b'$']));
        values.push(OsString::from_vec((1u8..=255).collect()));
        values
    }

    /// Each hostile value, quoted, reaches a program through `sh -c`
    /// unchanged: `printf '%s\0'` prints each argument it gets, NUL after.
    #[test]
    fn hostile_strings_reach_the_program_byte_for_byte() {
        let values = hostile();
        let mut script = b"printf '%s\\0'".to_vec();
        for value in &values {
            script.push(b' ');
            push_quoted(&mut script, value, "a test value").unwrap();
        }
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(OsStr::from_bytes(&script))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        // printf's output ends with a NUL: the last piece is empty.
        assert_eq!(got.len(), values.len() + 1);
        for (value, got) in values.iter().zip(got) {
            assert_eq!(value.as_bytes(), got, "{value:?}");
        }
        assert!(!std::path::Path::new("/tmp/gauntlet-ssh-quote-pwned").exists());
    }

    /// Quoted twice (a script inside `sh -c` inside a command line, as
    /// the remote command is), a value still arrives unchanged.
    #[test]
    fn a_value_quoted_twice_survives_two_shells() {
        for value in hostile() {
            let mut inner = b"printf '%s' ".to_vec();
            push_quoted(&mut inner, &value, "a test value").unwrap();
            let mut outer = b"exec /bin/sh -c ".to_vec();
            push_quoted(&mut outer, OsStr::from_bytes(&inner), "a script").unwrap();
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(OsStr::from_bytes(&outer))
                .output()
                .unwrap();
            assert!(out.status.success(), "{value:?}: {out:?}");
            assert_eq!(out.stdout, value.as_bytes(), "{value:?}");
        }
    }

    #[test]
    fn a_nul_byte_is_refused_not_cut() {
        let err = quote(OsStr::from_bytes(b"a\0b")).unwrap_err().to_string();
        assert!(err.contains("NUL byte"), "{err}");
        assert_eq!(quote("it's").unwrap(), b"'it'\\''s'");
        assert_eq!(quote_str("it's"), "'it'\\''s'");
    }

    #[test]
    fn environment_names_are_shell_identifiers() {
        for good in ["A", "_", "PATH", "a_1", "_X9"] {
            assert!(is_env_name(OsStr::new(good)), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "$A", "Ä"] {
            assert!(!is_env_name(OsStr::new(bad)), "{bad}");
        }
    }
}
