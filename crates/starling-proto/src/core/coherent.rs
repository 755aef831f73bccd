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
use crate::wire::types::{EntityId, KeyHash, SequenceNumber};
use std::collections::BTreeSet;

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

/// Irrelevant sequence numbers an [`Assembler`] remembers at most.
const MAX_IRRELEVANT: usize = 4096;

/// A set being received.
#[derive(Debug)]
struct OpenSet {
    id: i64,
    samples: Vec<ReceivedSample>,
    /// A change of the set is known to be missing: the set is dropped when it ends.
    incomplete: bool,
    /// The group coherent set (GROUP access scope) this writer's set is a part of.
    group_set: Option<i64>,
}

/// One writer's part of a group coherent set as one reader received it, handed to the subscriber-wide
/// [`GroupSets`] when the writer's part ended.
#[derive(Debug)]
pub(crate) struct GroupPart {
    /// The writer.
    pub writer: crate::wire::types::Guid,
    /// The group coherent set (group sequence number of its first change).
    pub set: i64,
    /// False when a change of the part is known to be missing.
    pub complete: bool,
    /// The part's samples, in the writer's order.
    pub samples: Vec<ReceivedSample>,
    /// From the part's end marker: the writers of the set and their change counts (`None` without one).
    pub writers: Option<Vec<(EntityId, u32)>>,
}

/// Reassembles one writer's coherent sets for a reader with coherent access.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// The last sequence number seen from the writer.
    last_sn: Option<i64>,
    open: Option<OpenSet>,
    /// Sets dropped for being incomplete.
    pub dropped_sets: u64,
    /// GROUP access scope: parts of group coherent sets go to `parts` instead of being delivered.
    pub group: bool,
    /// Ended parts of group coherent sets, for the subscriber to collect.
    pub parts: Vec<GroupPart>,
    /// The reader has a content filter that the writer applies: sequence numbers the writer declared
    /// irrelevant (GAP) are changes filtered out for this reader, not missing ones.
    pub filtered: bool,
    /// Sequence numbers declared irrelevant by a GAP and not yet passed (with `filtered`).
    irrelevant: BTreeSet<i64>,
}

impl Assembler {
    /// An assembler for a reader with GROUP scope (`group`) and/or a content filter (`filtered`).
    pub fn new(group: bool, filtered: bool) -> Self {
        Assembler { group, filtered, ..Assembler::default() }
    }

    /// Takes the writer's next change (in sequence-number order); appends to `out` what can be delivered:
    /// changes outside any set at once, a set's changes together once the set ended complete.
    pub fn push(&mut self, s: ReceivedSample, out: &mut Vec<ReceivedSample>) {
        let sn = s.sequence_number.0;
        if self.last_sn.is_some_and(|last| sn <= last) {
            return; // Duplicate or stale: the proxy delivers in order, so this is not new.
        }
        // Changes skipped before this one were lost or declared irrelevant: an open set misses some of them,
        // unless the writer filtered them out for this reader (a content-filtered reader's GAPs). Before the
        // first change, the skipped ones are those the reader joined too late for.
        let last = self.last_sn.unwrap_or(0);
        let continuous = sn == last + 1 || (self.filtered && (last + 1..sn).all(|x| self.irrelevant.contains(&x)));
        if !continuous {
            if let Some(o) = &mut self.open {
                o.incomplete = true;
            }
        }
        let set = s.coherent_set.map(|c| c.0).filter(|c| *c >= 1 && *c <= sn);
        // The set's changes before this one (if it is not its first) were all filtered out for this reader.
        let head_filtered = set.is_some_and(|id| self.filtered && continuous && last < id);
        if !self.irrelevant.is_empty() {
            self.irrelevant = self.irrelevant.split_off(&(sn + 1));
        }
        self.last_sn = Some(sn);
        let group_set = if self.group { s.group.as_ref().and_then(|g| g.set).map(|g| g.0) } else { None };
        if is_end_marker(&s) {
            let writers = s.group.as_ref().map(|g| g.writers.clone()).filter(|w| !w.is_empty());
            match (group_set, &self.open) {
                // The end of a group set part whose changes this reader all had filtered out (or that had
                // none for it): an empty part, complete unless something before it was lost.
                (Some(g), open) if open.as_ref().is_none_or(|o| o.group_set != Some(g)) => {
                    self.close(out, None);
                    self.parts.push(GroupPart {
                        writer: s.writer,
                        set: g,
                        complete: continuous,
                        samples: Vec::new(),
                        writers,
                    });
                }
                _ => self.close(out, writers),
            }
            return;
        }
        match set {
            Some(id) if self.open.as_ref().is_some_and(|o| o.id == id) => {
                if let Some(o) = &mut self.open {
                    o.samples.push(s);
                }
            }
            Some(id) => {
                self.close(out, None);
                // The set began at `id`: unless this change is its first, its earlier changes were not seen
                // (they would have opened a set with this id) or were filtered out for this reader.
                let incomplete = id != sn && !head_filtered;
                self.open = Some(OpenSet { id, samples: vec![s], incomplete, group_set });
            }
            None => {
                self.close(out, None);
                out.push(s);
            }
        }
    }

