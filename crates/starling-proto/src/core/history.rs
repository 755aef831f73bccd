//! A writer's history cache: changes by sequence number, bounded per instance
//! for KEEP_LAST.

use super::event::ChangeKind;
use super::pool::PayloadPool;
use super::FastHashMap;
use crate::qos::History;
use crate::wire::types::{Guid, KeyHash, SampleIdentity, SequenceNumber, Time};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// One change kept by a writer.
#[derive(Clone, Debug)]
pub(crate) struct CacheChange {
    pub kind: ChangeKind,
    pub key_hash: KeyHash,
    pub payload: Bytes,
    pub source_timestamp: Option<Time>,
    pub related_sample_identity: Option<SampleIdentity>,
    /// The original writer and sequence number of a relayed change (inline QoS `PID_ORIGINAL_WRITER_INFO`).
    pub original_writer: Option<SampleIdentity>,
    /// The coherent set (its first sequence number; `SequenceNumber::UNKNOWN` for an end marker).
    pub coherent_set: Option<i64>,
    /// Matched readers whose content filter this change does not pass: they get a GAP instead.
    pub filtered_out: Vec<Guid>,
    /// Group sequence number and group coherent set (writers with GROUP access scope).
    pub group: Option<Box<super::event::GroupTag>>,
}

/// Changes by sequence number. KEEP_LAST(n) keeps the newest n per instance;
/// KEEP_ALL keeps everything until [`WriterHistory::remove_up_to`] drops what
/// every reader has acknowledged.
///
/// Sequence numbers only grow, so the changes sit in a ring buffer in ascending order (found by binary
/// search); a change evicted from the middle by KEEP_LAST leaves an empty slot that is dropped once it reaches
/// the front, or by a compaction when empty slots outnumber the held changes. Unlike a tree, the buffer keeps
/// its capacity: adding and dropping changes in the steady state does not allocate.
///
/// The payloads of dropped changes (acknowledged, replaced under KEEP_LAST, or still held when the history
/// goes with its writer) go back to the participant's [`PayloadPool`].
#[derive(Debug)]
pub(crate) struct WriterHistory {
    kind: History,
    pool: Arc<PayloadPool>,
    /// Ascending by sequence number; the front slot is never empty.
    slots: VecDeque<Slot>,
    /// Slots holding a change.
    held: usize,
    per_instance: FastHashMap<KeyHash, VecDeque<i64>>,
    last_sn: i64,
}

#[derive(Debug)]
struct Slot {
    sn: i64,
    change: Option<CacheChange>,
}

/// Empty slots tolerated before a compaction, beyond as many as there are held changes.
const SLACK: usize = 32;

impl WriterHistory {
    pub fn new(kind: History, pool: Arc<PayloadPool>) -> Self {
        WriterHistory { kind, pool, slots: VecDeque::new(), held: 0, per_instance: FastHashMap::default(), last_sn: 0 }
    }

    /// The highest sequence number ever assigned (0 before the first write).
    pub fn last_sn(&self) -> i64 {
        self.last_sn
    }

    /// The lowest sequence number still held, or `last_sn + 1` when empty.
    pub fn first_sn(&self) -> i64 {
        self.slots.front().map_or(self.last_sn + 1, |s| s.sn)
    }

    /// Number of changes held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Adds a change, assigning the next sequence number; evicts per KEEP_LAST.
    pub fn add(&mut self, change: CacheChange) -> SequenceNumber {
        self.last_sn += 1;
        let sn = self.last_sn;
        if let History::KeepLast(depth) = self.kind {
            let depth = depth.max(1) as usize;
            let q = self.per_instance.entry(change.key_hash).or_default();
            q.push_back(sn);
            while q.len() > depth {
                if let Some(old) = q.pop_front() {
                    if let Ok(i) = self.slots.binary_search_by_key(&old, |s| s.sn) {
                        if let Some(c) = self.slots[i].change.take() {
                            self.held -= 1;
                            self.pool.give(c.payload);
                        }
                    }
                }
            }
            // A disposed+unregistered instance keeps only its last change.
        }
        self.slots.push_back(Slot { sn, change: Some(change) });
        self.held += 1;
        self.tidy();
        SequenceNumber(sn)
    }

    /// Drops empty slots from the front, and all of them when they outnumber the held changes.
    fn tidy(&mut self) {
        while self.slots.front().is_some_and(|s| s.change.is_none()) {
            self.slots.pop_front();
        }
        if self.slots.len() - self.held > self.held + SLACK {
            self.slots.retain(|s| s.change.is_some());
        }
    }

    /// The change with sequence number `sn`, if still held.
    pub fn get(&self, sn: i64) -> Option<&CacheChange> {
        let front = self.slots.front()?.sn;
        // Without holes, slot i holds front + i: try that before searching.
        let guess = usize::try_from(sn.checked_sub(front)?).ok()?;
        if let Some(s) = self.slots.get(guess).filter(|s| s.sn == sn) {
            return s.change.as_ref();
        }
        let i = self.slots.binary_search_by_key(&sn, |s| s.sn).ok()?;
        self.slots[i].change.as_ref()
    }

