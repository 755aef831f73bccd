//! The state of one reader that the driver feeds: decoding, the cache and the status channels.

use super::cache::{Cache, Entry, Outcome, WriterInfo};
use super::listener::ListenerSlot;
use super::timer::TimerHandle;
use crate::dds::cft::CftState;
use crate::dds::presentation::{AccessGate, GroupMember};
use crate::dds::status::{
    DeadlineMissedStatus, IncompatibleQosStatus, LivelinessChangedStatus, SampleLostStatus, SampleRejectedStatus,
    StatusFlags, StatusMask, SubscriptionMatchedStatus,
};
use crate::dds::support::TypeSupport;
use crate::runtime::driver::{defer_listener, Deferred, ReaderSink};
use crate::runtime::wall_clock;
use bytes::Bytes;
use starling_proto::cdr::{split_encapsulation, XcdrVersion};
use starling_proto::core::FastHashMap;
use starling_proto::core::{ChangeKind, PayloadPool, ReceivedSample};
use starling_proto::qos::{EndpointQos, QosPolicyId};
use starling_proto::wire::types::{Guid, KeyHash, SampleIdentity, Time};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::watch;

/// Cache and status channels of one reader, fed by the driver.
pub(crate) struct ReaderState<T> {
    pub(super) support: Arc<dyn TypeSupport<T>>,
    pub(super) cache: Mutex<Cache<T>>,
    pub(super) data: watch::Sender<u64>,
    /// Set when a sample notified `data`, cleared by a waiter before it looks at the cache: samples arriving
    /// before any waiter looked again notify nobody new (a watch notification per sample was a tenth of a
    /// subscriber's CPU time at 1 KB).
    pub(super) data_pending: AtomicBool,
    pub(super) matched: watch::Sender<SubscriptionMatchedStatus>,
    pub(super) incompatible: watch::Sender<IncompatibleQosStatus>,
    pub(super) deadline: watch::Sender<DeadlineMissedStatus>,
    pub(super) liveliness: watch::Sender<LivelinessChangedStatus>,
    pub(super) rejected: watch::Sender<SampleRejectedStatus>,
    pub(super) lost: watch::Sender<SampleLostStatus>,
    pub(crate) flags: Arc<StatusFlags>,
    pub(super) undecodable: AtomicU64,
    /// Our key hash of a sample, by the KEY_HASH its writer sent with it and
    /// the payload's XCDR version: the hash is computed (an MD5 for long keys)
    /// once per instance and writer's hash instead of once per sample.
    pub(super) key_hashes: Mutex<FastHashMap<(KeyHash, XcdrVersion), KeyHash>>,
    pub(super) timer: Arc<TimerHandle>,
    pub(super) best_effort: bool,
    /// The subscriber's access gate (coherent sets wait while its application is between begin_access and
    /// end_access).
    pub(super) access: Option<Arc<AccessGate>>,
    /// This state itself, for sets deferred by the access gate.
    pub(super) me: std::sync::Weak<ReaderState<T>>,
    /// The content filter of a reader on a [`ContentFilteredTopic`](crate::dds::ContentFilteredTopic).
    pub(super) content_filter: Option<Arc<CftState>>,
    /// Samples the content filter dropped on arrival.
    pub(super) filtered: AtomicU64,
    /// The listener, if one is set.
    pub(super) listener: Mutex<Option<Arc<ListenerSlot<T>>>>,
    /// The statuses the listener wants (0 without a listener): checked on every status change.
    pub(super) listener_mask: AtomicU32,
    /// Statuses whose callbacks are due and not yet run.
    pub(super) pending: AtomicU32,
    /// The participant's payload pool: received payloads go back to it once decoded.
    pub(super) pool: Arc<PayloadPool>,
}

impl<T> ReaderState<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Cache<T>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone + Send + Sync + 'static> ReaderState<T> {
    /// The cache changed: wake waiters.
    fn data_changed(&self) {
        // One wake-up per wait: the waiter clears `data_pending` before it looks at the cache.
        if !self.data_pending.swap(true, Ordering::AcqRel) {
            crate::dds::status::bump(&self.data);
        }
        self.raise(StatusMask::DATA_AVAILABLE);
    }

    /// Marks statuses changed, wakes conditions, and makes the listener's callbacks for them due: they run
    /// once the driver has released its locks, or at once when no driver call is under way on this thread.
    pub(super) fn raise(&self, s: StatusMask) {
        self.flags.raise(s);
        let wanted = s.0 & self.listener_mask.load(Ordering::Acquire);
        if wanted == 0 || self.pending.fetch_or(wanted, Ordering::AcqRel) != 0 {
            // No listener for these, or a run is already due and will see the new bits.
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        if !defer_listener(me) {
            self.run_deferred();
        }
    }

    /// Runs the timers; returns when to run them next.
    pub(super) fn tick(&self, now: Instant) -> Option<Instant> {
        let r = self.lock().tick(now);
        if !r.deadline_missed.is_empty() {
            self.deadline.send_modify(|s| r.deadline_missed.iter().for_each(|k| s.record(*k)));
            self.raise(StatusMask::REQUESTED_DEADLINE_MISSED);
        }
        if r.purged {
            crate::dds::status::bump(&self.data);
            self.flags.notify();
        }
        r.next
    }
}

