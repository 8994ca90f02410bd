//! The store, opened once per connection kept: SQLite connections are not
//! shared between threads, so reads run on the blocking pool, each with a
//! connection taken from (and given back to) a small pool.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;

use gauntlet_store::{Store, StoreError};

use crate::ServeError;

/// Where the store is: as `--store DIR` or the older `--db FILE` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAt {
    Dir(PathBuf),
    DbFile(PathBuf),
}

impl StoreAt {
    pub fn open(&self) -> Result<Store, StoreError> {
        match self {
            StoreAt::Dir(dir) => Store::open_dir(dir),
            StoreAt::DbFile(db) => Store::open(db),
        }
    }

    /// The words that name it on a `gauntlet` command line.
    pub fn cli_args(&self) -> Vec<OsString> {
        match self {
            StoreAt::Dir(dir) => vec!["--store".into(), dir.into()],
            StoreAt::DbFile(db) => vec!["--db".into(), db.into()],
        }
    }
}

/// Idle connections, at most [`Pool::KEEP`].
pub(crate) struct Pool {
    at: StoreAt,
    idle: Mutex<Vec<Store>>,
}

impl Pool {
    const KEEP: usize = 8;

    pub fn new(at: StoreAt, first: Store) -> Pool {
        Pool {
            at,
            idle: Mutex::new(vec![first]),
        }
    }

    /// Runs `f` with a connection on the blocking pool.
    pub async fn with<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ServeError> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.with_now(f)).await?
    }

    /// Runs `f` with a connection on this thread (a blocking context).
    pub fn with_now<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, ServeError> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let store = match taken {
            Some(s) => s,
            None => self.at.open()?,
        };
        let out = f(&store);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < Self::KEEP {
            idle.push(store);
        }
        Ok(out?)
    }
}
