//! The analysis as a [`CheckResult`], and a cycle drawn as SVG.

use std::fmt::Write as _;

use gauntlet_check::{CheckResult, Validity};
use serde_json::{Value, json};

use crate::anomaly::Anomaly;
use crate::check::Analysis;
use crate::model::prohibited_by;

impl Analysis {
    /// Jepsen-style result: `anomaly-types`, `not`, `also-not`, per-model
    /// verdicts (`models`), `txn-count`, and one evidence item per anomaly
    /// (`problem`, `ops`, `explanation`). Anomalies that rule out a
    /// requested model fail the result; the others are evidence only.
    pub fn result(&self) -> CheckResult {
        let mut r = CheckResult::new(self.workload.name());
        let types: Vec<&str> = self.anomalies.types().collect();
        r.set("anomaly-types", json!(types));
        let counts: serde_json::Map<String, Value> = self
            .anomalies
            .types()
            .map(|t| (t.to_owned(), Value::from(self.anomalies.count(t))))
            .collect();
        r.set("anomaly-counts", Value::Object(counts));
        r.set("not", json!(self.not));
        r.set("also-not", json!(self.also_not));
        r.set("models", json!(self.models));
        r.set("txn-count", self.txn_count);
        r.set("ok-count", self.ok_count);
        let banned: std::collections::BTreeSet<&str> = self
            .models
            .iter()
            .flat_map(|m| prohibited_by(m.model))
            .collect();
        for a in self.anomalies.iter() {
            let item = json!({
                "problem": a.kind,
                "ops": a.ops,
                "explanation": a.explanation,
            });
            if banned.contains(a.kind) {
                r.fail(item);
            } else {
                r.evidence(item);
            }
        }
        for t in &self.timeouts {
            let item = json!({
                "problem": "cycle-search-timeout",
                "ops": t.sample_ops,
                "scc-size": t.scc_size,
                "classes": t.classes,
                "explanation": format!(
                    "the cycle search ran out of time in a component of {} transactions; not searched: {}",
                    t.scc_size,
                    t.classes.join(", ")
                ),
            });
            if t.classes.iter().any(|c| banned.contains(c)) {
                r.undecided(item);
            } else {
                r.evidence(item);
            }
        }
        if self.nothing_to_check() {
            r.undecided(json!({
                "problem": "no committed transactions: nothing to check",
                "ops": [],
            }));
        }
        // The model verdicts decide; evidence never makes a result valid.
        r.demote(self.valid);
        if self.valid == Validity::Valid {
            debug_assert_eq!(r.valid, Validity::Valid);
        }
        r
    }

    /// A self-contained SVG of a cycle anomaly: its transactions on a
    /// circle, an arrow per step labeled with the relation. Empty for
    /// anomalies without a cycle.
    pub fn cycle_svg(&self, anomaly: &Anomaly) -> String {
        cycle_svg(anomaly)
    }
}

fn color(rel: &str) -> &'static str {
    match rel {
        "ww" => "#1f77b4",
        "wr" => "#2ca02c",
        "rw" => "#d62728",
        "process" => "#9467bd",
        _ => "#ff7f0e",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// See [`Analysis::cycle_svg`].
pub fn cycle_svg(anomaly: &Anomaly) -> String {
    if anomaly.cycle.is_empty() {
        return String::new();
    }
    let nodes: Vec<u64> = anomaly.cycle.iter().map(|s| s.from).collect();
    let n = nodes.len() as f64;
    let radius = 60.0 + 30.0 * n;
    let size = 2.0 * radius + 160.0;
    let c = size / 2.0;
    let at = |op: u64| {
        let i = nodes.iter().position(|&x| x == op).unwrap_or(0) as f64;
        let a = std::f64::consts::TAU * i / n - std::f64::consts::FRAC_PI_2;
        (c + radius * a.cos(), c + radius * a.sin())
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size:.0}" height="{h:.0}" viewBox="0 0 {size:.0} {h:.0}" font-family="sans-serif" font-size="13">"#,
        h = size + 30.0
    );
    s.push_str(r#"<defs>"#);
    for rel in ["ww", "wr", "rw", "process", "realtime"] {
        let _ = write!(
            s,
            r#"<marker id="arrow-{rel}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{}"/></marker>"#,
            color(rel)
        );
    }
    s.push_str("</defs>");
    let _ = write!(
        s,
        r#"<text x="10" y="20" font-weight="bold">{}</text>"#,
        escape(anomaly.kind)
    );
    const NODE_R: f64 = 28.0;
    for step in &anomaly.cycle {
        let (x1, y1) = at(step.from);
        let (x2, y2) = at(step.to);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let (sx, sy) = (x1 + ux * NODE_R, y1 + uy * NODE_R);
        let (ex, ey) = (x2 - ux * NODE_R, y2 - uy * NODE_R);
        // Bend each arrow outward a little so opposite edges do not overlap.
        let (mx, my) = ((sx + ex) / 2.0 - uy * 25.0, (sy + ey) / 2.0 + ux * 25.0);
        let col = color(step.rel);
        let _ = write!(
            s,
            r#"<path d="M {sx:.1} {sy:.1} Q {mx:.1} {my:.1} {ex:.1} {ey:.1}" fill="none" stroke="{col}" stroke-width="2" marker-end="url(#arrow-{rel})"><title>{title}</title></path>"#,
            rel = step.rel,
            title = escape(&step.explanation)
        );
        let _ = write!(
            s,
            r#"<text x="{mx:.1}" y="{my:.1}" fill="{col}" text-anchor="middle">{}</text>"#,
            escape(step.rel)
        );
    }
    for (i, &op) in nodes.iter().enumerate() {
        let (x, y) = at(op);
        let _ = write!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="{NODE_R}" fill="#f8f8f8" stroke="#333"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle">T{}</text><text x="{x:.1}" y="{ty2:.1}" text-anchor="middle" font-size="10">op {op}</text>"##,
            i + 1,
            ty = y - 2.0,
            ty2 = y + 12.0
        );
    }
    s.push_str("</svg>");
    s
}
