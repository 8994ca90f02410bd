//! Against the machine's real Docker Engine: the example `http-service`
//! built into an image offline, run, faulted, sampled and removed. Skipped
//! with a message when no engine answers.
//!
//! Every test owns a run id; a [`Cleanup`] guard removes everything of that
//! run when the test ends, also on a panic. Traffic goes only to loopback
//! ports the engine published for containers the test made.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gauntlet_docker::{
    Attachment, CONTENT_LABEL, Container, ContainerSpec, DockerError, Engine, ExecOutcome, Image,
    LogStream, Mount, Network, OWNER_LABEL, Owner, Ownership, Publish, RUN_LABEL, Volume,
    build_from_binary, build_from_dockerfile, owner::this_host, remove_run, sweep_dead,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The port http-service listens on inside its container.
const PORT: u16 = 8080;

#[allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr"
)]
fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

/// The engine, or `None` (and a message) when none answers.
async fn engine() -> Option<Engine> {
    match Engine::connect().await {
        Ok(engine) => match engine.ping().await {
            Ok(_) => Some(engine),
            Err(e) => {
                skip(&e.to_string());
                None
            }
        },
        Err(e) => {
            skip(&e.to_string());
            None
        }
    }
}

/// A run id unique to this test and process.
fn run_id(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t{}-{nanos:x}-{test}", std::process::id())
}

/// Removes every object of a run (and containers named in `extra`, which
/// carry no run label) when dropped, also when the test panics: on a fresh
/// runtime in its own thread, since `Drop` cannot await and may run inside
/// the test's runtime.
struct Cleanup {
    run: String,
    extra: Vec<String>,
}

impl Cleanup {
    fn new(run: &str) -> Cleanup {
        Cleanup {
            run: run.to_owned(),
            extra: Vec::new(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run = self.run.clone();
        let extra = std::mem::take(&mut self.extra);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let Ok(engine) = Engine::connect().await else {
                    return;
                };
                for name in extra {
                    let _ = Container::existing(&engine, name).remove().await;
                }
                let _ = remove_run(&engine, &run).await;
            });
        })
        .join();
    }
}

/// The example `http-service` binary: the one the workspace build put next
/// to this test's directory (`cargo test --workspace` builds it), else
/// built now. A test cannot name another package's binary with
/// `CARGO_BIN_EXE_*`.
fn http_service() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // <target>/<profile>/deps/engine-<hash> -> <target>/<profile>
        let exe = std::env::current_exe().expect("the test's path");
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test runs from <target>/<profile>/deps");
        let bin = dir.join("http-service");
        if !bin.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "gauntlet-examples", "--bin", "http-service"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building http-service failed");
        }
        assert!(bin.exists(), "{} after building it", bin.display());
        bin
    })
    .clone()
}

