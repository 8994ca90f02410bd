//! `mem-client`: a cluster-test client with nothing behind it. It keeps
//! registers in its own memory and answers the op protocol
//! (`gauntlet_client::protocol`) at once:
//!
//! ```text
//! {"f":"write","key":"k3","value":4}    ->  {"type":"ok"}
//! {"f":"read","key":"k3"}               ->  {"type":"ok","value":4}   (null when unset)
//! {"f":"cas","key":"k3","value":[4,5]}  ->  {"type":"ok"} or {"type":"fail","error":"mismatch"}
//! {"f":"txn","value":[["append",1,5],["r",1,null]]}  ->  {"type":"ok","value":[["append",1,5],["r",1,[5]]]}
//! anything else                         ->  {"type":"fail","error":"..."}
//! ```
//!
//! Each client program has its own memory, so this is no system to test:
//! it measures what the protocol and gauntlet cost per operation
//! (`gauntlet bench client`). Exits 0 at the end of stdin.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

pub fn main() -> ExitCode {
    run(std::env::args().skip(1).collect())
}

pub fn run(args: Vec<String>) -> ExitCode {
    if let Some(a) = args.first() {
        let _ = writeln!(
            io::stderr(),
            "mem-client takes no arguments (got {a:?}); it answers JSON op lines on stdin"
        );
        return ExitCode::from(2);
    }
    let mut registers: HashMap<String, Value> = HashMap::new();
    let stdin = io::stdin();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let answer = answer(&mut registers, &line);
        // One answer per request, flushed: the caller waits for it.
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn answer(registers: &mut HashMap<String, Value>, line: &str) -> Value {
    let Ok(op) = serde_json::from_str::<Value>(line) else {
        return json!({"type": "fail", "error": "not JSON"});
    };
    let key = match &op["key"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match op["f"].as_str() {
        Some("read") => {
            json!({"type": "ok", "value": registers.get(&key).cloned().unwrap_or(Value::Null)})
        }
        Some("write") => {
            registers.insert(key, op["value"].clone());
            json!({"type": "ok"})
        }
        Some("cas") => match op["value"].as_array().map(Vec::as_slice) {
            Some([from, to]) if registers.get(&key).unwrap_or(&Value::Null) == from => {
                registers.insert(key, to.clone());
                json!({"type": "ok"})
            }
            Some([_, _]) => json!({"type": "fail", "error": "mismatch"}),
            _ => json!({"type": "fail", "error": "cas takes [from, to]"}),
        },
        Some("txn") => match op["value"].as_array() {
            Some(micro_ops) => transact(registers, micro_ops),
            None => json!({"type": "fail", "error": "txn takes a list of micro-ops"}),
        },
        _ => json!({"type": "fail", "error": "unknown f"}),
    }
}

/// A transaction of `["r", k, null]`, `["w", k, v]` and `["append", k, v]`
/// micro-ops, all at once, answered with the reads filled in.
fn transact(registers: &mut HashMap<String, Value>, micro_ops: &[Value]) -> Value {
    let mut done = Vec::with_capacity(micro_ops.len());
    for m in micro_ops {
        let Some([f, k, v]) = m.as_array().map(Vec::as_slice) else {
            return json!({"type": "fail", "error": "a micro-op is [f, key, value]"});
        };
        let key = format!("txn:{k}");
        match f.as_str() {
            Some("r") => {
                let seen = registers.get(&key).cloned().unwrap_or(Value::Null);
                done.push(json!(["r", k, seen]));
            }
            Some("w") => {
                registers.insert(key, v.clone());
                done.push(m.clone());
            }
            Some("append") => {
                let list = registers.entry(key).or_insert_with(|| json!([]));
                if let Some(items) = list.as_array_mut() {
                    items.push(v.clone());
                }
                done.push(m.clone());
            }
            _ => return json!({"type": "fail", "error": "unknown micro-op"}),
        }
    }
    json!({"type": "ok", "value": done})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_answer_the_protocol() {
        let mut r = HashMap::new();
        assert_eq!(
            answer(&mut r, r#"{"f":"read","key":"k"}"#),
            json!({"type":"ok","value":null})
        );
        assert_eq!(
            answer(&mut r, r#"{"f":"write","key":"k","value":1}"#),
            json!({"type":"ok"})
        );
        assert_eq!(
            answer(&mut r, r#"{"f":"cas","key":"k","value":[2,3]}"#)["type"],
            "fail"
        );
        assert_eq!(
            answer(&mut r, r#"{"f":"cas","key":"k","value":[1,3]}"#),
            json!({"type":"ok"})
        );
        assert_eq!(
            answer(&mut r, r#"{"f":"read","key":"k"}"#),
            json!({"type":"ok","value":3})
        );
        assert_eq!(answer(&mut r, "garbage")["type"], "fail");
    }

    #[test]
    fn transactions_answer_with_their_reads_filled_in() {
        let mut r = HashMap::new();
        assert_eq!(
            answer(
                &mut r,
                r#"{"f":"txn","value":[["r",1,null],["append",1,5],["append",1,6],["r",1,null]]}"#
            ),
            json!({"type":"ok","value":[["r",1,null],["append",1,5],["append",1,6],["r",1,[5,6]]]})
        );
        assert_eq!(
            answer(&mut r, r#"{"f":"txn","value":[["w",2,3],["r",2,null]]}"#),
            json!({"type":"ok","value":[["w",2,3],["r",2,3]]})
        );
        assert_eq!(
            answer(&mut r, r#"{"f":"txn","value":[["x",2,3]]}"#)["type"],
            "fail"
        );
    }
}
