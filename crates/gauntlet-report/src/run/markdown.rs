//! `REPORT.md`: GitHub-flavoured Markdown, no HTML. Text from the run
//! (messages, reasons, names) is escaped so it cannot turn into markup.

use std::fmt::Write;

use super::RunReport;
use super::content::{Block, Cell, Section, header_facts, sections};
use super::fmt::utc;

pub(crate) fn render(r: &RunReport) -> String {
    let summary = r.summary();
    let mut out = String::new();
    let _ = writeln!(out, "# Gauntlet run: {}\n", inline(&r.run.plan_name));
    let _ = writeln!(out, "**{}**\n", inline(&summary.headline));
    for (label, cell) in header_facts(r, &summary) {
        let _ = writeln!(out, "- **{label}:** {}", cell_text(&cell));
    }
    out.push('\n');
    for section in sections(r, &summary) {
        write_section(&mut out, &section);
    }
    let _ = writeln!(
        out,
        "---\n\n_Generated {} by gauntlet-report._",
        utc(r.generated_at)
    );
    out
}

fn write_section(out: &mut String, s: &Section) {
    let hashes = "#".repeat(usize::from(s.level.clamp(2, 6)));
    let _ = writeln!(out, "{hashes} {}\n", inline(&s.title));
    for block in &s.blocks {
        write_block(out, block);
    }
}

fn write_block(out: &mut String, block: &Block) {
    match block {
        Block::Para(text) => {
            let _ = writeln!(out, "{}\n", block_text(text));
        }
        Block::Callout { tone, title, lines } => {
            let _ = writeln!(out, "> {} **{}**", tone.mark(), inline(title));
            for line in lines {
                let _ = writeln!(out, ">\n> {}", block_text(line));
            }
            out.push('\n');
        }
        Block::Commands(cmds) => write_fenced(out, "sh", cmds),
        Block::Facts(facts) => {
            for (label, cell) in facts {
                let _ = writeln!(out, "- **{}:** {}", inline(label), cell_text(cell));
            }
            out.push('\n');
        }
        Block::List(items) => {
            for item in items {
                let _ = writeln!(out, "- {}", block_text(item));
            }
            out.push('\n');
        }
        Block::Table { headers, rows } => {
            let head: Vec<String> = headers.iter().map(|h| table_text(&inline(h))).collect();
            let _ = writeln!(out, "| {} |", head.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| table_text(&cell_text(c))).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
        Block::Output { title, lines } => {
            let _ = writeln!(out, "**{}**\n", inline(title));
            write_fenced(out, "text", lines);
        }
    }
}

/// A fenced code block whose fence is longer than any run of backticks in
/// the lines, so no line can close it.
fn write_fenced(out: &mut String, lang: &str, lines: &[String]) {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "{fence}{lang}");
    for line in lines {
        let _ = writeln!(out, "{}", strip_controls(line));
    }
    let _ = writeln!(out, "{fence}\n");
}

fn cell_text(c: &Cell) -> String {
    let text = if c.code {
        code_span(&c.text)
    } else {
        inline(&c.text)
    };
    match c.tone {
        Some(tone) if !c.text.is_empty() => format!("{} {text}", tone.mark()),
        _ => text,
    }
}

/// Inline text with every character that could start markup escaped, and
/// line breaks and control characters turned into spaces.
fn inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            // Intra-word underscores (snake_case) are no emphasis in GFM;
            // only those at a word edge are.
            '_' => {
                let word = |j: Option<&char>| j.is_some_and(|c| c.is_alphanumeric());
                let prev = i.checked_sub(1).and_then(|j| chars.get(j));
                if !(word(prev) && word(chars.get(i + 1))) {
                    out.push('\\');
                }
                out.push('_');
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// [`inline`] text that starts a block (a paragraph, a list item, a quoted
/// line), where a leading `- `, `+ `, `1. ` or `# ` would start a list or a
/// heading.
fn block_text(text: &str) -> String {
    let out = inline(text);
    let digits = out.bytes().take_while(u8::is_ascii_digit).count();
    // Where the marker starts and how long it is.
    let marker = if out.starts_with(['-', '+']) {
        Some((0, 1))
    } else if out.starts_with('#') {
        Some((0, out.bytes().take_while(|b| *b == b'#').count()))
    } else if digits > 0 && out[digits..].starts_with(['.', ')']) {
        Some((digits, 1))
    } else {
        None
    };
    match marker {
        Some((at, len)) if matches!(out[at + len..].chars().next(), None | Some(' ')) => {
            format!("{}\\{}", &out[..at], &out[at..])
        }
        _ => out,
    }
}

/// A code span: backticks around text that holds none of its own
/// delimiters (a longer delimiter when it does).
fn code_span(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// Table cells cannot hold a raw `|`, even in a code span.
fn table_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if c == '|' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

fn strip_controls(line: &str) -> String {
    line.chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(inline("<script>"), r"\<script\>");
        assert_eq!(inline("a*b* [x](y)"), r"a\*b\* \[x\](y)");
        assert_eq!(inline("warn_p95 _x_"), r"warn_p95 \_x\_");
        assert_eq!(block_text("- not a list"), r"\- not a list");
        assert_eq!(block_text("# not a heading"), r"\# not a heading");
        assert_eq!(block_text("12. not a list"), r"12\. not a list");
        assert_eq!(block_text("-1 is fine"), "-1 is fine");
        assert_eq!(block_text("2026 too"), "2026 too");
        assert_eq!(block_text("## x"), r"\## x");
        assert_eq!(inline("+1ms"), "+1ms");
        assert_eq!(inline("two\nlines"), "two lines");
        assert_eq!(table_text(r"a|b \| c"), r"a\|b \| c");
    }

    #[test]
    fn code_spans_and_fences_hold_backticks() {
        assert_eq!(code_span("ls -l"), "`ls -l`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x`"), "`` `x` ``");
        let mut out = String::new();
        write_fenced(&mut out, "text", &["```".into(), "ok".into()]);
        assert!(out.starts_with("````text\n"), "{out}");
        assert!(out.ends_with("````\n\n"), "{out}");
    }
}
