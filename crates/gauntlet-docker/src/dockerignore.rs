//! `.dockerignore`: which files of a build context stay out of it, by the
//! rules `docker build` follows (moby's `patternmatcher`):
//!
//! - one pattern a line, white space around it trimmed; a line starting
//!   with `#` is a comment, a blank line nothing;
//! - a leading `!` makes an exception: it takes back into the context what
//!   an earlier pattern left out; the last pattern that matches a path
//!   decides;
//! - patterns are relative to the context's root (a leading `/` means the
//!   same) and cleaned as paths (`a/./b`, `a//b` and `a/c/../b` are `a/b`);
//! - `*` matches any run of characters but `/`, `?` one character but `/`,
//!   `[a-z]` and `[^a-z]` one of (or none of) a class, `\` escapes;
//! - a `**` segment matches any number of directories: `**/x` matches `x`
//!   at the root too, `x/**` everything under `x` (not `x` itself);
//! - a pattern that matches a directory matches everything under it.
//!
//! One difference: Docker lets a `**` inside a segment (`a**b`) cross a
//! `/`; here it is a `*`, within one segment.

/// The patterns of one `.dockerignore`, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    segments: Vec<Segment>,
    /// `!`: what it matches is kept.
    exception: bool,
}

#[derive(Debug, Clone)]
enum Segment {
    /// `**`: any number of directories.
    AnyDirs,
    /// One path segment's glob.
    Glob(Vec<Token>),
}

#[derive(Debug, Clone)]
enum Token {
    Char(char),
    /// `*`.
    Any,
    /// `?`.
    One,
    /// `[...]`: inclusive ranges, or their complement.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Ignore {
    /// The patterns of `.dockerignore` text; `Err` names the first bad
    /// line ("line 3: ...").
    pub(crate) fn parse(text: &str) -> Result<Ignore, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            // As Docker: a comment is a line that starts with '#', before
            // any trimming.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let segments = clean(pattern)
                .iter()
                .map(|s| segment(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| format!("line {}: pattern {line:?}: {why}", n + 1))?;
            // "/" or "." cleans to nothing: it names no file.
            if !segments.is_empty() {
                patterns.push(Pattern {
                    segments,
                    exception,
                });
            }
        }
        Ok(Ignore { patterns })
    }

    /// Keeps `path` (relative, `/`-separated) whatever the patterns say,
    /// as `docker build` keeps the Dockerfile and `.dockerignore` (the
    /// engine needs the one and leaves both out of `COPY` itself).
    pub(crate) fn keep(&mut self, path: &str) {
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| Segment::Glob(s.chars().map(Token::Char).collect()))
            .collect();
        self.patterns.push(Pattern {
            segments,
            exception: true,
        });
    }

    /// Whether `path` (relative to the context's root, `/`-separated) is
    /// left out of the context.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            let matched = (1..=path.len()).any(|n| matches(&pattern.segments, &path[..n]));
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether an exception may take back something under directory `dir`
    /// (which is excluded): if not, the walk need not enter it.
    pub(crate) fn may_keep_below(&self, dir: &str) -> bool {
        let dir: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
        self.patterns
            .iter()
            .any(|p| p.exception && may_match_below(&p.segments, &dir))
    }
}

/// A pattern cleaned as a path: no empty, `.` or resolvable `..`
/// segments (a `..` left at the start can match nothing in a context).
fn clean(pattern: &str) -> Vec<&str> {
    let mut segments: Vec<&str> = Vec::new();
    for s in pattern.split('/') {
        match s {
            "" | "." => {}
            ".." if segments.last().is_some_and(|l| *l != "..") => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    segments
}

fn segment(text: &str) -> Result<Segment, String> {
    if text == "**" {
        return Ok(Segment::AnyDirs);
    }
    let mut tokens = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' => {
                if matches!(tokens.last(), Some(Token::Any)) {
                    continue;
                }
                Token::Any
            }
            '?' => Token::One,
            '\\' => Token::Char(chars.next().ok_or("it ends with a lone \\")?),
            '[' => class(&mut chars)?,
            c => Token::Char(c),
        };
        tokens.push(token);
    }
    Ok(Segment::Glob(tokens))
}

/// A class after its `[`, up to and with its `]`.
fn class(chars: &mut std::str::Chars<'_>) -> Result<Token, String> {
    let mut negated = false;
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or("a [ is not closed")?;
        let lo = match c {
            '^' if first && !negated => {
                negated = true;
                continue;
            }
            ']' if ranges.is_empty() => return Err("a class [] is empty".to_owned()),
            ']' => return Ok(Token::Class { negated, ranges }),
            '\\' => chars.next().ok_or("a [ is not closed")?,
            c => c,
        };
        first = false;
        // A '-' between two characters makes a range.
        let mut ahead = chars.clone();
        let hi = match (ahead.next(), ahead.next()) {
            (Some('-'), Some(hi)) if hi != ']' => {
                chars.next();
                chars.next();
                if hi == '\\' {
                    chars.next().ok_or("a [ is not closed")?
                } else {
                    hi
                }
            }
            _ => lo,
        };
        if hi < lo {
            return Err(format!("the range {lo}-{hi} is backwards"));
        }
        ranges.push((lo, hi));
    }
}

