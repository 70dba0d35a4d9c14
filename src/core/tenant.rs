//! The bodies of `POST /v1/tenants`, `PATCH /v1/tenants/{tenant_id}` and `POST …/portal`, as
//! read from the wire. Plain types so that the schema generator derives the API's
//! `TenantCreate`, `TenantUpdate` and `PortalRequest` from them; `api::tenants` checks them.

use crate::core::ids::TenantId;
#[cfg(not(target_arch = "wasm32"))]
use crate::core::log::MAX_LOG_SHARDS;
#[cfg(not(target_arch = "wasm32"))]
use crate::core::tokens::{DEFAULT_TTL_SECS, MAX_TTL_SECS, MIN_TTL_SECS};
use serde::{Deserialize, Deserializer};
#[cfg(not(target_arch = "wasm32"))]
use serde_json::Value;
use std::collections::BTreeMap;

/// A tenant's name, and a portal session's subject, in characters at most.
pub const MAX_NAME_CHARS: usize = 128;

// Ids and metadata are checked by their parsers; their schemas are written by hand in
// `api/openapi/base.json` and referred to here. The names' pattern is what `check_text` refuses.

/// Creates a tenant. Every field is optional; without `id` one is generated (`ten_` + ULID).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct TenantCreate {
    /// The platform's own id for this customer. 409 if a tenant with this id exists.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<Value>", extend("$ref" = "#/components/schemas/TenantId"))
    )]
    pub id: Option<TenantId>,
    /// A label, at most 128 characters, no control characters.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(
            length(max = MAX_NAME_CHARS),
            regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
        )
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Value", extend("$ref" = "#/components/schemas/Metadata"))
    )]
    pub metadata: BTreeMap<String, String>,
    /// Log shards per time bucket for this tenant's events from the next bucket on (the data
    /// plane's fan-out; default 1). Raise it for a tenant past about 20 events/s: each shard
    /// takes a bounded share of the bucket's events. See the README, "How it works".
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(min = 1, max = MAX_LOG_SHARDS))
    )]
    pub log_shards: Option<u32>,
}

/// Changes a tenant. Fields left out are unchanged; a `null` name clears it.
// A merge patch: an absent field is kept, `null` clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct TenantUpdate {
    /// A label, at most 128 characters, no control characters.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(
            with = "Option<String>",
            // Absent keeps the name: no default to state.
            skip_serializing_if = "Option::is_none",
            length(max = MAX_NAME_CHARS),
            regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
        )
    )]
    pub name: Option<Option<String>>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<Value>", extend("$ref" = "#/components/schemas/Metadata"))
    )]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Log shards per time bucket for this tenant's events from the next bucket on (the data
    /// plane's fan-out; default 1). Raise it for a tenant past about 20 events/s: each shard
    /// takes a bounded share of the bucket's events. See the README, "How it works".
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(min = 1, max = MAX_LOG_SHARDS))
    )]
    pub log_shards: Option<u32>,
}

/// The subject of a portal session whose request names none.
pub const DEFAULT_PORTAL_SUBJECT: &str = "portal";

/// The body of `POST /v1/tenants/{tenant_id}/portal`; both fields may be left out.
// The defaults are applied by `api::tenants`; the schema states them.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PortalRequest {
    /// Who the session is for; recorded as `portal:<subject>` (e.g. in a manual retry's
    /// `requested_by`).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(default = "portal_subject", length(min = 1, max = MAX_NAME_CHARS))
    )]
    pub subject: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(default = "portal_ttl", range(min = MIN_TTL_SECS, max = MAX_TTL_SECS))
    )]
    pub ttl_seconds: Option<u64>,
}

#[cfg(not(target_arch = "wasm32"))]
fn portal_subject() -> Option<String> {
    Some(DEFAULT_PORTAL_SUBJECT.into())
}

#[cfg(not(target_arch = "wasm32"))]
fn portal_ttl() -> Option<u64> {
    Some(DEFAULT_TTL_SECS)
}

/// Tells a field sent as `null` (Some(None)) from one not sent (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_tells_a_null_name_from_an_absent_one() {
        let cleared: TenantUpdate = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert_eq!(cleared.name, Some(None));
        let kept: TenantUpdate = serde_json::from_str("{}").unwrap();
        assert_eq!(kept.name, None);
        assert!(serde_json::from_str::<TenantUpdate>(r#"{"id":"x"}"#).is_err());
        assert!(serde_json::from_str::<TenantCreate>(r#"{"nmae":"x"}"#).is_err());
    }
}
