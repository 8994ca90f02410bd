//! Where runs live: `--store DIR` (env `GAUNTLET_STORE`, default `store`)
//! for every command, and the older `--db FILE` (env `GAUNTLET_DB`), kept
//! so existing scripts run unchanged.

use std::path::{Path, PathBuf};

use anyhow::Result;
use gauntlet_store::Store;

use crate::cli::StoreArgs;
use crate::exit::Failure;

/// A resolved store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `--store DIR`: the database `DIR/gauntlet.db`, run files in `DIR/<run-id>/`.
    Dir(PathBuf),
    /// `--db FILE`: the database `FILE`, run files in `store/<run-id>/` beside it.
    DbFile(PathBuf),
}

impl StoreArgs {
    /// The command line beats the environment; `--store` and `--db`
    /// together are refused by clap, and the two variables together here.
    pub fn location(&self) -> Result<Location> {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Ok(match (&self.store, &self.db) {
            (Some(dir), _) => Location::Dir(dir.clone()),
            (None, Some(db)) => Location::DbFile(db.clone()),
            (None, None) => match (env("GAUNTLET_STORE"), env("GAUNTLET_DB")) {
                (Some(_), Some(_)) => {
                    return Err(Failure::bad_args(
                        "GAUNTLET_STORE and GAUNTLET_DB are both set: they name two stores; \
                         unset one (GAUNTLET_DB is the older spelling)",
                    ));
                }
                (Some(dir), None) => Location::Dir(dir.into()),
                (None, Some(db)) => Location::DbFile(db.into()),
                (None, None) => Location::Dir(Store::DEFAULT_DIR.into()),
            },
        })
    }
}

impl StoreArgs {
    /// If no option or variable names a store and the older default
    /// database `./gauntlet.db` exists, a note saying how to read it: the
    /// default moved to `store/gauntlet.db`.
    pub fn older_default_note(&self) -> Option<String> {
        let unset = |name: &str| std::env::var_os(name).is_none_or(|v| v.is_empty());
        let default = self.store.is_none()
            && self.db.is_none()
            && unset("GAUNTLET_STORE")
            && unset("GAUNTLET_DB");
        (default && Path::new(Store::DEFAULT_PATH).is_file()).then(|| {
            format!(
                "note: ./{} holds runs stored before --store; list them with `--db {}`",
                Store::DEFAULT_PATH,
                Store::DEFAULT_PATH
            )
        })
    }
}

impl Location {
    /// The directory that holds the runs' directories, as the user gave it
    /// (relative paths stay relative, so printed paths stay short).
    pub fn artifact_root(&self) -> PathBuf {
        match self {
            Location::Dir(dir) => dir.clone(),
            Location::DbFile(db) => db
                .parent()
                .unwrap_or(Path::new(""))
                .join(Store::DEFAULT_DIR),
        }
    }

    /// The option as the user would type it, for messages.
    pub fn describe(&self) -> String {
        match self {
            Location::Dir(dir) => format!("--store {}", dir.display()),
            Location::DbFile(db) => format!("--db {}", db.display()),
        }
    }

    /// Whether the store is there to read.
    pub fn exists(&self) -> bool {
        match self {
            Location::Dir(dir) => dir.is_dir(),
            Location::DbFile(db) => db.is_file(),
        }
    }

    /// Opens the store. With `create`, a missing store directory is made
    /// (commands that start runs); without, it must exist (commands that
    /// read runs). An older `--db` file's directory must exist either way.
    pub fn open(&self, create: bool) -> Result<Store> {
        match self {
            Location::Dir(dir) => {
                if !dir.is_dir() {
                    if !create {
                        return Err(Failure::bad_args(format!(
                            "{}: no such directory, so no runs are stored there",
                            self.describe()
                        )));
                    }
                    std::fs::create_dir_all(dir).map_err(|e| {
                        anyhow::anyhow!("{}: cannot create the directory: {e}", self.describe())
                    })?;
                }
                Ok(Store::open_dir(dir)?)
            }
            Location::DbFile(db) => {
                if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty())
                    && !dir.is_dir()
                {
                    return Err(Failure::bad_args(format!(
                        "--db {}: the directory {} does not exist",
                        db.display(),
                        dir.display()
                    )));
                }
                Ok(Store::open(db)?)
            }
        }
    }
}
