use std::str::FromStr;
use std::time::Duration;

use gauntlet_net::Grudge;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Fault, PartitionShape, partition};

/// A kind of fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Network partitions of the server nodes, healed later.
    Partition,
    /// SIGKILL of a minority of nodes, restarted later with a fresh `init`.
    Kill,
    /// SIGSTOP of a minority of nodes, SIGCONT later.
    Pause,
    /// SIGKILL of every node at once, all started again later (a power
    /// cut of the whole cluster: only what reached the disk survives).
    PowerCut,
    /// Some nodes' clocks jumped forward or back, reset later (nodes run
    /// under libfaketime: a cluster test's real processes).
    Clock,
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "partition" => Ok(FaultKind::Partition),
            "kill" => Ok(FaultKind::Kill),
            "pause" => Ok(FaultKind::Pause),
            "power-cut" => Ok(FaultKind::PowerCut),
            "clock" => Ok(FaultKind::Clock),
            other => Err(format!(
                "unknown fault {other:?} (expected partition, kill, pause, power-cut or clock)"
            )),
        }
    }
}

/// Parses `--nemesis partition,kill`; an empty string means no faults.
pub fn parse_faults(list: &str) -> Result<Vec<FaultKind>, String> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let kind = part.parse()?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

/// One thing for the runtime to do to the system.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    StartPartition {
        shape: PartitionShape,
        grudge: Grudge,
    },
    HealPartition,
    Kill(Vec<usize>),
    /// Starts the killed nodes again (the heal of a kill; Jepsen's `:start`).
    Start(Vec<usize>),
    Pause(Vec<usize>),
    Resume(Vec<usize>),
    /// Kills every node at once.
    PowerCut(Vec<usize>),
    /// Starts every node the power cut killed.
    PowerOn(Vec<usize>),
    /// Moves the nodes' clocks by `offset_s` seconds.
    BumpClock {
        nodes: Vec<usize>,
        offset_s: i64,
    },
    /// Puts the nodes' clocks right again.
    ResetClock(Vec<usize>),
}

impl Action {
    /// The op name on the history's timeline.
    pub fn f(&self) -> &'static str {
        match self {
            Action::StartPartition { .. } => "start-partition",
            Action::HealPartition => "stop-partition",
            Action::Kill(_) => "kill",
            Action::Start(_) => "start",
            Action::Pause(_) => "pause",
            Action::Resume(_) => "resume",
            Action::PowerCut(_) => "power-cut",
            Action::PowerOn(_) => "start",
            Action::BumpClock { .. } => "bump-clock",
            Action::ResetClock(_) => "reset-clock",
        }
    }

    /// The fault this action injects or heals, and the nodes it acts on
    /// (none for a partition, whose grudge says who is cut).
    pub fn fault(&self) -> (Fault, &[usize]) {
        match self {
            Action::StartPartition { shape, grudge } => (
                Fault::Partition {
                    shape: *shape,
                    grudge: grudge.clone(),
                },
                &[],
            ),
            // The heal needs only the kind: what is cut is the executor's.
            Action::HealPartition => (
                Fault::Partition {
                    shape: PartitionShape::One,
                    grudge: Grudge::new(0),
                },
                &[],
            ),
            Action::Kill(v) | Action::Start(v) => (Fault::Kill, v),
            Action::Pause(v) | Action::Resume(v) => (Fault::Pause, v),
            Action::PowerCut(v) | Action::PowerOn(v) => (Fault::PowerCut, v),
            Action::BumpClock { nodes, offset_s } => (
                Fault::Clock {
                    offset_s: *offset_s,
                },
                nodes,
            ),
            Action::ResetClock(v) => (Fault::Clock { offset_s: 0 }, v),
        }
    }

    /// Whether this action ends a fault rather than starting one.
    pub fn is_heal(&self) -> bool {
        matches!(
            self,
            Action::HealPartition
                | Action::Start(_)
                | Action::Resume(_)
                | Action::PowerOn(_)
                | Action::ResetClock(_)
        )
    }
}

