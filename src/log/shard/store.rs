//! Storing events: an event with its deliveries and their hand-offs, idempotent on the event
//! id; a batch of them; the destinations' snapshots the hand-offs are sent with.

use super::{Shard, Snapshot, Stored};
use crate::core::time::Millis;
use crate::log::protocol::NewEvent;
use crate::log::rows::{DeliverySummary, EventRow, NewDelivery};
use crate::log::sql::Sql;

impl<S: Sql> Shard<'_, S> {
    /// Stores an event with its deliveries and their hand-offs, unless the event is here
    /// already: then nothing is written and the first call's deliveries come back.
    pub fn store(
        &self,
        event: &EventRow,
        deliveries: &[NewDelivery],
        snapshots: &[Snapshot],
        now: Millis,
    ) -> Result<Stored, String> {
        let created = self.sql.exec(
            "INSERT OR IGNORE INTO events (id, topic, data, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                event.id.as_str().into(),
                (&event.topic).into(),
                (&event.data).into(),
                (&event.metadata).into(),
                event.created_at.into(),
            ],
        )? > 0;
        if !created {
            return Ok(Stored {
                created: false,
                deliveries: self.deliveries_of(&event.id)?,
            });
        }
        self.refresh(snapshots)?;
        self.insert_deliveries(event, deliveries, now)?;
        Ok(Stored {
            created: true,
            deliveries: deliveries
                .iter()
                .map(|d| DeliverySummary {
                    id: d.id.clone(),
                    destination_id: d.destination_id.clone(),
                    status: d.status,
                })
                .collect(),
        })
    }

    /// Stores events in turn, as `store` does each (an id repeated within the call is stored
    /// once), the destinations' snapshots refreshed once.
    pub fn store_all(
        &self,
        events: &[NewEvent],
        snapshots: &[Snapshot],
        now: Millis,
    ) -> Result<Vec<Stored>, String> {
        self.refresh(snapshots)?;
        events
            .iter()
            .map(|e| self.store(&e.event, &e.deliveries, &[], now))
            .collect()
    }

    /// Keeps the newest snapshot of each destination (a hand-off is sent with it).
    pub fn refresh(&self, snapshots: &[Snapshot]) -> Result<(), String> {
        for s in snapshots {
            self.sql.exec(
                "INSERT INTO destinations (id, updated_at, row) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, row = excluded.row \
                 WHERE excluded.updated_at > destinations.updated_at",
                &[
                    s.destination_id.as_str().into(),
                    s.updated_at.into(),
                    (&s.row).into(),
                ],
            )?;
        }
        Ok(())
    }

    /// An event's deliveries in at most three statements however many there are (their
    /// rows, the hand-offs of those to attempt, and the counts for `/metrics` of those never
    /// attempted, filtered or skipped; each takes its rows as one JSON array through
    /// `json_each`), instead of two statements per delivery.
    fn insert_deliveries(
        &self,
        event: &EventRow,
        deliveries: &[NewDelivery],
        now: Millis,
    ) -> Result<(), String> {
        let rows = |keep: &dyn Fn(&NewDelivery) -> bool| {
            let rows: Vec<[&str; 3]> = deliveries
                .iter()
                .filter(|d| keep(d))
                .map(|d| [d.id.as_str(), d.destination_id.as_str(), d.status.as_str()])
                .collect();
            (!rows.is_empty()).then(|| serde_json::to_string(&rows).unwrap_or_default())
        };
        if let Some(all) = rows(&|_| true) {
            self.sql.exec(
                "INSERT INTO deliveries (id, event_id, destination_id, topic, status, created_at, updated_at) \
                 SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'), ?2, \
                 json_extract(value, '$[2]'), ?3, ?3 FROM json_each(?4)",
                &[
                    event.id.as_str().into(),
                    (&event.topic).into(),
                    event.created_at.into(),
                    all.into(),
                ],
            )?;
        }
        if let Some(owed) = rows(&|d| !d.status.never_attempted()) {
            self.sql.exec(
                "INSERT OR REPLACE INTO handoffs (delivery_id, destination_id, manual, due_at) \
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), NULL, ?1 \
                 FROM json_each(?2)",
                &[now.into(), owed.into()],
            )?;
        }
        if let Some(counted) = rows(&|d| d.status.never_attempted()) {
            self.sql.exec(
                "INSERT INTO counts (destination_id, status, n) \
                 SELECT json_extract(value, '$[1]'), json_extract(value, '$[2]'), COUNT(*) \
                 FROM json_each(?1) WHERE true GROUP BY 1, 2 \
                 ON CONFLICT (destination_id, status) DO UPDATE SET n = n + excluded.n",
                &[counted.into()],
            )?;
        }
        Ok(())
    }
}
