//! One delivery run of the scheduler (its alarm): the engine over this destination's queue,
//! provider and transport, then the circuit log, alerts, an auto-disable, the tally, and the
//! outbox; and the test send, through the same provider and transport.

use super::*;
use crate::core::alerts::RunSeen;

impl DeliveryScheduler {
    pub(super) async fn run(&self) -> Result<()> {
        let Some(loaded) = self.load() else {
            return Ok(());
        };
        if !loaded.row.enabled {
            // Nothing is sent; what is owed (alerts of lanes that saw the outage) still goes.
            return self.flush_outbox_or_retry().await;
        }
        let started = now();
        let provider = Self::provider(&loaded, started);
        let wakeup = AlarmWakeup(self.state.storage());
        let transport = SchedulerTransport {
            state: &self.state,
            board: &self.acks,
            env: &self.env,
        };
        let ports = Ports {
            store: &self.queue,
            transport: &transport,
            provider: &provider,
            clock: &RuntimeClock,
            wakeup: &wakeup,
        };
        let before = self.queue.breaker().state;
        let report = engine::run(ports, &loaded.settings, RunLimits::default()).await;
        let breaker = self.queue.breaker();
        self.share_circuit(&loaded, before, &report.transitions)
            .await;
        for t in &report.transitions {
            let transition = format!("{t:?}").to_lowercase();
            self.log(&Change::CircuitChanged {
                transition: &transition,
                state: breaker.state,
                consecutive_failures: breaker.consecutive_failures,
            });
        }
        // The attempts are in the outbox already (the engine hands each over as it happens).
        let seen = alerting::seen(&report, now());
        let mut alerts = if self.lane() == 0 {
            let random = u128::from_le_bytes(crate::runtime::random_bytes());
            alerting::observe(&self.queue, &loaded.row, &loaded.settings, &seen, random)
        } else {
            // Lane 0 keeps the destination's alerting: one outage, one incident.
            if loaded.settings.alerts.enabled && alerting::worth_telling(&seen) {
                self.push_outbox(&OutboxRecord::Observed(outbox::Observed {
                    destination_id: loaded.row.id.clone(),
                    run: seen,
                }));
            }
            vec![]
        };
        alerts.extend(alerting::auto_disabled(&loaded.row, &report, now()));
        if let Some(streak) = report.auto_disabled {
            let record = self.auto_disable(&loaded, streak);
            self.push_outbox(&record);
            self.share_disabled().await;
        }
        if !report.attempts.is_empty() {
            let mut tally: Tally = self.queue.get(TALLY_KEY).unwrap_or_default();
            tally.add(&report.attempts);
            self.queue.put(TALLY_KEY, &tally);
        }
        self.raise(alerts);
        let flushed = self.flush_outbox().await;
        // Metrics wait for their interval; if they must wait, wake up for them.
        let metrics_at = self.flush_metrics().await;
        let retry = (!flushed).then(|| now() + OUTBOX_RETRY_MS);
        if let Some(at) = [report.next_wake, retry, metrics_at]
            .into_iter()
            .flatten()
            .min()
        {
            // The engine set the alarm to its next wake-up as it ended, and nothing else sets
            // it while a run is in progress (`ensure_alarm` leaves it to the run): no need to
            // ask the runtime what it is.
            if report.next_wake.is_none_or(|c| c > at) {
                set_alarm_at(&self.state.storage(), at).await?;
            }
        }
        self.queue.prune_done(started);
        Ok(())
    }

    /// Logs alerts and puts those with someone to tell in the outbox.
    pub(super) fn raise(&self, alerts: Vec<alerting::AlertEvent>) {
        for alert in alerts {
            let c = &alert.content;
            self.log(&Change::Alert {
                resolved: c.resolved(),
                incident_id: &c.incident_id,
                trigger: c.trigger.as_str(),
                event_id: alert.event_id.as_str(),
                to_tenant: alert.to_tenant,
                to_operator: alert.to_operator,
            });
            if alert.to_tenant || alert.to_operator {
                self.push_outbox(&OutboxRecord::Alert(Box::new(alert)));
            }
        }
    }

    /// Runs of another lane: lane 0 updates the destination's alert state with them and sends
    /// what they raised or resolved.
    pub(super) async fn observe_lanes(&self, runs: &[RunSeen]) -> Result<()> {
        let Some(loaded) = self.load() else {
            return Ok(());
        };
        for run in runs {
            let random = u128::from_le_bytes(crate::runtime::random_bytes());
            let alerts = alerting::observe(&self.queue, &loaded.row, &loaded.settings, run, random);
            self.raise(alerts);
        }
        // During a run, the run flushes them as it ends; otherwise now, or at the alarm.
        if self.running.get() {
            self.flush_requested.set(true);
            return Ok(());
        }
        self.flush_outbox_or_retry().await
    }

    /// The destination's provider, its transform applied to every payload.
    pub(super) fn provider(
        loaded: &Loaded,
        now: Millis,
    ) -> providers::transformed::Transformed<'_, providers::AnyProvider> {
        providers::transformed::Transformed::new(
            providers::for_target(&loaded.target, &loaded.secrets, &loaded.tokens, now),
            loaded.row.transform.as_ref().map(Ok),
        )
    }

    /// One test send, through the same provider, credential step and transport as deliveries.
    pub(super) async fn probe(&self, loaded: &Loaded, delivery: &QueuedDelivery) -> ProbeReport {
        let provider = Self::provider(loaded, now());
        let transport = SchedulerTransport {
            state: &self.state,
            board: &self.acks,
            env: &self.env,
        };
        let report = engine::probe(
            &provider,
            &transport,
            &RuntimeClock,
            delivery,
            loaded.settings.timeout_ms,
        )
        .await;
        self.log(&Change::DestinationTested {
            ok: report.ok,
            status_code: report.status_code,
        });
        report
    }

    /// Stops this scheduler at once (its queue is kept) and returns the record that tells
    /// D1. `POST …/enable` brings a newer snapshot that turns it back on.
    pub(super) fn auto_disable(&self, loaded: &Loaded, streak: u32) -> OutboxRecord {
        let at = now();
        let reason = crate::core::lifecycle::auto_disabled_reason(streak);
        let mut row = loaded.row.clone();
        row.enabled = false;
        row.disabled_reason = Some(reason.clone());
        row.updated_at = at;
        self.queue.put(DESTINATION_KEY, &row);
        self.loaded.replace(None);
        self.log(&Change::DestinationAutoDisabled {
            consecutive_failures: streak,
        });
        OutboxRecord::Disabled(Disabled {
            tenant_id: row.tenant_id,
            destination_id: row.id,
            reason,
            at,
        })
    }
}
