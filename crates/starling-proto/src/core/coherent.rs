//! PRESENTATION coherent sets (DDS §2.2.2.4.1.10, DDSI-RTPS §8.7.5 and §9.6.4).
//!
//! Writer side: between `begin` and `end`, every change a writer sends carries the inline QoS
//! `PID_COHERENT_SET` (0x0056) with the sequence number of the set's first change. `end` writes one more
//! change, an *end marker*: a DATA without serialized payload and without `PID_COHERENT_SET` (a change outside
//! the set), so that a reader learns that the set is over without waiting for the next sample. This is the form
//! RTI Connext 6.1 accepts: it delivers no set at all when the marker carries `PID_COHERENT_SET` =
//! SEQUENCENUMBER_UNKNOWN, and whole sets with this marker (checked with its shape_main subscriber).
//!
//! Reader side ([`Assembler`], one per matched writer of a reader with `coherent_access`): the changes of a
//! writer arrive in sequence-number order (after the reliable proxy's reordering). A set ends at the first
//! change that is not part of it: an end marker (whatever coherent-set value it carries, as RTI and jRTPS
//! send variants of it), a change of another set, or a change without `PID_COHERENT_SET`. The set is then
//! delivered whole, or dropped whole when it is incomplete: a sequence number inside it never arrived (a GAP,
//! a HEARTBEAT that skipped it, best-effort loss), or the reader joined after the set had begun.

use super::event::{ChangeKind, ReceivedSample};
use crate::wire::types::{KeyHash, SequenceNumber};

/// The key hash the writer files end markers under in its history, apart from every instance (a KEEP_LAST
/// history keeps only the newest marker); with an empty payload it marks a change as an end marker.
pub(crate) const MARKER_KEY: KeyHash = KeyHash([0xff; 16]);

/// A writer's coherent-set state.
#[derive(Debug, Default)]
pub(crate) struct WriterSets {
    /// A set is open (between begin and end).
    open: bool,
    /// The sequence number of the open set's first change (`None` until the first write).
    /// End markers are written after the set is closed, so they carry none.
    start: Option<i64>,
}

impl WriterSets {
    /// Opens a set; writes from now on belong to it. Opening an open set does nothing.
    pub fn begin(&mut self) {
        if !self.open {
            self.open = true;
            self.start = None;
        }
    }

    /// The coherent-set value of a change getting sequence number `sn` now.
    pub fn on_write(&mut self, sn: i64) -> Option<i64> {
        if !self.open {
            return None;
        }
        Some(*self.start.get_or_insert(sn))
    }

    /// Closes the set; true when it had changes, so that an end marker must follow.
    pub fn end(&mut self) -> bool {
        let had = self.open && self.start.is_some();
        self.open = false;
        self.start = None;
        had
    }
}

/// True for a coherent-set end marker: a DATA that carries neither data, nor a key, nor a lifecycle change.
pub(crate) fn is_end_marker(s: &ReceivedSample) -> bool {
    s.kind == ChangeKind::Alive && s.payload.is_none()
}

/// A set being received.
#[derive(Debug)]
struct OpenSet {
    id: i64,
    samples: Vec<ReceivedSample>,
    /// A change of the set is known to be missing: the set is dropped when it ends.
    incomplete: bool,
}

/// Reassembles one writer's coherent sets for a reader with coherent access.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// The last sequence number seen from the writer.
    last_sn: Option<i64>,
    open: Option<OpenSet>,
    /// Sets dropped for being incomplete.
    pub dropped_sets: u64,
}

impl Assembler {
    /// Takes the writer's next change (in sequence-number order); appends to `out` what can be delivered:
    /// changes outside any set at once, a set's changes together once the set ended complete.
    pub fn push(&mut self, s: ReceivedSample, out: &mut Vec<ReceivedSample>) {
        let sn = s.sequence_number.0;
        if let Some(last) = self.last_sn {
            if sn <= last {
                return; // Duplicate or stale: the proxy delivers in order, so this is not new.
            }
            if sn > last + 1 {
                // Changes between were lost or declared irrelevant: an open set misses some of them.
                if let Some(o) = &mut self.open {
                    o.incomplete = true;
                }
            }
        }
        self.last_sn = Some(sn);
        let set = s.coherent_set.map(|c| c.0).filter(|c| *c >= 1 && *c <= sn);
        if is_end_marker(&s) {
            self.close(out);
            return;
        }
        match set {
            Some(id) if self.open.as_ref().is_some_and(|o| o.id == id) => {
                if let Some(o) = &mut self.open {
                    o.samples.push(s);
                }
            }
            Some(id) => {
                self.close(out);
                // The set began at `id`: unless this change is its first, its earlier changes were not seen
                // (they would have opened a set with this id).
                let incomplete = id != sn;
                self.open = Some(OpenSet { id, samples: vec![s], incomplete });
            }
            None => {
                self.close(out);
                out.push(s);
            }
        }
    }

