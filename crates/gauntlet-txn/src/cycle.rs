//! Cycle anomalies: within each strongly connected component, the shortest
//! cycle of each class, as Elle reports. A class is a start edge type, the
//! relations a path may use, and how rw edges may appear; from each start
//! edge a BFS walks (node, last edge was rw, required edge seen) states
//! for the shortest closing path, cut at the best cycle so far, over a
//! bounded number of start edges and amount of work after the first cycle
//! ([`MORE_STARTS`], [`MORE_WORK`]).

use std::collections::VecDeque;
use std::time::Instant;

use crate::graph::{ALL, Graph, PROCESS, REALTIME, RW, WR, WW};
use crate::model::implied_anomalies;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RwMode {
    /// No rw edge beyond the start edge.
    None,
    /// rw edges, never two in a row (cyclically).
    NonAdjacent,
    Any,
}

struct Spec {
    name: &'static str,
    start: u8,
    path: u8,
    rw: RwMode,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "G0",
        start: WW,
        path: WW,
        rw: RwMode::None,
    },
    Spec {
        name: "G1c",
        start: WR,
        path: WW | WR,
        rw: RwMode::None,
    },
    Spec {
        name: "G-single",
        start: RW,
        path: WW | WR,
        rw: RwMode::None,
    },
    Spec {
        name: "G-nonadjacent",
        start: RW,
        path: WW | WR | RW,
        rw: RwMode::NonAdjacent,
    },
    Spec {
        name: "G2-item",
        start: RW,
        path: WW | WR | RW,
        rw: RwMode::Any,
    },
];

/// The three families: data edges only, plus process order, plus real
/// time (which includes process order: a process is sequential).
const EXTRAS: &[(u8, &str)] = &[
    (0, ""),
    (PROCESS, "-process"),
    (PROCESS | REALTIME, "-realtime"),
];

/// A cycle as edges (from, to, relation bit), over graph nodes.
pub(crate) type Cycle = Vec<(u32, u32, u8)>;

/// A class whose search ran out of time in one component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchTimeout {
    /// The anomaly classes not searched to the end.
    pub classes: Vec<&'static str>,
    /// How many transactions the component holds.
    pub scc_size: usize,
    /// Op indices of some of its transactions.
    pub sample_ops: Vec<u64>,
}

/// The name of a cycle: by its rw edges (none: G0 or G1c; one: G-single;
/// several, never adjacent: G-nonadjacent; else G2-item), suffixed by the
/// order edges it needs.
pub(crate) fn classify(cycle: &[(u32, u32, u8)]) -> &'static str {
    let rels: Vec<u8> = cycle.iter().map(|e| e.2).collect();
    let rw = rels.iter().filter(|&&r| r == RW).count();
    let adjacent = (0..rels.len()).any(|i| rels[i] == RW && rels[(i + 1) % rels.len()] == RW);
    let base = match rw {
        0 if rels.contains(&WR) => 0,
        0 => 1,
        1 => 2,
        _ if !adjacent => 3,
        _ => 4,
    };
    let family = if rels.contains(&REALTIME) {
        2
    } else if rels.contains(&PROCESS) {
        1
    } else {
        0
    };
    const NAMES: [[&str; 3]; 5] = [
        ["G1c", "G1c-process", "G1c-realtime"],
        ["G0", "G0-process", "G0-realtime"],
        ["G-single", "G-single-process", "G-single-realtime"],
        [
            "G-nonadjacent",
            "G-nonadjacent-process",
            "G-nonadjacent-realtime",
        ],
        ["G2-item", "G2-item-process", "G2-item-realtime"],
    ];
    NAMES[base][family]
}

/// After a class's first cycle in a component, how many more start edges
/// are tried for a shorter one. Each try is a BFS cut at the best length
/// so far, so it only looks near its start edge.
const MORE_STARTS: usize = 1000;

/// And at most this much BFS work (states visited) after the first cycle,
/// or four times what finding it took if that is more: a big component
/// with a long cycle is not searched over and over for a shorter one.
const MORE_WORK: u64 = 1 << 20;