    /// Changes with `from <= sn`, ascending.
    pub fn range_from(&self, from: i64) -> impl Iterator<Item = (i64, &CacheChange)> + '_ {
        let start = self.slots.partition_point(|s| s.sn < from);
        self.slots.range(start..).filter_map(|s| s.change.as_ref().map(|c| (s.sn, c)))
    }

    /// Drops every change with `sn <= upto` (used when all readers acknowledged
    /// them and no late joiner needs them).
    pub fn remove_up_to(&mut self, upto: i64) {
        while let Some(front) = self.slots.front() {
            if front.sn > upto {
                break;
            }
            let Some(slot) = self.slots.pop_front() else { break };
            let Some(c) = slot.change else { continue };
            self.held -= 1;
            let key = c.key_hash;
            self.pool.give(c.payload);
            // KEEP_ALL keeps no per-instance lists.
            if self.per_instance.is_empty() {
                continue;
            }
            if let Some(q) = self.per_instance.get_mut(&key) {
                // Ascending, so what goes is at the front.
                while q.front().is_some_and(|s| *s <= upto) {
                    q.pop_front();
                }
                if q.is_empty() {
                    self.per_instance.remove(&key);
                }
            }
        }
        self.tidy();
    }
}

impl Drop for WriterHistory {
    /// The writer is gone: what it still held goes back to the pool.
    fn drop(&mut self) {
        for c in self.slots.drain(..).filter_map(|s| s.change) {
            self.pool.give(c.payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(k: u8) -> CacheChange {
        let mut kh = [0u8; 16];
        kh[0] = k;
        CacheChange {
            kind: ChangeKind::Alive,
            key_hash: KeyHash(kh),
            payload: Bytes::new(),
            source_timestamp: None,
            related_sample_identity: None,
            original_writer: None,
            coherent_set: None,
            filtered_out: Vec::new(),
            group: None,
        }
    }

    #[test]
    fn keep_last_per_instance() {
        let mut h = WriterHistory::new(History::KeepLast(2), Arc::default());
        for i in 0..5 {
            h.add(ch(i % 2));
        }
        // sn 1..5; instance 0 has 1,3,5 -> keeps 3,5; instance 1 has 2,4 -> keeps both
        let sns: Vec<i64> = h.range_from(0).map(|(s, _)| s).collect();
        assert_eq!(sns, vec![2, 3, 4, 5]);
        assert_eq!(h.first_sn(), 2);
        assert_eq!(h.last_sn(), 5);
    }

    #[test]
    fn keep_all_and_remove() {
        let mut h = WriterHistory::new(History::KeepAll, Arc::default());
        for _ in 0..4 {
            h.add(ch(0));
        }
        h.remove_up_to(2);
        assert_eq!(h.first_sn(), 3);
        h.remove_up_to(10);
        assert_eq!(h.first_sn(), 5);
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn keep_last_holes_are_compacted() {
        let mut h = WriterHistory::new(History::KeepLast(1), Arc::default());
        h.add(ch(7)); // sn 1 stays at the front while instance 0 churns behind it
        for _ in 0..10_000 {
            h.add(ch(0));
        }
        assert_eq!(h.len(), 2);
        assert!(h.slots.len() <= 2 * h.len() + SLACK + 1, "empty slots compacted: {}", h.slots.len());
        assert_eq!(h.first_sn(), 1);
        assert!(h.get(1).is_some());
        assert!(h.get(2).is_none());
        assert!(h.get(10_001).is_some());
        let sns: Vec<i64> = h.range_from(0).map(|(s, _)| s).collect();
        assert_eq!(sns, vec![1, 10_001]);
        let sns: Vec<i64> = h.range_from(2).map(|(s, _)| s).collect();
        assert_eq!(sns, vec![10_001]);
        h.remove_up_to(1);
        assert_eq!(h.first_sn(), 10_001);
        assert_eq!(h.len(), 1);
        // Instance 7's bookkeeping went with its change.
        assert!(!h.per_instance.contains_key(&ch(7).key_hash));
    }

    #[test]
    fn dropped_payloads_go_back_to_the_pool() {
        let pool = Arc::new(PayloadPool::default());
        let with_payload = |k: u8| CacheChange { payload: pool.copy(&[k; 40]), ..ch(k) };
        // KEEP_LAST(1): the replaced change's payload comes back.
        let mut h = WriterHistory::new(History::KeepLast(1), pool.clone());
        h.add(with_payload(1));
        h.add(with_payload(1));
        assert_eq!(pool.stats().held, 1);
        // Acknowledged (removed) changes come back.
        let mut all = WriterHistory::new(History::KeepAll, pool.clone());
        for _ in 0..3 {
            all.add(with_payload(2));
        }
        all.remove_up_to(2);
        assert_eq!(pool.stats().held, 2);
        // A payload also held elsewhere does not (making it took one of the two buffers held).
        let shared = with_payload(2);
        let elsewhere = shared.payload.clone();
        all.add(shared);
        assert_eq!(pool.stats().held, 1);
        all.remove_up_to(4);
        assert_eq!(pool.stats().held, 2, "sn 3 came back, sn 4 is still shared");
        assert_eq!(&elsewhere[..], &[2; 40][..]);
        // What a history still holds comes back when it goes.
        drop(h);
        assert_eq!(pool.stats().held, 3);
        let s = pool.stats();
        assert_eq!((s.kept, s.dropped), (5, 0));
    }

    #[test]
    fn get_out_of_range() {
        let mut h = WriterHistory::new(History::KeepAll, Arc::default());
        assert!(h.get(1).is_none());
        for _ in 0..3 {
            h.add(ch(0));
        }
        assert!(h.get(0).is_none());
        assert!(h.get(-5).is_none());
        assert!(h.get(4).is_none());
        assert_eq!(h.get(2).map(|c| c.key_hash), Some(ch(0).key_hash));
        assert_eq!(h.range_from(i64::MIN).count(), 3);
    }
}
