//! `gauntlet bench docker`: what containers cost on this engine, and what
//! watching them costs gauntlet.
//!
//! - **start to healthy, stop**: N containers of an HTTP service, one after
//!   another, each timed from its create request to the first `200` from
//!   its `/health` on its published port, then from the kill to the
//!   engine's report that it exited;
//! - **sampling**: M containers run under the [`DockerBackend`] while
//!   gauntlet reads each one's figures once a second, as the supervisor
//!   does, and its own CPU time over that span is the cost.
//!
//! Every container carries the benchmark's run labels and is removed at
//! the end ([`remove_run`](crate::remove_run)), also when a step fails.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gauntlet_node::{Backend, NodeSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    Container, ContainerSpec, DockerBackend, DockerError, Engine, Ownership, Publish,
    build_from_binary, on_engine_async,
};

/// The port the service listens on inside its container.
const PORT: u16 = 8080;

/// What one benchmark needs: an executable serving `GET /health` on
/// `--port 8080 --bind 0.0.0.0` (its arguments before those in `args`).
#[derive(Debug, Clone)]
pub struct BenchService<'a> {
    pub executable: &'a Path,
    pub args: &'a [String],
}

/// Start-to-healthy and kill-to-exited times of `containers` containers.
#[derive(Debug, Clone)]
pub struct StartStop {
    pub image_build: Duration,
    pub start_to_healthy: Vec<Duration>,
    pub kill_to_exited: Vec<Duration>,
}

/// Gauntlet's own CPU while it watched `containers` containers.
#[derive(Debug, Clone)]
pub struct Sampling {
    pub containers: usize,
    pub span: Duration,
    /// Figures read (one per container per second).
    pub reads: u64,
    /// Of them, how many had figures.
    pub with_figures: u64,
    /// This process's CPU time over the span, in percent of one core.
    pub cpu_percent: f64,
}

/// Runs both measurements, removing everything they made.
pub async fn measure(
    service: BenchService<'_>,
    containers: usize,
    sampled: usize,
    span: Duration,
) -> Result<(StartStop, Sampling), DockerError> {
    let engine = on_engine_async(async {
        let engine = Engine::connect().await?;
        engine.ping().await?;
        Ok::<_, DockerError>(engine)
    })
    .await?;
    let run = format!("bench-{}", std::process::id());
    let own = Ownership::new(&run)?;
    let outcome = measure_on(&engine, &own, service, containers, sampled, span).await;
    let (e, r) = (engine.clone(), run.clone());
    let removed = on_engine_async(async move { crate::remove_run(&e, &r).await }).await;
    let figures = outcome?;
    removed?;
    Ok(figures)
}

async fn measure_on(
    engine: &Engine,
    own: &Ownership,
    service: BenchService<'_>,
    containers: usize,
    sampled: usize,
    span: Duration,
) -> Result<(StartStop, Sampling), DockerError> {
    let began = Instant::now();
    let image = {
        let (e, o, exe, args) = (
            engine.clone(),
            own.clone(),
            service.executable.to_owned(),
            service.args.to_vec(),
        );
        let tag = format!("gauntlet-bench/http-service:{}", own.run());
        on_engine_async(async move { build_from_binary(&e, &o, &tag, &exe, &args).await }).await?
    };
    let image_build = began.elapsed();
    let spec = |i: usize| {
        let mut spec = ContainerSpec::new(own, format!("{}-{i}", own.run()), &image.tag);
        spec.command = ["--bind", "0.0.0.0", "--port", "8080"]
            .map(str::to_owned)
            .to_vec();
        spec.ports.push(Publish::loopback(0, PORT));
        spec
    };

    let mut start_to_healthy = Vec::with_capacity(containers);
    let mut kill_to_exited = Vec::with_capacity(containers);
    for i in 0..containers {
        let (e, s) = (engine.clone(), spec(i));
        let (healthy, container) = on_engine_async(async move {
            let began = Instant::now();
            let container = Container::run(&e, &s).await?;
            let address = published(&container).await?;
            wait_healthy(address, Duration::from_secs(30))
                .await
                .map_err(|why| DockerError::Invalid {
                    what: format!("container {}", container.name()),
                    why,
                })?;
            Ok::<_, DockerError>((began.elapsed(), container))
        })
        .await?;
        start_to_healthy.push(healthy);
        let killed = on_engine_async(async move {
            let began = Instant::now();
            container.kill("SIGKILL").await?;
            container.wait_exit().await?;
            let took = began.elapsed();
            container.remove().await?;
            Ok::<_, DockerError>(took)
        })
        .await?;
        kill_to_exited.push(killed);
    }

    let sampling = sample(engine, sampled, span, spec).await?;
    Ok((
        StartStop {
            image_build,
            start_to_healthy,
            kill_to_exited,
        },
        sampling,
    ))
}

/// Starts `count` containers through the backend and reads each one's
/// figures once a second for `span`, timing this process's CPU.
async fn sample(
    engine: &Engine,
    count: usize,
    span: Duration,
    spec: impl Fn(usize) -> ContainerSpec,
) -> Result<Sampling, DockerError> {
    let backends: Vec<Arc<DockerBackend>> = (0..count)
        .map(|i| Arc::new(DockerBackend::new(engine.clone(), spec(1000 + i))))
        .collect();
    let spawned = {
        let backends = backends.clone();
        tokio::task::spawn_blocking(move || {
            backends
                .iter()
                .map(|b| b.spawn(&NodeSpec::new("http-service")))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("spawning does not panic")
    };
    let nodes = spawned.map_err(|e| DockerError::Invalid {
        what: "a sampled container".to_owned(),
        why: e.to_string(),
    })?;
    let controls: Vec<_> = nodes.iter().map(|n| n.control()).collect();
    // The engine's first stats come a second or two after a start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = gauntlet_node::self_cpu_time();
    let began = Instant::now();
    let (mut reads, mut with_figures) = (0, 0);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while began.elapsed() < span {
        tick.tick().await;
        for control in &controls {
            reads += 1;
            if control.usage().is_some() {
                with_figures += 1;
            }
        }
    }
    let elapsed = began.elapsed();
    let cpu = gauntlet_node::self_cpu_time().saturating_sub(cpu_before);
    drop(nodes);
    Ok(Sampling {
        containers: count,
        span: elapsed,
        reads,
        with_figures,
        cpu_percent: cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0,
    })
}

async fn published(container: &Container) -> Result<SocketAddr, DockerError> {
    let state = container.inspect().await?;
    state
        .ports
        .iter()
        .find(|p| p.container_port == PORT)
        .map(|p| p.host)
        .ok_or_else(|| DockerError::Invalid {
            what: format!("container {}", container.name()),
            why: format!("port {PORT} is not published"),
        })
}

/// Until `GET /health` answers 200, at most `bound`.
async fn wait_healthy(address: SocketAddr, bound: Duration) -> Result<(), String> {
    let began = Instant::now();
    loop {
        if health(address).await == Some(200) {
            return Ok(());
        }
        if began.elapsed() > bound {
            return Err(format!(
                "{address}/health did not answer 200 within {bound:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn health(address: SocketAddr) -> Option<u16> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        String::from_utf8_lossy(&answer)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}