    /// Ends the open set, delivering it if complete.
    fn close(&mut self, out: &mut Vec<ReceivedSample>) {
        if let Some(o) = self.open.take() {
            if o.incomplete {
                self.dropped_sets += 1;
                tracing::debug!(set = o.id, samples = o.samples.len(), "dropped an incomplete coherent set");
            } else {
                out.extend(o.samples);
            }
        }
    }

    /// Changes held back in a set not yet ended.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.samples.len())
    }
}

/// The coherent-set value of a change as received, for [`ReceivedSample::coherent_set`].
pub(crate) fn parse_coherent_set(v: &[u8], endian: crate::wire::Endian) -> Option<SequenceNumber> {
    SequenceNumber::read(&mut crate::wire::cursor::ByteReader::new(v, endian)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::types::Guid;
    use bytes::Bytes;

    fn sample(sn: i64, set: Option<i64>) -> ReceivedSample {
        ReceivedSample {
            writer: Guid::UNKNOWN,
            sequence_number: SequenceNumber(sn),
            kind: ChangeKind::Alive,
            key_hash: None,
            payload: Some(Bytes::from_static(b"x")),
            payload_is_key: false,
            source_timestamp: None,
            related_sample_identity: None,
            original_writer: None,
            coherent_set: set.map(SequenceNumber),
        }
    }

    fn marker(sn: i64) -> ReceivedSample {
        ReceivedSample { payload: None, ..sample(sn, None) }
    }

    #[test]
    fn marker_variants_all_end_a_set() {
        // Ours carries no PID_COHERENT_SET; others may carry the set's number or SEQUENCENUMBER_UNKNOWN.
        for set in [None, Some(1), Some(SequenceNumber::UNKNOWN.0)] {
            let mut a = Assembler::default();
            let mut out = Vec::new();
            a.push(sample(1, Some(1)), &mut out);
            a.push(sample(2, Some(1)), &mut out);
            a.push(ReceivedSample { payload: None, ..sample(3, set) }, &mut out);
            assert_eq!(sns(&out), [1, 2], "marker with {set:?}");
        }
    }

    fn sns(v: &[ReceivedSample]) -> Vec<i64> {
        v.iter().map(|s| s.sequence_number.0).collect()
    }

    #[test]
    fn set_is_held_until_its_end_marker() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        a.push(sample(1, None), &mut out);
        a.push(sample(2, Some(2)), &mut out);
        a.push(sample(3, Some(2)), &mut out);
        assert_eq!(sns(&out), [1]);
        assert_eq!(a.pending(), 2);
        a.push(marker(4), &mut out);
        assert_eq!(sns(&out), [1, 2, 3]);
        a.push(sample(5, None), &mut out);
        assert_eq!(sns(&out), [1, 2, 3, 5]);
    }

    #[test]
    fn next_set_or_plain_sample_ends_a_set() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        a.push(sample(1, Some(1)), &mut out);
        a.push(sample(2, Some(1)), &mut out);
        a.push(sample(3, Some(3)), &mut out);
        assert_eq!(sns(&out), [1, 2]);
        a.push(sample(4, None), &mut out);
        assert_eq!(sns(&out), [1, 2, 3, 4]);
    }

    #[test]
    fn a_hole_drops_the_whole_set() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        a.push(sample(1, Some(1)), &mut out);
        a.push(sample(3, Some(1)), &mut out); // 2 never came
        a.push(marker(4), &mut out);
        assert!(out.is_empty());
        assert_eq!(a.dropped_sets, 1);
        a.push(sample(5, Some(5)), &mut out);
        a.push(marker(6), &mut out);
        assert_eq!(sns(&out), [5]);
    }

    #[test]
    fn a_lost_end_marker_followed_by_a_hole_drops_the_set() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        a.push(sample(1, Some(1)), &mut out);
        a.push(sample(2, Some(1)), &mut out);
        a.push(sample(4, None), &mut out); // 3 (the marker, or a change of the set) is gone
        assert_eq!(sns(&out), [4]);
        assert_eq!(a.dropped_sets, 1);
    }

    #[test]
    fn joining_in_the_middle_of_a_set_drops_it() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        a.push(sample(7, Some(5)), &mut out);
        a.push(sample(8, Some(5)), &mut out);
        a.push(marker(9), &mut out);
        assert!(out.is_empty());
        a.push(sample(10, Some(10)), &mut out);
        a.push(marker(11), &mut out);
        assert_eq!(sns(&out), [10]);
    }

    #[test]
    fn writer_side_numbers_sets_from_their_first_change() {
        let mut w = WriterSets::default();
        assert_eq!(w.on_write(1), None);
        w.begin();
        assert!(!w.end(), "an empty set needs no end marker");
        w.begin();
        assert_eq!(w.on_write(2), Some(2));
        assert_eq!(w.on_write(3), Some(2));
        assert!(w.end());
        assert_eq!(w.on_write(4), None);
    }
}
