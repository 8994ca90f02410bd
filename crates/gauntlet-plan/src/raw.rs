//! The plan file as written: serde structs that mirror the TOML, with
//! `Spanned` wherever a later check needs to point at a line and column.
//!
//! Every table denies unknown keys, so a typo (`depend_on`) is an error
//! at the key instead of a silently ignored setting. Fields that take
//! several shapes (a command as a string or an array, a test as a command
//! or a table) have hand-written visitors rather than `#[serde(untagged)]`:
//! untagged enums buffer their input, which loses the spans inside.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

mod cluster;
mod fleet;
mod lab;
mod notify;
mod soak;

pub(crate) use cluster::*;
pub(crate) use fleet::*;
pub(crate) use lab::*;
pub(crate) use notify::*;
pub(crate) use soak::*;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlan {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    /// A fleet file whose nodes `host` and `on` name (relative to the plan).
    pub fleet: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: Entries<Spanned<toml::Value>>,
    #[serde(default)]
    pub service: Vec<Spanned<RawService>>,
    #[serde(default)]
    pub stage: Vec<Spanned<RawStage>>,
    // The soak sections (see `raw/soak.rs`).
    pub soak: Option<Spanned<RawSoak>>,
    pub users: Option<Spanned<RawUsers>>,
    pub readback: Option<Spanned<RawReadback>>,
    #[serde(default)]
    pub fault: Vec<Spanned<RawFault>>,
    pub proxy: Option<Spanned<Entries<Spanned<RawProxy>>>>,
    pub observer: Option<Spanned<RawObserver>>,
    pub invariants: Option<Spanned<RawInvariants>>,
    // The network lab (see `raw/lab.rs`).
    #[serde(default)]
    pub segment: Vec<Spanned<RawSegment>>,
    #[serde(default)]
    pub link: Vec<Spanned<RawLink>>,
    #[serde(default)]
    pub nat: Vec<Spanned<RawNat>>,
    #[serde(default)]
    pub host: Vec<Spanned<RawHost>>,
    pub management: Option<Spanned<RawManagement>>,
    // A cluster test (see `raw/cluster.rs`).
    pub workload: Option<Spanned<RawWorkload>>,
    pub nemesis: Option<Spanned<RawNemesis>>,
    #[serde(default)]
    pub check: Vec<Spanned<RawCheck>>,
    /// Services from a Compose file.
    pub compose: Option<Spanned<RawCompose>>,
    /// The devices destructive stages may name.
    pub allowed_devices: Option<Spanned<Vec<Spanned<String>>>>,
    /// The sensor sampler.
    pub sensors: Option<Spanned<RawSensors>>,
    /// Who is told what happens (see `raw/notify.rs`).
    #[serde(default)]
    pub notify: Vec<Spanned<RawNotify>>,
}

/// `[sensors]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSensors {
    pub interval: Option<Spanned<toml::Value>>,
    pub root: Option<Spanned<String>>,
}

/// `[stage.requires]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequires {
    pub programs: Option<Vec<Spanned<String>>>,
    pub paths: Option<Vec<Spanned<String>>>,
    pub sensors: Option<Vec<Spanned<String>>>,
    pub command: Option<Spanned<RawCommandLine>>,
}

/// `[compose]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompose {
    pub file: Spanned<String>,
    pub project: Option<Spanned<String>>,
    /// Images the file names that the run builds instead of finding:
    /// `"shop-api:dev" = { binary = "..." }` (nothing is pulled).
    #[serde(default)]
    pub images: Entries<Spanned<RawBuild>>,
}

impl RawPlan {
    pub(crate) fn lab(&self) -> RawLab<'_> {
        RawLab {
            segment: &self.segment,
            link: &self.link,
            nat: &self.nat,
            host: &self.host,
            management: self.management.as_ref(),
        }
    }
}

/// One `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub name: Spanned<String>,
    pub command: Option<Spanned<RawCommandLine>>,
    pub cwd: Option<Spanned<String>>,
    #[serde(default)]
    pub env: Entries<Spanned<String>>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    pub restart: Option<RawRestart>,
    pub stop_timeout: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub tests: Vec<Spanned<RawTest>>,
    pub health: Option<Spanned<RawHealth>>,
    pub host: Option<Spanned<String>>,
    /// One instance per lab host: `<name>-<host>`, with `${host}`,
    /// `${addr}` and `${addrs}` filled in.
    pub on: Option<Spanned<Vec<Spanned<String>>>>,
    pub limits: Option<RawLimits>,
    /// `"local"` (the default) or `"docker"`.
    pub backend: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub build: Option<Spanned<RawBuild>>,
    pub ports: Option<Spanned<Vec<Spanned<String>>>>,
    pub mem_limit: Option<Spanned<toml::Value>>,
    pub volumes: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `build = { binary = "...", args = [...] }` or
