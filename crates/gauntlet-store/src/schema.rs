//! The schema and its migrations, compiled into the binary.
//!
//! `PRAGMA user_version` holds how many migrations a file has had. Opening a
//! store runs the missing ones in one `BEGIN IMMEDIATE` transaction, so two
//! processes opening a new file at once migrate it exactly once: the second
//! waits for the first's lock, then finds nothing to do. Migrations are
//! append-only: never edit one that has shipped, add the next.

use rusqlite::{Connection, TransactionBehavior};

/// Migration `i` takes a file from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// Times are [`Millis`](crate::Millis) (INTEGER). JSON is TEXT. Runs are
/// referenced by their integer `seq`, so the big tables stay small; the
/// text `id` is only for people.
const V1: &str = "
CREATE TABLE runs (
    seq               INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    plan_name         TEXT    NOT NULL,
    plan_path         TEXT,
    plan_text         TEXT    NOT NULL,
    plan_sha256       TEXT    NOT NULL,
    seed              INTEGER NOT NULL,   -- the u64 seed's bits
    state             TEXT    NOT NULL CHECK (state IN ('running','held','interrupted','finished','abandoned')),
    result            TEXT             CHECK (result IN ('true','false','unknown')),
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    held_stage        TEXT,
    message           TEXT,
    gauntlet_version  TEXT    NOT NULL,
    command_line      TEXT    NOT NULL,   -- JSON array of strings
    owner_pid         INTEGER NOT NULL,
    owner_start_ticks INTEGER,
    owner_boot_id     TEXT,
    owner_host        TEXT
) STRICT;
CREATE INDEX runs_state ON runs (state);

CREATE TABLE stages (
    id       INTEGER PRIMARY KEY,
    run_seq  INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    ordinal  INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    UNIQUE (run_seq, ordinal),
    UNIQUE (run_seq, name)
) STRICT;

CREATE TABLE stage_attempts (
    id         INTEGER PRIMARY KEY,
    stage_id   INTEGER NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending','running','passed','failed','overridden','skipped')),
    started_at INTEGER,
    ended_at   INTEGER,
    summary    TEXT,                      -- JSON
    message    TEXT,
    UNIQUE (stage_id, attempt)
) STRICT;

CREATE TABLE measurements (
    run_seq    INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    attempt_id INTEGER REFERENCES stage_attempts (id) ON DELETE SET NULL,
    time       INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    value      REAL    NOT NULL,
    unit       TEXT    NOT NULL
) STRICT;
CREATE INDEX measurements_series ON measurements (run_seq, kind, subject, time);

CREATE TABLE faults (
    id        INTEGER PRIMARY KEY,
    run_seq   INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    time      INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    value     TEXT    NOT NULL,           -- JSON
    healed_at INTEGER
) STRICT;
CREATE INDEX faults_run ON faults (run_seq, time);

CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY,
    run_seq    INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    attempt_id INTEGER REFERENCES stage_attempts (id) ON DELETE SET NULL,
    path       TEXT    NOT NULL,          -- relative to store/<run-id>/
    kind       TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    bytes      INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    UNIQUE (run_seq, path)
) STRICT;

CREATE TABLE overrides (
    id         INTEGER PRIMARY KEY,
    run_seq    INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    attempt_id INTEGER NOT NULL REFERENCES stage_attempts (id) ON DELETE CASCADE,
    reason     TEXT    NOT NULL,
    who        TEXT    NOT NULL,
    time       INTEGER NOT NULL
) STRICT;
CREATE INDEX overrides_run ON overrides (run_seq);

CREATE TABLE verdicts (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    checker TEXT    NOT NULL,
    valid   TEXT    NOT NULL CHECK (valid IN ('true','false','unknown')),
    figures TEXT    NOT NULL,             -- JSON
    time    INTEGER NOT NULL,
    PRIMARY KEY (run_seq, checker)
) STRICT;
";

