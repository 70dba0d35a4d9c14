//! Topics and subscriptions: a destination's `topics` are exact names, `prefix.*` wildcards,
//! or `*` for everything.

use serde::{Deserialize, Serialize};

pub const MAX_TOPIC_LEN: usize = 128;
/// A destination subscribes to at most this many patterns; more is a design smell, and every
/// publish matches against them.
pub const MAX_PATTERNS: usize = 100;

/// A catalogue topic's description, in characters at most.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The body of `POST /v1/topics`: a topic for the catalogue.
// The name is checked by `validate_topic`; its schema (`Topic`) is written by hand.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "CatalogTopicCreate"))]
pub struct TopicCreate {
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("$ref" = "#/components/schemas/Topic"))
    )]
    pub name: String,
    /// What the event means; at most 1024 characters, no control characters.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(max = MAX_DESCRIPTION_CHARS))
    )]
    pub description: Option<String>,
}

/// Checks a topic name: dot-separated segments of letters, digits, `_`, `-` and `:`.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(format!("a topic is 1 to {MAX_TOPIC_LEN} characters"));
    }
    for segment in topic.split('.') {
        if segment.is_empty() {
            return Err(
                "a topic has no empty segments (no leading, trailing or double dots)".into(),
            );
        }
        if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
        {
            return Err(
                "a topic may contain only letters, digits, '_', '-', ':' and '.' between segments"
                    .into(),
            );
        }
    }
    Ok(())
}

/// One subscription pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TopicPattern {
    /// `*`: every topic.
    All,
    /// `order.*`: every topic under `order.` (at any depth).
    Prefix(String),
    /// `order.created`: that topic only.
    Exact(String),
}

impl TopicPattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw == "*" {
            return Ok(TopicPattern::All);
        }
        if let Some(prefix) = raw.strip_suffix(".*") {
            validate_topic(prefix).map_err(|e| format!("'{raw}' is not a valid pattern: {e}"))?;
            return Ok(TopicPattern::Prefix(prefix.to_string()));
        }
        if raw.contains('*') {
            return Err(format!(
                "'{raw}' is not a valid pattern: '*' is allowed only alone or as a final '.*'"
            ));
        }
        validate_topic(raw).map_err(|e| format!("'{raw}' is not a valid topic: {e}"))?;
        Ok(TopicPattern::Exact(raw.to_string()))
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::All => true,
            TopicPattern::Exact(t) => t == topic,
            TopicPattern::Prefix(p) => topic
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

impl TryFrom<String> for TopicPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TopicPattern::parse(&s)
    }
}

impl From<TopicPattern> for String {
    fn from(p: TopicPattern) -> String {
        match p {
            TopicPattern::All => "*".into(),
            TopicPattern::Prefix(p) => format!("{p}.*"),
            TopicPattern::Exact(t) => t,
        }
    }
}

/// Does a subscription (a list of patterns) take this topic?
pub fn subscribed(patterns: &[TopicPattern], topic: &str) -> bool {
    patterns.iter().any(|p| p.matches(topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(raw: &[&str]) -> Vec<TopicPattern> {
        raw.iter()
            .map(|r| TopicPattern::parse(r).unwrap())
            .collect()
    }

    #[test]
    fn matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything.at.all", true),
            ("order.created", "order.created", true),
            ("order.created", "order.created.v2", false),
            ("order.created", "order", false),
            ("order.*", "order.created", true),
            ("order.*", "order.line.added", true),
            ("order.*", "order", false),
            ("order.*", "orders.created", false),
            ("a.b.*", "a.b.c", true),
            ("a.b.*", "a.bc", false),
        ];
        for (pattern, topic, expected) in cases {
            let p = TopicPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(topic), *expected, "{pattern} vs {topic}");
        }
    }

    #[test]
    fn subscription_is_any_of_its_patterns() {
        let sub = pats(&["user.deleted", "order.*"]);
        assert!(subscribed(&sub, "user.deleted"));
        assert!(subscribed(&sub, "order.paid"));
        assert!(!subscribed(&sub, "user.created"));
        assert!(!subscribed(&[], "user.created"));
    }

    #[test]
    fn invalid_patterns_and_topics_are_refused() {
        for bad in [
            "",
            "order.",
            ".order",
            "a..b",
            "or*der",
            "*.created",
            "order.*.x",
            "a b",
            "a/b",
            "order.**",
        ] {
            assert!(
                TopicPattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(validate_topic(&"a".repeat(129)).is_err());
        assert!(validate_topic("invoice.paid:v2").is_ok());
    }

    #[test]
    fn patterns_round_trip_through_json() {
        let sub = pats(&["*", "a.*", "a.b"]);
        let json = serde_json::to_string(&sub).unwrap();
        assert_eq!(json, r#"["*","a.*","a.b"]"#);
        let back: Vec<TopicPattern> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sub);
    }
}
