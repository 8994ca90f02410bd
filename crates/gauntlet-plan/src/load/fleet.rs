//! Loading a fleet file: `[defaults]` applied to each `[[node]]`, every
//! value checked at its line.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{Cx, plain_name, tidy};
use crate::NatType;
use crate::error::PlanError;
use crate::fleet::{CONNECT_TIMEOUT, Fleet, FleetNode, SshTarget};
use crate::raw::{RawFleet, RawNode, RawSsh};

/// Reads and loads the fleet file at `path`; `sets` are `--set key=value`.
pub fn load_fleet(path: &Path, sets: &[(String, String)]) -> Result<Fleet, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_fleet_str(&text, path, sets)
}

/// [`load_fleet`] from `text`; `path` is used in messages and as the base
/// of relative paths.
pub fn load_fleet_str(
    text: &str,
    path: &Path,
    sets: &[(String, String)],
) -> Result<Fleet, PlanError> {
    let raw: RawFleet = toml::from_str(text).map_err(|e| PlanError::syntax(path, text, &e))?;
    let file = std::path::absolute(path).map_err(|source| PlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let mut cx = Cx {
        path,
        text,
        dir,
        vars: BTreeMap::new(),
    };
    cx.resolve_vars(&raw.vars, sets)?;
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(cx.err(n.span(), "the fleet's `name` is empty"));
        }
        Some(n) => n.get_ref().clone(),
        None => path
            .file_stem()
            .map_or_else(|| "fleet".to_owned(), |s| s.to_string_lossy().into_owned()),
    };
    let defaults = raw.defaults.as_ref().map(Spanned::get_ref);
    let mut seen = HashSet::new();
    let mut nodes = Vec::with_capacity(raw.node.len());
    for node in &raw.node {
        let n = node.get_ref();
        cx.check_name(&n.name, "node")?;
        if !seen.insert(n.name.get_ref().clone()) {
            return Err(cx.err(
                n.name.span(),
                format!("two nodes are named \"{}\"", n.name.get_ref()),
            ));
        }
        nodes.push(cx.fleet_node(node, defaults)?);
    }
    if nodes.is_empty() {
        return Err(PlanError::Plan {
            path: path.to_owned(),
            message: "the fleet has no [[node]]".to_owned(),
        });
    }
    Ok(Fleet {
        name,
        path: file,
        nodes,
    })
}

impl Cx<'_> {
    fn fleet_node(
        &self,
        spanned: &Spanned<RawNode>,
        defaults: Option<&RawSsh>,
    ) -> Result<FleetNode, PlanError> {
        let n = spanned.get_ref();
        let name = n.name.get_ref().clone();
        let address = match &n.address {
            Some(a) => self.host_word(a, "address")?,
            None => {
                return Err(self.err(
                    spanned.span(),
                    format!(
                        "node \"{name}\" has no `address` (a host name, an IP address or an ~/.ssh/config alias)"
                    ),
                ));
            }
        };
        let fallback_address = n
            .fallback_address
            .as_ref()
            .map(|a| self.host_word(a, "fallback_address"))
            .transpose()?;
        let port = n
            .port
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.port.as_ref()))
            .map(|p| match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 => Ok(port),
                _ => Err(self.err(p.span(), "`port` is between 1 and 65535")),
            })
            .transpose()?;
        let user = n
            .user
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.user.as_ref()))
            .map(|u| {
                let user = self.expand(u)?;
                if plain_name(&user) {
                    Ok(user)
                } else {
                    Err(self.err(u.span(), format!("{user:?} is not a user name")))
                }
            })
            .transpose()?;
        let identity = n
            .identity
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.identity.as_ref()))
            .map(|p| self.local_path(p))
            .transpose()?;
        let known_hosts = n
            .known_hosts
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.known_hosts.as_ref()))
            .map(|p| self.local_path(p))
            .transpose()?;
        let connect_timeout = self.duration_or(
            n.connect_timeout
                .as_ref()
                .or_else(|| defaults.and_then(|d| d.connect_timeout.as_ref())),
            "connect_timeout",
            CONNECT_TIMEOUT,
        )?;
        let role = match &n.role {
            None => "test".to_owned(),
            Some(r) => {
                let role = self.expand(r)?;
                if role.is_empty()
                    || !role
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err(self.err(
                        r.span(),
                        format!("role {role:?} is one word: lowercase letters, digits and '-' (bootstrap, test, monitor)"),
                    ));
                }
                role
            }
        };
        let nat = match &n.nat {
            None => None,
            Some(w) if w.get_ref() == "none" || w.get_ref() == "public" => None,
            Some(w) => Some(NatType::parse(w.get_ref()).ok_or_else(|| {
                self.err(
                    w.span(),
                    format!(
                        "unknown NAT type {:?}; types are: none, {}",
                        w.get_ref(),
                        NatType::ALL.map(NatType::name).join(", ")
                    ),
                )
            })?),
        };
        let mut labels = BTreeMap::new();
        for (key, value) in &n.labels.0 {
            if !plain_name(key.get_ref()) {
                return Err(self.err(
                    key.span(),
                    format!(
                        "label {:?}: use letters, digits, '_', '.' and '-'",
                        key.get_ref()
                    ),
                ));
            }
            labels.insert(key.get_ref().clone(), self.expand(value)?);
        }
        Ok(FleetNode {
            name,
            ssh: SshTarget {
                address,
                fallback_address,
                port,
                user,
                identity,
                known_hosts,
                connect_timeout,
            },
            role,
            region: n.region.as_ref().map(|r| self.expand(r)).transpose()?,
            nat,
            labels,
        })
    }

    /// A host name, address or alias: one word that `ssh` cannot take for
    /// an option.
    fn host_word(&self, raw: &Spanned<String>, key: &str) -> Result<String, PlanError> {
        let word = self.expand(raw)?;
        if word.is_empty()
            || word.starts_with('-')
            || word.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.err(
                raw.span(),
                format!("`{key}` {word:?} is not a host name, an address or an ssh alias"),
            ));
        }
        Ok(word)
    }

    /// A path on this machine: `~/` is the user's home, a relative path is
    /// relative to the fleet file.
    fn local_path(&self, raw: &Spanned<String>) -> Result<PathBuf, PlanError> {
        let text = self.expand(raw)?;
        if let Some(rest) = text.strip_prefix("~/") {
            let Some(home) = std::env::var_os("HOME") else {
                return Err(self.err(raw.span(), "`~/` needs $HOME, which is not set"));
            };
            return Ok(PathBuf::from(home).join(rest));
        }
        if text.is_empty() {
            return Err(self.err(raw.span(), "the path is empty"));
        }
        Ok(tidy(&self.dir.join(text)))
    }
}
