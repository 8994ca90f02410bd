//! `/fleet`: the fleet loops (their phases and nodes, from the loop kept
//! with each run) and the network labs up on this machine (hosts, NAT
//! boxes and their types).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gauntlet_plan::{Fleet, HostPlace};
use gauntlet_store::{Run, RunFilter, RunKind, Stage, Store};
use serde::Deserialize;

use crate::App;
use crate::page::{Page, esc, store_problem};
use crate::runs_page::{result_pill, shown_state, state_tone, took, utc};

/// Loops shown.
const LOOPS: usize = 20;

/// The part of a loop's `fleet.resolved.json` shown here.
#[derive(Deserialize)]
struct KeptLoop {
    fleet: Fleet,
    project: String,
}

pub(crate) async fn show(State(app): State<Arc<App>>) -> Response {
    let found = app
        .stores
        .with(|store: &Store| {
            let runs = store.runs(&RunFilter {
                kind: Some(RunKind::Fleet),
                limit: Some(LOOPS),
                ..RunFilter::default()
            })?;
            runs.into_iter()
                .map(|r| {
                    let stages = store.stages(&r.id)?;
                    let kept = std::fs::read_to_string(
                        store.artifact_dir(&r.id).join("fleet.resolved.json"),
                    )
                    .ok()
                    .and_then(|t| serde_json::from_str::<KeptLoop>(&t).ok());
                    Ok((r, stages, kept))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    let loops = match found {
        Ok(l) => l,
        Err(e) => return store_problem(&e),
    };
    let mut p = Page::new("Fleet");
    p.push("<h1>Fleet loops</h1>\n");
    if loops.is_empty() {
        p.push("<p class=\"empty\">No fleet loop in this store. Start one: <code>gauntlet start PROJECT</code> (docs/fleet.md).</p>\n");
    }
    for (run, stages, kept) in &loops {
        p.push(&loop_html(run, stages, kept.as_ref()));
    }
    p.push("<h1>Network labs on this machine</h1>\n");
    p.push(&labs_html());
    p.finish().into_response()
}

fn loop_html(run: &Run, stages: &[Stage], kept: Option<&KeptLoop>) -> String {
    let state = shown_state(run);
    let mut h = format!(
        "<section class=\"loop\" data-run=\"{id}\"><h2>{} <a href=\"/runs/{id}\"><code>{id}</code></a> <span class=\"pill {}\">{state}</span> {}</h2>",
        esc(&run.plan_name),
        state_tone(state),
        result_pill(run),
        id = esc(run.id.as_str()),
    );
    let now = gauntlet_store::now_ms();
    let _ = write!(
        h,
        "<p class=\"muted\">started {} · {} · {} phase(s)</p>",
        esc(&utc(run.started_at)),
        esc(&took(run.took_ms(now))),
        stages.len()
    );
    if !stages.is_empty() {
        h.push_str("<p class=\"phases\">");
        for s in stages {
            let tone = match s.state() {
                gauntlet_store::StageState::Passed => "good",
                gauntlet_store::StageState::Failed => "bad",
                gauntlet_store::StageState::Running => "info",
                gauntlet_store::StageState::Overridden => "warn",
                _ => "neutral",
            };
            let _ = write!(
                h,
                "<span class=\"pill {tone}\" title=\"{}\">{}</span> ",
                esc(&s.state().to_string()),
                esc(&s.name)
            );
        }
        h.push_str("</p>");
    }
    match kept {
        Some(k) => {
            let _ = write!(
                h,
                "<p>Project <strong>{}</strong> on fleet <strong>{}</strong></p>",
                esc(&k.project),
                esc(&k.fleet.name)
            );
            h.push_str("<table><thead><tr><th>Node</th><th>Address</th><th>Role</th><th>Region</th><th>NAT</th></tr></thead><tbody>");
            for n in &k.fleet.nodes {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&n.name),
                    esc(&n.ssh.address),
                    esc(&n.role),
                    esc(n.region.as_deref().unwrap_or("—")),
                    esc(n.nat_word())
                );
            }
            h.push_str("</tbody></table>");
        }
        None => h.push_str("<p class=\"muted\">the loop's fleet was not kept with the run</p>"),
    }
    h.push_str("</section>\n");
    h
}

fn labs_html() -> String {
    let labs = gauntlet_lab::state::list();
    if labs.is_empty() {
        return "<p class=\"empty\">No lab is up (<code>gauntlet lab up lab.toml</code>, docs/lab.md).</p>\n".to_owned();
    }
    let mut h = String::new();
    for lab in labs {
        let r = &lab.record;
        let _ = write!(
            h,
            "<section class=\"lab\"><h2>Lab <code>{}</code> <span class=\"pill {}\">{}</span></h2>",
            esc(&r.id),
            if lab.alive { "info" } else { "warn" },
            if lab.alive { "up" } else { "owner gone" }
        );
        h.push_str(
            "<table><thead><tr><th>Host</th><th>Where</th><th>Addresses</th></tr></thead><tbody>",
        );
        for host in &r.spec.hosts {
            let place = match &host.place {
                HostPlace::Segment(s) => format!("segment {s}"),
                HostPlace::Behind(n) => {
                    let kind = r
                        .spec
                        .nats
                        .iter()
                        .find(|x| &x.name == n)
                        .map_or("", |x| x.kind.name());
                    format!("behind NAT {n} ({kind})")
                }
            };
            let addrs: Vec<String> = host.addresses.iter().map(|a| a.to_string()).collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&host.name),
                esc(&place),
                esc(&addrs.join(", "))
            );
        }
        h.push_str("</tbody></table>");
        if !r.spec.nats.is_empty() {
            h.push_str("<table><thead><tr><th>NAT box</th><th>Type</th><th>Public address</th><th>Inside</th></tr></thead><tbody>");
            for n in &r.spec.nats {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    esc(&n.name),
                    esc(n.kind.name()),
                    n.outside_addr,
                    esc(&n.inside.to_string())
                );
            }
            h.push_str("</tbody></table>");
        }
        h.push_str("</section>\n");
    }
    h
}
