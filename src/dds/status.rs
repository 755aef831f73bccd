//! Communication statuses of writers and readers.

use starling_proto::qos::QosPolicyId;
use starling_proto::wire::types::{Guid, KeyHash};
use tokio::sync::watch;

/// PUBLICATION_MATCHED status of a writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublicationMatchedStatus {
    /// Readers matched so far (cumulative).
    pub total_count: u32,
    /// Readers matched now.
    pub current_count: u32,
    /// The reader of the latest change.
    pub last_subscription_handle: Option<Guid>,
}

/// SUBSCRIPTION_MATCHED status of a reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionMatchedStatus {
    /// Writers matched so far (cumulative).
    pub total_count: u32,
    /// Writers matched now.
    pub current_count: u32,
    /// The writer of the latest change.
    pub last_publication_handle: Option<Guid>,
}

/// OFFERED_ / REQUESTED_INCOMPATIBLE_QOS status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncompatibleQosStatus {
    /// Incompatible remote endpoints found so far.
    pub total_count: u32,
    /// The policy that failed last.
    pub last_policy_id: Option<QosPolicyId>,
    /// The remote endpoint of the latest incompatibility.
    pub last_remote: Option<Guid>,
}

impl IncompatibleQosStatus {
    pub(crate) fn record(&mut self, remote: Guid, policy: QosPolicyId) {
        self.total_count += 1;
        self.last_policy_id = Some(policy);
        self.last_remote = Some(remote);
    }
}

/// OFFERED_DEADLINE_MISSED (writer) or REQUESTED_DEADLINE_MISSED (reader) status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineMissedStatus {
    /// Deadline periods missed so far, over all instances.
    pub total_count: u32,
    /// Missed since the status was last read.
    pub total_count_change: u32,
    /// The instance whose deadline was missed last.
    pub last_instance_handle: Option<KeyHash>,
}

impl DeadlineMissedStatus {
    pub(crate) fn record(&mut self, instance: KeyHash) {
        self.total_count += 1;
        self.total_count_change += 1;
        self.last_instance_handle = Some(instance);
    }
}

/// LIVELINESS_CHANGED status of a reader: the liveliness of its matched writers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivelinessChangedStatus {
    /// Matched writers currently alive.
    pub alive_count: u32,
    /// Matched writers currently not alive.
    pub not_alive_count: u32,
    /// Change of `alive_count` since the status was last read.
    pub alive_count_change: i32,
    /// Change of `not_alive_count` since the status was last read.
    pub not_alive_count_change: i32,
    /// The writer whose liveliness changed last.
    pub last_publication_handle: Option<Guid>,
}

/// LIVELINESS_LOST status of a writer with MANUAL_BY_* liveliness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivelinessLostStatus {
    /// Times the writer failed to assert its liveliness within the lease.
    pub total_count: u32,
    /// Lost since the status was last read.
    pub total_count_change: u32,
}

/// Why a reader rejected a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SampleRejectedReason {
    /// RESOURCE_LIMITS.max_instances reached.
    InstancesLimit,
    /// RESOURCE_LIMITS.max_samples reached.
    SamplesLimit,
    /// RESOURCE_LIMITS.max_samples_per_instance (or the KEEP_ALL history) reached.
    SamplesPerInstanceLimit,
}

/// SAMPLE_REJECTED status of a reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleRejectedStatus {
    /// Samples rejected so far.
    pub total_count: u32,
    /// Rejected since the status was last read.
    pub total_count_change: u32,
    /// Why the last sample was rejected.
    pub last_reason: Option<SampleRejectedReason>,
    /// The instance of the last rejected sample.
    pub last_instance_handle: Option<KeyHash>,
}

/// SAMPLE_LOST status of a reader: samples a best-effort reader never got
/// (gaps in a writer's sequence numbers), and samples whose lifespan had
/// already expired on arrival.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleLostStatus {
    /// Samples lost so far.
    pub total_count: u32,
    /// Lost since the status was last read.
    pub total_count_change: u32,
}

/// The communication statuses, as bits of a [`StatusMask`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusMask(pub u32);

