//! Prefixed identifiers. Every id that crosses a module boundary is one of these newtypes,
//! parsed once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id we accept from a client (tenant ids, event ids). Keeps keys and headers small.
const MAX_EXTERNAL_ID_LEN: usize = 128;

/// Why an id did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(pub String);

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new time-ordered id body (ULID, lower-case Crockford base32): sorting by id sorts by
/// creation time, which is what cursor pagination relies on.
pub fn new_ulid(now_ms: u64, random: u128) -> String {
    ulid::Ulid::from_parts(now_ms, random)
        .to_string()
        .to_lowercase()
}

fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// Characters allowed in ids chosen by clients: they travel in URL paths and HTTP headers,
/// so no spaces, slashes or control characters.
fn check_external(kind: &str, raw: &str) -> Result<(), IdError> {
    if raw.is_empty() || raw.len() > MAX_EXTERNAL_ID_LEN {
        return Err(IdError(format!(
            "{kind} id must be 1 to {MAX_EXTERNAL_ID_LEN} characters"
        )));
    }
    if !raw.chars().all(is_safe_char) {
        return Err(IdError(format!(
            "{kind} id may contain only letters, digits, '_', '-', '.' and ':'"
        )));
    }
    Ok(())
}

/// Ids Sluice generates: the prefix and a 26-character ULID.
fn check_generated(prefix: &str, raw: &str) -> Result<(), IdError> {
    let body = raw
        .strip_prefix(prefix)
        .ok_or_else(|| IdError(format!("expected an id starting with '{prefix}'")))?;
    if body.len() != 26 || !body.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(IdError(format!("'{raw}' is not a valid {prefix} id")));
    }
    Ok(())
}

/// An id newtype: generated as `prefix` + ULID, parsed with `check`, (de)serialised as a
/// string that must parse.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn generate(now_ms: u64, random: u128) -> Self {
                Self(format!("{}{}", $prefix, new_ulid(now_ms, random)))
            }

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> Result<(), IdError> = $check;
                check(raw).map(|()| Self(raw.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A destination: `des_` + ULID. Also the name of its DeliveryScheduler Durable Object.
    DestinationId,
    "des_",
    |raw| check_generated("des_", raw)
);
id_type!(
    /// One event's delivery to one destination: `dlv_` + ULID.
    DeliveryId,
    "dlv_",
    |raw| check_generated("dlv_", raw)
);
id_type!(
    /// One attempt of a delivery: `atm_` + ULID.
    AttemptId,
    "atm_",
    |raw| check_generated("atm_", raw)
);
id_type!(
    /// A tenant: the platform's own customer id (e.g. `acme`), or `ten_` + ULID when generated.
    TenantId,
    "ten_",
    |raw| check_external("tenant", raw)
);
id_type!(
    /// An event: the publisher's idempotency key, or `evt_` + ULID when generated.
    EventId,
    "evt_",
    |raw| check_external("event", raw)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_sort_by_time() {
        let a = DestinationId::generate(1_000, u128::MAX);
        let b = DestinationId::generate(1_001, 0);
        assert!(a < b);
        assert!(a.as_str().starts_with("des_"));
        assert_eq!(DestinationId::parse(a.as_str()), Ok(a.clone()));
    }

    #[test]
    fn generated_ids_reject_wrong_prefix_or_shape() {
        let d = DeliveryId::generate(5, 7);
        assert!(DestinationId::parse(d.as_str()).is_err());
        assert!(DestinationId::parse("des_short").is_err());
        assert!(DestinationId::parse("des_0123456789abcdefghjkmnpq/").is_err());
    }

    #[test]
    fn external_ids_allow_safe_characters_only() {
        assert!(TenantId::parse("acme-corp_1.eu:prod").is_ok());
        for bad in ["", "a b", "a/b", "a\r\nb", "é", &"x".repeat(129)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(EventId::generate(1, 2).as_str().starts_with("evt_"));
    }
}
