//! Reports a person reads. Every page is self-contained: inline CSS and SVG,
//! no scripts fetched, no fonts, so it opens offline and can be attached to a
//! ticket as one file.

mod html;
mod timeline;

pub use html::escape;
pub use timeline::{LinearTimeline, TimelineOp, render_linear_timeline};
