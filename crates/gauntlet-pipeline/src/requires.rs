//! A stage's `requires`: is what it tests there at all? Asked before the
//! stage runs; the first thing missing is the reason it is skipped. A
//! skipped stage is never a pass: every report says skipped, and why.

use std::path::Path;
use std::time::Duration;

use gauntlet_observe::{probe_once, read_hwmon};
use gauntlet_plan::{Probe, Requirements};

/// How long `requires.command` may take.
const REQUIRES_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the stage cannot mean anything here, or `None` when all is there.
/// `hwmon` is where sensors are looked for.
pub(crate) async fn missing(requires: &Requirements, hwmon: &Path) -> Option<String> {
    for program in &requires.programs {
        if !on_path(program) {
            return Some(format!("{program} is not installed (not on PATH)"));
        }
    }
    for path in &requires.paths {
        if std::fs::symlink_metadata(path).is_err() {
            return Some(format!("{} does not exist", path.display()));
        }
    }
    if !requires.sensors.is_empty() {
        let readings = read_hwmon(hwmon);
        for kind in &requires.sensors {
            if !readings.iter().any(|r| r.kind == *kind) {
                return Some(format!(
                    "no {} sensor under {}",
                    kind.as_str(),
                    hwmon.display()
                ));
            }
        }
    }
    if let Some(command) = &requires.command {
        let outcome = probe_once(&Probe::Command(command.clone()), REQUIRES_TIMEOUT).await;
        if !outcome.healthy {
            return Some(format!(
                "`{}`: {}",
                crate::command::display(&command.command),
                outcome.detail
            ));
        }
    }
    None
}

/// Whether `program` runs: an absolute path that is an executable file,
/// or a name found so on `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.starts_with('/') {
        return executable(Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| executable(&dir.join(program)))
    })
}
