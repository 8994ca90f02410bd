//! Reports a person reads. Every page is self-contained: inline CSS and SVG,
//! no scripts fetched, no fonts, so it opens offline and can be attached to a
//! ticket as one file.
//!
//! - [`render_linear_timeline`]: the linearizability timeline of a checked
//!   history.
//! - [`anomaly`]: an anomaly's operations beside the nemesis's actions
//!   around them.
//! - [`run`]: the reports of a `gauntlet run` (staged pipeline, module
//!   cycling) read from the run store: `REPORT.json`, `REPORT.md`,
//!   `report.html` and `junit.xml`.

pub mod anomaly;
mod html;
pub mod run;
mod timeline;

pub use html::escape;
pub use timeline::{LinearTimeline, TimelineOp, render_linear_timeline};
