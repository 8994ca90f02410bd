//! A `[[service]]`'s container keys: `backend = "docker"`, `image` or
//! `build`, `ports`, `mem_limit`, `volumes`.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::{Cx, tidy};
use crate::error::PlanError;
use crate::raw::{RawBuild, RawCommandLine, RawService};
use crate::{ContainerService, ImageSource, PortMapping, VolumeMount, VolumeSource};

impl Cx<'_> {
    /// The service's container when its backend is `docker`; an error
    /// naming the key when a container key stands on another backend.
    pub(super) fn container(
        &self,
        spanned: &Spanned<RawService>,
    ) -> Result<Option<ContainerService>, PlanError> {
        let r = spanned.get_ref();
        let docker = match &r.backend {
            None => false,
            Some(b) => match b.get_ref().as_str() {
                "local" => false,
                "docker" => true,
                other => {
                    return Err(self.err(
                        b.span(),
                        format!("unknown backend {other:?}: a service runs on \"local\" (the default) or \"docker\""),
                    ));
                }
            },
        };
        let container_keys = [
            ("image", r.image.as_ref().map(Spanned::span)),
            ("build", r.build.as_ref().map(Spanned::span)),
            ("ports", r.ports.as_ref().map(Spanned::span)),
            ("mem_limit", r.mem_limit.as_ref().map(Spanned::span)),
            ("volumes", r.volumes.as_ref().map(Spanned::span)),
        ];
        if !docker {
            if let Some((key, Some(span))) = container_keys.iter().find(|(_, s)| s.is_some()) {
                return Err(self.err(
                    span.clone(),
                    format!("`{key}` is a container's: add backend = \"docker\""),
                ));
            }
            return Ok(None);
        }
        let name = r.name.get_ref();
        for (key, span) in [
            ("host", r.host.as_ref().map(Spanned::span)),
            ("on", r.on.as_ref().map(Spanned::span)),
            ("cwd", r.cwd.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                return Err(self.err(
                    span,
                    format!("`{key}` is not for a container (service \"{name}\" has backend = \"docker\")"),
                ));
            }
        }
        let image = match (&r.image, &r.build) {
            (Some(image), None) => {
                let image = self.expand(image)?;
                if image.trim().is_empty() {
                    return Err(self.err(
                        r.image.as_ref().map_or(0..0, Spanned::span),
                        "`image` is empty",
                    ));
                }
                ImageSource::Local(image)
            }
            (None, Some(build)) => self.build(build)?,
            (Some(_), Some(build)) => {
                return Err(self.err(build.span(), "give `image` or `build`, not both"));
            }
            (None, None) => {
                return Err(self.err(
                    r.backend.as_ref().map_or(spanned.span(), Spanned::span),
                    format!("service \"{name}\" runs on docker and names no `image` (or `build`)"),
                ));
            }
        };
        let command = match &r.command {
            None => None,
            Some(c) => match c.get_ref() {
                RawCommandLine::Argv(argv) => Some(
                    argv.iter()
                        .map(|a| self.expand(a))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                RawCommandLine::Shell(_) => {
                    return Err(self.err(
                        c.span(),
                        "a container's `command` is an array of arguments (an image may have no shell to run a string)",
                    ));
                }
            },
        };
        let mut ports = Vec::new();
        for p in r.ports.iter().flat_map(|p| p.get_ref()) {
            let text = self.expand(p)?;
            let port = PortMapping::parse(&text)
                .map_err(|why| self.err(p.span(), format!("port {text:?}: {why}")))?;
            ports.push(port);
        }
        let mut volumes = Vec::new();
        for v in r.volumes.iter().flat_map(|v| v.get_ref()) {
            let text = self.expand(v)?;
            let volume = parse_volume(&text, &self.dir)
                .map_err(|why| self.err(v.span(), format!("volume {text:?}: {why}")))?;
            volumes.push(volume);
        }
        let mem_limit = r
            .mem_limit
            .as_ref()
            .map(|m| self.size(m, "mem_limit"))
            .transpose()?;
        Ok(Some(ContainerService {
            image,
            command,
            ports,
            mem_limit,
            volumes,
            networks: Vec::new(),
            entrypoint: None,
            working_dir: None,
            user: None,
        }))
    }
}

