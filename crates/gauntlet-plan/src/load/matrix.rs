//! `kind = "matrix"` stages: a connectivity matrix over lab hosts.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::Cx;
use crate::error::PlanError;
use crate::raw::RawStage;
use crate::template::{Syntax, references};
use crate::{Command, LabSpec, MATRIX_CATEGORIES, MatrixStage};

const ATTEMPTS: u32 = 3;
const COOL_OFF: Duration = Duration::from_millis(500);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// What `connect` may refer to.
const MATRIX_VARS: [&str; 3] = ["from", "to", "to_addr"];

impl Cx<'_> {
    pub(super) fn matrix(
        &self,
        spanned: &Spanned<RawStage>,
        lab: Option<&LabSpec>,
    ) -> Result<MatrixStage, PlanError> {
        let s = spanned.get_ref();
        let Some(lab) = lab else {
            return Err(self.err(
                s.kind.span(),
                "a matrix stage runs on lab hosts, and this plan has no lab ([[segment]] and [[host]] tables)",
            ));
        };
        let hosts = match &s.hosts {
            None => lab.hosts.iter().map(|h| h.name.clone()).collect(),
            Some(list) => {
                let mut hosts: Vec<String> = Vec::new();
                for h in list.get_ref() {
                    self.lab_host(lab, h)?;
                    if hosts.contains(h.get_ref()) {
                        return Err(
                            self.err(h.span(), format!("{:?} is listed twice", h.get_ref()))
                        );
                    }
                    hosts.push(h.get_ref().clone());
                }
                hosts
            }
        };
        if hosts.len() < 2 {
            let span = s.hosts.as_ref().map_or(spanned.span(), Spanned::span);
            return Err(self.err(span, "a matrix needs at least two hosts"));
        }
        let connect = s.connect.as_ref().ok_or_else(|| {
            self.err(
                spanned.span(),
                "a matrix stage needs `connect`: the command run on {{from}} to reach {{to}} at {{to_addr}}",
            )
        })?;
        let command = self.command_line(connect)?;
        let text = match &command {
            crate::CommandLine::Shell(line) => line.clone(),
            crate::CommandLine::Argv(argv) => argv.join(" "),
        };
        let refs = references(&text, Syntax::RUN)
            .map_err(|e| self.err(connect.span(), format!("`connect`: {e}")))?;
        if let Some(bad) = refs.iter().find(|r| !MATRIX_VARS.contains(r)) {
            return Err(self.err(
                connect.span(),
                format!("`connect` refers to {{{{{bad}}}}}; it may use {{{{from}}}}, {{{{to}}}} and {{{{to_addr}}}}"),
            ));
        }
        let attempts = match &s.attempts {
            None => ATTEMPTS,
            Some(n) if (1..=1000).contains(n.get_ref()) => *n.get_ref() as u32,
            Some(n) => return Err(self.err(n.span(), "`attempts` is from 1 to 1000")),
        };
        let mut thresholds: BTreeMap<String, f64> = MATRIX_CATEGORIES
            .iter()
            .map(|(c, t)| ((*c).to_owned(), *t))
            .collect();
        if let Some(table) = &s.thresholds {
            for (key, value) in &table.get_ref().0 {
                if !thresholds.contains_key(key.get_ref()) {
                    return Err(self.err(
                        key.span(),
                        format!(
                            "unknown category {:?}; the categories are direct, nat-traversed and relayed",
                            key.get_ref()
                        ),
                    ));
                }
                let percent = match value.get_ref() {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    other => {
                        return Err(self.err(
                            value.span(),
                            format!(
                                "a threshold is a percentage such as 85, not {}",
                                other.type_str()
                            ),
                        ));
                    }
                };
                if !(0.0..=100.0).contains(&percent) {
                    return Err(self.err(value.span(), "a threshold is a percentage from 0 to 100"));
                }
                thresholds.insert(key.get_ref().clone(), percent);
            }
        }
        Ok(MatrixStage {
            hosts,
            connect: Command {
                command,
                cwd: self.cwd(s.cwd.as_ref(), &self.dir)?,
                env: s
                    .env
                    .as_ref()
                    .map_or(Ok(BTreeMap::new()), |e| self.env(e.get_ref()))?,
            },
            attempts,
            cool_off: self.duration_or(s.cool_off.as_ref(), "cool_off", COOL_OFF)?,
            timeout: self.duration_or(s.timeout.as_ref(), "timeout", ATTEMPT_TIMEOUT)?,
            thresholds,
        })
    }
}