/// XCDR version of an encapsulated payload (by its representation identifier).
fn payload_version(payload: &[u8]) -> XcdrVersion {
    split_encapsulation(payload).map_or(XcdrVersion::V1, |(e, _, _)| e.version())
}

/// Entries of [`ReaderState::key_hashes`] kept at most (then it starts over).
const KEY_HASH_CACHE: usize = 4096;

impl<T: 'static> ReaderState<T> {
    /// Our key hash of `data`, looked up by the writer's `wire` key hash when it sent one.
    fn key_hash_of(&self, data: &T, version: XcdrVersion, wire: Option<KeyHash>) -> KeyHash {
        let Some(wire) = wire else { return self.support.key_hash(data, version) };
        let mut cache = self.key_hashes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&(wire, version)) {
            return *k;
        }
        let k = self.support.key_hash(data, version);
        if cache.len() >= KEY_HASH_CACHE {
            cache.clear();
        }
        cache.insert((wire, version), k);
        k
    }
}

/// A received sample, decoded, waiting to enter the cache.
struct Decoded<T> {
    s: ReceivedSample,
    data: Option<T>,
    key: KeyHash,
    valid: bool,
}

impl<T: Clone + Send + Sync + 'static> ReaderState<T> {
    /// Decodes a received sample; `None` (counted) when it cannot be decoded or the content filter drops it.
    /// Its payload is not needed after this (the cache keeps the decoded value): it goes back to the
    /// participant's pool whatever the outcome.
    fn decode(&self, mut s: ReceivedSample) -> Option<Decoded<T>> {
        let payload = s.payload.take();
        let d = self.decode_payload(s, payload.as_ref());
        if let Some(p) = payload {
            self.pool.give(p);
        }
        d
    }

    fn decode_payload(&self, s: ReceivedSample, payload: Option<&Bytes>) -> Option<Decoded<T>> {
        let valid = s.kind == ChangeKind::Alive;
        let data = match payload {
            Some(p) => {
                let r = if s.payload_is_key { self.support.decode_key(p) } else { self.support.decode(p) };
                match r {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.undecodable.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(writer = %s.writer, "dropping undecodable sample: {e}");
                        return None;
                    }
                }
            }
            None => None,
        };
        if valid && data.is_none() {
            self.undecodable.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if let (true, Some(cft), Some(d), Some(p)) = (valid, &self.content_filter, &data, payload) {
            let pass = match self.support.as_dynamic(d) {
                Some(v) => cft.accepts_value(v),
                None => cft.accepts_payload(p),
            };
            if !pass {
                self.filtered.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        let key = match (&data, payload) {
            _ if !self.support.is_keyed() => KeyHash::default(),
            (Some(d), Some(p)) => self.key_hash_of(d, payload_version(p), s.key_hash),
            _ => s.key_hash.unwrap_or_default(),
        };
        Some(Decoded { s, data, key, valid })
    }

    /// Puts a decoded sample into the (locked) cache; returns the samples found lost before it and the outcome.
    fn insert(&self, cache: &mut Cache<T>, d: Decoded<T>, wall: Time) -> (u64, Outcome) {
        let Decoded { s, data, key, valid } = d;
        let mut gap = 0;
        // Samples filtered out at the source leave gaps too: a filtered reader does not count them as lost.
        if self.best_effort && self.content_filter.is_none() {
            // Reliable readers get every change repaired (or a GAP for what the writer no longer has).
            gap = cache.note_sequence(s.writer, s.sequence_number.0);
        }
        let lifespan = cache.writers.get(&s.writer).and_then(|w| w.lifespan);
        let expires = match (lifespan, s.source_timestamp) {
            (Some(l), Some(ts)) if ts != Time::INVALID => {
                Some(ts.to_nanos().saturating_add(u64::try_from(l.as_nanos()).unwrap_or(u64::MAX)))
            }
            _ => None,
        };
        if valid && expires.is_some_and(|x| x <= wall.to_nanos()) {
            return (gap, Outcome::Expired);
        }
        let entry = Entry {
            data: None,
            key,
            read: false,
            valid,
            source_timestamp: s.source_timestamp,
            reception_timestamp: wall,
            writer: s.writer,
            expires,
            seq: s.sequence_number.0,
            related: s.related_sample_identity,
            group_seq: s.group.as_ref().and_then(|g| g.seq).map(|q| q.0),
            original: s.original_writer,
        };
        // Each original change once: from its writer, or relayed (with its original identity) by durability
        // services, whichever comes first. Changes of one writer arrive in order from each of them, so the
        // highest sequence number seen per original writer tells what was delivered.
        let id = s.original_writer.unwrap_or_else(|| SampleIdentity::new(s.writer, s.sequence_number));
        if id.sequence_number.0 > 0
            && cache.delivered.get(&id.writer_guid).is_some_and(|sn| *sn >= id.sequence_number.0)
        {
            return (gap, Outcome::Dropped);
        }
        let outcome = cache.insert(s.kind, key, data, entry, Instant::now());
        if id.sequence_number.0 > 0 && !matches!(outcome, Outcome::Rejected(_)) {
            cache.delivered.insert(id.writer_guid, id.sequence_number.0);
        }
        (gap, outcome)
    }

    /// Updates the statuses after a sample went through the cache.
    fn report(&self, key: KeyHash, gap: u64, outcome: Outcome) {
        if gap > 0 {
            self.lost.send_modify(|l| {
                l.total_count = l.total_count.saturating_add(u32::try_from(gap).unwrap_or(u32::MAX));
                l.total_count_change = l.total_count_change.saturating_add(u32::try_from(gap).unwrap_or(u32::MAX));
            });
            self.raise(StatusMask::SAMPLE_LOST);
        }
        match outcome {
            Outcome::Stored => self.data_changed(),
            Outcome::Dropped => {}
            Outcome::Expired => {
                self.lost.send_modify(|l| {
                    l.total_count += 1;
                    l.total_count_change += 1;
                });
                self.raise(StatusMask::SAMPLE_LOST);
            }
            Outcome::Rejected(reason) => {
                self.rejected.send_modify(|r| {
                    r.total_count += 1;
                    r.total_count_change += 1;
                    r.last_reason = Some(reason);
                    r.last_instance_handle = Some(key);
                });
                self.raise(StatusMask::SAMPLE_REJECTED);
            }
        }
    }

    /// Puts a whole coherent set into the cache under one lock, so that no read sees part of it.
    fn insert_set(&self, decoded: Vec<Decoded<T>>) {
        let wall = wall_clock();
        let results: Vec<(KeyHash, u64, Outcome)> = {
            let mut cache = self.lock();
            decoded
                .into_iter()
                .map(|d| {
                    let key = d.key;
                    let (gap, outcome) = self.insert(&mut cache, d, wall);
                    (key, gap, outcome)
                })
                .collect()
        };
        for (key, gap, outcome) in results {
            self.report(key, gap, outcome);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Deferred for ReaderState<T> {
    fn run_deferred(&self) {
        let due = self.pending.swap(0, Ordering::AcqRel);
        let slot = self.listener.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(slot) = slot else { return };
        let due = due & slot.mask;
        let (l, r) = (&*slot.listener, &slot.view);
        let has = |m: StatusMask| due & m.0 != 0;
        // Statuses first, so that a data callback already knows about a writer that just matched.
        if has(StatusMask::SUBSCRIPTION_MATCHED) {
            l.on_subscription_matched(r, r.subscription_matched_status());
        }
        if has(StatusMask::LIVELINESS_CHANGED) {
            l.on_liveliness_changed(r, r.liveliness_changed_status());
        }
        if has(StatusMask::REQUESTED_INCOMPATIBLE_QOS) {
            l.on_requested_incompatible_qos(r, r.requested_incompatible_qos_status());
        }
        if has(StatusMask::REQUESTED_DEADLINE_MISSED) {
            l.on_requested_deadline_missed(r, r.requested_deadline_missed_status());
        }
        if has(StatusMask::SAMPLE_LOST) {
            l.on_sample_lost(r, r.sample_lost_status());
        }
        if has(StatusMask::SAMPLE_REJECTED) {
            l.on_sample_rejected(r, r.sample_rejected_status());
        }
        if has(StatusMask::DATA_AVAILABLE) {
            l.on_data_available(r);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> GroupMember for ReaderState<T> {
    fn unread_order(&self) -> Vec<(Guid, Option<i64>, Time)> {
        self.lock().unread_order()
    }
}

impl<T: Clone + Send + Sync + 'static> ReaderSink for ReaderState<T> {
    fn on_sample(&self, s: ReceivedSample) {
        let Some(d) = self.decode(s) else { return };
        let key = d.key;
        let wall = wall_clock();
        let (gap, outcome) = {
            let mut cache = self.lock();
            self.insert(&mut cache, d, wall)
        };
        self.report(key, gap, outcome);
    }

    fn prepare_group_part(&self, samples: Vec<ReceivedSample>) -> Option<Box<dyn FnOnce() + Send>> {
        let decoded: Vec<Decoded<T>> = samples.into_iter().filter_map(|s| self.decode(s)).collect();
        if decoded.is_empty() {
            return None;
        }
        let me = self.me.upgrade()?;
        Some(Box::new(move || me.insert_set(decoded)))
    }

    fn access_gate(&self) -> Option<Arc<AccessGate>> {
        self.access.clone()
    }

    fn on_coherent_set(&self, samples: Vec<ReceivedSample>) {
        let decoded: Vec<Decoded<T>> = samples.into_iter().filter_map(|s| self.decode(s)).collect();
        if decoded.is_empty() {
            return;
        }
        match &self.access {
            // The subscriber's application is between begin_access and end_access: the set waits.
            Some(gate) => {
                let Some(me) = self.me.upgrade() else { return };
                let deferred: Box<dyn FnOnce() + Send> = Box::new(move || me.insert_set(decoded));
                if let Some(f) = gate.defer(deferred) {
                    f();
                }
            }
            None => self.insert_set(decoded),
        }
    }

    fn on_matched(&self, writer: Guid, matched: bool, current_count: u32, writer_qos: Option<&EndpointQos>) {
        // A writer is alive when it matches (the core reports it right after if it is not).
        let mut was_alive = true;
        if matched {
            let info = writer_qos.map_or_else(WriterInfo::default, |q| WriterInfo {
                strength: q.ownership_strength,
                lifespan: q.lifespan.to_std(),
            });
            self.lock().add_writer(writer, info);
        } else {
            let (changed, alive) = self.lock().remove_writer(writer, Instant::now(), wall_clock());
            was_alive = alive;
            if changed {
                self.data_changed();
            }
        }
        self.matched.send_modify(|s| {
            if matched {
                s.total_count += 1;
            }
            s.current_count = current_count;
            s.last_publication_handle = Some(writer);
        });
        self.liveliness.send_modify(|l| {
            if matched {
                l.alive_count += 1;
                l.alive_count_change += 1;
            } else if was_alive {
                l.alive_count = l.alive_count.saturating_sub(1);
                l.alive_count_change -= 1;
            } else {
                l.not_alive_count = l.not_alive_count.saturating_sub(1);
                l.not_alive_count_change -= 1;
            }
            l.last_publication_handle = Some(writer);
        });
        self.raise(StatusMask::SUBSCRIPTION_MATCHED | StatusMask::LIVELINESS_CHANGED);
    }

    fn on_liveliness_changed(&self, writer: Guid, alive: bool) {
        let (changed, cache_changed) = self.lock().set_writer_liveliness(writer, alive, Instant::now(), wall_clock());
        if cache_changed {
            self.data_changed();
        }
        if !changed {
            return;
        }
        self.liveliness.send_modify(|l| {
            let d = if alive { 1 } else { -1 };
            l.alive_count = l.alive_count.saturating_add_signed(d);
            l.alive_count_change += d;
            l.not_alive_count = l.not_alive_count.saturating_add_signed(-d);
            l.not_alive_count_change -= d;
            l.last_publication_handle = Some(writer);
        });
        self.raise(StatusMask::LIVELINESS_CHANGED);
    }

    fn on_incompatible(&self, writer: Guid, policy: QosPolicyId) {
        self.incompatible.send_modify(|s| s.record(writer, policy));
        self.raise(StatusMask::REQUESTED_INCOMPATIBLE_QOS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_versions() {
        assert_eq!(payload_version(&[0, 1, 0, 0]), XcdrVersion::V1);
        assert_eq!(payload_version(&[0, 7, 0, 0]), XcdrVersion::V2);
        assert_eq!(payload_version(&[0, 9, 0, 0]), XcdrVersion::V2);
        assert_eq!(payload_version(&[]), XcdrVersion::V1);
    }
}