impl Cx<'_> {
    /// `build = { binary, args = [...] }` or `{ context, dockerfile, args = {...} }`.
    pub(super) fn build(&self, build: &Spanned<RawBuild>) -> Result<ImageSource, PlanError> {
        let b = build.get_ref();
        let args = b.args.as_ref();
        match (&b.binary, &b.context) {
            (Some(binary), None) => {
                if let Some(d) = &b.dockerfile {
                    return Err(self.err(d.span(), "`dockerfile` goes with `context`, not `binary`"));
                }
                let path = self.expand(binary)?;
                let args = match args.map(|a| (a, a.get_ref())) {
                    None => Vec::new(),
                    Some((a, toml::Value::Array(items))) => items
                        .iter()
                        .map(|item| match item {
                            toml::Value::String(s) => self.expand_at(s, a.span()),
                            _ => Err(self.err(a.span(), "`args` of a binary are strings")),
                        })
                        .collect::<Result<_, _>>()?,
                    Some((a, _)) => {
                        return Err(self.err(a.span(), "`args` of a binary is an array of strings"));
                    }
                };
                Ok(ImageSource::Binary {
                    path: tidy(&self.dir.join(Path::new(&path))),
                    args,
                })
            }
            (None, Some(context)) => {
                let dir = tidy(&self.dir.join(self.expand(context)?));
                let dockerfile = match &b.dockerfile {
                    Some(d) => self.expand(d)?,
                    None => "Dockerfile".to_owned(),
                };
                let file = dir.join(&dockerfile);
                if !file.is_file() {
                    let span = b.dockerfile.as_ref().map_or(context.span(), Spanned::span);
                    return Err(self.err(span, format!("no Dockerfile at {}", file.display())));
                }
                let args = match args.map(|a| (a, a.get_ref())) {
                    None => BTreeMap::new(),
                    Some((a, toml::Value::Table(table))) => table
                        .iter()
                        .map(|(k, v)| match v {
                            toml::Value::String(s) => Ok((k.clone(), self.expand_at(s, a.span())?)),
                            _ => Err(self.err(a.span(), format!("build arg {k}: a string"))),
                        })
                        .collect::<Result<_, _>>()?,
                    Some((a, _)) => {
                        return Err(self.err(a.span(), "`args` of a Dockerfile build is a table (ARG values)"));
                    }
                };
                Ok(ImageSource::Dockerfile {
                    context: dir,
                    dockerfile,
                    args,
                })
            }
            (Some(_), Some(context)) => {
                Err(self.err(context.span(), "give `binary` or `context`, not both"))
            }
            (None, None) => Err(self.err(
                build.span(),
                "`build` needs `binary` (an executable of this machine) or `context` (a directory with a Dockerfile)",
            )),
        }
    }
}

/// `SOURCE:TARGET[:ro|:rw]`: a named volume, or a directory of this
/// machine (relative to `dir`) when SOURCE starts with `.` or `/`. The
/// plan's `volumes` and Compose's short syntax alike.
pub(crate) fn parse_volume(text: &str, dir: &Path) -> Result<VolumeMount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts[..] {
        [s, t] => (s, t, false),
        [s, t, "ro"] => (s, t, true),
        [s, t, "rw"] => (s, t, false),
        [_, _, mode] => return Err(format!("unknown mode {mode:?} (ro or rw)")),
        _ => return Err("expected SOURCE:TARGET[:ro]".to_owned()),
    };
    if !target.starts_with('/') {
        return Err(format!("the target {target:?} is not an absolute path"));
    }
    let source = if source.starts_with(['.', '/']) {
        VolumeSource::Bind(tidy(&dir.join(source)))
    } else if source.starts_with('~') {
        return Err("`~` is not expanded: give the directory's path".to_owned());
    } else if super::plain_name(source) {
        VolumeSource::Named(source.to_owned())
    } else {
        return Err(format!("{source:?} is neither a volume name nor a path"));
    };
    Ok(VolumeMount {
        source,
        target: target.to_owned(),
        read_only,
    })
}
