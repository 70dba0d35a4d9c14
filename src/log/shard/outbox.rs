//! A log shard's hand-off outbox: what it owes the destinations' schedulers (new events'
//! pending deliveries and manual retries), read within a byte budget, and what happens when a
//! scheduler takes them, cannot be reached, or is gone.

use super::*;
use crate::core::json;

impl<S: Sql> Shard<'_, S> {
    /// Marks deliveries for a manual retry (pending, one more manual retry each, at most
    /// `cap`) and owes them to their schedulers, `requested_by` naming who asked.
    pub fn retry(
        &self,
        scope: &RetryScope,
        cap: u32,
        requested_by: &str,
        now: Millis,
    ) -> Result<Retried, String> {
        #[derive(Deserialize)]
        struct Candidate {
            id: DeliveryId,
            destination_id: DestinationId,
        }
        let (candidates, more): (Vec<Candidate>, bool) = match scope {
            RetryScope::Delivery(DeliveryScope { id }) => (
                self.query(
                    "SELECT id, destination_id FROM deliveries WHERE id = ?1 AND status IN ('failed', 'delivered') \
                     AND manual_retries < ?2",
                    &[id.as_str().into(), cap.into()],
                )?,
                false,
            ),
            RetryScope::Event(EventScope { id, destinations }) => {
                let allowed = serde_json::to_string(destinations).map_err(|e| e.to_string())?;
                (
                    self.query(
                        "SELECT id, destination_id FROM deliveries WHERE event_id = ?1 AND status = 'failed' \
                         AND manual_retries < ?2 AND destination_id IN (SELECT value FROM json_each(?3)) ORDER BY id",
                        &[id.as_str().into(), cap.into(), allowed.into()],
                    )?,
                    false,
                )
            }
            RetryScope::Destination(DestinationScope {
                id,
                since,
                until,
                limit,
            }) => {
                // Ids only (never payloads): the hand-off reads each payload when it sends.
                let mut found: Vec<Candidate> = self.query(
                    "SELECT id, destination_id FROM deliveries WHERE destination_id = ?1 AND status = 'failed' \
                     AND created_at >= ?2 AND created_at < ?3 AND manual_retries < ?4 ORDER BY created_at, id LIMIT ?5",
                    &[
                        id.as_str().into(),
                        (*since).into(),
                        (*until).into(),
                        cap.into(),
                        (*limit as i64 + 1).into(),
                    ],
                )?;
                let more = found.len() > *limit;
                found.truncate(*limit);
                (found, more)
            }
        };
        let mut ids = vec![];
        for c in candidates {
            let marked = self.sql.exec(
                "UPDATE deliveries SET status = 'pending', manual_retries = manual_retries + 1, next_attempt_at = ?2, \
                 updated_at = ?2 WHERE id = ?1 AND status IN ('failed', 'delivered') AND manual_retries < ?3",
                &[c.id.as_str().into(), now.into(), cap.into()],
            )?;
            if marked > 0 {
                self.owe(&c.id, &c.destination_id, Some(requested_by), now)?;
                ids.push(c.id);
            }
        }
        Ok(Retried { ids, more })
    }

    /// The hand-offs due at `now`, at most `limit` and at most `max_bytes` of payloads (but
    /// always the first), grouped by destination, each delivery with its payload read from
    /// the event. Payloads are up to `MAX_BODY_BYTES` each: the byte budget, not the count,
    /// is what bounds the memory of one hand-off run.
    pub fn due_handoffs(
        &self,
        tenant: &TenantId,
        shard: ShardRef,
        now: Millis,
        (limit, max_bytes): (usize, usize),
    ) -> Result<Vec<Handoff>, String> {
        #[derive(Deserialize)]
        struct Due {
            delivery_id: DeliveryId,
            destination_id: DestinationId,
            manual: Option<String>,
            attempts: u32,
            event_id: EventId,
            topic: String,
            data: String,
            metadata: String,
            created_at: Millis,
            snapshot_at: Option<Millis>,
            snapshot: Option<String>,
        }
        // One statement: the due hand-offs in order with the running sum of their payloads'
        // sizes (each at least 1), the first always taken and the rest while the sum stays
        // within `max_bytes`; only those rows' payloads are read.
        let due: Vec<Due> = self.query(
            "WITH sized AS (SELECT h.delivery_id, \
               SUM(MAX(length(e.data), 1)) OVER w AS running, ROW_NUMBER() OVER w AS n \
               FROM handoffs h JOIN deliveries d ON d.id = h.delivery_id \
               JOIN events e ON e.id = d.event_id WHERE h.due_at <= ?1 \
               WINDOW w AS (ORDER BY h.destination_id, h.due_at, h.delivery_id ROWS UNBOUNDED PRECEDING) \
               ORDER BY h.destination_id, h.due_at, h.delivery_id LIMIT ?2) \
             SELECT h.delivery_id, h.destination_id, h.manual, d.attempts, e.id AS event_id, e.topic, e.data, \
             e.metadata, e.created_at, s.updated_at AS snapshot_at, s.row AS snapshot FROM sized c \
             JOIN handoffs h ON h.delivery_id = c.delivery_id \
             JOIN deliveries d ON d.id = h.delivery_id JOIN events e ON e.id = d.event_id \
             LEFT JOIN destinations s ON s.id = h.destination_id \
             WHERE c.n = 1 OR c.running <= ?3 \
             ORDER BY h.destination_id, h.due_at, h.delivery_id",
            &[
                now.into(),
                (limit as i64).into(),
                i64::try_from(max_bytes).unwrap_or(i64::MAX).into(),
            ],
        )?;
        let mut out: Vec<Handoff> = vec![];
        for d in due {
            let (Some(row), Some(updated_at)) = (d.snapshot, d.snapshot_at) else {
                continue;
            };
            let queued = QueuedDelivery {
                delivery_id: d.delivery_id,
                tenant_id: tenant.clone(),
                event_id: d.event_id,
                topic: d.topic,
                payload: d.data,
                metadata: json::from_str(&d.metadata).unwrap_or_default(),
                attempts: d.attempts,
                due_at: now,
                created_at: d.created_at,
                manual: d.manual,
                shard,
            };
            match out.last_mut() {
                Some(h) if h.destination.destination_id == d.destination_id => {
                    h.deliveries.push(queued)
                }
                _ => out.push(Handoff {
                    destination: Snapshot {
                        destination_id: d.destination_id,
                        updated_at,
                        row,
                    },
                    deliveries: vec![queued],
                }),
            }
        }
        Ok(out)
    }

    /// The scheduler has these: they are owed no more (one statement for them all).
    pub fn handed_off(&self, ids: &[DeliveryId]) -> Result<(), String> {
        let ids = serde_json::to_string(ids).map_err(|e| e.to_string())?;
        self.sql
            .exec(
                "DELETE FROM handoffs WHERE delivery_id IN (SELECT value FROM json_each(?1))",
                &[ids.into()],
            )
            .map(|_| ())
    }

    /// A scheduler that could not take its hand-offs: try them again at `at`.
    pub fn postpone(&self, destination: &DestinationId, at: Millis) -> Result<(), String> {
        self.sql
            .exec(
                "UPDATE handoffs SET due_at = ?2 WHERE destination_id = ?1",
                &[destination.as_str().into(), at.into()],
            )
            .map(|_| ())
    }

    /// The destination was deleted: what it was owed fails, with the reason.
    pub fn destination_gone(&self, destination: &DestinationId, now: Millis) -> Result<(), String> {
        self.sql.exec(
            "UPDATE deliveries SET status = 'failed', last_error = 'the destination was deleted', updated_at = ?2 \
             WHERE destination_id = ?1 AND status = 'pending'",
            &[destination.as_str().into(), now.into()],
        )?;
        self.sql
            .exec(
                "DELETE FROM handoffs WHERE destination_id = ?1",
                &[destination.as_str().into()],
            )
            .map(|_| ())
    }

    /// When the next hand-off is due.
    pub fn next_handoff(&self) -> Result<Option<Millis>, String> {
        #[derive(Deserialize)]
        struct Next {
            t: Option<Millis>,
        }
        Ok(self
            .query::<Next>("SELECT MIN(due_at) AS t FROM handoffs", &[])?
            .into_iter()
            .next()
            .and_then(|n| n.t))
    }
}
