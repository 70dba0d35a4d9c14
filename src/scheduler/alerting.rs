//! The scheduler's side of alerting, thin over `core::alerts`: after each run it feeds the
//! attempts, circuit and auto-disable into the destination's `AlertState` (kept in the DO's
//! storage), and each raise or resolve becomes an `AlertEvent` in the outbox. Flushing the
//! outbox publishes it (through the publish path, `intake`: the event and its deliveries in
//! the data plane, then the channels' schedulers) to the destination's tenant and to the
//! operator tenant, as an event on
//! `sluice.alert.triggered` / `sluice.alert.resolved` that alert channels subscribe to.
//! Destination lifecycle events (`core::lifecycle`: auto-disabled here; re-enabled and deleted
//! from the API) travel the same way, on `sluice.destination.*`. A tenant's raises are
//! rate-limited (`core::alert_limits::ALERTS_PER_TENANT`).

use crate::core::alert_limits::ALERTS_PER_TENANT;
use crate::core::alerts::{
    self, AlertAction, AlertContent, AlertDestination, AlertState, AttemptSeen, Counts,
    FailedDelivery, Incident, RunSeen, Snapshot, Trigger, OPERATOR_TENANT,
};
use crate::core::breaker::Transition;
use crate::core::destination::DeliverySettings;
use crate::core::engine::{AttemptOutcome, RunReport};
use crate::core::ids::{new_ulid, EventId, TenantId};
use crate::core::lifecycle::{self, Change};
use crate::core::redact::shown_config;
use crate::core::time::Millis;
use crate::intake::{self, IntakeError, Publication, Routing};
use crate::queue::SqlQueue;
use crate::store::destinations::DestinationRow;
use crate::store::rate_limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use worker::{console_warn, D1Database, Env};

const STATE_KEY: &str = "alerts";

/// Why an alert (or a lifecycle event) could not be published; it stays in the outbox.
#[derive(Debug)]
pub enum PublishError {
    /// D1 or the data plane failed (`intake`), or the tenant's alert count could not be read.
    Intake(IntakeError),
    Encode(serde_json::Error),
    /// `OPERATOR_TENANT` is not a tenant id (a build mistake).
    OperatorTenant,
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::Intake(e) => write!(f, "publish: {e:?}"),
            PublishError::Encode(e) => write!(f, "alert content: {e}"),
            PublishError::OperatorTenant => f.write_str("the operator tenant id is invalid"),
        }
    }
}

/// An alert (or a lifecycle event) waiting in the outbox to be published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertEvent {
    /// The failing destination's tenant.
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub topic: String,
    pub content: AlertContent,
    pub to_tenant: bool,
    pub to_operator: bool,
    pub at: Millis,
    /// The event's data when it is not `content`: a lifecycle event's payload (`content` then
    /// describes the change for the log line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// The destination as alerts and lifecycle events name it (no credentials; as the API shows
/// it: a templated destination's URL path is its credential).
fn describe(row: &DestinationRow) -> AlertDestination {
    let config = shown_config(row.template.as_deref(), &row.config);
    AlertDestination {
        id: row.id.to_string(),
        name: row.name.clone(),
        kind: row.kind.to_string(),
        target: alerts::target_label(row.kind.as_str(), &config),
    }
}

/// The lifecycle event of `change` to `row` (as it was before a deletion), ready to publish.
pub fn lifecycle_event(
    row: &DestinationRow,
    change: Change,
    reason: Option<String>,
    consecutive_failures: u32,
    now: Millis,
) -> Option<AlertEvent> {
    let tenant = row.tenant_id.as_str();
    let data = lifecycle::event(change, tenant, describe(row), reason.clone(), now);
    let (to_tenant, to_operator) = lifecycle::audiences(tenant);
    let event_id = lifecycle::event_id(change, row.id.as_str(), now);
    // What the scheduler's log line shows: the change as an auto-disable-shaped alert.
    let snapshot = Snapshot {
        incident: Incident {
            id: event_id.clone(),
            trigger: Trigger::AutoDisabled,
            opened_at: now,
            escalated: false,
        },
        trigger: Trigger::AutoDisabled,
        at: now,
        counts: Counts {
            consecutive_failures,
            failures: consecutive_failures,
            window_attempts: 0,
            window_failures: 0,
            window_ms: 0,
        },
        first_failure_at: None,
        error: reason,
        last_status_code: None,
    };
    Some(AlertEvent {
        tenant_id: row.tenant_id.clone(),
        event_id: EventId::parse(&event_id).ok()?,
        topic: change.topic().into(),
        content: alerts::content(&AlertAction::Raise(snapshot), tenant, describe(row)),
        to_tenant,
        to_operator,
        at: now,
        data: Some(serde_json::to_value(&data).ok()?),
    })
}

