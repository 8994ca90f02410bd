//! Reports of a `gauntlet run`: a staged pipeline with module cycling, read
//! from the run store and written as `REPORT.json`, `REPORT.md`,
//! `report.html` and `junit.xml`.
//!
//! [`RunReport::load`] reads everything once; [`render`] (or the `to_*`
//! methods) turns it into text, without touching the store or the clock,
//! so the same report renders the same way every time.
//!
//! # Choices
//!
//! - **Only what is there.** Stage summaries are free-form JSON written by
//!   the runtime. The readers take the fields they know and show every
//!   other field as it is; a missing figure is shown as `—` (JSON `null`),
//!   never as zero, and nothing is computed that the runtime did not
//!   measure (the one derived figure is a series' min/max, which the
//!   downsampling keeps exact).
//! - **An override is never a clean pass.** Every format says so where the
//!   result is: the headline reads `⚠ passed with 1 override`, the HTML
//!   badge `PASS WITH 1 OVERRIDE` in amber, and each override (stage,
//!   attempt, who, when, reason, and why the stage had failed) is listed
//!   near the top. JSON has `summary.overridden`, `summary.overrides` and
//!   an `overrides` array.
//! - **JUnit and overrides.** An overridden stage is a *passing* test case:
//!   the operator accepted it, and CI that goes red on an accepted failure
//!   teaches people to ignore red. It is not silent: the test case carries
//!   `<properties>` (`overridden`, `override.who`, `override.reason`,
//!   `override.time`) and a `<system-out>` that starts with `OVERRIDDEN`,
//!   and the suite's properties count the overrides. Failed tests inside an
//!   overridden stage are treated the same way. A failed stage (a held or
//!   abandoned run) is a `<failure>` with the stage's message and the
//!   output tails of its failed tests; pending, running and skipped stages
//!   are `<skipped>`.
//! - **Series are downsampled** to at most [`MAX_POINTS`] points each:
//!   the time range is cut into buckets and each bucket keeps its lowest
//!   and highest sample, so spikes and dips survive. `REPORT.json` carries
//!   each series' extent and min/max, not its points (the store has them).
//! - **Self-contained HTML**: inline CSS and SVG, no script, no link, no
//!   font; every text is escaped. Charts share one time axis (since the
//!   start of the run) so the stage band, fault windows and metrics line up.
//! - **Times** are UTC.
//!
//! A run whose process died may still say `running` in the store: call
//! [`Store::mark_interrupted_if_dead`] before loading for an honest state.

mod charts;
mod content;
mod facts;
mod fmt;
mod html;
mod json;
mod junit;
mod markdown;
mod stage;
mod summary;

use std::str::FromStr;

use serde::Serialize;

use gauntlet_store::{
    Artifact, Fault, Measurement, Millis, Override, Run, RunId, Stage, Store, StoreError, Verdict,
};

pub use facts::ModuleRow;
pub use summary::{ModuleCounts, Outcome, Summary, TestCounts};

/// At most this many points per series are kept for the charts.
pub const MAX_POINTS: usize = 2000;

/// The style sheet of `report.html`, for a page that shows
/// [`RunReport::to_html_body`].
pub const REPORT_CSS: &str = html::CSS;

/// Everything a report shows, read from the store once.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run: Run,
    /// In plan order, each with all its attempts.
    pub stages: Vec<Stage>,
    pub overrides: Vec<Override>,
    pub artifacts: Vec<Artifact>,
    /// Every measured series, ordered by kind and subject, downsampled.
    pub series: Vec<SeriesData>,
    pub faults: Vec<Fault>,
    pub verdicts: Vec<Verdict>,
    /// When the report was loaded; "now" for a run that has not ended.
    pub generated_at: Millis,
}

/// One time series (`kind` measured on `subject`), downsampled for charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesData {
    /// `rss`, `cpu`, `health_latency`, `restarts`, ...
    pub kind: String,
    /// The service (or node, endpoint) measured.
    pub subject: String,
    /// `bytes`, `percent`, `ms`, `count`, ...
    pub unit: String,
    /// In time order, at most [`MAX_POINTS`].
    pub points: Vec<(Millis, f64)>,
    /// How many samples the store holds for the series.
    pub samples: u64,
}

