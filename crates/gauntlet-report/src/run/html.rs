//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! no link, no font) that opens offline. Every text from the run is
//! escaped with [`crate::escape`].

use std::fmt::Write;

use super::RunReport;
use super::charts::{Axis, line_chart, stage_band};
use super::content::{Block, Cell, Section, header_facts, sections};
use super::fmt::utc;
use crate::escape;

/// Series kinds with a chart of their own, always shown (saying "no
/// samples" when there are none), with their titles. Any other kind gets
/// a chart too, after these, if it has samples.
const CHARTS: &[(&str, &str)] = &[
    ("rss", "Memory (RSS) per service"),
    ("cpu", "CPU per service"),
    ("health_latency", "Health-check latency per service"),
];

/// Titles of the charts drawn only when the run has their samples.
const SOMETIMES: &[(&str, &str)] = &[
    ("temperature", "Temperatures (hwmon sensors)"),
    ("fan", "Fans (hwmon sensors)"),
    ("power", "Power (hwmon sensors)"),
    ("figure", "Figures read from command output"),
    ("ops", "Operations completed so far, by type and function"),
];

pub(crate) const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d2327; background: #f6f7f9; margin: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #d8dce0; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 22px 0 8px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
header.run { display: flex; gap: 24px; align-items: flex-start; background: #fff; border: 1px solid #d8dce0; border-radius: 8px; padding: 18px; }
.badge { font-size: 26px; font-weight: 700; letter-spacing: .03em; padding: 14px 22px; border-radius: 8px; color: #fff; white-space: nowrap; }
.badge.good { background: #2e7d32; } .badge.bad { background: #c62828; } .badge.warn { background: #e65100; }
.badge.info { background: #1565c0; } .badge.neutral { background: #616161; }
.headline { font-size: 16px; margin: 2px 0 10px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dl.facts dt { color: #5f6b76; } dl.facts dd { margin: 0; overflow-wrap: break-word; min-width: 0; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 12px; width: 100%; }
th, td { border: 1px solid #d8dce0; padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { white-space: nowrap; }
th { background: #eef1f4; font-weight: 600; }
tr:nth-child(even) td { background: #fafbfc; }
.pill { display: inline-block; white-space: nowrap; padding: 0 7px; border-radius: 9px; font-weight: 600; font-size: 12.5px; }
.pill.good { background: #e3f4e4; color: #1b5e20; } .pill.bad { background: #fde4e4; color: #b71c1c; }
.pill.warn { background: #fff0d9; color: #9a4a00; } .pill.info { background: #e3eefb; color: #0d47a1; }
.pill.neutral { background: #eceff1; color: #455a64; }
.callout { border-left: 6px solid; border-radius: 6px; padding: 10px 14px; margin: 8px 0 12px; background: #fff; }
.callout.warn { border-color: #ef6c00; background: #fff6ea; } .callout.bad { border-color: #c62828; background: #fdecec; }
.callout.good { border-color: #2e7d32; } .callout.info { border-color: #1565c0; } .callout.neutral { border-color: #757575; background: #f1f1f1; }
.callout strong { display: block; margin-bottom: 4px; font-size: 15px; }
.callout p { margin: 2px 0; }
pre { background: #1e2429; color: #e8eaed; padding: 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.commands { background: #263238; }
.output-title { font-weight: 600; margin: 8px 0 2px; }
figure.chart { background: #fff; border: 1px solid #d8dce0; border-radius: 8px; margin: 12px 0; padding: 10px 12px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
figure.chart svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #4a555f; }
svg .axis-title { fill: #6b7680; }
svg .grid { stroke: #e6e9ec; stroke-width: 1; }
svg .frame { fill: none; stroke: #c5cbd1; }
svg .line { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
svg .fault { fill: #e53935; fill-opacity: .12; }
svg .stage { stroke: #fff; stroke-width: .5; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0; margin: 6px 0 0 0; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.fault-swatch { background: #e53935; opacity: .25; }
.muted { color: #6b7680; }
p.empty { color: #6b7680; font-style: italic; margin: 8px 0; }
footer { color: #6b7680; margin-top: 32px; font-size: 12.5px; }
"#;

pub(crate) fn render(r: &RunReport) -> String {
    let summary = r.summary();
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Gauntlet run {} · {}", r.run.plan_name, summary.badge());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    h.push_str(&body(r));
    let _ = write!(
        h,
        "<footer>Generated {} by gauntlet-report. Self-contained: no scripts, no external resources.</footer>\n</main>\n</body>\n</html>\n",
        escape(&utc(r.generated_at))
    );
    h
}

/// The report without its page: the header, every section and the
/// charts, for a page that holds it (the dashboard's run page renders
/// this again as the run goes on).
pub(crate) fn body(r: &RunReport) -> String {
    let summary = r.summary();
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        r#"<header class="run"><div class="badge {}">{}</div><div><h1>{}</h1><p class="headline">{}</p><dl class="facts">"#,
        summary.tone().class(),
        escape(&summary.badge()),
        escape(&format!("Gauntlet run: {}", r.run.plan_name)),
        escape(headline_words(&summary.headline))
    );
    for (label, cell) in header_facts(r, &summary) {
        let _ = write!(
            h,
            "<dt>{}</dt><dd>{}</dd>",
            escape(&label),
            cell_html(&cell)
        );
    }
    h.push_str("</dl></div></header>\n");
    for section in sections(r, &summary) {
        write_section(&mut h, &section);
        if section.id == "summary" {
            write_charts(&mut h, r);
        }
    }
    h
}

/// The headline without its leading mark (the badge says as much, and the
/// page should not depend on an emoji font).
fn headline_words(headline: &str) -> &str {
    match headline.split_once(' ') {
        Some((mark, rest)) if !mark.chars().any(char::is_alphanumeric) => rest,
        _ => headline,
    }
}

fn write_charts(h: &mut String, r: &RunReport) {
    let axis = Axis::of(r);
    h.push_str("<h2 id=\"charts\">Over time</h2>\n");
    h.push_str(&stage_band(r, &axis));
    for (kind, title) in CHARTS {
        h.push_str(&line_chart(
            r,
            &axis,
            &format!("chart-{kind}"),
            title,
            &r.series_of(kind),
        ));
    }
    let mut others: Vec<&str> = r
        .series
        .iter()
        .map(|s| s.kind.as_str())
        .filter(|k| !CHARTS.iter().any(|(c, _)| c == k))
        .collect();
    others.dedup();
    for kind in others {
        let id: String = kind
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        h.push_str(&line_chart(
            r,
            &axis,
            &format!("chart-{id}"),
            &SOMETIMES
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or_else(|| format!("{kind} over time"), |(_, t)| (*t).to_owned()),
            &r.series_of(kind),
        ));
    }
    h.push('\n');
}

fn write_section(h: &mut String, s: &Section) {
    let level = s.level.clamp(2, 6);
    let _ = writeln!(
        h,
        r#"<section id="{}"><h{level}>{}</h{level}>"#,
        escape(&s.id),
        escape(&s.title)
    );
    for block in &s.blocks {
        write_block(h, block);
    }
    h.push_str("</section>\n");
}

fn write_block(h: &mut String, block: &Block) {
    match block {
        Block::Para(text) => {
            let _ = writeln!(h, "<p>{}</p>", escape(text));
        }
        Block::Callout { tone, title, lines } => {
            let _ = write!(
                h,
                r#"<div class="callout {}"><strong>{}</strong>"#,
                tone.class(),
                escape(title)
            );
            for line in lines {
                let _ = write!(h, "<p>{}</p>", escape(line));
            }
            h.push_str("</div>\n");
        }
        Block::Commands(cmds) => {
            let _ = writeln!(
                h,
                r#"<pre class="commands"><code>{}</code></pre>"#,
                escape(&cmds.join("\n"))
            );
        }
        Block::Facts(facts) => {
            h.push_str(r#"<dl class="facts">"#);
            for (label, cell) in facts {
                let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", escape(label), cell_html(cell));
            }
            h.push_str("</dl>\n");
        }
        Block::List(items) => {
            h.push_str("<ul>");
            for item in items {
                let _ = write!(h, "<li>{}</li>", escape(item));
            }
            h.push_str("</ul>\n");
        }
        Block::Table { headers, rows } => {
            h.push_str("<table><thead><tr>");
            for head in headers {
                let _ = write!(h, "<th>{}</th>", escape(head));
            }
            h.push_str("</tr></thead><tbody>");
            for row in rows {
                h.push_str("<tr>");
                for cell in row {
                    let _ = write!(h, "<td>{}</td>", cell_html(cell));
                }
                h.push_str("</tr>");
            }
            h.push_str("</tbody></table>\n");
        }
        Block::Output { title, lines } => {
            let _ = writeln!(
                h,
                r#"<p class="output-title">{}</p><pre>{}</pre>"#,
                escape(title),
                escape(&lines.join("\n"))
            );
        }
    }
}

fn cell_html(c: &Cell) -> String {
    let text = escape(&c.text);
    let text = if c.code {
        format!("<code>{text}</code>")
    } else {
        text
    };
    match c.tone {
        Some(tone) => format!(r#"<span class="pill {}">{text}</span>"#, tone.class()),
        None => text,
    }
}
