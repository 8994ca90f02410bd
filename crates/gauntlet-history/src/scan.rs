//! Where an EDN history may be cut: a byte-level scanner that follows
//! strings, comments, character literals and brackets just far enough to
//! say at which line ends every top-level op read so far is complete, so a
//! stream can hand whole ops to the EDN reader without holding the file.
//!
//! It also removes Clojure metadata (`^:kw`, `^Sym`, `^"tag"`, `^{...}`),
//! which EDN readers do not know, by overwriting it with spaces (newlines
//! kept, so lines stay where they were): metadata annotates the form after
//! it and is never part of its value. (clojure-reader would read `^` as a
//! symbol and shift every key and value of the map after it.)
//!
//! The scanner mirrors clojure-reader's tokenizer: a token ends at
//! whitespace, a comma, a bracket, `;` or `"`; `\` starts a character
//! literal only where a token starts, and its first character is taken
//! literally. On input the reader would refuse the two may disagree about
//! where an op ends; the reader then reports an error either way.

/// What the scanner is inside of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between tokens.
    Normal,
    Str,
    /// Just after a `\` in a string.
    StrEscape,
    /// A `;` comment, to the end of the line.
    Comment,
    /// Just after a `#` that starts a token.
    Hash,
    /// A symbol, keyword, number, ...; `tag` when it is a `#tag`, which
    /// applies to the form after it.
    Token {
        tag: bool,
    },
    /// Just after the `\` of a character literal: the next byte is taken.
    CharFirst,
    /// The rest of a character literal (`\newline`, `\u00e9`).
    Char,
}

/// After a bracket the reader refuses: no cut before the next non-blank
/// line has been taken too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookahead {
    Off,
    /// On the refused bracket's line.
    NextLine,
    /// Past it, waiting for a non-blank character.
    Content,
    /// On the line with one.
    LineEnd,
}

/// Something that applies to the form after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// `#_`: the form goes, and that is the end of it.
    Discard,
    /// A `#tag` or metadata: with the form it is one form.
    Wrap,
}

/// Metadata being blanked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    /// After the `^`, before its form.
    Await,
    /// A `{...}` (or other bracketed form), this many brackets deep.
    Depth(u32),
    Str,
    Token,
}

/// The scanner's state between two bytes of the stream.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    mode: Mode,
    depth: i64,
    /// The closing bracket of each open one, innermost last.
    closers: Vec<u8>,
    lookahead: Lookahead,
    /// The depth of a top-level op: 1 inside a history that is one vector
    /// (or list), else 0; `None` before the first form.
    baseline: Option<i64>,
    /// Per depth (the top level first), the prefixes waiting for their
    /// form: `#_` discards the next form, a `#tag` or metadata wraps it
    /// (the two make one form).
    prefixes: Vec<Vec<Prefix>>,
    meta: Option<Meta>,
    /// Newlines seen (outside strings), and the 0-based line where the
    /// history's opening bracket is (when it is one vector or list).
    newlines: usize,
    open: Option<(u8, usize, usize)>,
    /// Bytes scanned before the current call.
    offset: usize,
    /// The last byte scanned (after blanking).
    prev: u8,
    /// Step through every byte (tests compare it with skipping).
    slow: bool,
}

impl Scanner {
    pub(crate) fn new() -> Scanner {
        Scanner {
            mode: Mode::Normal,
            depth: 0,
            closers: Vec::new(),
            lookahead: Lookahead::Off,
            baseline: None,
            prefixes: vec![Vec::new()],
            meta: None,
            newlines: 0,
            open: None,
            offset: 0,
            prev: b'\n',
            slow: false,
        }
    }

    /// The history's closing bracket, and the 0-based line and the offset
    /// (in bytes scanned) of its opening one, once the first form has been
    /// seen and it is a vector or list.
    pub(crate) fn open(&self) -> Option<(u8, usize, usize)> {
        self.open
    }

