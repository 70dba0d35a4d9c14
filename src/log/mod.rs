//! The data plane: each tenant's events, deliveries and attempt histories in log shards
//! (Durable Objects with SQLite storage, laid out by `core::log`), so that capacity grows
//! with the number of objects instead of sitting in one D1 database.
//!
//! `shard` is one shard's logic over the `sql::Sql` port, tested natively on SQLite; `rows`
//! are what it stores.

pub mod claims;
#[cfg(target_arch = "wasm32")]
pub mod client;
pub mod index;
#[cfg(target_arch = "wasm32")]
pub mod index_object;
#[cfg(target_arch = "wasm32")]
pub mod object;
pub mod protocol;
pub mod rows;
pub mod search;
pub mod shard;
pub mod sql;
#[cfg(target_arch = "wasm32")]
pub mod tenant;
