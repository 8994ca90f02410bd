//! `[compose]`: the services of a Compose file, and the `[[service]]`
//! tables that add gauntlet's own keys (tests, limits, a health check) to
//! one of them.

use toml::Spanned;

use super::{Cx, tidy};
use crate::compose::display_command;
use crate::compose::{Imported, import, valid_project};
use crate::error::PlanError;
use crate::raw::{RawCompose, RawService};
use crate::{ImageSource, RestartPolicy, Service};

impl Cx<'_> {
    /// Reads the Compose file `[compose]` names (relative to the plan).
    pub(super) fn compose(&self, raw: &Spanned<RawCompose>) -> Result<Imported, PlanError> {
        let c = raw.get_ref();
        let file = self.expand(&c.file)?;
        let path = tidy(&self.dir.join(&file));
        if !path.is_file() {
            return Err(self.err(
                c.file.span(),
                format!("no Compose file at {}", path.display()),
            ));
        }
        let project = match &c.project {
            None => None,
            Some(p) => {
                let name = self.expand(p)?;
                if !valid_project(&name) {
                    return Err(self.err(
                        p.span(),
                        format!(
                            "project name {name:?}: use lowercase letters, digits, '-' and '_' (as Compose does)"
                        ),
                    ));
                }
                Some(name)
            }
        };
        // Messages name the file as a user finds it from where they ran.
        let shown = self
            .path
            .parent()
            .map_or_else(|| path.clone(), |p| p.join(&file));
        let mut imported = import(&path, &shown, project.as_deref(), &self.vars)?;
        // `[compose.images]`: the run builds these instead of finding them.
        for (tag, build) in &c.images.0 {
            let source = self.build(build)?;
            let mut used = false;
            for service in &mut imported.services {
                if let Some(container) = &mut service.container
                    && container.image == ImageSource::Local(tag.get_ref().clone())
                {
                    container.image = source.clone();
                    service.run.command = display_command(container);
                    used = true;
                }
            }
            if !used {
                return Err(self.err(
                    tag.span(),
                    format!(
                        "no service of {} has `image: {}`",
                        shown.display(),
                        tag.get_ref()
                    ),
                ));
            }
        }
        Ok(imported)
    }

    /// A `[[service]]` naming a Compose service: its tests, limits, health
    /// check, stop timeout and restart policy join the imported service.
    /// Anything that says how to run it belongs in the Compose file.
    pub(super) fn extend_imported(
        &self,
        spanned: &Spanned<RawService>,
        service: &mut Service,
        compose: &Imported,
    ) -> Result<(), PlanError> {
        let r = spanned.get_ref();
        let name = r.name.get_ref();
        let set_in_compose = [
            ("command", r.command.as_ref().map(Spanned::span)),
            ("cwd", r.cwd.as_ref().map(Spanned::span)),
            ("env", r.env.0.first().map(|(k, _)| k.span())),
            ("depends_on", r.depends_on.first().map(Spanned::span)),
            ("host", r.host.as_ref().map(Spanned::span)),
            ("on", r.on.as_ref().map(Spanned::span)),
            ("backend", r.backend.as_ref().map(Spanned::span)),
            ("image", r.image.as_ref().map(Spanned::span)),
            ("build", r.build.as_ref().map(Spanned::span)),
            ("ports", r.ports.as_ref().map(Spanned::span)),
            ("mem_limit", r.mem_limit.as_ref().map(Spanned::span)),
            ("volumes", r.volumes.as_ref().map(Spanned::span)),
        ];
        if let Some((key, Some(span))) = set_in_compose.into_iter().find(|(_, s)| s.is_some()) {
            let line = compose.lines.get(name).copied().unwrap_or(0);
            return Err(self.err(
                span,
                format!(
                    "service \"{name}\" comes from {} (line {line}); set its `{key}` there (here: tests, limits, health, stop_timeout, restart)",
                    compose.source.file.display()
                ),
            ));
        }
        let extra = self.service_extras(spanned, &service.run, true)?;
        service.tests = extra.tests;
        if extra.health.is_some() {
            service.health = extra.health;
        }
        if r.limits.is_some() {
            // The Compose file's `on-failure:N` stays unless the plan says.
            let max_restarts = service.limits.max_restarts;
            service.limits = extra.limits;
            service.limits.max_restarts = service.limits.max_restarts.or(max_restarts);
        }
        if r.stop_timeout.is_some() {
            service.stop_timeout = extra.stop_timeout;
        }
        if r.restart.is_some() {
            service.restart = extra.restart;
            if service.restart != RestartPolicy::Never
                && service.ready == crate::Readiness::Completed
            {
                return Err(self.err(
                    spanned.span(),
                    format!(
                        "\"{name}\" is waited for to complete, and `restart` would start it again"
                    ),
                ));
            }
        }
        Ok(())
    }
}
