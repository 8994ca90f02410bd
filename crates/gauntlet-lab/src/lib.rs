//! The network lab: hosts in Linux network namespaces on one machine.

pub mod shaper;
