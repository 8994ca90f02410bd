//! The network lab: hosts in Linux network namespaces on one machine.

pub mod measure;
pub mod netns;
pub mod queue;
pub mod shaper;
