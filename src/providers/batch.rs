//! Which deliveries of the engine's batch go into one request of a batch API (SQS
//! `SendMessageBatch`, EventBridge `PutEvents`, Kafka REST v2): packed in order under the
//! service's entry and size limits. The plan is a pure function of the batch, so `fit`,
//! `build` and `interpret` each compute it and agree on which delivery is which entry.

use crate::core::classify::Verdict;

/// Where one delivery of a batch went when the request was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// In the request, as entry number `n`.
    Sent(usize),
    /// Cannot be sent at all (too large, refused by a local check): failed for good.
    Rejected(String),
    /// Valid, but the request was full: left for the next request.
    Deferred,
}

/// What to do with one entry larger than `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// The service refuses it whatever happens: it fails for good.
    Reject,
    /// It goes, alone in its request: whether it is taken is the service's call.
    SendAlone,
}

/// A batch API's limits on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_bytes: usize,
    pub oversize: Oversize,
    /// How a deferred delivery's error text names the limits, e.g. "size or entry limit".
    pub names: &'static str,
}

/// The slots of a batch, one per delivery, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    slots: Vec<Slot>,
    names: &'static str,
}

impl BatchPlan {
    /// Packs a batch into one request, in order. `sizes` gives each delivery's size as the
    /// service counts it, or why it cannot be sent. Once one delivery is deferred, all later
    /// ones are too, so that FIFO order holds.
    pub fn pack(sizes: impl IntoIterator<Item = Result<usize, String>>, limits: Limits) -> Self {
        let mut sent = 0;
        let mut total = 0;
        let mut full = false;
        let slots = sizes
            .into_iter()
            .map(|size| match size {
                Err(reason) => Slot::Rejected(reason),
                Ok(size) if size > limits.max_bytes && limits.oversize == Oversize::Reject => {
                    Slot::Rejected(format!(
                        "the message is {size} bytes; the service takes at most {}",
                        limits.max_bytes
                    ))
                }
                Ok(_) if full => Slot::Deferred,
                Ok(size)
                    if sent > 0
                        && (sent == limits.max_entries || total + size > limits.max_bytes) =>
                {
                    full = true;
                    Slot::Deferred
                }
                Ok(size) => {
                    total += size;
                    sent += 1;
                    Slot::Sent(sent - 1)
                }
            })
            .collect();
        BatchPlan {
            slots,
            names: limits.names,
        }
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// How many deliveries, from the front, the plan sends or rejects before the first
    /// deferred one: what `Provider::fit` answers, so that the engine leases only those.
    pub fn fitting(&self) -> usize {
        self.slots
            .iter()
            .take_while(|slot| !matches!(slot, Slot::Deferred))
            .count()
    }

    /// The indices (in the batch) of the deliveries in the request, in entry order.
    pub fn sent(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot, Slot::Sent(_)))
            .map(|(i, _)| i)
    }

    /// When nothing can be sent, why (`build`'s error): "no {noun} can be sent: reasons".
    pub fn nothing_sent(&self, noun: &str) -> Option<String> {
        if self.sent().next().is_some() {
            return None;
        }
        let reasons: Vec<&str> = self
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Rejected(r) => Some(r.as_str()),
                _ => None,
            })
            .collect();
        Some(format!("no {noun} can be sent: {}", reasons.join("; ")))
    }

    /// One verdict per delivery: `entry(i, n)` for delivery `i` sent as entry `n`; a rejected
    /// one failed for good; a deferred one "retry now", with a later request.
    pub fn verdicts(&self, mut entry: impl FnMut(usize, usize) -> Verdict) -> Vec<Verdict> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, slot)| match slot {
                Slot::Sent(n) => entry(i, *n),
                Slot::Rejected(reason) => Verdict::Permanent {
                    error: reason.clone(),
                },
                Slot::Deferred => Verdict::Transient {
                    error: format!(
                        "not sent: the request was full ({}); sent with a later one",
                        self.names
                    ),
                    retry_after_ms: Some(0),
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: Limits = Limits {
        max_entries: 10,
        max_bytes: 10,
        oversize: Oversize::Reject,
        names: "size or entry limit",
    };

    #[test]
    fn batches_are_packed_in_order() {
        let plan = BatchPlan::pack(
            [Ok(4), Err("bad".to_string()), Ok(11), Ok(5), Ok(1), Ok(1)],
            AWS,
        );
        assert_eq!(
            plan.slots(),
            [
                Slot::Sent(0),
                Slot::Rejected("bad".into()),
                Slot::Rejected("the message is 11 bytes; the service takes at most 10".into()),
                Slot::Sent(1),
                Slot::Sent(2),
                Slot::Deferred,
            ]
        );
        assert_eq!(plan.sent().collect::<Vec<_>>(), [0, 3, 4]);
        let two = Limits {
            max_entries: 2,
            max_bytes: 100,
            ..AWS
        };
        let plan = BatchPlan::pack([Ok(1), Ok(1), Ok(1)], two);
        assert_eq!(plan.fitting(), 2);
        assert_eq!(plan.slots(), [Slot::Sent(0), Slot::Sent(1), Slot::Deferred]);
    }

    /// An oversize entry that the service may still take goes first and alone.
    #[test]
    fn an_oversize_entry_may_go_alone() {
        let alone = Limits {
            oversize: Oversize::SendAlone,
            ..AWS
        };
        let plan = BatchPlan::pack([Ok(50), Ok(1)], alone);
        assert_eq!(plan.slots(), [Slot::Sent(0), Slot::Deferred]);
        let plan = BatchPlan::pack([Ok(1), Ok(50)], alone);
        assert_eq!(plan.slots(), [Slot::Sent(0), Slot::Deferred]);
    }

    #[test]
    fn verdicts_and_the_empty_request() {
        let plan = BatchPlan::pack([Err("a".to_string()), Err("b".to_string())], AWS);
        assert_eq!(
            plan.nothing_sent("message").as_deref(),
            Some("no message can be sent: a; b")
        );
        let plan = BatchPlan::pack([Ok(1), Err("x".to_string()), Ok(20)], AWS);
        assert_eq!(plan.nothing_sent("message"), None);
        let verdicts = plan.verdicts(|i, n| {
            assert_eq!((i, n), (0, 0));
            Verdict::Delivered
        });
        assert_eq!(verdicts[0], Verdict::Delivered);
        assert_eq!(verdicts[1], Verdict::Permanent { error: "x".into() });
        let plan = BatchPlan::pack([Ok(9), Ok(9)], AWS);
        assert_eq!(
            plan.verdicts(|_, _| Verdict::Delivered)[1],
            Verdict::Transient {
                error: "not sent: the request was full (size or entry limit); sent with a \
                        later one"
                    .into(),
                retry_after_ms: Some(0),
            }
        );
    }
}
