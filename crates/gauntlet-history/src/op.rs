use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who performed an operation: a client process or the nemesis.
///
/// On disk a client is an integer and the nemesis is the string `"nemesis"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                match v {
                    "nemesis" => Ok(Process::Nemesis),
                    other => Err(E::custom(format!(
                        "process {other:?} is neither an integer nor \"nemesis\""
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The kind of a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation started.
    Invoke,
    /// It happened.
    Ok,
    /// It did not happen.
    Fail,
    /// It may or may not have happened; the process never completes it.
    Info,
}

impl OpType {
    pub fn is_completion(self) -> bool {
        !matches!(self, OpType::Invoke)
    }
}

/// One entry of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history. Filled from the line number when absent.
    #[serde(default)]
    pub index: u64,
    /// Nanoseconds since the run started; absent in some imported histories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: String,
    /// The independent object the operation touches, for checkers that split by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Marks operations of a run's final phase (after faults healed), such as
    /// the final reads of a counter or set workload.
    #[serde(default, rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub is_final: bool,
}

impl Op {
    /// A client invocation; `index` and `time` are set by whoever records it.
    pub fn invoke(process: u64, f: impl Into<String>, value: Value) -> Op {
        Op {
            index: 0,
            time: None,
            process: Process::Client(process),
            kind: OpType::Invoke,
            f: f.into(),
            key: None,
            value,
            error: None,
            is_final: false,
        }
    }

    /// The completion of `self` (an invoke) with the given type and value.
    pub fn complete(&self, kind: OpType, value: Value) -> Op {
        Op {
            index: 0,
            time: None,
            process: self.process,
            kind,
            f: self.f.clone(),
            key: self.key.clone(),
            value,
            error: None,
            is_final: self.is_final,
        }
    }

    /// A nemesis event (a fault or a heal) for the timeline.
    pub fn nemesis(f: impl Into<String>, value: Value) -> Op {
        Op {
            index: 0,
            time: None,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: f.into(),
            key: None,
            value,
            error: None,
            is_final: false,
        }
    }

    pub fn with_error(mut self, error: Value) -> Op {
        self.error = Some(error);
        self
    }

    pub fn is_client(&self) -> bool {
        matches!(self.process, Process::Client(_))
    }
}
