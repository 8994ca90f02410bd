//! Maelstrom workloads: op generators and the mapping between history ops and RPC bodies.
