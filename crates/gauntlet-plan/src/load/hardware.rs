//! The hardware keys: `allowed_devices`, `[sensors]`, and a stage's
//! `requires`, `destructive` / `devices` and `max_temp_c`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::Cx;
use crate::error::PlanError;
use crate::raw::{RawRequires, RawSensors, RawStage};
use crate::{Command, Guards, Requirements, SensorKind, Sensors, StageSpec};

/// The plan's `allowed_devices`, with where the list is for errors.
pub(super) struct AllowedDevices {
    pub paths: Vec<PathBuf>,
}

impl Cx<'_> {
    pub(super) fn allowed_devices(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<AllowedDevices, PlanError> {
        let mut paths = Vec::new();
        for item in list.get_ref() {
            let path = self.device_path(item, "allowed_devices")?;
            if paths.contains(&path) {
                return Err(self.err(
                    item.span(),
                    format!("{} is listed twice in `allowed_devices`", path.display()),
                ));
            }
            paths.push(path);
        }
        Ok(AllowedDevices { paths })
    }

    /// An absolute device path, `${…}` expanded.
    fn device_path(&self, raw: &Spanned<String>, key: &str) -> Result<PathBuf, PlanError> {
        let text = self.expand(raw)?;
        if !text.starts_with('/') {
            return Err(self.err(
                raw.span(),
                format!("`{key}`: {text:?} is not an absolute device path such as \"/dev/sdb\""),
            ));
        }
        Ok(PathBuf::from(text))
    }

    /// A stage's guards. A destructive stage names its devices, each in
    /// `allowed_devices`: a plan that may destroy data says so twice, in
    /// two places a reviewer reads.
    pub(super) fn guards(
        &self,
        spanned: &Spanned<RawStage>,
        name: &str,
        allowed: Option<&AllowedDevices>,
    ) -> Result<Guards, PlanError> {
        let s = spanned.get_ref();
        let requires = match &s.requires {
            Some(r) => self.requires(r.get_ref())?,
            None => Requirements::default(),
        };
        let max_temp_c = match &s.max_temp_c {
            Some(t) if !(t.get_ref().is_finite() && (0.0..=200.0).contains(t.get_ref())) => {
                return Err(self.err(
                    t.span(),
                    "`max_temp_c` is degrees Celsius, between 0 and 200",
                ));
            }
            t => t.as_ref().map(|t| *t.get_ref()),
        };
        let devices = self.destroyed_devices(spanned, name, allowed)?;
        Ok(Guards {
            requires,
            devices,
            max_temp_c,
        })
    }

    fn destroyed_devices(
        &self,
        spanned: &Spanned<RawStage>,
        name: &str,
        allowed: Option<&AllowedDevices>,
    ) -> Result<Vec<PathBuf>, PlanError> {
        let s = spanned.get_ref();
        let destructive = s.destructive.as_ref().is_some_and(|d| *d.get_ref());
        let list = match (&s.devices, destructive) {
            (None, false) => return Ok(Vec::new()),
            (Some(list), false) => {
                return Err(self.err(
                    list.span(),
                    format!(
                        "stage \"{name}\" names `devices` but is not `destructive = true`; devices are named only by a stage that may overwrite them"
                    ),
                ));
            }
            (None, true) => {
                return Err(self.err(
                    span_of(&s.destructive, spanned),
                    format!(
                        "destructive stage \"{name}\" names no `devices`: say which devices it may overwrite (devices = [\"/dev/sdb\"])"
                    ),
                ));
            }
            (Some(list), true) if list.get_ref().is_empty() => {
                return Err(self.err(list.span(), "`devices` is empty"));
            }
            (Some(list), true) => list,
        };
        let Some(allowed) = allowed else {
            return Err(self.err(
                list.span(),
                format!(
                    "destructive stage \"{name}\" names devices, but the plan has no `allowed_devices`: list the devices any stage may overwrite at the top of the plan (allowed_devices = [\"/dev/sdb\"])"
                ),
            ));
        };
        let mut devices = Vec::new();
        for item in list.get_ref() {
            let path = self.device_path(item, "devices")?;
            if !allowed.paths.contains(&path) {
                return Err(self.err(
                    item.span(),
                    format!(
                        "{} is not in `allowed_devices` ({}): a destructive stage may overwrite only the devices listed there",
                        path.display(),
                        allowed
                            .paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if devices.contains(&path) {
                return Err(self.err(
                    item.span(),
                    format!("{} is listed twice in `devices`", path.display()),
                ));
            }
            devices.push(path);
        }
        Ok(devices)
    }

    fn requires(&self, r: &RawRequires) -> Result<Requirements, PlanError> {
        let mut out = Requirements::default();
        for p in r.programs.iter().flatten() {
            let program = self.expand(p)?;
            if program.is_empty() || program.contains('/') && !program.starts_with('/') {
                return Err(self.err(
                    p.span(),
                    format!(
                        "`requires.programs`: {program:?} is a program name looked up on PATH, or an absolute path"
                    ),
                ));
            }
            out.programs.push(program);
        }
        for p in r.paths.iter().flatten() {
            out.paths.push(self.device_path(p, "requires.paths")?);
        }
        for k in r.sensors.iter().flatten() {
            let Some(kind) = SensorKind::parse(k.get_ref()) else {
                return Err(self.err(
                    k.span(),
                    format!(
                        "unknown sensor kind {:?}; kinds are: {}",
                        k.get_ref(),
                        SensorKind::ALL.map(SensorKind::as_str).join(", ")
                    ),
                ));
            };
            if !out.sensors.contains(&kind) {
                out.sensors.push(kind);
            }
        }
        if let Some(c) = &r.command {
            out.command = Some(Command {
                command: self.command_line(c)?,
                cwd: self.dir.clone(),
                env: BTreeMap::new(),
            });
        }
        Ok(out)
    }

    /// `[sensors]`; the sampler is on for every plan run, and `asked`
    /// when the plan relies on it.
    pub(super) fn sensors(
        &self,
        raw: Option<&Spanned<RawSensors>>,
        stages: &[StageSpec],
    ) -> Result<Sensors, PlanError> {
        let mut sensors = Sensors::default();
        sensors.asked = raw.is_some()
            || stages
                .iter()
                .any(|s| s.guards.max_temp_c.is_some() || !s.guards.requires.sensors.is_empty());
        let Some(raw) = raw else {
            return Ok(sensors);
        };
        let raw = raw.get_ref();
        if let Some(i) = &raw.interval {
            sensors.interval = self.duration(i, "interval")?;
            if sensors.interval < std::time::Duration::from_millis(100) {
                return Err(self.err(i.span(), "`interval` is at least 100ms"));
            }
        }
        if let Some(root) = &raw.root {
            let text = self.expand(root)?;
            if text.is_empty() {
                return Err(self.err(root.span(), "`root` is empty"));
            }
            sensors.root = super::tidy(&self.dir.join(Path::new(&text)));
        }
        Ok(sensors)
    }
}

/// The span of an optional key, or of its table when it is absent.
fn span_of<T, U>(key: &Option<Spanned<T>>, table: &Spanned<U>) -> Range<usize> {
    key.as_ref().map_or_else(|| table.span(), Spanned::span)
}
