use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A checker's verdict.
///
/// Three values, not a bool, because "could not decide" must never be
/// confused with "passed": a checker that saw nothing to check, or a history
/// too malformed to judge, says `Unknown`. On the wire it is Jepsen's
/// `true` / `false` / `"unknown"`.
///
/// The derived order is by severity (`Valid < Unknown < Invalid`), so the
/// verdict of several checks is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Validity {
    /// Every property held.
    Valid,
    /// The checker could not decide; treat as "not proven", never as a pass.
    Unknown,
    /// Some property was violated; the result's evidence says which.
    Invalid,
}

impl Validity {
    /// Combines two verdicts the way a run combines its checks: false beats
    /// unknown beats true.
    pub fn worst(a: Validity, b: Validity) -> Validity {
        a.max(b)
    }

    /// The combined verdict of many checks. Empty input is `Valid`, as in
    /// Jepsen's `merge-valid`: combining nothing asserts nothing.
    pub fn worst_of<I: IntoIterator<Item = Validity>>(all: I) -> Validity {
        all.into_iter().fold(Validity::Valid, Validity::worst)
    }

    /// True only for `Valid`, so `Unknown` cannot sneak through an `if`.
    pub fn is_valid(self) -> bool {
        self == Validity::Valid
    }

    /// The process exit code Gauntlet promises for this verdict (Jepsen's):
    /// 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

impl From<bool> for Validity {
    fn from(ok: bool) -> Validity {
        if ok {
            Validity::Valid
        } else {
            Validity::Invalid
        }
    }
}

impl std::fmt::Display for Validity {
    /// The same words as the JSON form, so logs and files agree.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Validity::Valid => "true",
            Validity::Invalid => "false",
            Validity::Unknown => "unknown",
        })
    }
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Validity;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or \"unknown\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Validity, E> {
                Ok(v.into())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Validity, E> {
                match v {
                    "unknown" => Ok(Validity::Unknown),
                    other => Err(E::custom(format!(
                        "validity {other:?} is none of true, false, \"unknown\""
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::Validity::{self, *};

    #[test]
    fn worst_prefers_false_then_unknown() {
        let all = [Valid, Unknown, Invalid];
        for a in all {
            for b in all {
                let w = Validity::worst(a, b);
                let expected = if a == Invalid || b == Invalid {
                    Invalid
                } else if a == Unknown || b == Unknown {
                    Unknown
                } else {
                    Valid
                };
                assert_eq!(w, expected, "worst({a:?}, {b:?})");
            }
        }
        assert_eq!(Validity::worst_of([]), Valid);
        assert_eq!(Validity::worst_of([Valid, Unknown, Valid]), Unknown);
        assert_eq!(Validity::worst_of([Unknown, Invalid, Valid]), Invalid);
    }

    #[test]
    fn json_round_trip() {
        for (v, text) in [
            (Valid, "true"),
            (Invalid, "false"),
            (Unknown, "\"unknown\""),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), text);
            assert_eq!(serde_json::from_str::<Validity>(text).unwrap(), v);
        }
        assert!(serde_json::from_str::<Validity>("\"maybe\"").is_err());
        assert!(serde_json::from_str::<Validity>("1").is_err());
    }

    #[test]
    fn exit_codes_follow_jepsen() {
        assert_eq!(Valid.exit_code(), 0);
        assert_eq!(Invalid.exit_code(), 1);
        assert_eq!(Unknown.exit_code(), 2);
        assert!(!Unknown.is_valid());
    }
}
