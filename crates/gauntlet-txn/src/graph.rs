//! The dependency graph: nodes are transactions (and real-time barrier
//! nodes), edges carry a bitmask of relations. Stored as CSR: one offsets
//! array and parallel target and mask arrays, built once from an edge list.

/// Write-write: T1 installed a version, T2 the next one.
pub const WW: u8 = 1;
/// Write-read: T2 read a version T1 installed.
pub const WR: u8 = 2;
/// Read-write (anti-dependency): T1 read a version, T2 installed the next.
pub const RW: u8 = 4;
/// Process order: the same process ran T1, then T2.
pub const PROCESS: u8 = 8;
/// Real-time order: T1 completed before T2 was invoked.
pub const REALTIME: u8 = 16;
/// Every relation.
pub const ALL: u8 = WW | WR | RW | PROCESS | REALTIME;

/// The name of one relation bit, as Elle writes it.
pub fn rel_name(rel: u8) -> &'static str {
    match rel {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "?",
    }
}

/// Edges as they are inferred; [`EdgeList::build`] sorts and merges them.
#[derive(Debug, Default)]
pub(crate) struct EdgeList {
    pub edges: Vec<(u32, u32, u8)>,
}

impl EdgeList {
    /// Adds `from -rel-> to`; self-edges are dropped (a transaction does
    /// not depend on itself).
    pub fn add(&mut self, from: u32, to: u32, rel: u8) {
        if from != to {
            self.edges.push((from, to, rel));
        }
    }

    /// The CSR graph over `n` nodes, parallel edges merged into one mask.
    pub fn build(self, n: u32) -> Graph {
        let n = n as usize;
        // Counting sort by source, then a sort of each (short) row by target.
        let mut offsets = vec![0u32; n + 1];
        for &(f, _, _) in &self.edges {
            offsets[f as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut row: Vec<(u32, u8)> = vec![(0, 0); self.edges.len()];
        for (f, t, m) in self.edges {
            let at = &mut fill[f as usize];
            row[*at as usize] = (t, m);
            *at += 1;
        }
        let mut targets = Vec::with_capacity(row.len());
        let mut masks = Vec::with_capacity(row.len());
        let mut new_offsets = vec![0u32; n + 1];
        for v in 0..n {
            let slice = &mut row[offsets[v] as usize..offsets[v + 1] as usize];
            slice.sort_unstable_by_key(|e| e.0);
            let mut last: Option<u32> = None;
            for &(t, m) in slice.iter() {
                if last == Some(t) {
                    if let Some(lm) = masks.last_mut() {
                        *lm |= m;
                    }
                } else {
                    targets.push(t);
                    masks.push(m);
                    last = Some(t);
                }
            }
            new_offsets[v + 1] = targets.len() as u32;
        }
        Graph {
            offsets: new_offsets,
            targets,
            masks,
        }
    }
}

/// A directed graph in compressed sparse row form.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    masks: Vec<u8>,
}

impl Graph {
    /// Refills this graph, reusing its buffers, with `n` nodes whose
    /// out-edges `edges(v, push)` pushes (target, mask), each target once.
    pub fn rebuild(&mut self, n: usize, mut edges: impl FnMut(usize, &mut dyn FnMut(u32, u8))) {
        self.offsets.clear();
        self.targets.clear();
        self.masks.clear();
        self.offsets.push(0);
        for v in 0..n {
            let (targets, masks) = (&mut self.targets, &mut self.masks);
            edges(v, &mut |t, m| {
                targets.push(t);
                masks.push(m);
            });
            self.offsets.push(self.targets.len() as u32);
        }
    }

    pub fn node_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Out-edges of `v`: (target, relation mask).
    pub fn out(&self, v: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let (a, b) = (
            self.offsets[v as usize] as usize,
            self.offsets[v as usize + 1] as usize,
        );
        self.targets[a..b]
            .iter()
            .copied()
            .zip(self.masks[a..b].iter().copied())
    }

    /// The mask of the edge `from -> to`, 0 if there is none.
    #[cfg(test)]
    pub fn mask(&self, from: u32, to: u32) -> u8 {
        let (a, b) = (
            self.offsets[from as usize] as usize,
            self.offsets[from as usize + 1] as usize,
        );
        match self.targets[a..b].binary_search(&to) {
            Ok(i) => self.masks[a + i],
            Err(_) => 0,
        }
    }

    /// Strongly connected components over the edges whose mask meets
    /// `allowed`, restricted to nodes where `keep(node)`. Tarjan's
    /// algorithm, iterative (a million nodes would overflow the stack).
    /// Returns the components with more than one node.
    pub fn sccs(&self, allowed: u8, nodes: &[u32], keep: &dyn Fn(u32) -> bool) -> Vec<Vec<u32>> {
        const UNSEEN: u32 = u32::MAX;
        let n = self.node_count();
        let mut index = vec![UNSEEN; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        // (node, position of the next out-edge to look at)
        let mut call: Vec<(u32, u32)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for &root in nodes {
            if index[root as usize] != UNSEEN || !keep(root) {
                continue;
            }
            call.push((root, self.offsets[root as usize]));
            index[root as usize] = next;
            low[root as usize] = next;
            next += 1;
            stack.push(root);
            on_stack[root as usize] = true;
            while let Some(&(v, at)) = call.last() {
                let end = self.offsets[v as usize + 1];
                let mut pos = at;
                let mut child = None;
                while pos < end {
                    let e = pos as usize;
                    pos += 1;
                    if self.masks[e] & allowed == 0 {
                        continue;
                    }
                    let w = self.targets[e];
                    if !keep(w) {
                        continue;
                    }
                    if index[w as usize] == UNSEEN {
                        child = Some(w);
                        break;
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(index[w as usize]);
                    }
                }
                if let Some(top) = call.last_mut() {
                    top.1 = pos;
                }
                let descended = if let Some(w) = child {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, self.offsets[w as usize]));
                    true
                } else {
                    false
                };
                if descended {
                    continue;
                }
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent as usize] = low[parent as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        out.push(comp);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_parallel_edges_and_drops_self_edges() {
        let mut e = EdgeList::default();
        e.add(0, 1, WW);
        e.add(0, 1, RW);
        e.add(1, 1, WR);
        e.add(1, 0, WR);
        let g = e.build(2);
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.mask(0, 1), WW | RW);
        assert_eq!(g.mask(1, 1), 0);
    }

    #[test]
    fn finds_components_iteratively() {
        let mut e = EdgeList::default();
        // A long chain closed into one big cycle, plus a separate 2-cycle.
        let n = 200_000u32;
        for i in 0..n - 1 {
            e.add(i, i + 1, WW);
        }
        e.add(n - 1, 0, WR);
        e.add(n, n + 1, RW);
        e.add(n + 1, n, RW);
        let g = e.build(n + 3);
        let all: Vec<u32> = (0..n + 3).collect();
        let mut sccs = g.sccs(ALL, &all, &|_| true);
        sccs.sort_by_key(Vec::len);
        assert_eq!(sccs.len(), 2);
        assert_eq!(sccs[0].len(), 2);
        assert_eq!(sccs[1].len(), n as usize);
        // Without wr the big cycle is broken.
        assert_eq!(g.sccs(WW | RW, &all, &|_| true).len(), 1);
    }
}
