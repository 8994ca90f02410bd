//! Fault schedules drawn from a seed: partitions (grudges), kills, pauses, and their heals.
