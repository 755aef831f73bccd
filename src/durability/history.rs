//! What the service holds for one topic: samples per instance, limited by the writer's DURABILITY_SERVICE
//! policy (history kind and depth, max_samples, max_instances, max_samples_per_instance), and the disposed
//! instances it drops once service_cleanup_delay has passed with no writer left.

use bytes::Bytes;
use starling_proto::qos::{DurabilityService, History};
use starling_proto::wire::types::{Guid, SampleIdentity};
use starling_proto::wire::KeyHash;
use std::collections::{HashMap, VecDeque};

/// One held change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldSample {
    /// The instance.
    pub key: KeyHash,
    /// The writer's source timestamp, nanoseconds since 1970 (0: none was sent).
    pub source_nanos: u64,
    /// The encapsulated sample, or the key payload of a dispose.
    pub payload: Bytes,
    /// True for a dispose.
    pub dispose: bool,
    /// True when `payload` is a key payload (a dispose's), false for a full sample.
    pub key_only: bool,
    /// Arrival order in the service (replay order).
    pub order: u64,
    /// The writer that wrote the change and its sequence number there (`None` for samples stored before
    /// services recorded it).
    pub origin: Option<SampleIdentity>,
}

#[derive(Default)]
struct InstanceHistory {
    samples: VecDeque<HeldSample>,
    /// The dispose that ended the instance, if it is disposed.
    disposed: Option<HeldSample>,
    /// Wall-clock nanoseconds since when the instance is disposed and no source writer is alive.
    cleanup_from: Option<u64>,
}

/// Why a sample was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// DURABILITY_SERVICE.max_instances reached.
    MaxInstances,
    /// DURABILITY_SERVICE.max_samples reached.
    MaxSamples,
    /// KEEP_ALL and DURABILITY_SERVICE.max_samples_per_instance reached.
    MaxSamplesPerInstance,
    /// Already held (or held once and since replaced): the same original writer and sequence number, or an
    /// older one, came before (from the writer itself or relayed by another service).
    Duplicate,
}

/// The held samples of one topic.
pub struct TopicHistory {
    policy: DurabilityService,
    instances: HashMap<KeyHash, InstanceHistory>,
    total: usize,
    next_order: u64,
    /// The highest sequence number taken per original writer.
    seen: HashMap<Guid, i64>,
}

fn limit(v: i32) -> Option<usize> {
    usize::try_from(v).ok().filter(|n| *n > 0)
}

impl TopicHistory {
    /// An empty history kept per `policy`.
    pub fn new(policy: DurabilityService) -> Self {
        TopicHistory { policy, instances: HashMap::new(), total: 0, next_order: 1, seen: HashMap::new() }
    }

    /// The policy in force.
    pub fn policy(&self) -> &DurabilityService {
        &self.policy
    }

    /// Samples held (dispose markers not counted).
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when nothing (no sample, no dispose) is held.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Instances held.
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    fn per_instance(&self) -> Option<usize> {
        let cap = limit(self.policy.limits.max_samples_per_instance);
        match self.policy.history {
            History::KeepLast(d) => {
                let d = usize::try_from(d).unwrap_or(1).max(1);
                Some(cap.map_or(d, |c| c.min(d)))
            }
            History::KeepAll => cap,
        }
    }

    /// Adds a data sample of instance `key`. A sample of a disposed instance makes it alive again.
    pub fn add(&mut self, key: KeyHash, source_nanos: u64, payload: Bytes) -> Result<(), Rejected> {
        self.add_from(key, source_nanos, payload, None)
    }

    /// True when `origin` (or a later change of the same writer) was taken before.
    pub fn is_duplicate(&self, origin: Option<&SampleIdentity>) -> bool {
        origin.is_some_and(|o| self.seen.get(&o.writer_guid).is_some_and(|sn| *sn >= o.sequence_number.0))
    }

    fn note_origin(&mut self, origin: Option<&SampleIdentity>) {
        if let Some(o) = origin {
            let sn = self.seen.entry(o.writer_guid).or_insert(0);
            *sn = (*sn).max(o.sequence_number.0);
        }
    }

