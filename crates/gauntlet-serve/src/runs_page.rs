//! `/`: every run, newest first, filtered by kind, state and plan, paged;
//! the table refreshes itself while the page is open.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use gauntlet_check::Validity;
use gauntlet_store::{Run, RunFilter, RunKind, RunState, now_ms};
use serde::Deserialize;

use crate::App;
use crate::page::{Page, esc, problem, store_problem};

/// Runs per page.
pub(crate) const PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    kind: Option<String>,
    state: Option<String>,
    plan: Option<String>,
    page: Option<usize>,
    /// Only the table (the page's own refresh asks for it).
    fragment: Option<String>,
}

/// A filter word that is empty means "any".
fn word(w: &Option<String>) -> Option<&str> {
    w.as_deref().map(str::trim).filter(|w| !w.is_empty())
}

pub(crate) async fn list(State(app): State<Arc<App>>, Query(q): Query<ListQuery>) -> Response {
    let kind = match word(&q.kind).map(|w| RunKind::parse(w).ok_or(w)) {
        Some(Err(w)) => return bad_filter("kind", w, RunKind::ALL.iter().map(|k| k.as_str())),
        Some(Ok(k)) => Some(k),
        None => None,
    };
    let state = match word(&q.state).map(|w| RunState::parse(w).ok_or(w)) {
        Some(Err(w)) => return bad_filter("state", w, RunState::ALL.iter().map(|k| k.as_str())),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let page = q.page.unwrap_or(1).max(1);
    let filter = RunFilter {
        state,
        kind,
        plan_name: word(&q.plan).map(str::to_owned),
        limit: Some(PAGE),
        offset: (page - 1).saturating_mul(PAGE),
    };
    let read_only = app.read_only;
    let found = app
        .stores
        .with(move |store| {
            // A run whose process died reads `running` until someone looks;
            // looking is writing, which a read-only dashboard never does
            // (it shows such a run as interrupted without saying so to
            // the store).
            if !read_only {
                store.mark_dead_runs_interrupted()?;
            }
            Ok((store.runs(&filter)?, store.count_runs(&filter)?, filter))
        })
        .await;
    let (runs, total, filter) = match found {
        Ok(f) => f,
        Err(e) => return store_problem(&e),
    };
    let table = table(&runs, total, page, &filter);
    if q.fragment.is_some() {
        return Html(table).into_response();
    }
    let mut p = Page::new("Runs");
    p.push("<h1>Runs</h1>\n");
    p.push(&filters(&filter));
    let refresh = format!("/?{}&fragment=1", query_string(&filter, page));
    p.push(&format!(
        "<div id=\"runs\" data-refresh=\"{}\">{table}</div>\n",
        esc(&refresh)
    ));
    p.script("live.js");
    p.finish().into_response()
}

fn bad_filter<'a>(what: &str, got: &str, known: impl Iterator<Item = &'a str>) -> Response {
    let known: Vec<&str> = known.collect();
    problem(
        StatusCode::BAD_REQUEST,
        "Unknown filter",
        &format!("{what} {got:?} is none of: {}", known.join(", ")),
    )
}

