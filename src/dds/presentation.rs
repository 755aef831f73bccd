//! PRESENTATION on the publishing and subscribing side: the writers of a [`Publisher`](super::Publisher)
//! that a coherent set spans, and the [`Subscriber`](super::Subscriber)'s access gate that holds complete
//! coherent sets back while the application is between `begin_access` and `end_access`.
//!
//! The protocol work (marking changes, reassembling sets, dropping incomplete ones) is done by the core
//! (`starling_proto::core`, module `coherent`).

use starling_proto::wire::types::{Guid, GuidPrefix, Time};
use std::sync::{Mutex, OnceLock, Weak};

/// The writers a publisher created, and whether a coherent set is open on them.
#[derive(Debug, Default)]
pub(crate) struct PublisherSets {
    state: Mutex<SetsState>,
    /// The publisher's group GUID (GROUP_GUID), allocated with its first writer.
    pub(crate) group: OnceLock<Guid>,
}

#[derive(Debug, Default)]
struct SetsState {
    /// Writers (with coherent access) created by the publisher.
    writers: Vec<Guid>,
    /// Nesting depth of begin_coherent_changes.
    depth: u32,
}

impl PublisherSets {
    fn lock(&self) -> std::sync::MutexGuard<'_, SetsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a writer with coherent access; returns true when a set is open (the writer joins it).
    pub(crate) fn add_writer(&self, writer: Guid) -> bool {
        let mut s = self.lock();
        s.writers.push(writer);
        s.depth > 0
    }

    /// Forgets a deleted writer.
    pub(crate) fn remove_writer(&self, writer: Guid) {
        self.lock().writers.retain(|w| *w != writer);
    }

    /// Enters a (possibly nested) set; returns the writers to open a set on when this is the outermost one.
    pub(crate) fn begin(&self) -> Option<Vec<Guid>> {
        let mut s = self.lock();
        s.depth += 1;
        (s.depth == 1).then(|| s.writers.clone())
    }

    /// Leaves a set; returns the writers to close it on when this was the outermost one, `Err` when no set
    /// is open.
    pub(crate) fn end(&self) -> Result<Option<Vec<Guid>>, ()> {
        let mut s = self.lock();
        if s.depth == 0 {
            return Err(());
        }
        s.depth -= 1;
        Ok((s.depth == 0).then(|| s.writers.clone()))
    }

    /// True when the publisher has writers with coherent access.
    pub(crate) fn has_writers(&self) -> bool {
        !self.lock().writers.is_empty()
    }
}

/// Work deferred until the subscriber's access ends.
type Deferred = Box<dyn FnOnce() + Send>;

/// A reader of a subscriber, as [`AccessGate::reader_order`] sees it: its unread samples in the order read
/// and take return them (writer, group sequence number, reception time).
pub(crate) trait GroupMember: Send + Sync {
    fn unread_order(&self) -> Vec<(Guid, Option<i64>, Time)>;
}

/// A subscriber's access gate (DDS `begin_access` / `end_access`).
#[derive(Default)]
pub(crate) struct AccessGate {
    state: Mutex<GateState>,
    /// The subscriber's group GUID (GROUP_GUID), allocated with its first reader.
    pub(crate) group: OnceLock<Guid>,
    /// The subscriber's readers.
    members: Mutex<Vec<(Guid, Weak<dyn GroupMember>)>>,
}

#[derive(Default)]
struct GateState {
    depth: u32,
    deferred: Vec<Deferred>,
}

impl std::fmt::Debug for AccessGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("AccessGate").field("depth", &s.depth).field("deferred", &s.deferred.len()).finish()
    }
}