/// The http-service image for `own`'s run, tagged with the run id.
async fn image(engine: &Engine, own: &Ownership) -> Image {
    let tag = format!("gauntlet-test/http-service:{}", own.run());
    build_from_binary(engine, own, &tag, &http_service(), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// http-service on `0.0.0.0:8080` inside, published on a free loopback port.
fn service(own: &Ownership, name: &str, image: &Image, extra: &[&str]) -> ContainerSpec {
    let mut spec = ContainerSpec::new(own, format!("{name}-{}", own.run()), &image.tag);
    spec.command = ["--bind", "0.0.0.0", "--port", "8080"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    spec.ports.push(Publish::loopback(0, PORT));
    spec
}

/// An image of this machine's `/bin/sh` (dash) alone, entrypoint
/// `/app/sh` followed by `args`: a shell with its builtins and nothing else.
async fn shell_image(engine: &Engine, own: &Ownership, name: &str, args: &[&str]) -> Image {
    let tag = format!("gauntlet-test/{name}:{}", own.run());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    build_from_binary(engine, own, &tag, Path::new("/bin/sh"), &args)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What keeps a shell container running, idle, until it is removed: a
/// read from a new pseudo-terminal's master, which blocks for ever since
/// nothing holds its other side. dash has no `sleep` builtin and the image
/// no `sleep` program; a `while :; do :; done` would burn a core, and the
/// container's stdin is `/dev/null` (a `read` there returns at once).
const IDLE: &str = "read x < /dev/ptmx";

/// A container of `image` (a [`shell_image`]) running [`IDLE`].
fn idle(own: &Ownership, name: &str, image: &Image) -> ContainerSpec {
    let mut spec = ContainerSpec::new(own, format!("{name}-{}", own.run()), &image.tag);
    spec.command = vec!["-c".into(), IDLE.into()];
    spec
}

/// `["/app/sh", "-c", script]`: a Compose `CMD-SHELL` check's argv.
fn sh(script: &str) -> Vec<String> {
    vec!["/app/sh".into(), "-c".into(), script.into()]
}

async fn published(container: &Container) -> SocketAddr {
    let state = container.inspect().await.unwrap();
    let port = state
        .ports
        .iter()
        .find(|p| p.container_port == PORT)
        .unwrap_or_else(|| panic!("port {PORT} is published: {state:?}"));
    assert!(port.host.ip().is_loopback(), "{state:?}");
    port.host
}

/// One HTTP/1.1 request with `Connection: close`; the status and the body,
/// or why there is none within `bound`.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    bound: Duration,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(bound, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {bound:?}")))
}

async fn get(addr: SocketAddr, path: &str, bound: Duration) -> Result<(u16, String), String> {
    request(addr, "GET", path, "", bound).await
}

/// Until `/health` answers 200 (10 s at most).
async fn wait_healthy(addr: SocketAddr) {
    let start = Instant::now();
    loop {
        match get(addr, "/health", Duration::from_secs(1)).await {
            Ok((200, _)) => return,
            other if start.elapsed() > Duration::from_secs(10) => {
                panic!("{addr}/health did not answer 200 within 10 s: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn labelled_containers(engine: &Engine, filter: &str) -> Vec<String> {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let filters = std::collections::HashMap::from([("label", vec![filter])]);
    engine
        .client()
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .map(|n| n.trim_start_matches('/').to_owned())
        .collect()
}

#[tokio::test]
async fn the_engine_answers_with_a_negotiated_version() {
    let Some(engine) = engine().await else { return };
    let version = engine.ping().await.unwrap();
    assert!(!version.version.is_empty(), "{version:?}");
    let num = |v: &str| -> (u32, u32) {
        let (a, b) = v.split_once('.').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    };
    assert!(
        num(&version.negotiated) <= num(&version.api_version),
        "the client speaks no newer API than the engine: {version:?}"
    );
}

#[tokio::test]
async fn an_image_is_built_offline_and_reused_when_unchanged() {
    let Some(engine) = engine().await else { return };
    let run = run_id("image");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let first = image(&engine, &own).await;
    assert!(!first.reused);
    assert!(first.id.starts_with("sha256:"), "{first:?}");
    let again = image(&engine, &own).await;
    assert!(again.reused, "same tag, same content: reused");
    assert_eq!(again.id, first.id);
    let inspect = engine.client().inspect_image(&first.tag).await.unwrap();
    let labels = inspect.config.unwrap().labels.unwrap();
    assert_eq!(labels[RUN_LABEL], run);
    assert_eq!(
        labels[OWNER_LABEL],
        gauntlet_docker::owner_label(&Owner::current())
    );
    assert_eq!(labels[CONTENT_LABEL], first.content);
    // The image is only the binary and its libraries: its entrypoint runs.
    let c = Container::run(&engine, &service(&own, "svc", &first, &[]))
        .await
        .unwrap();
    wait_healthy(published(&c).await).await;
}

#[tokio::test]
async fn a_container_is_paused_restarted_sampled_and_killed() {
    let Some(engine) = engine().await else { return };
    let run = run_id("life");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = image(&engine, &own).await;
    let c = Container::run(&engine, &service(&own, "svc", &img, &[]))
        .await
        .unwrap();
    let addr = published(&c).await;
    wait_healthy(addr).await;

    let state = c.inspect().await.unwrap();
    assert!(state.running && !state.paused, "{state:?}");
    assert_eq!(state.exit_code, None);
    let pid = state.pid.expect("a running container has a host pid");
    if engine.host().starts_with("unix://") {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} is a process of this host"
        );
    }
    assert!(state.ip_address.is_some(), "{state:?}");

    let stats = c.stats_once().await.unwrap();
    assert!(stats.memory_bytes.unwrap() > 0, "{stats:?}");
    assert!(stats.cpu_total_ns.unwrap() > 0, "{stats:?}");
    let logs = c.logs(50).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.stream == LogStream::Stdout && l.text.contains("listening on 0.0.0.0:8080")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.stream == LogStream::Stderr && l.text.contains("GET /health")),
        "{logs:?}"
    );

    c.pause().await.unwrap();
    assert!(c.inspect().await.unwrap().paused);
    let frozen = get(addr, "/health", Duration::from_millis(1500)).await;
    assert!(
        frozen.is_err(),
        "a paused service does not answer: {frozen:?}"
    );
    c.unpause().await.unwrap();
    assert_eq!(
        get(addr, "/health", Duration::from_secs(5)).await,
        Ok((200, "ok".to_owned()))
    );

    // http-service is pid 1 and ignores SIGTERM: the stop timeout's SIGKILL ends it.
    c.restart(Duration::from_secs(1)).await.unwrap();
    let addr = published(&c).await;
    wait_healthy(addr).await;
    let restarted = c.inspect().await.unwrap();
    assert!(restarted.running);
    assert_ne!(restarted.pid, Some(pid), "a new process");

    c.kill("SIGKILL").await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(10), c.wait_exit())
        .await
        .expect("it exits")
        .unwrap();
    assert_eq!(code, 137);
    let dead = c.inspect().await.unwrap();
    assert!(!dead.running, "{dead:?}");
    assert_eq!(dead.status, "exited");
    assert_eq!(dead.exit_code, Some(137));
    assert!(!dead.oom_killed);
    assert_eq!(dead.pid, None);
}

#[tokio::test]
async fn a_leak_past_the_memory_limit_is_oom_killed() {
    let Some(engine) = engine().await else { return };
    let run = run_id("oom");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = image(&engine, &own).await;
    // Every request leaks 4 MiB of touched memory: the eighth passes 32 MiB.
    let mut spec = service(&own, "leak", &img, &["--leak-kib-per-request", "4096"]);
    spec.memory_bytes = Some(32 << 20);
    let c = Container::run(&engine, &spec).await.unwrap();
    let addr = published(&c).await;
    wait_healthy(addr).await;
    let stats = c.stats_once().await.unwrap();
    assert_eq!(stats.memory_limit_bytes, Some(32 << 20), "{stats:?}");

    let start = Instant::now();
    let mut answered = 0;
    while start.elapsed() < Duration::from_secs(20) {
        match get(addr, "/", Duration::from_secs(2)).await {
            Ok((200, _)) => answered += 1,
            _ => {
                if !c.inspect().await.unwrap().running {
                    break;
                }
            }
        }
        assert!(
            answered < 64,
            "256 MiB leaked under a 32 MiB limit and still running"
        );
    }
    let code = tokio::time::timeout(Duration::from_secs(10), c.wait_exit())
        .await
        .expect("the leaking container ends")
        .unwrap();
    let state = c.inspect().await.unwrap();
    assert!(
        state.oom_killed,
        "the engine reports the OOM kill (exit {code}, {answered} requests answered): {state:?}"
    );
    assert_eq!(state.exit_code, Some(137), "{state:?}");
}

#[tokio::test]
async fn a_named_volume_outlives_its_container() {
    let Some(engine) = engine().await else { return };
    let run = run_id("vol");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = image(&engine, &own).await;
    let volume = Volume::create(&engine, &own, format!("data-{run}"))
        .await
        .unwrap();
    let with_volume = |name: &str| {
        let mut spec = service(&own, name, &img, &["--data-file", "/data/kv.log"]);
        spec.mounts.push(Mount::new(volume.name(), "/data"));
        spec
    };

    let first = Container::run(&engine, &with_volume("first"))
        .await
        .unwrap();
    let addr = published(&first).await;
    wait_healthy(addr).await;
    assert_eq!(
        request(addr, "PUT", "/kv/k", "kept", Duration::from_secs(5))
            .await
            .map(|(status, _)| status),
        Ok(200)
    );
    // http-service ignores SIGTERM as pid 1: the stop's SIGKILL ends it.
    first.stop(Duration::from_secs(1)).await.unwrap();
    first.remove().await.unwrap();
    let gone = first.inspect().await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");

    let second = Container::run(&engine, &with_volume("second"))
        .await
        .unwrap();
    let addr = published(&second).await;
    wait_healthy(addr).await;
    assert_eq!(
        get(addr, "/kv/k", Duration::from_secs(5)).await,
        Ok((200, "kept".to_owned())),
        "the new container replays the file the first one wrote"
    );
    // A volume in use cannot go; once its container is gone, it can.
    assert!(volume.remove().await.is_err());
    second.remove().await.unwrap();
    volume.remove().await.unwrap();
}

#[tokio::test]
async fn sweep_removes_a_dead_owner_s_objects_and_nothing_else() {
    let Some(engine) = engine().await else { return };
    let run = run_id("sweep");
    let mut cleanup = Cleanup::new(&run);
    let live = Ownership::new(&run).unwrap();
    let img = image(&engine, &live).await;
    // A pid that cannot exist (above any pid_max): a gauntlet that died.
    let dead = Ownership::with_owner(
        &run,
        Owner {
            host: this_host().to_owned(),
            pid: i32::MAX,
            start: 1,
            boot: String::new(),
        },
    )
    .unwrap();
    let elsewhere = Ownership::with_owner(
        &run,
        Owner {
            host: format!("not-{}", this_host()),
            pid: i32::MAX,
            start: 1,
            boot: String::new(),
        },
    )
    .unwrap();

    let dead_running = Container::run(&engine, &service(&dead, "dead", &img, &[]))
        .await
        .unwrap();
    let dead_created = Container::create(&engine, &service(&dead, "dead-created", &img, &[]))
        .await
        .unwrap();
    let dead_network = Network::create(&engine, &dead, format!("dead-{run}"))
        .await
        .unwrap();
    let dead_volume = Volume::create(&engine, &dead, format!("dead-{run}"))
        .await
        .unwrap();
    let live_container = Container::run(&engine, &service(&live, "live", &img, &[]))
        .await
        .unwrap();
    let other_host = Container::create(&engine, &service(&elsewhere, "elsewhere", &img, &[]))
        .await
        .unwrap();
    // Made with the raw client: no labels at all, as a user's own container.
    let unlabelled = format!("unlabelled-{run}");
    cleanup.extra.push(unlabelled.clone());
    engine
        .client()
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::default()
                    .name(&unlabelled)
                    .build(),
            ),
            bollard::models::ContainerCreateBody {
                image: Some(img.tag.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let removed = sweep_dead(&engine).await.unwrap();
    for name in [dead_running.name(), dead_created.name()] {
        assert!(
            removed.containers.iter().any(|c| c == name),
            "{name}: {removed:?}"
        );
    }
    assert!(
        removed.networks.contains(&dead_network.name().to_owned()),
        "{removed:?}"
    );
    assert!(
        removed.volumes.contains(&dead_volume.name().to_owned()),
        "{removed:?}"
    );
    for name in [
        live_container.name(),
        other_host.name(),
        unlabelled.as_str(),
    ] {
        assert!(
            !removed.containers.iter().any(|c| c == name),
            "{name}: {removed:?}"
        );
    }
    assert!(
        !removed.images.contains(&img.tag),
        "the live owner's image stays: {removed:?}"
    );

    assert!(dead_running.inspect().await.unwrap_err().is_not_found());
    assert!(dead_created.inspect().await.unwrap_err().is_not_found());
    assert!(live_container.inspect().await.unwrap().running);
    other_host.inspect().await.unwrap();
    Container::existing(&engine, &unlabelled)
        .inspect()
        .await
        .unwrap();
    engine.client().inspect_image(&img.tag).await.unwrap();
}

#[tokio::test]
async fn remove_run_leaves_nothing_of_the_run() {
    let Some(engine) = engine().await else { return };
    let run = run_id("rmrun");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = image(&engine, &own).await;
    let network = Network::create(&engine, &own, format!("net-{run}"))
        .await
        .unwrap();
    let volume = Volume::create(&engine, &own, format!("vol-{run}"))
        .await
        .unwrap();
    let mut on_network = service(&own, "a", &img, &[]);
    on_network.networks = vec![Attachment::new(network.name())];
    on_network.mounts.push(Mount::new(volume.name(), "/data"));
    let a = Container::run(&engine, &on_network).await.unwrap();
    let a_state = a.inspect().await.unwrap();
    assert!(a_state.networks.contains_key(network.name()), "{a_state:?}");
    assert!(a_state.ip_address.is_some(), "{a_state:?}");

    // Attached later, detached again: the network-disconnect fault.
    let b = Container::run(&engine, &service(&own, "b", &img, &[]))
        .await
        .unwrap();
    network.connect(b.id(), &["bee".to_owned()]).await.unwrap();
    let b_state = b.inspect().await.unwrap();
    assert!(
        b_state
            .networks
            .get(network.name())
            .is_some_and(|ip| ip.is_some()),
        "{b_state:?}"
    );
    network.disconnect(b.id(), false).await.unwrap();
    assert!(
        !b.inspect()
            .await
            .unwrap()
            .networks
            .contains_key(network.name())
    );
    b.pause().await.unwrap(); // removal must cope with a frozen container

    let removed = remove_run(&engine, &run).await.unwrap();
    assert!(removed.failed.is_empty(), "{removed:?}");
    assert_eq!(removed.containers.len(), 2, "{removed:?}");
    assert_eq!(removed.networks, [network.name()], "{removed:?}");
    assert_eq!(removed.volumes, [volume.name()], "{removed:?}");
    assert_eq!(removed.images, [img.tag.as_str()], "{removed:?}");

    let filter = format!("{RUN_LABEL}={run}");
    assert_eq!(
        labelled_containers(&engine, &filter).await,
        Vec::<String>::new()
    );
    let filters = std::collections::HashMap::from([("label", vec![filter.as_str()])]);
    let networks = engine
        .client()
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    assert!(networks.is_empty(), "{networks:?}");
    let volumes = engine
        .client()
        .list_volumes(Some(
            bollard::query_parameters::ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    assert!(volumes.volumes.unwrap_or_default().is_empty());
    let images = engine
        .client()
        .list_images(Some(
            bollard::query_parameters::ListImagesOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    assert!(images.is_empty(), "{images:?}");
    assert!(remove_run(&engine, &run).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_taken_port_and_a_missing_image_are_the_engine_s_errors() {
    let Some(engine) = engine().await else { return };
    let run = run_id("bad");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();

    let missing = Container::run(
        &engine,
        &ContainerSpec::new(&own, format!("nope-{run}"), "gauntlet-test/no-such-image:0"),
    )
    .await
    .unwrap_err();
    assert!(matches!(missing, DockerError::Engine { .. }), "{missing}");
    assert!(
        missing.to_string().contains("no-such-image") && missing.is_not_found(),
        "{missing}"
    );

    let img = image(&engine, &own).await;
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut spec = service(&own, "clash", &img, &[]);
    spec.ports = vec![Publish::loopback(port, PORT)];
    let err = Container::run(&engine, &spec).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("start container {}: ", spec.name))
            && text.contains(&port.to_string()),
        "{text}"
    );
    assert_eq!(
        labelled_containers(&engine, &format!("{RUN_LABEL}={run}")).await,
        Vec::<String>::new(),
        "a container that could not start is removed"
    );
}

#[tokio::test]
async fn a_tcp_docker_host_reaches_the_same_engine() {
    let Some(local) = engine().await else { return };
    let Some(socket) = local.host().strip_prefix("unix://").map(str::to_owned) else {
        skip("DOCKER_HOST is not a unix socket to forward tcp to");
        return;
    };
    // The engine listens on no TCP port here: forward one on loopback to
    // its socket, as `DOCKER_HOST=tcp://` would reach a remote engine.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let forward = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    let host = format!("tcp://{addr}");
    let remote = Engine::connect_to(&host).await.unwrap();
    assert_eq!(remote.host(), host);
    assert_eq!(remote.ping().await.unwrap(), local.ping().await.unwrap());
    forward.abort();
}

#[test]
fn the_guard_removes_a_run_when_a_test_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(engine) = runtime.block_on(engine()) else {
        return;
    };
    let run = run_id("panic");
    let (created, made) = std::sync::mpsc::channel();
    let panicking = {
        let run = run.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let _cleanup = Cleanup::new(&run);
                let engine = Engine::connect().await.unwrap();
                let own = Ownership::new(&run).unwrap();
                Network::create(&engine, &own, format!("net-{run}"))
                    .await
                    .unwrap();
                Volume::create(&engine, &own, format!("vol-{run}"))
                    .await
                    .unwrap();
                created.send(()).unwrap();
                panic!("a test failing halfway");
            })
        })
    };
    assert!(panicking.join().is_err(), "the test panicked");
    assert!(
        made.try_recv().is_ok(),
        "it had made a network and a volume"
    );
    let left = runtime.block_on(remove_run(&engine, &run)).unwrap();
    assert!(left.is_empty(), "the guard removed everything: {left:?}");
}

/// The `docker` node backend over one service: a spawn is a started
/// container whose output reaches the log, whose control pauses and
/// samples it through the engine, whose kill ends in an `Exit` that says
/// SIGKILL and no OOM; the next spawn starts the same container again;
/// a leak past its memory limit ends in an `Exit` that says OOM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_backend_runs_node_lives_of_one_container() {
    use gauntlet_docker::DockerBackend;
    use gauntlet_node::{Backend, NodeSpec, Termination};
    let Some(engine) = engine().await else { return };
    let run = run_id("backend");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = image(&engine, &own).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    let mut spec = service(&own, "api", &img, &["--leak-kib-per-request", "4096"]);
    spec.memory_bytes = Some(32 << 20);
    let backend = DockerBackend::new(engine.clone(), spec);
    let mut node_spec = NodeSpec::new("http-service");
    node_spec.stderr_log = Some(log.clone());
    node_spec.stderr_tail = 10;

    let mut node = backend.spawn(&node_spec).unwrap();
    let container = Container::existing(&engine, backend.spec().name.clone());
    let id = container.inspect().await.unwrap().id;
    let addr = published(&container).await;
    wait_healthy(addr).await;
    assert!(node.try_exit().is_none());
    let control = node.control();
    let start = Instant::now();
    let usage = loop {
        if let Some(u) = control.usage() {
            break u;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no stats");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(usage.rss_bytes > 0 && usage.cpu_ns > 0, "{usage:?}");
    assert!(control.member_pids().is_empty(), "the engine's processes");

    control.pause().unwrap();
    assert!(container.inspect().await.unwrap().paused);
    assert!(
        get(addr, "/health", Duration::from_millis(500))
            .await
            .is_err()
    );
    control.resume().unwrap();
    wait_healthy(addr).await;

    node.kill().unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), node.wait())
        .await
        .expect("a killed container ends");
    assert_eq!(exit.termination.signal(), Some(libc::SIGKILL), "{exit}");
    assert_eq!(exit.oom_killed, Some(false));
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("listening"),
        "its output is in the log: {:?}",
        std::fs::read_to_string(&log)
    );
    // After its end the control does nothing, and says so by succeeding.
    control.pause().unwrap();
    assert_eq!(control.usage(), None);

    // The next life is the same container, started again.
    let mut node = backend.spawn(&node_spec).unwrap();
    assert_eq!(container.inspect().await.unwrap().id, id);
    let addr = published(&container).await;
    wait_healthy(addr).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) && node.try_exit().is_none() {
        let _ = get(addr, "/", Duration::from_secs(2)).await;
    }
    let exit = tokio::time::timeout(Duration::from_secs(10), node.wait())
        .await
        .expect("the leaking container ends");
    assert_eq!(exit.oom_killed, Some(true), "{exit}");
    assert_eq!(
        exit.termination,
        Termination::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
}

