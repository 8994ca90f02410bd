//! The network lab: hosts in Linux network namespaces on one machine.
//!
//! A [`LabSpec`](gauntlet_plan::LabSpec) (the plan's `[[segment]]`,
//! `[[link]]`, `[[nat]]` and `[[host]]` tables) becomes, with [`Lab::up`]:
//!
//! ```text
//!            gt-<id>-core  (router: ip_forward, link shaping)
//!   br-eu ───────────┬──────────── br-asia
//!    │  │            │               │
//!  eth0 eth0       wan             eth0
//!  host host   gt-<id>-n-home1     host
//!              (NAT: nftables)
//!                    lan
//!                     │
//!                   eth0  host behind the NAT
//! ```
//!
//! Nothing is made in the machine's own namespace, every name carries the
//! lab's id ([`names`]), and the owning process holds a lock so a dead
//! owner's lab is swept by the next run ([`state`]). Processes run on lab
//! hosts through [`gauntlet_node::NetnsBackend`].

mod error;
pub mod faults;
mod lab;
pub mod matrix;
pub mod measure;
pub mod names;
pub mod nat;
pub mod netns;
pub mod queue;
pub mod shaper;
pub mod state;
pub mod sys;

pub use error::LabError;
pub use faults::LabNet;
pub use lab::{Lab, LabOptions, backend_of, namespace_of};
pub use names::LabId;
