//! Stateful readers (RTPS §8.4.10): one proxy per matched writer, in-order
//! delivery, GAP and HEARTBEAT processing, ACKNACKs, fragment reassembly.
//!
//! Reliable proxies deliver every sample exactly once and in order; best-effort
//! proxies deliver only samples newer than the last one delivered, so nothing
//! is delivered twice or out of order.

use super::coherent::{is_end_marker, Assembler, GroupPart};
use super::event::ReceivedSample;
use super::outbox::Outbox;
use super::FastHashMap;
use crate::wire::submessage::{AckNack, DataFrag, Gap, Heartbeat, HeartbeatFrag, NackFrag};
use crate::wire::types::{EntityId, FragmentNumberSet, Guid, Locator, SequenceNumber, SequenceNumberSet, MAX_SET_BITS};
use std::collections::BTreeMap;

/// Out-of-order samples a proxy buffers before it drops newer ones.
const MAX_PENDING: usize = 65_536;

/// Limits on fragment reassembly, passed in by the participant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragLimits {
    /// Largest sample accepted.
    pub max_sample_size: usize,
    /// Bytes still available to new reassemblies across the participant.
    pub budget: usize,
    /// Samples being reassembled at once per writer.
    pub per_writer: usize,
}

/// A partially received fragmented sample.
#[derive(Debug)]
struct Reassembly {
    data: Vec<u8>,
    fragment_size: usize,
    total: u32,
    have: Vec<u64>,
    received: u32,
    template: Option<ReceivedSample>,
}

impl Reassembly {
    fn has(&self, n: u32) -> bool {
        let i = (n - 1) as usize;
        self.have[i / 64] & (1 << (i % 64)) != 0
    }

    /// The fragments still missing, from the first missing one (at most 256).
    fn missing(&self) -> FragmentNumberSet {
        let first = (1..=self.total).find(|n| !self.has(*n)).unwrap_or(self.total.saturating_add(1));
        let mut set = FragmentNumberSet::new(first);
        let end = self.total.min(first.saturating_add(MAX_SET_BITS - 1));
        for n in first..=end {
            if !self.has(n) {
                set.insert(n);
            }
        }
        set
    }
}

/// What a reader knows about one matched writer.
#[derive(Debug)]
pub(crate) struct WriterProxy {
    pub guid: Guid,
    pub locators: Vec<Locator>,
    pub reliable: bool,
    /// Reliable: the next sequence number to deliver.
    next: i64,
    /// Best-effort: the last sequence number delivered.
    last_delivered: i64,
    pending: BTreeMap<i64, Option<ReceivedSample>>,
    /// Highest sequence number the writer said it has.
    available: i64,
    last_hb_count: Option<u32>,
    acknack_count: u32,
    nackfrag_count: u32,
    /// An ACKNACK is owed (answering a HEARTBEAT after the heartbeat response delay); `Some(final)`.
    ack_owed: Option<bool>,
    reassembly: FastHashMap<i64, Reassembly>,
    /// Bytes held by `reassembly`.
    reassembly_bytes: usize,
}

impl WriterProxy {
    pub fn new(guid: Guid, locators: Vec<Locator>, reliable: bool) -> Self {
        WriterProxy {
            guid,
            locators,
            reliable,
            next: 1,
            last_delivered: 0,
            pending: BTreeMap::new(),
            available: 0,
            last_hb_count: None,
            acknack_count: 0,
            nackfrag_count: 0,
            ack_owed: None,
            reassembly: FastHashMap::default(),
            reassembly_bytes: 0,
        }
    }

