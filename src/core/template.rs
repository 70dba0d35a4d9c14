//! Destination templates (issue 4 §8): prefilled destinations for services that take a
//! webhook in their own body shape (Slack, Discord, PagerDuty, Datadog, Zapier, Linear).
//!
//! A template is data (`templates.json`, compiled in and served at `GET /v1/templates`): the
//! destination type, a pattern its URL must match, the headers the user must supply (the
//! service's credentials, sealed like every custom header), parameters filled into its
//! transform, a default config and a default `transform` (the body shape). Creating with
//! `"template": "slack"` expands the template into an ordinary destination, the user's
//! fields winning; the name stays on the destination, and while it does the URL pattern and
//! the required headers are checked on every change.

use std::sync::OnceLock;

use regex_lite::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::destination::merge_patch;
use super::transform::escape_literal;
use super::validate::{check_url, FieldError};

/// The catalogue as served.
pub const CATALOGUE: &str = include_str!("templates.json");

#[derive(Debug, Deserialize)]
struct Catalogue {
    data: Vec<Template>,
}

/// One template (the fields the server uses; the catalogue's descriptions are for people).
#[derive(Debug, Deserialize)]
pub struct Template {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url_pattern: String,
    /// The URL is the service's credential (a Slack, Discord or Zapier webhook URL): shown
    /// with its path masked (`core::redact::shown_config`).
    #[serde(default)]
    pub url_is_secret: bool,
    pub required_headers: Vec<RequiredHeader>,
    pub params: Vec<Param>,
    pub config: Value,
    pub transform: Value,
    pub example: Value,
    #[serde(skip)]
    url_regex: Option<Regex>,
}

#[derive(Debug, Deserialize)]
pub struct RequiredHeader {
    pub name: String,
    pub description: String,
}

/// A value the user gives at create (`params.team_id`), written into the template's
/// transform at `pointer` as literal text.
#[derive(Debug, Deserialize)]
pub struct Param {
    pub name: String,
    pub pointer: String,
    pub description: String,
}

fn catalogue() -> &'static [Template] {
    static PARSED: OnceLock<Vec<Template>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut c: Catalogue =
            serde_json::from_str(CATALOGUE).expect("templates.json is checked by a unit test");
        for t in &mut c.data {
            t.url_regex = Regex::new(&t.url_pattern).ok();
        }
        c.data
    })
}

/// The template of that name.
pub fn find(name: &str) -> Option<&'static Template> {
    catalogue().iter().find(|t| t.name == name)
}

/// One template as the catalogue serves it.
pub fn view(name: &str) -> Option<Value> {
    let all: Value = serde_json::from_str(CATALOGUE).ok()?;
    all["data"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
}

fn unknown(name: &str) -> FieldError {
    let names: Vec<&str> = catalogue().iter().map(|t| t.name.as_str()).collect();
    FieldError::new(
        "template",
        format!("unknown template '{name}'; one of {}", names.join(", ")),
    )
}

/// Expands `"template"` in a create body into a full destination input: the template's type,
/// its config under the user's (`config.headers` merge key by key; the user wins), and its
/// transform with `params` filled in unless the body has its own `transform` (`null`: none).
/// A body without a template is returned as is.
pub fn expand(mut body: Value) -> Result<Value, Vec<FieldError>> {
    let Some(fields) = body.as_object_mut() else {
        return Ok(body);
    };
    let params = fields.remove("params");
    let name = match fields.get("template") {
        None | Some(Value::Null) => {
            return match params {
                None => Ok(body),
                Some(_) => Err(vec![FieldError::new(
                    "params",
                    "params go with a template (\"template\": \"linear\")",
                )]),
            }
        }
        Some(Value::String(name)) => name.clone(),
        Some(_) => {
            return Err(vec![FieldError::new(
                "template",
                "a template name, e.g. \"slack\"",
            )])
        }
    };
    let template = find(&name).ok_or_else(|| vec![unknown(&name)])?;
    fields
        .entry("type")
        .or_insert_with(|| Value::String(template.kind.clone()));
    let mut config = template.config.clone();
    if let Some(given) = fields.get("config") {
        merge_patch(&mut config, given);
    }
    fields.insert("config".into(), config);

    let mut errors = vec![];
    let params = match params {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(vec![FieldError::new(
                "params",
                "an object of the template's parameters",
            )])
        }
    };
    for key in params.keys() {
        if !template.params.iter().any(|p| &p.name == key) {
            errors.push(FieldError::new(
                format!("params.{key}"),
                format!("the {name} template has no parameter '{key}'"),
            ));
        }
    }
    if !fields.contains_key("transform") {
        let mut transform = template.transform.clone();
        for p in &template.params {
            let field = format!("params.{}", p.name);
            match params.get(&p.name) {
                Some(Value::String(v)) if !v.trim().is_empty() => {
                    if let Some(slot) = transform.pointer_mut(&p.pointer) {
                        *slot = Value::String(escape_literal(v));
                    }
                }
                Some(_) => errors.push(FieldError::new(field, "a non-empty string")),
                None => errors.push(FieldError::new(
                    field,
                    format!("the {name} template needs it: {}", p.description),
                )),
            }
        }
        fields.insert("transform".into(), transform);
    }
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(errors)
    }
}