impl AccessGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a reader of the subscriber.
    pub(crate) fn add_member(&self, reader: Guid, member: Weak<dyn GroupMember>) {
        let mut m = self.members.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|(_, w)| w.strong_count() > 0);
        m.push((reader, member));
    }

    /// The readers of the subscriber with unread samples, one entry per sample, in the order the samples
    /// were written (DDS `get_datareaders` with ordered access of GROUP scope): samples of one Publisher
    /// by group sequence number, others in the order they arrived.
    pub(crate) fn reader_order(&self) -> Vec<Guid> {
        let members: Vec<(Guid, std::sync::Arc<dyn GroupMember>)> = {
            let m = self.members.lock().unwrap_or_else(|e| e.into_inner());
            m.iter().filter_map(|(g, w)| w.upgrade().map(|a| (*g, a))).collect()
        };
        let mut samples = Vec::new();
        for (reader, m) in members {
            samples.extend(m.unread_order().into_iter().map(|(w, seq, t)| (reader, w.prefix, seq, t)));
        }
        order_by_group(samples)
    }

    /// Keeps `f` for the end of the access if one is in progress; otherwise hands it back to run now.
    pub(crate) fn defer(&self, f: Deferred) -> Option<Deferred> {
        let mut s = self.lock();
        if s.depth == 0 {
            return Some(f);
        }
        s.deferred.push(f);
        None
    }

    /// Enters a (possibly nested) access.
    pub(crate) fn begin(&self) {
        self.lock().depth += 1;
    }

    /// Leaves an access; the outermost end applies what arrived meanwhile, in arrival order. `Err` when no
    /// access is in progress.
    pub(crate) fn end(&self) -> Result<(), ()> {
        let deferred = {
            let mut s = self.lock();
            if s.depth == 0 {
                return Err(());
            }
            s.depth -= 1;
            if s.depth > 0 {
                return Ok(());
            }
            std::mem::take(&mut s.deferred)
        };
        for f in deferred {
            f();
        }
        Ok(())
    }
}

/// Orders samples `(reader, writer's participant, group sequence number, reception time)` as written: by
/// reception time, except that the samples carrying group sequence numbers of one participant's publisher
/// take the places its samples hold in that order sorted by group sequence number (a reader's samples of
/// several writers may arrive in another order than written). Returns the reader of each sample.
///
/// Writers are told apart by participant: two publishers of one participant share a sequence-number space
/// here, which orders each publisher's samples correctly but interleaves the two by number.
pub(crate) fn order_by_group(mut samples: Vec<(Guid, GuidPrefix, Option<i64>, Time)>) -> Vec<Guid> {
    samples.sort_by_key(|s| s.3);
    let mut by_pub: std::collections::HashMap<GuidPrefix, Vec<usize>> = std::collections::HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        if s.2.is_some() {
            by_pub.entry(s.1).or_default().push(i);
        }
    }
    let mut out: Vec<Guid> = samples.iter().map(|s| s.0).collect();
    for slots in by_pub.values() {
        let mut sorted: Vec<(i64, Guid)> = slots.iter().map(|i| (samples[*i].2.unwrap_or(0), samples[*i].0)).collect();
        sorted.sort_by_key(|s| s.0);
        for (slot, (_, reader)) in slots.iter().zip(sorted) {
            out[*slot] = reader;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn gate_defers_until_the_outermost_end() {
        let gate = AccessGate::default();
        let n = Arc::new(AtomicU32::new(0));
        let bump = |n: &Arc<AtomicU32>| -> Deferred {
            let n = n.clone();
            Box::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
            })
        };
        if let Some(f) = gate.defer(bump(&n)) {
            f();
        }
        assert_eq!(n.load(Ordering::SeqCst), 1, "no access: runs at once");
        gate.begin();
        gate.begin();
        assert!(gate.defer(bump(&n)).is_none());
        assert_eq!(gate.end(), Ok(()));
        assert_eq!(n.load(Ordering::SeqCst), 1, "still inside the outer access");
        assert_eq!(gate.end(), Ok(()));
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert_eq!(gate.end(), Err(()));
    }

    #[test]
    fn group_order_follows_group_sequence_numbers_within_a_publisher() {
        let r = |n: u8| Guid::new(GuidPrefix([9; 12]), starling_proto::wire::types::EntityId([0, 0, n, 7]));
        let (pa, pb) = (GuidPrefix([1; 12]), GuidPrefix([2; 12]));
        let t = |n: u32| Time::from_nanos(u64::from(n) * 1000);
        // Reader 1 got gsn 2 and 3 before reader 2 got gsn 1; a sample of another publisher came between.
        let samples = vec![
            (r(1), pa, Some(2), t(1)),
            (r(3), pb, None, t(2)),
            (r(1), pa, Some(3), t(3)),
            (r(2), pa, Some(1), t(4)),
        ];
        assert_eq!(order_by_group(samples), vec![r(2), r(3), r(1), r(1)]);
    }

    #[test]
    fn publisher_sets_nest() {
        let p = PublisherSets::default();
        let g = Guid::UNKNOWN;
        assert!(!p.add_writer(g));
        assert_eq!(p.begin(), Some(vec![g]));
        assert_eq!(p.begin(), None);
        assert_eq!(p.end(), Ok(None));
        assert_eq!(p.end(), Ok(Some(vec![g])));
        assert_eq!(p.end(), Err(()));
    }
}
