//! Cycle anomalies: within each strongly connected component, the shortest
//! cycle (by BFS) of each class, as Elle does. A class is a start edge
//! type, the relations a path may use, and how rw edges may appear; the
//! BFS walks (node, last edge was rw, required edge seen) states.

use std::collections::VecDeque;
use std::time::Instant;

use rustc_hash::FxHashMap;

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

pub(crate) struct Searcher<'a> {
    pub graph: &'a Graph,
    pub deadline: Option<Instant>,
    steps: u64,
    timed_out: bool,
}

impl<'a> Searcher<'a> {
    pub fn new(graph: &'a Graph, deadline: Option<Instant>) -> Searcher<'a> {
        Searcher {
            graph,
            deadline,
            steps: 0,
            timed_out: false,
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
        let mut comp = vec![u32::MAX; n];
        let mut cycles = Vec::new();
        let mut timeouts = Vec::new();
        for (c, nodes) in sccs.iter().enumerate() {
            for &v in nodes {
                comp[v as usize] = c as u32;
            }
            let mut found: Vec<&'static str> = Vec::new();
            let mut left: Vec<&'static str> = Vec::new();
            for &(extra, suffix) in EXTRAS {
                for spec in SPECS {
                    let name = class_name(spec.name, suffix);
                    if implied_anomalies(found.iter().copied()).contains(name) {
                        continue;
                    }
                    if self.timed_out {
                        left.push(name);
                        continue;
                    }
                    if let Some(cycle) = self.search_class(spec, extra, c as u32, nodes, &comp) {
                        found.push(classify(&cycle));
                        cycles.push(cycle);
                    } else if self.timed_out {
                        left.push(name);
                    }
                }
            }
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

    fn search_class(
        &mut self,
        spec: &Spec,
        extra: u8,
        c: u32,
        nodes: &[u32],
        comp: &[u32],
    ) -> Option<Cycle> {
        let path = spec.path | extra;
        // Only start edges inside one component of the class's own
        // relations can close a cycle.
        let in_c = |v: u32| comp[v as usize] == c;
        let subs = self.graph.sccs(path | spec.start, nodes, &in_c);
        let mut sub: FxHashMap<u32, u32> = FxHashMap::default();
        for (i, s) in subs.iter().enumerate() {
            for &v in s {
                sub.insert(v, i as u32);
            }
        }
        for &a in nodes {
            let Some(&sa) = sub.get(&a) else { continue };
            let starts: Vec<u32> = self
                .graph
                .out(a)
                .filter(|&(b, m)| m & spec.start != 0 && sub.get(&b) == Some(&sa))
                .map(|(b, _)| b)
                .collect();
            for b in starts {
                if let Some(cycle) =
                    self.bfs(a, b, spec, path, extra, &|v| sub.get(&v) == Some(&sa))
                {
                    return Some(cycle);
                }
                if self.timed_out {
                    return None;
                }
            }
        }
        None
    }

    /// The shortest path b → a closing the cycle a -start-> b.
    fn bfs(
        &mut self,
        a: u32,
        b: u32,
        spec: &Spec,
        path: u8,
        need: u8,
        inside: &dyn Fn(u32) -> bool,
    ) -> Option<Cycle> {
        const LAST_RW: u8 = 1;
        const SEEN: u8 = 2;
        let init = if spec.start == RW { LAST_RW } else { 0 } | if need == 0 { SEEN } else { 0 };
        let mut parent: FxHashMap<(u32, u8), (u32, u8, u8)> = FxHashMap::default();
        let mut queue = VecDeque::new();
        parent.insert((b, init), (u32::MAX, 0, 0));
        queue.push_back((b, init));
        while let Some((v, st)) = queue.pop_front() {
            if self.out_of_time() {
                return None;
            }
            for (w, mask) in self.graph.out(v) {
                if !inside(w) {
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
                            let mut at = (v, st);
                            while let Some(&(p, pst, prel)) = parent.get(&at) {
                                if p == u32::MAX {
                                    break;
                                }
                                cycle.push((p, at.0, prel));
                                at = (p, pst);
                            }
                            cycle.push((a, b, spec.start));
                            cycle.reverse();
                            return Some(cycle);
                        }
                        continue;
                    }
                    if let std::collections::hash_map::Entry::Vacant(e) = parent.entry((w, next)) {
                        e.insert((v, st, rel));
                        queue.push_back((w, next));
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
