//! Helpers on JSON values shared by the checkers: a total order (for sorted
//! output), a hashable key (for counting), integer coercion, quantiles and
//! compact op references for evidence.

use std::cmp::Ordering;

use gauntlet_history::Op;
use serde_json::{Map, Number, Value, json};

/// A total order on JSON values so sorted figures (`lost`, `never-read`, ...)
/// are deterministic whatever the element type: null < bools < numbers <
/// strings < arrays < objects, numbers by numeric value.
pub(crate) fn cmp_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| cmp_values(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => cmp_objects(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn cmp_numbers(x: &Number, y: &Number) -> Ordering {
    match (x.as_i128(), y.as_i128()) {
        (Some(p), Some(q)) => p.cmp(&q),
        _ => {
            let p = x.as_f64().unwrap_or(f64::NAN);
            let q = y.as_f64().unwrap_or(f64::NAN);
            // Equal magnitudes: integers before floats, so 1 and 1.0 (which
            // are different values) still have a fixed order.
            p.total_cmp(&q).then_with(|| x.is_f64().cmp(&y.is_f64()))
        }
    }
}

fn cmp_objects(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    let mut xs: Vec<_> = x.iter().collect();
    let mut ys: Vec<_> = y.iter().collect();
    xs.sort_by(|a, b| a.0.cmp(b.0));
    ys.sort_by(|a, b| a.0.cmp(b.0));
    xs.iter()
        .zip(&ys)
        .map(|((ka, va), (kb, vb))| ka.cmp(kb).then_with(|| cmp_values(va, vb)))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| xs.len().cmp(&ys.len()))
}

/// A hashable identity for a JSON value. Integers (the common element type)
/// avoid an allocation; everything else uses a canonical text with sorted
/// object keys, so equality does not depend on serde_json's map flavour.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Int(i64),
    Json(String),
}

pub(crate) fn key(v: &Value) -> Key {
    if let Value::Number(n) = v
        && let Some(i) = n.as_i64()
    {
        return Key::Int(i);
    }
    let mut s = String::new();
    canonical(v, &mut s);
    Key::Json(s)
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(item, out);
            }
            out.push('}');
        }
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// The integer a JSON value denotes, if any. Integral floats (`5.0`) count,
/// since some languages' JSON encoders emit them; fractions do not.
pub(crate) fn as_integer(v: &Value) -> Option<i128> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i128() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // 2^63 bounds keep the cast exact and the sums far from i128 overflow.
    (f.fract() == 0.0 && f.abs() < (1u64 << 63) as f64).then_some(f as i128)
}

/// An i128 as JSON: a number when it fits, else its decimal text (sums of
/// many i64 deltas can outgrow i64, and losing precision silently would be
/// worse than a string).
pub(crate) fn int_value(i: i128) -> Value {
    Number::from_i128(i)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(i.to_string()))
}

/// The quantile points Jepsen and Maelstrom report, with their JSON keys.
pub(crate) const QUANTILES: [(&str, f64); 5] = [
    ("0", 0.0),
    ("0.5", 0.5),
    ("0.95", 0.95),
    ("0.99", 0.99),
    ("1", 1.0),
];

/// Jepsen's `frequency-distribution`: the element at `min(n-1, floor(n*p))`
/// of the sorted sample, so numbers match Maelstrom's for the same data.
/// `None` for an empty sample (Jepsen omits the figure then).
pub(crate) fn quantiles<T: Copy + Into<Value>>(sorted: &[T]) -> Option<Value> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let mut m = Map::new();
    for (name, p) in QUANTILES {
        let idx = ((n as f64 * p).floor() as usize).min(n - 1);
        m.insert(name.to_owned(), sorted[idx].into());
    }
    Some(Value::Object(m))
}

/// A compact reference to an op for evidence: enough to find it in
/// `history.jsonl` without copying possibly huge values.
pub(crate) fn op_ref(op: &Op) -> Value {
    let mut v = json!({
        "index": op.index,
        "process": op.process,
        "type": op.kind,
        "f": op.f,
    });
    if let Some(t) = op.time {
        v["time"] = Value::from(t);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_numeric_and_total() {
        let mut vs = vec![
            json!("b"),
            json!(10),
            json!(2),
            json!(-3),
            json!(2.5),
            json!(null),
            json!([1, 2]),
            json!([1]),
            json!("a"),
            json!(true),
        ];
        vs.sort_by(cmp_values);
        assert_eq!(
            vs,
            vec![
                json!(null),
                json!(true),
                json!(-3),
                json!(2),
                json!(2.5),
                json!(10),
                json!("a"),
                json!("b"),
                json!([1]),
                json!([1, 2])
            ]
        );
    }

    #[test]
    fn keys_distinguish_types_but_not_key_order() {
        assert_eq!(key(&json!(1)), key(&json!(1)));
        assert_ne!(key(&json!(1)), key(&json!("1")));
        assert_ne!(key(&json!(1)), key(&json!(1.0)));
        let a: Value = serde_json::from_str(r#"{"x":1,"y":[2,{"b":1,"a":2}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":[2,{"a":2,"b":1}],"x":1}"#).unwrap();
        assert_eq!(key(&a), key(&b));
    }

    #[test]
    fn integers_coerce_only_when_integral() {
        assert_eq!(as_integer(&json!(-4)), Some(-4));
        assert_eq!(as_integer(&json!(5.0)), Some(5));
        assert_eq!(as_integer(&json!(5.5)), None);
        assert_eq!(as_integer(&json!("5")), None);
        assert_eq!(as_integer(&json!(u64::MAX)), Some(u64::MAX as i128));
    }

    #[test]
    fn quantiles_pick_jepsen_indices() {
        let sample: Vec<u64> = (1..=10).collect();
        // floor(10 * p): 0 -> 0, 0.5 -> 5, 0.95 -> 9, 0.99 -> 9, 1 -> 10 clamped to 9.
        assert_eq!(
            quantiles(&sample).unwrap(),
            json!({"0": 1, "0.5": 6, "0.95": 10, "0.99": 10, "1": 10})
        );
        assert_eq!(quantiles::<u64>(&[]), None);
    }
}