    /// Takes note that the writer declared `sns` irrelevant (a GAP), for a reader with a content filter.
    pub fn note_irrelevant(&mut self, sns: impl Iterator<Item = i64>) {
        if !self.filtered {
            return;
        }
        let floor = self.last_sn.unwrap_or(0);
        for sn in sns.filter(|sn| *sn > floor).take(MAX_IRRELEVANT) {
            if self.irrelevant.len() >= MAX_IRRELEVANT {
                break;
            }
            self.irrelevant.insert(sn);
        }
    }

    /// Ends the open set, delivering it if complete (or handing it to the subscriber as a group set part).
    fn close(&mut self, out: &mut Vec<ReceivedSample>, writers: Option<Vec<(EntityId, u32)>>) {
        if let Some(o) = self.open.take() {
            if let Some(g) = o.group_set {
                self.parts.push(GroupPart {
                    writer: o.samples.first().map_or(crate::wire::types::Guid::UNKNOWN, |s| s.writer),
                    set: g,
                    complete: !o.incomplete,
                    samples: o.samples,
                    writers,
                });
                return;
            }
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

/// Identifies a group coherent set at one local Subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupKey {
    /// The local Subscriber (group entity; `EntityId::UNKNOWN` for readers created without one).
    pub subscriber: EntityId,
    /// The remote (or local) Publisher.
    pub publisher: crate::wire::types::Guid,
    /// The set: group sequence number of its first change.
    pub set: i64,
}

/// A group coherent set whose parts are being collected.
#[derive(Debug, Default)]
struct PendingGroup {
    /// Parts received so far, with the local reader each came through.
    parts: Vec<(EntityId, GroupPart)>,
    /// The set's writers and change counts, from the first part with an end marker.
    writers: Option<Vec<(EntityId, u32)>>,
    /// A part is known to be missing for good.
    failed: bool,
}

/// What became of a group coherent set.
#[derive(Debug)]
pub(crate) enum GroupOutcome {
    /// Complete: each reader's samples, in the Publisher's order (by group sequence number).
    Deliver(Vec<(EntityId, Vec<ReceivedSample>)>),
    /// Incomplete in some reader: dropped whole.
    Dropped,
}

/// Sets collected at most per subscriber while waiting for their parts; older ones are dropped.
const MAX_PENDING_GROUPS: usize = 256;
/// Complete sets that may wait behind an incomplete earlier one of the same publisher.
const MAX_WAITING_BEHIND: usize = 16;
/// Finished sets remembered (so that late parts of them are ignored).
const MAX_FINISHED_GROUPS: usize = 4096;

/// Collects, per local Subscriber, the parts of group coherent sets (GROUP access scope) that its readers
/// received from the writers of a Publisher, and decides when a set is complete across all of them: every
/// writer named in the set's end markers, for every reader of the subscriber matched with that writer, has
/// delivered its part, and no part misses a change. A set is then delivered to all readers together, or
/// dropped whole when any part is incomplete.
#[derive(Debug, Default)]
pub(crate) struct GroupSets {
    pending: std::collections::BTreeMap<GroupKey, PendingGroup>,
    finished: BTreeSet<GroupKey>,
    /// Group sets dropped whole for being incomplete.
    pub dropped: u64,
}

impl GroupSets {
    /// True while no set is being collected.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a part that `reader` received.
    pub fn add(&mut self, key: GroupKey, reader: EntityId, part: GroupPart) {
        if self.finished.contains(&key) {
            return; // A late part of a set already delivered or dropped (a duplicate path).
        }
        // Parts of one writer reach a reader in order: this writer's part of any earlier set that names it
        // and has none from it through this reader will never come.
        for (k, p) in self.pending.range_mut(..key) {
            if k.subscriber == key.subscriber
                && k.publisher == key.publisher
                && p.writers.as_ref().is_some_and(|w| w.iter().any(|(e, _)| *e == part.writer.entity_id))
                && !p.parts.iter().any(|(r, q)| *r == reader && q.writer == part.writer)
            {
                p.failed = true;
            }
        }
        let p = self.pending.entry(key).or_default();
        if p.writers.is_none() {
            p.writers.clone_from(&part.writers);
        }
        if !part.complete {
            p.failed = true;
        }
        p.parts.push((reader, part));
        while self.pending.len() > MAX_PENDING_GROUPS {
            if let Some((k, _)) = self.pending.pop_first() {
                self.finish(k);
                self.dropped += 1;
            }
        }
    }

    /// Decides the sets that can be decided. `needed(key, writer)` lists the local readers of the key's
    /// subscriber matched with `writer` (of the key's publisher), whose parts the set needs.
    pub fn resolve(&mut self, needed: impl Fn(&GroupKey, EntityId) -> Vec<EntityId>) -> Vec<(GroupKey, GroupOutcome)> {
        // Sets of one publisher are delivered in the publisher's order: a complete set waits behind an
        // earlier one still being collected, unless too many pile up behind it (then the earlier one, which
        // lost a whole part on the way, is dropped).
        let mut decided = Vec::new();
        let mut blocked: Option<(EntityId, crate::wire::types::Guid, GroupKey, usize)> = None;
        let mut give_up = Vec::new();
        for (k, p) in &self.pending {
            if blocked.is_some_and(|b| b.0 != k.subscriber || b.1 != k.publisher) {
                blocked = None;
            }
            if p.failed {
                decided.push(*k);
                continue;
            }
            let complete = match &p.writers {
                // Parts without a writer list (a peer that does not send one): each is delivered as it is.
                None => true,
                Some(ws) => ws.iter().all(|(w, _)| {
                    needed(k, *w)
                        .into_iter()
                        .all(|r| p.parts.iter().any(|(pr, q)| *pr == r && q.writer.entity_id == *w))
                }),
            };
            match (&mut blocked, complete) {
                (None, true) => decided.push(*k),
                (None, false) => blocked = Some((k.subscriber, k.publisher, *k, 0)),
                (Some(b), true) => {
                    b.3 += 1;
                    if b.3 == MAX_WAITING_BEHIND {
                        give_up.push(b.2);
                    }
                }
                (Some(_), false) => {}
            }
        }
        if !give_up.is_empty() {
            for k in give_up {
                if let Some(p) = self.pending.get_mut(&k) {
                    p.failed = true;
                }
            }
            return self.resolve(needed);
        }
        let mut out = Vec::new();
        for k in decided {
            let Some(p) = self.pending.remove(&k) else { continue };
            self.finish(k);
            if p.failed {
                self.dropped += 1;
                tracing::debug!(set = k.set, publisher = %k.publisher, "dropped an incomplete group coherent set");
                out.push((k, GroupOutcome::Dropped));
                continue;
            }
            let mut per_reader: Vec<(EntityId, Vec<ReceivedSample>)> = Vec::new();
            for (r, part) in p.parts {
                match per_reader.iter_mut().find(|(pr, _)| *pr == r) {
                    Some((_, v)) => v.extend(part.samples),
                    None => per_reader.push((r, part.samples)),
                }
            }
            for (_, v) in &mut per_reader {
                v.sort_by_key(|s| s.group.as_ref().and_then(|g| g.seq).map_or(i64::MAX, |q| q.0));
            }
            per_reader.retain(|(_, v)| !v.is_empty());
            out.push((k, GroupOutcome::Deliver(per_reader)));
        }
        out
    }

    fn finish(&mut self, k: GroupKey) {
        self.finished.insert(k);
        while self.finished.len() > MAX_FINISHED_GROUPS {
            self.finished.pop_first();
        }
    }
}

/// Writes the Starling group-set writer list (PID 0x8063): `uint32 n`, then `n × (EntityId_t, uint32)`.
pub(crate) fn write_group_writers(w: &mut crate::wire::cursor::ByteWriter<'_>, writers: &[(EntityId, u32)]) {
    w.u32(u32::try_from(writers.len()).unwrap_or(u32::MAX));
    for (e, n) in writers {
        e.write(w);
        w.u32(*n);
    }
}

/// Reads the Starling group-set writer list (PID 0x8063); empty when malformed.
pub(crate) fn parse_group_writers(v: &[u8], endian: crate::wire::Endian) -> Vec<(EntityId, u32)> {
    let mut r = crate::wire::cursor::ByteReader::new(v, endian);
    let Ok(n) = r.u32() else { return Vec::new() };
    // Each entry takes 8 bytes: a count beyond what the value holds is malformed.
    if n as usize > r.remaining() / 8 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        match (EntityId::read(&mut r), r.u32()) {
            (Ok(e), Ok(c)) => out.push((e, c)),
            _ => return Vec::new(),
        }
    }
    out
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
            group: None,
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
    fn group_writer_list_round_trips_and_rejects_bad_counts() {
        let list = vec![(EntityId([0, 0, 1, 2]), 3), (EntityId([0, 0, 2, 2]), 1)];
        for e in [crate::wire::Endian::Little, crate::wire::Endian::Big] {
            let mut buf = Vec::new();
            write_group_writers(&mut crate::wire::cursor::ByteWriter::new(&mut buf, e), &list);
            assert_eq!(parse_group_writers(&buf, e), list);
            // A count larger than the value holds is malformed: nothing is taken from it.
            buf[..4].copy_from_slice(&if e == crate::wire::Endian::Little {
                9u32.to_le_bytes()
            } else {
                9u32.to_be_bytes()
            });
            assert!(parse_group_writers(&buf, e).is_empty());
        }
    }

    fn part(writer: u8, set: i64, complete: bool, writers: &[u8]) -> GroupPart {
        let w = Guid::new(crate::wire::types::GuidPrefix([7; 12]), EntityId([0, 0, writer, 2]));
        GroupPart {
            writer: w,
            set,
            complete,
            samples: vec![ReceivedSample { writer: w, ..sample(set, Some(set)) }],
            writers: (!writers.is_empty()).then(|| writers.iter().map(|e| (EntityId([0, 0, *e, 2]), 1)).collect()),
        }
    }

    fn key(set: i64) -> GroupKey {
        GroupKey { subscriber: EntityId([0, 0, 9, 9]), publisher: Guid::UNKNOWN, set }
    }

    #[test]
    fn group_set_waits_for_every_readers_part_then_delivers_all() {
        let (r1, r2) = (EntityId([0, 0, 1, 7]), EntityId([0, 0, 2, 7]));
        // Writer 1 is read by r1, writer 2 by r2.
        let needed = |_: &GroupKey, w: EntityId| if w.0[2] == 1 { vec![r1] } else { vec![r2] };
        let mut g = GroupSets::default();
        g.add(key(1), r1, part(1, 1, true, &[1, 2]));
        assert!(g.resolve(needed).is_empty(), "the part of writer 2 is missing");
        g.add(key(1), r2, part(2, 1, true, &[1, 2]));
        let out = g.resolve(needed);
        assert!(matches!(&out[..], [(_, GroupOutcome::Deliver(parts))] if parts.len() == 2));
        assert!(g.is_idle());
        // A late duplicate of a finished set is ignored.
        g.add(key(1), r2, part(2, 1, true, &[1, 2]));
        assert!(g.is_idle());
    }

    #[test]
    fn an_incomplete_part_drops_the_group_set_whole() {
        let (r1, r2) = (EntityId([0, 0, 1, 7]), EntityId([0, 0, 2, 7]));
        let needed = |_: &GroupKey, w: EntityId| if w.0[2] == 1 { vec![r1] } else { vec![r2] };
        let mut g = GroupSets::default();
        g.add(key(1), r1, part(1, 1, true, &[1, 2]));
        g.add(key(1), r2, part(2, 1, false, &[]));
        assert!(matches!(&g.resolve(needed)[..], [(_, GroupOutcome::Dropped)]));
        assert_eq!(g.dropped, 1);
    }

    #[test]
    fn a_later_part_of_a_writer_gives_up_on_its_missing_earlier_part() {
        let (r1, r2) = (EntityId([0, 0, 1, 7]), EntityId([0, 0, 2, 7]));
        let needed = |_: &GroupKey, w: EntityId| if w.0[2] == 1 { vec![r1] } else { vec![r2] };
        let mut g = GroupSets::default();
        g.add(key(1), r1, part(1, 1, true, &[1, 2]));
        // Writer 2's part of set 1 was lost whole; its part of set 3 arrives.
        g.add(key(3), r2, part(2, 3, true, &[2]));
        let out = g.resolve(needed);
        assert!(
            matches!(&out[..], [(k1, GroupOutcome::Dropped), (k3, GroupOutcome::Deliver(_))] if k1.set == 1 && k3.set == 3)
        );
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