/// `build = { context = "...", dockerfile = "...", args = { K = "v" } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuild {
    pub binary: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    pub dockerfile: Option<Spanned<String>>,
    /// The executable's arguments (an array) for `binary`; `ARG` values
    /// (a table) for `context`.
    pub args: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawRestart {
    Never,
    OnFailure,
    Always,
}

/// `[service.health]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub http: Option<Spanned<String>>,
    pub status: Option<Spanned<u16>>,
    pub tcp: Option<Spanned<String>>,
    pub command: Option<Spanned<RawCommandLine>>,
    /// A program and its arguments run inside the service's container.
    pub exec: Option<Spanned<Vec<Spanned<String>>>>,
    pub timeout: Option<Spanned<toml::Value>>,
    pub interval: Option<Spanned<toml::Value>>,
    pub max_interval: Option<Spanned<toml::Value>>,
    pub jitter: Option<Spanned<f64>>,
    pub probe_timeout: Option<Spanned<toml::Value>>,
    pub warn_p95: Option<Spanned<toml::Value>>,
}

/// `[service.limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_rss: Option<Spanned<toml::Value>>,
    pub max_cpu: Option<Spanned<f64>>,
    pub max_restarts: Option<u32>,
    pub rss_growth_warn_pct: Option<Spanned<f64>>,
}

/// One `[[stage]]`. Flat: which keys a kind allows is checked after
/// parsing, so the error can name the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub name: Option<Spanned<String>>,
    pub kind: Spanned<String>,
    // up, down
    pub services: Option<Spanned<Vec<Spanned<String>>>>,
    // command
    pub command: Option<Spanned<RawCommandLine>>,
    // check
    pub program: Option<Spanned<RawCommandLine>>,
    pub checker: Option<Spanned<String>>,
    pub history: Option<Spanned<String>>,
    pub cwd: Option<Spanned<String>>,
    pub env: Option<Spanned<Entries<Spanned<String>>>>,
    pub timeout: Option<Spanned<toml::Value>>,
    pub expect_exit: Option<Spanned<i32>>,
    pub expect_stdout: Option<Spanned<String>>,
    /// `[[stage.figure]]`: numbers read from its stdout, judged.
    pub figure: Option<Spanned<Vec<Spanned<RawFigure>>>>,
    // wait
    pub duration: Option<Spanned<toml::Value>>,
    // cycle
    pub modules: Option<Spanned<Vec<Spanned<String>>>>,
    pub cycles: Option<Spanned<u32>>,
    // probe
    pub expected: Option<Spanned<Entries<Spanned<RawExpected>>>>,
    // matrix
    pub hosts: Option<Spanned<Vec<Spanned<String>>>>,
    pub connect: Option<Spanned<RawCommandLine>>,
    pub attempts: Option<Spanned<i64>>,
    pub cool_off: Option<Spanned<toml::Value>>,
    pub thresholds: Option<Spanned<Entries<Spanned<toml::Value>>>>,
    // any kind
    pub requires: Option<Spanned<RawRequires>>,
    pub max_temp_c: Option<Spanned<f64>>,
    // command
    pub destructive: Option<Spanned<bool>>,
    pub devices: Option<Spanned<Vec<Spanned<String>>>>,
}

impl RawStage {
    /// The keys that are set, with their spans, for the "not allowed in
    /// this kind" check.
    pub fn present_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        fn span<T>(s: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
            s.as_ref().map(Spanned::span)
        }
        [
            ("services", span(&self.services)),
            ("command", span(&self.command)),
            ("program", span(&self.program)),
            ("checker", span(&self.checker)),
            ("history", span(&self.history)),
            ("cwd", span(&self.cwd)),
            ("env", span(&self.env)),
            ("timeout", span(&self.timeout)),
            ("expect_exit", span(&self.expect_exit)),
            ("expect_stdout", span(&self.expect_stdout)),
            ("figure", span(&self.figure)),
            ("duration", span(&self.duration)),
            ("modules", span(&self.modules)),
            ("cycles", span(&self.cycles)),
            ("expected", span(&self.expected)),
            ("hosts", span(&self.hosts)),
            ("connect", span(&self.connect)),
            ("attempts", span(&self.attempts)),
            ("cool_off", span(&self.cool_off)),
            ("thresholds", span(&self.thresholds)),
            ("destructive", span(&self.destructive)),
            ("devices", span(&self.devices)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
    }
}

/// A command: a string (`sh -c`) or an array (argv). The caller wraps it in
/// `Spanned` for the string's position; argv elements carry their own.
#[derive(Debug)]
pub(crate) enum RawCommandLine {
    Shell(String),
    Argv(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawCommandLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CommandLineVisitor)
    }
}