/// What a destination made from a template must keep: its type, a URL matching the pattern,
/// and the required headers. With `allow_private` (local development and tests) a URL on a
/// private or loopback address is exempt from the pattern, so that a local receiver can
/// stand in for the service; a public URL is always held to it.
pub fn check(name: &str, kind: &str, config: &Value, allow_private: bool) -> Vec<FieldError> {
    let Some(t) = find(name) else {
        return vec![unknown(name)];
    };
    let mut errors = vec![];
    if kind != t.kind {
        errors.push(FieldError::new(
            "type",
            format!("the {name} template makes {} destinations", t.kind),
        ));
        return errors;
    }
    if let Some(url) = config.get("url").and_then(Value::as_str) {
        let local_stand_in =
            allow_private && check_url(url, false).is_err() && check_url(url, true).is_ok();
        let matches = t.url_regex.as_ref().is_some_and(|r| r.is_match(url));
        if !matches && !local_stand_in {
            errors.push(FieldError::new(
                "config.url",
                format!(
                    "a {name} URL must match {} (e.g. {})",
                    t.url_pattern,
                    t.example["config"]["url"]
                        .as_str()
                        .or(t.config["url"].as_str())
                        .unwrap_or("see GET /v1/templates")
                ),
            ));
        }
    }
    let headers = config.get("headers").and_then(Value::as_object);
    for h in &t.required_headers {
        let present = headers.is_some_and(|m| {
            m.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case(&h.name) && v.as_str().is_some_and(|s| !s.is_empty())
            })
        });
        if !present {
            errors.push(FieldError::new(
                format!("config.headers.{}", h.name),
                format!("the {name} template needs this header: {}", h.description),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::destination::{validate, DestinationInput};
    use crate::core::transform::{Subject, Transform};
    use crate::core::validate::from_value;
    use crate::providers::Target;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn create(body: Value, allow_private: bool) -> Result<Value, Vec<String>> {
        let fields = |es: Vec<FieldError>| es.into_iter().map(|e| e.field).collect::<Vec<_>>();
        let expanded = expand(body).map_err(fields)?;
        let input: DestinationInput =
            from_value(expanded.clone(), "").map_err(|e| vec![e.field])?;
        validate::<Target>(input, allow_private).map_err(fields)?;
        Ok(expanded)
    }

    /// Every template parses, its URL pattern compiles, its transform compiles and renders,
    /// and its example expands into a destination that validates without private addresses.
    #[test]
    fn catalogue_is_consistent() {
        let raw: Value = serde_json::from_str(CATALOGUE).unwrap();
        let names: Vec<&str> = catalogue().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "slack",
                "discord",
                "pagerduty",
                "datadog",
                "zapier",
                "linear"
            ]
        );
        assert_eq!(raw["data"].as_array().unwrap().len(), names.len());
        let (data, metadata) = (json!({"id": "ord_1"}), BTreeMap::new());
        for t in catalogue() {
            assert!(t.url_regex.is_some(), "{}: url_pattern compiles", t.name);
            assert!(
                t.url_pattern.starts_with('^') && t.url_pattern.ends_with('$'),
                "{}: the pattern is anchored",
                t.name
            );
            let transform = Transform::compile(&t.transform)
                .unwrap_or_else(|e| panic!("{}: transform: {e:?}", t.name));
            let subject = Subject {
                data: &data,
                metadata: &metadata,
                topic: "order.paid",
                event_id: "evt_1",
                tenant_id: "acme",
                delivery_id: "dlv_1",
                attempt: 1,
                timestamp: "2026-11-23T12:00:00.000Z",
            };
            let body: Value = serde_json::from_str(&transform.apply(&subject).unwrap()).unwrap();
            assert!(body.is_object() || body.is_array(), "{}", t.name);
            for p in &t.params {
                assert!(t.transform.pointer(&p.pointer).is_some(), "{}", p.name);
            }
            assert_eq!(t.example["template"], t.name.as_str());
            let expanded = create(t.example.clone(), false)
                .unwrap_or_else(|e| panic!("{}: example does not validate: {e:?}", t.name));
            assert_eq!(expanded["type"], "webhook");
            assert!(view(&t.name).is_some());
        }
    }

    #[test]
    fn slack_expands_with_the_users_fields_winning() {
        let got = create(
            json!({"template": "slack", "topics": ["order.*"],
                   "config": {"url": "https://hooks.slack.com/services/T1/B2/X3", "headers": {"x-a": "1"}}}),
            false,
        )
        .unwrap();
        assert_eq!(got["type"], "webhook");
        assert_eq!(got["config"]["signing"], json!({"scheme": "none"}));
        assert_eq!(got["config"]["headers"], json!({"x-a": "1"}));
        assert_eq!(got["transform"], find("slack").unwrap().transform);
        assert_eq!(got["template"], "slack");

        let own = create(
            json!({"template": "slack", "transform": {"text": "{{ data.id }}"},
                   "config": {"url": "https://hooks.slack.com/services/T1/B2/X3",
                              "signing": {"scheme": "standard_webhooks"}}}),
            false,
        )
        .unwrap();
        assert_eq!(own["transform"], json!({"text": "{{ data.id }}"}));
        assert_eq!(own["config"]["signing"]["scheme"], "standard_webhooks");
    }

    #[test]
    fn the_url_pattern_and_required_headers_are_enforced() {
        let slack = |url: &str, private| {
            create(
                json!({"template": "slack", "config": {"url": url}}),
                private,
            )
        };
        assert_eq!(
            slack("https://example.com/services/T/B/X", false).unwrap_err(),
            vec!["config.url"]
        );
        assert_eq!(
            slack("https://hooks.slack.com.evil.io/services/T/B/X", true).unwrap_err(),
            vec!["config.url"]
        );
        // A local receiver stands in for the service only where private addresses are allowed.
        assert!(slack("http://127.0.0.1:9000/hook", true).is_ok());
        assert_eq!(
            slack("http://127.0.0.1:9000/hook", false).unwrap_err(),
            vec!["config.url", "config.url"]
        );
        assert_eq!(
            create(json!({"template": "datadog"}), false).unwrap_err(),
            vec!["config.headers.DD-API-KEY"]
        );
        assert!(create(
            json!({"template": "datadog", "config": {"headers": {"dd-api-key": "k"},
                   "url": "https://http-intake.logs.datadoghq.eu/api/v2/logs"}}),
            false
        )
        .is_ok());
        assert_eq!(
            create(
                json!({"template": "pagerduty", "type": "aws_sqs",
                       "config": {"headers": {"X-Routing-Key": "k"}}}),
                false
            )
            .unwrap_err()[0],
            "type"
        );
    }

    #[test]
    fn params_fill_the_transform_literally() {
        let base =
            json!({"template": "linear", "config": {"headers": {"Authorization": "lin_api_x"}}});
        let mut with = base.clone();
        with["params"] = json!({"team_id": "team {{ data.x }}"});
        let got = create(with, false).unwrap();
        assert_eq!(
            got["transform"]["variables"]["input"]["teamId"],
            "team \\{{ data.x }}"
        );
        assert_eq!(
            create(base.clone(), false).unwrap_err(),
            vec!["params.team_id"]
        );
        let mut extra = base;
        extra["params"] = json!({"team_id": "t", "nope": "x"});
        assert_eq!(create(extra, false).unwrap_err(), vec!["params.nope"]);
        assert_eq!(
            create(
                json!({"type": "webhook", "params": {}, "config": {"url": "https://a.example"}}),
                false
            )
            .unwrap_err(),
            vec!["params"]
        );
    }

    #[test]
    fn unknown_templates_are_named() {
        let e = expand(json!({"template": "teams", "config": {}})).unwrap_err();
        assert_eq!(e[0].field, "template");
        assert!(
            e[0].message.contains("one of slack, discord"),
            "{}",
            e[0].message
        );
        assert_eq!(
            expand(json!({"template": 3})).unwrap_err()[0].field,
            "template"
        );
    }
}