/// A fault schedule drawn from the run's seed: the one shape every
/// runtime's fault loop follows (sleep until the next step is due, carry it
/// out through the executors, log it). `gauntlet test`'s staggered
/// [`Nemesis`] and `gauntlet soak`'s planned injections
/// (`gauntlet_soak::schedule::Planned`) are two ways to draw it; a new way
/// (a timeline from a file, Jepsen's one-fault-then-heal) is one more
/// implementation, and the loops stay as they are.
///
/// Times are offsets from the schedule's start, so a run replays its
/// faults at the same moments whatever its steps took to carry out.
pub trait Schedule {
    /// What a step does: a nemesis action, a planned injection.
    type Step;

    /// When the next step is due, or `None` when nothing more is
    /// scheduled. Asking again before [`Schedule::take_step`] gives the
    /// same time. Due times never decrease.
    fn next_due(&mut self) -> Option<Duration>;

    /// The step that is due, once its time came. Drawn only now, so a
    /// schedule a run stops early (its deadline, a Ctrl-C) never counts a
    /// step nobody carried out.
    fn take_step(&mut self) -> Option<Self::Step>;
}

impl Schedule for Nemesis {
    type Step = Action;

    /// Staggered: the next action a random gap after the previous one.
    fn next_due(&mut self) -> Option<Duration> {
        if self.is_idle() {
            return None;
        }
        if self.due_ns.is_none() {
            let due = self.elapsed_ns.saturating_add(self.next_delay_ns());
            self.due_ns = Some(due);
        }
        self.due_ns.map(Duration::from_nanos)
    }

    fn take_step(&mut self) -> Option<Action> {
        self.elapsed_ns = self.due_ns.take()?;
        self.next_action()
    }
}

/// The faults a schedule has active, kept from the actions it took, and
/// the actions that heal them all (the final phase's).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Active {
    pub partitioned: bool,
    /// Every node a power cut took, until they are on again.
    pub powered_off: Option<Vec<usize>>,
    pub killed: Vec<usize>,
    pub paused: Vec<usize>,
    pub skewed: Vec<usize>,
}

impl Active {
    pub fn track(&mut self, action: &Action) {
        let add = |to: &mut Vec<usize>, v: &[usize]| {
            to.extend(v);
            to.sort_unstable();
            to.dedup();
        };
        match action {
            Action::StartPartition { .. } => self.partitioned = true,
            Action::HealPartition => self.partitioned = false,
            Action::Kill(v) => add(&mut self.killed, v),
            Action::Start(v) => self.killed.retain(|k| !v.contains(k)),
            Action::PowerCut(v) => self.powered_off = Some(v.clone()),
            Action::PowerOn(_) => self.powered_off = None,
            Action::Pause(v) => add(&mut self.paused, v),
            Action::Resume(v) => self.paused.retain(|p| !v.contains(p)),
            Action::BumpClock { nodes, .. } => add(&mut self.skewed, nodes),
            Action::ResetClock(v) => self.skewed.retain(|s| !v.contains(s)),
        }
    }

    pub fn heal_all(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.partitioned) {
            out.push(Action::HealPartition);
        }
        if !self.paused.is_empty() {
            out.push(Action::Resume(std::mem::take(&mut self.paused)));
        }
        if !self.killed.is_empty() {
            out.push(Action::Start(std::mem::take(&mut self.killed)));
        }
        if let Some(all) = self.powered_off.take() {
            out.push(Action::PowerOn(all));
        }
        if !self.skewed.is_empty() {
            out.push(Action::ResetClock(std::mem::take(&mut self.skewed)));
        }
        out
    }
}

/// The nemesis state machine: it alternates starting and healing each enabled
/// fault kind at random intervals, so several kinds can overlap (a partition
/// during a pause), and it never harms a majority of nodes with kills or
/// pauses, so a correct system can stay available.
#[derive(Debug)]
pub struct Nemesis {
    rng: ChaCha8Rng,
    kinds: Vec<FaultKind>,
    /// The partition shapes drawn from (Jepsen's partition targets).
    shapes: Vec<PartitionShape>,
    interval_ns: u64,
    servers: usize,
    width: usize,
    active: Active,
    /// The schedule's clock: when the last step was due.
    elapsed_ns: u64,
    /// When the next step is due, once drawn.
    due_ns: Option<u64>,
}