/// BFS state bits: the last edge was rw; the class's required edge (order
/// edges for the process/realtime families) has been seen.
const LAST_RW: u8 = 1;
const SEEN: u8 = 2;
const STATES: usize = 4;

/// Searches cycles component by component. Every buffer is reused and
/// indexed locally (0..component size), so a component's search costs in
/// proportion to the component, not to the whole graph: a history with
/// thousands of small bad components is as quick as one with one.
pub(crate) struct Searcher<'a> {
    pub graph: &'a Graph,
    pub deadline: Option<Instant>,
    steps: u64,
    timed_out: bool,
    /// Graph node → its index in the current component (`NONE` outside).
    local_of: Vec<u32>,
    /// The current component's edges, locally indexed.
    local: Graph,
    /// Local node → sub-component of the class searched (`NONE`: none).
    sub_of: Vec<u32>,
    /// Per BFS state (local node × [`STATES`]): the BFS that reached it
    /// last, and from where (state, relation).
    stamp: Vec<u32>,
    parent: Vec<(u32, u8)>,
    generation: u32,
    queue: VecDeque<(u32, u32)>,
}

const NONE: u32 = u32::MAX;

impl<'a> Searcher<'a> {
    pub fn new(graph: &'a Graph, deadline: Option<Instant>) -> Searcher<'a> {
        Searcher {
            graph,
            deadline,
            steps: 0,
            timed_out: false,
            local_of: Vec::new(),
            local: Graph::default(),
            sub_of: Vec::new(),
            stamp: Vec::new(),
            parent: Vec::new(),
            generation: 0,
            queue: VecDeque::new(),
        }
    }

    fn out_of_time(&mut self) -> bool {
        if self.timed_out {
            return true;
        }
        self.steps += 1;
        // The first step checks too, so a spent budget stops at once.
        if self.steps % 1024 == 1
            && let Some(d) = self.deadline
            && Instant::now() >= d
        {
            self.timed_out = true;
        }
        self.timed_out
    }

    /// Searches every non-trivial component; returns the cycles found and
    /// the classes left unsearched when time ran out.
    pub fn run(
        &mut self,
        is_txn: &dyn Fn(u32) -> bool,
        op_of: &dyn Fn(u32) -> u64,
    ) -> (Vec<Cycle>, Vec<SearchTimeout>) {
        let n = self.graph.node_count();
        let all: Vec<u32> = (0..n as u32).collect();
        let sccs = self.graph.sccs(ALL, &all, &|_| true);
        drop(all);
        self.local_of = vec![NONE; n];
        let mut cycles = Vec::new();
        let mut timeouts = Vec::new();
        for nodes in &sccs {
            self.enter(nodes);
            let mut found: Vec<&'static str> = Vec::new();
            let mut left: Vec<&'static str> = Vec::new();
            for &(extra, suffix) in EXTRAS {
                for spec in SPECS {
                    let name = class_name(spec.name, suffix);
                    // A class implied by one already found is not searched
                    // again (its search could only return that cycle) --
                    // except G1c after G0: a G1c search starts from a wr
                    // edge, so it finds a different cycle, and kafka allows
                    // G0 but not G1c.
                    let implying = found
                        .iter()
                        .copied()
                        .filter(|f| !(spec.name == "G1c" && f.starts_with("G0")));
                    if implied_anomalies(implying).contains(name) {
                        continue;
                    }
                    if self.timed_out {
                        left.push(name);
                        continue;
                    }
                    if let Some(cycle) = self.search_class(spec, extra) {
                        let cycle: Cycle = cycle
                            .into_iter()
                            .map(|(a, b, r)| (nodes[a as usize], nodes[b as usize], r))
                            .collect();
                        found.push(classify(&cycle));
                        cycles.push(cycle);
                    } else if self.timed_out {
                        left.push(name);
                    }
                }
            }
            self.leave(nodes);
            if !left.is_empty() {
                let txns: Vec<u32> = nodes.iter().copied().filter(|&v| is_txn(v)).collect();
                timeouts.push(SearchTimeout {
                    classes: left,
                    scc_size: txns.len(),
                    sample_ops: txns.iter().take(10).map(|&v| op_of(v)).collect(),
                });
            }
        }
        (cycles, timeouts)
    }

    /// Makes `nodes` the current component: local indices, its internal
    /// edges as a local graph, BFS buffers of its size.
    fn enter(&mut self, nodes: &[u32]) {
        for (i, &v) in nodes.iter().enumerate() {
            self.local_of[v as usize] = i as u32;
        }
        let (local_of, graph) = (&self.local_of, self.graph);
        self.local.rebuild(nodes.len(), |i, push| {
            for (w, m) in graph.out(nodes[i]) {
                let lw = local_of[w as usize];
                if lw != NONE {
                    push(lw, m);
                }
            }
        });
        let states = nodes.len() * STATES;
        self.sub_of.clear();
        self.sub_of.resize(nodes.len(), NONE);
        self.stamp.clear();
        self.stamp.resize(states, 0);
        self.parent.clear();
        self.parent.resize(states, (NONE, 0));
        self.generation = 0;
    }

    fn leave(&mut self, nodes: &[u32]) {
        for &v in nodes {
            self.local_of[v as usize] = NONE;
        }
    }

    /// The shortest cycle of the class found in the current component
    /// (local indices): from each start edge inside one component of the
    /// class's relations, a BFS for the shortest closing path, cut at the
    /// best length so far; stops early once no cycle can be shorter, or
    /// [`MORE_STARTS`] start edges (or [`MORE_WORK`]) after the first.
    fn search_class(&mut self, spec: &Spec, extra: u8) -> Option<Cycle> {
        let path = spec.path | extra;
        let k = self.local.node_count() as u32;
        let all: Vec<u32> = (0..k).collect();
        // Only start edges inside one component of the class's own
        // relations can close a cycle.
        let subs = self.local.sccs(path | spec.start, &all, &|_| true);
        self.sub_of.fill(NONE);
        for (i, s) in subs.iter().enumerate() {
            for &v in s {
                self.sub_of[v as usize] = i as u32;
            }
        }
        let mut best: Option<Cycle> = None;
        let mut after_first = 0usize;
        let began = self.steps;
        // Steps when the first cycle was found, and the work allowed after.
        let mut first_at: Option<(u64, u64)> = None;
        let mut starts: Vec<u32> = Vec::new();
        for a in 0..k {
            let sa = self.sub_of[a as usize];
            if sa == NONE {
                continue;
            }
            starts.clear();
            starts.extend(
                self.local
                    .out(a)
                    .filter(|&(b, m)| m & spec.start != 0 && self.sub_of[b as usize] == sa)
                    .map(|(b, _)| b),
            );
            for &b in &starts {
                let limit = best.as_ref().map_or(usize::MAX, Vec::len);
                if let Some(cycle) = self.bfs(a, b, spec, path, extra, limit) {
                    best = Some(cycle);
                }
                if self.timed_out || best.as_ref().is_some_and(|c| c.len() <= 2) {
                    return best;
                }
                if best.is_some() {
                    let (at, budget) = *first_at
                        .get_or_insert((self.steps, MORE_WORK.max(4 * (self.steps - began))));
                    after_first += 1;
                    if after_first > MORE_STARTS || self.steps - at > budget {
                        return best;
                    }
                }
            }
        }
        best
    }

    /// The shortest path b → a closing the cycle a -start-> b into a cycle
    /// shorter than `limit` edges, over nodes of `a`'s sub-component.
    fn bfs(
        &mut self,
        a: u32,
        b: u32,
        spec: &Spec,
        path: u8,
        need: u8,
        limit: usize,
    ) -> Option<Cycle> {
        let init = if spec.start == RW { LAST_RW } else { 0 } | if need == 0 { SEEN } else { 0 };
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: forget every stamp once.
            self.stamp.fill(0);
            self.generation = 1;
        }
        let g = self.generation;
        let inside = self.sub_of[a as usize];
        let state = |v: u32, st: u8| v as usize * STATES + st as usize;
        self.queue.clear();
        let s0 = state(b, init);
        self.stamp[s0] = g;
        self.parent[s0] = (NONE, 0);
        self.queue.push_back((s0 as u32, 0));
        while let Some((s, depth)) = self.queue.pop_front() {
            // A cycle through here has at least depth + 2 edges.
            if depth as usize + 2 >= limit {
                return None;
            }
            if self.out_of_time() {
                return None;
            }
            let (v, st) = (s / STATES as u32, (s % STATES as u32) as u8);
            for (w, mask) in self.local.out(v) {
                if self.sub_of[w as usize] != inside {
                    continue;
                }
                let mut bits = mask & path;
                while bits != 0 {
                    let rel = bits & bits.wrapping_neg();
                    bits &= bits - 1;
                    if rel == RW
                        && (spec.rw == RwMode::None
                            || (spec.rw == RwMode::NonAdjacent && st & LAST_RW != 0))
                    {
                        continue;
                    }
                    let mut next = st & SEEN;
                    if rel == RW {
                        next |= LAST_RW;
                    }
                    if rel & need != 0 {
                        next |= SEEN;
                    }
                    if w == a {
                        let closes = next & SEEN != 0
                            && !(spec.rw == RwMode::NonAdjacent && next & LAST_RW != 0);
                        if closes {
                            let mut cycle = vec![(v, a, rel)];
                            let mut at = s as usize;
                            loop {
                                let (p, prel) = self.parent[at];
                                if p == NONE {
                                    break;
                                }
                                cycle.push((p / STATES as u32, (at / STATES) as u32, prel));
                                at = p as usize;
                            }
                            cycle.push((a, b, spec.start));
                            cycle.reverse();
                            return Some(cycle);
                        }
                        continue;
                    }
                    let t = state(w, next);
                    if self.stamp[t] != g {
                        self.stamp[t] = g;
                        self.parent[t] = (s, rel);
                        self.queue.push_back((t as u32, depth + 1));
                    }
                }
            }
        }
        None
    }
}