    /// [`TopicHistory::add`] for a change written by `origin` (writer and sequence number): a change taken
    /// before (or older than one taken before) of the same writer is rejected as [`Rejected::Duplicate`].
    pub fn add_from(
        &mut self,
        key: KeyHash,
        source_nanos: u64,
        payload: Bytes,
        origin: Option<SampleIdentity>,
    ) -> Result<(), Rejected> {
        if self.is_duplicate(origin.as_ref()) {
            return Err(Rejected::Duplicate);
        }
        self.note_origin(origin.as_ref());
        let keep_last = matches!(self.policy.history, History::KeepLast(_));
        if !self.instances.contains_key(&key)
            && limit(self.policy.limits.max_instances).is_some_and(|m| self.instances.len() >= m)
        {
            return Err(Rejected::MaxInstances);
        }
        let per_instance = self.per_instance();
        let held = self.instances.get(&key).map_or(0, |i| i.samples.len());
        let replaces = per_instance.is_some_and(|p| held >= p);
        if replaces && !keep_last {
            return Err(Rejected::MaxSamplesPerInstance);
        }
        if !replaces && limit(self.policy.limits.max_samples).is_some_and(|m| self.total >= m) {
            return Err(Rejected::MaxSamples);
        }
        let order = self.next_order;
        self.next_order += 1;
        let inst = self.instances.entry(key).or_default();
        inst.disposed = None;
        inst.cleanup_from = None;
        if replaces {
            inst.samples.pop_front();
        } else {
            self.total += 1;
        }
        inst.samples.push_back(HeldSample {
            key,
            source_nanos,
            payload,
            dispose: false,
            key_only: false,
            order,
            origin,
        });
        Ok(())
    }

    /// Records that instance `key` was disposed, with the dispose's payload and whether it is a key payload
    /// (`None`: the newest sample serves as the key holder). `writers_alive` says whether a source writer is
    /// still alive; the cleanup delay runs from `now_nanos` when none is. Returns false when the instance is not
    /// held.
    pub fn dispose(
        &mut self,
        key: KeyHash,
        source_nanos: u64,
        payload: Option<(Bytes, bool)>,
        writers_alive: bool,
        now_nanos: u64,
    ) -> bool {
        self.dispose_from(key, source_nanos, payload, writers_alive, now_nanos, None)
    }

    /// [`TopicHistory::dispose`] for a dispose written by `origin`; false for a duplicate too.
    pub fn dispose_from(
        &mut self,
        key: KeyHash,
        source_nanos: u64,
        payload: Option<(Bytes, bool)>,
        writers_alive: bool,
        now_nanos: u64,
        origin: Option<SampleIdentity>,
    ) -> bool {
        if self.is_duplicate(origin.as_ref()) {
            return false;
        }
        self.note_origin(origin.as_ref());
        let order = self.next_order;
        let Some(inst) = self.instances.get_mut(&key) else { return false };
        let Some((payload, key_only)) = payload.or_else(|| inst.samples.back().map(|s| (s.payload.clone(), false)))
        else {
            return false;
        };
        self.next_order += 1;
        inst.disposed = Some(HeldSample { key, source_nanos, payload, dispose: true, key_only, order, origin });
        inst.cleanup_from = if writers_alive { None } else { Some(now_nanos) };
        true
    }

    /// The newest sample held of instance `key`.
    pub fn newest(&self, key: &KeyHash) -> Option<&HeldSample> {
        self.instances.get(key).and_then(|i| i.samples.back())
    }

    /// The dispose held for instance `key`, if it is disposed.
    pub fn disposed(&self, key: &KeyHash) -> Option<&HeldSample> {
        self.instances.get(key).and_then(|i| i.disposed.as_ref())
    }

    /// No source writer is alive any more (from `now_nanos`): the cleanup delay of every disposed instance starts.
    pub fn writers_gone(&mut self, now_nanos: u64) {
        for inst in self.instances.values_mut() {
            if inst.disposed.is_some() && inst.cleanup_from.is_none() {
                inst.cleanup_from = Some(now_nanos);
            }
        }
    }

    /// A source writer is alive again: no disposed instance is cleaned up while it lives.
    pub fn writer_alive(&mut self) {
        for inst in self.instances.values_mut() {
            inst.cleanup_from = None;
        }
    }

    /// Drops the disposed instances whose cleanup delay has passed at `now_nanos`; returns their keys.
    pub fn cleanup(&mut self, now_nanos: u64) -> Vec<KeyHash> {
        let Some(delay_nanos) = self.delay_nanos() else { return Vec::new() };
        let due: Vec<KeyHash> = self
            .instances
            .iter()
            .filter(|(_, i)| i.cleanup_from.is_some_and(|t| now_nanos >= t.saturating_add(delay_nanos)))
            .map(|(k, _)| *k)
            .collect();
        for k in &due {
            self.remove(k);
        }
        due
    }

    /// Forgets instance `key` entirely.
    pub fn remove(&mut self, key: &KeyHash) {
        if let Some(i) = self.instances.remove(key) {
            self.total -= i.samples.len();
        }
    }

    /// When the next cleanup is due (wall-clock nanoseconds), if any instance waits for one.
    pub fn next_cleanup(&self) -> Option<u64> {
        let d = self.delay_nanos()?;
        self.instances.values().filter_map(|i| i.cleanup_from).map(|t| t.saturating_add(d)).min()
    }

