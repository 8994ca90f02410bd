//! `/runs/{id}`: one run, live. The report (server-rendered by the run's
//! poller), the last lines of each service's log, and the operator's
//! actions that fit the run's state; the page follows the run over
//! Server-Sent Events.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use gauntlet_report::run::RunReport;
use gauntlet_store::{Liveness, Run, RunKind, RunState, StageState, Store};
use serde::Deserialize;

use crate::App;
use crate::live::{logs_html, render_report};
use crate::page::{Page, esc, problem, store_problem};
use crate::runs_page::{result_pill, shown_state, state_tone};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunQuery {
    /// Which action just went through (a fixed word: the notice is ours,
    /// never text from the URL).
    done: Option<String>,
}

pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<RunQuery>,
) -> Response {
    match view(&app, &id).await {
        Ok(v) => page(&app, &v, q.done.as_deref(), None).into_response(),
        Err(e) => store_problem(&e),
    }
}

/// What the run page shows.
pub(crate) struct RunView {
    pub run: Run,
    /// The report's HTML, as the run's poller renders it.
    pub report: String,
    pub logs: String,
    /// The stages an override can let through.
    pub failed: Vec<String>,
}

/// Reads what the run page shows.
pub(crate) async fn view(app: &Arc<App>, id: &str) -> Result<RunView, crate::ServeError> {
    let id = id.to_owned();
    let (run, failed) = app
        .stores
        .with(move |store: &Store| {
            let run = store.run(&id)?;
            let failed = store
                .stages(&run.id)?
                .into_iter()
                .filter(|s| s.state() == StageState::Failed)
                .map(|s| s.name)
                .collect();
            Ok((run, failed))
        })
        .await?;
    let report = match app
        .live
        .report(app, run.id.clone(), Duration::from_secs(10))
        .await
    {
        Some(r) => r.data.clone(),
        None => {
            // The poller could not render in time: render here.
            let id = run.id.clone();
            let report = app
                .stores
                .with(move |store| RunReport::load(store, &id))
                .await?;
            render_report(&report)
        }
    };
    let logs = logs_html(&app.run_dir(&run));
    Ok(RunView {
        run,
        report,
        logs,
        failed,
    })
}

/// The run page; `refused` is an action's refusal in the store's words.
pub(crate) fn page(
    app: &App,
    view: &RunView,
    done: Option<&str>,
    refused: Option<&str>,
) -> Html<String> {
    let RunView {
        run,
        report,
        logs,
        failed,
    } = view;
    let state = shown_state(run);
    let mut p = Page::new(&format!("{} {}", run.plan_name, run.id));
    p.push(&format!(
        "<div class=\"runbar\" id=\"run\" data-run=\"{id}\" data-state=\"{state}\" data-events=\"/runs/{id}/events\"><a href=\"/\">Runs</a> › <code>{id}</code> <span class=\"pill {}\" id=\"run-state\">{state}</span> {} <a href=\"/runs/{id}/report\">stored report</a> <span id=\"live\" class=\"muted\"></span></div>\n",
        state_tone(state),
        result_pill(run),
        id = esc(run.id.as_str()),
    ));
    if let Some(word) = done
        && let Some(text) = notice(word)
    {
        p.push(&format!(
            "<div class=\"callout good notice\"><p>{}</p></div>\n",
            esc(text)
        ));
    }
    if let Some(why) = refused {
        p.push(&format!(
            "<div class=\"callout bad refused\"><strong>Refused</strong><p>{}</p></div>\n",
            esc(why)
        ));
    }
    p.push(&actions(app, run, failed));
    p.push(&format!("<div id=\"report\">{report}</div>\n"));
    p.push(&format!(
        "<section id=\"logs-section\"><h2>Service logs (last lines)</h2><div id=\"logs\">{logs}</div></section>\n"
    ));
    p.script("live.js");
    p.finish()
}

/// The fixed notice for an action that went through.
fn notice(word: &str) -> Option<&'static str> {
    Some(match word {
        "retry" => {
            "Retry started: the run goes on in a gauntlet process of its own, as `gauntlet retry` would."
        }
        "override" => {
            "Override recorded: the run goes on in a gauntlet process of its own, as `gauntlet override` would."
        }
        "abandon" => "The run was abandoned.",
        "stop" => {
            "The run's process was asked to stop (as Ctrl-C would); it ends its stage and says so."
        }
        _ => return None,
    })
}