/// What a run showed alerting: its attempts, an opened circuit, an auto-disable.
pub fn seen(report: &RunReport, now: Millis) -> RunSeen {
    RunSeen {
        attempts: report
            .attempts
            .iter()
            .map(|a| AttemptSeen {
                at: a.started_at + a.duration_ms as i64,
                delivered: a.outcome == AttemptOutcome::Delivered,
                permanent: a.permanent,
                status_code: a.status_code,
                error: a.error.clone(),
                // Failed (not Retry): that was its last attempt, or the verdict was final.
                failed_for_good: (a.outcome == AttemptOutcome::Failed).then(|| FailedDelivery {
                    event_id: a.event_id.to_string(),
                    delivery_id: a.delivery_id.to_string(),
                    attempts: a.attempt,
                    error: a.error.clone(),
                    status_code: a.status_code,
                    at: a.started_at + a.duration_ms as i64,
                }),
            })
            .collect(),
        circuit_opened: report.transitions.contains(&Transition::Opened),
        auto_disabled: report.auto_disabled.is_some(),
        now,
    }
}

/// Whether a run showed alerting anything.
pub fn worth_telling(run: &RunSeen) -> bool {
    !run.attempts.is_empty() || run.circuit_opened || run.auto_disabled
}

/// Updates the destination's alert state (kept by its lane 0) with one run, this lane's or
/// another's; the alerts it raised or resolved.
pub fn observe(
    queue: &SqlQueue<crate::log::client::DoSql>,
    row: &DestinationRow,
    settings: &DeliverySettings,
    run: &RunSeen,
    random: u128,
) -> Vec<AlertEvent> {
    if !worth_telling(run) {
        return vec![];
    }
    let now = run.now;
    let mut state: AlertState = queue.get(STATE_KEY).unwrap_or_default();
    let mut new_id = || format!("inc_{}", new_ulid(now as u64, random));
    let actions = alerts::observe(&mut state, &settings.alerts, run, &mut new_id);
    queue.put(STATE_KEY, &state);
    let who = alerts::recipients(row.tenant_id.as_str(), &row.topics);
    actions
        .iter()
        .filter_map(|action| {
            Some(AlertEvent {
                tenant_id: row.tenant_id.clone(),
                event_id: EventId::parse(&alerts::event_id(action)).ok()?,
                topic: alerts::topic(action).into(),
                content: alerts::content(action, row.tenant_id.as_str(), describe(row)),
                to_tenant: who.tenant,
                to_operator: who.operator,
                at: now,
                data: None,
            })
        })
        .collect()
}

/// The lifecycle event of a run that disabled the destination, whatever the alert settings
/// (it is a fact, not an alert), raised by the lane whose run it was.
pub fn auto_disabled(row: &DestinationRow, report: &RunReport, now: Millis) -> Option<AlertEvent> {
    let streak = report.auto_disabled?;
    let reason = lifecycle::auto_disabled_reason(streak);
    lifecycle_event(row, Change::AutoDisabled, Some(reason), streak, now)
}

/// Publishes an alert (or a lifecycle event) to the tenant's and the operator's destinations
/// that subscribe to its topic by name (alert channels, for alerts). The operator's event log keeps every alert, even
/// with no channel listening; a tenant's only when it has an alert channel, so that a tenant
/// who never asked for alerts sees only its own events in its log. Idempotent: the event id
/// is fixed per incident step.
pub async fn publish(env: &Env, db: &D1Database, alert: &AlertEvent) -> Result<(), PublishError> {
    // A tenant raises a bounded number of alerts an hour, whatever its thresholds and its
    // number of destinations (`core::alert_limits`); resolves always pass.
    if alert.topic == alerts::TOPIC_TRIGGERED {
        let window = ALERTS_PER_TENANT.start(alert.at);
        let raised = rate_limits::hit(db, &alert.tenant_id, "alerts", window)
            .await
            .map_err(|e| PublishError::Intake(e.into()))?;
        if !ALERTS_PER_TENANT.allows(raised) {
            console_warn!(
                "{}",
                serde_json::json!({
                    "event": "alert_rate_limited",
                    "tenant_id": alert.tenant_id,
                    "event_id": alert.event_id,
                    "destination_id": alert.content.destination.id,
                    "limit_per_hour": ALERTS_PER_TENANT.max,
                })
            );
            return Ok(());
        }
    }
    let data = match &alert.data {
        Some(data) => data.to_string(),
        None => serde_json::to_string(&alert.content).map_err(PublishError::Encode)?,
    };
    let operator = TenantId::parse(OPERATOR_TENANT).map_err(|_| PublishError::OperatorTenant)?;
    let audiences = [
        (alert.tenant_id.clone(), alert.to_tenant, false),
        (operator, alert.to_operator, true),
    ];
    for (tenant, wanted, keep_without_channel) in audiences {
        if !wanted {
            continue;
        }
        let publication = Publication {
            tenant_id: tenant,
            id: alert.event_id.clone(),
            topic: alert.topic.clone(),
            data: data.clone(),
            metadata: BTreeMap::new(),
            at: alert.at,
            generated_id: false,
        };
        let select = |destinations: &[DestinationRow], topic: &str| -> Vec<DestinationRow> {
            destinations
                .iter()
                .filter(|d| alerts::receives_alerts(&d.topics, topic))
                .cloned()
                .collect()
        };
        let routing = Routing {
            // Alert topics are Sluice's own, outside the catalogue.
            any_topic: true,
            select: &select,
            keep_without_targets: keep_without_channel,
        };
        match intake::publish(env, db, publication, routing).await {
            // The tenant was deleted (or the operator tenant's migration is missing).
            Err(IntakeError::TenantNotFound) => continue,
            Err(e) => return Err(PublishError::Intake(e)),
            Ok(_) => {}
        }
    }
    Ok(())
}
