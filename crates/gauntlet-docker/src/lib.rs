//! The Docker Engine edge: containers as nodes, and faults through the
//! Engine API.
//!
//! This crate talks to one Docker Engine through [bollard] (the Unix
//! socket, `tcp://`, or `ssh://` through the system's OpenSSH, as
//! `DOCKER_HOST` says), builds images offline from a binary on this
//! machine, and runs, faults, samples and removes containers, networks and
//! volumes. Every object it creates is labelled with its run and its owner,
//! so that a run removes exactly what it made, and the next gauntlet
//! removes what a killed one left. It is the ground the `docker` node
//! backend and the Docker fault executor stand on; it never prints.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gauntlet_docker::DockerError> {
//! use std::time::Duration;
//! use gauntlet_docker::{Container, ContainerSpec, Engine, Ownership, Publish};
//! let engine = Engine::connect().await?; // DOCKER_HOST, or the local socket
//! let version = engine.ping().await?;
//! gauntlet_docker::sweep_dead(&engine).await?; // what SIGKILLed gauntlets left
//! let run = Ownership::new("r20261127-101500-3fa")?;
//! let image = gauntlet_docker::build_from_binary(
//!     &engine, &run, "shop-api:r20261127-101500-3fa",
//!     "target/debug/http-service".as_ref(), &[],
//! ).await?;
//! let mut spec = ContainerSpec::new(&run, "api-r20261127-101500-3fa", &image.tag);
//! spec.command = vec!["--bind".into(), "0.0.0.0".into(), "--port".into(), "8080".into()];
//! spec.ports.push(Publish::loopback(0, 8080)); // any free port on 127.0.0.1
//! spec.memory_bytes = Some(64 << 20);
//! let api = Container::run(&engine, &spec).await?;
//! let port = api.inspect().await?.ports[0].host; // 127.0.0.1:<port>
//! api.pause().await?;      // fault: frozen
//! api.unpause().await?;    // heal
//! api.kill("SIGKILL").await?;
//! let state = api.inspect().await?; // exit code 137, OOMKilled, RestartCount
//! gauntlet_docker::remove_run(&engine, run.run()).await?; // the end of the run
//! # let _ = (version, port, state, Duration::ZERO); Ok(()) }
//! ```
//!
//! # How nothing leaks
//!
//! Containers, networks, volumes and images live in the engine, not in this
//! process: nothing dies with gauntlet by itself. What makes them findable
//! is their labels ([`owner`]): `io.gauntlet.run=<run id>` and
//! `io.gauntlet.owner=<hostname>/<pid>-<start time>`, the owner named the
//! way gauntlet-node names its cgroups' owners and judged alive by the same
//! [`gauntlet_node::owner_alive`]. This crate installs no handlers: the
//! calls below are its callers' (the `docker` backend and the CLI), as
//! gauntlet-node leaves its panic hook to the CLI.
//!
//! | how gauntlet ends | what removes its Docker objects |
//! |---|---|
//! | normally | the run's teardown calls [`remove_run`]: containers (killed, with their anonymous volumes), then networks, named volumes and images of the run |
//! | a container start fails (port taken, bad mount) | [`Container::run`] removes the container it created before returning the error |
//! | Ctrl-C | the CLI's handler stops the run, whose teardown calls [`remove_run`] |
//! | a panic | a guard's `Drop` calls [`remove_run`] on a fresh runtime in its own thread (the tests' `Cleanup` shows how; `Drop` cannot await) |
//! | SIGKILL, OOM kill, power loss | nothing runs; the next gauntlet's [`sweep_dead`] (before a run starts) removes every object whose owner names this host and a process that no longer runs |
//!
//! What is never touched: objects without the labels (the user's own
//! containers on the same engine), objects of a live owner (another
//! gauntlet running now), and objects of another host (an engine shared
//! over `tcp://` or `ssh://`: a pid means nothing off its own machine; that
//! host's next gauntlet sweeps them). An image another run's container
//! still uses is not removed (never forced); it is reported in
//! [`Removed::failed`] and swept once unused and its owner is dead.
//!
//! Not covered: with `DOCKER_HOST=ssh://`, bollard starts an OpenSSH
//! master per connection with `ControlPersist=yes`. Dropping the connection
//! closes it (`ssh -O exit`), but a gauntlet that exits with connections
//! still pooled, or is killed, leaves those `ssh` processes running (seen:
//! three left by four test runs over ssh); they hold no Docker object.
//!
//! # The engine here
//!
//! The API version is negotiated: an engine older than bollard's newest API
//! (20.10 speaks 1.41) is spoken to in its own version. No registry is
//! assumed: images are built locally ([`build_from_binary`],
//! [`build_from_dockerfile`] from a `FROM` the engine has), never pulled.

mod backend;
mod cleanup;
mod container;
mod dockerfile;
mod dockerignore;
mod engine;
mod error;
mod exec;
mod image;
pub mod measure;
mod network;
pub mod owner;
mod volume;

pub use backend::{DockerBackend, on_engine, on_engine_async};
pub use cleanup::{Removed, remove_run, sweep_dead};
pub use container::{
    Attachment, Container, ContainerSpec, ContainerState, LogLine, LogStream, Mount, Protocol,
    Publish, PublishedPort, Stats,
};
pub use dockerfile::{CONTEXT_LIMIT, build_from_dockerfile};
pub use engine::{DEFAULT_HOST, Engine, EngineVersion, host_from_env};
pub use error::DockerError;
pub use exec::ExecOutcome;
pub use image::{CONTENT_LABEL, Image, build_from_binary, find_image, remove_image};
pub use network::Network;
pub use owner::{OWNER_LABEL, Owner, Ownership, RUN_LABEL, owner_label, parse_owner_label};
pub use volume::Volume;