impl Nemesis {
    /// `servers` nodes take indices `0..servers` in a router of `width`
    /// endpoints. An interval that is NaN or not positive means no wait
    /// between actions; one too long for u64 nanoseconds (585 years),
    /// the longest wait there is.
    pub fn new(
        kinds: Vec<FaultKind>,
        interval_secs: f64,
        servers: usize,
        width: usize,
        seed: u64,
    ) -> Nemesis {
        Nemesis {
            rng: ChaCha8Rng::seed_from_u64(seed),
            kinds,
            shapes: PartitionShape::ALL.to_vec(),
            interval_ns: (interval_secs.max(0.0) * 1e9) as u64,
            servers,
            width,
            active: Active::default(),
            elapsed_ns: 0,
            due_ns: None,
        }
    }

    /// Draws partitions only of these shapes (all of them when empty), as
    /// Jepsen's partition targets narrow a nemesis to, say, one node cut
    /// off at a time.
    pub fn with_partition_shapes(mut self, shapes: Vec<PartitionShape>) -> Nemesis {
        if !shapes.is_empty() {
            self.shapes = shapes;
        }
        self
    }

    pub fn is_idle(&self) -> bool {
        self.kinds.is_empty()
    }

    /// How long to wait before the next action: uniform on `[0, 2·interval)`,
    /// as Jepsen's stagger.
    pub fn next_delay_ns(&mut self) -> u64 {
        if self.interval_ns == 0 {
            return 0;
        }
        // Saturating: an interval near u64::MAX ns (an infinite one) means
        // "about never", not an overflow.
        self.rng.random_range(0..self.interval_ns.saturating_mul(2))
    }

