//! A line a node printed (the router's zero-copy parse, then the body),
//! and the same line as a full `Envelope`: parsed or refused, never a
//! panic. A routed body reads as an object, unless it holds what
//! `serde_json::Value` cannot (see `RawEnvelope::parse`).
#![no_main]

use gauntlet_proto::{Envelope, RawEnvelope, body_msg_id, body_type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(env) = RawEnvelope::parse(line) {
        let _ = body_type(env.body);
        let _ = body_msg_id(env.body);
        match env.body_value() {
            Ok(body) => assert!(body.is_object(), "a parsed body is an object"),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains("number out of range")
                        || e.contains("recursion limit exceeded")
                        || e.contains("hex escape"),
                    "a routed body that cannot be read: {e}"
                );
            }
        }
    }
    if let Ok(env) = serde_json::from_str::<Envelope>(line) {
        let _ = (env.body_type(), env.msg_id(), env.in_reply_to());
        let _ = serde_json::to_string(&env);
    }
});
