//! The functional core: everything that decides, in plain Rust with no `worker` types.
//! Time and randomness are passed in; nothing here reads a clock or a random source.

pub mod alert_limits;
pub mod alerts;
pub mod audit;
pub mod breaker;
pub mod classify;
pub mod credential_guard;
pub mod crypto;
pub mod delivery;
pub mod destination;
pub mod engine;
pub mod filter;
pub mod ids;
pub mod jwt;
pub mod lanes;
pub mod lifecycle;
pub mod log;
pub mod metrics;
pub mod publish;
pub mod rate_limit;
pub mod redact;
pub mod retry;
pub mod routing_cache;
pub mod rsa_key;
pub mod settings;
pub mod signing;
pub mod stats;
pub mod tally;
pub mod template;
pub mod tenant;
pub mod time;
pub mod tokens;
pub mod topics;
pub mod transform;
pub mod validate;
pub mod wire;
