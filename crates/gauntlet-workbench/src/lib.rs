//! The Maelstrom-style workbench runtime: node processes on a simulated network, clients, nemesis, results.