    /// The next action: a fault of a random enabled kind, or the heal of that
    /// kind if it is active. `None` when no faults are enabled.
    pub fn next_action(&mut self) -> Option<Action> {
        // A process fault that cannot start now (the others already harm as
        // many nodes as may be harmed) sits this turn out.
        let can_act: Vec<FaultKind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| match k {
                FaultKind::Partition | FaultKind::PowerCut | FaultKind::Clock => true,
                FaultKind::Kill => {
                    !self.active.killed.is_empty() || self.harm_budget(&self.active.paused) > 0
                }
                FaultKind::Pause => {
                    !self.active.paused.is_empty() || self.harm_budget(&self.active.killed) > 0
                }
            })
            .collect();
        let kind = *can_act.choose(&mut self.rng)?;
        let active = &self.active;
        let action = match kind {
            FaultKind::Partition if active.partitioned => Action::HealPartition,
            FaultKind::Partition => {
                let shape = *self.shapes.choose(&mut self.rng).expect("never empty");
                let grudge = partition(shape, self.servers, self.width, &mut self.rng);
                Action::StartPartition { shape, grudge }
            }
            FaultKind::Kill if !active.killed.is_empty() => Action::Start(active.killed.clone()),
            FaultKind::Kill => Action::Kill(self.pick_minority(&active.paused.clone())),
            FaultKind::Pause if !active.paused.is_empty() => Action::Resume(active.paused.clone()),
            FaultKind::Pause => Action::Pause(self.pick_minority(&active.killed.clone())),
            FaultKind::Clock if !active.skewed.is_empty() => {
                Action::ResetClock(active.skewed.clone())
            }
            FaultKind::Clock => {
                // A clock skew takes nobody down: any non-empty subset,
                // jumped up to a minute either way (never by zero).
                let mut nodes: Vec<usize> = (0..self.servers).collect();
                nodes.shuffle(&mut self.rng);
                nodes.truncate(self.rng.random_range(1..=self.servers.max(1)));
                nodes.sort_unstable();
                let magnitude = self.rng.random_range(1..=60);
                let offset_s = if self.rng.random_bool(0.5) {
                    magnitude
                } else {
                    -magnitude
                };
                Action::BumpClock { nodes, offset_s }
            }
            FaultKind::PowerCut => match &active.powered_off {
                Some(all) => Action::PowerOn(all.clone()),
                None => Action::PowerCut((0..self.servers).collect()),
            },
        };
        self.active.track(&action);
        Some(action)
    }

    /// Heals everything still active, for the final phase.
    pub fn heal_all(&mut self) -> Vec<Action> {
        self.active.heal_all()
    }

    /// One node or a random minority, avoiding nodes already harmed by the
    /// other process fault so that together they stay a minority.
    fn pick_minority(&mut self, busy: &[usize]) -> Vec<usize> {
        let mut free: Vec<usize> = (0..self.servers).filter(|n| !busy.contains(n)).collect();
        let budget = self.harm_budget(busy);
        let count = self.rng.random_range(1..=budget.max(1));
        free.shuffle(&mut self.rng);
        free.truncate(count);
        free.sort_unstable();
        free
    }

    /// How many more nodes a process fault may take down besides `busy`:
    /// a minority in all, but at least one node (a cluster of one or two
    /// can only be tested by harming one).
    fn harm_budget(&self, busy: &[usize]) -> usize {
        let minority = (self.servers.saturating_sub(1) / 2).max(1);
        minority.min(self.servers).saturating_sub(busy.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staggered_schedule_draws_a_step_only_when_it_is_taken() {
        let mut n = Nemesis::new(vec![FaultKind::Partition], 1.0, 5, 5, 7);
        let first = n.next_due().unwrap();
        // Asking again draws nothing: a run that stops before the step is
        // due leaves the nemesis as if it never came.
        assert_eq!(n.next_due(), Some(first));
        assert!(!n.active.partitioned);
        assert!(matches!(n.take_step(), Some(Action::StartPartition { .. })));
        assert!(n.active.partitioned);
        assert_eq!(n.take_step(), None, "one step per due time");
        let second = n.next_due().unwrap();
        assert!(second >= first);
        assert_eq!(n.take_step(), Some(Action::HealPartition));
        // The same seed draws the same times and steps.
        let mut m = Nemesis::new(vec![FaultKind::Partition], 1.0, 5, 5, 7);
        assert_eq!(m.next_due(), Some(first));
        m.take_step();
        assert_eq!(m.next_due(), Some(second));
        // Nothing enabled: nothing scheduled.
        assert_eq!(Nemesis::new(vec![], 1.0, 3, 3, 1).next_due(), None);
    }

    #[test]
    fn partitions_are_drawn_only_from_the_shapes_asked_for() {
        let mut n = Nemesis::new(vec![FaultKind::Partition], 1.0, 5, 5, 3)
            .with_partition_shapes(vec![PartitionShape::One]);
        let mut starts = 0;
        for _ in 0..40 {
            if let Some(Action::StartPartition { shape, .. }) = n.next_action() {
                assert_eq!(shape, PartitionShape::One);
                starts += 1;
            }
        }
        assert_eq!(starts, 20, "starts and heals alternate");
        // None asked for: every shape.
        let mut all = Nemesis::new(vec![FaultKind::Partition], 1.0, 5, 5, 3)
            .with_partition_shapes(Vec::new());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            if let Some(Action::StartPartition { shape, .. }) = all.next_action() {
                seen.insert(shape);
            }
        }
        assert_eq!(seen.len(), PartitionShape::ALL.len());
    }

    #[test]
    fn parses_fault_lists() {
        assert_eq!(
            parse_faults("partition, kill,pause,kill").unwrap(),
            vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Pause]
        );
        assert!(parse_faults("").unwrap().is_empty());
        assert!(
            parse_faults("partition,meteor")
                .unwrap_err()
                .contains("meteor")
        );
    }

    #[test]
    fn same_seed_same_schedule() {
        let run = |seed| {
            let mut n = Nemesis::new(vec![FaultKind::Partition, FaultKind::Kill], 1.0, 5, 9, seed);
            (0..20)
                .map(|_| (n.next_delay_ns(), n.next_action()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn faults_alternate_with_heals_and_heal_all_closes_everything() {
        let mut n = Nemesis::new(
            vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Pause],
            1.0,
            5,
            5,
            7,
        );
        let (mut killed, mut paused, mut parted) = (Vec::new(), Vec::new(), false);
        for _ in 0..200 {
            match n.next_action().unwrap() {
                Action::StartPartition { .. } => {
                    assert!(!parted);
                    parted = true
                }
                Action::HealPartition => {
                    assert!(parted);
                    parted = false
                }
                Action::Kill(v) => {
                    assert!(killed.is_empty() && !v.is_empty());
                    killed = v
                }
                Action::Start(v) => assert_eq!(std::mem::take(&mut killed), v),
                Action::Pause(v) => {
                    assert!(paused.is_empty() && !v.is_empty());
                    paused = v
                }
                Action::Resume(v) => assert_eq!(std::mem::take(&mut paused), v),
                a @ (Action::PowerCut(_)
                | Action::PowerOn(_)
                | Action::BumpClock { .. }
                | Action::ResetClock(_)) => panic!("not enabled: {a:?}"),
            }
            // Kills and pauses never overlap and together stay a minority.
            assert!(killed.iter().all(|k| !paused.contains(k)));
            assert!(killed.len() + paused.len() <= 2, "{killed:?} {paused:?}");
        }
        let heals = n.heal_all();
        assert!(heals.iter().all(Action::is_heal));
        assert_eq!(
            heals.len(),
            parted as usize + !killed.is_empty() as usize + !paused.is_empty() as usize
        );
        assert!(n.heal_all().is_empty());
    }

    #[test]
    fn a_power_cut_takes_every_node_and_brings_every_node_back() {
        let mut n = Nemesis::new(vec![FaultKind::PowerCut], 1.0, 3, 3, 5);
        assert_eq!(n.next_action(), Some(Action::PowerCut(vec![0, 1, 2])));
        assert_eq!(n.next_action(), Some(Action::PowerOn(vec![0, 1, 2])));
        assert_eq!(n.next_action(), Some(Action::PowerCut(vec![0, 1, 2])));
        let heals = n.heal_all();
        assert_eq!(heals, [Action::PowerOn(vec![0, 1, 2])]);
        assert!(heals[0].is_heal());
        assert_eq!(heals[0].fault().0.kind(), "power-cut");
        assert_eq!(
            parse_faults("kill, power-cut"),
            Ok(vec![FaultKind::Kill, FaultKind::PowerCut])
        );
    }

    #[test]
    fn clocks_jump_on_some_nodes_by_a_minute_at_most_and_come_back() {
        let mut n = Nemesis::new(vec![FaultKind::Clock], 1.0, 5, 5, 9);
        for _ in 0..20 {
            let Some(Action::BumpClock { nodes, offset_s }) = n.next_action() else {
                panic!("a bump first");
            };
            assert!(!nodes.is_empty() && nodes.iter().all(|&i| i < 5));
            assert!(offset_s != 0 && offset_s.abs() <= 60, "{offset_s}");
            assert_eq!(n.next_action(), Some(Action::ResetClock(nodes)));
        }
        let Some(Action::BumpClock { nodes, .. }) = n.next_action() else {
            panic!("a bump");
        };
        assert_eq!(n.heal_all(), [Action::ResetClock(nodes)]);
    }

    #[test]
    fn delays_stay_under_twice_the_interval() {
        let mut n = Nemesis::new(vec![FaultKind::Pause], 0.5, 3, 3, 1);
        assert!((0..100).all(|_| n.next_delay_ns() < 1_000_000_000));
        assert!(Nemesis::new(vec![], 1.0, 3, 3, 1).next_action().is_none());
        // Intervals no caller should pass are still no panic.
        for interval in [f64::INFINITY, f64::NAN, -1.0, 0.0, 1e300] {
            let mut n = Nemesis::new(vec![FaultKind::Partition], interval, 3, 3, 1);
            n.next_delay_ns();
            n.next_due();
        }
    }
}