/// Every run has a kind (`gauntlet test`, `run` or `soak`), and the wall
/// clock of its own time zero, so history times (ns since the run's start)
/// can be placed among the store's [`Millis`](crate::Millis). Runs made
/// before this migration were plan runs or soaks (only those were stored);
/// a soak is the run with a `soak` stage. Their clock zero is unknown
/// (NULL), since nothing recorded it.
const V2: &str = "
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run'
    CHECK (kind IN ('test','run','soak'));
ALTER TABLE runs ADD COLUMN clock_zero INTEGER;
UPDATE runs SET kind = 'soak'
    WHERE seq IN (SELECT run_seq FROM stages WHERE kind = 'soak');
CREATE INDEX runs_kind ON runs (kind);
";

/// A run may be a fleet loop (`gauntlet start`). SQLite cannot change a
/// CHECK constraint in place, so `runs` is rebuilt as SQLite's ALTER TABLE
/// page says: a new table, the rows copied, the old one dropped, the new
/// one renamed. [`migrate`] turns foreign keys off around it, so dropping
/// the old table cascades to nothing; the tables that reference `runs` by
/// name then reference the new one.
const V3: &str = "
CREATE TABLE runs_v3 (
    seq               INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    plan_name         TEXT    NOT NULL,
    plan_path         TEXT,
    plan_text         TEXT    NOT NULL,
    plan_sha256       TEXT    NOT NULL,
    seed              INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('running','held','interrupted','finished','abandoned')),
    result            TEXT             CHECK (result IN ('true','false','unknown')),
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    held_stage        TEXT,
    message           TEXT,
    gauntlet_version  TEXT    NOT NULL,
    command_line      TEXT    NOT NULL,
    owner_pid         INTEGER NOT NULL,
    owner_start_ticks INTEGER,
    owner_boot_id     TEXT,
    owner_host        TEXT,
    kind              TEXT    NOT NULL DEFAULT 'run'
        CHECK (kind IN ('test','run','soak','fleet')),
    clock_zero        INTEGER
) STRICT;
INSERT INTO runs_v3 (seq, id, plan_name, plan_path, plan_text, plan_sha256, seed, state,
    result, started_at, ended_at, held_stage, message, gauntlet_version, command_line,
    owner_pid, owner_start_ticks, owner_boot_id, owner_host, kind, clock_zero)
SELECT seq, id, plan_name, plan_path, plan_text, plan_sha256, seed, state,
    result, started_at, ended_at, held_stage, message, gauntlet_version, command_line,
    owner_pid, owner_start_ticks, owner_boot_id, owner_host, kind, clock_zero
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE INDEX runs_state ON runs (state);
CREATE INDEX runs_kind ON runs (kind);
";

/// The schema version this build writes.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// What [`migrate`] found.
pub(crate) enum Migrated {
    /// The file is at [`latest`] (now).
    Current,
    /// The file has a version this build does not know (a newer gauntlet wrote it).
    Unsupported(i64),
}

/// Brings the file up to [`latest`], all or nothing.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<Migrated> {
    // A migration that rebuilds a table (V3) must not cascade the old
    // table's drop; the pragma is a no-op inside a transaction, so it is
    // set around it, and every key is checked before it is set back.
    let keys: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = migrate_all(conn);
    if keys {
        conn.pragma_update(None, "foreign_keys", true)?;
    }
    migrated
}

fn migrate_all(conn: &Connection) -> rusqlite::Result<Migrated> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if !(0..=latest()).contains(&version) {
        return Ok(Migrated::Unsupported(version));
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.execute_batch(sql)?;
    }
    if version < latest() {
        // What a rebuilt table's rows point at must still be there.
        let dangling: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if dangling > 0 {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "{dangling} rows point at nothing after the migration"
                )),
            ));
        }
    }
    if version < latest() {
        tx.pragma_update(None, "user_version", latest())?;
    }
    tx.commit()?;
    Ok(Migrated::Current)
}