/// The forms for what the operator can do with the run now.
fn actions(app: &App, run: &Run, failed: &[String]) -> String {
    if app.read_only {
        return "<p class=\"muted readonly\">Read-only dashboard: no actions.</p>\n".to_owned();
    }
    let id = esc(run.id.as_str());
    let csrf = esc(&app.auth.csrf);
    let hidden = format!("<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">");
    let mut h = String::from("<section id=\"actions\" class=\"actions\">");
    let state = shown_state(run);
    match (run.state, state) {
        (RunState::Running, "running") => {
            if run.owner.liveness() == Liveness::Alive {
                let _ = write!(
                    h,
                    "<form method=\"post\" action=\"/runs/{id}/stop\" class=\"action\">{hidden}<button type=\"submit\" class=\"danger\" id=\"stop\">Stop the run</button> <span class=\"muted\">SIGTERM to its gauntlet process {}; it can be retried later</span></form>",
                    run.owner.pid
                );
            } else {
                h.push_str("<p class=\"muted\">Driven by a gauntlet process on another machine: stop it there.</p>");
            }
        }
        (_, "held" | "interrupted") if run.kind != RunKind::Test => {
            let _ = write!(
                h,
                "<form method=\"post\" action=\"/runs/{id}/retry\" class=\"action\">{hidden}<button type=\"submit\" id=\"retry\">Retry</button> <span class=\"muted\">run {} again and go on</span> <label>By <input name=\"by\" size=\"12\" placeholder=\"your name\"></label></form>",
                esc(run
                    .held_stage
                    .as_deref()
                    .unwrap_or("the stage that stopped"))
            );
            if !failed.is_empty() {
                let mut options = String::new();
                for s in failed {
                    let _ = write!(
                        options,
                        "<option{}>{}</option>",
                        if run.held_stage.as_deref() == Some(s) {
                            " selected"
                        } else {
                            ""
                        },
                        esc(s)
                    );
                }
                let _ = write!(
                    h,
                    "<form method=\"post\" action=\"/runs/{id}/override\" class=\"action\">{hidden}<label>Stage <select name=\"stage\">{options}</select></label> <label>Reason <input name=\"reason\" id=\"override-reason\" required minlength=\"3\" size=\"40\" placeholder=\"why it may pass (kept in every report)\"></label> <label>By <input name=\"by\" size=\"12\" placeholder=\"your name\"></label> <button type=\"submit\" id=\"override\">Override</button></form>"
                );
            }
            let _ = write!(
                h,
                "<form method=\"post\" action=\"/runs/{id}/abandon\" class=\"action\">{hidden}<label>Reason <input name=\"reason\" size=\"40\" placeholder=\"abandoned by the operator\"></label> <label>By <input name=\"by\" size=\"12\" placeholder=\"your name\"></label> <button type=\"submit\" class=\"danger\" id=\"abandon\">Abandon</button></form>"
            );
        }
        _ => return String::new(),
    }
    h.push_str("</section>\n");
    h
}

/// `/runs/{id}/report`: the report the run wrote at its end, or one
/// rendered now for a run that has not written one yet.
pub(crate) async fn report(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let found = app
        .stores
        .with(move |store: &Store| {
            let run = store.run(&id)?;
            let stored = store.artifact_dir(&run.id).join("report.html");
            match std::fs::read_to_string(&stored) {
                Ok(html) if run.state != RunState::Running => Ok(html),
                _ => Ok(RunReport::load(store, &run.id)?.to_html()),
            }
        })
        .await;
    match found {
        // The stored report is a page of its own (inline style, no script).
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => store_problem(&e),
    }
}

/// A page that answers an action on a run that is not there.
pub(crate) fn no_run(e: &crate::ServeError) -> Response {
    match e {
        crate::ServeError::Store(_) => store_problem(e),
        _ => problem(StatusCode::INTERNAL_SERVER_ERROR, "Failed", &e.to_string()),
    }
}
