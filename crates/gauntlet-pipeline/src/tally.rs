//! Operations counted by type and function as the run goes, so another
//! process (`gauntlet serve`'s `/metrics` and charts) sees them: a
//! subscriber of the run's `op` events whose counts the driver writes to
//! the store with the other samples, as `ops` series (`ok read`,
//! `info cas`, ...; the value is the count so far).

use std::collections::BTreeMap;
use std::sync::Mutex;

use gauntlet_events::{Event, Subscriber};

use crate::supervisor::Samples;

/// The measurement kind of the counts.
pub const OPS: &str = "ops";

/// At most this many (type, function) series per run; the rest are
/// counted under [`OTHER`], so a client inventing names cannot grow the
/// store's or a scraper's series without bound.
const MAX_SERIES: usize = 64;

/// Where functions beyond [`MAX_SERIES`] are counted.
pub const OTHER: &str = "other";

/// Counts every completed op (and every nemesis op) by `type f`.
#[derive(Default)]
pub(crate) struct OpTally {
    counts: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    /// The series whose count changed since the last [`OpTally::sample`].
    changed: Vec<String>,
}

impl OpTally {
    /// Pushes the counts that changed since the last call as samples.
    pub fn sample(&self, samples: &Samples) {
        let mut tally = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Tally { counts, changed } = &mut *tally;
        for subject in changed.drain(..) {
            if let Some(n) = counts.get(&subject) {
                samples.push(OPS, &subject, *n as f64, "count");
            }
        }
    }

    fn count(&self, kind: &str, f: &str) {
        let mut tally = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Tally { counts, changed } = &mut *tally;
        let mut subject = format!("{kind} {f}");
        if !counts.contains_key(&subject) && counts.len() >= MAX_SERIES {
            subject = format!("{kind} {OTHER}");
        }
        let n = counts.entry(subject.clone()).or_default();
        *n += 1;
        if !changed.contains(&subject) {
            changed.push(subject);
        }
    }
}

impl Subscriber for OpTally {
    fn wants_streams(&self) -> bool {
        true
    }

    fn on_event(&self, event: &Event) {
        if let Event::Op { op, .. } = event {
            let kind = op.get("type").and_then(|v| v.as_str()).unwrap_or("?");
            // An invocation is counted once it completes.
            if kind == "invoke" {
                return;
            }
            let f = match op.get("f") {
                Some(serde_json::Value::String(f)) => f.as_str(),
                _ => "?",
            };
            self.count(kind, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_events::Events;
    use serde_json::json;
    use std::sync::Arc;

    fn op(kind: &str, f: &str) -> Event {
        Event::Op {
            t_ms: 0,
            op: json!({"type": kind, "f": f, "process": 0}),
        }
    }

    #[test]
    fn completions_are_counted_by_type_and_function_and_only_changes_sampled() {
        let tally = Arc::new(OpTally::default());
        let events = Events::new(vec![tally.clone()]);
        for e in [
            op("invoke", "read"),
            op("ok", "read"),
            op("invoke", "write"),
            op("info", "write"),
            op("ok", "read"),
        ] {
            events.emit(e);
        }
        let samples = Samples::new(Events::none());
        tally.sample(&samples);
        let got: Vec<(String, f64)> = samples
            .drain()
            .into_iter()
            .map(|m| (m.subject, m.value))
            .collect();
        assert_eq!(
            got,
            [("ok read".to_owned(), 2.0), ("info write".to_owned(), 1.0)]
        );
        events.emit(op("ok", "read"));
        tally.sample(&samples);
        let again: Vec<(String, f64)> = samples
            .drain()
            .into_iter()
            .map(|m| (m.subject, m.value))
            .collect();
        assert_eq!(again, [("ok read".to_owned(), 3.0)], "only what changed");
        tally.sample(&samples);
        assert!(samples.drain().is_empty());
    }

    #[test]
    fn functions_beyond_the_bound_are_counted_as_other() {
        let tally = OpTally::default();
        for i in 0..MAX_SERIES + 10 {
            tally.count("ok", &format!("f{i}"));
        }
        let counts = tally.counts.lock().unwrap();
        assert_eq!(counts.counts.len(), MAX_SERIES + 1);
        assert_eq!(counts.counts["ok other"], 10);
    }
}