    fn drain(&mut self, deliver: &mut Vec<ReceivedSample>) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() < self.next {
                entry.remove();
                continue;
            }
            if *entry.key() != self.next {
                break;
            }
            if let Some(s) = entry.remove() {
                deliver.push(s);
            }
            self.next = self.next.saturating_add(1);
        }
    }

    fn skip_to(&mut self, sn: i64, deliver: &mut Vec<ReceivedSample>) {
        if sn > self.next {
            self.next = sn;
            let stale: Vec<i64> = self.reassembly.keys().filter(|k| **k < sn).copied().collect();
            for k in stale {
                self.drop_reassembly(k);
            }
        }
        self.drain(deliver);
    }

    fn drop_reassembly(&mut self, sn: i64) -> Option<Reassembly> {
        let r = self.reassembly.remove(&sn)?;
        self.reassembly_bytes -= r.data.len();
        Some(r)
    }

    /// A complete sample arrived.
    fn on_sample(&mut self, sample: ReceivedSample, deliver: &mut Vec<ReceivedSample>) {
        let sn = sample.sequence_number.0;
        self.drop_reassembly(sn);
        if sn == i64::MAX {
            // No writer gets there (2^63 samples), and nothing could follow it: the sample is forged. Refusing
            // it keeps `next` (one past the last delivered) representable.
            return;
        }
        if !self.reliable {
            if sn > self.last_delivered {
                self.last_delivered = sn;
                deliver.push(sample);
            }
            return;
        }
        if sn < self.next {
            return;
        }
        if sn == self.next {
            deliver.push(sample);
            self.next = self.next.saturating_add(1);
            self.drain(deliver);
        } else if self.pending.len() < MAX_PENDING || self.pending.contains_key(&sn) {
            self.pending.insert(sn, Some(sample));
        }
    }

    /// Sequence numbers to request: not received, not known irrelevant, and not
    /// partially received (those are requested fragment by fragment).
    fn missing(&self) -> SequenceNumberSet {
        let mut set = SequenceNumberSet::new(SequenceNumber(self.next));
        // Saturating, and an inclusive range, so that sequence numbers near i64::MAX neither overflow nor wrap
        // into an endless loop.
        let end = self.available.min(self.next.saturating_add(MAX_SET_BITS as i64 - 1));
        for sn in self.next..=end {
            if !self.pending.contains_key(&sn) && !self.reassembly.contains_key(&sn) {
                set.insert(SequenceNumber(sn));
            }
        }
        set
    }
}

/// A stateful RTPS reader.
#[derive(Debug)]
pub(crate) struct Reader {
    pub guid: Guid,
    pub writers: FastHashMap<Guid, WriterProxy>,
    /// How long to wait before answering a HEARTBEAT (zero: at once). Answers owed to several writers, and
    /// several HEARTBEATs from one writer, then go out as one ACKNACK each.
    heartbeat_response_delay: std::time::Duration,
    /// When owed ACKNACKs are due.
    ack_due: Option<std::time::Instant>,
    /// PRESENTATION coherent_access: each matched writer's coherent sets are reassembled and delivered whole.
    coherent: Option<FastHashMap<Guid, Assembler>>,
    /// Coherent sets dropped for being incomplete.
    incomplete_sets: u64,
    /// The local Subscriber (group) this reader belongs to, if any.
    pub group: Option<EntityId>,
    /// PRESENTATION coherent access with GROUP scope: group coherent set parts go to `group_parts`.
    group_scope: bool,
    /// The reader has a content filter that writers apply for it (GAPs are filtered changes).
    filtered: bool,
    /// Ended parts of group coherent sets, for the participant to collect across the subscriber's readers.
    group_parts: Vec<GroupPart>,
}

/// Runs `f` on the proxy for `writer`, if matched.
fn with_proxy<R>(
    writers: &mut FastHashMap<Guid, WriterProxy>,
    writer: &Guid,
    f: impl FnOnce(&mut WriterProxy) -> R,
) -> Option<R> {
    writers.get_mut(writer).map(f)
}

impl Reader {
    pub fn new(guid: Guid, heartbeat_response_delay: std::time::Duration) -> Self {
        Reader {
            guid,
            writers: FastHashMap::default(),
            heartbeat_response_delay,
            ack_due: None,
            coherent: None,
            incomplete_sets: 0,
            group: None,
            group_scope: false,
            filtered: false,
            group_parts: Vec::new(),
        }
    }

    /// Turns coherent access on: samples of a writer's coherent set are delivered only once the whole set
    /// arrived, and never when part of it is missing.
    ///
    /// With `group_scope` (GROUP access scope), the parts of group coherent sets are handed over through
    /// [`Reader::take_group_parts`] for the subscriber to deliver across its readers. With `filtered` (the
    /// reader has a content filter that writers apply), changes a writer declares irrelevant with a GAP are
    /// taken as filtered out, and the set they were in is still complete.
    pub fn set_coherent_access(&mut self, on: bool, group_scope: bool, filtered: bool) {
        self.coherent = on.then(FastHashMap::default);
        self.group_scope = on && group_scope;
        self.filtered = filtered;
    }

