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

/// An in-memory SQLite as the port, for native tests (and the bytes-per-event benchmark).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub mod testing;
