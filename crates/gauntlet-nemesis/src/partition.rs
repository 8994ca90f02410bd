use gauntlet_net::Grudge;
use rand::RngExt;
use rand::seq::SliceRandom;

/// The partition shapes the nemesis draws from (Jepsen's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionShape {
    /// One node cut off from all others.
    One,
    /// A random minority cut off from the majority.
    Majority,
    /// A third of the nodes (at least one) cut off from the rest.
    MinorityThird,
    /// Every node sees a majority, but no two nodes see the same one.
    MajoritiesRing,
    /// Two halves joined by one node that hears both.
    Bridge,
    /// One side stops hearing the other; the other still hears it.
    Asymmetric,
}

impl PartitionShape {
    /// The shape [`PartitionShape::name`] calls `name`.
    pub fn from_name(name: &str) -> Option<PartitionShape> {
        PartitionShape::ALL.into_iter().find(|s| s.name() == name)
    }

    pub const ALL: [PartitionShape; 6] = [
        PartitionShape::One,
        PartitionShape::Majority,
        PartitionShape::MinorityThird,
        PartitionShape::MajoritiesRing,
        PartitionShape::Bridge,
        PartitionShape::Asymmetric,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartitionShape::One => "one",
            PartitionShape::Majority => "majority",
            PartitionShape::MinorityThird => "minority-third",
            PartitionShape::MajoritiesRing => "majorities-ring",
            PartitionShape::Bridge => "bridge",
            PartitionShape::Asymmetric => "asymmetric",
        }
    }
}

/// A grudge of the given shape over server nodes `0..n`, in a grudge sized
/// for `width` endpoints (servers come first in the router's index space).
pub fn partition(
    shape: PartitionShape,
    n: usize,
    width: usize,
    rng: &mut impl rand::Rng,
) -> Grudge {
    let mut nodes: Vec<usize> = (0..n).collect();
    nodes.shuffle(rng);
    if n < 2 {
        return Grudge::new(width);
    }
    match shape {
        PartitionShape::One => split(width, &nodes, 1),
        PartitionShape::Majority => {
            let minority = if n < 3 {
                1
            } else {
                rng.random_range(1..=(n - 1) / 2)
            };
            split(width, &nodes, minority)
        }
        PartitionShape::MinorityThird => split(width, &nodes, (n / 3).max(1)),
        PartitionShape::MajoritiesRing => majorities_ring(width, &nodes),
        PartitionShape::Bridge => {
            if n < 3 {
                return split(width, &nodes, 1);
            }
            // nodes[0] is the bridge; it keeps hearing and reaching both sides.
            let half = n / 2;
            let (a, b) = nodes[1..].split_at(half);
            let mut g = Grudge::new(width);
            for &x in a {
                for &y in b {
                    g.drop_from(x, y);
                    g.drop_from(y, x);
                }
            }
            g
        }
        PartitionShape::Asymmetric => {
            let (deaf, loud) = nodes.split_at(n / 2);
            let mut g = Grudge::new(width);
            for &d in deaf {
                for &s in loud {
                    g.drop_from(d, s);
                }
            }
            g
        }
    }
}

fn split(width: usize, shuffled: &[usize], first: usize) -> Grudge {
    let (a, b) = shuffled.split_at(first);
    Grudge::isolate_components(width, &[a.to_vec(), b.to_vec()])
}

/// Each node hears the nearest nodes of a shuffled ring that, with itself,
/// make a majority.
fn majorities_ring(width: usize, ring: &[usize]) -> Grudge {
    let n = ring.len();
    let others = n / 2; // a majority is n/2 + 1 including itself
    let left = others / 2;
    let right = others - left;
    let mut g = Grudge::new(width);
    for (pos, &dest) in ring.iter().enumerate() {
        for off in 1..n {
            let heard = off <= right || off >= n - left;
            if !heard {
                g.drop_from(dest, ring[(pos + off) % n]);
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn heard_by(g: &Grudge, dest: usize, n: usize) -> usize {
        (0..n).filter(|&s| s != dest && !g.drops(s, dest)).count()
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let g = partition(PartitionShape::One, 5, 8, &mut rng);
        let lonely: Vec<usize> = (0..5).filter(|&d| heard_by(&g, d, 5) == 0).collect();
        assert_eq!(lonely.len(), 1);
        for d in (0..5).filter(|d| !lonely.contains(d)) {
            assert_eq!(heard_by(&g, d, 5), 3);
        }
    }

    #[test]
    fn majorities_ring_gives_everyone_a_majority() {
        for n in [3, 4, 5, 7, 10] {
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            let g = partition(PartitionShape::MajoritiesRing, n, n, &mut rng);
            for d in 0..n {
                assert_eq!(heard_by(&g, d, n) + 1, n / 2 + 1, "n={n} node {d}");
            }
        }
    }

    #[test]
    fn bridge_node_hears_everyone_and_sides_are_cut() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let g = partition(PartitionShape::Bridge, 5, 5, &mut rng);
        let bridges: Vec<usize> = (0..5).filter(|&d| heard_by(&g, d, 5) == 4).collect();
        assert_eq!(bridges.len(), 1);
        assert!(!g.is_empty());
    }

    #[test]
    fn asymmetric_cuts_one_direction_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let g = partition(PartitionShape::Asymmetric, 4, 4, &mut rng);
        let mut one_way = 0;
        for a in 0..4 {
            for b in 0..4 {
                assert!(!(g.drops(a, b) && g.drops(b, a)));
                one_way += g.drops(a, b) as usize;
            }
        }
        assert_eq!(one_way, 4);
    }

    #[test]
    fn every_shape_cuts_something_and_keeps_clients_free() {
        for shape in PartitionShape::ALL {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let g = partition(shape, 5, 12, &mut rng);
            assert!(!g.is_empty(), "{shape:?}");
            for client in 5..12 {
                for node in 0..5 {
                    assert!(!g.drops(client, node) && !g.drops(node, client));
                }
            }
        }
    }

    #[test]
    fn a_single_node_cannot_be_partitioned() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert!(partition(PartitionShape::Majority, 1, 3, &mut rng).is_empty());
    }
}