/// A power cut through the backend: the next life is a new container from
/// the image, so an acknowledged (fsynced) write survives only on a
/// volume — the negative control beside the positive one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_power_cut_only_what_is_on_a_volume_is_kept() {
    use gauntlet_docker::DockerBackend;
    use gauntlet_node::{Backend, NodeSpec};
    let Some(engine) = engine().await else { return };
    let run = run_id("power");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = image(&engine, &own).await;
    let volume = Volume::create(&engine, &own, format!("data-{run}"))
        .await
        .unwrap();
    for on_volume in [true, false] {
        // On the volume, or in the container's own file system.
        let (name, data) = if on_volume {
            ("kept", "/data/kv.log")
        } else {
            ("lost", "/kv.log")
        };
        let mut spec = service(&own, name, &img, &["--data-file", data]);
        if on_volume {
            spec.mounts.push(Mount::new(volume.name(), "/data"));
        }
        let backend = DockerBackend::new(engine.clone(), spec);
        let node_spec = NodeSpec::new("http-service");
        let mut node = backend.spawn(&node_spec).unwrap();
        let container = Container::existing(&engine, backend.spec().name.clone());
        let first = container.inspect().await.unwrap().id;
        let addr = published(&container).await;
        wait_healthy(addr).await;
        let put = request(addr, "PUT", "/kv/k", "v1", Duration::from_secs(2)).await;
        assert_eq!(put.map(|(s, _)| s), Ok(200), "{name}");

        node.control().power_off().unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), node.wait())
            .await
            .expect("a powered-off container ends");
        assert_eq!(exit.termination.signal(), Some(libc::SIGKILL));
        let _node = backend.spawn(&node_spec).unwrap();
        let second = Container::existing(&engine, backend.spec().name.clone())
            .inspect()
            .await
            .unwrap()
            .id;
        assert_ne!(first, second, "a new container after the power cut");
        let addr = published(&container).await;
        wait_healthy(addr).await;
        let got = get(addr, "/kv/k", Duration::from_secs(2)).await.unwrap();
        if on_volume {
            assert_eq!(got, (200, "v1".to_owned()), "kept on the volume");
        } else {
            assert_eq!(got.0, 404, "lost with the container's file system: {got:?}");
        }
    }
}

