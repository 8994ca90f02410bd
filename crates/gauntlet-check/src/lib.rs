//! Checkers: turn histories into verdicts (workload checkers, stats, availability, latency).
