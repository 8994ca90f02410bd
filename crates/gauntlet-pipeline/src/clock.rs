//! Clock faults: services a `clock` fault names run under libfaketime
//! (Debian's `faketime`), which reads their offset from a file on every
//! clock call (`FAKETIME_NO_CACHE`); a fault writes the offset, the heal
//! writes `+0`. The files live in the run's directory under `clock/` and
//! are removed when the run's driver ends.
//!
//! libfaketime works on what calls the C library for the time: programs
//! built against glibc (Rust, C, Python, Java). A statically linked
//! program, or Go's own runtime, reads the clock without it and is not
//! skewed; the fault's value names the file, so such a miss can be told.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gauntlet_nemesis::{Fault, FaultError, FaultExecutor, FaultFuture};
use gauntlet_plan::Plan;
use gauntlet_plan::soak::FaultKind;
use serde_json::json;

/// Where Debian and others put the library, in the order tried after
/// `GAUNTLET_LIBFAKETIME`.
const LIBFAKETIME: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
];

/// The offset files of the services clock faults name.
#[derive(Debug)]
pub(crate) struct Clocks {
    dir: PathBuf,
    library: PathBuf,
    files: BTreeMap<String, PathBuf>,
}

impl Clocks {
    /// The services `plan`'s clock faults act on: a soak's `clock` faults
    /// name theirs; a cluster nemesis with `clock` skews any node.
    fn services_of(plan: &Plan) -> Vec<String> {
        let mut services: Vec<String> = plan
            .soak
            .iter()
            .flat_map(|s| &s.faults)
            .filter(|f| matches!(f.kind, FaultKind::Clock { .. }))
            .filter_map(|f| f.target.clone())
            .collect();
        if let Some(cluster) = &plan.cluster
            && cluster
                .nemesis
                .as_ref()
                .is_some_and(|n| n.faults.iter().any(|f| f == "clock"))
        {
            services.extend(cluster.nodes.iter().cloned());
        }
        services
    }

    /// libfaketime, if `plan` has clock faults (checked before a run
    /// exists, so a machine without it refuses the plan up front).
    pub fn library_for(plan: &Plan) -> Result<Option<PathBuf>, String> {
        if Self::services_of(plan).is_empty() {
            return Ok(None);
        }
        std::env::var_os("GAUNTLET_LIBFAKETIME")
            .map(PathBuf::from)
            .into_iter()
            .chain(LIBFAKETIME.iter().map(PathBuf::from))
            .find(|p| p.is_file())
            .map(Some)
            .ok_or_else(|| {
                "the plan has clock faults, and libfaketime is not installed (Debian package `faketime`; or set GAUNTLET_LIBFAKETIME to its path)".to_owned()
            })
    }

    /// The clocks of `plan`'s clock faults, or `None` when it has none.
    /// Errors say what is missing (libfaketime) or cannot be written.
    pub fn for_plan(plan: &Plan, run_dir: &Path) -> Result<Option<Clocks>, String> {
        let Some(library) = Self::library_for(plan)? else {
            return Ok(None);
        };
        let services = Self::services_of(plan);
        let dir = run_dir.join("clock");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files = BTreeMap::new();
        for service in services {
            let file = dir.join(format!("{service}.offset"));
            std::fs::write(&file, "+0\n").map_err(|e| format!("{}: {e}", file.display()))?;
            files.insert(service, file);
        }
        Ok(Some(Clocks {
            dir,
            library,
            files,
        }))
    }

    /// The environment that puts `service` under libfaketime (empty for a
    /// service no clock fault names).
    pub fn env_for(&self, service: &str) -> Vec<(String, String)> {
        let Some(file) = self.files.get(service) else {
            return Vec::new();
        };
        let mut preload = self.library.display().to_string();
        if let Ok(existing) = std::env::var("LD_PRELOAD")
            && !existing.is_empty()
        {
            preload = format!("{preload}:{existing}");
        }
        vec![
            ("LD_PRELOAD".to_owned(), preload),
            (
                "FAKETIME_TIMESTAMP_FILE".to_owned(),
                file.display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".to_owned(), "1".to_owned()),
        ]
    }

    fn set(&self, targets: &[String], offset_s: i64) -> Result<serde_json::Value, FaultError> {
        let mut errors = Vec::new();
        let mut set = Vec::new();
        for t in targets {
            match self.files.get(t) {
                Some(file) => match std::fs::write(file, format!("{offset_s:+}\n")) {
                    Ok(()) => set.push(t.clone()),
                    Err(e) => errors.push(format!("{t}: {}: {e}", file.display())),
                },
                None => errors.push(format!("{t}: not started under libfaketime")),
            }
        }
        if errors.is_empty() {
            Ok(json!({"offset-s": offset_s, "services": set}))
        } else {
            Err(FaultError::Targets { errors })
        }
    }
}

impl Drop for Clocks {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl FaultExecutor for Clocks {
    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Clock { .. })
    }

    fn inject<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            let Fault::Clock { offset_s } = fault else {
                return Err(FaultError::NoExecutor { kind: fault.kind() });
            };
            self.set(targets, *offset_s)
        })
    }

    fn heal<'a>(&'a self, _fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move { self.set(targets, 0) })
    }
}
