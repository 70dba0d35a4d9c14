//! The Workers runtime behind the engine's ports (used by the scheduler and the API): `fetch` with an abort on timeout, the alarm,
//! the clock and the random source.

use crate::core::engine::{Clock, Wakeup};
use crate::core::settings::{Settings, SettingsError};
use crate::core::time::Millis;
use crate::core::wire::MAX_CONNECTIONS;
use crate::core::wire::{
    read_capped, HttpRequest, HttpResponse, TransportError, TransportResult, MAX_RESPONSE_BYTES,
};
use futures::future::{select, Either};
use futures::stream::{self, StreamExt};
use std::future::Future;
use std::time::Duration;
use worker::{
    console_error, AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Storage,
};

/// Sends an HTTP request with `fetch`, aborted after `timeout_ms`; redirects not followed.
pub async fn fetch(request: HttpRequest, timeout_ms: u64) -> TransportResult {
    let headers = Headers::new();
    for (k, v) in &request.headers {
        headers
            .append(k, v)
            .map_err(|e| TransportError::Network(format!("invalid header {k}: {e}")))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(request.method.to_string()))
        .with_headers(headers)
        // Redirects are not followed: a destination URL is what the user configured.
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(
            js_sys::Uint8Array::from(request.body.as_slice()).into(),
        ));
    let req = Request::new_with_init(&request.url, &init)
        .map_err(|e| TransportError::Network(format!("invalid request: {e}")))?;

    // One deadline for the whole exchange, headers and body.
    let controller = AbortController::default();
    let signal = controller.signal();
    let finished = {
        let exchange = async {
            let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
            // Read up to the cap and cancel the rest (see `read_capped`); no body (a 204)
            // or a broken one reads as empty.
            let bytes = match resp.stream() {
                Ok(stream) => read_capped(stream, MAX_RESPONSE_BYTES)
                    .await
                    .map(|c| c.bytes)
                    .unwrap_or_default(),
                Err(_) => vec![],
            };
            let headers = resp.headers().entries().collect::<Vec<_>>();
            Ok::<_, worker::Error>(HttpResponse {
                status: resp.status_code(),
                headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        let deadline = Delay::from(Duration::from_millis(timeout_ms));
        match select(Box::pin(exchange), deadline).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(_) => None,
        }
    };
    match finished {
        Some(Ok(resp)) => Ok(resp),
        Some(Err(e)) => Err(TransportError::Network(e.to_string())),
        None => {
            controller.abort();
            Err(TransportError::Timeout {
                after_ms: timeout_ms,
            })
        }
    }
}

/// The runtime clock and `crypto.getRandomValues`.
pub struct RuntimeClock;

/// The wall clock: the one place Sluice reads it (the engine's `Clock` port reads it here).
pub fn now() -> Millis {
    worker::Date::now().as_millis() as Millis
}

/// Prints one structured state-change line (`core::audit`) to the Worker's log.
pub fn log_change(
    change: &crate::core::audit::Change,
    tenant: &crate::core::ids::TenantId,
    destination: Option<&crate::core::ids::DestinationId>,
) {
    worker::console_log!(
        "{}",
        crate::core::audit::line(change, tenant, destination, now())
    );
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).expect("crypto.getRandomValues is available in Workers");
    buf
}

impl Clock for RuntimeClock {
    fn now(&self) -> Millis {
        now()
    }
    fn random(&self) -> f64 {
        (u64::from_le_bytes(random_bytes::<8>()) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn random_u128(&self) -> u128 {
        u128::from_le_bytes(random_bytes::<16>())
    }
}

/// The Durable Object's single alarm.
pub struct AlarmWakeup(pub Storage);

impl Wakeup for AlarmWakeup {
    async fn wake_at(&self, at: Option<Millis>) {
        let result = match at {
            Some(t) => set_alarm_at(&self.0, t).await,
            None => self.0.delete_alarm().await,
        };
        if let Err(e) = result {
            console_error!("could not set the scheduler alarm: {e}");
        }
    }
}

/// Sets the alarm at an absolute time (the `i64` form of `set_alarm` is an offset).
pub async fn set_alarm_at(storage: &Storage, at: Millis) -> worker::Result<()> {
    let date = js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at as f64));
    storage.set_alarm(worker::ScheduledTime::new(date)).await
}

/// Sends one JSON message to a Durable Object (the scheduler and data-plane protocols). No
/// headers: the object reads the body as its protocol's JSON whatever they say, and building
/// a `Headers` costs a call across the boundary per field on every message.
pub async fn post_json(
    stub: &worker::Stub,
    url: &str,
    body: String,
) -> worker::Result<worker::Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    stub.fetch_with_request(Request::new_with_init(url, &init)?)
        .await
}

thread_local! {
    /// The settings as first read in this isolate: vars change only with a deployment, which
    /// starts new isolates.
    static SETTINGS: std::cell::OnceCell<Result<Settings, SettingsError>> =
        const { std::cell::OnceCell::new() };
}

/// The deployment's settings (`core::settings`), read from the environment once per isolate.
pub fn settings(env: &Env) -> Result<Settings, SettingsError> {
    SETTINGS.with(|s| {
        s.get_or_init(|| Settings::parse(|name| env.var(name).ok().map(|v| v.to_string())))
            .clone()
    })
}

/// The settings for the Durable Objects and the cron: a bad value is logged and the defaults
/// are used, so that queued deliveries keep moving; the API answers every request with the
/// error meanwhile, so the misconfiguration cannot go unseen.
pub fn settings_or_default(env: &Env) -> Settings {
    settings(env).unwrap_or_else(|e| {
        console_error!(
            "{}",
            serde_json::json!({ "event": "settings_invalid", "error": e.to_string() })
        );
        Settings::default()
    })
}

/// `ENCRYPTION_KEY`, the secret that seals destination credentials and signs tenant tokens.
pub fn encryption_key(env: &Env) -> Result<String, String> {
    env.secret("ENCRYPTION_KEY")
        .map(|s| s.to_string())
        .map_err(|_| "ENCRYPTION_KEY is not set".to_string())
}

/// Runs calls at most `MAX_CONNECTIONS` at a time (what production allows one invocation);
/// answers in order.
pub async fn bounded<F: Future>(calls: Vec<F>) -> Vec<F::Output> {
    stream::iter(calls)
        .buffered(MAX_CONNECTIONS)
        .collect()
        .await
}
