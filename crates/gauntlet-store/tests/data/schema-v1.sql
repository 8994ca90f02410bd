-- The store's schema version 1, as it shipped (migration V1 of
-- crates/gauntlet-store/src/schema.rs). Frozen: it is what older files look like.
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