impl StatusMask {
    /// No status.
    pub const NONE: StatusMask = StatusMask(0);
    /// Every status.
    pub const ALL: StatusMask = StatusMask(u32::MAX);
    /// INCONSISTENT_TOPIC (never raised).
    pub const INCONSISTENT_TOPIC: StatusMask = StatusMask(1 << 0);
    /// OFFERED_DEADLINE_MISSED.
    pub const OFFERED_DEADLINE_MISSED: StatusMask = StatusMask(1 << 1);
    /// REQUESTED_DEADLINE_MISSED.
    pub const REQUESTED_DEADLINE_MISSED: StatusMask = StatusMask(1 << 2);
    /// OFFERED_INCOMPATIBLE_QOS.
    pub const OFFERED_INCOMPATIBLE_QOS: StatusMask = StatusMask(1 << 5);
    /// REQUESTED_INCOMPATIBLE_QOS.
    pub const REQUESTED_INCOMPATIBLE_QOS: StatusMask = StatusMask(1 << 6);
    /// SAMPLE_LOST.
    pub const SAMPLE_LOST: StatusMask = StatusMask(1 << 7);
    /// SAMPLE_REJECTED.
    pub const SAMPLE_REJECTED: StatusMask = StatusMask(1 << 8);
    /// DATA_ON_READERS (never raised).
    pub const DATA_ON_READERS: StatusMask = StatusMask(1 << 9);
    /// DATA_AVAILABLE.
    pub const DATA_AVAILABLE: StatusMask = StatusMask(1 << 10);
    /// LIVELINESS_LOST.
    pub const LIVELINESS_LOST: StatusMask = StatusMask(1 << 11);
    /// LIVELINESS_CHANGED.
    pub const LIVELINESS_CHANGED: StatusMask = StatusMask(1 << 12);
    /// PUBLICATION_MATCHED.
    pub const PUBLICATION_MATCHED: StatusMask = StatusMask(1 << 13);
    /// SUBSCRIPTION_MATCHED.
    pub const SUBSCRIPTION_MATCHED: StatusMask = StatusMask(1 << 14);

    /// True when the masks share a status.
    pub fn intersects(self, other: StatusMask) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for StatusMask {
    type Output = StatusMask;
    fn bitor(self, rhs: StatusMask) -> StatusMask {
        StatusMask(self.0 | rhs.0)
    }
}

/// Bumps a counter watch, unless nobody subscribes to it: a counter is only there to wake its receivers,
/// each of which subscribes before it looks at what the counter stands for (so it cannot miss a change made
/// before it subscribed), and a send wakes every waiter slot of the channel even when there is none.
pub(crate) fn bump(tx: &watch::Sender<u64>) {
    if tx.receiver_count() > 0 {
        tx.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// The "changed" flags of one entity's statuses plus a counter bumped on
/// every change, which conditions and wait-sets watch.
pub(crate) struct StatusFlags {
    changed: std::sync::atomic::AtomicU32,
    bump: watch::Sender<u64>,
}

impl StatusFlags {
    pub(crate) fn new() -> Self {
        StatusFlags { changed: std::sync::atomic::AtomicU32::new(0), bump: watch::channel(0).0 }
    }

    /// Marks `s` changed and wakes watchers.
    pub(crate) fn raise(&self, s: StatusMask) {
        self.changed.fetch_or(s.0, std::sync::atomic::Ordering::AcqRel);
        self.notify();
    }

    /// Clears the changed flag of `s` (the status was read).
    pub(crate) fn clear(&self, s: StatusMask) {
        self.changed.fetch_and(!s.0, std::sync::atomic::Ordering::AcqRel);
    }

    /// Wakes watchers without changing a flag (e.g. the cache changed).
    pub(crate) fn notify(&self) {
        bump(&self.bump);
    }

    /// The statuses changed since last read.
    pub(crate) fn changes(&self) -> StatusMask {
        StatusMask(self.changed.load(std::sync::atomic::Ordering::Acquire))
    }

    /// A receiver that sees every change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.bump.subscribe()
    }
}

/// Reads a status from its watch channel and resets its `*_change` fields
/// without waking the watchers.
pub(crate) fn take_status<S: Copy>(tx: &watch::Sender<S>, reset: impl FnOnce(&mut S)) -> S {
    let s = *tx.borrow();
    tx.send_if_modified(|v| {
        reset(v);
        false
    });
    s
}

/// A receiver of a status channel whose first `changed()` also reports what happened before it was created:
/// a status that already moved from its initial value counts as unseen, so a match or an incompatibility that
/// came while the entity was being set up is not missed.
pub(crate) fn status_watch<T: Default + PartialEq>(tx: &watch::Sender<T>) -> watch::Receiver<T> {
    let mut rx = tx.subscribe();
    if *rx.borrow() != T::default() {
        rx.mark_changed();
    }
    rx
}
