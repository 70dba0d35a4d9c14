//! A destination as stored, parsed once into types. D1 keeps topics, config, settings, filter
//! and transform as JSON text columns; the scheduler's snapshot and the log shard's outbox
//! carry the same shape. `StoredRow` is that text form; `DestinationRow` is what the rest of
//! the code reads, and converting one into the other is the only place the text is parsed. A
//! row that does not parse is a `RowError` naming the column, never a silent default.

use super::DeliverySettings;
use crate::core::filter::Filter;
use crate::core::ids::{DestinationId, TenantId};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::topics::TopicPattern;
use crate::core::transform::Transform;
use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::fmt;

/// A destination's type, by the name clients use in `type` (`webhook`, `aws_sqs`, …). Which
/// names exist and what each carries is the providers' registry's to say (`providers::TYPES`,
/// `providers::alerts_only`): a new type is one line there, not a variant here too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DestinationKind(String);

impl DestinationKind {
    pub fn new(name: impl Into<String>) -> Self {
        DestinationKind(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored destination, every column typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredRow", into = "StoredRow")]
pub struct DestinationRow {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    pub kind: DestinationKind,
    pub name: Option<String>,
    pub topics: Vec<TopicPattern>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// The config as the API shows it: credentials masked (the full one is in `secrets`).
    pub config: Value,
    pub settings: DeliverySettings,
    /// Sealed JSON `SecretBundle`; only the scheduler and the API's key operations open it.
    pub secrets: String,
    pub filter: Option<Filter>,
    /// The template it was made from, if any.
    pub template: Option<String>,
    pub transform: Option<Transform>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The text form of a `DestinationRow`: D1's columns, and the JSON the scheduler and the log
/// shard keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRow {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    /// JSON array of topic patterns.
    pub topics: String,
    #[serde(deserialize_with = "bool_or_int")]
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// JSON, credentials masked.
    pub config: String,
    /// JSON `DeliverySettings`.
    pub settings: String,
    pub secrets: String,
    /// JSON payload filter, if any.
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    /// JSON payload transform, if any.
    #[serde(default)]
    pub transform: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// SQLite has no booleans: D1 answers 0/1, JSON answers true/false. A visitor rather than an
/// untagged enum, which serde reads through its `Content` buffer.
fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct BoolOrInt;
    impl Visitor<'_> for BoolOrInt {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean or an integer")
        }

        fn visit_bool<E>(self, b: bool) -> Result<bool, E> {
            Ok(b)
        }

        fn visit_i64<E>(self, n: i64) -> Result<bool, E> {
            Ok(n != 0)
        }

        fn visit_u64<E>(self, n: u64) -> Result<bool, E> {
            Ok(n != 0)
        }
    }
    d.deserialize_any(BoolOrInt)
}

/// A stored destination that cannot be read: which one, which column, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub destination_id: DestinationId,
    pub column: &'static str,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stored destination {} has an unreadable {}: {}",
            self.destination_id, self.column, self.reason
        )
    }
}

impl TryFrom<StoredRow> for DestinationRow {
    type Error = RowError;

    fn try_from(row: StoredRow) -> Result<Self, RowError> {
        let id = row.id;
        let error = |column: &'static str, reason: String| RowError {
            destination_id: id.clone(),
            column,
            reason,
        };
        // Whether the registry knows the name is the providers' to say, when the config is
        // parsed for it (`providers::Target::parse`).
        let kind = DestinationKind::new(row.kind.clone());
        let topics = column(&row.topics).map_err(|e| error("topics", e))?;
        let settings = column(&row.settings).map_err(|e| error("settings", e))?;
        let config = column(&row.config).map_err(|e| error("config", e))?;
        // A filter saved before the regex caps keeps working as saved (`Filter::parse_stored`).
        let filter = row
            .filter
            .map(|raw| compiled(&raw, Filter::parse_stored))
            .transpose()
            .map_err(|e| error("filter", e))?;
        let transform = row
            .transform
            .map(|raw| compiled(&raw, Transform::compile))
            .transpose()
            .map_err(|e| error("transform", e))?;
        Ok(DestinationRow {
            id,
            tenant_id: row.tenant_id,
            kind,
            name: row.name,
            topics,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            config,
            settings,
            secrets: row.secrets,
            filter,
            template: row.template,
            transform,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl From<DestinationRow> for StoredRow {
    fn from(d: DestinationRow) -> Self {
        StoredRow {
            kind: d.kind.as_str().to_string(),
            topics: json_text(&d.topics),
            config: d.config.to_string(),
            settings: json_text(&d.settings),
            filter: d.filter.as_ref().map(|f| f.as_json().to_string()),
            transform: d.transform.as_ref().map(|t| t.as_json().to_string()),
            id: d.id,
            tenant_id: d.tenant_id,
            name: d.name,
            enabled: d.enabled,
            disabled_reason: d.disabled_reason,
            secrets: d.secrets,
            template: d.template,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

impl DestinationRow {
    /// The columns as D1 stores them.
    pub fn to_stored(&self) -> StoredRow {
        self.clone().into()
    }
}

/// A JSON text column parsed into its type.
fn column<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, String> {
    json::from_str(raw).map_err(|e| e.to_string())
}

/// A JSON text column compiled (a filter, a transform); the first problem as the reason.
fn compiled<T, E: fmt::Display>(
    raw: &str,
    compile: impl Fn(&Value) -> Result<T, Vec<E>>,
) -> Result<T, String> {
    let value: Value = json::from_str(raw).map_err(|e| e.to_string())?;
    compile(&value).map_err(|errors| errors.first().map_or_else(String::new, E::to_string))
}

/// Values made of strings, numbers and maps with string keys always serialise.
fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
