//! What a log shard keeps track of for retention (deliveries still pending) and for
//! `/metrics` (filtered and skipped counts not yet flushed to D1).

use super::*;

impl<S: Sql> Shard<'_, S> {
    /// The destinations that deliveries not finished yet are for.
    pub fn pending_destinations(&self) -> Result<Vec<DestinationId>, String> {
        #[derive(Deserialize)]
        struct Row {
            destination_id: DestinationId,
        }
        Ok(self
            .query::<Row>(
                "SELECT DISTINCT destination_id FROM deliveries WHERE status = 'pending'",
                &[],
            )?
            .into_iter()
            .map(|r| r.destination_id)
            .collect())
    }

    /// Deliveries not finished yet (retention keeps the shard while there are any).
    pub fn pending(&self) -> Result<u64, String> {
        Ok(self
            .query::<Count>(
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'",
                &[],
            )?
            .first()
            .map_or(0, |c| c.n))
    }

    /// The filtered and skipped deliveries not yet added to `/metrics`, per destination and
    /// status.
    pub fn counts(&self) -> Result<Vec<(DestinationId, DeliveryStatus, u64)>, String> {
        #[derive(Deserialize)]
        struct Row {
            destination_id: DestinationId,
            status: DeliveryStatus,
            n: u64,
        }
        let rows: Vec<Row> = self.query(
            "SELECT destination_id, status, n FROM counts ORDER BY destination_id, status",
            &[],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.destination_id, r.status, r.n))
            .collect())
    }

    /// `/metrics` has these counts (from `counts`): only later ones remain.
    pub fn counted(&self, flushed: &[(DestinationId, DeliveryStatus, u64)]) -> Result<(), String> {
        for (destination, status, n) in flushed {
            self.sql.exec(
                "UPDATE counts SET n = n - ?3 WHERE destination_id = ?1 AND status = ?2",
                &[
                    destination.as_str().into(),
                    status.as_str().into(),
                    (*n as i64).into(),
                ],
            )?;
        }
        self.sql
            .exec("DELETE FROM counts WHERE n <= 0", &[])
            .map(|_| ())
    }
}
