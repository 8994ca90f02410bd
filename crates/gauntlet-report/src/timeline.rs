//! The linearizability timeline: each process's operations as bars in real
//! time, with the partial linearization the checker found drawn over them and
//! the operations it could not linearize next outlined in red.

use std::fmt::Write;

use crate::escape;

/// One operation on the timeline.
#[derive(Debug, Clone)]
pub struct TimelineOp {
    pub id: usize,
    /// The row it is drawn in.
    pub process: String,
    /// Invoke time, ns.
    pub start: u64,
    /// Completion time, ns; `None` for an operation that never completed
    /// (`info`): its bar runs to the right edge.
    pub end: Option<u64>,
    /// `ok`, `info` or `fail`.
    pub outcome: String,
    /// What it did, e.g. `cas [1, 2]` or `read → 3`.
    pub label: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct LinearTimeline {
    pub title: String,
    /// One line: what was checked and the verdict.
    pub verdict: String,
    pub ops: Vec<TimelineOp>,
    /// Ids of the longest linearizable prefix, in linearization order.
    pub linearized: Vec<usize>,
    /// Ids of the operations that could not be linearized next.
    pub stuck: Vec<usize>,
    /// The model states reachable just before the stuck operations.
    pub states: Vec<String>,
    /// The checker's plain-text explanation.
    pub explanation: String,
}

const ROW: f64 = 30.0;
const LEFT: f64 = 90.0;
const TOP: f64 = 30.0;

/// Renders the timeline as one self-contained HTML page.
pub fn render_linear_timeline(t: &LinearTimeline) -> String {
    let t0 = t.ops.iter().map(|o| o.start).min().unwrap_or(0);
    let last_end = t
        .ops
        .iter()
        .map(|o| o.end.unwrap_or(o.start))
        .max()
        .unwrap_or(0);
    // With a counterexample, what happened long after the stuck operations
    // does not matter: the window ends a little after the last of them.
    let stuck_end = t
        .ops
        .iter()
        .filter(|o| t.stuck.contains(&o.id))
        .map(|o| o.end.unwrap_or(o.start))
        .max();
    let t1 = match stuck_end {
        Some(end) => (end + (end - t0) / 5).min(last_end),
        None => last_end,
    }
    .max(t0 + 1);
    let ops: Vec<&TimelineOp> = t.ops.iter().filter(|o| o.start <= t1).collect();
    let mut processes: Vec<&str> = ops.iter().map(|o| o.process.as_str()).collect();
    processes.sort_by_key(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.to_string()));
    processes.dedup();
    let row_of = |p: &str| processes.iter().position(|q| *q == p).unwrap_or(0);
    let width = (ops.len() as f64 * 24.0).clamp(1100.0, 6000.0);
    let span = (t1 - t0) as f64 * 1.05;
    let x = |ns: u64| LEFT + (ns.min(t1) - t0) as f64 / span * (width - LEFT - 10.0);
    let height = TOP + ROW * processes.len() as f64 + 30.0;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">"##
    );
    let _ = write!(
        svg,
        r##"<defs><pattern id="open" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6c28b"/><line x1="0" y1="0" x2="0" y2="6" stroke="#e59a4c" stroke-width="3"/></pattern></defs>"##
    );
    for (i, p) in processes.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let _ = write!(
            svg,
            r##"<text x="4" y="{:.1}">process {}</text><line x1="{LEFT}" y1="{:.1}" x2="{width}" y2="{:.1}" stroke="#eee"/>"##,
            y + ROW / 2.0 + 4.0,
            escape(p),
            y + ROW,
            y + ROW
        );
    }
    let order: std::collections::HashMap<usize, usize> = t
        .linearized
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i + 1))
        .collect();
    for op in &ops {
        let y = TOP + ROW * row_of(&op.process) as f64 + 5.0;
        let x0 = x(op.start);
        let x1 = op.end.map_or(width - 4.0, x).max(x0 + 3.0);
        let fill = match (op.outcome.as_str(), op.end) {
            (_, None) => "url(#open)",
            ("ok", _) => "#9ec5e8",
            ("fail", _) => "#f4b6c2",
            _ => "#f6c28b",
        };
        let stuck = t.stuck.contains(&op.id);
        let stroke = if stuck {
            r##"stroke="#d00" stroke-width="3""##
        } else {
            r##"stroke="#567""##
        };
        let tip = format!(
            "op {} · process {} · {} · {}\ninvoke {:.3} ms · {}",
            op.id,
            op.process,
            op.outcome,
            op.label,
            op.start as f64 / 1e6,
            op.end.map_or("never completed".to_string(), |e| format!(
                "complete {:.3} ms",
                e as f64 / 1e6
            ))
        );
        let _ = write!(
            svg,
            r##"<g><title>{}</title><rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" rx="3" fill="{fill}" {stroke}/>"##,
            escape(&tip),
            x1 - x0,
            ROW - 10.0
        );
        let label = match order.get(&op.id) {
            Some(n) => format!("#{n} {}", op.label),
            None => op.label.clone(),
        };
        // Labels stay inside their bar (about 6.6 px per monospace
        // character); the tooltip has the whole text.
        let fits = ((x1 - x0 - 4.0) / 6.6).max(0.0) as usize;
        let shown: String = if label.chars().count() <= fits {
            label
        } else if fits >= 4 {
            label.chars().take(fits - 1).collect::<String>() + "…"
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}">{}</text></g>"##,
            x0 + 3.0,
            y + ROW / 2.0,
            escape(&shown)
        );
    }
    // The partial linearization: one point per linearized op, each no earlier
    // than the previous one and inside its op's bar, joined in order.
    let by_id: std::collections::HashMap<usize, &TimelineOp> =
        t.ops.iter().map(|o| (o.id, o)).collect();
    let mut points = Vec::new();
    let mut last = t0;
    for id in &t.linearized {
        let Some(op) = by_id.get(id) else { continue };
        let at = last.max(op.start).min(op.end.unwrap_or(u64::MAX));
        last = at;
        let y = TOP + ROW * row_of(&op.process) as f64 + ROW / 2.0;
        points.push(format!("{:.1},{:.1}", x(at), y));
    }
    if !points.is_empty() {
        let _ = write!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="#2a7" stroke-width="2" stroke-dasharray="4 2"/>"##,
            points.join(" ")
        );
        for p in &points {
            let (px, py) = p.split_once(',').expect("x,y");
            let _ = write!(
                svg,
                r##"<circle cx="{px}" cy="{py}" r="3.5" fill="#2a7"/>"##
            );
        }
    }
    svg.push_str("</svg>");

    let mut states = String::new();
    for s in &t.states {
        let _ = write!(states, "<li><code>{}</code></li>", escape(s));
    }
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }} .verdict {{ font-weight: bold; }}
.legend span {{ display: inline-block; padding: 0 .6em; margin-right: .5em; border: 1px solid #567; border-radius: 3px; }}
pre {{ background: #f7f7f7; padding: 1em; overflow-x: auto; }}
.scroll {{ overflow-x: auto; border: 1px solid #ddd; }}
</style></head><body>
<h1>{title}</h1>
<p class="verdict">{verdict}</p>
<p class="legend"><span style="background:#9ec5e8">ok</span><span style="background:#f6c28b">info (may have happened)</span><span style="background:#f4b6c2">fail</span><span style="border:3px solid #d00">could not be linearized next</span><span style="color:#2a7">— partial linearization, in order (#1, #2, …)</span></p>
<div class="scroll">{svg}</div>
<h2>Model states just before the stuck operations</h2><ul>{states}</ul>
<h2>Explanation</h2><pre>{explanation}</pre>
</body></html>
"##,
        title = escape(&t.title),
        verdict = escape(&t.verdict),
        explanation = escape(&t.explanation),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: usize, p: &str, start: u64, end: Option<u64>, label: &str) -> TimelineOp {
        TimelineOp {
            id,
            process: p.into(),
            start,
            end,
            outcome: if end.is_some() {
                "ok".into()
            } else {
                "info".into()
            },
            label: label.into(),
        }
    }

    #[test]
    fn draws_bars_order_and_stuck_ops_and_escapes_text() {
        let t = LinearTimeline {
            title: "key <x>".into(),
            verdict: "invalid".into(),
            ops: vec![
                op(0, "0", 0, Some(10), "write 1"),
                op(1, "1", 5, Some(20), "read → 2"),
                op(2, "2", 12, None, "write 2"),
            ],
            linearized: vec![0],
            stuck: vec![1],
            states: vec!["1".into()],
            explanation: "read → 2 cannot follow write 1".into(),
        };
        let html = render_linear_timeline(&t);
        assert!(html.contains("key &lt;x&gt;"));
        assert!(!html.contains("key <x>"));
        assert_eq!(html.matches("<rect x=").count(), 3);
        assert!(html.contains("#1 write 1"));
        assert!(html.contains(r##"stroke="#d00""##));
        assert!(html.contains("url(#open)"));
        assert!(html.contains("<polyline"));
        assert!(
            !html.contains("http://") || html.matches("http://").count() == 1,
            "only the SVG namespace"
        );
    }
}
