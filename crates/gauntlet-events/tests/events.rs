//! Every subscriber sees every event, in order, and the events serialize
//! to the tagged JSON a dashboard or an event log reads.

use std::sync::Arc;

use gauntlet_events::{Collect, Event, Events, Subscriber};
use serde_json::json;

#[test]
fn every_subscriber_sees_every_event_in_order() {
    let (a, b) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let events = Events::new(vec![a.clone() as Arc<dyn Subscriber>]).with(b.clone());
    events.emit(Event::RunStarted {
        run: "r1".into(),
        kind: "soak".into(),
        stages: 4,
    });
    events.note("starting api");
    events.warn("n1", "dropped a bad line");
    for collected in [a.events(), b.events()] {
        assert_eq!(collected.len(), 3);
        assert!(matches!(collected[0], Event::RunStarted { .. }));
        assert_eq!(
            collected[1],
            Event::Note {
                text: "starting api".into()
            }
        );
        assert!(matches!(&collected[2], Event::Warning { source, .. } if source == "n1"));
    }
}

#[test]
fn flush_reaches_every_subscriber_and_defaults_to_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Flushed(AtomicUsize);
    impl Subscriber for Flushed {
        fn on_event(&self, _event: &Event) {}
        fn flush(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let (a, b) = (Arc::new(Flushed::default()), Arc::new(Flushed::default()));
    // A subscriber without a flush of its own (Collect) is flushed too: a no-op.
    let events = Events::new(vec![a.clone() as Arc<dyn Subscriber>])
        .with(Arc::new(Collect::default()))
        .with(b.clone());
    events.flush();
    assert_eq!(a.0.load(Ordering::SeqCst), 1);
    assert_eq!(b.0.load(Ordering::SeqCst), 1);
    Events::none().flush();
}

#[test]
fn nobody_listening_is_fine_and_says_so() {
    let events = Events::none();
    assert!(!events.is_heard());
    events.note("nobody hears this");
}

#[test]
fn events_serialize_as_tagged_json() {
    let e = Event::FaultStarted {
        t_ms: 1200,
        id: 3,
        fault: "pause-api".into(),
        kind: "pause".into(),
        f: "pause".into(),
        target: "api".into(),
        value: json!({"duration_ms": 5000}),
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"event": "fault-started", "t_ms": 1200, "id": 3, "fault": "pause-api",
               "kind": "pause", "f": "pause", "target": "api", "value": {"duration_ms": 5000}})
    );
}

#[test]
fn a_recorder_observed_by_the_events_tells_every_op_in_order() {
    use gauntlet_history::{Op, OpType, Recorder};
    let seen = Arc::new(Collect::default());
    let events = Events::new(vec![seen.clone() as Arc<dyn Subscriber>]);
    let recorder = Recorder::in_memory(std::time::Instant::now()).observed(events.ops());
    let invoke = recorder.record(Op::invoke(0, "write", json!(1)));
    recorder.record(invoke.complete(OpType::Ok, json!(1)));
    let ops: Vec<_> = seen
        .events()
        .into_iter()
        .map(|e| match e {
            Event::Op { op, .. } => (op["index"].clone(), op["type"].clone()),
            other => panic!("not an op: {other:?}"),
        })
        .collect();
    assert_eq!(ops, [(json!(0), json!("invoke")), (json!(1), json!("ok"))]);
    // The history itself is unchanged by being watched.
    assert_eq!(recorder.take().len(), 2);
    // Subscribers that do not want the streams (a printer, the store) get
    // no op events, and none is built for them.
    struct Printer(Collect);
    impl Subscriber for Printer {
        fn on_event(&self, event: &Event) {
            self.0.on_event(event);
        }
        fn wants_streams(&self) -> bool {
            false
        }
    }
    let printer = Arc::new(Printer(Collect::default()));
    let events = Events::new(vec![printer.clone() as Arc<dyn Subscriber>]);
    assert!(events.is_heard() && !events.wants_streams());
    let watched = Recorder::in_memory(std::time::Instant::now()).observed(events.ops());
    watched.record(Op::invoke(0, "read", json!(null)));
    assert!(printer.0.events().is_empty());
    // One subscriber that wants them is enough.
    assert!(events.with(seen.clone()).wants_streams());
}
