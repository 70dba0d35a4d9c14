//! The API's one error type, and the one place it becomes HTTP: `application/problem+json`
//! (RFC 9457) with a stable `type`. Internal details are logged, never sent.

use crate::core::validate::FieldError;
use crate::log::tenant::ReadError;
use crate::scheduler::client::SchedulerError;
use crate::store::StoreError;
use serde_json::json;
use worker::{console_error, Headers, Response};

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    /// A tenant token used beyond its tenant.
    Forbidden,
    NotFound(String),
    MalformedJson(String),
    Validation(Vec<FieldError>),
    PayloadTooLarge(usize),
    MethodNotAllowed(Vec<&'static str>),
    Conflict(String),
    /// A WebSocket route called without `Upgrade: websocket`.
    UpgradeRequired,
    /// A limit is reached (e.g. WebSocket clients of one destination).
    TooMany(String),
    /// Something we depend on failed; the client may retry. The detail is logged only.
    Unavailable(String),
    /// A bug or a misconfiguration; the detail is logged only.
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    fn parts(&self) -> (u16, &'static str, &'static str) {
        match self {
            ApiError::Unauthorized => (401, "unauthorized", "Unauthorized"),
            ApiError::Forbidden => (403, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (404, "not-found", "Not found"),
            ApiError::MalformedJson(_) => (400, "malformed-json", "Malformed JSON"),
            ApiError::Validation(_) => (422, "validation", "Invalid request"),
            ApiError::PayloadTooLarge(_) => (413, "payload-too-large", "Payload too large"),
            ApiError::MethodNotAllowed(_) => (405, "method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => (409, "conflict", "Conflict"),
            ApiError::UpgradeRequired => (426, "upgrade-required", "Upgrade required"),
            ApiError::TooMany(_) => (429, "too-many", "Too many"),
            ApiError::Unavailable(_) => (503, "unavailable", "Service unavailable"),
            ApiError::Internal(_) => (500, "internal", "Internal error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Unauthorized => {
                "send the API key or a tenant token as 'Authorization: Bearer <key>'".into()
            }
            ApiError::Forbidden => "this tenant token does not reach that resource".into(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::MalformedJson(why) => format!("the body is not valid JSON: {why}"),
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                many => format!("{} fields are invalid", many.len()),
            },
            ApiError::PayloadTooLarge(limit) => format!("the body is larger than {limit} bytes"),
            ApiError::MethodNotAllowed(allowed) => format!("allowed: {}", allowed.join(", ")),
            ApiError::Conflict(why) | ApiError::TooMany(why) => why.clone(),
            ApiError::UpgradeRequired => {
                "connect with a WebSocket client (Upgrade: websocket)".into()
            }
            ApiError::Unavailable(_) => {
                "a backing service is unavailable; retry the request".into()
            }
            ApiError::Internal(_) => "an internal error occurred; it has been logged".into(),
        }
    }

    /// The status and the problem document (RFC 9457); an unavailable or internal cause is
    /// logged here, never sent.
    pub fn problem(&self) -> (u16, serde_json::Value) {
        let (status, slug, title) = self.parts();
        if let ApiError::Unavailable(why) | ApiError::Internal(why) = self {
            console_error!(
                "{}",
                json!({ "event": "api_error", "status": status, "error": why })
            );
        }
        let mut body = json!({
            "type": format!("/problems/{slug}"),
            "title": title,
            "status": status,
            "detail": self.detail(),
        });
        if let ApiError::Validation(errors) = self {
            body["errors"] = json!(errors);
        }
        (status, body)
    }

    pub fn into_response(self) -> Response {
        let (status, body) = self.problem();
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/problem+json");
        if let ApiError::MethodNotAllowed(allowed) = &self {
            let _ = headers.set("allow", &allowed.join(", "));
        }
        if let ApiError::Unauthorized = &self {
            let _ = headers.set("www-authenticate", "Bearer");
        }
        Response::ok(body.to_string())
            .map(|r| r.with_status(status).with_headers(headers))
            .unwrap_or_else(|_| {
                Response::empty()
                    .expect("empty response")
                    .with_status(status)
            })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                ApiError::Conflict("a resource with this id already exists".into())
            }
            StoreError::Db(why) => ApiError::Unavailable(format!("D1: {why}")),
            // Retrying cannot help and the client did nothing wrong: say what to do about it.
            StoreError::Unreadable(e) => ApiError::Conflict(format!(
                "destination {} is stored in a form this version cannot read (its {}); \
                 delete it and create it again",
                e.destination_id, e.column
            )),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Store(e) => e.into(),
            ReadError::Log(e) => ApiError::Unavailable(format!("data plane: {}", e.0)),
        }
    }
}

impl From<SchedulerError> for ApiError {
    fn from(e: SchedulerError) -> Self {
        match e {
            SchedulerError::Gone => ApiError::NotFound("destination".into()),
            // The snapshot is handed over before each connection: its absence is transient.
            e @ SchedulerError::NotConfigured => ApiError::Unavailable(e.to_string()),
            e @ SchedulerError::Full { .. } => ApiError::TooMany(e.to_string()),
            e @ SchedulerError::NotWebSocket => ApiError::Conflict(e.to_string()),
            SchedulerError::Unavailable(why) => ApiError::Unavailable(format!("scheduler: {why}")),
        }
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
