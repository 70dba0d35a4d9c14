//! CloudEvents 1.0 over HTTP for webhook destinations: the `cloudevents` config and the
//! framing of one delivery in binary mode (`ce-*` headers, the data as the body) or structured
//! mode (`application/cloudevents+json` envelope). The webhook signs whatever this produces.

use crate::core::engine::QueuedDelivery;
use crate::core::json;
use crate::core::time::to_rfc3339;
use crate::core::validate::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The CloudEvents version produced (the `specversion` attribute).
pub const SPEC_VERSION: &str = "1.0";
/// The media type of a structured-mode body (HTTP binding §3.2, JSON event format).
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
/// The event's data is always JSON text (the `datacontenttype` attribute).
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// A generous bound for a URI-reference that travels in a header.
pub const MAX_SOURCE_LEN: usize = 1024;

fn default_source() -> String {
    "sluice".into()
}

/// How the event is put on the wire (HTTP protocol binding §3.1 and §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "CloudEventsMode"))]
pub enum Mode {
    /// Attributes as `ce-*` headers, the data alone as the body.
    Binary,
    /// One JSON envelope holding the attributes and the data.
    Structured,
}

/// A webhook destination's `cloudevents` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct CloudEventsConfig {
    pub mode: Mode,
    /// The `source` attribute, a URI-reference (e.g. `https://shop.example/orders`).
    #[serde(default = "default_source")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(min = 1, max = 1024), regex(pattern = "^[!#$&-~]+$"))
    )]
    pub source: String,
}

impl CloudEventsConfig {
    /// Every problem with the setting, fields named `config.cloudevents.…`.
    pub fn validate(&self) -> Vec<FieldError> {
        check_source(&self.source)
            .err()
            .map(|e| FieldError::new("config.cloudevents.source", e))
            .into_iter()
            .collect()
    }
}

/// A non-empty URI-reference that can travel in a `ce-source` header as is. The HTTP binding
/// wants space, `"` and `%` percent-encoded in header values, and not every receiver decodes
/// them (the JavaScript SDK does not), so those are refused rather than encoded.
fn check_source(source: &str) -> Result<(), String> {
    let ok = !source.is_empty()
        && source.len() <= MAX_SOURCE_LEN
        && source
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '%'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a URI-reference of 1 to {MAX_SOURCE_LEN} printable ASCII characters, without \
             spaces, '\"' or '%', e.g. 'https://shop.example/orders'"
        ))
    }
}

/// One delivery framed as a CloudEvent: the headers to add, the content type and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The context attributes every event carries: `id` the event id, `type` the topic, `time`
/// the event's creation.
#[derive(Serialize)]
struct Attributes<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    time: String,
    datacontenttype: &'static str,
}

/// The structured-mode body. `data` is the payload's own text, spliced in unparsed so that
/// key order and number spelling travel as published.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(flatten)]
    attributes: Attributes<'a>,
    data: &'a RawValue,
}

