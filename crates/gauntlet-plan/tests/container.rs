//! `backend = "docker"` services: the container's keys resolved (image or
//! build, command, ports on loopback by default, memory limit, the run's
//! named volumes and binds relative to the plan), and bad ones named at
//! their line.

use std::path::Path;

use gauntlet_plan::{ImageSource, LoadOptions, VolumeSource, load_str};

fn load(text: &str) -> Result<gauntlet_plan::Plan, gauntlet_plan::PlanError> {
    load_str(
        text,
        Path::new("/plans/docker.toml"),
        &LoadOptions::default(),
    )
}

const STAGE: &str = "[[stage]]\nname = \"u\"\nkind = \"up\"\n";

#[test]
fn a_docker_service_resolves_its_container() {
    let plan = load(&format!(
        r#"[vars]
limit = "64MiB"
[[service]]
name = "api"
backend = "docker"
build = {{ binary = "bin/api", args = ["serve"] }}
command = ["--port", "8080"]
ports = ["8380:8080", "0.0.0.0:9000:9000/udp"]
mem_limit = "${{limit}}"
volumes = ["data:/var/lib/api", "./conf:/etc/api:ro"]
env = {{ MODE = "test" }}
{STAGE}"#
    ))
    .unwrap();
    let api = &plan.services[0];
    let c = api.container.as_ref().expect("a container");
    assert_eq!(
        c.image,
        ImageSource::Binary {
            path: "/plans/bin/api".into(),
            args: vec!["serve".into()]
        }
    );
    assert_eq!(
        c.command.as_deref(),
        Some(&["--port".to_owned(), "8080".to_owned()][..])
    );
    assert_eq!(c.ports[0].host_ip.to_string(), "127.0.0.1");
    assert_eq!(
        (c.ports[0].host_port, c.ports[0].container_port),
        (8380, 8080)
    );
    assert!(c.ports[1].udp && c.ports[1].host_ip.is_unspecified());
    assert_eq!(c.mem_limit, Some(64 << 20));
    assert_eq!(c.volumes[0].source, VolumeSource::Named("data".into()));
    assert_eq!(
        c.volumes[1].source,
        VolumeSource::Bind("/plans/conf".into())
    );
    assert!(c.volumes[1].read_only && !c.volumes[0].read_only);
    assert_eq!(api.run.env["MODE"], "test");
    // What exposure warnings see: the published 0.0.0.0, not the command.
    let exposed = gauntlet_plan::exposures(&plan);
    assert_eq!(exposed.len(), 1, "{exposed:?}");
    assert_eq!(exposed[0].places, ["service api: port 9000"]);
}

#[test]
fn bad_container_keys_are_named_at_their_line() {
    let at = |body: &str, line: usize, words: &str| {
        let e = load(&format!("[[service]]\nname = \"api\"\n{body}{STAGE}")).unwrap_err();
        assert_eq!(e.line(), Some(line), "{e}");
        assert!(e.to_string().contains(words), "{e} lacks {words:?}");
    };
    at(
        "backend = \"k8s\"\nimage = \"i\"\n",
        3,
        "unknown backend \"k8s\"",
    );
    at("backend = \"docker\"\n", 3, "names no `image`");
    at(
        "backend = \"docker\"\nimage = \"i\"\nbuild = { binary = \"b\" }\n",
        5,
        "not both",
    );
    at(
        "backend = \"docker\"\nimage = \"i\"\ncommand = \"serve --port 1\"\n",
        5,
        "array",
    );
    at(
        "backend = \"docker\"\nimage = \"i\"\nhost = \"n1\"\n",
        5,
        "`host` is not for a container",
    );
    at(
        "backend = \"docker\"\nimage = \"i\"\nvolumes = [\"data:rel\"]\n",
        5,
        "not an absolute path",
    );
    at(
        "backend = \"docker\"\nimage = \"i\"\nvolumes = [\"~/x:/x\"]\n",
        5,
        "`~` is not expanded",
    );
    at(
        "command = \"x\"\nmem_limit = \"1GiB\"\n",
        4,
        "add backend = \"docker\"",
    );
}