impl SeriesData {
    /// The series from its samples (in time order), downsampled to at most
    /// [`MAX_POINTS`] points. Samples that are not finite are dropped.
    pub fn from_samples(kind: &str, subject: &str, unit: &str, samples: &[Measurement]) -> Self {
        let points: Vec<(Millis, f64)> = samples.iter().map(|m| (m.time, m.value)).collect();
        Self::from_points(kind, subject, unit, &points, MAX_POINTS)
    }

    /// The series from points in time order, downsampled to at most `max`
    /// points (see [`SeriesData::from_samples`]); `samples` counts them all.
    pub fn from_points(
        kind: &str,
        subject: &str,
        unit: &str,
        points: &[(Millis, f64)],
        max: usize,
    ) -> Self {
        let finite: Vec<(Millis, f64)> =
            points.iter().copied().filter(|p| p.1.is_finite()).collect();
        SeriesData {
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            unit: unit.to_owned(),
            samples: points.len() as u64,
            points: downsample(finite, max),
        }
    }

    /// The lowest and highest value (exact: downsampling keeps both).
    pub fn range(&self) -> Option<(f64, f64)> {
        self.points.iter().fold(None, |acc, &(_, v)| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// The last point.
    pub fn last(&self) -> Option<(Millis, f64)> {
        self.points.last().copied()
    }
}

/// At most `max` points of `points` (in time order): the time range is cut
/// into `max / 2` buckets and each keeps its lowest and highest point, in
/// time order, so the shape (peaks and dips) survives.
pub fn downsample(points: Vec<(Millis, f64)>, max: usize) -> Vec<(Millis, f64)> {
    let buckets = (max / 2).max(1);
    if points.len() <= max.max(1) {
        return points;
    }
    let t0 = points[0].0;
    let span = (points[points.len() - 1].0 - t0).max(1) as i128 + 1;
    let bucket_of = |t: Millis| ((t - t0) as i128 * buckets as i128 / span) as usize;
    let mut out = Vec::with_capacity(buckets * 2);
    let mut i = 0;
    while i < points.len() {
        let b = bucket_of(points[i].0);
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < points.len() && bucket_of(points[j].0) == b {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        out.push(points[lo.min(hi)]);
        if lo != hi {
            out.push(points[lo.max(hi)]);
        }
        i = j;
    }
    out
}

impl RunReport {
    /// Reads the run and everything recorded with it. Series are
    /// downsampled here (see [`SeriesData::from_samples`]).
    pub fn load(store: &Store, run: &RunId) -> Result<RunReport, StoreError> {
        let meta = store.run(run.as_str())?;
        let stages = store.stages(run)?;
        let overrides = store.overrides(run)?;
        let artifacts = store.artifacts(run)?;
        let series = store
            .series(run)?
            .into_iter()
            .map(|s| {
                let samples = store.measurements(run, &s.kind, &s.subject)?;
                Ok(SeriesData::from_samples(
                    &s.kind, &s.subject, &s.unit, &samples,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let faults = store.faults(run)?;
        let verdicts = store.verdicts(run)?;
        Ok(RunReport {
            run: meta,
            stages,
            overrides,
            artifacts,
            series,
            faults,
            verdicts,
            generated_at: gauntlet_store::now_ms(),
        })
    }

    /// Counts of stages by state, of modules by status, of tests, and the
    /// result.
    pub fn summary(&self) -> Summary {
        Summary::of(self)
    }

    /// The module stages' figures, each module's cycles together.
    pub fn modules(&self) -> Vec<ModuleRow> {
        facts::module_rows(&self.stages)
    }

    /// `REPORT.json`.
    pub fn to_json(&self) -> serde_json::Value {
        json::render(self)
    }

    /// `REPORT.md`: GitHub-flavoured Markdown.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// `junit.xml`.
    pub fn to_junit(&self) -> String {
        junit::render(self)
    }

    /// `report.html`: one self-contained page.
    pub fn to_html(&self) -> String {
        html::render(self)
    }

    /// `report.html` without its page (header, sections, charts), for a
    /// page of someone else's that styles it with [`REPORT_CSS`].
    pub fn to_html_body(&self) -> String {
        html::body(self)
    }

    /// The series of one kind (`rss`, `cpu`, ...), by subject.
    pub(crate) fn series_of(&self, kind: &str) -> Vec<&SeriesData> {
        self.series.iter().filter(|s| s.kind == kind).collect()
    }

    /// The stage and attempt number an attempt id belongs to.
    pub(crate) fn attempt_name(&self, id: gauntlet_store::AttemptId) -> Option<(&str, u32)> {
        self.stages.iter().find_map(|s| {
            s.attempts
                .iter()
                .find(|a| a.id == id)
                .map(|a| (s.name.as_str(), a.attempt))
        })
    }

    /// The override of a stage's attempt, if it was overridden.
    pub(crate) fn override_of(&self, stage: &str, attempt: u32) -> Option<&Override> {
        self.overrides
            .iter()
            .rev()
            .find(|o| o.stage == stage && o.attempt == attempt)
    }
}

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Markdown,
    Html,
    Junit,
}

impl Format {
    /// Every format, in the order a run writes them.
    pub const ALL: [Format; 4] = [Format::Json, Format::Markdown, Format::Html, Format::Junit];

    /// The file it is written to: `REPORT.json`, `REPORT.md`, `report.html`, `junit.xml`.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "REPORT.json",
            Format::Markdown => "REPORT.md",
            Format::Html => "report.html",
            Format::Junit => "junit.xml",
        }
    }

    /// The word that names it on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Junit => "junit",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is none of `json`, `md`, `markdown`, `html`, `junit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl std::fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown report format {:?}: use json, md (markdown), html or junit",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;

    /// `json`, `md` or `markdown`, `html`, `junit` (any case).
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "junit" => Ok(Format::Junit),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// The report in one format, as the file's text (JSON pretty-printed).
pub fn render(report: &RunReport, format: Format) -> String {
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&report.to_json())
                .expect("a JSON value always serializes");
            text.push('\n');
            text
        }
        Format::Markdown => report.to_markdown(),
        Format::Html => report.to_html(),
        Format::Junit => report.to_junit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name_their_files() {
        for (word, f, file) in [
            ("json", Format::Json, "REPORT.json"),
            ("md", Format::Markdown, "REPORT.md"),
            ("Markdown", Format::Markdown, "REPORT.md"),
            ("html", Format::Html, "report.html"),
            ("JUNIT", Format::Junit, "junit.xml"),
        ] {
            assert_eq!(word.parse::<Format>().unwrap(), f);
            assert_eq!(f.file_name(), file);
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
        let err = "xml".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("\"xml\""), "{err}");
    }

    #[test]
    fn short_series_are_kept_whole() {
        let pts: Vec<_> = (0..10).map(|i| (i * 1000, i as f64)).collect();
        assert_eq!(downsample(pts.clone(), 2000), pts);
        assert!(downsample(Vec::new(), 2000).is_empty());
    }

    #[test]
    fn long_series_keep_their_peaks_and_dips() {
        // 20 000 samples of a gentle wave with one spike and one dip.
        let mut pts: Vec<(Millis, f64)> = (0..20_000)
            .map(|i| (1_000_000 + i * 500, 100.0 + (i as f64 / 300.0).sin()))
            .collect();
        pts[7_777].1 = 1_000.0;
        pts[12_345].1 = -50.0;
        let out = downsample(pts.clone(), MAX_POINTS);
        assert!(out.len() <= MAX_POINTS, "{}", out.len());
        assert!(out.len() >= MAX_POINTS / 2, "{}", out.len());
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        assert!(out.contains(&pts[7_777]));
        assert!(out.contains(&pts[12_345]));
        assert!(out.iter().all(|p| pts.contains(p)), "only real samples");
    }

    #[test]
    fn samples_at_one_instant_downsample_to_two_points() {
        let pts: Vec<_> = (0..5000).map(|i| (42, i as f64)).collect();
        assert_eq!(downsample(pts, 100), vec![(42, 0.0), (42, 4999.0)]);
    }
}
