//! D1: the only place with SQL for D1. Every query on a tenant's data takes its `TenantId`,
//! so that forgetting the tenant does not compile. Multi-row writes go in one `batch()`.

pub mod destination_cap_sql;
#[cfg(target_arch = "wasm32")]
pub mod destinations;
#[cfg(target_arch = "wasm32")]
pub mod log_buckets;
#[cfg(target_arch = "wasm32")]
pub mod monitoring;
pub mod monitoring_sql;
pub mod rate_limits;
#[cfg(target_arch = "wasm32")]
pub mod tenants;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod testing;
#[cfg(target_arch = "wasm32")]
pub mod topics;

#[cfg(target_arch = "wasm32")]
pub use d1::*;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Str(String),
    Int(i64),
}

/// The D1 plumbing shared by the table modules (runtime only).
#[cfg(target_arch = "wasm32")]
mod d1 {
    pub(crate) use crate::runtime::rows::{d1_batch, d1_rows, D1Outcome};
    use worker::wasm_bindgen::JsValue;
    use worker::{D1Database, D1PreparedStatement};

    /// What can go wrong in the store, as the API needs to tell it apart.
    #[derive(Debug)]
    pub enum StoreError {
        /// A unique key is taken (e.g. a tenant id).
        Conflict,
        /// D1 failed; the detail is logged, never sent to clients.
        Db(String),
        /// A stored row does not parse (logged where it was read).
        Unreadable(crate::core::destination::RowError),
    }

    impl From<worker::Error> for StoreError {
        fn from(e: worker::Error) -> Self {
            StoreError::from(e.to_string())
        }
    }

    /// D1's words for a failure (`runtime::rows`).
    impl From<String> for StoreError {
        fn from(text: String) -> Self {
            if text.contains("UNIQUE constraint failed") {
                StoreError::Conflict
            } else {
                StoreError::Db(text)
            }
        }
    }

    impl From<serde_json::Error> for StoreError {
        fn from(e: serde_json::Error) -> Self {
            StoreError::Db(format!("stored JSON is invalid: {e}"))
        }
    }

    pub type StoreResult<T> = Result<T, StoreError>;

    /// A bound parameter. D1 takes JavaScript values; integers travel as numbers (safe up to
    /// 2^53, far beyond any timestamp or count here).
    pub(crate) enum Arg<'a> {
        Str(&'a str),
        Int(i64),
        Null,
    }

    impl<'a> From<&'a str> for Arg<'a> {
        fn from(s: &'a str) -> Self {
            Arg::Str(s)
        }
    }
    impl<'a> From<&'a String> for Arg<'a> {
        fn from(s: &'a String) -> Self {
            Arg::Str(s)
        }
    }
    impl From<i64> for Arg<'_> {
        fn from(n: i64) -> Self {
            Arg::Int(n)
        }
    }
    impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
        fn from(o: Option<T>) -> Self {
            o.map(Into::into).unwrap_or(Arg::Null)
        }
    }

    impl Arg<'_> {
        fn js(&self) -> JsValue {
            match self {
                Arg::Str(s) => JsValue::from_str(s),
                Arg::Int(n) => JsValue::from_f64(*n as f64),
                Arg::Null => JsValue::NULL,
            }
        }
    }

    /// Prepares and binds one statement.
    pub(crate) fn stmt(
        db: &D1Database,
        sql: &str,
        args: &[Arg],
    ) -> StoreResult<D1PreparedStatement> {
        let values: Vec<JsValue> = args.iter().map(Arg::js).collect();
        Ok(db.prepare(sql).bind(&values)?)
    }

    /// Runs a query and deserialises its rows.
    pub(crate) async fn rows<T: serde::de::DeserializeOwned>(
        db: &D1Database,
        sql: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Vec<T>> {
        Ok(d1_rows(&stmt(db, sql, args)?).await?)
    }

    /// Runs a query expected to return at most one row.
    pub(crate) async fn first<T: serde::de::DeserializeOwned>(
        db: &D1Database,
        sql: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<T>> {
        Ok(rows(db, sql, args).await?.into_iter().next())
    }

    /// Runs statements as one atomic batch; returns each statement's number of changed rows.
    pub(crate) async fn batch(
        db: &D1Database,
        statements: Vec<D1PreparedStatement>,
    ) -> StoreResult<Vec<usize>> {
        if statements.is_empty() {
            return Ok(vec![]);
        }
        let results = d1_batch(db, statements).await?;
        Ok(results.iter().map(D1Outcome::changes).collect())
    }

    /// Cursor pagination: one more row than asked tells whether a next page exists.
    pub(crate) fn page<T>(
        mut items: Vec<T>,
        limit: usize,
        key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        if items.len() > limit {
            items.truncate(limit);
            let next = items.last().map(key);
            (items, next)
        } else {
            (items, None)
        }
    }
}
