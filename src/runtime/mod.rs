//! The Workers runtime behind the engine's ports (used by the scheduler and the API): `fetch` with an abort on timeout, the alarm,
//! the clock and the random source; and the messages to the Durable Objects (Workers RPC).

pub mod rows;

use crate::core::engine::{Clock, Wakeup};
use crate::core::json;
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
use worker::js_sys::futures::JsFuture;
use worker::wasm_bindgen::{self, JsCast, JsValue};
use worker::{console_error, web_sys, AbortController, Delay, Env, Storage};

/// Sends an HTTP request with `fetch`, aborted after `timeout_ms`; redirects not followed.
///
/// Built and read with as few calls across the JS ↔ wasm boundary as the runtime allows (the
/// costliest part of a delivery in `bench/profile.mjs`): the headers go over as one JSON text,
/// the answer's headers come back as one, and a body whose length is declared within the cap
/// is read with one `text()` rather than through a stream reader (`getReader`, a `read` per
/// chunk, `releaseLock`).
pub async fn fetch(request: HttpRequest, timeout_ms: u64) -> TransportResult {
    let network =
        |what: &str, e: JsValue| TransportError::Network(format!("{what}: {}", js_text(&e)));
    let headers = serde_json::to_string(&request.headers).unwrap_or_default();
    let headers = js_sys::JSON::parse(&headers).map_err(|e| network("invalid headers", e))?;
    // One deadline for the whole exchange, headers and body.
    let controller = AbortController::default();
    let init = web_sys::RequestInit::new();
    init.set_method(request.method);
    init.set_headers(&headers);
    // Redirects are not followed: a destination URL is what the user configured.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_body(&js_sys::Uint8Array::from(request.body.as_slice()).into());
    init.set_signal(Some(&controller.signal()));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let finished = {
        let exchange = async {
            let resp: web_sys::Response =
                JsFuture::from(global.fetch_with_str_and_init(&request.url, &init))
                    .await?
                    .dyn_into()?;
            let (status, headers) = (resp.status(), header_list(&resp.headers()));
            let body = read_answer(resp).await.unwrap_or_default();
            Ok::<_, JsValue>(HttpResponse {
                status,
                headers,
                body,
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
        Some(Err(e)) => Err(network("fetch failed", e)),
        None => {
            controller.abort();
            Err(TransportError::Timeout {
                after_ms: timeout_ms,
            })
        }
    }
}

/// An answer's body as text, up to `MAX_RESPONSE_BYTES` (the rest never read; see
/// `read_capped`). No body (a 204) or a broken one reads as empty.
async fn read_answer(resp: web_sys::Response) -> Result<String, JsValue> {
    let declared = resp
        .headers()
        .get("content-length")?
        .and_then(|n| n.parse::<usize>().ok());
    if resp.body().is_none() {
        return Ok(String::new());
    }
    if declared.is_some_and(|n| n <= MAX_RESPONSE_BYTES) {
        // The runtime holds the body to its declared length: one read of it whole.
        return Ok(JsFuture::from(resp.text()?)
            .await?
            .as_string()
            .unwrap_or_default());
    }
    let mut resp = worker::Response::from(resp);
    let bytes = match resp.stream() {
        Ok(stream) => read_capped(stream, MAX_RESPONSE_BYTES)
            .await
            .map(|c| c.bytes)
            .unwrap_or_default(),
        Err(_) => vec![],
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An answer's headers, fetched in one piece (`Object.fromEntries` as JSON text).
fn header_list(headers: &web_sys::Headers) -> Vec<(String, String)> {
    js_sys::Object::from_entries(headers)
        .and_then(|o| js_sys::JSON::stringify(&o))
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| json::from_str::<serde_json::Map<String, serde_json::Value>>(&s).ok())
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A thrown JS value as text, for an error message.
fn js_text(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `crypto.subtle.importKey` (through a binding of its own: the `web-sys` features for
    /// `SubtleCrypto` are not among those `worker` enables).
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        key_data: &js_sys::Uint8Array,
        algorithm: &JsValue,
        extractable: bool,
        usages: &js_sys::Array,
    ) -> Result<js_sys::Promise, JsValue>;
    /// `crypto.subtle.sign`.
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = sign)]
    fn subtle_sign(
        algorithm: &JsValue,
        key: &JsValue,
        data: &js_sys::Uint8Array,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// RS256 (RSASSA-PKCS1-v1_5, SHA-256) with WebCrypto: the platform's constant-time RSA, and
/// no RSA code in the wasm. The key is imported per signature: a token lasts an hour, so
/// this runs once an hour per Pub/Sub destination at most.
pub async fn sign_rs256(pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
    const RS256: &str = "RSASSA-PKCS1-v1_5";
    let failed = |what: &str, e: JsValue| format!("{what}: {}", js_text(&e));
    let algorithm = js_sys::Object::new();
    js_sys::Reflect::set(&algorithm, &"name".into(), &RS256.into())
        .and_then(|_| js_sys::Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()))
        .map_err(|e| failed("WebCrypto", e))?;
    let usages = js_sys::Array::of1(&"sign".into());
    let key = import_key(
        "pkcs8",
        &js_sys::Uint8Array::from(pkcs8_der),
        &algorithm,
        false,
        &usages,
    )
    .map_err(|e| failed("the private key was refused", e))?;
    let key = JsFuture::from(key)
        .await
        .map_err(|e| failed("the private key was refused", e))?;
    let signature = subtle_sign(&RS256.into(), &key, &js_sys::Uint8Array::from(message))
        .map_err(|e| failed("signing failed", e))?;
    let signature = JsFuture::from(signature)
        .await
        .map_err(|e| failed("signing failed", e))?;
    Ok(js_sys::Uint8Array::new(&signature).to_vec())
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

/// What a Durable Object answers a message of its protocol: a status (200, or the error's
/// 400, 410, 500) and the body, the answer's JSON or the error's text.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// 200 with the answer's JSON, serialised by the caller (`serde_json::to_string`): one copy
    /// of this code in the wasm rather than one per answer type.
    pub fn json(text: serde_json::Result<String>) -> Answer {
        match text {
            Ok(body) => Answer { status: 200, body },
            Err(e) => Answer::error(500, format!("the answer could not be encoded: {e}")),
        }
    }

    pub fn error(status: u16, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: message.into(),
        }
    }

    /// The answer as a `fetch` handler's response (JSON, or the error's text).
    pub fn into_response(self) -> worker::Result<worker::Response> {
        if self.status != 200 {
            return worker::Response::error(self.body, self.status);
        }
        Ok(worker::ResponseBuilder::new()
            .with_header("content-type", "application/json")?
            .fixed(self.body.into_bytes()))
    }

    /// The answer as the RPC method `message` returns it: `[status, body]`.
    pub fn into_js(self) -> JsValue {
        js_sys::Array::of2(&self.status.into(), &self.body.into()).into()
    }

    fn from_js(value: JsValue) -> worker::Result<Answer> {
        let pair: js_sys::Array = value.dyn_into()?;
        match (pair.get(0).as_f64(), pair.get(1).as_string()) {
            (Some(status), Some(body)) => Ok(Answer {
                status: status as u16,
                body,
            }),
            _ => Err(worker::Error::RustError(
                "a Durable Object answered something else than [status, body]".into(),
            )),
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A Durable Object's stub, as the runtime gives it.
    type RawStub;
    /// The RPC method `message` of the object's class (see `export_message!`).
    #[wasm_bindgen(method, catch, js_name = message)]
    fn message(this: &RawStub, text: &str) -> Result<js_sys::Promise, JsValue>;
}

/// Sends one message of the scheduler or data-plane protocol (its JSON text) to a Durable
/// Object and returns its answer. A Workers RPC call (`stub.message(text)`) rather than a
/// `fetch`: no Request, Headers or Response is built on either side and no body stream is
/// read, which costs CPU on both sides (in local workerd, on the one thread that runs the
/// Worker and every object). An object that throws, or is reset while it handles the message,
/// fails the call: an `Err`, as a failed `fetch` was. RPC carries at most 32 MiB each way; the
/// largest message, a shard's hand-off, holds at most 4 MiB of payloads.
pub async fn send_message(stub: worker::Stub, text: String) -> worker::Result<Answer> {
    let stub: RawStub = stub.into_rpc();
    // The runtime's answer is an RPC promise, a thenable rather than a `Promise`: `JsFuture`
    // only calls its `then`.
    Answer::from_js(JsFuture::from(stub.message(&text)?).await?)
}

/// Exports `message(text)` on a Durable Object class (its `handle(&str) -> Result<Answer>`):
/// the RPC method `send_message` calls. The runtime offers RPC only on classes that extend
/// `DurableObject`, which the classes worker-build exports do not: `src/entry.mjs` wraps them
/// in classes that do, and forwards `message` (with `fetch`, `alarm` and the WebSocket
/// events) to them.
macro_rules! export_message {
    ($class:ty) => {
        #[::wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
        impl $class {
            #[wasm_bindgen(js_name = message)]
            pub async fn rpc_message(
                &self,
                text: String,
            ) -> ::std::result::Result<
                ::worker::wasm_bindgen::JsValue,
                ::worker::wasm_bindgen::JsValue,
            > {
                self.handle(&text)
                    .await
                    .map($crate::runtime::Answer::into_js)
                    .map_err(::worker::wasm_bindgen::JsValue::from)
            }
        }
    };
}
pub(crate) use export_message;

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
