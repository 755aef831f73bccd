//! Stateful writers (RTPS §8.4.9): history, one proxy per matched reader,
//! periodic HEARTBEATs, repair on ACKNACK/NACK_FRAG, GAP for what is gone,
//! DATA_FRAG for samples larger than one datagram.
//!
//! The same type serves user writers and the built-in SEDP writers.

use super::coherent::{WriterSets, MARKER_KEY};
use super::config::FlowLimit;
use super::event::ChangeKind;
use super::history::{CacheChange, WriterHistory};
use super::outbox::Outbox;
use super::pool::PayloadPool;
use crate::qos::{DurabilityKind, History};
use crate::wire::parameter::{pid, ParameterList, ParameterListWriter};
use crate::wire::submessage::{AckNack, Data, DataFrag, Gap, Heartbeat, HeartbeatVirtual, NackFrag};
use crate::wire::types::{EntityId, Guid, GuidPrefix, Locator, SequenceNumber, SequenceNumberSet};
use crate::wire::Endian;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of submessage overhead budgeted around a DATA payload.
const DATA_OVERHEAD: usize = 96;

/// How many times more often a writer with a full KEEP_ALL history sends periodic HEARTBEATs.
const FULL_HEARTBEAT_DIVISOR: u32 = 10;

/// What a writer knows about one matched remote reader.
#[derive(Debug)]
pub(crate) struct ReaderProxy {
    pub guid: Guid,
    pub locators: Vec<Locator>,
    /// The reader's multicast locators (its own, or its participant's default), used instead of `locators`
    /// when the writer sends user data by multicast.
    pub multicast: Vec<Locator>,
    pub reliable: bool,
    /// Every sequence number up to and including this one is acknowledged.
    pub acked: i64,
    /// Sequence numbers below this are not meant for this reader.
    pub start: i64,
    /// An RTI reader in a GROUP-scope Subscriber that waits for HEARTBEAT_VIRTUAL (EXPECTS_VIRTUAL_HB): every
    /// HEARTBEAT it gets is followed by one.
    pub virtual_heartbeat: bool,
    requested: BTreeSet<i64>,
    last_acknack_count: Option<u32>,
    last_nackfrag_count: Option<u32>,
}

impl ReaderProxy {
    pub fn new(guid: Guid, locators: Vec<Locator>, reliable: bool) -> Self {
        ReaderProxy {
            guid,
            locators,
            multicast: Vec::new(),
            reliable,
            acked: 0,
            start: 1,
            virtual_heartbeat: false,
            requested: BTreeSet::new(),
            last_acknack_count: None,
            last_nackfrag_count: None,
        }
    }
}

/// Parameters of a writer that do not change.
#[derive(Debug, Clone)]
pub(crate) struct WriterParams {
    pub guid: Guid,
    pub reliable: bool,
    pub keyed: bool,
    pub durability: DurabilityKind,
    pub history: History,
    pub heartbeat_period: Duration,
    pub max_message_size: usize,
    pub fragment_size: usize,
    /// KEEP_ALL: the most unacknowledged changes held before writes are refused.
    pub max_samples: Option<usize>,
    /// Token-bucket limit on new data.
    pub flow: Option<FlowLimit>,
    /// Piggy-back a HEARTBEAT after this many samples (0: never).
    pub piggyback_every: u32,
    /// How long requests (ACKNACK) are collected before repairing; zero repairs at once. With a delay, a sample
    /// several readers asked for is sent once, to all of them.
    pub nack_response_delay: Duration,
    /// Send to a reader's multicast locator when it has one: new data goes once to a group that several
    /// readers share, and a repair several readers asked for goes once to their group.
    pub use_multicast: bool,
    /// Where the history gives back the payloads it drops.
    pub pool: Arc<PayloadPool>,
}

/// Token bucket state of a flow-limited writer.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// A stateful RTPS writer.
#[derive(Debug)]
pub(crate) struct Writer {
    pub params: WriterParams,
    history: WriterHistory,
    pub readers: BTreeMap<Guid, ReaderProxy>,
    /// Readers of the same participant, served by direct delivery.
    pub local_readers: Vec<Guid>,
    hb_count: u32,
    /// HEARTBEAT_VIRTUAL counter.
    vhb_count: u32,
    next_heartbeat: Option<Instant>,
    /// Union of all remote readers' locators (recomputed on match changes).
    all_dests: Vec<Locator>,
    inline_qos: Vec<u8>,
    /// The next sequence number not yet sent to the matched readers.
    unsent: i64,
    bucket: Option<Bucket>,
    next_send: Option<Instant>,
    /// Samples sent since the last HEARTBEAT.
    since_heartbeat: u32,
    /// When collected repair requests are due (with a nack response delay).
    repair_due: Option<Instant>,
    /// Repaired samples sent once for several readers.
    shared_repairs: u64,
    /// Of those, the ones sent to a multicast group.
    multicast_repairs: u64,
    /// Readers that get no history when they match, whatever their durability (they already have it).
    pub no_history_for: BTreeSet<Guid>,
    /// For a durability service's writer (which relays changes with their original writer's identity):
    /// whether readers that do not drop relayed duplicates (other vendors' readers) get its history too.
    /// Starling readers always get it; `None` for ordinary writers.
    pub relay_history_for_others: Option<bool>,
    /// PRESENTATION coherent sets.
    sets: WriterSets,
    /// The coherent set of the change written last.
    last_set: Option<i64>,
    /// Samples not sent to a matched reader because they do not pass its content filter (one per sample
    /// and reader).
    samples_filtered: u64,
}