    /// Scans `bytes` (the stream's next bytes) up to and including the first
    /// newline after which every top-level form seen is complete, and
    /// returns the offset just past that newline; `None` when there is no
    /// such newline in `bytes` (all of it was scanned). Metadata is blanked
    /// in place.
    pub(crate) fn next_boundary(&mut self, bytes: &mut [u8]) -> Option<usize> {
        let found = self.scan(bytes);
        self.offset += found.unwrap_or(bytes.len());
        found
    }

    fn scan(&mut self, bytes: &mut [u8]) -> Option<usize> {
        let mut i = 0;
        let n = bytes.len();
        while i < n {
            // Skip what cannot change the state: the inside of a string or
            // a comment, a token's characters, blanks between tokens.
            // (`newlines` then misses a string's newlines: it only matters
            // before the first form.) Metadata is blanked byte by byte.
            if self.meta.is_none() && self.lookahead == Lookahead::Off {
                let rest = &bytes[i..];
                let skip = match self.mode {
                    Mode::Str => memchr::memchr2(b'"', b'\\', rest),
                    Mode::Comment => memchr::memchr(b'\n', rest),
                    Mode::Token { .. } => rest.iter().position(|&b| ends_token(b)),
                    Mode::Char => rest
                        .iter()
                        .position(|&b| is_whitespace(b) || is_delimiter(b)),
                    // Tokens need no state of their own once the first form
                    // is seen and no `#_`, tag or metadata waits: skip to
                    // the next byte that may matter. `\\`, `#` and `^`
                    // matter only where a token starts.
                    Mode::Normal if self.settled() && self.baseline.is_some() && !self.slow => {
                        let mut k = 0;
                        loop {
                            match rest[k..].iter().position(|&b| MATTERS[b as usize]) {
                                None => break None,
                                Some(j) => k += j,
                            }
                            let prev = if i + k > 0 {
                                bytes[i + k - 1]
                            } else {
                                self.prev
                            };
                            if matches!(rest[k], b'\\' | b'#' | b'^') && !ends_token(prev) {
                                k += 1;
                                continue;
                            }
                            break Some(k);
                        }
                    }
                    Mode::Normal => rest
                        .iter()
                        .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b',')),
                    Mode::StrEscape | Mode::Hash | Mode::CharFirst => Some(0),
                };
                match skip {
                    Some(k) => i += k,
                    None => {
                        self.prev = bytes[n - 1];
                        return None;
                    }
                }
            }
            let b = bytes[i];
            let step = self.step(b);
            if step.blank && b != b'\n' {
                bytes[i] = b' ';
            }
            if b == b'\n' {
                self.newlines += 1;
            }
            if let Some((_, _, at)) = &mut self.open
                && *at == usize::MAX
            {
                *at = self.offset + i;
            }
            self.prev = bytes[i];
            i += 1;
            if step.boundary {
                return Some(i);
            }
        }
        None
    }

    fn step(&mut self, b: u8) -> Step {
        if self.lookahead == Lookahead::Content
            && !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
        {
            self.lookahead = Lookahead::LineEnd;
        }
        let in_meta = self.meta.is_some();
        match self.mode {
            Mode::Normal => self.normal(b),
            Mode::Str => {
                match b {
                    b'\\' => self.mode = Mode::StrEscape,
                    b'"' => {
                        self.mode = Mode::Normal;
                        if self.meta == Some(Meta::Str) {
                            self.end_meta();
                        } else {
                            self.form_ends();
                        }
                    }
                    _ => {}
                }
                Step::blank(in_meta)
            }
            Mode::StrEscape => {
                self.mode = Mode::Str;
                Step::blank(in_meta)
            }
            Mode::Comment => {
                if b == b'\n' {
                    self.mode = Mode::Normal;
                    self.normal(b)
                } else {
                    Step::blank(in_meta)
                }
            }
            Mode::CharFirst => {
                self.mode = Mode::Char;
                Step::blank(in_meta)
            }
            Mode::Char | Mode::Token { .. } => {
                let ends = if self.mode == Mode::Char {
                    is_whitespace(b) || is_delimiter(b)
                } else {
                    ends_token(b)
                };
                if ends {
                    let tag = self.mode == (Mode::Token { tag: true });
                    self.mode = Mode::Normal;
                    if self.meta == Some(Meta::Token) {
                        self.end_meta();
                    } else if tag {
                        self.prefix(Prefix::Wrap);
                    } else {
                        self.form_ends();
                    }
                    self.normal(b)
                } else {
                    Step::blank(in_meta)
                }
            }
            Mode::Hash => {
                self.mode = Mode::Normal;
                match b {
                    // A set: its bracket opens it.
                    b'{' => self.normal(b),
                    // A discard: the form after it goes.
                    b'_' => {
                        self.prefix(Prefix::Discard);
                        Step::blank(in_meta)
                    }
                    // A `#"regex"`: a string.
                    b'"' => self.normal(b),
                    _ if is_whitespace(b) || is_delimiter(b) => self.normal(b),
                    // `#inst`: a tag. (clojure-reader reads `##Inf` as the
                    // tag `#Inf` too, and refuses it later.)
                    _ => {
                        self.mode = Mode::Token { tag: true };
                        Step::blank(in_meta)
                    }
                }
            }
        }
    }

    /// A byte between tokens.
    fn normal(&mut self, b: u8) -> Step {
        // Metadata's own brackets nest apart from the forms around it (its
        // bytes are blanked, so the reader never sees them); a closer
        // where its form should be ends it (dropped, nothing to annotate).
        if b != b'\n' {
            match (self.meta, b) {
                (Some(Meta::Await), b'[' | b'(' | b'{') => {
                    self.meta = Some(Meta::Depth(1));
                    return Step::blank(true);
                }
                (Some(Meta::Depth(n)), b'[' | b'(' | b'{') => {
                    self.meta = Some(Meta::Depth(n + 1));
                    return Step::blank(true);
                }
                (Some(Meta::Depth(n)), b']' | b')' | b'}') => {
                    if n <= 1 {
                        self.end_meta();
                    } else {
                        self.meta = Some(Meta::Depth(n - 1));
                    }
                    return Step::blank(true);
                }
                (Some(Meta::Await), b']' | b')' | b'}') => self.meta = None,
                _ => {}
            }
        }
        let in_meta = self.meta.is_some();
        match b {
            b'\n' => {
                let settled = match self.lookahead {
                    Lookahead::NextLine => {
                        self.lookahead = Lookahead::Content;
                        false
                    }
                    Lookahead::Content => false,
                    Lookahead::LineEnd => {
                        self.lookahead = Lookahead::Off;
                        true
                    }
                    Lookahead::Off => true,
                };
                let boundary = settled
                    && !in_meta
                    && self.settled()
                    && self.baseline.is_none_or(|base| self.depth <= base);
                return Step {
                    blank: false,
                    boundary,
                };
            }
            b' ' | b'\t' | b'\r' | b',' | 0x0b | 0x0c => {}
            b';' => self.mode = Mode::Comment,
            b'"' => {
                self.form_starts(b);
                self.mode = Mode::Str;
            }
            b'[' | b'(' | b'{' => {
                self.form_starts(b);
                self.closers.push(match b {
                    b'[' => b']',
                    b'(' => b')',
                    _ => b'}',
                });
                self.prefixes.push(Vec::new());
                self.depth += 1;
            }
            b']' | b')' | b'}' => {
                // A closer that closes nothing, the wrong bracket, or a
                // `#_` or tag still waiting for its form is the reader's
                // error; its message looks at the next line, so that line
                // goes with it.
                let waiting = !self.settled();
                let matched = self.closers.pop() == Some(b);
                if waiting || !matched {
                    self.lookahead = Lookahead::NextLine;
                }
                if self.prefixes.len() > 1 {
                    self.prefixes.pop();
                }
                self.depth = self.closers.len() as i64;
                self.form_ends();
            }
            b'\\' => {
                self.form_starts(b);
                self.mode = Mode::CharFirst;
            }
            b'#' => {
                self.form_starts(b);
                self.mode = Mode::Hash;
            }
            b'^' => {
                if self.meta.is_none() {
                    self.meta = Some(Meta::Await);
                }
                return Step::blank(true);
            }
            _ => {
                self.form_starts(b);
                self.mode = Mode::Token { tag: false };
            }
        }
        Step::blank(in_meta)
    }

    /// A form (or a `#` prefix) starts with `b`.
    fn form_starts(&mut self, b: u8) {
        if self.meta == Some(Meta::Await) {
            self.meta = Some(match b {
                b'"' => Meta::Str,
                _ => Meta::Token,
            });
            return;
        }
        if self.meta.is_some() {
            return;
        }
        if self.baseline.is_none() {
            let vector = matches!(b, b'[' | b'(') && self.depth == 0;
            self.baseline = Some(if vector { 1 } else { 0 });
            if vector {
                // Its offset is filled in by `scan`.
                let close = if b == b'[' { b']' } else { b')' };
                self.open = Some((close, self.newlines, usize::MAX));
            }
        }
    }

    /// The metadata's form ended: the form it annotates is still to come.
    fn end_meta(&mut self) {
        self.meta = None;
        self.prefix(Prefix::Wrap);
    }

    fn prefix(&mut self, p: Prefix) {
        if self.meta.is_none()
            && let Some(level) = self.prefixes.last_mut()
        {
            level.push(p);
        }
    }

    /// A form ended at the current depth: it satisfies the prefix before
    /// it; a wrapped form ends with its wrapper, and so on.
    fn form_ends(&mut self) {
        if self.meta.is_some() {
            return;
        }
        if let Some(level) = self.prefixes.last_mut() {
            while level.pop() == Some(Prefix::Wrap) {}
        }
    }

    /// No prefix waits at the current depth.
    fn settled(&self) -> bool {
        self.prefixes.last().is_none_or(Vec::is_empty)
    }
}