fn class_name(base: &str, suffix: &str) -> &'static str {
    const ALL: &[&str] = &[
        "G0",
        "G0-process",
        "G0-realtime",
        "G1c",
        "G1c-process",
        "G1c-realtime",
        "G-single",
        "G-single-process",
        "G-single-realtime",
        "G-nonadjacent",
        "G-nonadjacent-process",
        "G-nonadjacent-realtime",
        "G2-item",
        "G2-item-process",
        "G2-item-realtime",
    ];
    ALL.iter()
        .copied()
        .find(|n| n.strip_prefix(base) == Some(suffix))
        .unwrap_or("G2-item")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::EdgeList;

    /// A ring of 40 write-write edges with a 2-cycle on it: whichever
    /// start edge is tried first, the cycle reported is the 2-cycle.
    #[test]
    fn the_shortest_cycle_of_a_component_is_reported() {
        for chord in [0u32, 17, 38] {
            let mut e = EdgeList::default();
            for i in 0..40 {
                e.add(i, (i + 1) % 40, WW);
            }
            e.add(chord + 1, chord, WW);
            let g = e.build(40);
            let (cycles, timeouts) = Searcher::new(&g, None).run(&|_| true, &|v| v as u64);
            assert!(timeouts.is_empty());
            assert_eq!(cycles.len(), 1, "{cycles:?}");
            let mut nodes: Vec<u32> = cycles[0].iter().map(|e| e.0).collect();
            nodes.sort_unstable();
            assert_eq!(nodes, [chord, chord + 1]);
        }
    }

    /// A long cycle is still found when it is the only one, and its steps
    /// chain back to the start.
    #[test]
    fn a_lone_long_cycle_is_found_whole() {
        let mut e = EdgeList::default();
        for i in 0..500 {
            e.add(i, (i + 1) % 500, if i == 7 { RW } else { WW });
        }
        let g = e.build(500);
        let (cycles, _) = Searcher::new(&g, None).run(&|_| true, &|v| v as u64);
        assert_eq!(cycles.len(), 1);
        let c = &cycles[0];
        assert_eq!(c.len(), 500);
        assert_eq!(classify(c), "G-single");
        for i in 0..c.len() {
            assert_eq!(c[i].1, c[(i + 1) % c.len()].0);
        }
    }
}
