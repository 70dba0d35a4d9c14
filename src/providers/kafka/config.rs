//! The `kafka` destination's `config` (Confluent REST Proxy, or Confluent Cloud's Kafka REST
//! API): where the proxy is, which API version, cluster and topic, where the record key comes
//! from, and basic auth; with its validation, masking and the key lookup. The requests
//! themselves are built in `kafka`.

use crate::core::destination::MASK;
use crate::core::engine::QueuedDelivery;
use crate::core::json;
use crate::core::validate::{check_base_url, check_header_value, sqlite_json_path, FieldError};
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Kafka's own rule for topic names (`org.apache.kafka.common.internals.Topic`): at most 249
/// characters of ASCII letters, digits, '.', '_' and '-', and neither "." nor "..".
pub const MAX_TOPIC_LEN: usize = 249;
/// Cluster ids are Kafka's 22-character base64url ids, or Confluent Cloud's `lkc-…`; the
/// bound only keeps the URL path sane.
pub const MAX_CLUSTER_ID_LEN: usize = 64;

/// A `kafka` destination's `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct KafkaConfig {
    /// The proxy's base URL, e.g. `https://rest-proxy.internal:8082`, or for Confluent Cloud
    /// `https://pkc-….confluent.cloud:443/kafka` (its v3 API lives under `/kafka`).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url, length(max = 2048)))]
    pub endpoint: String,
    #[serde(default)]
    pub api_version: ApiVersion,
    /// The Kafka cluster id (v3 only: it is part of the v3 URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(min = 1, max = 64), regex(pattern = "^[A-Za-z0-9_-]+$"))
    )]
    pub cluster_id: Option<String>,
    /// The Kafka topic the records go to.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1, max = 249), regex(pattern = "^[a-zA-Z0-9._-]+$"), extend("not" = {"enum": [".", ".."]})))]
    pub topic: String,
    /// A path into the event's data (`customer.id`, `items[0].sku`) whose value is the record
    /// key; when the event lacks it (or it is null or ""), the key is the event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_field: Option<String>,
    /// Basic auth to the proxy (a Confluent Cloud API key and secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KafkaAuth>,
}

/// Which REST API the proxy speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "KafkaApiVersion"))]
pub enum ApiVersion {
    /// `POST /v3/clusters/{cluster_id}/topics/{topic}/records`: one record per request, with
    /// headers. Confluent Cloud speaks only this one.
    #[default]
    V3,
    /// `POST /topics/{topic}`: up to `MAX_V2_RECORDS` records per request, no headers.
    V2,
}

/// How Sluice authenticates to the proxy. Confluent Cloud takes its API key and secret as
/// basic auth; a proxy without auth needs no `auth` at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum KafkaAuth {
    Basic {
        /// Or the Confluent Cloud API key.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
        username: String,
        /// Or the Confluent Cloud API secret.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1), extend("x-secret" = true, "writeOnly" = true)))]
        password: String,
    },
}

/// The record key, as the v3 API types it.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    /// Sent as UTF-8 bytes (`"type": "STRING"`).
    Text(String),
    /// A number, boolean, object or array from the payload: its compact JSON text is the key
    /// (`"type": "JSON"`).
    Json(Value),
}

