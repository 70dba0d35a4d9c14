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
        if !self.insert_event(event)? {
            return Ok(Stored {
                created: false,
                deliveries: self.deliveries_of(&event.id)?,
            });
        }
        self.refresh(snapshots)?;
        self.insert_deliveries(&[(event, deliveries)], now)?;
        Ok(created(deliveries))
    }

    /// Stores events as `store` does each (an id repeated within the call is stored once, and
    /// its repeats answered with the first one's deliveries), the destinations' snapshots
    /// refreshed once, and the deliveries of all of them in the statements of one.
    pub fn store_all(
        &self,
        events: &[NewEvent],
        snapshots: &[Snapshot],
        now: Millis,
    ) -> Result<Vec<Stored>, String> {
        self.refresh(snapshots)?;
        let mut new = Vec::with_capacity(events.len());
        for e in events {
            new.push(self.insert_event(&e.event)?);
        }
        let written: Vec<(&EventRow, &[NewDelivery])> = events
            .iter()
            .zip(&new)
            .filter(|(_, &n)| n)
            .map(|(e, _)| (&e.event, &e.deliveries[..]))
            .collect();
        self.insert_deliveries(&written, now)?;
        // Read after every write: a repeat within the call sees the first one's deliveries.
        events
            .iter()
            .zip(new)
            .map(|(e, n)| {
                if n {
                    return Ok(created(&e.deliveries));
                }
                Ok(Stored {
                    created: false,
                    deliveries: self.deliveries_of(&e.event.id)?,
                })
            })
            .collect()
    }

    /// Writes an event unless its id is here already; whether it was written.
    fn insert_event(&self, event: &EventRow) -> Result<bool, String> {
        Ok(self.sql.exec(
            "INSERT OR IGNORE INTO events (id, topic, data, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                event.id.as_str().into(),
                (&event.topic).into(),
                (&event.data).into(),
                (&event.metadata).into(),
                event.created_at.into(),
            ],
        )? > 0)
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

    /// The deliveries of events just written, in at most three statements however many
    /// there are (their rows, the hand-offs of those to attempt, and the counts for
    /// `/metrics` of those never attempted, filtered or skipped; each takes its rows as one
    /// JSON array through `json_each`), instead of two statements per delivery, or three per
    /// event of a batch.
    fn insert_deliveries(
        &self,
        events: &[(&EventRow, &[NewDelivery])],
        now: Millis,
    ) -> Result<(), String> {
        let rows = |keep: &dyn Fn(&NewDelivery) -> bool| {
            let rows: Vec<(&str, &str, &str, &str, &str, Millis)> = events
                .iter()
                .flat_map(|(e, ds)| ds.iter().map(move |d| (*e, d)))
                .filter(|(_, d)| keep(d))
                .map(|(e, d)| {
                    (
                        d.id.as_str(),
                        d.destination_id.as_str(),
                        d.status.as_str(),
                        e.id.as_str(),
                        e.topic.as_str(),
                        e.created_at,
                    )
                })
                .collect();
            (!rows.is_empty()).then(|| serde_json::to_string(&rows).unwrap_or_default())
        };
        if let Some(all) = rows(&|_| true) {
            self.sql.exec(
                "INSERT INTO deliveries (id, event_id, destination_id, topic, status, created_at, updated_at) \
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[3]'), json_extract(value, '$[1]'), \
                 json_extract(value, '$[4]'), json_extract(value, '$[2]'), json_extract(value, '$[5]'), \
                 json_extract(value, '$[5]') FROM json_each(?1)",
                &[all.into()],
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

/// What storing an event with these deliveries answers.
fn created(deliveries: &[NewDelivery]) -> Stored {
    Stored {
        created: true,
        deliveries: deliveries
            .iter()
            .map(|d| DeliverySummary {
                id: d.id.clone(),
                destination_id: d.destination_id.clone(),
                status: d.status,
            })
            .collect(),
    }
}