    /// service_cleanup_delay in nanoseconds; `None` when infinite.
    fn delay_nanos(&self) -> Option<u64> {
        let d = self.policy.service_cleanup_delay;
        if d.is_infinite() {
            None
        } else {
            Some(d.to_std().map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
        }
    }

    /// Everything held, in arrival order (dispose markers after their instance's samples).
    pub fn snapshot(&self) -> Vec<HeldSample> {
        let mut v: Vec<HeldSample> =
            self.instances.values().flat_map(|i| i.samples.iter().cloned().chain(i.disposed.iter().cloned())).collect();
        v.sort_by_key(|s| s.order);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_proto::qos::ResourceLimits;
    use starling_proto::wire::types::Duration;

    fn key(n: u8) -> KeyHash {
        KeyHash([n; 16])
    }

    fn policy(history: History, limits: ResourceLimits) -> DurabilityService {
        DurabilityService { service_cleanup_delay: Duration::ZERO, history, limits }
    }

    fn sizes(h: &TopicHistory) -> Vec<(u8, u64)> {
        h.snapshot().iter().map(|s| (s.key.0[0], s.source_nanos)).collect()
    }

    #[test]
    fn keep_last_depth_per_instance() {
        let mut h = TopicHistory::new(policy(History::KeepLast(2), ResourceLimits::default()));
        for i in 1..=5 {
            h.add(key(1), i, Bytes::new()).expect("kept");
            h.add(key(2), 10 + i, Bytes::new()).expect("kept");
        }
        assert_eq!(sizes(&h), [(1, 4), (2, 14), (1, 5), (2, 15)]);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn keep_all_limits_reject() {
        let limits = ResourceLimits { max_samples: 3, max_instances: 2, max_samples_per_instance: 2 };
        let mut h = TopicHistory::new(policy(History::KeepAll, limits));
        h.add(key(1), 1, Bytes::new()).expect("kept");
        h.add(key(1), 2, Bytes::new()).expect("kept");
        assert_eq!(h.add(key(1), 3, Bytes::new()), Err(Rejected::MaxSamplesPerInstance));
        h.add(key(2), 4, Bytes::new()).expect("kept");
        assert_eq!(h.add(key(3), 5, Bytes::new()), Err(Rejected::MaxInstances));
        assert_eq!(h.add(key(2), 6, Bytes::new()), Err(Rejected::MaxSamples));
        assert_eq!(sizes(&h), [(1, 1), (1, 2), (2, 4)]);
    }

    #[test]
    fn disposed_instances_cleaned_after_delay_without_writers() {
        let mut p = policy(History::KeepLast(1), ResourceLimits::default());
        p.service_cleanup_delay = Duration::from_millis(1000);
        let mut h = TopicHistory::new(p);
        h.add(key(1), 1, Bytes::from_static(b"a")).expect("kept");
        h.add(key(2), 2, Bytes::new()).expect("kept");
        assert!(h.dispose(key(1), 3, None, true, 0));
        assert!(h.cleanup(10_000_000_000).is_empty(), "a writer is alive");
        let snap = h.snapshot();
        assert!(snap.last().is_some_and(|s| s.dispose && s.payload == Bytes::from_static(b"a")));
        h.writers_gone(5_000_000_000);
        assert!(h.cleanup(5_500_000_000).is_empty(), "delay not over");
        assert_eq!(h.next_cleanup(), Some(6_000_000_000));
        assert_eq!(h.cleanup(6_000_000_000), vec![key(1)]);
        assert_eq!(sizes(&h), [(2, 2)]);
        // A write revives a disposed instance.
        assert!(h.dispose(key(2), 4, None, false, 7_000_000_000));
        h.add(key(2), 5, Bytes::new()).expect("kept");
        assert!(h.cleanup(u64::MAX).is_empty());
    }

    #[test]
    fn duplicates_by_original_writer_and_sequence_number() {
        use starling_proto::wire::types::{GuidPrefix, SequenceNumber};
        let w = Guid::new(GuidPrefix([7; 12]), starling_proto::wire::types::EntityId::new(1, 2));
        let id = |sn| Some(SampleIdentity::new(w, SequenceNumber(sn)));
        let mut h = TopicHistory::new(policy(History::KeepAll, ResourceLimits::default()));
        h.add_from(key(1), 1, Bytes::new(), id(1)).expect("kept");
        h.add_from(key(1), 2, Bytes::new(), id(2)).expect("kept");
        assert_eq!(h.add_from(key(1), 1, Bytes::new(), id(1)), Err(Rejected::Duplicate));
        assert_eq!(h.add_from(key(1), 2, Bytes::new(), id(2)), Err(Rejected::Duplicate));
        assert!(!h.dispose_from(key(1), 2, None, true, 0, id(2)), "a duplicate dispose");
        h.add_from(key(1), 3, Bytes::new(), id(3)).expect("kept");
        h.add(key(1), 4, Bytes::new()).expect("no identity: kept");
        assert_eq!(sizes(&h), [(1, 1), (1, 2), (1, 3), (1, 4)]);
        assert_eq!(h.snapshot()[2].origin, id(3));
    }
}
