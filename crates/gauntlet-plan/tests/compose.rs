//! `[compose]`: a Compose file's services as the plan's docker services —
//! merge keys, variables, `depends_on` conditions folded into readiness,
//! healthchecks run inside the container, ports, volumes, networks,
//! environment, restart — and a `[[service]]` adding tests to one; every
//! bad input named at its file and line.

use std::path::PathBuf;

use gauntlet_plan::{
    ImageSource, LoadOptions, Plan, PlanError, Probe, Readiness, RestartPolicy, VolumeSource, load,
};

/// A plan and a Compose file in a fresh directory.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(compose: &str) -> Dir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
        Dir { dir }
    }

    fn file(&self, name: &str, text: &str) -> &Dir {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn load(&self, plan_extra: &str) -> Result<Plan, PlanError> {
        let plan = format!(
            "[compose]\nfile = \"docker-compose.yml\"\n{plan_extra}\n[[stage]]\nkind = \"up\"\n"
        );
        std::fs::write(self.path("plan.toml"), plan).unwrap();
        load(&self.path("plan.toml"), &LoadOptions::default())
    }
}

const SHOP: &str = r#"name: shop
x-base: &base
  restart: on-failure:3
  stop_grace_period: 2s
services:
  redis:
    <<: *base
    image: shop-redis:dev
    command: --port 6379 --save ""
    healthcheck:
      test: ["CMD", "/app/redis-cli", "ping"]
      interval: 2s
      timeout: 1s
      retries: 5
  migrate:
    image: shop-api:dev
    command: ["--migrate"]
    depends_on:
      redis:
        condition: service_healthy
  api:
    build: ./api
    container_name: shop-api
    ports:
      - "${API_PORT:-8380}:8080"
      - target: 9090
        published: 9091
    environment:
      REDIS: redis:6379
      LEVEL: 3
    env_file: api.env
    volumes: [data:/var/lib/shop, ./conf:/etc/shop:ro]
    networks: [front, default]
    mem_limit: 32m
    healthcheck:
      test: curl -f http://localhost:8080/health
    depends_on:
      migrate:
        condition: service_completed_successfully
      redis:
        condition: service_healthy
  web:
    image: shop-web:dev
    restart: always
    networks: [front]
    depends_on: [api]
volumes:
  data:
networks:
  front:
"#;

fn shop() -> Dir {
    let d = Dir::new(SHOP);
    d.file("api/Dockerfile", "FROM shop-base:dev\n")
        .file("api.env", "LEVEL=1\nTOKEN=from-file\n");
    d
}

#[test]
fn a_compose_file_becomes_the_plan_s_docker_services() {
    let d = shop();
    let plan = d
        .load("[vars]\nAPI_PORT = \"8390\"\n[[service]]\nname = \"api\"\ntests = [[\"true\"]]\n")
        .unwrap();
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["redis", "migrate", "api", "web"],
        "the file's order"
    );
    let source = plan.compose.as_ref().unwrap();
    assert_eq!(source.project, "shop", "the file's `name:`");

    let redis = &plan.services[0];
    assert_eq!(
        redis.restart,
        RestartPolicy::OnFailure,
        "from the merge key"
    );
    assert_eq!(redis.limits.max_restarts, Some(3));
    assert_eq!(redis.stop_timeout.as_secs(), 2);
    let rc = redis.container.as_ref().unwrap();
    assert_eq!(rc.image, ImageSource::Local("shop-redis:dev".into()));
    assert_eq!(
        rc.command.as_deref().unwrap(),
        ["--port", "6379", "--save", ""],
        "a string command split as a shell splits it"
    );
    let check = redis.health.as_ref().unwrap();
    assert_eq!(
        check.probe,
        Probe::Exec {
            argv: vec!["/app/redis-cli".into(), "ping".into()]
        }
    );
    assert_eq!(check.probe_timeout.as_secs(), 1);
    assert_eq!(check.max_interval.as_secs(), 2);
    assert_eq!(
        check.timeout.as_secs(),
        15,
        "retries × (interval + timeout)"
    );
    assert_eq!(
        redis.ready,
        Readiness::Healthy,
        "migrate waits for it healthy"
    );

    let migrate = &plan.services[1];
    assert_eq!(migrate.ready, Readiness::Completed);
    assert_eq!(migrate.depends_on, ["redis"]);

    let api = &plan.services[2];
    let ac = api.container.as_ref().unwrap();
    assert_eq!(
        ac.image,
        ImageSource::Dockerfile {
            context: d.path("api"),
            dockerfile: "Dockerfile".into(),
            args: Default::default()
        }
    );
    assert_eq!(
        (ac.ports[0].host_port, ac.ports[0].container_port),
        (8390, 8080),
        "the plan's variable fills the file's"
    );
    assert_eq!(ac.ports[0].host_ip.to_string(), "127.0.0.1");
    assert_eq!(
        (ac.ports[1].host_port, ac.ports[1].container_port),
        (9091, 9090)
    );
    assert_eq!(api.run.env["REDIS"], "redis:6379");
    assert_eq!(api.run.env["LEVEL"], "3", "environment over env_file");
    assert_eq!(api.run.env["TOKEN"], "from-file");
    assert_eq!(ac.volumes[0].source, VolumeSource::Named("data".into()));
    assert_eq!(ac.volumes[1].source, VolumeSource::Bind(d.path("conf")));
    assert!(ac.volumes[1].read_only);
    assert_eq!(ac.networks, ["front", "default"]);
    assert_eq!(ac.mem_limit, Some(32 << 20));
    assert_eq!(
        api.health.as_ref().unwrap().probe,
        Probe::Exec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "curl -f http://localhost:8080/health".into()
            ]
        }
    );
    assert_eq!(api.tests.len(), 1, "the plan's [[service]] adds its tests");
    assert_eq!(api.ready, Readiness::Started, "web's list form");

    let web = &plan.services[3];
    assert_eq!(web.restart, RestartPolicy::Always);
    assert_eq!(
        web.ready,
        Readiness::Healthy,
        "nobody waits for it: the default"
    );

    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(
        plan.warnings[0].contains("docker-compose.yml:23")
            && plan.warnings[0].contains("container_name"),
        "{:?}",
        plan.warnings
    );
}

