//! A log shard's reads: an event with its history, a page of its event log (within the scan
//! budget), a destination's deliveries, one delivery with its attempts.

use super::*;

impl<S: Sql> Shard<'_, S> {
    pub fn deliveries_of(&self, event: &EventId) -> Result<Vec<DeliverySummary>, String> {
        self.query(
            "SELECT id, destination_id, status FROM deliveries WHERE event_id = ?1 ORDER BY id",
            &[event.as_str().into()],
        )
    }

    /// An event with every delivery and attempt.
    pub fn event(&self, id: &EventId) -> Result<Option<EventDetail>, String> {
        let Some(event) = self
            .query::<EventRow>(
                "SELECT id, topic, data, metadata, created_at FROM events WHERE id = ?1",
                &[id.as_str().into()],
            )?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let deliveries = self.query(
            &format!("SELECT {DELIVERY} FROM deliveries WHERE event_id = ?1 ORDER BY id"),
            &[id.as_str().into()],
        )?;
        let attempts = self.query(
            &format!(
                "SELECT {ATTEMPT} FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = ?1) \
                 ORDER BY started_at, attempt"
            ),
            &[id.as_str().into()],
        )?;
        Ok(Some(EventDetail {
            event,
            deliveries,
            attempts,
        }))
    }

    /// A page (`limit + 1` rows) of the events matching `q`, with their delivery counts, and
    /// where a budgeted scan stopped short of the shard's end (`search::SCAN_BUDGET`).
    pub fn search(&self, q: &EventQuery) -> Result<SearchPage, String> {
        let (sql, values) = search_sql(q);
        let events: Vec<EventRow> = self.query(&sql, &args(values))?;
        let scanned_to = if q.scans() && events.len() <= q.limit {
            #[derive(Deserialize)]
            struct End {
                created_at: Millis,
                id: String,
            }
            let (sql, values) = scan_end_sql(q);
            self.query::<End>(&sql, &args(values))?
                .into_iter()
                .next()
                .map(|e| (e.created_at, e.id))
        } else {
            None
        };
        Ok(SearchPage {
            events: self.with_counts(events)?,
            scanned_to,
        })
    }

    fn with_counts(&self, events: Vec<EventRow>) -> Result<Vec<EventSummary>, String> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        #[derive(Deserialize)]
        struct StatusCount {
            event_id: String,
            status: String,
            n: u32,
        }
        let ids = serde_json::to_string(&events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
            .map_err(|e| e.to_string())?;
        let counts: Vec<StatusCount> = self.query(
            "SELECT event_id, status, COUNT(*) AS n FROM deliveries \
             WHERE event_id IN (SELECT value FROM json_each(?1)) GROUP BY event_id, status",
            &[ids.into()],
        )?;
        let mut by_event: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for c in counts {
            by_event
                .entry(c.event_id)
                .or_default()
                .insert(c.status, c.n);
        }
        Ok(events
            .into_iter()
            .map(|event| EventSummary {
                deliveries: by_event.remove(event.id.as_str()).unwrap_or_default(),
                event,
            })
            .collect())
    }

    /// A page (`limit + 1` rows) of one destination's deliveries, newest first.
    pub fn destination_deliveries(
        &self,
        destination: &DestinationId,
        status: Option<&str>,
        before: Option<&DeliveryId>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, String> {
        self.query(
            &format!(
                "SELECT {DELIVERY} FROM deliveries WHERE destination_id = ?1 AND (?2 IS NULL OR status = ?2) \
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ),
            &[
                destination.as_str().into(),
                status.into(),
                before.map(DeliveryId::as_str).into(),
                (limit as i64 + 1).into(),
            ],
        )
    }

    /// One delivery with its attempts, oldest first.
    pub fn delivery(
        &self,
        id: &DeliveryId,
    ) -> Result<Option<(DeliveryRow, Vec<AttemptRow>)>, String> {
        let Some(row) = self
            .query::<DeliveryRow>(
                &format!("SELECT {DELIVERY} FROM deliveries WHERE id = ?1"),
                &[id.as_str().into()],
            )?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let attempts = self.query(
            &format!("SELECT {ATTEMPT} FROM attempts WHERE delivery_id = ?1 ORDER BY attempt, started_at"),
            &[id.as_str().into()],
        )?;
        Ok(Some((row, attempts)))
    }
}
