//! Inline SVG charts for `report.html`: a stage band and line charts of
//! the run's series, all on one time axis (time since the start of the
//! run) so they line up when stacked, with fault windows shaded.

use std::fmt::Write;

use gauntlet_store::{Millis, StageState};

use super::fmt::{bytes, duration, duration_f, elapsed, num, percent, plural, trim_zeros, utc};
use super::{RunReport, SeriesData};
use crate::escape;

/// Width of every chart (SVG user units; the page scales it).
const WIDTH: f64 = 960.0;
/// Left margin: stage names and y tick labels.
const LEFT: f64 = 140.0;
const RIGHT: f64 = 24.0;
/// Height of a line chart's plot area.
const PLOT: f64 = 180.0;
const TOP: f64 = 10.0;
/// Below the plot: tick labels and the axis title.
const BOTTOM: f64 = 40.0;
const ROW: f64 = 18.0;

/// Colours of series, by subject (each service keeps its colour in every chart).
const PALETTE: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22",
];

/// The shared time axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    pub t0: Millis,
    pub t1: Millis,
}

impl Axis {
    /// From the start of the run to the last thing recorded (stage ends,
    /// samples, faults; "now" while a stage runs).
    pub(crate) fn of(r: &RunReport) -> Axis {
        let run = &r.run;
        let attempts = r.stages.iter().flat_map(|s| &s.attempts);
        let mut times: Vec<Millis> = vec![run.started_at];
        times.extend(run.ended_at);
        times.extend(
            attempts
                .clone()
                .flat_map(|a| [a.started_at, a.ended_at])
                .flatten(),
        );
        times.extend(r.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        times.extend(
            r.faults
                .iter()
                .flat_map(|f| [Some(f.time), f.healed_at])
                .flatten(),
        );
        if attempts.clone().any(|a| a.state == StageState::Running) {
            times.push(r.generated_at);
        }
        let t0 = times.iter().copied().min().unwrap_or(run.started_at);
        let t1 = times.iter().copied().max().unwrap_or(t0);
        Axis {
            t0,
            t1: t1.max(t0 + 1000),
        }
    }

    fn x(&self, t: Millis) -> f64 {
        let t = t.clamp(self.t0, self.t1);
        LEFT + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (WIDTH - LEFT - RIGHT)
    }

    /// Tick times: round offsets from `t0`, at most 8 or so.
    fn ticks(&self) -> Vec<Millis> {
        const STEPS: &[i64] = &[
            100,
            200,
            500,
            1_000,
            2_000,
            5_000,
            10_000,
            15_000,
            30_000,
            60_000,
            120_000,
            300_000,
            600_000,
            900_000,
            1_800_000,
            3_600_000,
            7_200_000,
            10_800_000,
            21_600_000,
            43_200_000,
            86_400_000,
            172_800_000,
            604_800_000,
        ];
        let span = self.t1 - self.t0;
        let step = STEPS
            .iter()
            .copied()
            .find(|s| span / s <= 8)
            .unwrap_or_else(|| span / 8 + 1);
        (0..=span / step).map(|i| self.t0 + i * step).collect()
    }

    /// Vertical grid lines and tick labels under a plot spanning `top..bottom`.
    fn draw(&self, svg: &mut String, top: f64, bottom: f64) {
        for t in self.ticks() {
            let x = self.x(t);
            let _ = write!(
                svg,
                r##"<line class="grid" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 14.0,
                elapsed(t - self.t0)
            );
        }
        let _ = write!(
            svg,
            r##"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">time since {}</text>"##,
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            bottom + 30.0,
            escape(&utc(self.t0))
        );
    }

    /// Shaded fault windows over a plot spanning `top..bottom`.
    fn faults(&self, svg: &mut String, r: &RunReport, top: f64, bottom: f64) {
        for f in &r.faults {
            let x0 = self.x(f.time);
            let x1 = self.x(f.healed_at.unwrap_or(self.t1)).max(x0 + 2.0);
            let healed = f
                .healed_at
                .map_or_else(|| "not healed".to_owned(), |h| duration(h - f.time));
            let _ = write!(
                svg,
                r##"<rect class="fault" x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"##,
                x1 - x0,
                bottom - top,
                escape(&format!(
                    "fault {} on {} at +{} ({healed})",
                    f.kind,
                    f.target,
                    elapsed(f.time - self.t0)
                ))
            );
        }
    }
}

/// The colour of a subject: by its place among all subjects of the run.
fn colour(r: &RunReport, subject: &str) -> &'static str {
    let mut subjects: Vec<&str> = r.series.iter().map(|s| s.subject.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let i = subjects.iter().position(|s| *s == subject).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn stage_colour(state: StageState) -> &'static str {
    match state {
        StageState::Passed => "#2e7d32",
        StageState::Failed => "#c62828",
        StageState::Overridden => "#ef6c00",
        StageState::Running => "#1565c0",
        StageState::Pending | StageState::Skipped => "#9e9e9e",
    }
}

/// When each stage ran: one row per stage, one bar per attempt, coloured
/// by how it ended.
pub(crate) fn stage_band(r: &RunReport, axis: &Axis) -> String {
    let mut html = String::from(
        r#"<figure class="chart" id="chart-stages"><figcaption>Stages over time</figcaption>"#,
    );
    let started = r
        .stages
        .iter()
        .flat_map(|s| &s.attempts)
        .any(|a| a.started_at.is_some());
    if !started {
        html.push_str(r#"<p class="empty">no stage has started</p></figure>"#);
        return html;
    }
    let bottom = TOP + ROW * r.stages.len() as f64;
    let height = bottom + BOTTOM;
    let _ = write!(
        html,
        r#"<svg viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="stages over time">"#
    );
    axis.faults(&mut html, r, TOP, bottom);
    axis.draw(&mut html, TOP, bottom);
    for (i, s) in r.stages.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let label = super::fmt::truncate(&s.name, 20);
        let _ = write!(
            html,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + ROW / 2.0 + 4.0,
            escape(&label)
        );
        for a in &s.attempts {
            let Some(start) = a.started_at else { continue };
            let end = a.ended_at.unwrap_or(axis.t1);
            let x0 = axis.x(start);
            let x1 = axis.x(end).max(x0 + 3.0);
            let tip = format!(
                "{} attempt {}: {}, +{} for {}{}",
                s.name,
                a.attempt,
                a.state,
                elapsed(start - axis.t0),
                duration(end - start),
                a.message
                    .as_deref()
                    .map(|m| format!("\n{m}"))
                    .unwrap_or_default()
            );
            let _ = write!(
                html,
                r#"<rect class="stage" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
                y + 3.0,
                x1 - x0,
                ROW - 6.0,
                stage_colour(a.state),
                escape(&tip)
            );
        }
    }
    html.push_str("</svg>");
    html.push_str(r#"<ul class="legend">"#);
    for state in [
        StageState::Passed,
        StageState::Failed,
        StageState::Overridden,
        StageState::Running,
    ] {
        let _ = write!(
            html,
            r#"<li><span class="swatch" style="background:{}"></span>{state}</li>"#,
            stage_colour(state)
        );
    }
    if !r.faults.is_empty() {
        html.push_str(r#"<li><span class="swatch fault-swatch"></span>fault window</li>"#);
    }
    html.push_str("</ul></figure>");
    html
}

/// How a unit's values are shown on an axis.
#[derive(Debug, Clone, PartialEq)]
struct Scale {
    /// Values are divided by this ...
    div: f64,
    /// ... and then read in this unit.
    label: String,
    /// Counts: whole ticks only.
    whole: bool,
}

fn scale_for(unit: &str, max: f64) -> Scale {
    const MIB: f64 = 1024.0 * 1024.0;
    let (div, label) = match unit {
        "bytes" | "byte" | "B" if max >= 10.0 * 1024.0 * MIB => (1024.0 * MIB, "GiB"),
        "bytes" | "byte" | "B" if max >= MIB => (MIB, "MiB"),
        "bytes" | "byte" | "B" => (1024.0, "KiB"),
        "percent" | "%" => (1.0, "%"),
        other => (1.0, other),
    };
    Scale {
        div,
        label: label.to_owned(),
        whole: unit == "count",
    }
}

/// A value with its unit, for legends and tooltips.
fn value_text(unit: &str, v: f64) -> String {
    match unit {
        "bytes" | "byte" | "B" => bytes(v),
        "percent" | "%" => percent(v),
        "ms" => duration_f(v),
        "count" | "" => num(v),
        other => format!("{} {other}", num(v)),
    }
}

/// A round step that cuts `range` into about `target` parts: 1, 2, 2.5 or
/// 5 times a power of ten.
fn nice_step(range: f64, target: f64) -> f64 {
    let raw = (range / target).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The y ticks for values in `lo..=hi` (display units): round values from
/// a round bottom (0 unless values go below) to a round top.
fn y_ticks(lo: f64, hi: f64, whole: bool) -> Vec<f64> {
    let lo = lo.min(0.0);
    let hi = if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        lo + 1.0
    } else {
        hi
    };
    let mut step = nice_step(hi - lo, 5.0);
    if whole {
        step = step.max(1.0).round();
    }
    let first = (lo / step).floor() as i64;
    let last = (hi / step - 1e-9).ceil() as i64;
    (first..=last.max(first + 1))
        .map(|i| i as f64 * step)
        .collect()
}

/// A tick value with as many decimals as the step needs.
fn tick_text(v: f64, step: f64) -> String {
    let mut decimals = 0;
    while decimals < 6 && ((step * 10f64.powi(decimals)).fract().abs() > 1e-6) {
        decimals += 1;
    }
    trim_zeros(format!("{v:.*}", decimals as usize))
}

/// A line chart of some series of one kind: one path per subject.
pub(crate) fn line_chart(
    r: &RunReport,
    axis: &Axis,
    id: &str,
    title: &str,
    series: &[&SeriesData],
) -> String {
    let mut html = format!(
        r#"<figure class="chart" id="{}"><figcaption>{}</figcaption>"#,
        escape(id),
        escape(title)
    );
    let series: Vec<&SeriesData> = series
        .iter()
        .copied()
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        html.push_str(r#"<p class="empty">no samples</p></figure>"#);
        return html;
    }
    let unit = series[0].unit.as_str();
    let (lo, hi) = series
        .iter()
        .filter_map(|s| s.range())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (lo, hi)| {
            (a.min(lo), b.max(hi))
        });
    let scale = scale_for(unit, hi.abs().max(lo.abs()));
    let ticks = y_ticks(lo / scale.div, hi / scale.div, scale.whole);
    let step = ticks.get(1).map_or(1.0, |t| t - ticks[0]);
    let (y_lo, y_hi) = (ticks[0], ticks[ticks.len() - 1]);
    let bottom = TOP + PLOT;
    let y = |v: f64| bottom - (v / scale.div - y_lo) / (y_hi - y_lo) * PLOT;
    let height = bottom + BOTTOM;
    let _ = write!(
        html,
        r#"<svg viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{}">"#,
        escape(title)
    );
    axis.faults(&mut html, r, TOP, bottom);
    for &t in &ticks {
        let yy = bottom - (t - y_lo) / (y_hi - y_lo) * PLOT;
        let _ = write!(
            html,
            r#"<line class="grid" x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            tick_text(t, step)
        );
    }
    axis.draw(&mut html, TOP, bottom);
    let _ = write!(
        html,
        r#"<text class="axis-title" transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + PLOT / 2.0,
        escape(&scale.label)
    );
    let _ = write!(
        html,
        r#"<rect class="frame" x="{LEFT}" y="{TOP}" width="{:.1}" height="{PLOT}"/>"#,
        WIDTH - LEFT - RIGHT
    );
    for s in &series {
        let c = colour(r, &s.subject);
        let (d, lone) = path_data(&s.points, |t| axis.x(t), y);
        let _ = write!(
            html,
            r#"<path class="line" data-subject="{}" data-samples="{}" d="{d}" stroke="{c}"><title>{}</title></path>"#,
            escape(&s.subject),
            s.samples,
            escape(&s.subject)
        );
        for (cx, cy) in lone {
            let _ = write!(
                html,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="2.5" fill="{c}"/>"#
            );
        }
    }
    html.push_str("</svg>");
    html.push_str(r#"<ul class="legend">"#);
    for s in &series {
        let stats = match (s.range(), s.last()) {
            (Some((_, max)), Some((_, last))) => format!(
                "max {} · last {} · {}",
                value_text(unit, max),
                value_text(unit, last),
                plural(usize::try_from(s.samples).unwrap_or(usize::MAX), "sample")
            ),
            _ => String::new(),
        };
        let _ = write!(
            html,
            r#"<li><span class="swatch" style="background:{}"></span>{} <span class="muted">{}</span></li>"#,
            colour(r, &s.subject),
            escape(&s.subject),
            escape(&stats)
        );
    }
    if !r.faults.is_empty() {
        html.push_str(r#"<li><span class="swatch fault-swatch"></span>fault window</li>"#);
    }
    html.push_str("</ul></figure>");
    html
}

/// SVG path data for points, broken where samples stop for a while (more
/// than five times the usual interval), and the points that stand alone
/// (drawn as dots, since a one-point line is invisible).
fn path_data(
    points: &[(Millis, f64)],
    x: impl Fn(Millis) -> f64,
    y: impl Fn(f64) -> f64,
) -> (String, Vec<(f64, f64)>) {
    let mut gaps: Vec<i64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    let usual = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
    let limit = (usual * 5).max(1);
    let mut d = String::new();
    let mut lone = Vec::new();
    let mut run_len = 0;
    for (i, &(t, v)) in points.iter().enumerate() {
        let broken = i == 0 || t - points[i - 1].0 > limit;
        if broken {
            if run_len == 1 {
                let (pt, pv) = points[i - 1];
                lone.push((x(pt), y(pv)));
            }
            run_len = 0;
        }
        let _ = write!(
            d,
            "{}{:.1} {:.1}",
            if broken { "M" } else { " L" },
            x(t),
            y(v)
        );
        run_len += 1;
    }
    if run_len == 1
        && let Some(&(t, v)) = points.last()
    {
        lone.push((x(t), y(v)));
    }
    (d, lone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            y_ticks(0.0, 212.4, false),
            [0.0, 50.0, 100.0, 150.0, 200.0, 250.0]
        );
        assert_eq!(y_ticks(0.0, 3.4, false), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(y_ticks(0.0, 0.0, true), [0.0, 1.0]);
        assert_eq!(y_ticks(0.0, 2.0, true), [0.0, 1.0, 2.0]);
        assert_eq!(
            y_ticks(0.0, 100.0, false),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(tick_text(2.5, 2.5), "2.5");
        assert_eq!(tick_text(0.30000000000000004, 0.1), "0.3");
        assert_eq!(tick_text(150.0, 50.0), "150");
    }

    #[test]
    fn bytes_read_in_mib() {
        assert_eq!(scale_for("bytes", 300.0 * 1024.0 * 1024.0).label, "MiB");
        assert_eq!(
            scale_for("bytes", 20.0 * 1024.0 * 1024.0 * 1024.0).label,
            "GiB"
        );
        assert_eq!(scale_for("bytes", 2048.0).label, "KiB");
        assert_eq!(scale_for("percent", 50.0).label, "%");
        assert!(scale_for("count", 3.0).whole);
    }

    #[test]
    fn time_ticks_are_round_offsets() {
        let axis = Axis {
            t0: 1_000_000,
            t1: 1_000_000 + 300_000,
        };
        let ticks: Vec<String> = axis.ticks().iter().map(|t| elapsed(t - axis.t0)).collect();
        assert_eq!(ticks, ["0", "1m", "2m", "3m", "4m", "5m"]);
        assert_eq!(axis.x(axis.t0), LEFT);
        assert_eq!(axis.x(axis.t1), WIDTH - RIGHT);
    }

    #[test]
    fn lines_break_at_gaps_and_lone_points_are_dots() {
        let pts = [
            (0, 1.0),
            (1000, 2.0),
            (2000, 3.0),
            (60_000, 4.0),
            (61_000, 5.0),
            (200_000, 6.0),
        ];
        let (d, lone) = path_data(&pts, |t| t as f64 / 1000.0, |v| v);
        assert_eq!(d.matches('M').count(), 3, "{d}");
        assert_eq!(lone, [(200.0, 6.0)]);
        let (d, lone) = path_data(&[(5, 1.0)], |t| t as f64, |v| v);
        assert_eq!(d, "M5.0 1.0");
        assert_eq!(lone, [(5.0, 1.0)]);
    }
}
