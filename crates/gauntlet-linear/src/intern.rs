//! Interning JSON values to small integers, so model steps compare `u32`s
//! instead of walking `serde_json::Value`s.

use rustc_hash::FxHashMap;
use serde_json::Value;

/// Maps JSON values to dense ids (`0..len`) and back. Two values get the same
/// id exactly when they are the same JSON value (objects compare with their
/// keys sorted; `1` and `1.0` are different values). `null` is always id
/// [`Interner::NULL`].
#[derive(Debug, Clone)]
pub struct Interner {
    ints: FxHashMap<i64, u32>,
    strs: FxHashMap<Box<str>, u32>,
    other: FxHashMap<String, u32>,
    values: Vec<Value>,
}

impl Default for Interner {
    fn default() -> Interner {
        let mut i = Interner {
            ints: FxHashMap::default(),
            strs: FxHashMap::default(),
            other: FxHashMap::default(),
            values: Vec::new(),
        };
        i.intern(&Value::Null);
        i
    }
}

impl Interner {
    /// The id of `null`.
    pub const NULL: u32 = 0;

    /// The id of `v`, adding it if new.
    pub fn intern(&mut self, v: &Value) -> u32 {
        if let Some(id) = self.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        match v {
            Value::Number(n) if n.as_i64().is_some() => {
                self.ints.insert(n.as_i64().unwrap_or(0), id);
            }
            Value::String(s) => {
                self.strs.insert(s.as_str().into(), id);
            }
            other => {
                self.other.insert(canonical(other), id);
            }
        }
        self.values.push(v.clone());
        id
    }

    /// The id of `v` if it was interned.
    pub fn get(&self, v: &Value) -> Option<u32> {
        match v {
            Value::Number(n) if n.as_i64().is_some() => self.ints.get(&n.as_i64()?).copied(),
            Value::String(s) => self.strs.get(s.as_str()).copied(),
            other => self.other.get(&canonical(other)).copied(),
        }
    }

    /// The value behind an id.
    ///
    /// # Panics
    /// If `id` was not handed out by this interner.
    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// How many distinct values are interned (`null` included).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Never true: `null` is always interned.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// JSON text with object keys sorted, so equal values have equal text
/// whatever map flavour serde_json was built with.
pub(crate) fn canonical(v: &Value) -> String {
    let mut s = String::new();
    write_canonical(v, &mut s);
    s
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(x, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A short human form of a JSON value for explanations: strings longer than
/// `max` characters keep their start and end around an ellipsis.
pub(crate) fn short(v: &Value, max: usize) -> String {
    let text = v.to_string();
    shorten(&text, max)
}

pub(crate) fn shorten(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(n - (max - max / 2 - 1)).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_dense_and_round_trip() {
        let mut i = Interner::default();
        assert_eq!(i.intern(&json!(null)), Interner::NULL);
        let a = i.intern(&json!(3));
        let b = i.intern(&json!("3"));
        let c = i.intern(&json!({"b": 1, "a": [1, 2]}));
        let d = i.intern(&json!(3.0));
        assert_eq!(
            [a, b, c, d]
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            4
        );
        assert_eq!(i.intern(&json!(3)), a);
        assert_eq!(i.get(&json!({"a": [1, 2], "b": 1})), Some(c));
        assert_eq!(i.value(b), &json!("3"));
        assert_eq!(i.len(), 5);
        assert_eq!(i.get(&json!(4)), None);
    }

    #[test]
    fn shorten_keeps_both_ends() {
        assert_eq!(shorten("abcdef", 10), "abcdef");
        let s = shorten("abcdefghijklmnopqrstuvwxyz", 10);
        assert_eq!(s.chars().count(), 10);
        assert!(s.starts_with("abcde") && s.ends_with("wxyz"), "{s}");
    }
}
