//! `gauntlet serve`: the live dashboard. Every run of every kind as it
//! happens, read from the run store that the runs' own processes write
//! (stages, faults, verdicts at once; samples every second); the operator's
//! actions; and Prometheus metrics.
//!
//! # Shape
//!
//! The dashboard is a reader of the store, never a second runtime: a run
//! is driven by its own `gauntlet` process, which may start before or after
//! the dashboard and outlives it. What a page shows live comes from one
//! poller per watched run ([`live`]), shared by every browser that watches
//! it, which reads only what is new since its last look (a cursor over the
//! samples) and pushes the re-rendered report over Server-Sent Events.
//! The operator's retry, override and abandon are the CLI's own commands
//! run as detached processes ([`actions`]): the same store transitions, the
//! same driver, and a run that goes on after the dashboard stops.
//!
//! # Security
//!
//! Loopback by default; any other address needs a token (bearer header,
//! or a cookie set by `/login`, which holds a session secret, not the
//! token). Every form carries a per-process CSRF secret and a POST must
//! come from the dashboard's own origin. Every text from a run is escaped.
//! `--read-only` shows no action and refuses every POST.
//!
//! | what | how nothing leaks |
//! |---|---|
//! | the listening socket | closed when `run` returns (Ctrl-C) |
//! | a watched run's poller | ends once no browser has watched it for a while |
//! | an SSE connection | bounded ([`MAX_WATCHERS`]); ends with the browser or the server |
//! | an action's process | a run owner in a process group of its own (a Ctrl-C meant for the dashboard does not reach it): it finishes the run (as `gauntlet retry` in a shell would) and is reaped by a thread of ours while we live |

mod actions;
mod assets;
mod auth;
pub mod bench;
mod error;
mod fleet;
mod live;
mod metrics;
mod page;
mod run_page;
mod runs_page;
mod stores;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use axum::Router;
use axum::routing::{get, post};

pub use error::ServeError;
pub use stores::StoreAt;

/// At most this many Server-Sent-Event streams at once (every browser tab
/// watching a run holds one).
pub const MAX_WATCHERS: usize = 256;

/// What `gauntlet serve` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub store: StoreAt,
    /// Show no action; refuse every POST; write nothing.
    pub read_only: bool,
    /// Required on every request when set; required to listen beyond
    /// loopback. Never logged, never written.
    pub token: Option<String>,
    /// The `gauntlet` binary whose `retry`, `override` and `abandon` the
    /// actions run.
    pub gauntlet: PathBuf,
}

/// The dashboard, bound and ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
}

/// What every handler shares.
pub(crate) struct App {
    pub store: StoreAt,
    pub stores: Arc<stores::Pool>,
    /// Where the runs' directories are.
    pub artifacts: PathBuf,
    pub read_only: bool,
    pub auth: auth::Auth,
    pub gauntlet: PathBuf,
    pub live: live::Hub,
    pub metrics: metrics::Metrics,
    pub watchers: AtomicUsize,
}

impl App {
    /// The command-line words that name this store to a `gauntlet` child.
    pub fn store_args(&self) -> Vec<OsString> {
        self.store.cli_args()
    }

    /// A run's directory.
    pub fn run_dir(&self, run: &gauntlet_store::Run) -> PathBuf {
        self.artifacts.join(run.id.as_str())
    }
}

/// The shortest token accepted: a guessable one protects nothing.
pub const MIN_TOKEN_LEN: usize = 16;

impl Server {
    /// Checks the options, opens the store and binds the address.
    pub async fn bind(options: Options) -> Result<Server, ServeError> {
        if let Some(token) = &options.token
            && token.len() < MIN_TOKEN_LEN
        {
            return Err(ServeError::WeakToken);
        }
        if !options.listen.ip().is_loopback() && options.token.is_none() {
            return Err(ServeError::TokenRequired {
                listen: options.listen,
            });
        }
        // The store must exist and be readable before anything listens.
        let first = options.store.open()?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|cause| ServeError::Bind {
                listen: options.listen,
                cause,
            })?;
        let artifacts = first.artifact_root();
        let app = Arc::new(App {
            artifacts,
            stores: Arc::new(stores::Pool::new(options.store.clone(), first)),
            store: options.store,
            read_only: options.read_only,
            auth: auth::Auth::new(options.token)?,
            gauntlet: options.gauntlet,
            live: live::Hub::default(),
            metrics: metrics::Metrics::default(),
            watchers: AtomicUsize::new(0),
        });
        Ok(Server { listener, app })
    }

    /// Where it listens (the port chosen when `listen` asked for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener.local_addr().map_err(ServeError::Io)
    }

    /// Serves until `shutdown` resolves; open event streams are closed then.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let app = self.app.clone();
        let router = router(self.app);
        let stop = async move {
            shutdown.await;
            app.live.close();
        };
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
        .map_err(ServeError::Io)
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(runs_page::list))
        .route("/runs/{id}", get(run_page::show))
        .route("/runs/{id}/events", get(live::events))
        .route("/runs/{id}/report", get(run_page::report))
        .route("/runs/{id}/retry", post(actions::retry))
        .route("/runs/{id}/override", post(actions::override_stage))
        .route("/runs/{id}/abandon", post(actions::abandon))
        .route("/runs/{id}/stop", post(actions::stop))
        .route("/fleet", get(fleet::show))
        .route("/metrics", get(metrics::scrape))
        .route("/assets/{name}", get(assets::serve))
        .route("/login", get(auth::login_form).post(auth::login))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(page::security_headers))
        .with_state(app)
}
