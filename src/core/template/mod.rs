//! Destination templates: prefilled destinations for services that take a
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
use super::json;
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
            json::from_str(CATALOGUE).expect("templates.json is checked by a unit test");
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
    let all: Value = json::from_str(CATALOGUE).ok()?;
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
mod tests;
