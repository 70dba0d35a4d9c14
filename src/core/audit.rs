//! Structured logs of state changes: one JSON line per change, `{"event", "tenant_id",
//! "destination_id", "at", …}`, for log search and alerting. The fields are typed, one
//! variant per change, so nothing but ids, counts and states can reach a line: a config or
//! a credential has no way in.

use crate::core::breaker::CircuitState;
use crate::core::ids::{DestinationId, TenantId};
use crate::core::time::{to_rfc3339, Millis};
use serde_json::{json, Map, Value};

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    DestinationCreated {
        kind: &'a str,
        enabled: bool,
    },
    DestinationUpdated {
        enabled: bool,
    },
    DestinationDeleted,
    DestinationEnabled,
    DestinationDisabled,
    /// `disable_after_failures` consecutive failures.
    DestinationAutoDisabled {
        consecutive_failures: u32,
    },
    SigningSecretRotated,
    CircuitChanged {
        transition: &'a str,
        state: CircuitState,
        consecutive_failures: u32,
    },
    CircuitReset,
    /// A person asked to send deliveries again: one delivery, an event's, or a bulk job.
    ManualRetryRequested {
        scope: RetryScope<'a>,
        count: usize,
        requested_by: &'a str,
    },
    /// A client connected to a `websocket` destination.
    ClientConnected {
        client_id: &'a str,
        principal: &'a str,
        clients: usize,
    },
    /// The runtime reported an error on a client's connection.
    ClientError,
    /// An alert was raised, or its incident resolved.
    Alert {
        resolved: bool,
        incident_id: &'a str,
        trigger: &'a str,
        event_id: &'a str,
        to_tenant: bool,
        to_operator: bool,
    },
    /// A test event was sent (`POST …/test`).
    DestinationTested {
        ok: bool,
        status_code: Option<u16>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetryScope<'a> {
    Delivery(&'a str),
    Event(&'a str),
    Bulk { job_id: &'a str },
}

impl Change<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Change::DestinationCreated { .. } => "destination_created",
            Change::DestinationUpdated { .. } => "destination_updated",
            Change::DestinationDeleted => "destination_deleted",
            Change::DestinationEnabled => "destination_enabled",
            Change::DestinationDisabled => "destination_disabled",
            Change::DestinationAutoDisabled { .. } => "destination_auto_disabled",
            Change::SigningSecretRotated => "signing_secret_rotated",
            Change::CircuitChanged { .. } => "circuit_changed",
            Change::CircuitReset => "circuit_reset",
            Change::ManualRetryRequested { .. } => "manual_retry_requested",
            Change::ClientConnected { .. } => "websocket_client_connected",
            Change::ClientError => "websocket_client_error",
            Change::DestinationTested { .. } => "destination_tested",
            Change::Alert { resolved: true, .. } => "alert_resolved",
            Change::Alert { .. } => "alert_raised",
        }
    }

    fn fields(&self, out: &mut Map<String, Value>) {
        match self {
            Change::DestinationCreated { kind, enabled } => {
                out.insert("type".into(), json!(kind));
                out.insert("enabled".into(), json!(enabled));
            }
            Change::DestinationUpdated { enabled } => {
                out.insert("enabled".into(), json!(enabled));
            }
            Change::DestinationAutoDisabled {
                consecutive_failures,
            } => {
                out.insert("consecutive_failures".into(), json!(consecutive_failures));
            }
            Change::CircuitChanged {
                transition,
                state,
                consecutive_failures,
            } => {
                out.insert("transition".into(), json!(transition));
                out.insert("state".into(), json!(state));
                out.insert("consecutive_failures".into(), json!(consecutive_failures));
            }
            Change::ManualRetryRequested {
                scope,
                count,
                requested_by,
            } => {
                let (scope, key, id) = match scope {
                    RetryScope::Delivery(id) => ("delivery", "delivery_id", id),
                    RetryScope::Event(id) => ("event", "event_id", id),
                    RetryScope::Bulk { job_id } => ("destination", "job_id", job_id),
                };
                out.insert("scope".into(), json!(scope));
                out.insert(key.into(), json!(id));
                out.insert("count".into(), json!(count));
                out.insert("requested_by".into(), json!(requested_by));
            }
            Change::ClientConnected {
                client_id,
                principal,
                clients,
            } => {
                out.insert("client_id".into(), json!(client_id));
                out.insert("principal".into(), json!(principal));
                out.insert("clients".into(), json!(clients));
            }
            Change::Alert {
                resolved: _,
                incident_id,
                trigger,
                event_id,
                to_tenant,
                to_operator,
            } => {
                out.insert("incident_id".into(), json!(incident_id));
                out.insert("trigger".into(), json!(trigger));
                out.insert("event_id".into(), json!(event_id));
                out.insert("to_tenant".into(), json!(to_tenant));
                out.insert("to_operator".into(), json!(to_operator));
            }
            Change::DestinationTested { ok, status_code } => {
                out.insert("ok".into(), json!(ok));
                out.insert("status_code".into(), json!(status_code));
            }
            Change::ClientError
            | Change::DestinationDeleted
            | Change::DestinationEnabled
            | Change::DestinationDisabled
            | Change::SigningSecretRotated
            | Change::CircuitReset => {}
        }
    }
}