impl KafkaConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_base_url(
            &self.endpoint,
            allow_private,
            "the proxy's base URL, without query or fragment",
        ) {
            errors.push(FieldError::new("config.endpoint", e));
        }
        match (self.api_version, &self.cluster_id) {
            (ApiVersion::V3, None) => errors.push(FieldError::new(
                "config.cluster_id",
                "required with api_version v3 (it is part of the v3 URL)",
            )),
            (ApiVersion::V3, Some(id)) if !is_cluster_id(id) => errors.push(FieldError::new(
                "config.cluster_id",
                format!("1 to {MAX_CLUSTER_ID_LEN} letters, digits, '-' or '_'"),
            )),
            (ApiVersion::V2, Some(_)) => errors.push(FieldError::new(
                "config.cluster_id",
                "only used with api_version v3",
            )),
            _ => {}
        }
        if let Err(e) = check_topic(&self.topic) {
            errors.push(FieldError::new("config.topic", e));
        }
        if let Some(field) = &self.key_field {
            if let Err(e) = sqlite_json_path(field) {
                errors.push(FieldError::new("config.key_field", e));
            }
        }
        if let Some(KafkaAuth::Basic { username, password }) = &self.auth {
            for (field, value) in [
                ("config.auth.username", username),
                ("config.auth.password", password),
            ] {
                if value.is_empty() {
                    errors.push(FieldError::new(field, "must not be empty"));
                } else if let Err(e) = check_header_value(value) {
                    errors.push(FieldError::new(field, e));
                }
            }
            if username.contains(':') {
                errors.push(FieldError::new(
                    "config.auth.username",
                    "may not contain ':'",
                ));
            }
        }
        errors
    }

    /// The config as the API shows it: the password masked.
    pub fn masked(&self) -> Self {
        let mut c = self.clone();
        c.auth = c
            .auth
            .map(|KafkaAuth::Basic { username, .. }| KafkaAuth::Basic {
                username,
                password: MASK.into(),
            });
        c
    }

    /// The base of request URLs: the endpoint without a trailing slash.
    pub fn base(&self) -> &str {
        self.endpoint.trim_end_matches('/')
    }

    /// The record key of an event: the `key_field` value when the payload (JSON text) has
    /// one, else the event id. The payload is parsed only when there is a `key_field`.
    pub fn key(&self, payload: &str, event_id: &str) -> Result<RecordKey, String> {
        let Some(path) = self.key_field.as_deref() else {
            return Ok(RecordKey::Text(event_id.to_string()));
        };
        let payload: Value =
            json::from_str(payload).map_err(|e| format!("the event's data is not JSON: {e}"))?;
        Ok(match lookup(&payload, path) {
            None | Some(Value::Null) => RecordKey::Text(event_id.to_string()),
            Some(Value::String(s)) if s.is_empty() => RecordKey::Text(event_id.to_string()),
            Some(Value::String(s)) => RecordKey::Text(s.clone()),
            Some(other) => RecordKey::Json(other.clone()),
        })
    }
}

/// Kafka's topic name rule.
pub fn check_topic(topic: &str) -> Result<(), String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN || !topic.chars().all(legal) {
        return Err(format!(
            "a Kafka topic name is 1 to {MAX_TOPIC_LEN} ASCII letters, digits, '.', '_' or '-'"
        ));
    }
    if topic == "." || topic == ".." {
        return Err("a Kafka topic name cannot be '.' or '..'".into());
    }
    Ok(())
}

fn is_cluster_id(id: &str) -> bool {
    (1..=MAX_CLUSTER_ID_LEN).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The value at `path` (dot-separated keys, each with optional `[index]`s, as `key_field`
/// is validated) inside `value`.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for segment in path.split('.') {
        let (key, mut rest) = segment
            .find('[')
            .map_or((segment, ""), |i| segment.split_at(i));
        current = current.get(key)?;
        while let Some(inner) = rest.strip_prefix('[') {
            let (index, after) = inner.split_once(']')?;
            current = current.get(index.parse::<usize>().ok()?)?;
            rest = after;
        }
    }
    Some(current)
}

