//! What a stage asks of the machine it runs on: what must be there for it
//! to mean anything ([`Requirements`]; absent, the stage is skipped with
//! the reason, never passed), which devices it may destroy (a `gate`
//! stage probes them first), and how hot the machine may get while it
//! runs. And the sensor sampler's settings ([`Sensors`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A stage's guards, checked before and while it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Guards {
    /// Absent, the stage ends `skipped` with the reason.
    #[serde(default)]
    pub requires: Requirements,
    /// `destructive = true`: the devices it may overwrite. Each is in the
    /// plan's `allowed_devices`; [`crate::expand`] puts a `gate` stage
    /// before it that holds the run when a device holds data.
    #[serde(default)]
    pub devices: Vec<PathBuf>,
    /// The hottest any temperature sensor may read while the stage runs.
    #[serde(default)]
    pub max_temp_c: Option<f64>,
}

/// What a stage needs of the machine (`[stage.requires]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    /// Programs that must be on `PATH` (`nvidia-smi`).
    #[serde(default)]
    pub programs: Vec<String>,
    /// Paths that must exist (`/dev/nvidia0`).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Kinds of hwmon sensor the machine must have (power telemetry).
    #[serde(default)]
    pub sensors: Vec<SensorKind>,
    /// A command that exits 0 when the hardware is there; otherwise the
    /// last line it printed is the reason the stage is skipped.
    #[serde(default)]
    pub command: Option<crate::Command>,
}

impl Requirements {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
            && self.paths.is_empty()
            && self.sensors.is_empty()
            && self.command.is_none()
    }
}

/// A kind of hwmon sensor, by its file prefix (`temp1_input`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// `temp*_input`, millidegrees Celsius.
    Temp,
    /// `fan*_input`, revolutions per minute.
    Fan,
    /// `power*_input` or `power*_average`, microwatts.
    Power,
}

impl SensorKind {
    pub const ALL: [SensorKind; 3] = [SensorKind::Temp, SensorKind::Fan, SensorKind::Power];

    /// The word in plans and the hwmon file prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            SensorKind::Temp => "temp",
            SensorKind::Fan => "fan",
            SensorKind::Power => "power",
        }
    }

    pub fn parse(word: &str) -> Option<SensorKind> {
        SensorKind::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// The measurement kind and unit a reading is recorded with.
    pub fn measurement(self) -> (&'static str, &'static str) {
        match self {
            SensorKind::Temp => ("temperature", "°C"),
            SensorKind::Fan => ("fan", "rpm"),
            SensorKind::Power => ("power", "W"),
        }
    }
}

/// The sensor sampler (`[sensors]`): it reads every hwmon sensor under
/// `root` each `interval` while a plan's stages run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensors {
    pub interval: Duration,
    /// `/sys/class/hwmon` unless the plan says otherwise.
    pub root: PathBuf,
    /// The plan asked for sensors (`[sensors]`, `max_temp_c`,
    /// `requires.sensors`): finding none is then worth saying.
    pub asked: bool,
}

/// Where the kernel lists hardware monitors.
pub const HWMON_ROOT: &str = "/sys/class/hwmon";
/// How often sensors are read unless `[sensors] interval` says otherwise.
pub const SENSOR_INTERVAL: Duration = Duration::from_secs(5);

impl Default for Sensors {
    fn default() -> Sensors {
        Sensors {
            interval: SENSOR_INTERVAL,
            root: PathBuf::from(HWMON_ROOT),
            asked: false,
        }
    }
}
