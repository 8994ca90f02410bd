//! Ownership labels: which run made an object on the engine, and which
//! gauntlet process, so that the end of a run removes exactly its objects
//! and a later gauntlet removes what a SIGKILLed one left, and nothing else.
//!
//! Every container, network, volume and image this crate creates carries
//!
//! | label | value | used by |
//! |---|---|---|
//! | `io.gauntlet.run` | the run's id | [`remove_run`](crate::remove_run) (the end of a run, Ctrl-C) |
//! | `io.gauntlet.owner` | `<hostname>/<pid>-<start time>-<boot id>` | [`sweep_dead`](crate::sweep_dead) (after a SIGKILL) |
//!
//! The owner is gauntlet-node's [`Owner`], judged by its one
//! [`Owner::liveness`] as every sweep judges: the pid *and* its start time
//! (field 22 of `/proc/<pid>/stat`), so a recycled pid never passes for a
//! dead owner, and the boot id, so no pid of an earlier boot does. The host name comes first because an
//! engine may be shared (`DOCKER_HOST=tcp://` or `ssh://`): a pid means
//! something only on the host that wrote it, so objects of another host are
//! never judged, let alone removed.

use std::collections::HashMap;

use crate::DockerError;

/// The label naming the run an object belongs to.
pub const RUN_LABEL: &str = "io.gauntlet.run";
/// The label naming the gauntlet process that created an object.
pub const OWNER_LABEL: &str = "io.gauntlet.owner";

pub use gauntlet_node::{Liveness, Owner, this_host};

/// The value of [`OWNER_LABEL`]: `<hostname>/<pid>-<start>-<boot id>`.
pub fn owner_label(owner: &Owner) -> String {
    format!(
        "{}/{}-{}-{}",
        owner.host, owner.pid, owner.start, owner.boot
    )
}

/// Parses an [`OWNER_LABEL`] value; `None` for anything else (not ours to
/// judge). Labels of an older gauntlet have no boot id
/// (`<hostname>/<pid>-<start>`): the pid and start time judge those.
pub fn parse_owner_label(label: &str) -> Option<Owner> {
    let (host, process) = label.rsplit_once('/')?;
    let (pid, rest) = process.split_once('-')?;
    let (start, boot) = rest.split_once('-').unwrap_or((rest, ""));
    let pid: i32 = pid.parse().ok()?;
    let boot_ok = boot.is_empty()
        || (boot.len() == 36 && boot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    if host.is_empty() || pid <= 0 || !boot_ok {
        return None;
    }
    Some(Owner {
        host: host.to_owned(),
        pid,
        start: start.parse().ok()?,
        boot: boot.to_owned(),
    })
}

/// The labels a run's objects carry: its run id and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    run: String,
    owner: Owner,
}

impl Ownership {
    /// Objects of run `run`, owned by this process.
    pub fn new(run: impl Into<String>) -> Result<Ownership, DockerError> {
        Ownership::with_owner(run, Owner::current())
    }

    /// Objects of run `run` owned by `owner`: for tests that stand in for
    /// another (say, a dead) gauntlet process.
    pub fn with_owner(run: impl Into<String>, owner: Owner) -> Result<Ownership, DockerError> {
        let run = run.into();
        check_run_id(&run)?;
        Ok(Ownership { run, owner })
    }

    /// The run's id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The owning process.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// `extra` with the ownership labels added; they win over any label of
    /// the same name in `extra`, so a caller cannot make an object
    /// unsweepable by accident.
    pub fn labels(&self, extra: &HashMap<String, String>) -> HashMap<String, String> {
        let mut labels = extra.clone();
        labels.insert(RUN_LABEL.to_owned(), self.run.clone());
        labels.insert(OWNER_LABEL.to_owned(), owner_label(&self.owner));
        labels
    }
}

/// Run ids become label filters and parts of names: letters, digits, `.`,
/// `_`, `-`, at most 128 (the store's ids are `r20261127-101500-3fa`).
pub(crate) fn check_run_id(run: &str) -> Result<(), DockerError> {
    let bad = |why: &str| {
        Err(DockerError::Invalid {
            what: format!("run id {run:?}"),
            why: why.to_owned(),
        })
    };
    if run.is_empty() {
        return bad("it is empty");
    }
    if run.len() > 128 {
        return bad("it is longer than 128 characters");
    }
    if !run
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("only letters, digits, '.', '_' and '-' may appear in it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_label_round_trips() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(me.start > 0);
        assert_eq!(parse_owner_label(&owner_label(&me)), Some(me.clone()));
        assert_eq!(me.liveness(), Liveness::Alive);
    }

    #[test]
    fn a_recycled_or_missing_pid_is_dead_and_another_host_is_not_judged() {
        let me = Owner::current();
        let recycled = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(recycled.liveness(), Liveness::Dead);
        let gone = Owner {
            pid: i32::MAX,
            ..me.clone()
        };
        assert_eq!(gone.liveness(), Liveness::Dead);
        let elsewhere = Owner {
            host: format!("not-{}", this_host()),
            pid: i32::MAX,
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::OtherHost);
    }

    #[test]
    fn only_well_formed_owner_labels_parse() {
        assert_eq!(
            parse_owner_label("box/12-345"),
            Some(Owner {
                host: "box".into(),
                pid: 12,
                start: 345,
                boot: String::new(),
            })
        );
        assert_eq!(
            parse_owner_label("box/12-345-6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11").map(|o| o.boot),
            Some("6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11".to_owned())
        );
        for bad in [
            "",
            "box",
            "box/12",
            "/12-3",
            "box/-1-3",
            "box/0-3",
            "box/a-3",
            "box/12-x",
            "box/12-3-notaboot",
        ] {
            assert_eq!(parse_owner_label(bad), None, "{bad}");
        }
    }

    #[test]
    fn ownership_labels_win_over_extra_labels() {
        let own = Ownership::new("r20261127-101500-3fa").unwrap();
        let extra = HashMap::from([
            (RUN_LABEL.to_owned(), "other".to_owned()),
            ("app".to_owned(), "api".to_owned()),
        ]);
        let labels = own.labels(&extra);
        assert_eq!(labels[RUN_LABEL], "r20261127-101500-3fa");
        assert_eq!(labels[OWNER_LABEL], owner_label(&Owner::current()));
        assert_eq!(labels["app"], "api");
        assert!(Ownership::new("").is_err());
        assert!(Ownership::new("a b").is_err());
        assert!(Ownership::new("x".repeat(129)).is_err());
    }
}