/// What one byte did.
struct Step {
    /// Part of metadata: overwrite it with a space.
    blank: bool,
    /// A newline after which every top-level form is complete.
    boundary: bool,
}

impl Step {
    fn blank(blank: bool) -> Step {
        Step {
            blank,
            boundary: false,
        }
    }
}

/// The bytes that may change the state between tokens.
const MATTERS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = matches!(
            i as u8,
            b'"' | b';' | b'[' | b']' | b'(' | b')' | b'{' | b'}' | b'\n' | b'\\' | b'#' | b'^'
        );
        i += 1;
    }
    t
};

/// Whether `b` ends a token (a symbol, keyword, number, tag).
#[inline]
fn ends_token(b: u8) -> bool {
    is_whitespace(b) || is_delimiter(b) || b == b'"'
}

#[inline]
fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0b | 0x0c)
}

/// clojure-reader's delimiters, without `"` (which ends a token but not a
/// character literal).
#[inline]
fn is_delimiter(b: u8) -> bool {
    matches!(b, b'[' | b']' | b'(' | b')' | b'{' | b'}' | b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text cut at every boundary, and the text after blanking.
    fn cuts(text: &str) -> (Vec<String>, String) {
        let (cuts, text) = cuts_with(text.as_bytes(), false, usize::MAX);
        (
            cuts.into_iter()
                .map(|c| String::from_utf8(c).unwrap())
                .collect(),
            String::from_utf8(text).unwrap(),
        )
    }

    /// The cuts, scanning at most `step` bytes at a time, byte by byte when
    /// `slow`.
    fn cuts_with(text: &[u8], slow: bool, step: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut bytes = text.to_vec();
        let mut scanner = Scanner::new();
        scanner.slow = slow;
        let mut out = Vec::new();
        let mut from = 0;
        let mut at = 0;
        while at < bytes.len() {
            let end = bytes.len().min(at.saturating_add(step));
            match scanner.next_boundary(&mut bytes[at..end]) {
                Some(k) => {
                    at += k;
                    out.push(bytes[from..at].to_vec());
                    from = at;
                }
                None => at = end,
            }
        }
        if from < bytes.len() {
            out.push(bytes[from..].to_vec());
        }
        (out, bytes)
    }

    /// Skipping over tokens, and scanning in pieces, cut and blank exactly
    /// as stepping through every byte of the whole does.
    #[test]
    fn skipping_and_pieces_change_nothing() {
        let alphabet = b"{}[]()\"\\#^;:_ a1\n,\t\xc3\xa9";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = (next() % 60) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let reference = cuts_with(&text, true, usize::MAX);
            for (slow, step) in [(false, usize::MAX), (false, 1), (false, 3), (true, 2)] {
                assert_eq!(
                    cuts_with(&text, slow, step),
                    reference,
                    "{slow} {step}: {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    #[test]
    fn one_op_per_line_cuts_at_every_line() {
        let (c, _) = cuts("{:a 1}\n\n; c {\n{:b \"}\n{\" :c \\{}\n");
        assert_eq!(c, ["{:a 1}\n", "\n", "; c {\n", "{:b \"}\n{\" :c \\{}\n"]);
    }

    #[test]
    fn a_vector_cuts_between_its_ops() {
        let (c, _) = cuts("[{:a 1}\n {:b\n  2}\n]\n");
        assert_eq!(c, ["[{:a 1}\n", " {:b\n  2}\n", "]\n"]);
        let mut s = Scanner::new();
        let mut bytes = b"\n\n (".to_vec();
        assert_eq!(s.next_boundary(&mut bytes), Some(1));
        assert_eq!(s.next_boundary(&mut bytes[1..]), Some(1));
        assert_eq!(s.open(), None);
        assert_eq!(s.next_boundary(&mut bytes[2..]), None);
        assert_eq!(s.open(), Some((b')', 2, 3)));
    }

    #[test]
    fn tags_discards_and_metadata_wait_for_their_form() {
        let (c, _) = cuts("#jepsen.history.Op\n{:a 1}\n#_\n{:b 2}\n{:c 3}\n");
        assert_eq!(
            c,
            ["#jepsen.history.Op\n{:a 1}\n", "#_\n{:b 2}\n", "{:c 3}\n"]
        );
        // `#_ #_ a b` drops two forms; a tag and its form are one.
        let (c, _) = cuts("#{1}\n#_ #_ 1 #inst 2\n3\n#_ #_ 1\n2 3\n");
        assert_eq!(c, ["#{1}\n", "#_ #_ 1 #inst 2\n", "3\n", "#_ #_ 1\n2 3\n"]);
        let (c, _) = cuts("#_ #_ 1 #inst 2\n#_ ^:m #t [3]\n4\n");
        assert_eq!(c, ["#_ #_ 1 #inst 2\n", "#_     #t [3]\n", "4\n"]);
    }

    #[test]
    fn metadata_is_blanked() {
        let (c, text) = cuts("^:m {:a ^{:x \"}\"\n :y [1]} [1 2]}\n^Foo ^\"s\" {:b 1}\n");
        let blank = |n| " ".repeat(n);
        assert_eq!(
            text,
            format!(
                "{}{{:a {}\n{} [1 2]}}\n{} {} {{:b 1}}\n",
                blank(4),
                blank(8),
                blank(8),
                blank(4),
                blank(4)
            )
        );
        assert_eq!(c.len(), 2);
        // Before the history's vector.
        // Before the history's vector: metadata waits for its form.
        let mut bytes = b"^{:a 1}\n[{:b 2}]\n".to_vec();
        let mut s = Scanner::new();
        assert_eq!(s.next_boundary(&mut bytes), Some(17));
        assert_eq!(s.open(), Some((b']', 1, 8)));
        assert_eq!(&bytes[..8], b"       \n");
    }

    #[test]
    fn character_literals_are_not_brackets_or_strings() {
        let (c, _) = cuts("{:a \\{ :b \\\" :c \\;}\n{:d 1}\n");
        assert_eq!(c, ["{:a \\{ :b \\\" :c \\;}\n", "{:d 1}\n"]);
        // A backslash inside a token is part of it: the quote opens a string.
        let (c, _) = cuts("{:a b\\\"}\n\"}\n{:d 1}\n");
        assert_eq!(c, ["{:a b\\\"}\n\"}\n", "{:d 1}\n"]);
    }
}