/// The error for `compose` with `plan_extra`, as its message.
fn error(compose: &str, plan_extra: &str) -> String {
    let d = Dir::new(compose);
    d.load(plan_extra).unwrap_err().to_string()
}

#[test]
fn bad_compose_files_are_named_at_their_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "services:\n  a:\n    image: x\n    privileged: true\n",
            "docker-compose.yml:4:",
            "`privileged` is not supported",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n",
            "docker-compose.yml:4:",
            "unknown service \"b\"",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
            "docker-compose.yml:",
            "dependency cycle in depends_on",
        ),
        (
            "services:\n  a:\n    image: x\n  b:\n    image: x\n    depends_on:\n      a:\n        condition: service_healthy\n",
            "docker-compose.yml:7:",
            "a has no healthcheck",
        ),
        (
            "services:\n  a:\n    image: x\n    volumes: [\"data:/d\"]\n",
            "docker-compose.yml:4:",
            "not declared under the top-level `volumes:`",
        ),
        (
            "services:\n  a:\n    image: ${NOT_SET_ANYWHERE_1234}\n",
            "docker-compose.yml:3:12:",
            "NOT_SET_ANYWHERE_1234 has no value",
        ),
        (
            "services:\n  a:\n    image: x\n    ports: [\"8080\"]\n",
            "docker-compose.yml:4:",
            "give the host port too",
        ),
        (
            "services:\n  a:\n    image: [x\n",
            "docker-compose.yml:3:",
            "",
        ),
        (
            "secrets:\n  s: {}\nservices:\n  a:\n    image: x\n",
            "docker-compose.yml:1:",
            "top-level `secrets`",
        ),
        (
            "services:\n  a:\n    image: x\n  b:\n    image: x\n    depends_on: {a: {condition: service_started}}\n  c:\n    image: x\n    depends_on: {a: {condition: service_completed_successfully}}\n",
            "docker-compose.yml:9:",
            "gauntlet waits for one condition per service",
        ),
        (
            "services:\n  a:\n    image: x\n    networks: [back]\n",
            "docker-compose.yml:4:",
            "network \"back\" is not declared",
        ),
        (
            "services:\n  a:\n    build: ./nowhere\n",
            "docker-compose.yml:3:",
            "no Dockerfile at",
        ),
    ];
    for (compose, place, words) in cases {
        let message = error(compose, "");
        assert!(
            message.contains(place) && message.contains(words),
            "for\n{compose}\nwanted {place}…{words}, got: {message}"
        );
    }
}

#[test]
fn the_plan_adds_to_an_imported_service_but_does_not_redefine_it() {
    let compose = "services:\n  api:\n    image: x\n";
    let message = error(compose, "[[service]]\nname = \"api\"\ncommand = \"run\"\n");
    assert!(
        message.contains("plan.toml:5:") && message.contains("set its `command` there"),
        "{message}"
    );
    // A health check of the plan's own replaces the file's, and may run inside.
    let d = Dir::new(compose);
    let plan = d
        .load("[[service]]\nname = \"api\"\n[service.health]\nexec = [\"/app/api\", \"--ping\"]\n")
        .unwrap();
    assert_eq!(
        plan.services[0].health.as_ref().unwrap().probe,
        Probe::Exec {
            argv: vec!["/app/api".into(), "--ping".into()]
        }
    );
    // A plan service on this machine has no inside to run a check in.
    let message = error(
        compose,
        "[[service]]\nname = \"local\"\ncommand = \"sleep 1\"\n[service.health]\nexec = [\"true\"]\n",
    );
    assert!(
        message.contains("this service runs on this machine"),
        "{message}"
    );
    // And a missing Compose file is named at the plan's line.
    let d = Dir::new(compose);
    std::fs::write(
        d.path("plan.toml"),
        "[compose]\nfile = \"nope.yml\"\n[[stage]]\nkind = \"up\"\n",
    )
    .unwrap();
    let message = load(&d.path("plan.toml"), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("plan.toml:2:") && message.contains("no Compose file"),
        "{message}"
    );
}

#[test]
fn images_the_file_names_can_be_built_by_the_run() {
    let d = Dir::new("services:\n  api:\n    image: shop-api:dev\n  db:\n    image: shop-db:dev\n");
    let plan = d
        .load("[compose.images]\n\"shop-api:dev\" = { binary = \"bin/api\", args = [\"serve\"] }\n")
        .unwrap();
    assert_eq!(
        plan.services[0].container.as_ref().unwrap().image,
        ImageSource::Binary {
            path: d.path("bin/api"),
            args: vec!["serve".into()]
        }
    );
    assert_eq!(
        plan.services[1].container.as_ref().unwrap().image,
        ImageSource::Local("shop-db:dev".into()),
        "an image not listed is one the engine has"
    );
    let message = error(
        "services:\n  api:\n    image: shop-api:dev\n",
        "[compose.images]\n\"shop-ap:dev\" = { binary = \"bin/api\" }\n",
    );
    assert!(
        message.contains("plan.toml:4:") && message.contains("no service of"),
        "{message}"
    );
}