#[tokio::test]
async fn a_program_runs_inside_a_container_to_its_exit_code_and_output() {
    let Some(engine) = engine().await else { return };
    let run = run_id("exec");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = shell_image(&engine, &own, "sh", &[]).await;
    let c = Container::run(&engine, &idle(&own, "sh", &img))
        .await
        .unwrap();
    let bound = Duration::from_secs(10);

    assert_eq!(
        c.exec(&sh("exit 0"), bound).await.unwrap(),
        ExecOutcome {
            exit_code: Some(0),
            output: String::new(),
            timed_out: false
        }
    );
    assert_eq!(
        c.exec(&sh("exit 3"), bound).await.unwrap().exit_code,
        Some(3)
    );
    let hello = c
        .exec(&sh("echo hello; echo trouble >&2"), bound)
        .await
        .unwrap();
    assert_eq!(hello.exit_code, Some(0), "{hello:?}");
    assert!(
        hello.output.contains("hello\n") && hello.output.contains("trouble\n"),
        "stdout and stderr both: {hello:?}"
    );
    // 2000 lines, 17 KB: the end is kept.
    let long = c
        .exec(
            &sh("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"),
            bound,
        )
        .await
        .unwrap();
    assert_eq!(long.exit_code, Some(0));
    assert!(long.output.len() <= 4096, "{}", long.output.len());
    assert!(long.output.len() > 4000, "{}", long.output.len());
    assert!(long.output.ends_with("line-1999\n"), "{:?}", long.output);
    assert!(!long.output.contains("line-0\n"), "{:?}", long.output);

    // No such program: the engine starts the exec and says why it could
    // not run it, with exit code 126; a shell's own "not found" is 127.
    let missing = c.exec(&["/app/nope".into()], bound).await.unwrap();
    assert_eq!(missing.exit_code, Some(126), "{missing:?}");
    assert!(
        missing.output.contains("/app/nope") && missing.output.contains("no such file"),
        "{missing:?}"
    );
    let not_found = c.exec(&sh("nope"), bound).await.unwrap();
    assert_eq!(not_found.exit_code, Some(127), "{not_found:?}");
    assert!(
        not_found.output.contains("nope: not found"),
        "{not_found:?}"
    );

    // A program that never ends: the outcome says so, with what it wrote.
    let start = Instant::now();
    let hung = c
        .exec(
            &sh(&format!("echo waiting; while :; do {IDLE}; done")),
            Duration::from_millis(500),
        )
        .await
        .unwrap();
    let took = start.elapsed();
    assert!(hung.timed_out, "{hung:?}");
    assert_eq!(hung.exit_code, None);
    assert!(hung.output.contains("waiting"), "{hung:?}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // One that closes its output and runs on is waited for, too.
    let quiet = c
        .exec(
            &sh(&format!("exec >&- 2>&-; {IDLE}")),
            Duration::from_millis(500),
        )
        .await
        .unwrap();
    assert!(quiet.timed_out, "{quiet:?}");

    // No exec in a container that does not run: the engine's refusal.
    c.kill("SIGKILL").await.unwrap();
    tokio::time::timeout(bound, c.wait_exit())
        .await
        .expect("it exits")
        .unwrap();
    let err = c.exec(&sh("exit 0"), bound).await.unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("exec /app/sh in container {}: ", c.name())),
        "{err}"
    );
    assert!(c.exec(&[], bound).await.is_err(), "no program");
}