fn query_string(f: &RunFilter, page: usize) -> String {
    let mut parts = Vec::new();
    if let Some(k) = f.kind {
        parts.push(format!("kind={}", k.as_str()));
    }
    if let Some(s) = f.state {
        parts.push(format!("state={}", s.as_str()));
    }
    if let Some(p) = &f.plan_name {
        parts.push(format!("plan={}", url_escape(p)));
    }
    parts.push(format!("page={page}"));
    parts.join("&")
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn filters(f: &RunFilter) -> String {
    let select = |name: &str, all: &[&str], chosen: Option<&str>| {
        let mut h =
            format!("<label>{name} <select name=\"{name}\"><option value=\"\">any</option>");
        for w in all {
            let _ = write!(
                h,
                "<option{}>{w}</option>",
                if chosen == Some(*w) { " selected" } else { "" }
            );
        }
        h.push_str("</select></label> ");
        h
    };
    let kinds: Vec<&str> = RunKind::ALL.iter().map(|k| k.as_str()).collect();
    let states: Vec<&str> = RunState::ALL.iter().map(|k| k.as_str()).collect();
    format!(
        "<form method=\"get\" action=\"/\" class=\"filters\">{}{}<label>plan <input name=\"plan\" value=\"{}\" size=\"18\"></label> <button type=\"submit\">Filter</button></form>\n",
        select("kind", &kinds, f.kind.map(|k| k.as_str())),
        select("state", &states, f.state.map(|s| s.as_str())),
        esc(f.plan_name.as_deref().unwrap_or(""))
    )
}

/// The state as a person should read it: a `running` run whose process
/// is gone is interrupted, whether or not the store has been told.
pub(crate) fn shown_state(run: &Run) -> &'static str {
    if run.state == RunState::Running && run.owner.is_dead() {
        "interrupted"
    } else {
        run.state.as_str()
    }
}

pub(crate) fn state_tone(state: &str) -> &'static str {
    match state {
        "running" => "info",
        "finished" => "neutral",
        "held" | "interrupted" => "warn",
        _ => "neutral",
    }
}

pub(crate) fn result_pill(run: &Run) -> String {
    match (run.state, run.result) {
        (RunState::Finished, Some(Validity::Valid)) => {
            "<span class=\"pill good\">valid</span>".into()
        }
        (RunState::Finished, Some(Validity::Invalid)) => {
            "<span class=\"pill bad\">invalid</span>".into()
        }
        (RunState::Finished, _) => "<span class=\"pill warn\">unknown</span>".into(),
        _ => "<span class=\"muted\">—</span>".into(),
    }
}

fn table(runs: &[Run], total: u64, page: usize, filter: &RunFilter) -> String {
    let now = now_ms();
    let mut h = String::new();
    if runs.is_empty() {
        h.push_str("<p class=\"empty\">No run matches. Start one: <code>gauntlet run plan.toml</code>, <code>gauntlet soak plan.toml</code>, <code>gauntlet test …</code></p>");
        return h;
    }
    h.push_str("<table class=\"runs\"><thead><tr><th>Run</th><th>Kind</th><th>Plan</th><th>State</th><th>Result</th><th>Started (UTC)</th><th>Took</th><th>Held at</th></tr></thead><tbody>\n");
    for r in runs {
        let state = shown_state(r);
        let _ = writeln!(
            h,
            "<tr data-run=\"{id}\" data-state=\"{state}\"><td><a href=\"/runs/{id}\"><code>{id}</code></a></td><td>{}</td><td>{}</td><td><span class=\"pill {}\">{state}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.kind,
            esc(&r.plan_name),
            state_tone(state),
            result_pill(r),
            esc(&utc(r.started_at)),
            esc(&took(r.took_ms(now))),
            esc(r.held_stage.as_deref().unwrap_or("")),
            id = esc(r.id.as_str()),
        );
    }
    h.push_str("</tbody></table>\n");
    let pages = (total as usize).div_ceil(PAGE).max(1);
    let _ = write!(
        h,
        "<p class=\"pager\">{total} run(s) · page {page} of {pages}"
    );
    if page > 1 {
        let _ = write!(
            h,
            " · <a href=\"/?{}\">newer</a>",
            esc(&query_string(filter, page - 1))
        );
    }
    if page < pages {
        let _ = write!(
            h,
            " · <a href=\"/?{}\">older</a>",
            esc(&query_string(filter, page + 1))
        );
    }
    h.push_str("</p>\n");
    h
}

/// `2026-12-04T08:15:02Z`.
pub(crate) fn utc(ms: i64) -> String {
    let mut t = gauntlet_events::clock::rfc3339(ms);
    // Whole seconds are enough for a list.
    if let Some(dot) = t.find('.') {
        t.replace_range(dot..t.len() - 1, "");
    }
    t
}

/// `3 s`, `4 min 10 s`, `2 h 5 min`.
pub(crate) fn took(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
