//! The simulated network's routing core: latency distributions, partitions as grudges, message ids and counts (sans-IO).
