//! `gauntlet serve`: the live dashboard over the run store.

use std::net::SocketAddr;

use anyhow::Result;
use clap::Args;
use gauntlet_serve::{Options, ServeError, Server, StoreAt};

use crate::cli::StoreArgs;
use crate::exit::{self, Failure};
use crate::out::note;
use crate::store_opt::Location;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet serve                                  # http://127.0.0.1:7878\n  \
    gauntlet serve --listen 127.0.0.1:9000 --store runs/\n  \
    gauntlet serve --read-only                      # look, never act\n  \
    GAUNTLET_SERVE_TOKEN=$(openssl rand -hex 16) gauntlet serve --listen 0.0.0.0:7878\n\n\
    Pages: / (every run; filter by kind, state, plan), /runs/ID (one run, live: stages, active\n\
    faults, charts of health latency, throughput, RSS and CPU with fault windows shaded, checks,\n\
    the last lines of each service's log; retry, override with a reason, abandon, stop),\n\
    /fleet (fleet loops and network labs), /metrics (Prometheus, OpenMetrics text).\n\n\
    Runs started before or after the dashboard show up live: each run's own process writes the\n\
    store, the dashboard reads it. Actions run the CLI's own commands as processes of their own\n\
    (the run goes on if the dashboard stops).\n\n\
    Security: loopback unless --listen says otherwise; any other address needs a token (the\n\
    environment variable named by --token-env, GAUNTLET_SERVE_TOKEN by default, or --token),\n\
    sent as `Authorization: Bearer TOKEN` or through the login page's cookie. The token is never\n\
    printed or written. Exit codes: 0 stopped by Ctrl-C, 254 bad arguments, 255 cannot listen.")]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Show no action, refuse every POST, write nothing to the store.
    #[arg(long)]
    pub read_only: bool,
    /// The environment variable that holds the token.
    #[arg(long, value_name = "NAME", default_value = "GAUNTLET_SERVE_TOKEN")]
    pub token_env: String,
    /// The token itself (other users of this machine can read a command
    /// line: prefer the environment).
    #[arg(long, value_name = "TOKEN", hide_default_value = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: ServeArgs) -> Result<u8> {
    let location = args.store.location()?;
    // Serving first and running later is the usual order: make the store
    // (a read-only dashboard makes nothing).
    location.open(!args.read_only)?;
    let at = match &location {
        Location::Dir(d) => StoreAt::Dir(std::path::absolute(d)?),
        Location::DbFile(f) => StoreAt::DbFile(std::path::absolute(f)?),
    };
    let token = args.token.clone().or_else(|| {
        std::env::var(&args.token_env)
            .ok()
            .filter(|t| !t.trim().is_empty())
    });
    let options = Options {
        listen: args.listen,
        store: at,
        read_only: args.read_only,
        token: token.map(|t| t.trim().to_owned()),
        gauntlet: std::env::current_exe()?,
    };
    let guarded = options.token.is_some();
    let rt = crate::cmd_run::runtime()?;
    rt.block_on(async move {
        let server = Server::bind(options).await.map_err(serve_error)?;
        let addr = server.local_addr().map_err(serve_error)?;
        note!(
            "gauntlet serve: http://{addr}/ (store {}){}{}; Ctrl-C stops it",
            location.describe(),
            if guarded { ", token required" } else { "" },
            if args.read_only { ", read-only" } else { "" }
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        server.run(stop).await.map_err(serve_error)?;
        note!("gauntlet serve: stopped");
        Ok(exit::VALID)
    })
}

fn serve_error(e: ServeError) -> anyhow::Error {
    match e {
        ServeError::TokenRequired { .. } | ServeError::WeakToken => {
            Failure::bad_args(e.to_string())
        }
        ServeError::Store(s) => crate::cmd_run::store_error(s),
        other => Failure {
            code: exit::CRASHED,
            message: other.to_string(),
        }
        .into(),
    }
}
