//! The destination config of type `websocket`: how many clients may connect.

use crate::core::validate::FieldError;
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};

pub const DEFAULT_MAX_CLIENTS: u32 = 100;
/// Durable Objects accept up to 32,768 WebSocket connections; keep well under.
pub const MAX_MAX_CLIENTS: u32 = 1_000;
pub(super) fn default_max_clients() -> u32 {
    DEFAULT_MAX_CLIENTS
}

/// The destination config of type `websocket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct WebSocketConfig {
    /// Connections beyond this many are refused (HTTP 429).
    #[serde(default = "default_max_clients")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1, max = 1000)))]
    pub max_clients: u32,
}

impl WebSocketConfig {
    pub fn validate(&self, _allow_private: bool) -> Vec<FieldError> {
        if (1..=MAX_MAX_CLIENTS).contains(&self.max_clients) {
            vec![]
        } else {
            vec![FieldError::new(
                "config.max_clients",
                format!("between 1 and {MAX_MAX_CLIENTS}"),
            )]
        }
    }
}

/// Nothing in it is secret.
impl TypeConfig for WebSocketConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Its clients connect to one scheduler object.
    const ONE_LANE: bool = true;
}
