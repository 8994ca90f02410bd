//! Issue 11 (hardening) on plans: counts are bounded when the plan loads,
//! and addresses beyond loopback are found.

use std::path::Path;

use gauntlet_plan::*;

fn load(text: &str, opts: &LoadOptions) -> Result<Plan, PlanError> {
    load_str(text, Path::new("plan.toml"), opts)
}

fn cycles(n: u32) -> LoadOptions {
    LoadOptions {
        cycles: Some(n),
        ..LoadOptions::default()
    }
}

fn modules(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("[[service]]\nname = \"m{i}\"\ncommand = \"sleep 9\"\ntests = [\"true\"]\n")
        })
        .collect()
}

#[test]
fn cycles_are_bounded_on_the_command_line_and_in_the_plan() {
    let plan = modules(1);
    for n in [MAX_CYCLES + 1, 100_000, u32::MAX] {
        let e = load(&plan, &cycles(n)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("--cycles {n}: at most {MAX_CYCLES} rounds")
        );
    }
    let p = load(&plan, &cycles(MAX_CYCLES)).unwrap();
    assert_eq!(expand(&p).len(), MAX_CYCLES as usize);

    let text = format!("{plan}[[stage]]\nkind = \"cycle\"\ncycles = {}\n", u32::MAX);
    let e = load(&text, &LoadOptions::default()).unwrap_err();
    assert_eq!((e.line(), e.column()), (Some(7), Some(10)), "{e}");
    assert!(
        e.to_string()
            .ends_with(&format!("`cycles` is at most {MAX_CYCLES}")),
        "{e}"
    );
}

#[test]
fn the_expanded_stages_are_bounded_without_being_made() {
    let per_round = MAX_RUN_STAGES / MAX_CYCLES as usize;
    // One module more than fits at the most rounds: each count allowed,
    // the product not.
    let plan = modules(per_round + 1);
    let e = load(&plan, &cycles(MAX_CYCLES)).unwrap_err();
    let made = (per_round + 1) * MAX_CYCLES as usize;
    assert!(
        e.to_string().contains(&format!(
            "the plan makes {made} run stages (each cycle stage is one stage per round and module); at most {MAX_RUN_STAGES}"
        )),
        "{e}"
    );
    // Two cycle stages add up: each fits, both do not.
    let text = format!(
        "{}[[stage]]\nname = \"a\"\nkind = \"cycle\"\ncycles = {MAX_CYCLES}\n[[stage]]\nname = \"b\"\nkind = \"cycle\"\ncycles = {MAX_CYCLES}\n",
        modules(per_round)
    );
    assert!(load(&text, &LoadOptions::default()).is_err());
    let p = load(&modules(per_round), &cycles(MAX_CYCLES)).unwrap();
    assert_eq!(run_stage_count(&p.stages), MAX_RUN_STAGES as u64);
    assert_eq!(expand(&p).len(), MAX_RUN_STAGES);
}

#[test]
fn addresses_beyond_loopback_are_found_with_where_they_are() {
    let text = r#"
[vars]
bind = "0.0.0.0"
port = "8080"
local = "127.0.0.1"

[[service]]
name = "api"
command = ["api", "--bind", "${bind}", "--port", "${port}"]
env = { PEER = "10.1.2.3:7000" }
[service.health]
http = "http://10.1.2.3:${port}/health"

[[service]]
name = "db"
command = "db --listen ${local}:5432"
[service.health]
tcp = "${local}:5432"

[[stage]]
kind = "up"
"#;
    let plan = load(text, &LoadOptions::default()).unwrap();
    let found = exposures(&plan);
    let shown: Vec<(String, Vec<String>)> = found
        .iter()
        .map(|e| (e.address.to_string(), e.places.clone()))
        .collect();
    assert_eq!(
        shown,
        [
            (
                "0.0.0.0".to_owned(),
                vec!["var bind".to_owned(), "service api: command".to_owned()]
            ),
            (
                "10.1.2.3".to_owned(),
                vec![
                    "service api: env PEER".to_owned(),
                    "service api: health check".to_owned()
                ]
            ),
        ]
    );
    assert!(found[0].every_interface() && !found[1].every_interface());
    assert_eq!(
        found[0].to_string(),
        "exposed beyond loopback: 0.0.0.0 (every interface) in var bind, service api: command; what gauntlet starts may be reachable from other machines"
    );
    assert!(
        found[1]
            .to_string()
            .contains("10.1.2.3 (not a loopback address)")
    );

    // Loopback only: nothing to say.
    let quiet = load(
        "[[service]]\nname = \"a\"\ncommand = [\"a\", \"--bind\", \"127.0.0.1\"]\n[service.health]\ntcp = \"127.0.0.1:1\"\n[[stage]]\nkind = \"up\"\n",
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(exposures(&quiet).is_empty());

    // The plan's own lab is not beyond this machine: its segments are
    // namespaces only this machine routes to. An address outside it still
    // counts.
    let lab = load(
        "[[segment]]\nname = \"dc\"\nsubnet = \"10.72.0.0/24\"\n[[host]]\nname = \"n1\"\nsegment = \"dc\"\n\
         [[service]]\nname = \"a\"\nhost = \"n1\"\ncommand = [\"a\", \"--bind\", \"10.72.0.2\", \"--peer\", \"10.73.0.2\"]\n\
         [service.health]\ntcp = \"10.72.0.2:1\"\n[[stage]]\nkind = \"up\"\n",
        &LoadOptions::default(),
    )
    .unwrap();
    let outside: Vec<String> = exposures(&lab)
        .iter()
        .map(|e| e.address.to_string())
        .collect();
    assert_eq!(outside, ["10.73.0.2"]);
}
