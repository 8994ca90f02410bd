//! How times, durations, sizes and numbers read in every format.

use std::borrow::Cow;

use gauntlet_store::Millis;

/// Year, month, day, hour, minute, second of a UTC time.
fn civil(ms: Millis) -> (i64, u32, u32, u32, u32, u32) {
    gauntlet_store::utc_parts(ms)
}

/// `2026-11-23 17:45:01 UTC`.
pub(crate) fn utc(ms: Millis) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// RFC 3339: `2026-11-23T17:45:01.250Z`.
pub(crate) fn rfc3339(ms: Millis) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    let frac = ms.rem_euclid(1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z")
}

/// JUnit's timestamp: ISO 8601 without a zone (it is UTC), whole seconds.
pub(crate) fn junit_timestamp(ms: Millis) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
}

/// A duration for people: `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`, `3d 04h`.
pub(crate) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{} s", num(ms as f64 / 1000.0));
    }
    let s = ms / 1000;
    if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}d {:02}h", s / 86_400, s / 3600 % 24)
    }
}

/// A duration given as a float of milliseconds (as stage summaries report
/// them): small ones keep their fraction (`1.2 ms`).
pub(crate) fn duration_f(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", num(ms))
    } else {
        duration(ms.round() as i64)
    }
}

/// An offset from the start of the run on a time axis: `0`, `45s`,
/// `1m30s`, `2h`, `1h15m`, `500ms`.
pub(crate) fn elapsed(ms: i64) -> String {
    if ms == 0 {
        return "0".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    if !ms.is_multiple_of(1000) && ms < 60_000 {
        return format!("{sign}{}s", num(ms as f64 / 1000.0));
    }
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::from(sign);
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// A size in bytes: `512 B`, `3.5 KiB`, `212.4 MiB`, `1.25 GiB`.
pub(crate) fn bytes(b: f64) -> String {
    const KIB: f64 = 1024.0;
    let a = b.abs();
    if a < KIB {
        format!("{} B", num(b))
    } else if a < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if a < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.2} GiB", b / (KIB * KIB * KIB))
    }
}

/// A figure with as many decimals as it deserves: `812`, `12.5`, `1.25`,
/// `0.004`.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    let text = if a >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.01 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    };
    trim_zeros(text)
}

/// `1.500` → `1.5`, `2.000` → `2`, `-0` → `0`.
pub(crate) fn trim_zeros(text: String) -> String {
    let mut t = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if t == "-0" {
        t = "0".into();
    }
    t
}

/// A percentage: `12.5 %`.
pub(crate) fn percent(x: f64) -> String {
    format!("{} %", num(x))
}

/// The first 12 hex digits of a sha256: enough to tell files apart.
pub(crate) fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// One shell word: as it is when it is safe, else single-quoted.
pub(crate) fn shell_word(word: &str) -> Cow<'_, str> {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// A command line as one shell-ready string.
pub(crate) fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((i, _)) => Cow::Owned(format!("{}…", &text[..i])),
    }
}

/// `1 override`, `2 overrides`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // 2026-11-23T17:45:01.250Z
        let t = 1_795_455_901_250;
        assert_eq!(utc(t), "2026-11-23 17:45:01 UTC");
        assert_eq!(rfc3339(t), "2026-11-23T17:45:01.250Z");
        assert_eq!(junit_timestamp(t), "2026-11-23T17:45:01");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0 ms");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_340), "12.3 s");
        assert_eq!(duration(2_000), "2 s");
        assert_eq!(duration(245_000), "4m 05s");
        assert_eq!(duration(7_380_000), "2h 03m");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000), "3d 04h");
        assert_eq!(duration_f(1.25), "1.25 ms");
        assert_eq!(duration_f(812.0), "812 ms");
        assert_eq!(duration_f(2500.0), "2.5 s");
    }

    #[test]
    fn elapsed_labels() {
        assert_eq!(elapsed(0), "0");
        assert_eq!(elapsed(500), "500ms");
        assert_eq!(elapsed(1500), "1.5s");
        assert_eq!(elapsed(45_000), "45s");
        assert_eq!(elapsed(90_000), "1m30s");
        assert_eq!(elapsed(7_200_000), "2h");
        assert_eq!(elapsed(4_500_000), "1h15m");
    }

    #[test]
    fn sizes_and_numbers() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(3.5 * 1024.0), "3.5 KiB");
        assert_eq!(bytes(212.4 * 1024.0 * 1024.0), "212.4 MiB");
        assert_eq!(bytes(1.25 * 1024.0 * 1024.0 * 1024.0), "1.25 GiB");
        assert_eq!(num(812.0), "812");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(1.2), "1.2");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.004), "0.004");
        assert_eq!(num(-0.0), "0");
        assert_eq!(percent(12.5), "12.5 %");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("retry"), "retry");
        assert_eq!(shell_word("cycle1/api"), "cycle1/api");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(
            shell_line(&["gauntlet".into(), "run".into(), "my plan.toml".into()]),
            "gauntlet run 'my plan.toml'"
        );
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("ééé", 2), "éé…");
    }
}