/// Frames `d` as configured. Fails only when the payload is not JSON (it always is, unless a
/// transform broke it), since a structured envelope could not hold it.
pub fn frame(config: &CloudEventsConfig, d: &QueuedDelivery) -> Result<Framed, String> {
    let attributes = Attributes {
        specversion: SPEC_VERSION,
        id: d.event_id.as_str(),
        source: &config.source,
        kind: &d.topic,
        time: to_rfc3339(d.created_at),
        datacontenttype: DATA_CONTENT_TYPE,
    };
    match config.mode {
        Mode::Binary => Ok(Framed {
            content_type: DATA_CONTENT_TYPE,
            headers: vec![
                ("ce-specversion".into(), SPEC_VERSION.into()),
                ("ce-id".into(), attributes.id.into()),
                ("ce-source".into(), attributes.source.into()),
                ("ce-type".into(), attributes.kind.into()),
                ("ce-time".into(), attributes.time),
            ],
            body: d.payload.as_bytes().to_vec(),
        }),
        Mode::Structured => {
            let data: &RawValue = json::from_str(&d.payload)
                .map_err(|e| format!("CloudEvents: the payload is not JSON: {e}"))?;
            let body = serde_json::to_vec(&Envelope { attributes, data })
                .map_err(|e| format!("CloudEvents: {e}"))?;
            Ok(Framed {
                content_type: STRUCTURED_CONTENT_TYPE,
                headers: vec![],
                body,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validate::from_value;
    use crate::providers::testing::delivery;

    fn config(mode: Mode) -> CloudEventsConfig {
        CloudEventsConfig {
            mode,
            source: "https://shop.example/orders".into(),
        }
    }

    /// The HTTP binding's binary-mode example, with Sluice's values: attributes in `ce-*`
    /// headers, the data's own text as the body.
    #[test]
    fn binary_mode() {
        let d = delivery("evt_1", r#"{"b": 1, "a": 2.50}"#);
        let framed = frame(&config(Mode::Binary), &d).unwrap();
        assert_eq!(framed.content_type, "application/json");
        assert_eq!(
            framed.headers,
            [
                ("ce-specversion".to_string(), "1.0".to_string()),
                ("ce-id".into(), "evt_1".into()),
                ("ce-source".into(), "https://shop.example/orders".into()),
                ("ce-type".into(), "order.created".into()),
                ("ce-time".into(), "2023-11-14T22:12:20.000Z".into()),
            ]
        );
        assert_eq!(framed.body, br#"{"b": 1, "a": 2.50}"#);
    }

    /// The JSON event format: attributes and `data` in one object; the data's text is
    /// spliced in untouched (key order, spacing, `2.50` and big integers as written).
    #[test]
    fn structured_mode_keeps_the_payload_text() {
        let d = delivery(
            "evt_1",
            r#"{"z": 1, "a": [2.50, 12345678901234567890123], "s": "é\u00e9"}"#,
        );
        let framed = frame(&config(Mode::Structured), &d).unwrap();
        assert_eq!(
            framed.content_type,
            "application/cloudevents+json; charset=utf-8"
        );
        assert!(framed.headers.is_empty());
        assert_eq!(
            String::from_utf8(framed.body).unwrap(),
            r#"{"specversion":"1.0","id":"evt_1","source":"https://shop.example/orders","type":"order.created","time":"2023-11-14T22:12:20.000Z","datacontenttype":"application/json","data":{"z": 1, "a": [2.50, 12345678901234567890123], "s": "é\u00e9"}}"#
        );
        let scalar = frame(&config(Mode::Structured), &delivery("evt_2", " 7 ")).unwrap();
        assert!(String::from_utf8(scalar.body)
            .unwrap()
            .ends_with(r#""data":7}"#));
        assert!(frame(&config(Mode::Structured), &delivery("evt_3", "{nope")).is_err());
    }

    #[test]
    fn config_parsing_and_validation() {
        let c: CloudEventsConfig = from_value(
            serde_json::json!({"mode": "structured"}),
            "config.cloudevents",
        )
        .unwrap();
        assert_eq!(c.source, "sluice");
        assert!(c.validate().is_empty());
        for ok in [
            "/orders",
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
            "a",
        ] {
            let c = CloudEventsConfig {
                mode: Mode::Binary,
                source: ok.into(),
            };
            assert!(c.validate().is_empty(), "{ok}");
        }
        for bad in ["", "a b", "https://x/é", "a\"b", "a%20b", "a\nb"] {
            let c = CloudEventsConfig {
                mode: Mode::Binary,
                source: bad.into(),
            };
            let errors = c.validate();
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(errors[0].field, "config.cloudevents.source");
        }
        assert!(
            from_value::<CloudEventsConfig>(serde_json::json!({"mode": "batch"}), "c").is_err()
        );
    }
}
