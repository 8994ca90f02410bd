use serde_json::{Map, Value};

/// Who drops messages from whom: for each destination, the set of sources
/// whose messages it never receives. One-directional by construction, so
/// asymmetric partitions are as easy to say as symmetric ones.
///
/// Endpoints are dense indices (the runtime maps names to them); a bit matrix
/// keeps the per-message check to a shift and a mask, also at 1,000 nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grudge {
    n: usize,
    words_per_row: usize,
    bits: Vec<u64>,
}

impl Grudge {
    /// An empty grudge (a healed network) over `n` endpoints.
    pub fn new(n: usize) -> Grudge {
        let words_per_row = n.div_ceil(64);
        Grudge {
            n,
            words_per_row,
            bits: vec![0; n * words_per_row],
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// `dest` stops receiving messages from `src`.
    pub fn drop_from(&mut self, dest: usize, src: usize) {
        let i = dest * self.words_per_row + src / 64;
        self.bits[i] |= 1 << (src % 64);
    }

    /// Whether a message from `src` to `dest` is dropped. Indices outside the
    /// grudge (clients and services added after it was made) are never cut.
    pub fn drops(&self, src: usize, dest: usize) -> bool {
        if src >= self.n || dest >= self.n {
            return false;
        }
        self.bits[dest * self.words_per_row + src / 64] & (1 << (src % 64)) != 0
    }

    /// Cuts every link between different components, both ways: each
    /// component only hears from itself.
    pub fn isolate_components(n: usize, components: &[Vec<usize>]) -> Grudge {
        let mut g = Grudge::new(n);
        for (i, a) in components.iter().enumerate() {
            for (j, b) in components.iter().enumerate() {
                if i != j {
                    for &dest in a {
                        for &src in b {
                            g.drop_from(dest, src);
                        }
                    }
                }
            }
        }
        g
    }

    /// For the timeline: `{dest: [sources it drops]}` with endpoint names.
    pub fn describe(&self, names: &[String]) -> Value {
        let mut out = Map::new();
        for dest in 0..self.n {
            let srcs: Vec<Value> = (0..self.n)
                .filter(|&src| self.drops(src, dest))
                .map(|src| Value::String(names[src].clone()))
                .collect();
            if !srcs.is_empty() {
                out.insert(names[dest].clone(), Value::Array(srcs));
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_directional() {
        let mut g = Grudge::new(3);
        g.drop_from(0, 2);
        assert!(g.drops(2, 0));
        assert!(!g.drops(0, 2));
        assert!(!g.drops(1, 0));
        assert!(!g.is_empty());
    }

    #[test]
    fn components_cut_both_ways_and_keep_insides() {
        let g = Grudge::isolate_components(130, &[vec![0, 1, 100], vec![2, 129]]);
        assert!(g.drops(0, 2) && g.drops(2, 0) && g.drops(129, 100) && g.drops(100, 129));
        assert!(!g.drops(0, 100) && !g.drops(2, 129));
        // Nodes in no component are untouched.
        assert!(!g.drops(5, 0) && !g.drops(0, 5));
        // Out of range is never dropped.
        assert!(!g.drops(500, 0));
    }

    #[test]
    fn describes_with_names() {
        let names: Vec<String> = ["n0", "n1", "n2"].iter().map(|s| s.to_string()).collect();
        let g = Grudge::isolate_components(3, &[vec![0], vec![1, 2]]);
        assert_eq!(
            g.describe(&names),
            serde_json::json!({"n0": ["n1", "n2"], "n1": ["n0"], "n2": ["n0"]})
        );
    }
}
