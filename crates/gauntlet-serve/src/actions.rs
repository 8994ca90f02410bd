//! The operator's actions: retry, override (with a reason), abandon and
//! stop. The first three are the CLI's own commands (`gauntlet retry`,
//! `override`, `abandon`) run as processes of their own, so the store's
//! transitions, the refusals and the driver that goes on with the run are
//! the CLI's, and a run resumed here goes on after the dashboard stops.
//! A stop is the CLI's too: SIGTERM to the run's live owner.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gauntlet_store::{Run, RunState, Store};
use serde::Deserialize;

use crate::App;
use crate::page::{problem, store_problem};
use crate::run_page;

/// How long an action waits to see its process take the run (or refuse).
const TAKE_WAIT: Duration = Duration::from_secs(15);

/// How the dashboard's own first line of an action's log begins.
const ASKED: &str = "gauntlet serve: ";

/// Who and why, as long as a report line should be.
const MAX_WORDS: usize = 500;

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    stage: Option<String>,
    reason: Option<String>,
    by: Option<String>,
}

/// The checks every action makes before it touches anything.
async fn admit(app: &Arc<App>, id: String, form: &ActionForm) -> Result<Run, Response> {
    if app.read_only {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "Read-only",
            "This dashboard was started with --read-only: it takes no action.",
        ));
    }
    if !app.auth.csrf_ok(&form.csrf) {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form is not one of this dashboard's pages (or the dashboard restarted since it was loaded): reload the run's page and try again.",
        ));
    }
    app.stores
        .with(move |store: &Store| store.run(&id))
        .await
        .map_err(|e| run_page::no_run(&e))
}

fn text(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(MAX_WORDS).collect())
}

/// Who acted: the name the form gave (or `operator`), from where.
fn who(form: &ActionForm, peer: SocketAddr) -> String {
    format!(
        "{} (dashboard, {})",
        text(&form.by).unwrap_or_else(|| "operator".to_owned()),
        peer.ip()
    )
}

pub(crate) async fn retry(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    let run = admit(&app, id, &form).await?;
    let args: Vec<OsString> = vec!["retry".into(), run.id.as_str().into(), "--quiet".into()];
    Ok(take_over(&app, &run, "retry", &who(&form, peer), args).await)
}

pub(crate) async fn override_stage(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    let run = admit(&app, id, &form).await?;
    let Some(reason) = text(&form.reason) else {
        return Ok(refused(
            &app,
            &run,
            "An override needs a reason: it is kept with the run and shown in every report.",
            StatusCode::BAD_REQUEST,
        )
        .await);
    };
    let by = who(&form, peer);
    let mut args: Vec<OsString> = vec![
        "override".into(),
        run.id.as_str().into(),
        "--reason".into(),
        reason.into(),
        "--by".into(),
        by.clone().into(),
        "--quiet".into(),
    ];
    if let Some(stage) = text(&form.stage) {
        args.extend(["--stage".into(), stage.into()]);
    }
    Ok(take_over(&app, &run, "override", &by, args).await)
}

pub(crate) async fn abandon(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    let run = admit(&app, id, &form).await?;
    let by = who(&form, peer);
    // The store keeps an abandon's reason, not its author: the reason says both.
    let reason = format!(
        "{} — by {by}",
        text(&form.reason).unwrap_or_else(|| "abandoned".to_owned())
    );
    let args: Vec<OsString> = vec![
        "abandon".into(),
        run.id.as_str().into(),
        "--reason".into(),
        reason.into(),
    ];
    Ok(take_over(&app, &run, "abandon", &by, args).await)
}

pub(crate) async fn stop(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    let run = admit(&app, id, &form).await?;
    if run.state != RunState::Running {
        let why = format!("run {} is {}: nothing runs to stop", run.id, run.state);
        return Ok(refused(&app, &run, &why, StatusCode::CONFLICT).await);
    }
    Ok(match run.owner.terminate() {
        Ok(true) => Redirect::to(&format!("/runs/{}?done=stop", run.id)).into_response(),
        Ok(false) => {
            let why = format!(
                "run {} is driven by gauntlet process {} on {}, which is not a live process of this machine: nothing was signalled",
                run.id,
                run.owner.pid,
                run.owner.host.as_deref().unwrap_or("an unknown host")
            );
            refused(&app, &run, &why, StatusCode::CONFLICT).await
        }
        Err(e) => {
            refused(
                &app,
                &run,
                &format!("the signal failed: {e}"),
                StatusCode::CONFLICT,
            )
            .await
        }
    })
}

/// Starts `gauntlet <args>` on this store as a process of its own and
/// waits until it has taken the run (the run runs under its pid), has
/// finished (exit 0: an abandon, or a resumed run that ended at once), or
/// has refused (its own words, from its output).
async fn take_over(
    app: &Arc<App>,
    run: &Run,
    action: &str,
    by: &str,
    mut args: Vec<OsString>,
) -> Response {
    args.extend(app.store_args());
    let dir = app.run_dir(run).join("actions");
    let log_path = dir.join(format!("{}-{action}.log", gauntlet_store::now_ms()));
    let log = std::fs::create_dir_all(&dir).and_then(|_| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
    });
    // Who asked, first: the store keeps who overrode, not who retried.
    let log = log.and_then(|mut f| {
        use std::io::Write;
        writeln!(f, "{ASKED}{action} of run {} asked by {by}", run.id)?;
        Ok(f)
    });
    let log = match log {
        Ok(f) => f,
        Err(e) => {
            let why = format!("cannot write {}: {e}", log_path.display());
            return refused(app, run, &why, StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    let err = match log.try_clone() {
        Ok(f) => f,
        Err(e) => {
            return refused(app, run, &e.to_string(), StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    let mut command = Command::new(&app.gauntlet);
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own process group: a Ctrl-C meant for the dashboard is not
        // meant for the run it resumed.
        .env_remove("GAUNTLET_SERVE_TOKEN");
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot start {}: {e}", app.gauntlet.display());
            return refused(app, run, &why, StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    let pid = child.id();
    let began = Instant::now();
    let id = run.id.clone();
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break Ok(()),
            Ok(Some(status)) => {
                let said = last_words(&log_path);
                break Err(if said.is_empty() {
                    format!("gauntlet {action} ended with {status}")
                } else {
                    said
                });
            }
            Ok(None) => {}
            Err(e) => break Err(e.to_string()),
        }
        let id2 = id.clone();
        let taken = app
            .stores
            .with(move |store: &Store| store.run(id2.as_str()))
            .await
            .is_ok_and(|now| now.state == RunState::Running && now.owner.pid == pid);
        if taken {
            break Ok(());
        }
        if began.elapsed() > TAKE_WAIT {
            break Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Reaped when it ends, whenever that is.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    match outcome {
        Ok(()) => Redirect::to(&format!("/runs/{}?done={action}", run.id)).into_response(),
        Err(why) => refused(app, run, &why, StatusCode::CONFLICT).await,
    }
}

/// What a refused command said: its last lines (not the line the
/// dashboard wrote first, of who asked).
fn last_words(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(ASKED))
        .collect();
    let from = lines.len().saturating_sub(4);
    lines[from..].join("\n")
}

/// The run's page with the refusal above its actions.
async fn refused(app: &Arc<App>, run: &Run, why: &str, status: StatusCode) -> Response {
    match run_page::view(app, run.id.as_str()).await {
        Ok(v) => (status, run_page::page(app, &v, None, Some(why))).into_response(),
        Err(e) => store_problem(&e),
    }
}
