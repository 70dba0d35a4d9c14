//! The one port the log shard's logic needs: run SQL on the object's own SQLite. The Durable
//! Object adapts its `SqlStorage` to it; native tests use an in-memory SQLite, so every query
//! of the data plane runs on the real engine in `cargo test`.

use serde::de::DeserializeOwned;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    Int(i64),
    Null,
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Str(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Str(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Str(s.clone())
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}
impl From<u32> for Arg {
    fn from(n: u32) -> Self {
        Arg::Int(i64::from(n))
    }
}
impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(o: Option<T>) -> Self {
        o.map_or(Arg::Null, Into::into)
    }
}

/// SQL on one object's SQLite. Statements run one by one; the Durable Object commits all
/// the writes of one synchronous stretch together, so an operation that writes without
/// awaiting in between is atomic.
pub trait Sql {
    /// Runs a statement (or several, without arguments). Returns how many rows it wrote, as
    /// the storage counts them: a Durable Object counts index rows too, so only `0` (nothing
    /// changed) versus more is meaningful.
    fn exec(&self, sql: &str, args: &[Arg]) -> Result<usize, String>;
    /// Runs a query; its rows by column name.
    fn query<T: DeserializeOwned>(&self, sql: &str, args: &[Arg]) -> Result<Vec<T>, String>;
}

/// An in-memory SQLite as the port, for native tests.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub mod testing {
    use super::{Arg, Sql};
    use rusqlite::types::{Value as Sv, ValueRef};
    use rusqlite::{params_from_iter, Connection};
    use serde::de::DeserializeOwned;
    use serde_json::{Map, Value};

    pub struct Memory(pub Connection);

    impl Default for Memory {
        fn default() -> Self {
            Memory(Connection::open_in_memory().unwrap())
        }
    }

    impl Memory {
        pub fn new() -> Self {
            Self::default()
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
}
