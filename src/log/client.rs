//! The callers' side of the data plane (the Worker and the schedulers): one call per message
//! to a log shard (`id_from_name(core::log::shard_name)`) or an index object, the settings
//! that lay the data plane out, and the SQL port on a Durable Object's storage.

use super::protocol::{IndexRequest, LogEnvelope, LogRequest, LOG_PROTOCOL_VERSION};
use super::sql::{Arg, Sql};
use crate::core::ids::{EventId, TenantId};
use crate::core::json;
use crate::core::log::{index_name, index_slot_of, shard_name, Layout, ShardRef};
use crate::core::time::Millis;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, SqlStorage, SqlStorageValue};

const LOG_BINDING: &str = "EVENT_LOG";
const INDEX_BINDING: &str = "EVENT_INDEX";

/// How the data plane is laid out and kept, from the Worker's settings.
#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    pub layout: Layout,
    pub retention_ms: Millis,
    pub flush_ms: Millis,
}

impl LogSettings {
    /// From the deployment's settings (`runtime::settings_or_default`).
    pub fn from_env(env: &Env) -> Self {
        let s = crate::runtime::settings_or_default(env);
        LogSettings {
            layout: s.layout,
            retention_ms: s.retention_ms,
            flush_ms: s.metrics_flush_ms,
        }
    }
}

/// Why a call to a data-plane object failed (the detail is logged, never sent to clients).
#[derive(Debug)]
pub struct LogError(pub String);

impl From<worker::Error> for LogError {
    fn from(e: worker::Error) -> Self {
        LogError(e.to_string())
    }
}

pub struct LogClient<'a> {
    env: &'a Env,
}

impl<'a> LogClient<'a> {
    pub fn new(env: &'a Env) -> Self {
        LogClient { env }
    }

    async fn call<R: Serialize, T: DeserializeOwned>(
        &self,
        binding: &str,
        name: &str,
        request: R,
    ) -> Result<T, LogError> {
        let body = serde_json::to_string(&LogEnvelope {
            v: LOG_PROTOCOL_VERSION,
            request,
        })
        .map_err(|e| LogError(e.to_string()))?;
        let answer = self.post(binding, name, body).await?;
        json::from_str(&answer).map_err(|e| LogError(e.to_string()))
    }

    /// The part of `call` that does not depend on the types: one copy in the wasm rather than
    /// one per message and answer type. The answer's body, if the object answered 200.
    async fn post(&self, binding: &str, name: &str, body: String) -> Result<String, LogError> {
        let stub = self
            .env
            .durable_object(binding)?
            .id_from_name(name)?
            .get_stub()?;
        let answer = crate::runtime::send_message(stub, body).await?;
        match answer.status {
            200 => Ok(answer.body),
            status => Err(LogError(format!(
                "{name} answered {status}: {}",
                answer.body
            ))),
        }
    }

    /// A message to one log shard of a tenant.
    pub async fn shard<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        shard: ShardRef,
        request: LogRequest,
    ) -> Result<T, LogError> {
        self.call(LOG_BINDING, &shard_name(tenant.as_str(), shard), request)
            .await
    }

    /// A message to the index object of an event id.
    pub async fn index<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        event: &EventId,
        request: IndexRequest,
    ) -> Result<T, LogError> {
        let name = index_name(tenant.as_str(), index_slot_of(event.as_str()));
        self.call(INDEX_BINDING, &name, request).await
    }

    /// A message to the index object `slot` (a tenant delete visits them all).
    pub async fn index_slot<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        slot: u32,
        request: IndexRequest,
    ) -> Result<T, LogError> {
        self.call(INDEX_BINDING, &index_name(tenant.as_str(), slot), request)
            .await
    }
}

/// The SQL port on a Durable Object's SQLite storage.
pub struct DoSql(pub SqlStorage);

fn bind(args: &[Arg]) -> Vec<SqlStorageValue> {
    args.iter()
        .map(|a| match a {
            Arg::Str(s) => SqlStorageValue::String(s.clone()),
            Arg::Int(n) => SqlStorageValue::Integer(*n),
            Arg::Null => SqlStorageValue::Null,
        })
        .collect()
}

impl Sql for DoSql {
    fn exec(&self, sql: &str, args: &[Arg]) -> Result<usize, String> {
        let cursor = if args.is_empty() {
            self.0.exec(sql, None)
        } else {
            self.0.exec(sql, bind(args))
        }
        .map_err(|e| e.to_string())?;
        Ok(cursor.rows_written())
    }

    fn query<T: DeserializeOwned>(&self, sql: &str, args: &[Arg]) -> Result<Vec<T>, String> {
        crate::runtime::rows::query(&self.0, sql, bind(args))
    }
}
