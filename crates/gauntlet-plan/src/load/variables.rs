//! `[vars]` and `--set`: definitions that may use each other, expanded
//! once so every later string sees final values.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::Cx;
use crate::error::PlanError;
use crate::raw::Entries;
use crate::vars::{DATA_DIR, DATA_DIR_PLACEHOLDER, PLAN_DIR, references, substitute, valid_name};

/// One `[vars]` definition before expansion; `span` is `None` for `--set`.
struct VarDef {
    template: String,
    span: Option<Range<usize>>,
}

impl Cx<'_> {
    /// Reads `[vars]`, applies `--set`, and expands variables that use
    /// other variables. Returns the plan's own variables (without
    /// `plan_dir`); `self.vars` gets all of them.
    pub(super) fn resolve_vars(
        &mut self,
        raw: &Entries<Spanned<toml::Value>>,
        sets: &[(String, String)],
    ) -> Result<BTreeMap<String, String>, PlanError> {
        let mut defs = BTreeMap::new();
        for (key, value) in &raw.0 {
            let name = key.get_ref();
            if !valid_name(name) {
                return Err(self.err(
                    key.span(),
                    format!("invalid variable name {name:?}: use letters, digits and _"),
                ));
            }
            if name == PLAN_DIR || name == DATA_DIR {
                return Err(self.err(key.span(), built_in(name)));
            }
            let template = match value.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(self.err(
                        value.span(),
                        format!(
                            "variable \"{name}\" must be a string or a number, not {}",
                            other.type_str()
                        ),
                    ));
                }
            };
            defs.insert(
                name.clone(),
                VarDef {
                    template,
                    span: Some(value.span()),
                },
            );
        }
        for (key, value) in sets {
            if let Some(def) = defs.get_mut(key) {
                *def = VarDef {
                    template: value.clone(),
                    span: None,
                };
                continue;
            }
            let message = if key == PLAN_DIR || key == DATA_DIR {
                built_in(key)
            } else if defs.is_empty() {
                "the plan has no [vars] to set".to_owned()
            } else {
                format!(
                    "unknown variable; the plan's variables are: {}",
                    defs.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(PlanError::option(format!("--set {key}: {message}")));
        }

        let mut known: Vec<String> = defs.keys().cloned().collect();
        known.push(PLAN_DIR.to_owned());
        known.push(DATA_DIR.to_owned());
        known.sort();
        self.vars
            .insert(PLAN_DIR.to_owned(), self.dir.to_string_lossy().into_owned());
        self.vars
            .insert(DATA_DIR.to_owned(), DATA_DIR_PLACEHOLDER.to_owned());
        for name in defs.keys() {
            self.resolve_var(name, &defs, &known, &mut Vec::new())?;
        }
        let mut own = self.vars.clone();
        own.remove(PLAN_DIR);
        own.remove(DATA_DIR);
        Ok(own)
    }

    fn resolve_var(
        &mut self,
        name: &str,
        defs: &BTreeMap<String, VarDef>,
        known: &[String],
        stack: &mut Vec<String>,
    ) -> Result<(), PlanError> {
        if self.vars.contains_key(name) {
            return Ok(());
        }
        let Some(def) = defs.get(name) else {
            return Ok(()); // undefined: reported by `substitute` below
        };
        let fail = |cx: &Self, message: String| match &def.span {
            Some(span) => cx.err(span.clone(), format!("in variable \"{name}\": {message}")),
            None => PlanError::option(format!("--set {name}={}: {message}", def.template)),
        };
        if let Some(at) = stack.iter().position(|n| n == name) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(name.to_owned());
            let message = format!("variables refer to each other: {}", cycle.join(" → "));
            let last = stack.last().map_or(name, String::as_str);
            return Err(match defs.get(last).and_then(|d| d.span.clone()) {
                Some(span) => self.err(span, message),
                None => PlanError::option(format!("--set {last}: {message}")),
            });
        }
        let refs: Vec<String> = references(&def.template)
            .map_err(|e| fail(self, e.describe(known)))?
            .into_iter()
            .map(str::to_owned)
            .collect();
        stack.push(name.to_owned());
        for r in &refs {
            self.resolve_var(r, defs, known, stack)?;
        }
        stack.pop();
        let value =
            substitute(&def.template, &self.vars).map_err(|e| fail(self, e.describe(known)))?;
        self.vars.insert(name.to_owned(), value);
        Ok(())
    }
}

/// Why a built-in variable cannot be set.
fn built_in(name: &str) -> String {
    let what = if name == PLAN_DIR {
        "the plan's directory"
    } else {
        "each service's data directory, filled in when it starts"
    };
    format!("`{name}` is built in ({what}) and cannot be set")
}
