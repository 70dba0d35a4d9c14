//! Rows from SQLite, D1's and a Durable Object's own, read as one JSON text.
//!
//! Both answer rows as JS objects. worker's readers (`SqlCursor::to_array`, `D1Result::results`)
//! turn each object into a Rust value with serde_wasm_bindgen: that compiles every row type's
//! `Deserialize` a second time, for its deserializer, beside the serde_json one most row types
//! already have as parts of messages; and it crosses into JS for every field of every row. Here
//! the runtime writes all the rows out as one JSON text (`JSON.stringify`) and serde_json reads
//! it. Row values are strings, numbers and nulls; no table has a BLOB column (which would
//! write out as `{}`).

use super::js_text;
use crate::core::json;
use serde::de::DeserializeOwned;
use worker::js_sys::futures::JsFuture;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys;
use worker::{D1Database, D1PreparedStatement, SqlStorage, SqlStorageValue};

/// An array of row objects as JSON text (`undefined` or `null`: no rows). Not generic, like
/// everything here but the final read: each row type adds only its serde_json reader.
fn text(rows: &JsValue) -> Result<String, String> {
    if rows.is_undefined() || rows.is_null() {
        return Ok("[]".into());
    }
    let text = js_sys::JSON::stringify(rows).map_err(|e| js_text(&e))?;
    Ok(String::from(text))
}

fn read<T: DeserializeOwned>(text: Result<String, String>) -> Result<Vec<T>, String> {
    json::from_str(&text?).map_err(unreadable)
}

fn unreadable(e: serde_json::Error) -> String {
    format!("unreadable rows: {e}")
}

/// Runs a query on a Durable Object's SQL storage and reads its rows.
pub fn query<T: DeserializeOwned>(
    storage: &SqlStorage,
    sql: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<Vec<T>, String> {
    read(query_text(storage, sql, bindings))
}

fn query_text(
    storage: &SqlStorage,
    sql: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<String, String> {
    let raw: &worker_sys::SqlStorage = storage.as_ref().unchecked_ref();
    let args: js_sys::Array = bindings.into_iter().map(JsValue::from).collect();
    let cursor = raw.exec(sql, args).map_err(|e| error_text(&e))?;
    text(&cursor.to_array())
}

/// A failure as text: the error's message and its cause's, where D1 puts the engine's
/// words (`UNIQUE constraint failed`, which the store tells apart).
fn error_text(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => {
            let cause = err.cause();
            if cause.is_undefined() || cause.is_null() {
                String::from(err.message())
            } else {
                format!("{}: {}", String::from(err.message()), js_text(&cause))
            }
        }
        None => js_text(e),
    }
}

async fn settle(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, String> {
    JsFuture::from(promise.map_err(|e| error_text(&e))?)
        .await
        .map_err(|e| error_text(&e))
}

/// Runs one D1 statement and reads its rows.
pub async fn d1_rows<T: DeserializeOwned>(stmt: &D1PreparedStatement) -> Result<Vec<T>, String> {
    read(results_text(&settle(stmt.inner().all()).await?))
}

/// The `results` of a D1 result object, as JSON text.
fn results_text(result: &JsValue) -> Result<String, String> {
    text(&js_sys::Reflect::get(result, &"results".into()).unwrap_or(JsValue::UNDEFINED))
}

/// One statement's outcome in a D1 batch.
pub struct D1Outcome(JsValue);

impl D1Outcome {
    /// Its rows.
    pub fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, String> {
        read(results_text(&self.0))
    }

    /// How many rows it changed (`meta.changes`; 0 where D1 does not say).
    pub fn changes(&self) -> usize {
        js_sys::Reflect::get(&self.0, &"meta".into())
            .and_then(|meta| js_sys::Reflect::get(&meta, &"changes".into()))
            .ok()
            .and_then(|n| n.as_f64())
            .map_or(0, |n| n as usize)
    }
}

/// Runs statements as one atomic D1 batch.
pub async fn d1_batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<Vec<D1Outcome>, String> {
    let raw: &worker_sys::D1Database = db.as_ref().unchecked_ref();
    let list: js_sys::Array = statements
        .iter()
        .map(|s| JsValue::from(s.inner().clone()))
        .collect();
    let results: js_sys::Array = settle(raw.batch(list))
        .await?
        .dyn_into()
        .map_err(|e| js_text(&e))?;
    Ok(results.iter().map(D1Outcome).collect())
}
