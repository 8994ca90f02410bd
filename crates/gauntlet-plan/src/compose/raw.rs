//! A Compose file as written: serde structs over `serde-saphyr`, with
//! `Spanned` on every value a later check points at.
//!
//! Unknown keys are not rejected here: [`KeyLines`] reads each mapping's
//! keys with their lines in a pass of its own, and the importer decides
//! per key (used, a warning, or an error naming the line). Values that
//! take several shapes (a string or a list, a list or a map) are untagged
//! enums wrapped in `Spanned`: the wrapper keeps the value's line, which
//! is as close as an error about it needs to point.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
pub(super) struct RawComposeFile {
    pub name: Option<Spanned<String>>,
    pub services: Option<Spanned<Ordered<Spanned<RawComposeService>>>>,
    pub volumes: Option<Ordered<Option<Spanned<RawTopVolume>>>>,
    pub networks: Option<Ordered<Option<Spanned<RawTopNetwork>>>>,
}

/// One entry of `services:`. Keys this struct does not name are judged
/// from [`KeyLines`].
#[derive(Debug, Deserialize)]
pub(super) struct RawComposeService {
    pub image: Option<Spanned<String>>,
    pub build: Option<Spanned<RawBuild>>,
    pub command: Option<Spanned<StringOrList>>,
    pub entrypoint: Option<Spanned<StringOrList>>,
    pub environment: Option<Spanned<ListOrMap>>,
    pub env_file: Option<Spanned<StringOrList>>,
    pub ports: Option<Vec<Spanned<RawPort>>>,
    pub volumes: Option<Vec<Spanned<RawVolume>>>,
    pub networks: Option<Spanned<RawServiceNetworks>>,
    pub mem_limit: Option<Spanned<Scalar>>,
    pub depends_on: Option<Spanned<RawDependsOn>>,
    pub healthcheck: Option<Spanned<RawHealthcheck>>,
    pub restart: Option<Spanned<String>>,
    pub stop_grace_period: Option<Spanned<String>>,
    pub working_dir: Option<Spanned<String>>,
    pub user: Option<Spanned<Scalar>>,
}

/// `build: ./dir` or `build: { context, dockerfile, args }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawBuild {
    Context(String),
    Full(RawBuildTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuildTable {
    pub context: Option<String>,
    pub dockerfile: Option<String>,
    pub args: Option<ListOrMap>,
}

/// `ports:` entries: `"8080:80"`, `8080` (a lone container port), or the
/// long form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawPort {
    Short(Scalar),
    Long(RawPortTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPortTable {
    pub target: u16,
    pub published: Option<Scalar>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
    /// Swarm's routing mode and a port's label: nothing under gauntlet.
    #[serde(rename = "mode")]
    pub _mode: Option<IgnoredAny>,
    #[serde(rename = "name")]
    pub _name: Option<IgnoredAny>,
}

/// `volumes:` entries: `"data:/var/lib/x:ro"` or the long form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawVolume {
    Short(String),
    Long(RawVolumeTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVolumeTable {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

/// A service's `networks:`: a list of names, or a map of name to
/// `{ aliases }` (or nothing).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<RawServiceNetwork>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServiceNetwork {
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// `depends_on:` as a list of names or a map of name to condition.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawDependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, RawDependency>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDependency {
    pub condition: Option<String>,
    /// Compose restarts the dependent when this one is restarted by an
    /// explicit `docker compose` command; gauntlet has no such command.
    pub restart: Option<bool>,
    pub required: Option<bool>,
}

/// `healthcheck:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealthcheck {
    pub test: Option<StringOrList>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    #[serde(default)]
    pub disable: bool,
}

/// A top-level `volumes:` entry (`data:` with nothing is a plain one).
#[derive(Debug, Deserialize)]
pub(super) struct RawTopVolume {
    pub external: Option<Scalar>,
    pub driver: Option<String>,
    pub driver_opts: Option<IgnoredAny>,
    pub name: Option<String>,
}

/// A top-level `networks:` entry.
#[derive(Debug, Deserialize)]
pub(super) struct RawTopNetwork {
    pub external: Option<Scalar>,
    pub driver: Option<String>,
    pub internal: Option<bool>,
    pub name: Option<String>,
}

/// A string, or a list of strings (`command`, `entrypoint`, `env_file`,
/// a healthcheck's `test`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum StringOrList {
    String(String),
    List(Vec<String>),
}

/// `KEY=VALUE` strings, or a map whose values may be numbers, booleans
/// or nothing (`environment`, build `args`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum ListOrMap {
    List(Vec<String>),
    Map(BTreeMap<String, Option<Scalar>>),
}

/// A YAML scalar read as the text it stands for: `64m`, `8080`, `true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A mapping in the file's order, each key with its line.
#[derive(Debug)]
pub(super) struct Ordered<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

/// Every key of a mapping with its line, values unread.
#[derive(Debug, Default)]
pub(super) struct KeyLines(pub Vec<(String, u64)>);

impl<'de> Deserialize<'de> for KeyLines {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = KeyLines;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyLines, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push((key.value, key.referenced.line()));
                }
                Ok(KeyLines(keys))
            }
            // `services:` with nothing under it.
            fn visit_unit<E: de::Error>(self) -> Result<KeyLines, E> {
                Ok(KeyLines::default())
            }
        }
        deserializer.deserialize_any(KeysVisitor)
    }
}

/// The keys of the file's top level and of each service, with their
/// lines: what the importer judges unknown keys by.
#[derive(Debug, Default)]
pub(super) struct KeyLinesFlat {
    pub top: Vec<(String, u64)>,
    pub services: Vec<(String, KeyLines)>,
}

impl<'de> Deserialize<'de> for KeyLinesFlat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = KeyLinesFlat;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Compose file (a mapping with `services:`)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyLinesFlat, A::Error> {
                let mut out = KeyLinesFlat::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if key.value == "services" {
                        let services: Option<Ordered<KeyLines>> = map.next_value()?;
                        out.services = services
                            .map(|s| s.0.into_iter().map(|(k, v)| (k.value, v)).collect())
                            .unwrap_or_default();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                    out.top.push((key.value, key.referenced.line()));
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(TopVisitor)
    }
}
