//! An in-memory SQLite behind the `Sql` port: the log shard's and the index's logic run on
//! the real engine in native tests (and in the bytes-per-event benchmark, which includes this
//! file).

use super::{Arg, Sql};
use rusqlite::types::{Value as Sv, ValueRef};
use rusqlite::{params_from_iter, Connection};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::cell::Cell;

/// The connection, and how many statements (calls of `exec` or `query`) it has run.
pub struct Memory(pub Connection, Cell<usize>);

impl Default for Memory {
    fn default() -> Self {
        Memory(Connection::open_in_memory().unwrap(), Cell::new(0))
    }
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Statements run so far, as a Durable Object counts its `sql.exec` calls.
    pub fn statements(&self) -> usize {
        self.1.get()
    }
}

fn bind(args: &[Arg]) -> Vec<Sv> {
    args.iter()
        .map(|a| match a {
            Arg::Str(s) => Sv::Text(s.clone()),
            Arg::Int(n) => Sv::Integer(*n),
            Arg::Null => Sv::Null,
        })
        .collect()
}

impl Sql for Memory {
    fn exec(&self, sql: &str, args: &[Arg]) -> Result<usize, String> {
        self.1.set(self.1.get() + 1);
        if args.is_empty() {
            let before = self.0.total_changes();
            self.0.execute_batch(sql).map_err(|e| e.to_string())?;
            return Ok((self.0.total_changes() - before) as usize);
        }
        self.0
            .execute(sql, params_from_iter(bind(args)))
            .map_err(|e| e.to_string())
    }

    fn query<T: DeserializeOwned>(&self, sql: &str, args: &[Arg]) -> Result<Vec<T>, String> {
        self.1.set(self.1.get() + 1);
        let mut stmt = self.0.prepare(sql).map_err(|e| e.to_string())?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let rows = stmt
            .query_map(params_from_iter(bind(args)), |r| {
                let mut m = Map::new();
                for (i, n) in names.iter().enumerate() {
                    let v = match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => Value::from(n),
                        ValueRef::Real(f) => Value::from(f),
                        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into()),
                        ValueRef::Blob(_) => Value::Null,
                    };
                    m.insert(n.clone(), v);
                }
                Ok(Value::Object(m))
            })
            .map_err(|e| e.to_string())?;
        rows.map(|r| {
            let v = r.map_err(|e| e.to_string())?;
            serde_json::from_value(v).map_err(|e| e.to_string())
        })
        .collect()
    }
}
