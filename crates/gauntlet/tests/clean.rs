//! `gauntlet clean` removes what dead gauntlet processes left on the
//! Docker Engine, and nothing of a live one nor anything of another host.
//! (Labs and cgroups of dead owners have their own tests: lab_cli.rs,
//! containment tests; clean calls the same sweeps.)

mod common;

use common::{gauntlet, stderr};
use gauntlet_docker::owner::this_host;
use gauntlet_docker::{Engine, Network, Owner, Ownership, Volume};
use serde_json::Value;

fn run_id() -> String {
    format!("rclean-{}", std::process::id())
}

#[test]
fn clean_removes_a_dead_gauntlet_s_docker_objects_and_nothing_else() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = rt.block_on(async {
        match Engine::connect().await {
            Ok(e) if e.ping().await.is_ok() => Some(e),
            _ => None,
        }
    }) else {
        #[allow(
            clippy::disallowed_macros,
            reason = "a skipped test says why on stderr"
        )]
        {
            eprintln!("skipped: no Docker Engine answers");
        }
        return;
    };
    let run = run_id();
    let owned = |host: String, pid: i32| {
        Ownership::with_owner(
            &run,
            Owner {
                host,
                pid,
                start: 1,
                boot: String::new(),
            },
        )
        .unwrap()
    };
    // A pid that cannot exist: a gauntlet that died; the same pid on
    // another host: not this host's to judge; this process: alive.
    let dead = owned(this_host().to_owned(), i32::MAX);
    let elsewhere = owned(format!("not-{}", this_host()), i32::MAX);
    let live = Ownership::new(&run).unwrap();
    let (dead_vol, dead_net, other_vol, live_vol) = rt.block_on(async {
        (
            Volume::create(&engine, &dead, format!("{run}-dead"))
                .await
                .unwrap(),
            Network::create(&engine, &dead, format!("{run}-dead"))
                .await
                .unwrap(),
            Volume::create(&engine, &elsewhere, format!("{run}-elsewhere"))
                .await
                .unwrap(),
            Volume::create(&engine, &live, format!("{run}-live"))
                .await
                .unwrap(),
        )
    });
    let store = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(gauntlet())
        .args(["clean", "--json", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    let removed: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let names = |kind: &str| -> Vec<String> {
        removed["docker"][kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let gone_volumes = names("volumes");
    let gone_networks = names("networks");
    // Whatever happens, nothing of this test stays.
    rt.block_on(async {
        let _ = gauntlet_docker::remove_run(&engine, &run).await;
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        gone_volumes.contains(&dead_vol.name().to_owned()),
        "{removed}"
    );
    assert!(
        gone_networks.contains(&dead_net.name().to_owned()),
        "{removed}"
    );
    assert!(
        !gone_volumes.contains(&other_vol.name().to_owned()),
        "another host's: {removed}"
    );
    assert!(
        !gone_volumes.contains(&live_vol.name().to_owned()),
        "a live owner's: {removed}"
    );
}