impl TypeConfig for KafkaConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(KafkaConfig::masked(self)).unwrap_or_default()
    }

    /// Kafka keeps one key's records in order (one partition): the `key_field` value, when
    /// the event has one. The event-id fallback is unique per event, so it orders nothing.
    fn ordering_key(&self, d: &QueuedDelivery) -> Option<String> {
        self.key_field.as_ref()?;
        match self.key(&d.payload, d.event_id.as_str()).ok()? {
            RecordKey::Text(s) if s == d.event_id.as_str() => None,
            RecordKey::Text(s) => Some(s),
            RecordKey::Json(v) => Some(v.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validate::from_value;
    use serde_json::json;

    fn v3() -> KafkaConfig {
        KafkaConfig {
            endpoint: "https://rest.example.com/".into(),
            api_version: ApiVersion::V3,
            cluster_id: Some("lkc-abc12".into()),
            topic: "orders".into(),
            key_field: None,
            auth: None,
        }
    }

    #[test]
    fn parsing_defaults_and_round_trip() {
        let json = json!({"endpoint": "https://rest.example.com", "cluster_id": "MkZ6q0k3TtyQ2AmeGfEm-w",
                          "topic": "orders.v1", "key_field": "customer.id",
                          "auth": {"type": "basic", "username": "KEY", "password": "SECRET"}});
        let c: KafkaConfig = from_value(json.clone(), "config").unwrap();
        assert_eq!(c.api_version, ApiVersion::V3);
        assert!(c.validate(false).is_empty(), "{:?}", c.validate(false));
        let mut shown = json.clone();
        shown["api_version"] = "v3".into();
        assert_eq!(serde_json::to_value(&c).unwrap(), shown);
        let masked = serde_json::to_value(c.masked()).unwrap();
        assert_eq!(
            masked["auth"],
            json!({"type": "basic", "username": "KEY", "password": MASK})
        );

        let mut unknown = json.clone();
        unknown["partition"] = 3.into();
        assert_eq!(
            from_value::<KafkaConfig>(unknown, "config")
                .unwrap_err()
                .field,
            "config.partition"
        );
        let mut bad_auth = json.clone();
        bad_auth["auth"] = json!({"type": "bearer", "token": "t"});
        assert_eq!(
            from_value::<KafkaConfig>(bad_auth, "config")
                .unwrap_err()
                .field,
            "config.auth.type"
        );
        let mut bad_version = json;
        bad_version["api_version"] = "v1".into();
        assert_eq!(
            from_value::<KafkaConfig>(bad_version, "config")
                .unwrap_err()
                .field,
            "config.api_version"
        );
    }

    #[test]
    fn topic_names_follow_kafkas_rule() {
        for ok in ["orders", "a", "orders.v1", "my_topic-2", &"t".repeat(249)] {
            assert!(check_topic(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "has space",
            "slash/topic",
            "ünicode",
            &"t".repeat(250),
        ] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut c = v3();
        c.endpoint = "ftp://rest.example.com".into();
        c.cluster_id = Some("bad/id".into());
        c.topic = "..".into();
        c.key_field = Some("customer..id".into());
        c.auth = Some(KafkaAuth::Basic {
            username: "a:b".into(),
            password: String::new(),
        });
        let fields: Vec<String> = c.validate(false).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "config.endpoint",
                "config.cluster_id",
                "config.topic",
                "config.key_field",
                "config.auth.password",
                "config.auth.username",
            ]
        );
        let mut missing = v3();
        missing.cluster_id = None;
        assert_eq!(missing.validate(false)[0].field, "config.cluster_id");
        let mut v2 = v3();
        v2.api_version = ApiVersion::V2;
        assert_eq!(
            v2.validate(false)[0].message,
            "only used with api_version v3"
        );
        v2.cluster_id = None;
        assert!(v2.validate(false).is_empty());
        let mut private = v3();
        private.endpoint = "http://127.0.0.1:8082".into();
        assert_eq!(private.validate(false)[0].field, "config.endpoint");
        assert!(private.validate(true).is_empty());
        private.endpoint = "http://127.0.0.1:8082/?x=1".into();
        assert_eq!(private.validate(true)[0].field, "config.endpoint");
    }

    #[test]
    fn keys_come_from_the_payload_or_the_event_id() {
        let payload = json!({"customer": {"id": "c-42", "n": 7, "tags": ["a", "b"], "none": null, "empty": ""}}).to_string();
        let mut c = v3();
        // Without a key field the payload is not even read: not JSON is no error then.
        assert_eq!(
            c.key("not json", "evt_1"),
            Ok(RecordKey::Text("evt_1".into()))
        );
        let cases = [
            ("customer.id", RecordKey::Text("c-42".into())),
            ("customer.n", RecordKey::Json(json!(7))),
            ("customer.tags[1]", RecordKey::Text("b".into())),
            ("customer.tags", RecordKey::Json(json!(["a", "b"]))),
            ("customer.none", RecordKey::Text("evt_1".into())),
            ("customer.empty", RecordKey::Text("evt_1".into())),
            ("customer.missing", RecordKey::Text("evt_1".into())),
            ("customer.tags[5]", RecordKey::Text("evt_1".into())),
            ("customer.id.deeper", RecordKey::Text("evt_1".into())),
        ];
        for (path, expected) in cases {
            c.key_field = Some(path.into());
            assert_eq!(c.key(&payload, "evt_1"), Ok(expected), "{path}");
        }
    }
}
