//! What a run records besides its stages: measurements, faults, artifacts
//! and verdicts. None of these depend on the run's state: a report written
//! after the run ended may still add artifacts and verdicts.

use std::io::Read;
use std::path::{Component, Path};

use gauntlet_check::Validity;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::runs::seq_of;
use crate::sql::{Json, Valid, hex};
use crate::types::{
    Artifact, AttemptId, Fault, FaultId, Measurement, Millis, NewFault, RunId, SampleBatch, Series,
    SeriesKey, Verdict, now_ms,
};

/// The attempt must belong to the run (`seq`).
fn check_attempt(conn: &Connection, run: &RunId, seq: i64, attempt: AttemptId) -> Result<()> {
    let ok = conn
        .prepare_cached(
            "SELECT 1 FROM stage_attempts a JOIN stages s ON s.id = a.stage_id
             WHERE a.id = ?1 AND s.run_seq = ?2",
        )?
        .exists(params![attempt.0, seq])?;
    if ok {
        Ok(())
    } else {
        Err(StoreError::AttemptNotInRun {
            run: run.clone(),
            attempt: attempt.0,
        })
    }
}

/// `path` as a relative, `/`-separated path that stays inside the artifact
/// directory.
fn normalize_artifact_path(run: &RunId, path: &Path) -> Result<String> {
    let bad = |reason| StoreError::BadArtifactPath {
        run: run.clone(),
        path: path.display().to_string(),
        reason,
    };
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| bad("is not UTF-8"))?),
            Component::CurDir => {}
            Component::ParentDir => return Err(bad("must not contain `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(bad("must be relative to the run's artifact directory"));
            }
        }
    }
    if parts.is_empty() {
        return Err(bad("is empty"));
    }
    Ok(parts.join("/"))
}

/// sha256 (hex) and length of a file, streamed.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((hex(&hasher.finalize()), bytes))
}

impl Store {
    /// Appends samples to the run's time series, in one transaction: a
    /// batch of any size is all stored or none. Batches of thousands are
    /// what this is for; one call per sample is slow.
    pub fn add_measurements(&self, run: &RunId, samples: &[Measurement]) -> Result<()> {
        self.write(|tx| {
            let seq = seq_of(tx, run)?;
            let mut checked: Vec<AttemptId> = Vec::new();
            let mut insert = tx.prepare_cached(
                "INSERT INTO measurements (run_seq, attempt_id, time, kind, subject, value, unit)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for m in samples {
                if let Some(a) = m.stage
                    && !checked.contains(&a)
                {
                    check_attempt(tx, run, seq, a)?;
                    checked.push(a);
                }
                insert.execute(params![
                    seq,
                    m.stage.map(|a| a.0),
                    m.time,
                    m.kind,
                    m.subject,
                    m.value,
                    m.unit
                ])?;
            }
            Ok(())
        })
    }

    /// One series of the run (`kind` on `subject`), in time order; samples
    /// at the same time in the order they were added.
    pub fn measurements(&self, run: &RunId, kind: &str, subject: &str) -> Result<Vec<Measurement>> {
        self.measurements_between(run, kind, subject, Millis::MIN, Millis::MAX)
    }