struct CommandLineVisitor;

impl<'de> Visitor<'de> for CommandLineVisitor {
    type Value = RawCommandLine;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a command: a string (run with sh -c) or an array of strings (program and arguments)",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawCommandLine::Shell(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut argv = Vec::new();
        while let Some(arg) = seq.next_element::<Spanned<String>>()? {
            argv.push(arg);
        }
        if argv.is_empty() {
            return Err(de::Error::custom(
                "a command array needs at least the program",
            ));
        }
        Ok(RawCommandLine::Argv(argv))
    }
}

/// A `tests` entry: a bare command, or a table with a name and expectations.
#[derive(Debug)]
pub(crate) enum RawTest {
    Line(RawCommandLine),
    Table(Box<RawTestTable>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTestTable {
    pub name: Option<Spanned<String>>,
    pub command: Option<Spanned<RawCommandLine>>,
    pub cwd: Option<Spanned<String>>,
    #[serde(default)]
    pub env: Entries<Spanned<String>>,
    pub timeout: Option<Spanned<toml::Value>>,
    pub expect_exit: Option<i32>,
    pub expect_stdout: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TestVisitor)
    }
}

struct TestVisitor;

impl<'de> Visitor<'de> for TestVisitor {
    type Value = RawTest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a test: a command string, an array of strings, or a table with `command`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        CommandLineVisitor.visit_str(v).map(RawTest::Line)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        CommandLineVisitor.visit_seq(seq).map(RawTest::Line)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        RawTestTable::deserialize(MapAccessDeserializer::new(map))
            .map(|t| RawTest::Table(Box::new(t)))
    }
}

/// A `[[stage.figure]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFigure {
    pub name: Spanned<String>,
    /// A JSON pointer into stdout (`/jobs/0/read/iops`).
    pub json: Option<Spanned<String>>,
    /// A regex over stdout whose first capture group is the number.
    pub regex: Option<Spanned<String>>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub equals: Option<Spanned<toml::Value>>,
    pub severity: Option<RawSeverity>,
    pub unit: Option<Spanned<String>>,
}

/// A `[stage.expected]` entry: a plain value (equals) or a check table.
#[derive(Debug)]
pub(crate) enum RawExpected {
    Equals(toml::Value),
    Table(RawExpectTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectTable {
    pub equals: Option<Spanned<toml::Value>>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub contains: Option<Spanned<String>>,
    pub severity: Option<RawSeverity>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawSeverity {
    Critical,
    Warning,
    Info,
}

impl<'de> Deserialize<'de> for RawExpected {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExpectedVisitor)
    }
}

struct ExpectedVisitor;

impl<'de> Visitor<'de> for ExpectedVisitor {
    type Value = RawExpected;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value to equal, or a table with one of equals, min, max, contains")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(RawExpected::Equals(toml::Value::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(RawExpected::Equals(toml::Value::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(|v| RawExpected::Equals(toml::Value::Integer(v)))
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(RawExpected::Equals(toml::Value::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawExpected::Equals(toml::Value::String(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        toml::Value::deserialize(SeqAccessDeserializer::new(seq)).map(RawExpected::Equals)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        RawExpectTable::deserialize(MapAccessDeserializer::new(map)).map(RawExpected::Table)
    }
}

/// A table with free-form keys (`[vars]`, `env`, `expected`), kept as a
/// list of spanned keys in file order. The parser hands keys over sorted,
/// so the order is restored from the spans.
#[derive(Debug)]
pub(crate) struct Entries<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntriesVisitor(PhantomData))
    }
}

struct EntriesVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
    type Value = Entries<V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<V>()?;
            entries.push((key, value));
        }
        entries.sort_by_key(|(k, _)| k.span().start);
        Ok(Entries(entries))
    }
}
