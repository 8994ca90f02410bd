//! Conversions between the store's types and SQLite values.

use gauntlet_check::Validity;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde_json::Value;

use crate::types::{RunKind, RunState, StageState};

fn bad(what: &str, got: &str) -> FromSqlError {
    FromSqlError::Other(format!("{got:?} is not a {what}").into())
}

impl ToSql for RunState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for RunState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        RunState::parse(s).ok_or_else(|| bad("run state", s))
    }
}

impl ToSql for RunKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for RunKind {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        RunKind::parse(s).ok_or_else(|| bad("run kind", s))
    }
}

impl ToSql for StageState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for StageState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        StageState::parse(s).ok_or_else(|| bad("stage state", s))
    }
}

/// [`Validity`] as its JSON word: `true`, `false`, `unknown`.
pub(crate) struct Valid(pub Validity);

impl ToSql for Valid {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Validity::Valid => "true",
            Validity::Invalid => "false",
            Validity::Unknown => "unknown",
        }
        .into())
    }
}

impl FromSql for Valid {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v.as_str()? {
            "true" => Ok(Valid(Validity::Valid)),
            "false" => Ok(Valid(Validity::Invalid)),
            "unknown" => Ok(Valid(Validity::Unknown)),
            s => Err(bad("validity", s)),
        }
    }
}

/// A JSON value stored as text (written with `Value::to_string`).
pub(crate) struct Json(pub Value);

impl FromSql for Json {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(v.as_str()?)
            .map(Json)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// A `Vec<String>` stored as a JSON array.
pub(crate) struct Strings(pub Vec<String>);

impl FromSql for Strings {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(v.as_str()?)
            .map(Strings)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