/// Whether `pattern` matches exactly the segments `path`.
fn matches(pattern: &[Segment], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        // A trailing `**` matches what is under, not the directory itself.
        Some((Segment::AnyDirs, [])) => !path.is_empty(),
        Some((Segment::AnyDirs, rest)) => (0..=path.len()).any(|n| matches(rest, &path[n..])),
        Some((Segment::Glob(glob), rest)) => path
            .split_first()
            .is_some_and(|(first, tail)| glob_matches(glob, first) && matches(rest, tail)),
    }
}

/// Whether `pattern` could match something strictly under directory `dir`.
fn may_match_below(pattern: &[Segment], dir: &[&str]) -> bool {
    match (pattern.split_first(), dir.split_first()) {
        (Some((Segment::AnyDirs, _)), _) => true,
        // The pattern goes deeper than the directory.
        (Some(_), None) => true,
        (None, _) => false,
        (Some((Segment::Glob(glob), rest)), Some((first, tail))) => {
            glob_matches(glob, first) && may_match_below(rest, tail)
        }
    }
}

fn glob_matches(glob: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    glob_chars(glob, &text)
}

fn glob_chars(glob: &[Token], text: &[char]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some((Token::Any, rest)) => (0..=text.len()).any(|n| glob_chars(rest, &text[n..])),
        Some((token, rest)) => text.split_first().is_some_and(|(c, tail)| {
            let accepted = match token {
                Token::Char(want) => c == want,
                Token::One | Token::Any => true,
                Token::Class { negated, ranges } => {
                    ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated
                }
            };
            accepted && glob_chars(rest, tail)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn comments_blank_lines_and_cleaning() {
        let i = ignore("# a comment\n\n   \n  /secret.txt  \nlogs/./old//\n#notes\n");
        assert!(i.excludes("secret.txt"));
        assert!(i.excludes("logs/old"));
        assert!(i.excludes("logs/old/a.log"), "under an excluded directory");
        assert!(!i.excludes("logs"));
        assert!(!i.excludes("#notes"), "a comment, not a pattern");
        assert!(!i.excludes("a/secret.txt"), "anchored at the root");
        assert!(ignore("a/b/../c").excludes("a/c"));
    }

    #[test]
    fn stars_questions_and_classes_stay_within_a_segment() {
        let i = ignore("*.log\nfile?.txt\n[a-c]x\n[^0-9]y\nlit\\*");
        assert!(i.excludes("app.log"));
        assert!(!i.excludes("logs/app.log"), "* does not cross /");
        assert!(i.excludes("file1.txt"));
        assert!(!i.excludes("file10.txt"));
        assert!(i.excludes("bx") && !i.excludes("dx"));
        assert!(i.excludes("ay") && !i.excludes("5y"));
        assert!(i.excludes("lit*") && !i.excludes("litx"));
    }

    #[test]
    fn double_stars_match_any_number_of_directories() {
        let i = ignore("**/*.tmp\nbuild/**\na/**/z");
        assert!(i.excludes("x.tmp"), "none at the root");
        assert!(i.excludes("a/b/c/x.tmp"));
        assert!(!i.excludes("build"), "x/** is what is under x");
        assert!(i.excludes("build/out/bin"));
        assert!(i.excludes("a/z") && i.excludes("a/b/c/z"));
        assert!(!i.excludes("b/z"));
    }

    #[test]
    fn the_last_matching_pattern_decides_and_exceptions_take_back() {
        let i = ignore("docs\n!docs/keep.md\n*.md\n!README.md");
        assert!(i.excludes("docs/a.txt"));
        assert!(!i.excludes("docs/keep.md"));
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        assert!(i.may_keep_below("docs"));
        assert!(!ignore("docs\n!src").may_keep_below("docs"));
        assert!(ignore("docs\n!**/*.md").may_keep_below("docs"));
        assert!(!ignore("docs\n!other/x").may_keep_below("docs"));
    }

    #[test]
    fn kept_paths_win_and_are_literal() {
        let mut i = ignore("*\n");
        i.keep("sub/Docker[file]");
        assert!(!i.excludes("sub/Docker[file]"));
        assert!(i.excludes("sub/Dockerf"), "literal, not a class");
        assert!(i.may_keep_below("sub"));
        assert!(i.excludes("other"));
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let err = Ignore::parse("ok\n# fine\n[abc\n").unwrap_err();
        assert!(err.starts_with("line 3: pattern \"[abc\": "), "{err}");
        assert!(Ignore::parse("a\\").is_err());
        assert!(Ignore::parse("[]").is_err());
        assert!(Ignore::parse("[z-a]").is_err());
    }
}
