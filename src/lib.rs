//! Sluice: Event Destinations delivery on Cloudflare Workers.
//!
//! Entry points only. `core` decides, `providers` speak wire formats (both pure, tested
//! natively); `store` (D1), `scheduler` (the DeliveryScheduler Durable Object), `runtime`
//! (fetch, clock, alarms) and `api` are the thin shell around them; `log` (the data plane's
//! shards) and `queue` (a scheduler's queue) are SQL over one port, tested natively.

pub mod api;
pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod intake;
pub mod log;
pub mod providers;
pub mod queue;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod schema;

#[cfg(target_arch = "wasm32")]
pub mod maintenance;
#[cfg(target_arch = "wasm32")]
pub mod runtime;
#[cfg(target_arch = "wasm32")]
pub mod scheduler;
pub mod store;

#[cfg(target_arch = "wasm32")]
pub use log::index_object::EventIndex;
#[cfg(target_arch = "wasm32")]
pub use log::object::EventLog;
#[cfg(target_arch = "wasm32")]
pub use scheduler::DeliveryScheduler;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    Ok(api::handle(req, env).await)
}

/// The daily cron (`[triggers] crons` in wrangler.toml): what retention leaves in D1.
#[cfg(target_arch = "wasm32")]
#[worker::event(scheduled)]
async fn scheduled(
    _event: worker::ScheduledEvent,
    env: worker::Env,
    _ctx: worker::ScheduleContext,
) {
    maintenance::daily(&env).await;
}