#[tokio::test]
async fn entrypoint_working_dir_and_user_replace_the_image_s() {
    let Some(engine) = engine().await else { return };
    let run = run_id("entry");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    // The image's own entrypoint ends at once; the container's replaces it
    // (else the command would follow `-c 'exit 7'` and be ignored).
    let img = shell_image(&engine, &own, "sh-exit", &["-c", "exit 7"]).await;
    let mut spec = idle(&own, "entry", &img);
    spec.entrypoint = Some(vec!["/app/sh".into()]);
    spec.working_dir = Some("/srv/work".into());
    spec.user = Some("1234:5678".into());
    let c = Container::run(&engine, &spec).await.unwrap();
    let bound = Duration::from_secs(10);
    // An exec runs as the container's user, in its working directory.
    let seen = c
        .exec(
            &sh("echo \"dir=$PWD\"; while read k a b; do case $k in Uid:|Gid:) echo \"$k$a\";; esac; done < /proc/self/status"),
            bound,
        )
        .await
        .unwrap();
    assert_eq!(seen.exit_code, Some(0), "{seen:?}");
    assert_eq!(seen.output, "dir=/srv/work\nUid:1234\nGid:5678\n");
    let state = c.inspect().await.unwrap();
    assert!(state.running, "the replaced entrypoint runs: {state:?}");

    // Without the replacement, the image's entrypoint runs and exits 7;
    // an empty one clears it, and the command is the whole program.
    let plain = Container::run(&engine, &idle(&own, "plain", &img))
        .await
        .unwrap();
    let mut cleared = ContainerSpec::new(&own, format!("cleared-{run}"), &img.tag);
    cleared.entrypoint = Some(Vec::new());
    cleared.command = sh("exit 4");
    let cleared = Container::run(&engine, &cleared).await.unwrap();
    for (c, expected) in [(plain, 7), (cleared, 4)] {
        let code = tokio::time::timeout(bound, c.wait_exit())
            .await
            .expect("it exits")
            .unwrap();
        assert_eq!(code, expected, "{}", c.name());
    }
}