    /// Ended parts of group coherent sets since the last call.
    pub fn take_group_parts(&mut self) -> Vec<GroupPart> {
        std::mem::take(&mut self.group_parts)
    }

    /// True when parts of group coherent sets wait in [`Reader::take_group_parts`].
    pub fn has_group_parts(&self) -> bool {
        !self.group_parts.is_empty()
    }

    /// True with coherent access of GROUP scope.
    pub fn is_group_coherent(&self) -> bool {
        self.group_scope
    }

    /// True with coherent access.
    pub fn is_coherent(&self) -> bool {
        self.coherent.is_some()
    }

    /// Coherent sets dropped for being incomplete.
    pub fn incomplete_sets(&self) -> u64 {
        self.incomplete_sets
    }

    /// Passes the samples `writer` delivered from `deliver[start..]` through presentation: end markers are
    /// removed, and with coherent access, sets are held back until complete. Also takes the samples a local
    /// writer hands over directly.
    pub fn present(&mut self, writer: &Guid, deliver: &mut Vec<ReceivedSample>, start: usize) {
        if start >= deliver.len() {
            return;
        }
        let Some(sets) = &mut self.coherent else {
            // The common path: nothing to hold back, and usually no end marker to remove (no allocation).
            if deliver[start..].iter().any(is_end_marker) {
                let mut i = start;
                while i < deliver.len() {
                    if is_end_marker(&deliver[i]) {
                        deliver.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            return;
        };
        let fresh: Vec<ReceivedSample> = deliver.drain(start..).collect();
        let (group, filtered) = (self.group_scope, self.filtered);
        let a = sets.entry(*writer).or_insert_with(|| Assembler::new(group, filtered));
        let before = a.dropped_sets;
        for s in fresh {
            a.push(s, deliver);
        }
        self.incomplete_sets += a.dropped_sets - before;
        if !a.parts.is_empty() {
            self.group_parts.append(&mut a.parts);
        }
    }

    /// When `on_timer` has owed ACKNACKs to send.
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        self.ack_due
    }

    /// Sends the ACKNACKs owed once the heartbeat response delay has passed.
    pub fn on_timer(&mut self, now: std::time::Instant, out: &mut Outbox) {
        if self.ack_due.is_none_or(|t| t > now) {
            return;
        }
        self.ack_due = None;
        let me = self.guid;
        for p in self.writers.values_mut() {
            if let Some(final_flag) = p.ack_owed.take() {
                // What is missing may have changed since the HEARTBEAT: ask for what is missing now.
                let all_received = p.missing().num_bits == 0 && p.next > p.available;
                Self::send_acknack(me, p, final_flag && all_received, out);
            }
        }
    }

    /// Bytes held by partially reassembled samples of all matched writers.
    pub fn reassembly_bytes(&self) -> usize {
        self.writers.values().map(|p| p.reassembly_bytes).sum()
    }

    /// Adds a matched writer; a reliable proxy sends a pre-emptive ACKNACK so
    /// the writer answers with a HEARTBEAT.
    pub fn add_writer(&mut self, proxy: WriterProxy, out: &mut Outbox) {
        let guid = proxy.guid;
        self.writers.insert(guid, proxy);
        if let Some(p) = self.writers.get_mut(&guid) {
            if p.reliable {
                Self::send_acknack(self.guid, p, false, out);
            }
        }
    }

    /// Removes a matched writer.
    pub fn remove_writer(&mut self, guid: &Guid) -> bool {
        if let Some(sets) = &mut self.coherent {
            sets.remove(guid);
        }
        self.writers.remove(guid).is_some()
    }

    fn send_acknack(me: Guid, p: &mut WriterProxy, final_flag: bool, out: &mut Outbox) {
        p.acknack_count = p.acknack_count.wrapping_add(1);
        let ack = AckNack {
            reader_id: me.entity_id,
            writer_id: p.guid.entity_id,
            reader_sn_state: p.missing(),
            count: p.acknack_count,
            final_flag,
        };
        ack.encode(out.message(&p.locators, Some(p.guid.prefix), None, 64).buf_mut());
        let mut partial: Vec<i64> = p.reassembly.keys().filter(|sn| **sn <= p.available).copied().collect();
        partial.sort_unstable();
        for sn in partial {
            Self::send_nack_frag(me, p, sn, out);
        }
    }

    fn send_nack_frag(me: Guid, p: &mut WriterProxy, sn: i64, out: &mut Outbox) {
        let Some(r) = p.reassembly.get(&sn) else { return };
        let state = r.missing();
        if state.num_bits == 0 {
            return;
        }
        p.nackfrag_count = p.nackfrag_count.wrapping_add(1);
        let nf = NackFrag {
            reader_id: me.entity_id,
            writer_id: p.guid.entity_id,
            writer_sn: SequenceNumber(sn),
            fragment_number_state: state,
            count: p.nackfrag_count,
        };
        nf.encode(out.message(&p.locators, Some(p.guid.prefix), None, 64).buf_mut());
    }

    /// A HEARTBEAT_FRAG: request the missing fragments of a partially received sample.
    pub fn handle_heartbeat_frag(&mut self, writer: Guid, hbf: &HeartbeatFrag, out: &mut Outbox) {
        let me = self.guid;
        with_proxy(&mut self.writers, &writer, |p| {
            if p.reliable {
                p.available = p.available.max(hbf.writer_sn.0);
                Self::send_nack_frag(me, p, hbf.writer_sn.0, out);
            }
        });
    }

    /// A DATA from `writer`; delivered samples are appended to `deliver`.
    pub fn handle_data(&mut self, sample: ReceivedSample, deliver: &mut Vec<ReceivedSample>) {
        let (writer, start) = (sample.writer, deliver.len());
        if let Some(p) = self.writers.get_mut(&writer) {
            p.on_sample(sample, deliver);
        }
        self.present(&writer, deliver, start);
    }

    /// A DATA_FRAG; `template` carries everything but the payload.
    /// Returns false when the fragment was dropped for exceeding a limit.
    pub fn handle_data_frag(
        &mut self,
        df: &DataFrag<'_>,
        template: ReceivedSample,
        limits: FragLimits,
        deliver: &mut Vec<ReceivedSample>,
    ) -> bool {
        let (writer, start) = (template.writer, deliver.len());
        let accepted = self.data_frag(df, template, limits, deliver);
        self.present(&writer, deliver, start);
        accepted
    }

    fn data_frag(
        &mut self,
        df: &DataFrag<'_>,
        template: ReceivedSample,
        limits: FragLimits,
        deliver: &mut Vec<ReceivedSample>,
    ) -> bool {
        let Some(p) = self.writers.get_mut(&template.writer) else { return true };
        let sn = df.writer_sn.0;
        if (p.reliable && sn < p.next) || (!p.reliable && sn <= p.last_delivered) {
            return true;
        }
        let sample_size = df.sample_size as usize;
        let fsize = df.fragment_size as usize;
        if sample_size == 0 || sample_size > limits.max_sample_size || fsize == 0 {
            return false;
        }
        if !p.reassembly.contains_key(&sn) {
            if p.reassembly.len() >= limits.per_writer.max(1) {
                // Drop the oldest partial sample to make room.
                if let Some(oldest) = p.reassembly.keys().min().copied() {
                    p.drop_reassembly(oldest);
                }
            }
            if sample_size > limits.budget {
                return false;
            }
            p.reassembly_bytes += sample_size;
            let total = sample_size.div_ceil(fsize) as u32;
            p.reassembly.insert(
                sn,
                Reassembly {
                    data: vec![0; sample_size],
                    fragment_size: fsize,
                    total,
                    have: vec![0; (total as usize).div_ceil(64)],
                    received: 0,
                    template: None,
                },
            );
        }
        let Some(r) = p.reassembly.get_mut(&sn) else { return true };
        if r.fragment_size != fsize || r.data.len() != sample_size {
            return true;
        }
        let mut offset = 0usize;
        for i in 0..df.fragments_in_submessage as u32 {
            let n = df.fragment_starting_num.saturating_add(i);
            if n == 0 || n > r.total {
                break;
            }
            let start = (n as usize - 1) * fsize;
            let len = fsize.min(sample_size - start);
            if offset + len > df.data.len() {
                break;
            }
            if !r.has(n) {
                r.data[start..start + len].copy_from_slice(&df.data[offset..offset + len]);
                let idx = (n - 1) as usize;
                r.have[idx / 64] |= 1 << (idx % 64);
                r.received += 1;
            }
            offset += len;
        }
        if r.template.is_none() || df.fragment_starting_num == 1 {
            r.template = Some(template);
        }
        if r.received == r.total {
            if let Some(r) = p.drop_reassembly(sn) {
                if let Some(mut s) = r.template {
                    s.payload = Some(bytes::Bytes::from(r.data));
                    p.on_sample(s, deliver);
                }
            }
        }
        true
    }

    /// A GAP from `writer`: the named sequence numbers will never come.
    pub fn handle_gap(&mut self, writer: Guid, gap: &Gap, deliver: &mut Vec<ReceivedSample>) {
        let start = deliver.len();
        self.gap(writer, gap, deliver);
        self.present(&writer, deliver, start);
    }

    fn gap(&mut self, writer: Guid, gap: &Gap, deliver: &mut Vec<ReceivedSample>) {
        let Some(p) = self.writers.get_mut(&writer) else { return };
        if !p.reliable {
            return;
        }
        if self.filtered {
            if let Some(sets) = &mut self.coherent {
                let (group, filtered) = (self.group_scope, self.filtered);
                let a = sets.entry(writer).or_insert_with(|| Assembler::new(group, filtered));
                let range = gap.gap_start.0..gap.gap_list.base.0.min(gap.gap_start.0.saturating_add(4096));
                a.note_irrelevant(range.chain(gap.gap_list.iter().map(|s| s.0)));
            }
        }
        // A writer only declares irrelevant what it has announced (HEARTBEAT) or sent: a GAP reaching
        // beyond that is forged or stale, and would make the reader skip samples still to come.
        let known = p.available.max(p.next - 1).max(p.pending.last_key_value().map_or(0, |(k, _)| *k));
        let start = gap.gap_start.0;
        if start > known {
            return;
        }
        let end = gap.gap_list.base.0.min(known.saturating_add(1)); // exclusive end of the contiguous range
        if start <= p.next && end > p.next {
            p.skip_to(end, deliver);
        } else if start > p.next {
            let mut sn = start;
            while sn < end && p.pending.len() < MAX_PENDING {
                p.pending.entry(sn).or_insert(None);
                sn += 1;
            }
        }
        for sn in gap.gap_list.iter() {
            let sn = sn.0;
            if sn > known {
                break;
            }
            if sn == p.next {
                p.next = p.next.saturating_add(1);
                p.drain(deliver);
            } else if sn > p.next && p.pending.len() < MAX_PENDING {
                p.pending.entry(sn).or_insert(None);
            }
        }
        p.drain(deliver);
    }

    /// A HEARTBEAT from `writer`: skip what the writer no longer has, then
    /// acknowledge and request what is missing.
    pub fn handle_heartbeat(
        &mut self,
        now: std::time::Instant,
        writer: Guid,
        hb: &Heartbeat,
        deliver: &mut Vec<ReceivedSample>,
        out: &mut Outbox,
    ) {
        let me = self.guid;
        let Some(p) = self.writers.get_mut(&writer) else { return };
        if !p.reliable {
            return;
        }
        if let Some(prev) = p.last_hb_count {
            if hb.count <= prev && prev.wrapping_sub(hb.count) < u32::MAX / 2 {
                return;
            }
        }
        p.last_hb_count = Some(hb.count);
        let (first, last) = (hb.first_sn.0, hb.last_sn.0);
        if first < 1 || last < first - 1 {
            return;
        }
        p.available = p.available.max(last);
        if first > p.next {
            let start = deliver.len();
            p.skip_to(first, deliver);
            self.present(&writer, deliver, start);
        }
        let Some(p) = self.writers.get_mut(&writer) else { return };
        let missing = p.missing();
        let all_received = missing.num_bits == 0 && p.next > p.available;
        if !all_received || !hb.final_flag {
            if self.heartbeat_response_delay.is_zero() {
                Self::send_acknack(me, p, all_received, out);
            } else {
                p.ack_owed = Some(p.ack_owed.unwrap_or(true) && all_received);
                self.ack_due.get_or_insert(now + self.heartbeat_response_delay);
            }
        }
    }
}
