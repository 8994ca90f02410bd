//! The sensor sampler: beside every stage of a plan run, it reads each
//! hwmon temperature, fan and power input every `interval` into the run's
//! measurements (`temperature`, `fan`, `power`; subject `chip/label`), and
//! once at each stage's start and end, so a short stage has readings too.
//! It keeps the hottest reading of the current stage for `max_temp_c`. A
//! sensor that stops answering drops out with a note (and is named in the
//! stage's summary); one that comes back is noted too.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use gauntlet_observe::read_hwmon;
use gauntlet_plan::{SensorKind, Sensors};
use serde_json::{Value, json};

use crate::progress::Progress;
use crate::supervisor::Samples;

/// What the sampler saw during one stage.
#[derive(Debug, Default)]
pub(crate) struct StageHeat {
    /// The hottest temperature and its sensor.
    pub hottest: Option<(f64, String)>,
    /// Sensors that stopped answering during the stage.
    pub lost: Vec<String>,
}

#[derive(Default)]
struct State {
    /// Every sensor that answered the last read.
    present: BTreeSet<String>,
    /// Sensors that answered once and no longer do.
    gone: BTreeSet<String>,
    stage: StageHeat,
}

/// The running sampler; stopped when dropped.
pub(crate) struct SensorSampler {
    sensors: Sensors,
    samples: Samples,
    progress: Progress,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl SensorSampler {
    pub fn start(sensors: Sensors, samples: Samples, progress: Progress) -> SensorSampler {
        let state = Arc::new(Mutex::new(State::default()));
        let first = read_hwmon(&sensors.root);
        if first.is_empty() && sensors.asked {
            progress.note(&format!(
                "no hwmon sensors under {}: no temperature, fan or power readings",
                sensors.root.display()
            ));
        }
        let task = {
            let (sensors, samples, progress, state) = (
                sensors.clone(),
                samples.clone(),
                progress.clone(),
                state.clone(),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(sensors.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    sample(&sensors, &samples, &progress, &state);
                }
            })
        };
        SensorSampler {
            sensors,
            samples,
            progress,
            state,
            task,
        }
    }

    /// A stage starts: its hottest reading and lost sensors start afresh.
    pub fn stage_started(&self) {
        lock(&self.state).stage = StageHeat::default();
        sample(&self.sensors, &self.samples, &self.progress, &self.state);
    }

    /// The stage ended: one more reading, then what it saw.
    pub fn stage_ended(&self) -> StageHeat {
        sample(&self.sensors, &self.samples, &self.progress, &self.state);
        std::mem::take(&mut lock(&self.state).stage)
    }

    /// Where it reads.
    pub fn root(&self) -> &std::path::Path {
        &self.sensors.root
    }
}

impl Drop for SensorSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// One pass over every sensor.
fn sample(sensors: &Sensors, samples: &Samples, progress: &Progress, state: &Mutex<State>) {
    let readings = read_hwmon(&sensors.root);
    let mut state = lock(state);
    let now: BTreeSet<String> = readings.iter().map(|r| r.subject()).collect();
    for r in &readings {
        let (kind, unit) = r.kind.measurement();
        let subject = r.subject();
        samples.push(kind, &subject, r.value, unit);
        if r.kind == SensorKind::Temp
            && state
                .stage
                .hottest
                .as_ref()
                .is_none_or(|(t, _)| r.value > *t)
        {
            state.stage.hottest = Some((r.value, subject));
        }
    }
    let lost: Vec<String> = state.present.difference(&now).cloned().collect();
    for subject in lost {
        progress.note(&format!(
            "sensor {subject} stopped answering: no more readings from it"
        ));
        state.stage.lost.push(subject.clone());
        state.gone.insert(subject);
    }
    let back: Vec<String> = state.gone.intersection(&now).cloned().collect();
    for subject in back {
        progress.note(&format!("sensor {subject} answers again"));
        state.gone.remove(&subject);
    }
    state.present = now;
}

/// Judges `max_temp_c` on what the stage saw, and says it in the stage's
/// summary (`sensors`): the hottest reading, sensors lost, and whether the
/// limit was checked at all. Returns why the stage fails, if it does.
pub(crate) fn judge_heat(
    max_temp_c: Option<f64>,
    heat: &StageHeat,
    root: &std::path::Path,
) -> (Value, Option<String>, Option<String>) {
    let mut shown = json!({
        "hottest_c": heat.hottest.as_ref().map(|h| h.0),
        "hottest_sensor": heat.hottest.as_ref().map(|h| h.1.clone()),
        "lost": heat.lost,
    });
    let Some(limit) = max_temp_c else {
        return (shown, None, None);
    };
    shown["max_temp_c"] = json!(limit);
    match &heat.hottest {
        None => {
            shown["max_temp_checked"] = json!(false);
            let why = format!(
                "max_temp_c {limit} not checked: no temperature sensor under {}",
                root.display()
            );
            (shown, None, Some(why))
        }
        Some((t, sensor)) => {
            shown["max_temp_checked"] = json!(true);
            let too_hot = (*t > limit)
                .then(|| format!("{sensor} reached {t:.1} °C, above max_temp_c {limit}"));
            (shown, too_hot, None)
        }
    }
}
