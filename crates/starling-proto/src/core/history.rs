//! A writer's history cache: changes by sequence number, bounded per instance
//! for KEEP_LAST.

use super::event::ChangeKind;
use crate::qos::History;
use crate::wire::types::{Guid, KeyHash, SampleIdentity, SequenceNumber, Time};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

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
#[derive(Debug)]
pub(crate) struct WriterHistory {
    kind: History,
    changes: BTreeMap<i64, CacheChange>,
    per_instance: crate::FastHashMap<KeyHash, VecDeque<i64>>,
    last_sn: i64,
}

impl WriterHistory {
    pub fn new(kind: History) -> Self {
        WriterHistory { kind, changes: BTreeMap::new(), per_instance: crate::FastHashMap::default(), last_sn: 0 }
    }

    /// The highest sequence number ever assigned (0 before the first write).
    pub fn last_sn(&self) -> i64 {
        self.last_sn
    }

    /// The lowest sequence number still held, or `last_sn + 1` when empty.
    pub fn first_sn(&self) -> i64 {
        self.changes.keys().next().copied().unwrap_or(self.last_sn + 1)
    }

    /// Number of changes held.
    pub fn len(&self) -> usize {
        self.changes.len()
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
                    self.changes.remove(&old);
                }
            }
            // A disposed+unregistered instance keeps only its last change.
        }
        self.changes.insert(sn, change);
        SequenceNumber(sn)
    }

    /// The change with sequence number `sn`, if still held.
    pub fn get(&self, sn: i64) -> Option<&CacheChange> {
        self.changes.get(&sn)
    }

    /// Changes with `from <= sn`, ascending.
    pub fn range_from(&self, from: i64) -> impl Iterator<Item = (i64, &CacheChange)> + '_ {
        self.changes.range(from..).map(|(k, v)| (*k, v))
    }

    /// Drops every change with `sn <= upto` (used when all readers acknowledged
    /// them and no late joiner needs them).
    pub fn remove_up_to(&mut self, upto: i64) {
        while let Some((&sn, _)) = self.changes.first_key_value() {
            if sn > upto {
                break;
            }
            if let Some(c) = self.changes.remove(&sn) {
                if let Some(q) = self.per_instance.get_mut(&c.key_hash) {
                    q.retain(|s| *s != sn);
                    if q.is_empty() {
                        self.per_instance.remove(&c.key_hash);
                    }
                }
            }
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
        let mut h = WriterHistory::new(History::KeepLast(2));
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
        let mut h = WriterHistory::new(History::KeepAll);
        for _ in 0..4 {
            h.add(ch(0));
        }
        h.remove_up_to(2);
        assert_eq!(h.first_sn(), 3);
        h.remove_up_to(10);
        assert_eq!(h.first_sn(), 5);
        assert_eq!(h.len(), 0);
    }
}