/// The log line of one change.
pub fn line(
    change: &Change,
    tenant: &TenantId,
    destination: Option<&DestinationId>,
    at: Millis,
) -> String {
    let mut out = Map::new();
    out.insert("event".into(), json!(change.name()));
    out.insert("tenant_id".into(), json!(tenant));
    out.insert("destination_id".into(), json!(destination));
    out.insert("at".into(), json!(to_rfc3339(at)));
    change.fields(&mut out);
    Value::Object(out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_change() -> Vec<Change<'static>> {
        vec![
            Change::DestinationCreated {
                kind: "webhook",
                enabled: true,
            },
            Change::DestinationUpdated { enabled: false },
            Change::DestinationDeleted,
            Change::DestinationEnabled,
            Change::DestinationDisabled,
            Change::DestinationAutoDisabled {
                consecutive_failures: 50,
            },
            Change::SigningSecretRotated,
            Change::CircuitChanged {
                transition: "opened",
                state: CircuitState::Open,
                consecutive_failures: 5,
            },
            Change::CircuitReset,
            Change::ManualRetryRequested {
                scope: RetryScope::Delivery("dlv_1"),
                count: 1,
                requested_by: "admin",
            },
            Change::ManualRetryRequested {
                scope: RetryScope::Event("evt_1"),
                count: 2,
                requested_by: "admin",
            },
            Change::ManualRetryRequested {
                scope: RetryScope::Bulk { job_id: "rtj_1" },
                count: 3,
                requested_by: "admin",
            },
            Change::ClientConnected {
                client_id: "cli_1",
                principal: "portal:alice",
                clients: 1,
            },
            Change::ClientError,
            Change::Alert {
                resolved: false,
                incident_id: "inc_1",
                trigger: "consecutive_failures",
                event_id: "alert-inc_1-consecutive_failures",
                to_tenant: true,
                to_operator: true,
            },
            Change::DestinationTested {
                ok: false,
                status_code: Some(401),
            },
        ]
    }

    #[test]
    fn one_json_line_with_the_ids_and_typed_fields() {
        let tenant = TenantId::parse("acme").unwrap();
        let des = DestinationId::parse("des_01jd0000000000000000000000").unwrap();
        let l = line(
            &Change::CircuitChanged {
                transition: "opened",
                state: CircuitState::Open,
                consecutive_failures: 5,
            },
            &tenant,
            Some(&des),
            0,
        );
        assert!(!l.contains('\n'));
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(
            v,
            json!({"event": "circuit_changed", "tenant_id": "acme",
                   "destination_id": "des_01jd0000000000000000000000", "at": "1970-01-01T00:00:00.000Z",
                   "transition": "opened", "state": "open", "consecutive_failures": 5})
        );
        let l = line(
            &Change::ManualRetryRequested {
                scope: RetryScope::Event("ord-1"),
                count: 2,
                requested_by: "admin",
            },
            &tenant,
            None,
            0,
        );
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["destination_id"], Value::Null);
        assert_eq!(v["event_id"], "ord-1");
        assert_eq!(v["scope"], "event");
    }

    /// The keys a line can have are a closed set, none of them secret-looking: every variant
    /// is rendered and its keys checked.
    #[test]
    fn no_line_has_a_secret_looking_field() {
        let tenant = TenantId::parse("acme").unwrap();
        let allowed = [
            "event",
            "tenant_id",
            "destination_id",
            "at",
            "type",
            "enabled",
            "consecutive_failures",
            "transition",
            "state",
            "scope",
            "delivery_id",
            "event_id",
            "job_id",
            "count",
            "requested_by",
            "client_id",
            "principal",
            "clients",
            "ok",
            "status_code",
            "incident_id",
            "trigger",
            "to_tenant",
            "to_operator",
        ];
        let secretish = [
            "secret",
            "token",
            "password",
            "key",
            "auth",
            "config",
            "header",
            "signature",
            "credential",
        ];
        for change in every_change() {
            let v: Value = serde_json::from_str(&line(&change, &tenant, None, 0)).unwrap();
            for k in v.as_object().unwrap().keys() {
                assert!(allowed.contains(&k.as_str()), "{k} in {}", change.name());
                assert!(
                    !secretish.iter().any(|s| k.contains(s)),
                    "{k} in {}",
                    change.name()
                );
            }
            assert!(v["event"].as_str().is_some_and(|e| e == change.name()));
        }
    }
}
