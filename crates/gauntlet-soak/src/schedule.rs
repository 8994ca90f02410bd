//! The fault schedule of a soak, drawn from the seed before the soak starts
//! so a failing run can be replayed with the same faults at the same times:
//! the soak's way to draw the one [`Schedule`] (the test's is the
//! staggered `gauntlet_nemesis::Nemesis`).

use std::collections::HashMap;
use std::time::Duration;

use gauntlet_nemesis::Schedule;
use gauntlet_plan::soak::{FaultKind, FaultSpec};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The gap kept after an injection heals before the next one on the same
/// target may start, so the system is seen to recover from each.
pub const SETTLE_MS: i64 = 1_000;

/// One planned fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injection {
    /// When to inject, in ms since the soak started.
    pub at_ms: i64,
    /// Index into the specs given to [`plan_injections`].
    pub fault: usize,
    /// How long it lasts (the spec's `duration`).
    pub duration_ms: i64,
}

/// Every injection of `faults` (the scenario's; filtering is the caller's)
/// starting within `[0, duration_ms)`, sorted by time (ties by index).
///
/// Each fault first fires at a uniform draw in `[every_min, every_max]`,
/// then again a fresh draw after each time it actually fired. Two
/// injections on the same target never overlap: one that would start while
/// an earlier one on its target (or any fault without a target, such as a
/// power cut, which hits everything) is active or less than [`SETTLE_MS`]
/// healed is pushed to that much after the heal.
///
/// Each fault draws from its own ChaCha8 stream, chosen by its *name*, so
/// its times depend on the seed and its own spec only: choosing a different
/// scenario, or adding a fault, does not reshuffle the others (until pushes
/// make them meet). Intervals under 1 ms are raised to 1 ms so a bad spec
/// cannot loop forever.
pub fn plan_injections(faults: &[&FaultSpec], duration_ms: i64, seed: u64) -> Vec<Injection> {
    let mut cursors: Vec<Cursor> = faults.iter().map(|spec| Cursor::new(spec, seed)).collect();
    let mut planned: Vec<Injection> = Vec::new();
    let mut busy = Busy::default();
    // The earliest pending candidate; ties go to the lower index.
    while let Some((i, at)) = cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.next_ms.map(|t| (i, t)))
        .min_by_key(|&(i, t)| (t, i))
    {
        if at >= duration_ms {
            cursors[i].next_ms = None;
            continue;
        }
        let spec = faults[i];
        let free = busy.free_at(spec);
        if free > at {
            // Re-queued rather than planned: another fault may now come first.
            cursors[i].next_ms = Some(free);
            continue;
        }
        let injection = Injection {
            at_ms: at,
            fault: i,
            duration_ms: millis(spec.duration),
        };
        busy.occupy(spec, &injection);
        planned.push(injection);
        let step = cursors[i].draw();
        cursors[i].next_ms = Some(at.saturating_add(step));
    }
    planned
}

/// The planned injections as the one [`Schedule`] shape: what a soak's
/// fault loop follows.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    injections: std::collections::VecDeque<Injection>,
}

impl Planned {
    /// The schedule of [`plan_injections`].
    pub fn draw(faults: &[&FaultSpec], duration_ms: i64, seed: u64) -> Planned {
        Planned {
            injections: plan_injections(faults, duration_ms, seed).into(),
        }
    }
}

impl Schedule for Planned {
    type Step = Injection;

    fn next_due(&mut self) -> Option<Duration> {
        let at = self.injections.front()?.at_ms;
        Some(Duration::from_millis(at.max(0) as u64))
    }

    fn take_step(&mut self) -> Option<Injection> {
        self.injections.pop_front()
    }
}

/// When each target is free again (healed plus [`SETTLE_MS`]). Injections
/// are planned in start order, so the latest heal per target is all that
/// matters.
#[derive(Default)]
struct Busy<'f> {
    /// Per target of targeted faults.
    target: HashMap<&'f str, i64>,
    /// Faults that hit everything (power cuts).
    everything: i64,
    /// Any fault at all: what blocks a power cut.
    any: i64,
}

impl<'f> Busy<'f> {
    fn free_at(&self, spec: &FaultSpec) -> i64 {
        match target_of(spec) {
            None => self.any,
            Some(t) => self
                .everything
                .max(self.target.get(t).copied().unwrap_or(i64::MIN)),
        }
    }

    fn occupy(&mut self, spec: &'f FaultSpec, injection: &Injection) {
        let free = injection
            .at_ms
            .saturating_add(injection.duration_ms)
            .saturating_add(SETTLE_MS);
        self.any = self.any.max(free);
        match target_of(spec) {
            None => self.everything = self.everything.max(free),
            Some(t) => {
                let slot = self.target.entry(t).or_insert(free);
                *slot = (*slot).max(free);
            }
        }
    }
}

/// The service a fault hits, `None` for every service (a power cut, or a
/// fault without a target, which the runtime also applies to all).
fn target_of(spec: &FaultSpec) -> Option<&str> {
    match (&spec.kind, &spec.target) {
        (FaultKind::PowerCut, _) | (_, None) => None,
        (_, Some(t)) => Some(t),
    }
}

/// One fault's position in the schedule.
struct Cursor {
    rng: ChaCha8Rng,
    lo: i64,
    hi: i64,
    /// The next candidate start; `None` once past the end.
    next_ms: Option<i64>,
}

impl Cursor {
    fn new(spec: &FaultSpec, seed: u64) -> Cursor {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(fnv1a(spec.name.as_bytes()));
        let (a, b) = (millis(spec.every_min).max(1), millis(spec.every_max).max(1));
        let mut cursor = Cursor {
            rng,
            lo: a.min(b),
            hi: a.max(b),
            next_ms: None,
        };
        cursor.next_ms = Some(cursor.draw());
        cursor
    }

    fn draw(&mut self) -> i64 {
        self.rng.random_range(self.lo..=self.hi)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// FNV-1a: a hash that, unlike std's, is fixed forever, so schedules stay
/// reproducible across Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