    /// Like [`Store::measurements`], only samples with `from <= time < to`.
    pub fn measurements_between(
        &self,
        run: &RunId,
        kind: &str,
        subject: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Measurement>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT attempt_id, time, kind, subject, value, unit FROM measurements
                 WHERE run_seq = ?1 AND kind = ?2 AND subject = ?3 AND time >= ?4 AND time < ?5
                 ORDER BY time, rowid",
            )?;
            let all = stmt
                .query_map(params![seq, kind, subject, from, to], |r| {
                    Ok(Measurement {
                        stage: r.get::<_, Option<i64>>(0)?.map(AttemptId),
                        time: r.get(1)?,
                        kind: r.get(2)?,
                        subject: r.get(3)?,
                        value: r.get(4)?,
                        unit: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(all)
        })
    }

    /// The run's samples stored after the cursor `after` (0: from the
    /// first), in the order they were stored, at most `limit`, each as
    /// its series' index in [`SampleBatch::series`]; with the cursor to
    /// pass next time. A reader that follows a live run asks again and
    /// again and reads each sample once (compactly: a series' names are
    /// read once per batch, not once per sample).
    pub fn samples_after(&self, run: &RunId, after: i64, limit: usize) -> Result<SampleBatch> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT rowid, kind, subject, unit, time, value FROM measurements
                 WHERE rowid > ?2 AND run_seq = ?1 ORDER BY rowid LIMIT ?3",
            )?;
            let mut batch = SampleBatch {
                cursor: after,
                ..SampleBatch::default()
            };
            let mut rows = stmt.query(params![seq, after, limit.min(i64::MAX as usize) as i64])?;
            let mut last = usize::MAX;
            while let Some(row) = rows.next()? {
                let text = |i: usize| -> rusqlite::Result<&str> {
                    row.get_ref(i)?.as_str().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            i,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })
                };
                let (kind, subject) = (text(1)?, text(2)?);
                let same = |s: &SeriesKey| s.kind == kind && s.subject == subject;
                let index = match batch.series.get(last) {
                    Some(s) if same(s) => last,
                    _ => match batch.series.iter().position(same) {
                        Some(i) => i,
                        None => {
                            batch.series.push(SeriesKey {
                                kind: kind.to_owned(),
                                subject: subject.to_owned(),
                                unit: row.get(3)?,
                            });
                            batch.series.len() - 1
                        }
                    },
                };
                last = index;
                batch.samples.push((index, row.get(4)?, row.get(5)?));
                batch.cursor = row.get(0)?;
            }
            Ok(batch)
        })
    }

    /// The run's series: each (kind, subject) with its sample count and
    /// time extent, ordered by kind and subject. `unit` is the series'
    /// unit (the smallest, should its samples disagree).
    pub fn series(&self, run: &RunId) -> Result<Vec<Series>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT kind, subject, MIN(unit), COUNT(*), MIN(time), MAX(time)
                 FROM measurements WHERE run_seq = ?1
                 GROUP BY kind, subject ORDER BY kind, subject",
            )?;
            let all = stmt
                .query_map([seq], |r| {
                    Ok(Series {
                        kind: r.get(0)?,
                        subject: r.get(1)?,
                        unit: r.get(2)?,
                        count: r.get::<_, i64>(3)? as u64,
                        first: r.get(4)?,
                        last: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(all)
        })
    }

    /// Records a fault the nemesis started; heal it with [`Store::heal_fault`].
    pub fn record_fault(&self, run: &RunId, fault: &NewFault) -> Result<FaultId> {
        self.write(|tx| {
            let seq = seq_of(tx, run)?;
            tx.execute(
                "INSERT INTO faults (run_seq, time, kind, target, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    seq,
                    fault.time,
                    fault.kind,
                    fault.target,
                    fault.value.to_string()
                ],
            )?;
            Ok(FaultId(tx.last_insert_rowid()))
        })
    }

    /// Marks a fault of the run healed at `time`. Healing twice is an error.
    pub fn heal_fault(&self, run: &RunId, fault: FaultId, time: Millis) -> Result<()> {
        self.write(|tx| {
            let seq = seq_of(tx, run)?;
            let healed: Option<Option<Millis>> = tx
                .query_row(
                    "SELECT healed_at FROM faults WHERE id = ?1 AND run_seq = ?2",
                    params![fault.0, seq],
                    |r| r.get(0),
                )
                .optional()?;
            match healed {
                None => Err(StoreError::FaultNotFound {
                    run: run.clone(),
                    fault: fault.0,
                }),
                Some(Some(healed_at)) => Err(StoreError::FaultAlreadyHealed {
                    run: run.clone(),
                    fault: fault.0,
                    healed_at,
                }),
                Some(None) => {
                    tx.execute(
                        "UPDATE faults SET healed_at = ?2 WHERE id = ?1",
                        params![fault.0, time],
                    )?;
                    Ok(())
                }
            }
        })
    }

    /// The run's faults in time order.
    pub fn faults(&self, run: &RunId) -> Result<Vec<Fault>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT id, time, kind, target, value, healed_at FROM faults
                 WHERE run_seq = ?1 ORDER BY time, id",
            )?;
            let all = stmt
                .query_map([seq], |r| {
                    Ok(Fault {
                        id: FaultId(r.get(0)?),
                        time: r.get(1)?,
                        kind: r.get(2)?,
                        target: r.get(3)?,
                        value: r.get::<_, Json>(4)?.0,
                        healed_at: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(all)
        })
    }

    /// Records a file already written under the run's artifact directory
    /// ([`Store::artifact_dir`]); `path` is relative to it. Its sha256 and
    /// size are computed now. Adding a path again replaces the record (a
    /// log rewritten by a retry).
    pub fn add_artifact(
        &self,
        run: &RunId,
        stage: Option<AttemptId>,
        path: impl AsRef<Path>,
        kind: &str,
    ) -> Result<Artifact> {
        let rel = normalize_artifact_path(run, path.as_ref())?;
        let full = self.artifact_dir(run).join(&rel);
        let (sha256, bytes) = hash_file(&full).map_err(|source| StoreError::ArtifactIo {
            run: run.clone(),
            path: full.clone(),
            source,
        })?;
        self.write(|tx| {
            let seq = seq_of(tx, run)?;
            if let Some(a) = stage {
                check_attempt(tx, run, seq, a)?;
            }
            let added_at = now_ms();
            tx.execute(
                "INSERT INTO artifacts (run_seq, attempt_id, path, kind, sha256, bytes, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (run_seq, path) DO UPDATE SET attempt_id = excluded.attempt_id,
                    kind = excluded.kind, sha256 = excluded.sha256, bytes = excluded.bytes,
                    added_at = excluded.added_at",
                params![
                    seq,
                    stage.map(|a| a.0),
                    rel,
                    kind,
                    sha256,
                    bytes as i64,
                    added_at
                ],
            )?;
            Ok(Artifact {
                stage,
                path: rel,
                kind: kind.to_owned(),
                sha256,
                bytes,
                added_at,
            })
        })
    }

    /// The run's artifacts, in the order they were first added.
    pub fn artifacts(&self, run: &RunId) -> Result<Vec<Artifact>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT attempt_id, path, kind, sha256, bytes, added_at FROM artifacts
                 WHERE run_seq = ?1 ORDER BY id",
            )?;
            let all = stmt
                .query_map([seq], |r| {
                    Ok(Artifact {
                        stage: r.get::<_, Option<i64>>(0)?.map(AttemptId),
                        path: r.get(1)?,
                        kind: r.get(2)?,
                        sha256: r.get(3)?,
                        bytes: r.get::<_, i64>(4)? as u64,
                        added_at: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(all)
        })
    }

    /// Records a checker's verdict on the run; a later verdict of the same
    /// checker replaces it.
    pub fn set_verdict(
        &self,
        run: &RunId,
        checker: &str,
        valid: Validity,
        figures: &Value,
    ) -> Result<()> {
        self.write(|tx| {
            let seq = seq_of(tx, run)?;
            tx.execute(
                "INSERT INTO verdicts (run_seq, checker, valid, figures, time)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_seq, checker) DO UPDATE SET valid = excluded.valid,
                    figures = excluded.figures, time = excluded.time",
                params![seq, checker, Valid(valid), figures.to_string(), now_ms()],
            )?;
            Ok(())
        })
    }

    /// The run's verdicts by checker name.
    pub fn verdicts(&self, run: &RunId) -> Result<Vec<Verdict>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT checker, valid, figures, time FROM verdicts
                 WHERE run_seq = ?1 ORDER BY checker",
            )?;
            let all = stmt
                .query_map([seq], |r| {
                    Ok(Verdict {
                        checker: r.get(0)?,
                        valid: r.get::<_, Valid>(1)?.0,
                        figures: r.get::<_, Json>(2)?.0,
                        time: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(all)
        })
    }
}