impl Writer {
    pub fn new(params: WriterParams) -> Self {
        Writer {
            history: WriterHistory::new(params.history, params.pool.clone()),
            params,
            readers: BTreeMap::new(),
            local_readers: Vec::new(),
            hb_count: 0,
            vhb_count: 0,
            next_heartbeat: None,
            all_dests: Vec::new(),
            inline_qos: Vec::with_capacity(64),
            unsent: 1,
            bucket: None,
            next_send: None,
            since_heartbeat: 0,
            repair_due: None,
            shared_repairs: 0,
            multicast_repairs: 0,
            no_history_for: BTreeSet::new(),
            relay_history_for_others: None,
            sets: WriterSets::default(),
            last_set: None,
            samples_filtered: 0,
        }
    }

    /// Sets or clears the flow limit.
    pub fn set_flow(&mut self, flow: Option<FlowLimit>) {
        self.params.flow = flow;
        self.bucket = None;
    }

    pub fn guid(&self) -> Guid {
        self.params.guid
    }

    /// The sequence number the next write will get.
    pub fn next_sn(&self) -> i64 {
        self.history.last_sn() + 1
    }

    /// The next time this writer needs `on_timer`.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.next_heartbeat, self.next_send, self.repair_due].into_iter().flatten().min()
    }

    /// Repaired samples sent once for several readers so far.
    pub fn shared_repairs(&self) -> u64 {
        self.shared_repairs
    }

    /// Repaired samples sent once to a multicast group for several readers so far.
    pub fn multicast_repairs(&self) -> u64 {
        self.multicast_repairs
    }

    /// Where data for reader `p` goes: its multicast group when this writer uses multicast and the reader has
    /// one, else its unicast locators.
    fn data_locators<'a>(&self, p: &'a ReaderProxy) -> &'a [Locator] {
        if self.params.use_multicast && !p.multicast.is_empty() {
            &p.multicast[..1]
        } else {
            &p.locators
        }
    }

    /// Samples not sent to a matched reader because of its content filter, so far (one per sample and reader).
    pub fn samples_filtered(&self) -> u64 {
        self.samples_filtered
    }

    /// True when change `sn` is still in the history, is meant for `reader` (at or after its `start`) and
    /// passes its content filter; otherwise a request for it is answered with a GAP.
    fn servable(&self, sn: i64, reader: &Guid, start: i64) -> bool {
        sn >= start && self.history.get(sn).is_some_and(|c| !c.filtered_out.contains(reader))
    }

    fn recompute_dests(&mut self) {
        let mut d: Vec<Locator> = self.readers.values().flat_map(|r| self.data_locators(r).iter().copied()).collect();
        d.sort();
        d.dedup();
        self.all_dests = d;
    }

    fn has_unacked(&self) -> bool {
        let last = self.history.last_sn();
        self.readers.values().any(|r| r.reliable && r.acked < last)
    }

    /// True when every reliable remote reader acknowledged everything written.
    pub fn is_acked_by_all(&self) -> bool {
        !self.has_unacked()
    }

    /// Whether a reader that matches now gets this writer's history, as far as relaying goes (`dedupes`: the
    /// reader drops relayed changes it already has).
    pub fn relays_history_to(&self, dedupes: bool) -> bool {
        dedupes || self.relay_history_for_others.unwrap_or(true)
    }

    /// Adds a matched remote reader. `wants_history` is true when the reader's
    /// durability asks for samples written before it matched.
    pub fn add_reader(&mut self, now: Instant, mut proxy: ReaderProxy, wants_history: bool, out: &mut Outbox) {
        let last = self.history.last_sn();
        let serve_history = wants_history
            && self.params.durability >= DurabilityKind::TransientLocal
            && !self.no_history_for.contains(&proxy.guid);
        if serve_history {
            proxy.start = 1;
            proxy.acked = 0;
        } else {
            proxy.start = last + 1;
            proxy.acked = last;
        }
        let guid = proxy.guid;
        self.readers.insert(guid, proxy);
        self.recompute_dests();
        if serve_history {
            self.send_history_to(guid, out);
        }
        if self.params.reliable {
            if let Some(p) = self.readers.get(&guid) {
                if p.reliable {
                    let (dests, dst, rid) = (p.locators.clone(), Some(guid.prefix), guid.entity_id);
                    self.send_heartbeat(&dests, dst, rid, false, out);
                    self.schedule_heartbeat(now);
                }
            }
        }
    }

    /// Removes a matched remote reader.
    pub fn remove_reader(&mut self, guid: &Guid) -> bool {
        let removed = self.readers.remove(guid).is_some();
        if removed {
            self.recompute_dests();
            self.trim_history();
        }
        removed
    }

    fn send_history_to(&mut self, guid: Guid, out: &mut Outbox) {
        let Some(p) = self.readers.get(&guid) else { return };
        let dests = p.locators.clone();
        let sns: Vec<i64> = self
            .history
            .range_from(p.start)
            .filter(|(_, c)| !c.filtered_out.contains(&guid))
            .map(|(sn, _)| sn)
            .collect();
        for sn in sns {
            self.send_change(&dests, Some(guid.prefix), guid.entity_id, sn, out);
        }
    }

    /// The HEARTBEAT period now: the configured one, or a tenth of it (at least 1 ms) while a KEEP_ALL history
    /// is full. A full writer sends no new DATA, so no piggy-backed HEARTBEAT either; when the last HEARTBEAT
    /// after a repair or the ACKNACK answering it is lost, the writer would otherwise stall for a whole period
    /// (at 2 % loss that happened often enough to cost more than half of the throughput of an unpaced stream).
    fn heartbeat_period(&self) -> Duration {
        if self.is_full() {
            (self.params.heartbeat_period / FULL_HEARTBEAT_DIVISOR).max(Duration::from_millis(1))
        } else {
            self.params.heartbeat_period
        }
    }

    /// Schedules the next periodic HEARTBEAT one period from `now`, unless one is due sooner.
    fn schedule_heartbeat(&mut self, now: Instant) {
        let due = now + self.heartbeat_period();
        if self.next_heartbeat.is_none_or(|t| t > due) {
            self.next_heartbeat = Some(due);
        }
    }

    /// True when a KEEP_ALL history holds `max_samples` changes that are not yet
    /// acknowledged by every reliable reader.
    pub fn is_full(&self) -> bool {
        matches!(self.params.history, History::KeepAll)
            && self.params.max_samples.is_some_and(|max| self.history.len() >= max)
    }

    /// Adds a change to the history and sends it to every matched remote reader.
    /// Callers check [`Writer::is_full`] first.
    pub fn write(&mut self, now: Instant, mut change: CacheChange, out: &mut Outbox) -> SequenceNumber {
        if change.coherent_set.is_none() {
            change.coherent_set = self.sets.on_write(self.history.last_sn() + 1);
        }
        self.last_set = change.coherent_set;
        let sn = self.history.add(change);
        self.send_unsent(now, out);
        self.trim_history();
        sn
    }

    /// Opens a coherent set: the changes written until [`Writer::end_coherent`] carry `PID_COHERENT_SET`.
    pub fn begin_coherent(&mut self) {
        self.sets.begin();
    }

    /// The coherent set of the change written last (`None` outside a set).
    pub fn last_coherent_set(&self) -> Option<SequenceNumber> {
        self.last_set.map(SequenceNumber)
    }

    /// Closes the open coherent set; when it had changes, writes its end marker (a DATA without payload and
    /// without `PID_COHERENT_SET`) and returns the marker's sequence number.
    /// With GROUP access scope, `group` tells readers which group coherent set the marker ends and which
    /// writers took part in it.
    pub fn end_coherent(
        &mut self,
        now: Instant,
        out: &mut Outbox,
        group: Option<Box<super::event::GroupTag>>,
    ) -> Option<SequenceNumber> {
        if !self.sets.end() {
            return None;
        }
        let marker = CacheChange {
            kind: ChangeKind::Alive,
            key_hash: MARKER_KEY,
            payload: bytes::Bytes::new(),
            source_timestamp: None,
            related_sample_identity: None,
            original_writer: None,
            coherent_set: None,
            filtered_out: Vec::new(),
            group,
        };
        Some(self.write(now, marker, out))
    }

    /// Sends changes not yet sent to the matched readers, as far as the flow
    /// limit allows; schedules the rest.
    fn send_unsent(&mut self, now: Instant, out: &mut Outbox) {
        let last = self.history.last_sn();
        if self.all_dests.is_empty() {
            self.unsent = last + 1;
            return;
        }
        self.next_send = None;
        let dests = std::mem::take(&mut self.all_dests);
        let reliable = self.params.reliable && self.readers.values().any(|r| r.reliable);
        // A KEEP_ALL writer with a small max_samples would otherwise fill up before its next
        // piggy-backed HEARTBEAT and wait for the periodic one: ask for acknowledgements at
        // least every quarter of the history.
        let piggyback_every = match (self.params.history, self.params.max_samples) {
            (History::KeepAll, Some(max)) if self.params.piggyback_every > 0 => {
                self.params.piggyback_every.min(u32::try_from(max / 4).unwrap_or(u32::MAX).max(1))
            }
            _ => self.params.piggyback_every,
        };
        let mut sent = false;
        // Readers that a change's content filter left out, with the sequence numbers to GAP for them.
        let mut filtered: BTreeMap<Guid, Vec<i64>> = BTreeMap::new();
        while self.unsent <= last {
            let sn = self.unsent;
            let Some(change) = self.history.get(sn) else {
                self.unsent += 1;
                continue;
            };
            let left_out = (!change.filtered_out.is_empty()).then(|| change.filtered_out.clone());
            if let Some(flow) = self.params.flow {
                let cost = (change.payload.len() + DATA_OVERHEAD) as f64;
                let rate = flow.bytes_per_sec.max(1) as f64;
                let burst = flow.burst_bytes.max(1) as f64;
                let b = self.bucket.get_or_insert(Bucket { tokens: burst, refilled: now });
                let elapsed = now.saturating_duration_since(b.refilled).as_secs_f64();
                b.tokens = (b.tokens + elapsed * rate).min(burst);
                b.refilled = now;
                // A sample larger than the burst goes out once the bucket is full.
                let need = cost.min(burst);
                if b.tokens < need {
                    let wait = (need - b.tokens) / rate;
                    self.next_send = Some(now + Duration::from_secs_f64(wait.max(0.000_05)));
                    break;
                }
                b.tokens -= cost;
            }
            match left_out {
                None => self.send_change(&dests, None, EntityId::UNKNOWN, sn, out),
                Some(left_out) => {
                    // Only to the locators of the readers whose filter the change passes; a reader that
                    // shares a locator with one of those still filters it on arrival.
                    let mut to: Vec<Locator> = Vec::new();
                    for (g, p) in &self.readers {
                        if left_out.contains(g) {
                            self.samples_filtered += 1;
                            if p.reliable {
                                filtered.entry(*g).or_default().push(sn);
                            }
                        } else {
                            to.extend(p.locators.iter().copied());
                        }
                    }
                    to.sort();
                    to.dedup();
                    if !to.is_empty() {
                        self.send_change(&to, None, EntityId::UNKNOWN, sn, out);
                    }
                }
            }
            self.unsent += 1;
            sent = true;
            self.since_heartbeat += 1;
            if reliable && piggyback_every > 0 && self.since_heartbeat >= piggyback_every {
                self.send_heartbeat(&dests, None, EntityId::UNKNOWN, false, out);
            }
        }
        self.all_dests = dests;
        // Reliable readers learn at once that the changes they were not sent are not for them.
        for (g, sns) in filtered {
            let Some(p) = self.readers.get(&g) else { continue };
            let dests = p.locators.clone();
            self.send_gaps(&dests, Some(g.prefix), g.entity_id, &sns, out);
        }
        if sent && reliable {
            self.schedule_heartbeat(now);
        }
    }

    /// Drops acknowledged changes from a volatile KEEP_ALL history.
    fn trim_history(&mut self) {
        if self.params.durability != DurabilityKind::Volatile || !matches!(self.params.history, History::KeepAll) {
            return;
        }
        let upto = self
            .readers
            .values()
            .filter(|r| r.reliable)
            .map(|r| r.acked)
            .min()
            .unwrap_or_else(|| self.history.last_sn());
        self.history.remove_up_to(upto);
    }

    fn build_inline_qos(buf: &mut Vec<u8>, keyed: bool, change: &CacheChange) -> bool {
        buf.clear();
        let status = change.kind.status_info();
        if !keyed
            && status == 0
            && change.related_sample_identity.is_none()
            && change.coherent_set.is_none()
            && change.group.is_none()
            && change.original_writer.is_none()
        {
            return false;
        }
        let end_marker = change.key_hash == MARKER_KEY && change.payload.is_empty();
        let mut pl = ParameterListWriter::new(buf, Endian::Little);
        if keyed && !end_marker {
            pl.raw(pid::KEY_HASH, &change.key_hash.0);
        }
        if let Some(set) = change.coherent_set {
            pl.param(pid::COHERENT_SET, |w| SequenceNumber(set).write(w));
        }
        if let Some(g) = &change.group {
            // DDSI-RTPS 2.5 §9.6.4 (Table 9.20): both are SequenceNumber_t. No second implementation that
            // sends them could be cross-checked here; the layouts are the specification's.
            if let Some(set) = g.set {
                pl.param(pid::GROUP_COHERENT_SET, |w| set.write(w));
            }
            if let Some(seq) = g.seq {
                pl.param(pid::GROUP_SEQ_NUM, |w| seq.write(w));
            }
            if !g.writers.is_empty() {
                pl.param(pid::STARLING_GROUP_SET_WRITERS, |w| super::coherent::write_group_writers(w, &g.writers));
            }
        }
        if status != 0 {
            // STATUS_INFO is a big-endian uint32 on the wire whatever the list's order.
            pl.raw(pid::STATUS_INFO, &status.to_be_bytes());
        }
        if let Some(rel) = &change.related_sample_identity {
            pl.param(pid::RELATED_SAMPLE_IDENTITY, |w| rel.write(w));
        }
        if let Some(orig) = &change.original_writer {
            // OriginalWriterInfo (RTPS 2.5 §9.6.4.8): GUID, SequenceNumber and an empty parameter list.
            pl.param(pid::ORIGINAL_WRITER_INFO, |w| {
                orig.write(w);
                w.u16(pid::SENTINEL);
                w.u16(0);
            });
        }
        pl.finish();
        true
    }

    /// Encodes change `sn` as DATA (or DATA_FRAGs) into the outbox.
    fn send_change(
        &mut self,
        dests: &[Locator],
        dst: Option<crate::wire::types::GuidPrefix>,
        reader_id: EntityId,
        sn: i64,
        out: &mut Outbox,
    ) {
        let Some(change) = self.history.get(sn) else { return };
        let has_qos = Self::build_inline_qos(&mut self.inline_qos, self.params.keyed, change);
        let inline_qos = has_qos.then(|| ParameterList::new(&self.inline_qos, Endian::Little));
        let key_flag = change.kind != ChangeKind::Alive;
        let ts = Some(change.source_timestamp);
        let payload_len = change.payload.len();
        let max_inline = self.params.max_message_size.saturating_sub(DATA_OVERHEAD + self.inline_qos.len());
        if payload_len <= max_inline {
            let data = Data {
                reader_id,
                writer_id: self.params.guid.entity_id,
                writer_sn: SequenceNumber(sn),
                inline_qos,
                serialized_payload: (!change.payload.is_empty()).then_some(&change.payload[..]),
                key_flag,
                non_standard_payload: false,
            };
            let need = 32 + self.inline_qos.len() + payload_len;
            data.encode(out.message(dests, dst, ts, need).buf_mut());
        } else {
            let frag_size = self.params.fragment_size.clamp(1024, 65000);
            let total = payload_len.div_ceil(frag_size);
            for i in 0..total {
                self.send_fragment(dests, dst, reader_id, sn, (i + 1) as u32, out);
            }
        }
    }

    /// Sends one fragment (numbered from 1) of change `sn`.
    fn send_fragment(
        &mut self,
        dests: &[Locator],
        dst: Option<crate::wire::types::GuidPrefix>,
        reader_id: EntityId,
        sn: i64,
        frag: u32,
        out: &mut Outbox,
    ) {
        let Some(change) = self.history.get(sn) else { return };
        let frag_size = self.params.fragment_size.clamp(1024, 65000);
        // Fragments are numbered from 1; a NACK_FRAG can still name 0.
        let Some(index) = (frag as usize).checked_sub(1) else { return };
        let start = index.saturating_mul(frag_size);
        if start >= change.payload.len() {
            return;
        }
        let end = (start + frag_size).min(change.payload.len());
        let has_qos = Self::build_inline_qos(&mut self.inline_qos, self.params.keyed, change);
        let df = DataFrag {
            reader_id,
            writer_id: self.params.guid.entity_id,
            writer_sn: SequenceNumber(sn),
            fragment_starting_num: frag,
            fragments_in_submessage: 1,
            fragment_size: frag_size as u16,
            sample_size: change.payload.len() as u32,
            inline_qos: has_qos.then(|| ParameterList::new(&self.inline_qos, Endian::Little)),
            key_flag: change.kind != ChangeKind::Alive,
            data: &change.payload[start..end],
        };
        let need = 48 + self.inline_qos.len() + (end - start);
        df.encode(out.message(dests, dst, Some(change.source_timestamp), need).buf_mut());
    }

    fn send_heartbeat(
        &mut self,
        dests: &[Locator],
        dst: Option<crate::wire::types::GuidPrefix>,
        reader_id: EntityId,
        final_flag: bool,
        out: &mut Outbox,
    ) {
        self.send_heartbeat_with(dests, dst, reader_id, final_flag, false, out);
    }

    fn send_heartbeat_with(
        &mut self,
        dests: &[Locator],
        dst: Option<crate::wire::types::GuidPrefix>,
        reader_id: EntityId,
        final_flag: bool,
        liveliness_flag: bool,
        out: &mut Outbox,
    ) {
        self.hb_count = self.hb_count.wrapping_add(1);
        if dst.is_none() {
            self.since_heartbeat = 0;
        }
        let hb = Heartbeat {
            reader_id,
            writer_id: self.params.guid.entity_id,
            first_sn: SequenceNumber(self.history.first_sn().min(self.unsent)),
            last_sn: SequenceNumber(self.unsent - 1),
            count: self.hb_count,
            final_flag,
            liveliness_flag,
        };
        hb.encode(out.message(dests, dst, None, 32).buf_mut());
        self.send_virtual_heartbeats(&hb, dst, out);
    }

    /// Follows a HEARTBEAT with RTI's HEARTBEAT_VIRTUAL to each reader that expects one (all of them for a
    /// HEARTBEAT to every reader, else the one it went to): the writer is its own virtual GUID, and the virtual
    /// sequence numbers are the RTPS ones this reader can still get. Connext's GROUP-scope readers deliver
    /// nothing until they have one.
    fn send_virtual_heartbeats(&mut self, hb: &Heartbeat, dst: Option<GuidPrefix>, out: &mut Outbox) {
        let targets: Vec<(Vec<Locator>, Guid, i64)> = self
            .readers
            .values()
            .filter(|p| p.virtual_heartbeat && p.reliable)
            .filter(|p| dst.is_none_or(|d| d == p.guid.prefix && hb.reader_id == p.guid.entity_id))
            .map(|p| (p.locators.clone(), p.guid, p.start))
            .collect();
        for (locators, reader, start) in targets {
            let first = hb.first_sn.0.max(start);
            if hb.last_sn.0 < first {
                continue;
            }
            self.vhb_count = self.vhb_count.wrapping_add(1);
            let vhb = HeartbeatVirtual {
                reader_id: reader.entity_id,
                writer_id: self.params.guid.entity_id,
                virtual_guid: self.params.guid,
                first_virtual_sn: SequenceNumber(first),
                last_virtual_sn: hb.last_sn,
                first_sn: SequenceNumber(first),
                last_sn: hb.last_sn,
                count: self.vhb_count,
            };
            vhb.encode(out.message(&locators, Some(reader.prefix), None, 72).buf_mut());
        }
    }

    /// Sends a final HEARTBEAT with the liveliness flag to every matched remote
    /// reader (MANUAL_BY_TOPIC `assert_liveliness`; best-effort writers too, as Cyclone does).
    pub fn send_liveliness_heartbeat(&mut self, out: &mut Outbox) {
        if self.all_dests.is_empty() {
            return;
        }
        let dests = self.all_dests.clone();
        self.send_heartbeat_with(&dests, None, EntityId::UNKNOWN, true, true, out);
    }

    /// Periodic work: heartbeats while some reliable reader has unacknowledged data.
    pub fn on_timer(&mut self, now: Instant, out: &mut Outbox) {
        if self.next_send.is_some_and(|t| t <= now) {
            self.send_unsent(now, out);
        }
        if self.repair_due.is_some_and(|t| t <= now) {
            self.flush_repairs(now, out);
        }
        let Some(due) = self.next_heartbeat else { return };
        if due > now {
            return;
        }
        self.next_heartbeat = None;
        if !self.has_unacked() {
            return;
        }
        let last = self.history.last_sn();
        let mut dests: Vec<Locator> = self
            .readers
            .values()
            .filter(|r| r.reliable && r.acked < last)
            .flat_map(|r| r.locators.iter().copied())
            .collect();
        dests.sort();
        dests.dedup();
        self.send_heartbeat(&dests, None, EntityId::UNKNOWN, false, out);
        self.next_heartbeat = Some(now + self.heartbeat_period());
    }

    /// Handles an ACKNACK from a matched reader: records acknowledgements,
    /// resends what was requested (DATA or GAP), answers with a HEARTBEAT.
    pub fn handle_acknack(&mut self, now: Instant, reader: Guid, ack: &AckNack, out: &mut Outbox) {
        let last = self.history.last_sn();
        let Some(p) = self.readers.get_mut(&reader) else { return };
        if !p.reliable {
            return;
        }
        if let Some(prev) = p.last_acknack_count {
            if ack.count <= prev && prev.wrapping_sub(ack.count) < u32::MAX / 2 {
                return;
            }
        }
        p.last_acknack_count = Some(ack.count);
        let base = ack.reader_sn_state.base.0;
        if base >= 1 {
            p.acked = p.acked.max((base - 1).min(last));
        }
        p.requested.clear();
        for sn in ack.reader_sn_state.iter() {
            if sn.0 >= 1 && sn.0 <= last {
                p.requested.insert(sn.0);
            }
        }
        if !self.params.nack_response_delay.is_zero() {
            // Collect requests from every reader until the delay passes, then repair them together.
            if !p.requested.is_empty() {
                self.repair_due.get_or_insert(now + self.params.nack_response_delay);
            } else if !ack.final_flag {
                let (dests, dst, rid) = (p.locators.clone(), Some(reader.prefix), reader.entity_id);
                self.send_heartbeat(&dests, dst, rid, true, out);
            }
            if self.has_unacked() {
                self.schedule_heartbeat(now);
            } else {
                self.next_heartbeat = None;
            }
            self.trim_history();
            return;
        }
        let requested: Vec<i64> = std::mem::take(&mut p.requested).into_iter().collect();
        let (dests, start) = (p.locators.clone(), p.start);
        let dst = Some(reader.prefix);
        let rid = reader.entity_id;
        let mut gaps: Vec<i64> = Vec::new();
        for &sn in &requested {
            if self.servable(sn, &reader, start) {
                self.send_change(&dests, dst, rid, sn, out);
            } else {
                gaps.push(sn);
            }
        }
        self.send_gaps(&dests, dst, rid, &gaps, out);
        if !requested.is_empty() || !ack.final_flag {
            self.send_heartbeat(&dests, dst, rid, requested.is_empty(), out);
        }
        if self.has_unacked() {
            self.schedule_heartbeat(now);
        } else {
            self.next_heartbeat = None;
        }
        self.trim_history();
    }

    /// Sends the repairs collected during the nack response delay: a sample that several readers asked for goes
    /// out once, to all of their locators (DATA for any reader, no INFO_DST); the rest goes to each reader as
    /// usual, with GAPs for what is gone. Every requesting reader then gets a HEARTBEAT.
    fn flush_repairs(&mut self, now: Instant, out: &mut Outbox) {
        self.repair_due = None;
        let mut by_sn: BTreeMap<i64, Vec<Guid>> = BTreeMap::new();
        let mut requesters: Vec<Guid> = Vec::new();
        for (g, p) in self.readers.iter_mut() {
            if p.requested.is_empty() {
                continue;
            }
            requesters.push(*g);
            for sn in std::mem::take(&mut p.requested) {
                by_sn.entry(sn).or_default().push(*g);
            }
        }
        let mut single: BTreeMap<Guid, Vec<i64>> = BTreeMap::new();
        for (sn, guids) in by_sn {
            let servable = guids.iter().all(|g| self.readers.get(g).is_some_and(|p| self.servable(sn, g, p.start)));
            if guids.len() > 1 && servable {
                let mut dests: Vec<Locator> = guids
                    .iter()
                    .filter_map(|g| self.readers.get(g))
                    .flat_map(|p| self.data_locators(p).iter().copied())
                    .collect();
                dests.sort();
                dests.dedup();
                if dests.iter().any(Locator::is_multicast) {
                    self.multicast_repairs += 1;
                }
                self.send_change(&dests, None, EntityId::UNKNOWN, sn, out);
                self.shared_repairs += 1;
            } else {
                for g in guids {
                    single.entry(g).or_default().push(sn);
                }
            }
        }
        for (g, sns) in single {
            let Some(p) = self.readers.get(&g) else { continue };
            let (dests, start) = (p.locators.clone(), p.start);
            let mut gaps = Vec::new();
            for sn in sns {
                if self.servable(sn, &g, start) {
                    self.send_change(&dests, Some(g.prefix), g.entity_id, sn, out);
                } else {
                    gaps.push(sn);
                }
            }
            self.send_gaps(&dests, Some(g.prefix), g.entity_id, &gaps, out);
        }
        for g in requesters {
            let Some(p) = self.readers.get(&g) else { continue };
            let dests = p.locators.clone();
            self.send_heartbeat(&dests, Some(g.prefix), g.entity_id, false, out);
        }
        if self.has_unacked() {
            self.schedule_heartbeat(now);
        }
    }

    /// Sends GAPs covering the sorted sequence numbers in `sns`, one per contiguous run.
    fn send_gaps(
        &mut self,
        dests: &[Locator],
        dst: Option<crate::wire::types::GuidPrefix>,
        reader_id: EntityId,
        sns: &[i64],
        out: &mut Outbox,
    ) {
        let mut i = 0;
        while i < sns.len() {
            let first = sns[i];
            let mut end = first;
            while i + 1 < sns.len() && sns[i + 1] == end + 1 {
                i += 1;
                end = sns[i];
            }
            i += 1;
            let gap = Gap {
                reader_id,
                writer_id: self.params.guid.entity_id,
                gap_start: SequenceNumber(first),
                gap_list: SequenceNumberSet::new(SequenceNumber(end + 1)),
            };
            gap.encode(out.message(dests, dst, None, 40).buf_mut());
        }
    }

    /// Handles a NACK_FRAG: resends the requested fragments.
    pub fn handle_nack_frag(&mut self, reader: Guid, nf: &NackFrag, out: &mut Outbox) {
        let Some(p) = self.readers.get_mut(&reader) else { return };
        if let Some(prev) = p.last_nackfrag_count {
            if nf.count <= prev && prev.wrapping_sub(nf.count) < u32::MAX / 2 {
                return;
            }
        }
        p.last_nackfrag_count = Some(nf.count);
        let dests = p.locators.clone();
        let sn = nf.writer_sn.0;
        if sn < 1 || sn > self.history.last_sn() {
            // Never written: nothing to resend, and a GAP would declare a future sample irrelevant.
            return;
        }
        if !self.servable(sn, &reader, 1) {
            self.send_gaps(&dests, Some(reader.prefix), reader.entity_id, &[sn], out);
            return;
        }
        let frags: Vec<u32> = nf.fragment_number_state.iter().collect();
        for f in frags {
            self.send_fragment(&dests, Some(reader.prefix), reader.entity_id, sn, f, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::Header;
    use crate::wire::submessage::HEARTBEAT_VIRTUAL;
    use crate::wire::types::{KeyHash, ProtocolVersion, VendorId};
    use bytes::Bytes;
    use std::net::Ipv4Addr;

    fn writer() -> (Writer, Outbox) {
        let prefix = GuidPrefix([1, 0xff, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let params = WriterParams {
            guid: Guid::new(prefix, EntityId([0, 0, 2, 2])),
            reliable: true,
            keyed: true,
            durability: DurabilityKind::Volatile,
            history: History::KeepLast(1),
            heartbeat_period: Duration::from_millis(100),
            max_message_size: 65000,
            fragment_size: 60000,
            max_samples: None,
            flow: None,
            piggyback_every: 1,
            nack_response_delay: Duration::ZERO,
            use_multicast: false,
            pool: Arc::default(),
        };
        let header = Header { version: ProtocolVersion::V2_5, vendor_id: VendorId::STARLING, guid_prefix: prefix };
        (Writer::new(params), Outbox::new(header, 65000))
    }

    fn change() -> CacheChange {
        CacheChange {
            kind: ChangeKind::Alive,
            key_hash: KeyHash([0; 16]),
            payload: Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0]),
            source_timestamp: None,
            related_sample_identity: None,
            original_writer: None,
            coherent_set: None,
            filtered_out: Vec::new(),
            group: None,
        }
    }

    /// Submessage ids (and for HEARTBEAT_VIRTUAL the reader id and first/last virtual SN) of every datagram.
    fn sent(out: &mut Outbox) -> Vec<(u8, Vec<u8>)> {
        let mut subs = Vec::new();
        while let Some(t) = out.poll() {
            let m = &t.payload;
            let mut p = 20;
            while p + 4 <= m.len() {
                let len = u16::from_le_bytes([m[p + 2], m[p + 3]]) as usize;
                subs.push((m[p], m[p + 4..p + 4 + len].to_vec()));
                p += 4 + len;
            }
        }
        subs
    }

    fn remote_reader(virtual_heartbeat: bool, key: u8) -> ReaderProxy {
        let guid = Guid::new(GuidPrefix([1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, key]), EntityId([0x80, 0, 0, 7]));
        let mut p = ReaderProxy::new(guid, vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7413 + key as u16)], true);
        p.virtual_heartbeat = virtual_heartbeat;
        p
    }

    #[test]
    fn heartbeats_to_an_rti_group_reader_come_with_a_virtual_heartbeat() {
        let (mut w, mut out) = writer();
        let now = Instant::now();
        // Samples 1..=3 before the readers match: a volatile late joiner starts at 4.
        for _ in 0..3 {
            w.write(now, change(), &mut out);
        }
        sent(&mut out);
        w.add_reader(now, remote_reader(true, 1), false, &mut out);
        w.add_reader(now, remote_reader(false, 2), false, &mut out);
        sent(&mut out);
        w.write(now, change(), &mut out);
        w.write(now, change(), &mut out);
        let subs = sent(&mut out);
        let hbs = subs.iter().filter(|(id, _)| *id == 0x07).count();
        let vhbs: Vec<&Vec<u8>> = subs.iter().filter(|(id, _)| *id == HEARTBEAT_VIRTUAL).map(|(_, b)| b).collect();
        assert!(hbs >= 1, "piggybacked HEARTBEATs expected: {subs:?}");
        // One per HEARTBEAT, only to the reader that expects them, never below its first sample (4).
        assert_eq!(vhbs.len(), hbs, "{subs:?}");
        for b in &vhbs {
            assert_eq!(b.len(), 64);
            assert_eq!(b[0..4], [0x80, 0, 0, 7]);
            assert_eq!(b[8..24], w.params.guid.to_bytes());
            let sn = |o: usize| {
                ((i32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as i64) << 32)
                    | u32::from_le_bytes(b[o + 4..o + 8].try_into().unwrap()) as i64
            };
            assert!(sn(28) >= 4 && sn(36) >= sn(28) && sn(36) <= 5, "virtual SN range {}..{}", sn(28), sn(36));
            assert_eq!((sn(44), sn(52)), (sn(28), sn(36)));
        }
    }

    #[test]
    fn no_virtual_heartbeat_without_a_reader_that_expects_one() {
        let (mut w, mut out) = writer();
        let now = Instant::now();
        w.add_reader(now, remote_reader(false, 2), false, &mut out);
        for _ in 0..3 {
            w.write(now, change(), &mut out);
        }
        let subs = sent(&mut out);
        assert!(subs.iter().any(|(id, _)| *id == 0x07));
        assert!(!subs.iter().any(|(id, _)| *id == HEARTBEAT_VIRTUAL));
    }
}