#[tokio::test]
async fn a_container_on_two_networks_is_disconnected_from_one_and_reconnected() {
    let Some(engine) = engine().await else { return };
    let run = run_id("nets");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let img = shell_image(&engine, &own, "sh", &[]).await;
    let front = Network::create(&engine, &own, format!("front-{run}"))
        .await
        .unwrap();
    let back = Network::create(&engine, &own, format!("back-{run}"))
        .await
        .unwrap();
    let mut spec = idle(&own, "multi", &img);
    spec.networks = vec![
        Attachment {
            network: front.name().to_owned(),
            aliases: vec!["api".into()],
        },
        Attachment {
            network: back.name().to_owned(),
            aliases: vec!["api-internal".into()],
        },
    ];
    let c = Container::run(&engine, &spec).await.unwrap();
    let state = c.inspect().await.unwrap();
    assert_eq!(
        state.networks.keys().collect::<Vec<_>>(),
        [back.name(), front.name()],
        "{state:?}"
    );
    let front_ip = state.networks[front.name()].expect("an address on front");
    let back_ip = state.networks[back.name()].expect("an address on back");
    assert_ne!(front_ip, back_ip);
    assert_eq!(state.ip_address, Some(front_ip), "the first network's");
    let aliases = |inspect: bollard::models::ContainerInspectResponse, network: &str| {
        inspect.network_settings.unwrap().networks.unwrap()[network]
            .aliases
            .clone()
            .unwrap_or_default()
    };
    let raw = engine
        .client()
        .inspect_container(c.id(), None)
        .await
        .unwrap();
    assert!(aliases(raw.clone(), front.name()).contains(&"api".to_owned()));
    assert!(aliases(raw, back.name()).contains(&"api-internal".to_owned()));

    c.disconnect(back.name()).await.unwrap();
    let cut = c.inspect().await.unwrap();
    assert!(!cut.networks.contains_key(back.name()), "{cut:?}");
    assert_eq!(cut.networks.get(front.name()), Some(&Some(front_ip)));
    assert!(cut.running);

    c.connect(back.name(), &["api-internal".into()])
        .await
        .unwrap();
    let healed = c.inspect().await.unwrap();
    assert!(
        healed
            .networks
            .get(back.name())
            .is_some_and(|ip| ip.is_some()),
        "{healed:?}"
    );
    let raw = engine
        .client()
        .inspect_container(c.id(), None)
        .await
        .unwrap();
    assert!(aliases(raw, back.name()).contains(&"api-internal".to_owned()));

    // A network the engine refuses at connect: the container that create
    // made is removed before the error comes back.
    let mut refused = idle(&own, "refused", &img);
    refused.networks = vec![Attachment::new(front.name()), Attachment::new("host")];
    let err = Container::create(&engine, &refused).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "connect container {} to network host: ",
            refused.name
        )),
        "{err}"
    );
    // One that does not exist: the engine takes the connect of a created
    // container and fails its start; run removes it as well.
    let mut missing = idle(&own, "missing", &img);
    missing.networks = vec![
        Attachment::new(front.name()),
        Attachment::new(format!("no-such-network-{run}")),
    ];
    let err = Container::run(&engine, &missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains(&format!("no-such-network-{run}")),
        "{err}"
    );
    assert_eq!(
        labelled_containers(&engine, &format!("{RUN_LABEL}={run}")).await,
        [c.name()],
        "nothing of the failed containers is left"
    );
    // The same network twice: refused before asking the engine.
    let mut twice = idle(&own, "twice", &img);
    twice.networks = vec![Attachment::new(front.name()), Attachment::new(front.name())];
    let err = Container::create(&engine, &twice).await.unwrap_err();
    assert!(matches!(err, DockerError::Invalid { .. }), "{err}");
}

