use std::str::FromStr;

use serde_json::{Map, Value};

/// How broadcast nodes are told to connect (Maelstrom's `--topology`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// A row-major square of side ⌈√n⌉; neighbours up, down, left, right.
    Grid,
    /// Previous and next.
    Line,
    /// Everyone else.
    Total,
    /// Breadth-first tiers with the given branching factor: parent and children.
    Tree(usize),
}

#[derive(Debug, thiserror::Error)]
#[error("unknown topology {0:?} (expected grid, line, total, tree, tree2, tree3 or tree4)")]
pub struct TopologyError(String);

impl FromStr for Topology {
    type Err = TopologyError;
    fn from_str(s: &str) -> Result<Self, TopologyError> {
        Ok(match s {
            "grid" => Topology::Grid,
            "line" => Topology::Line,
            "total" => Topology::Total,
            "tree" | "tree2" => Topology::Tree(2),
            "tree3" => Topology::Tree(3),
            "tree4" => Topology::Tree(4),
            other => return Err(TopologyError(other.to_owned())),
        })
    }
}

impl Topology {
    /// Neighbour indices of each of `n` nodes.
    pub fn neighbours(self, n: usize) -> Vec<Vec<usize>> {
        (0..n).map(|i| self.neighbours_of(i, n)).collect()
    }

    fn neighbours_of(self, i: usize, n: usize) -> Vec<usize> {
        match self {
            Topology::Total => (0..n).filter(|&j| j != i).collect(),
            Topology::Line => {
                let mut v = Vec::new();
                if i > 0 {
                    v.push(i - 1);
                }
                if i + 1 < n {
                    v.push(i + 1);
                }
                v
            }
            Topology::Grid => {
                let side = (n as f64).sqrt().ceil() as usize;
                let (row, col) = (i / side, i % side);
                let mut v = Vec::new();
                if row > 0 {
                    v.push(i - side);
                }
                if i + side < n {
                    v.push(i + side);
                }
                if col > 0 {
                    v.push(i - 1);
                }
                if col + 1 < side && i + 1 < n {
                    v.push(i + 1);
                }
                v
            }
            Topology::Tree(b) => {
                let mut v = Vec::new();
                if i > 0 {
                    v.push((i - 1) / b);
                }
                v.extend((b * i + 1..=b * i + b).filter(|&c| c < n));
                v
            }
        }
    }

    /// The `topology` message body's map: `{"n0": ["n1", ...], ...}`.
    pub fn to_json(self, names: &[String]) -> Value {
        let mut m = Map::new();
        for (i, ns) in self.neighbours(names.len()).into_iter().enumerate() {
            m.insert(
                names[i].clone(),
                Value::Array(
                    ns.into_iter()
                        .map(|j| Value::String(names[j].clone()))
                        .collect(),
                ),
            );
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symmetric(t: Topology, n: usize) {
        let nb = t.neighbours(n);
        for (i, ns) in nb.iter().enumerate() {
            for &j in ns {
                assert!(j < n && j != i, "{t:?} n={n}: {i} -> {j}");
                assert!(nb[j].contains(&i), "{t:?} n={n}: {i} -> {j} not mutual");
            }
        }
    }

    fn connected(t: Topology, n: usize) -> bool {
        let nb = t.neighbours(n);
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&nb[i]);
            }
        }
        seen.into_iter().all(|s| s)
    }

    #[test]
    fn every_topology_is_mutual_and_connected() {
        for t in ["grid", "line", "total", "tree2", "tree3", "tree4"] {
            let t: Topology = t.parse().unwrap();
            for n in [1, 2, 5, 7, 25, 26, 100] {
                symmetric(t, n);
                assert!(connected(t, n), "{t:?} n={n} is not connected");
            }
        }
    }

    #[test]
    fn grid_of_five_matches_maelstrom() {
        // Side 3: n0 n1 n2 / n3 n4.
        let nb = Topology::Grid.neighbours(5);
        assert_eq!(nb[0], vec![3, 1]);
        assert_eq!(nb[1], vec![4, 0, 2]);
        assert_eq!(nb[2], vec![1]);
        assert_eq!(nb[4], vec![1, 3]);
    }

    #[test]
    fn line_of_one_is_empty_and_bad_names_fail() {
        assert_eq!(Topology::Line.neighbours(1), vec![Vec::<usize>::new()]);
        assert!(
            "ring"
                .parse::<Topology>()
                .unwrap_err()
                .to_string()
                .contains("ring")
        );
    }
}
