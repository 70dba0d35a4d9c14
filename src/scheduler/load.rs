//! Loading the scheduler's destination: the snapshot every enqueue carries (only a newer one
//! is kept), decrypted once into what the engine needs, cached until the destination changes.

use super::*;

/// The destination as the engine needs it: settings and decrypted credentials.
pub(super) struct Loaded {
    pub(super) row: DestinationRow,
    pub(super) settings: DeliverySettings,
    pub(super) target: Target,
    pub(super) secrets: SecretBundle,
    /// An access token the provider obtained (Pub/Sub), kept in memory only.
    pub(super) tokens: providers::pubsub::TokenCache,
}

impl DeliveryScheduler {
    /// Keeps the newer of the stored and the given snapshot.
    pub(super) fn configure(&self, row: DestinationRow) {
        // Every enqueue carries the snapshot; only a newer one is written (and decrypted anew).
        let cached = self.loaded.borrow().as_ref().map(|l| l.row.updated_at);
        let current = cached.or_else(|| {
            self.queue
                .get::<DestinationRow>(DESTINATION_KEY)
                .map(|c| c.updated_at)
        });
        if current.is_some_and(|t| t >= row.updated_at) {
            return;
        }
        let was_disabled = self
            .queue
            .get::<DestinationRow>(DESTINATION_KEY)
            .is_some_and(|c| !c.enabled);
        if was_disabled && row.enabled {
            // Enabled again by a person: the failures before do not count any more.
            self.queue.save_failure_streak(0);
        }
        self.queue.put(DESTINATION_KEY, &row);
        self.loaded.replace(None);
    }

    pub(super) fn load(&self) -> Option<Rc<Loaded>> {
        if let Some(l) = self.loaded.borrow().as_ref() {
            return Some(l.clone());
        }
        let row: DestinationRow = self.queue.get(DESTINATION_KEY)?;
        let loaded = match self.unseal(row) {
            Ok(l) => Rc::new(l),
            Err(e) => {
                console_error!("scheduler cannot load its destination: {e}");
                return None;
            }
        };
        self.loaded.replace(Some(loaded.clone()));
        Some(loaded)
    }

    pub(super) fn unseal(&self, row: DestinationRow) -> std::result::Result<Loaded, String> {
        let key = crate::runtime::encryption_key(&self.env)?;
        let key = SealKey::from_base64(&key).map_err(|e| e.to_string())?;
        let secrets = SecretBundle::open(&key, &row.secrets)?;
        let target =
            Target::parse(row.kind.as_str(), secrets.config.clone()).map_err(|e| e.message)?;
        Ok(Loaded {
            // This lane's share of the destination's in-flight requests and rate.
            settings: crate::core::lanes::lane_settings(&row.settings),
            row,
            target,
            secrets,
            tokens: Default::default(),
        })
    }
}