/// A temporary build context holding `files` (path, contents).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[tokio::test]
async fn an_image_is_built_from_a_dockerfile_with_its_args_and_without_ignored_files() {
    let Some(engine) = engine().await else { return };
    let run = run_id("dockerfile");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let base = shell_image(&engine, &own, "sh", &[]).await;
    let dockerfile = format!(
        "FROM {}\n\
         ARG GREETING\n\
         COPY greeting.txt /greeting.txt\n\
         COPY . /ctx/\n\
         RUN [\"/app/sh\", \"-c\", \"echo \\\"$GREETING\\\" > /arg.txt\"]\n",
        base.tag
    );
    let dir = context(&[
        ("docker/Dockerfile", &dockerfile),
        ("greeting.txt", "hello from the context\n"),
        ("secret.txt", "not for the image\n"),
        ("scratch.tmp", "left out\n"),
        ("keep.tmp", "taken back\n"),
        ("logs/today.log", "left out with its directory\n"),
        (
            ".dockerignore",
            "# what the image must not hold\nsecret.txt\n*.tmp\n!keep.tmp\nlogs\n",
        ),
    ]);
    let args = std::collections::BTreeMap::from([("GREETING".to_owned(), "hi there".to_owned())]);
    let tag = format!("gauntlet-test/from-dockerfile:{run}");
    let built = build_from_dockerfile(&engine, &own, &tag, dir.path(), "docker/Dockerfile", &args)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!built.reused && built.context_bytes > 0, "{built:?}");
    let labels = engine
        .client()
        .inspect_image(&tag)
        .await
        .unwrap()
        .config
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(labels[RUN_LABEL], run);
    assert_eq!(labels[CONTENT_LABEL], built.content);
    let again = build_from_dockerfile(&engine, &own, &tag, dir.path(), "docker/Dockerfile", &args)
        .await
        .unwrap();
    assert!(again.reused && again.id == built.id, "{again:?}");

    // What made it into the image, seen from inside a container of it
    // (the entrypoint, /app/sh, is the base image's).
    let c = Container::run(&engine, &idle(&own, "built", &built))
        .await
        .unwrap();
    let seen = c
        .exec(
            &sh("read -r g < /greeting.txt; echo \"greeting: $g\"; \
                 read -r a < /arg.txt; echo \"arg: $a\"; \
                 for f in greeting.txt secret.txt scratch.tmp keep.tmp logs docker/Dockerfile .dockerignore; do \
                   [ -e \"/ctx/$f\" ] && echo \"has $f\"; \
                 done; exit 0"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(seen.exit_code, Some(0), "{seen:?}");
    assert_eq!(
        seen.output,
        "greeting: hello from the context\n\
         arg: hi there\n\
         has greeting.txt\n\
         has keep.tmp\n\
         has docker/Dockerfile\n\
         has .dockerignore\n",
        "the ARG reached RUN; the ignored files stayed out"
    );
}

#[tokio::test]
async fn a_failing_dockerfile_step_is_the_builder_s_error_and_leaves_nothing() {
    let Some(engine) = engine().await else { return };
    let run = run_id("badbuild");
    let _cleanup = Cleanup::new(&run);
    let own = Ownership::new(&run).unwrap();
    let base = shell_image(&engine, &own, "sh", &[]).await;
    let none = std::collections::BTreeMap::new();
    let tag = format!("gauntlet-test/bad:{run}");
    let build = |dockerfile: String| {
        let (engine, own, tag, none) = (engine.clone(), own.clone(), tag.clone(), none.clone());
        async move {
            let dir = context(&[("Dockerfile", &dockerfile), ("present.txt", "here\n")]);
            build_from_dockerfile(&engine, &own, &tag, dir.path(), "Dockerfile", &none).await
        }
    };

    // A step commits an image before the failing one: from scratch, it
    // has no label at all, and must not stay.
    let missing = build(
        "FROM scratch\nCOPY present.txt /present.txt\nCOPY missing.txt /missing.txt\n".to_owned(),
    )
    .await
    .unwrap_err();
    let DockerError::Build {
        tag: failed_tag,
        message,
        log,
    } = &missing
    else {
        panic!("not a build error: {missing}");
    };
    assert_eq!(failed_tag, &tag);
    assert!(message.contains("missing.txt"), "{missing}");
    assert!(
        log.iter().any(|l| l.contains("COPY missing.txt")),
        "{missing}"
    );
    let step_images: Vec<&str> = log
        .iter()
        .filter_map(|l| l.trim().strip_prefix("---> "))
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert_eq!(step_images.len(), 1, "COPY present.txt's: {missing}");
    for id in step_images {
        assert_eq!(
            gauntlet_docker::find_image(&engine, id).await.unwrap(),
            None,
            "the failed build's step image {id} is removed"
        );
    }
    let failed_run = build(format!(
        "FROM {}\nCOPY present.txt /present.txt\nRUN [\"/app/sh\", \"-c\", \"echo about to fail; exit 3\"]\n",
        base.tag
    ))
    .await
    .unwrap_err();
    match &failed_run {
        DockerError::Build { message, log, .. } => {
            assert!(
                message.contains("returned a non-zero code: 3"),
                "{failed_run}"
            );
            assert!(
                log.iter().any(|l| l.contains("about to fail")),
                "the RUN's own output: {failed_run}"
            );
        }
        other => panic!("not a build error: {other}"),
    }
    assert_eq!(
        gauntlet_docker::find_image(&engine, &tag).await.unwrap(),
        None
    );

    // An earlier stage's images are not the built image's: they go too.
    let staged = build(format!(
        "FROM {base} AS first\nCOPY present.txt /staged.txt\n\
         FROM {base}\nCOPY --from=first /staged.txt /final.txt\n",
        base = base.tag
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // Refused before anything is sent.
    let dir = context(&[("Dockerfile", "FROM scratch\n")]);
    for (dockerfile, why) in [
        ("../Dockerfile", "outside the build context"),
        ("Nope", "no such file"),
    ] {
        let err = build_from_dockerfile(&engine, &own, &tag, dir.path(), dockerfile, &none)
            .await
            .unwrap_err();
        assert!(matches!(err, DockerError::Invalid { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("invalid dockerfile {dockerfile}: ")) && text.contains(why),
            "{text}"
        );
    }

    // Step images over the run's base carry its labels: any left (of the
    // failed build, of the first stage) would be among the run's images.
    let removed = remove_run(&engine, &run).await.unwrap();
    assert!(removed.failed.is_empty(), "{removed:?}");
    let mut images = removed.images.clone();
    images.sort();
    let mut expected = vec![base.tag.clone(), staged.tag.clone()];
    expected.sort();
    assert_eq!(images, expected, "{removed:?}");
}
