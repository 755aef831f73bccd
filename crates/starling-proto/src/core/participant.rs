//! The participant state machine: receives datagrams, runs SPDP and SEDP,
//! matches local and remote endpoints, and drives writers and readers.

use super::coherent::{parse_coherent_set, parse_group_writers, GroupKey, GroupOutcome, GroupPart, GroupSets};
use super::config::ParticipantConfig;
use super::discovery::{usable, DiscoveryDb};
use super::event::{
    ChangeKind, EndpointConfig, Event, GroupTag, ReceivedSample, Stats, Transmit, WriteChange, WriteError,
    WriteErrorKind,
};
use super::history::CacheChange;
use super::liveliness::{self, LivelinessState, ParticipantMessageData};
use super::outbox::Outbox;
use super::pool::PayloadPool;
use super::reader::{FragLimits, Reader, WriterProxy};
use super::typelookup::{type_information, TypeRegistry};
use super::typematch::{type_match, PendingMatch, TypeMatch};
use super::writer::{ReaderProxy, Writer, WriterParams};
use crate::discovery::{builtin_endpoints as be, key_guid, ContentFilterProperty, EndpointData, ParticipantData};
use crate::qos::{
    check_compatible, partitions_match, AccessScope, DurabilityKind, History, QosPolicyId, ReliabilityKind,
};
use crate::wire::cursor::ByteReader;
use crate::wire::header::Header;
use crate::wire::parameter::{pid, ParameterList, ParameterListWriter};
use crate::wire::submessage::{Data, Submessage};
use crate::wire::types::{
    EntityId, Guid, GuidPrefix, KeyHash, Locator, ProtocolVersion, SampleIdentity, SequenceNumber, VendorId,
};
use crate::wire::{DecodeError, Endian};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// A DDS domain participant's protocol state (see the module docs for the call order).
#[derive(Debug)]
pub struct Participant {
    config: ParticipantConfig,
    stats: Stats,
    outbox: Outbox,
    events: VecDeque<Event>,
    db: DiscoveryDb,
    spdp_payload: Bytes,
    spdp_sn: i64,
    next_spdp: Instant,
    spdp_burst_left: u32,
    writers: BTreeMap<EntityId, Writer>,
    readers: BTreeMap<EntityId, Reader>,
    local_writers: BTreeMap<EntityId, EndpointData>,
    local_readers: BTreeMap<EntityId, EndpointData>,
    next_key: u32,
    deliver: Vec<ReceivedSample>,
    /// Scratch list of local readers a submessage is for (reused to avoid allocation).
    targets: Vec<EntityId>,
    /// The kinds of limit already logged (bits of [`LimitKind`]): each is logged once.
    limits_logged: u8,
    /// The last write reached beyond its own writer (local readers, liveliness changes or messages), so it
    /// may have moved other deadlines (see [`Participant::deadline_after_write`]).
    write_reached_others: bool,
    types: TypeRegistry,
    /// Writer/reader pairs waiting for TypeObjects before they can be matched.
    pending_type_matches: Vec<PendingMatch>,
    /// LIVELINESS of local and remote writers, and the PMD schedule.
    liveliness: LivelinessState,
    /// Group sequence numbers and the open group coherent set of each local Publisher (GROUP scope).
    pub_groups: HashMap<EntityId, PubGroup>,
    /// Group coherent sets being collected across the readers of each local Subscriber.
    group_sets: GroupSets,
    /// Released payload buffers: received payloads are copied into them, and writer histories give theirs
    /// back.
    pool: Arc<PayloadPool>,
}

/// A local Publisher's GROUP-scope PRESENTATION state.
#[derive(Debug, Default)]
struct PubGroup {
    /// The last group sequence number given out.
    gsn: i64,
    /// A group coherent set is open.
    open: bool,
    /// The open set's first group sequence number (`None` until its first change).
    start: Option<i64>,
    /// The writers that wrote in the open set, with their change counts.
    members: BTreeMap<EntityId, u32>,
}

/// True for an endpoint QoS with GROUP access scope and coherent or ordered access.
fn group_scoped(d: &EndpointData) -> bool {
    let p = &d.qos.presentation;
    p.access_scope == AccessScope::Group && (p.coherent_access || p.ordered_access)
}

/// The kinds of resource limit, each logged once when it first drops input.
#[derive(Clone, Copy)]
enum LimitKind {
    Participants = 0,
    Endpoints = 1,
    Reassembly = 2,
}

/// The fields of a DATA that the receive path needs, after INFO_* processing.
struct Incoming {
    writer: Guid,
    vendor: VendorId,
}

impl Participant {
    /// Creates the participant and schedules its first SPDP announcement at `now`.
    pub fn new(config: ParticipantConfig, now: Instant) -> Self {
        let header =
            Header { version: ProtocolVersion::V2_5, vendor_id: VendorId::STARLING, guid_prefix: config.guid_prefix };
        let outbox = Outbox::new(header, config.max_message_size);
        let liveliness = LivelinessState::new(config.guid_prefix);
        let pool = Arc::new(PayloadPool::new(config.payload_pool));
        let mut p = Participant {
            spdp_burst_left: config.spdp_initial_burst,
            config,
            stats: Stats::default(),
            outbox,
            events: VecDeque::new(),
            db: DiscoveryDb::default(),
            spdp_payload: Bytes::new(),
            spdp_sn: 0,
            next_spdp: now,
            writers: BTreeMap::new(),
            readers: BTreeMap::new(),
            local_writers: BTreeMap::new(),
            local_readers: BTreeMap::new(),
            next_key: 1,
            deliver: Vec::new(),
            targets: Vec::new(),
            limits_logged: 0,
            write_reached_others: false,
            types: TypeRegistry::default(),
            pending_type_matches: Vec::new(),
            liveliness,
            pub_groups: HashMap::new(),
            group_sets: GroupSets::default(),
            pool,
        };
        p.spdp_payload = p.encode_spdp();
        p.create_builtin_endpoints(now);
        p
    }

    fn create_builtin_endpoints(&mut self, _now: Instant) {
        let prefix = self.config.guid_prefix;
        // SEDP: keyed by endpoint GUID, transient-local so late joiners learn every endpoint.
        for id in [EntityId::SEDP_PUBLICATIONS_WRITER, EntityId::SEDP_SUBSCRIPTIONS_WRITER] {
            let w = self.builtin_writer(id, true, DurabilityKind::TransientLocal, History::KeepLast(1));
            self.writers.insert(id, w);
        }
        // TypeLookup: keyless request/reply, volatile (Cyclone's built-in volatile QoS).
        for id in [EntityId::TL_REQUEST_WRITER, EntityId::TL_REPLY_WRITER] {
            let w = self.builtin_writer(id, false, DurabilityKind::Volatile, History::KeepAll);
            self.writers.insert(id, w);
        }
        // ParticipantMessage (liveliness): keyed by prefix and kind, the last sample per key, transient-local.
        let id = EntityId::P2P_MESSAGE_WRITER;
        let w = self.builtin_writer(id, true, DurabilityKind::TransientLocal, History::KeepLast(1));
        self.writers.insert(id, w);
        for id in [
            EntityId::SEDP_PUBLICATIONS_READER,
            EntityId::SEDP_SUBSCRIPTIONS_READER,
            EntityId::TL_REQUEST_READER,
            EntityId::TL_REPLY_READER,
            EntityId::P2P_MESSAGE_READER,
        ] {
            self.readers.insert(id, Reader::new(Guid::new(prefix, id), self.config.heartbeat_response_delay));
        }
    }

    /// A reliable built-in writer with this participant's timing and sizes.
    fn builtin_writer(&self, id: EntityId, keyed: bool, durability: DurabilityKind, history: History) -> Writer {
        Writer::new(WriterParams {
            guid: Guid::new(self.config.guid_prefix, id),
            reliable: true,
            keyed,
            durability,
            history,
            heartbeat_period: self.config.heartbeat_period,
            max_message_size: self.config.max_message_size,
            fragment_size: self.config.fragment_size,
            max_samples: None,
            flow: None,
            piggyback_every: self.config.piggyback_heartbeat_every,
            nack_response_delay: self.config.nack_response_delay,
            // Built-in endpoints reach peers through their metatraffic locators only.
            use_multicast: false,
            pool: self.pool.clone(),
        })
    }

    /// Writes `payload` on a built-in writer (SEDP, TypeLookup).
    fn write_builtin(&mut self, now: Instant, writer: EntityId, kind: ChangeKind, key_hash: KeyHash, payload: Vec<u8>) {
        let change = CacheChange {
            kind,
            key_hash,
            payload: Bytes::from(payload),
            source_timestamp: None,
            related_sample_identity: None,
            original_writer: None,
            coherent_set: None,
            filtered_out: Vec::new(),
            group: None,
        };
        if let Some(w) = self.writers.get_mut(&writer) {
            w.write(now, change, &mut self.outbox);
        }
    }

    fn encode_spdp(&self) -> Bytes {
        let c = &self.config;
        let mut d = ParticipantData::new(c.guid_prefix);
        d.domain_id = Some(c.domain_id);
        d.domain_tag = c.domain_tag.clone();
        d.builtin_endpoints = be::PARTICIPANT_ANNOUNCER
            | be::PARTICIPANT_DETECTOR
            | be::PUBLICATIONS_ANNOUNCER
            | be::PUBLICATIONS_DETECTOR
            | be::SUBSCRIPTIONS_ANNOUNCER
            | be::SUBSCRIPTIONS_DETECTOR
            | be::PARTICIPANT_MESSAGE_WRITER
            | be::PARTICIPANT_MESSAGE_READER
            | be::TYPELOOKUP_REQUEST_WRITER
            | be::TYPELOOKUP_REQUEST_READER
            | be::TYPELOOKUP_REPLY_WRITER
            | be::TYPELOOKUP_REPLY_READER;
        d.metatraffic_unicast_locators = c.metatraffic_unicast.clone();
        d.metatraffic_multicast_locators = c.metatraffic_multicast.clone();
        d.default_unicast_locators = c.default_unicast.clone();
        d.default_multicast_locators = c.default_multicast.clone();
        d.lease_duration = crate::wire::types::Duration::from_std(c.lease_duration);
        d.entity_name = c.entity_name.clone();
        d.user_data = c.user_data.clone();
        d.properties = c.properties.clone();
        let mut buf = Vec::with_capacity(512);
        d.encode(&mut buf);
        Bytes::from(buf)
    }

    /// This participant's GUID prefix.
    pub fn guid_prefix(&self) -> GuidPrefix {
        self.config.guid_prefix
    }

    /// The configuration in use.
    pub fn config(&self) -> &ParticipantConfig {
        &self.config
    }

    /// The participant's pool of payload buffers. Received samples' payloads ([`ReceivedSample::payload`])
    /// come from it: give each back ([`PayloadPool::give`]) once done with it, and the next sample of that
    /// size reuses its buffer. Encode payloads to write into [`PayloadPool::take`] buffers: the writer's
    /// history gives them back when it drops them.
    pub fn payload_pool(&self) -> &Arc<PayloadPool> {
        &self.pool
    }

    fn next_entity(&mut self, kind: u8) -> EntityId {
        let key = self.next_key;
        self.next_key += 1;
        EntityId::new(key, kind)
    }

    /// Creates a Publisher (`publisher`) or Subscriber group: its GUID, for [`EndpointConfig::group`], is
    /// announced as GROUP_GUID with its endpoints. PRESENTATION with GROUP access scope acts across the
    /// endpoints of one group.
    pub fn create_group(&mut self, publisher: bool) -> Guid {
        let id = self.next_entity(if publisher { 0x08 } else { 0x09 });
        Guid::new(self.config.guid_prefix, id)
    }

    /// Creates a user writer and announces it through SEDP.
    pub fn create_writer(&mut self, now: Instant, desc: EndpointConfig) -> Guid {
        self.create_writer_preloaded(now, desc, Vec::new(), Vec::new())
    }

    /// Makes local writer `writer` a relaying writer (a durability service's): Starling readers that match it
    /// from now on get its history; other readers get it only when `for_others` is true and they are not in
    /// `no_history_for`.
    pub fn set_relay_history(&mut self, writer: Guid, for_others: bool, no_history_for: Vec<Guid>) {
        if writer.prefix != self.config.guid_prefix {
            return;
        }
        if let Some(w) = self.writers.get_mut(&writer.entity_id) {
            w.relay_history_for_others = Some(for_others);
            w.no_history_for = no_history_for.into_iter().collect();
        }
    }

    /// Creates a user writer whose history starts with `preload` (added before it matches any reader, so sent
    /// to none), and which serves no history to the readers in `no_history_for`. A durability service takes
    /// over from writers that are gone this way: late joiners get the held samples as history, and readers that
    /// already got them from the original writers do not get them again.
    pub fn create_writer_preloaded(
        &mut self,
        now: Instant,
        desc: EndpointConfig,
        preload: Vec<WriteChange>,
        no_history_for: Vec<Guid>,
    ) -> Guid {
        let kind = if desc.keyed { EntityId::KIND_WRITER_WITH_KEY } else { EntityId::KIND_WRITER_NO_KEY };
        let id = self.next_entity(kind);
        let guid = Guid::new(self.config.guid_prefix, id);
        let params = WriterParams {
            guid,
            reliable: desc.qos.reliability.kind == ReliabilityKind::Reliable,
            keyed: desc.keyed,
            durability: desc.qos.durability,
            history: desc.qos.history,
            heartbeat_period: self.config.heartbeat_period,
            max_message_size: self.config.max_message_size,
            fragment_size: self.config.fragment_size,
            max_samples: usize::try_from(desc.qos.resource_limits.max_samples).ok().filter(|m| *m > 0),
            flow: self.config.writer_flow_limit,
            piggyback_every: self.config.piggyback_heartbeat_every,
            nack_response_delay: self.config.nack_response_delay,
            use_multicast: self.config.use_multicast_for_data,
            pool: self.pool.clone(),
        };
        let mut writer = Writer::new(params);
        for c in preload {
            let cc = CacheChange {
                kind: c.kind,
                key_hash: c.key_hash,
                payload: c.payload,
                source_timestamp: c.source_timestamp,
                related_sample_identity: c.related_sample_identity,
                original_writer: c.original_writer.map(|o| *o),
                coherent_set: None,
                filtered_out: Vec::new(),
                group: None,
            };
            writer.write(now, cc, &mut self.outbox);
        }
        writer.no_history_for = no_history_for.into_iter().collect();
        self.writers.insert(id, writer);
        self.liveliness.add_local(now, id, &desc.qos.liveliness);
        let mut data = EndpointData::new(guid, &desc.topic_name, &desc.type_name, desc.qos);
        data.unicast_locators = self.config.default_unicast.clone();
        data.type_information = desc.type_information;
        data.group_guid = desc.group;
        self.announce(now, EntityId::SEDP_PUBLICATIONS_WRITER, &data);
        self.local_writers.insert(id, data);
        let remote: Vec<Guid> = self.db.readers.keys().copied().collect();
        for r in remote {
            self.try_match_remote_reader(now, id, r);
        }
        let locals: Vec<EntityId> = self.local_readers.keys().copied().collect();
        for r in locals {
            self.try_match_local(id, r);
        }
        guid
    }

    /// Creates a user reader and announces it through SEDP.
    pub fn create_reader(&mut self, now: Instant, desc: EndpointConfig) -> Guid {
        let kind = if desc.keyed { EntityId::KIND_READER_WITH_KEY } else { EntityId::KIND_READER_NO_KEY };
        let id = self.next_entity(kind);
        let guid = Guid::new(self.config.guid_prefix, id);
        let mut reader = Reader::new(guid, self.config.heartbeat_response_delay);
        let p = &desc.qos.presentation;
        reader.set_coherent_access(
            p.coherent_access,
            p.access_scope == AccessScope::Group,
            desc.content_filter.is_some(),
        );
        reader.group = desc.group.map(|g| g.entity_id);
        self.readers.insert(id, reader);
        let mut data = EndpointData::new(guid, &desc.topic_name, &desc.type_name, desc.qos);
        data.unicast_locators = self.config.default_unicast.clone();
        data.type_information = desc.type_information;
        data.content_filter = desc.content_filter;
        data.group_guid = desc.group;
        self.announce(now, EntityId::SEDP_SUBSCRIPTIONS_WRITER, &data);
        self.local_readers.insert(id, data);
        let remote: Vec<Guid> = self.db.writers.keys().copied().collect();
        for w in remote {
            self.try_match_remote_writer(id, w);
        }
        let locals: Vec<EntityId> = self.local_writers.keys().copied().collect();
        for w in locals {
            self.try_match_local(w, id);
        }
        guid
    }

    fn announce(&mut self, now: Instant, sedp_writer: EntityId, data: &EndpointData) {
        let mut buf = Vec::with_capacity(512);
        data.encode(&mut buf);
        self.write_builtin(now, sedp_writer, ChangeKind::Alive, KeyHash(data.guid.to_bytes()), buf);
    }

    fn announce_removal(&mut self, now: Instant, sedp_writer: EntityId, guid: Guid) {
        let mut buf = vec![0x00, 0x03, 0x00, 0x00];
        let mut pl = ParameterListWriter::new(&mut buf, Endian::Little);
        pl.raw(pid::ENDPOINT_GUID, &guid.to_bytes());
        pl.finish();
        self.write_builtin(now, sedp_writer, ChangeKind::DisposedUnregistered, KeyHash(guid.to_bytes()), buf);
    }

    /// Deletes a local writer, announcing its removal.
    pub fn delete_writer(&mut self, now: Instant, writer: Guid) {
        let id = writer.entity_id;
        if writer.prefix != self.config.guid_prefix || self.local_writers.remove(&id).is_none() {
            return;
        }
        self.liveliness.remove_local(id);
        if let Some(w) = self.writers.remove(&id) {
            for r in w.readers.keys() {
                self.events.push_back(Event::PublicationMatched {
                    writer,
                    reader: *r,
                    matched: false,
                    current_count: 0,
                });
            }
            for r in &w.local_readers {
                if let Some(reader) = self.readers.get(&r.entity_id) {
                    let count = self.local_match_count(&r.entity_id, Some(id)) + reader.writers.len() as u32;
                    self.events.push_back(Event::SubscriptionMatched {
                        reader: *r,
                        writer,
                        matched: false,
                        current_count: count,
                    });
                }
            }
        }
        self.announce_removal(now, EntityId::SEDP_PUBLICATIONS_WRITER, writer);
    }

    /// Deletes a local reader, announcing its removal.
    pub fn delete_reader(&mut self, now: Instant, reader: Guid) {
        let id = reader.entity_id;
        if reader.prefix != self.config.guid_prefix || self.local_readers.remove(&id).is_none() {
            return;
        }
        self.readers.remove(&id);
        for w in self.writers.values_mut() {
            if let Some(pos) = w.local_readers.iter().position(|g| *g == reader) {
                w.local_readers.remove(pos);
                let count = (w.readers.len() + w.local_readers.len()) as u32;
                self.events.push_back(Event::PublicationMatched {
                    writer: w.guid(),
                    reader,
                    matched: false,
                    current_count: count,
                });
            }
        }
        self.announce_removal(now, EntityId::SEDP_SUBSCRIPTIONS_WRITER, reader);
    }

    fn local_match_count(&self, reader: &EntityId, excluding: Option<EntityId>) -> u32 {
        let guid = Guid::new(self.config.guid_prefix, *reader);
        self.writers.iter().filter(|(id, w)| Some(**id) != excluding && w.local_readers.contains(&guid)).count() as u32
    }

    /// Changes (or sets, or clears) the content filter of a local reader and announces it again through SEDP,
    /// so that matched writers filter with the new expression and parameters.
    pub fn set_reader_content_filter(&mut self, now: Instant, reader: Guid, filter: Option<ContentFilterProperty>) {
        if reader.prefix != self.config.guid_prefix {
            return;
        }
        let Some(data) = self.local_readers.get_mut(&reader.entity_id) else { return };
        data.content_filter = filter;
        let data = data.clone();
        self.announce(now, EntityId::SEDP_SUBSCRIPTIONS_WRITER, &data);
    }

    /// The discovery data of the remote readers matched with local `writer` that announced a content filter
    /// (CONTENT_FILTER_PROPERTY). A writer that can evaluate one may leave out, with
    /// [`Participant::write_filtered`], the readers whose filter a sample does not pass.
    pub fn matched_filtered_readers(&self, writer: Guid) -> impl Iterator<Item = &EndpointData> + '_ {
        let w = if writer.prefix == self.config.guid_prefix { self.writers.get(&writer.entity_id) } else { None };
        w.into_iter()
            .flat_map(|w| w.readers.keys())
            .filter_map(|g| self.db.readers.get(g))
            .filter(|d| d.content_filter.is_some())
    }

    /// Samples that local `writer` did not send to a matched reader because they do not pass its content
    /// filter (one per sample and reader).
    pub fn samples_filtered(&self, writer: Guid) -> u64 {
        self.writers.get(&writer.entity_id).map_or(0, Writer::samples_filtered)
    }

    /// Writes a change on a local writer; returns its sequence number.
    pub fn write(&mut self, now: Instant, writer: Guid, change: WriteChange) -> Result<SequenceNumber, WriteError> {
        self.write_filtered(now, writer, change, Vec::new())
    }

    /// Writes a change that the matched remote readers in `filtered_out` must not receive (their content
    /// filter rejects it): they are sent no DATA for it, and reliable ones a GAP, so that reliability still
    /// completes. Local readers get every change (they filter on arrival).
    pub fn write_filtered(
        &mut self,
        now: Instant,
        writer: Guid,
        change: WriteChange,
        filtered_out: Vec<Guid>,
    ) -> Result<SequenceNumber, WriteError> {
        let id = writer.entity_id;
        if writer.prefix != self.config.guid_prefix || !self.local_writers.contains_key(&id) {
            return Err(WriteError { kind: WriteErrorKind::UnknownWriter, change });
        }
        match self.writers.get(&id) {
            None => return Err(WriteError { kind: WriteErrorKind::UnknownWriter, change }),
            Some(w) if w.is_full() => return Err(WriteError { kind: WriteErrorKind::HistoryFull, change }),
            Some(_) => {}
        }
        let group = self.group_tag(id);
        let Some(w) = self.writers.get_mut(&id) else {
            return Err(WriteError { kind: WriteErrorKind::UnknownWriter, change });
        };
        // Local readers get the payload shared with the history; without any, it moves into the history
        // uncloned (cloning a `Bytes` made from a `Vec` allocates its shared header).
        let local_payload = (!w.local_readers.is_empty()).then(|| change.payload.clone());
        let cc = CacheChange {
            kind: change.kind,
            key_hash: change.key_hash,
            payload: change.payload,
            source_timestamp: change.source_timestamp,
            related_sample_identity: change.related_sample_identity,
            original_writer: change.original_writer.as_deref().copied(),
            coherent_set: None,
            filtered_out,
            group: group.clone(),
        };
        let sn = w.write(now, cc, &mut self.outbox);
        let coherent_set = w.last_coherent_set();
        let lively = self.liveliness.on_write(now, id);
        if let Some(payload) = local_payload {
            let local = ReceivedSample {
                writer,
                sequence_number: sn,
                kind: change.kind,
                key_hash: Some(change.key_hash),
                payload: Some(payload),
                payload_is_key: change.kind != ChangeKind::Alive,
                source_timestamp: change.source_timestamp,
                related_sample_identity: change.related_sample_identity,
                original_writer: change.original_writer.map(|o| *o),
                coherent_set,
                group,
            };
            self.write_reached_others = true;
            self.deliver_local(now, writer, local);
        } else {
            self.write_reached_others = !lively.changes.is_empty() || !lively.lost.is_empty() || !lively.pmd.is_empty();
        }
        self.apply_liveliness(now, lively);
        Ok(sn)
    }

    /// After a successful [`Participant::write_filtered`] (or [`Participant::write`]) by `writer`: the
    /// earliest deadline the write can have brought forward, which is `writer`'s own or the liveliness
    /// timers', so a driver can compare that with the timer it has armed instead of asking
    /// [`Participant::poll_timeout`], which looks at every endpoint. `None` when the write reached further
    /// (local readers, liveliness changes) and only `poll_timeout` tells.
    pub fn deadline_after_write(&self, writer: Guid) -> Option<Option<Instant>> {
        if self.write_reached_others {
            return None;
        }
        let w = self.writers.get(&writer.entity_id)?;
        Some([w.next_deadline(), self.liveliness.next_timeout()].into_iter().flatten().min())
    }

    // ----- liveliness -----------------------------------------------------------------------

    /// Asserts the liveliness of a local writer (`DataWriter::assert_liveliness`):
    /// MANUAL_BY_TOPIC sends a HEARTBEAT with the liveliness flag, MANUAL_BY_PARTICIPANT
    /// asserts the participant (a manual PMD). Nothing happens for AUTOMATIC writers
    /// or writers with an infinite lease.
    pub fn assert_liveliness(&mut self, now: Instant, writer: Guid) {
        if writer.prefix != self.config.guid_prefix || !self.local_writers.contains_key(&writer.entity_id) {
            return;
        }
        let (heartbeat, out) = self.liveliness.assert_writer(now, writer.entity_id);
        if heartbeat {
            if let Some(w) = self.writers.get_mut(&writer.entity_id) {
                w.send_liveliness_heartbeat(&mut self.outbox);
            }
        }
        self.apply_liveliness(now, out);
    }

    /// Asserts the liveliness of this participant's MANUAL_BY_PARTICIPANT writers
    /// (`DomainParticipant::assert_liveliness`): sends a manual PMD.
    pub fn assert_participant_liveliness(&mut self, now: Instant) {
        let out = self.liveliness.assert_participant_liveliness(now);
        self.apply_liveliness(now, out);
    }

    /// True while the writer (local or remote) is alive as far as this participant knows.
    pub fn writer_alive(&self, writer: &Guid) -> bool {
        if writer.prefix == self.config.guid_prefix {
            self.liveliness.local_alive(writer.entity_id)
        } else {
            self.liveliness.remote_alive(writer)
        }
    }

    /// Tells readers about liveliness changes, writers about lost liveliness, and writes PMDs.
    fn apply_liveliness(&mut self, now: Instant, out: liveliness::Output) {
        self.liveliness_changes(&out.changes);
        for writer in out.lost {
            tracing::debug!(%writer, "liveliness lost");
            self.events.push_back(Event::LivelinessLost { writer });
        }
        for kind in out.pmd {
            let pmd = ParticipantMessageData::new(self.config.guid_prefix, kind);
            self.write_builtin(now, EntityId::P2P_MESSAGE_WRITER, ChangeKind::Alive, pmd.key_hash(), pmd.encode());
        }
    }

    /// Queues a [`Event::LivelinessChanged`] for every local reader matched with each changed writer.
    fn liveliness_changes(&mut self, changes: &[liveliness::Change]) {
        for c in changes {
            tracing::debug!(writer = %c.writer, alive = c.alive, "writer liveliness changed");
            if c.writer.prefix == self.config.guid_prefix {
                let Some(w) = self.writers.get(&c.writer.entity_id) else { continue };
                for r in &w.local_readers {
                    self.events.push_back(Event::LivelinessChanged { reader: *r, writer: c.writer, alive: c.alive });
                }
            } else {
                for (id, r) in &self.readers {
                    if self.local_readers.contains_key(id) && r.writers.contains_key(&c.writer) {
                        self.events.push_back(Event::LivelinessChanged {
                            reader: r.guid,
                            writer: c.writer,
                            alive: c.alive,
                        });
                    }
                }
            }
        }
    }

    /// Hands a change of local writer `writer` to its matched local readers.
    fn deliver_local(&mut self, now: Instant, writer: Guid, sample: ReceivedSample) {
        let Some(w) = self.writers.get(&writer.entity_id) else { return };
        if w.local_readers.is_empty() {
            return;
        }
        let readers: Vec<EntityId> = w.local_readers.iter().map(|g| g.entity_id).collect();
        let mut deliver = std::mem::take(&mut self.deliver);
        for id in readers {
            if let Some(r) = self.readers.get_mut(&id) {
                deliver.push(sample.clone());
                r.present(&writer, &mut deliver, 0);
            }
            self.dispatch(now, id, VendorId::STARLING, &mut deliver);
        }
        self.deliver = deliver;
    }

    /// Opens a coherent set on a local writer (PRESENTATION coherent_access): the changes it writes until
    /// [`Participant::end_coherent_set`] reach readers with coherent access together or not at all.
    ///
    /// A writer with GROUP access scope and a Publisher group also opens the Publisher's group coherent
    /// set (if not open yet): what all of the group's writers write until the set ends is one set, which
    /// subscribers with GROUP scope deliver across their readers whole or not at all.
    pub fn begin_coherent_set(&mut self, writer: Guid) {
        if writer.prefix != self.config.guid_prefix {
            return;
        }
        let Some(d) = self.local_writers.get(&writer.entity_id) else { return };
        if let (true, true, Some(g)) = (group_scoped(d), d.qos.presentation.coherent_access, d.group_guid) {
            let pg = self.pub_groups.entry(g.entity_id).or_default();
            if !pg.open {
                pg.open = true;
                pg.start = None;
                pg.members.clear();
            }
        }
        if let Some(w) = self.writers.get_mut(&writer.entity_id) {
            w.begin_coherent();
        }
    }

    /// The group sequence number and group coherent set of the next change of local writer `id` (GROUP
    /// access scope), counting it.
    fn group_tag(&mut self, id: EntityId) -> Option<Box<GroupTag>> {
        let d = self.local_writers.get(&id)?;
        if !group_scoped(d) {
            return None;
        }
        let coherent = d.qos.presentation.coherent_access;
        let pg = self.pub_groups.entry(d.group_guid?.entity_id).or_default();
        pg.gsn += 1;
        let set = if pg.open && coherent {
            *pg.members.entry(id).or_default() += 1;
            Some(SequenceNumber(*pg.start.get_or_insert(pg.gsn)))
        } else {
            None
        };
        Some(Box::new(GroupTag { seq: Some(SequenceNumber(pg.gsn)), set, writers: Vec::new() }))
    }

    /// Closes the coherent set open on a local writer, sending its end marker if the set has changes.
    ///
    /// For a writer with GROUP access scope this ends the Publisher's group coherent set: every writer of
    /// the group that wrote in it sends its end marker, each naming the set and all the writers that took
    /// part (with their change counts), so that a subscriber can tell when it has the whole set.
    pub fn end_coherent_set(&mut self, now: Instant, writer: Guid) {
        if writer.prefix != self.config.guid_prefix {
            return;
        }
        let Some(d) = self.local_writers.get(&writer.entity_id) else { return };
        if let (true, true, Some(g)) = (group_scoped(d), d.qos.presentation.coherent_access, d.group_guid) {
            if self.pub_groups.get(&g.entity_id).is_some_and(|pg| pg.open) {
                self.end_group_coherent_set(now, g);
            }
        }
        self.end_writer_coherent_set(now, writer, None);
    }

    /// Ends the open group coherent set of local Publisher `group` on all its writers.
    fn end_group_coherent_set(&mut self, now: Instant, group: Guid) {
        let Some(pg) = self.pub_groups.get_mut(&group.entity_id) else { return };
        pg.open = false;
        let start = pg.start.take();
        let members: Vec<(EntityId, u32)> = std::mem::take(&mut pg.members).into_iter().collect();
        let writers: Vec<EntityId> = self
            .local_writers
            .iter()
            .filter(|(_, d)| d.group_guid == Some(group) && group_scoped(d) && d.qos.presentation.coherent_access)
            .map(|(id, _)| *id)
            .collect();
        for id in writers {
            let tag =
                start.map(|s| Box::new(GroupTag { seq: None, set: Some(SequenceNumber(s)), writers: members.clone() }));
            self.end_writer_coherent_set(now, Guid::new(self.config.guid_prefix, id), tag);
        }
    }

    /// Closes one writer's coherent set, sending (and delivering locally) its end marker.
    fn end_writer_coherent_set(&mut self, now: Instant, writer: Guid, group: Option<Box<GroupTag>>) {
        let Some(w) = self.writers.get_mut(&writer.entity_id) else { return };
        let Some(sn) = w.end_coherent(now, &mut self.outbox, group.clone()) else { return };
        let marker = ReceivedSample {
            writer,
            sequence_number: sn,
            kind: ChangeKind::Alive,
            key_hash: None,
            payload: None,
            payload_is_key: false,
            source_timestamp: None,
            related_sample_identity: None,
            original_writer: None,
            coherent_set: None,
            group,
        };
        self.deliver_local(now, writer, marker);
    }

    /// Sets or clears the flow limit of a local writer.
    pub fn set_writer_flow_limit(&mut self, writer: Guid, flow: Option<super::config::FlowLimit>) {
        if writer.prefix == self.config.guid_prefix && self.local_writers.contains_key(&writer.entity_id) {
            if let Some(w) = self.writers.get_mut(&writer.entity_id) {
                w.set_flow(flow);
            }
        }
    }

    /// True when every matched reliable reader has acknowledged everything `writer` wrote.
    pub fn is_acked_by_all(&self, writer: Guid) -> bool {
        self.writers.get(&writer.entity_id).is_none_or(|w| w.is_acked_by_all())
    }

    // ----- matching -------------------------------------------------------------------------

    fn try_match_local(&mut self, w: EntityId, r: EntityId) {
        let (Some(wd), Some(rd)) = (self.local_writers.get(&w), self.local_readers.get(&r)) else { return };
        if wd.topic_name != rd.topic_name || wd.type_name != rd.type_name {
            return;
        }
        if !partitions_match(&wd.qos.partition, &rd.qos.partition) {
            return;
        }
        let (wg, rg) = (wd.guid, rd.guid);
        let types = type_match(&self.types, wd, rd);
        let compatible = match types {
            TypeMatch::Match => check_compatible(&wd.qos, &rd.qos),
            TypeMatch::NotAssignable => Err(QosPolicyId::TypeConsistency),
            TypeMatch::Pending => {
                self.wait_for_types(PendingMatch::Local { writer: w, reader: r });
                return;
            }
        };
        if let Err(policy) = compatible {
            self.events.push_back(Event::OfferedIncompatibleQos { writer: wg, reader: rg, policy });
            self.events.push_back(Event::RequestedIncompatibleQos { reader: rg, writer: wg, policy });
            return;
        }
        let Some(writer) = self.writers.get_mut(&w) else { return };
        if writer.local_readers.contains(&rg) {
            return;
        }
        writer.local_readers.push(rg);
        let wc = (writer.readers.len() + writer.local_readers.len()) as u32;
        self.events.push_back(Event::PublicationMatched { writer: wg, reader: rg, matched: true, current_count: wc });
        let rc = self.readers.get(&r).map_or(0, |x| x.writers.len() as u32) + self.local_match_count(&r, None);
        self.events.push_back(Event::SubscriptionMatched { reader: rg, writer: wg, matched: true, current_count: rc });
        if !self.liveliness.local_alive(w) {
            self.events.push_back(Event::LivelinessChanged { reader: rg, writer: wg, alive: false });
        }
    }

    fn try_match_remote_reader(&mut self, now: Instant, w: EntityId, remote: Guid) {
        let (Some(wd), Some(rd)) = (self.local_writers.get(&w), self.db.readers.get(&remote)) else { return };
        if wd.topic_name != rd.topic_name || wd.type_name != rd.type_name {
            return;
        }
        if !partitions_match(&wd.qos.partition, &rd.qos.partition) {
            return;
        }
        let wg = wd.guid;
        let compatible = match type_match(&self.types, wd, rd) {
            TypeMatch::Match => check_compatible(&wd.qos, &rd.qos),
            TypeMatch::NotAssignable => Err(QosPolicyId::TypeConsistency),
            TypeMatch::Pending => {
                self.wait_for_types(PendingMatch::RemoteReader { writer: w, reader: remote });
                return;
            }
        };
        if let Err(policy) = compatible {
            self.events.push_back(Event::OfferedIncompatibleQos { writer: wg, reader: remote, policy });
            return;
        }
        let reliable = rd.qos.reliability.kind == ReliabilityKind::Reliable
            && wd.qos.reliability.kind == ReliabilityKind::Reliable;
        let wants_history = rd.qos.durability >= DurabilityKind::TransientLocal;
        // Starling readers drop changes relayed by durability services that they already have.
        let dedupes = rd.vendor_id == VendorId::STARLING;
        let locators = self.db.endpoint_locators(rd);
        let mut proxy = ReaderProxy::new(remote, locators, reliable);
        proxy.multicast = self.db.endpoint_multicast_locators(rd);
        // Connext's GROUP-scope readers hold every sample until a HEARTBEAT_VIRTUAL arrives.
        proxy.virtual_heartbeat =
            rd.expects_virtual_heartbeat && rd.qos.presentation.access_scope == crate::qos::AccessScope::Group;
        let Some(writer) = self.writers.get_mut(&w) else { return };
        if writer.readers.contains_key(&remote) {
            return;
        }
        let wants_history = wants_history && writer.relays_history_to(dedupes);
        writer.add_reader(now, proxy, wants_history, &mut self.outbox);
        let count = (writer.readers.len() + writer.local_readers.len()) as u32;
        self.events.push_back(Event::PublicationMatched {
            writer: wg,
            reader: remote,
            matched: true,
            current_count: count,
        });
    }

    fn try_match_remote_writer(&mut self, r: EntityId, remote: Guid) {
        let (Some(rd), Some(wd)) = (self.local_readers.get(&r), self.db.writers.get(&remote)) else { return };
        if wd.topic_name != rd.topic_name || wd.type_name != rd.type_name {
            return;
        }
        if !partitions_match(&wd.qos.partition, &rd.qos.partition) {
            return;
        }
        let rg = rd.guid;
        let compatible = match type_match(&self.types, wd, rd) {
            TypeMatch::Match => check_compatible(&wd.qos, &rd.qos),
            TypeMatch::NotAssignable => Err(QosPolicyId::TypeConsistency),
            TypeMatch::Pending => {
                self.wait_for_types(PendingMatch::RemoteWriter { reader: r, writer: remote });
                return;
            }
        };
        if let Err(policy) = compatible {
            self.events.push_back(Event::RequestedIncompatibleQos { reader: rg, writer: remote, policy });
            return;
        }
        let reliable = rd.qos.reliability.kind == ReliabilityKind::Reliable
            && wd.qos.reliability.kind == ReliabilityKind::Reliable;
        let locators = self.db.endpoint_locators(wd);
        let local_count = self.local_match_count(&r, None);
        let Some(reader) = self.readers.get_mut(&r) else { return };
        if reader.writers.contains_key(&remote) {
            return;
        }
        reader.add_writer(WriterProxy::new(remote, locators, reliable), &mut self.outbox);
        let count = reader.writers.len() as u32 + local_count;
        self.events.push_back(Event::SubscriptionMatched {
            reader: rg,
            writer: remote,
            matched: true,
            current_count: count,
        });
        if !self.liveliness.remote_alive(&remote) {
            self.events.push_back(Event::LivelinessChanged { reader: rg, writer: remote, alive: false });
        }
    }

    /// Remembers a pair to match once the TypeObjects it needs arrive (or their lookup is given up).
    fn wait_for_types(&mut self, pair: PendingMatch) {
        if !self.pending_type_matches.contains(&pair) {
            tracing::debug!(?pair, "matching waits for TypeObjects");
            self.pending_type_matches.push(pair);
        }
    }

    /// Tries the pairs that waited for TypeObjects again; those still waiting are kept.
    fn retry_type_matches(&mut self, now: Instant) {
        for pair in std::mem::take(&mut self.pending_type_matches) {
            match pair {
                PendingMatch::Local { writer, reader } => self.try_match_local(writer, reader),
                PendingMatch::RemoteReader { writer, reader } => self.try_match_remote_reader(now, writer, reader),
                PendingMatch::RemoteWriter { reader, writer } => self.try_match_remote_writer(reader, writer),
            }
        }
    }

    fn unmatch_remote_writer(&mut self, remote: Guid) {
        self.unmatch_remote_writer_inner(remote);
        // Sets that waited for this writer's part may be decided now.
        self.resolve_group_sets();
    }

    fn unmatch_remote_writer_inner(&mut self, remote: Guid) {
        let ids: Vec<EntityId> = self.local_readers.keys().copied().collect();
        for id in ids {
            let local_count = self.local_match_count(&id, None);
            if let Some(reader) = self.readers.get_mut(&id) {
                if reader.remove_writer(&remote) {
                    let count = reader.writers.len() as u32 + local_count;
                    self.events.push_back(Event::SubscriptionMatched {
                        reader: reader.guid,
                        writer: remote,
                        matched: false,
                        current_count: count,
                    });
                }
            }
        }
    }

    fn unmatch_remote_reader(&mut self, remote: Guid) {
        let ids: Vec<EntityId> = self.local_writers.keys().copied().collect();
        for id in ids {
            if let Some(writer) = self.writers.get_mut(&id) {
                if writer.remove_reader(&remote) {
                    let count = (writer.readers.len() + writer.local_readers.len()) as u32;
                    self.events.push_back(Event::PublicationMatched {
                        writer: writer.guid(),
                        reader: remote,
                        matched: false,
                        current_count: count,
                    });
                }
            }
        }
    }

    // ----- receive path ---------------------------------------------------------------------

    /// Processes one received datagram. Malformed input is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.datagrams_received += 1;
        let (header, iter) = match crate::wire::message::parse(datagram) {
            Ok(x) => x,
            Err(DecodeError::NotRtps) => {
                self.stats.datagrams_ignored += 1;
                return;
            }
            Err(e) => {
                self.stats.datagrams_malformed += 1;
                tracing::debug!(error = %e, "dropped malformed datagram");
                return;
            }
        };
        if header.guid_prefix == self.config.guid_prefix {
            return;
        }
        self.db.renew(&header.guid_prefix, now);
        let mut lively = Vec::new();
        self.liveliness.on_datagram(now, header.guid_prefix, &mut lively);
        let mut src = header.guid_prefix;
        let mut vendor = header.vendor_id;
        let mut for_us = true;
        let mut ts = None;
        for sm in iter {
            let sm = match sm {
                Ok(sm) => sm,
                Err(e) => {
                    self.stats.datagrams_malformed += 1;
                    tracing::debug!(error = %e, from = %src, "dropped malformed submessage");
                    break;
                }
            };
            match sm {
                Submessage::InfoTs(t) => ts = t.timestamp,
                Submessage::InfoDst(d) => {
                    for_us = d.guid_prefix == GuidPrefix::UNKNOWN || d.guid_prefix == self.config.guid_prefix
                }
                Submessage::InfoSrc(s) => {
                    src = s.guid_prefix;
                    vendor = s.vendor_id;
                    ts = None;
                    for_us = true;
                }
                _ if !for_us => self.stats.submessages_skipped += 1,
                Submessage::Data(d) => {
                    let writer = Guid::new(src, d.writer_id);
                    if !d.writer_id.is_builtin() && self.liveliness.tracks_manual(&src) {
                        self.liveliness.on_writer_asserted(now, writer, false, &mut lively);
                    }
                    self.flush_liveliness(&mut lively);
                    self.on_data(now, Incoming { writer, vendor }, ts, &d)
                }
                Submessage::DataFrag(df) => {
                    let writer = Guid::new(src, df.writer_id);
                    if !df.writer_id.is_builtin() && self.liveliness.tracks_manual(&src) {
                        self.liveliness.on_writer_asserted(now, writer, false, &mut lively);
                    }
                    self.flush_liveliness(&mut lively);
                    let iq = parse_inline_qos(df.inline_qos.as_ref(), vendor);
                    let template = ReceivedSample {
                        writer,
                        sequence_number: df.writer_sn,
                        kind: iq.kind,
                        key_hash: iq.key_hash,
                        payload: None,
                        payload_is_key: df.key_flag,
                        source_timestamp: ts,
                        related_sample_identity: iq.related_sample_identity,
                        original_writer: iq.original_writer,
                        coherent_set: iq.coherent_set,
                        group: iq.group.clone(),
                    };
                    let mut deliver = std::mem::take(&mut self.deliver);
                    let ids = self.find_targets(df.reader_id, &writer);
                    for id in &ids {
                        let used: usize = self.readers.values().map(Reader::reassembly_bytes).sum();
                        let limits = FragLimits {
                            max_sample_size: self.config.max_sample_size,
                            budget: self.config.max_reassembly_bytes.saturating_sub(used),
                            per_writer: self.config.max_fragmented_samples_per_writer,
                        };
                        let accepted = self
                            .readers
                            .get_mut(id)
                            .is_none_or(|r| r.handle_data_frag(&df, template.clone(), limits, &mut deliver));
                        if !accepted {
                            self.stats.fragments_dropped += 1;
                            self.limit_hit(LimitKind::Reassembly);
                        }
                        self.dispatch(now, *id, vendor, &mut deliver);
                    }
                    self.targets = ids;
                    self.deliver = deliver;
                }
                Submessage::Heartbeat(hb) => {
                    let writer = Guid::new(src, hb.writer_id);
                    if hb.liveliness_flag && self.liveliness.tracks_manual(&src) {
                        self.liveliness.on_writer_asserted(now, writer, true, &mut lively);
                        self.flush_liveliness(&mut lively);
                    }
                    let mut deliver = std::mem::take(&mut self.deliver);
                    let ids = self.find_targets(hb.reader_id, &writer);
                    for id in &ids {
                        if let Some(reader) = self.readers.get_mut(id) {
                            reader.handle_heartbeat(now, writer, &hb, &mut deliver, &mut self.outbox);
                        }
                        self.dispatch(now, *id, vendor, &mut deliver);
                    }
                    self.targets = ids;
                    self.deliver = deliver;
                }
                Submessage::HeartbeatFrag(hbf) => {
                    let writer = Guid::new(src, hbf.writer_id);
                    let ids = self.find_targets(hbf.reader_id, &writer);
                    for id in &ids {
                        if let Some(reader) = self.readers.get_mut(id) {
                            reader.handle_heartbeat_frag(writer, &hbf, &mut self.outbox);
                        }
                    }
                    self.targets = ids;
                }
                Submessage::Gap(gap) => {
                    let writer = Guid::new(src, gap.writer_id);
                    let mut deliver = std::mem::take(&mut self.deliver);
                    let ids = self.find_targets(gap.reader_id, &writer);
                    for id in &ids {
                        if let Some(reader) = self.readers.get_mut(id) {
                            reader.handle_gap(writer, &gap, &mut deliver);
                        }
                        self.dispatch(now, *id, vendor, &mut deliver);
                    }
                    self.targets = ids;
                    self.deliver = deliver;
                }
                Submessage::AckNack(ack) => {
                    if let Some(w) = self.writers.get_mut(&ack.writer_id) {
                        w.handle_acknack(now, Guid::new(src, ack.reader_id), &ack, &mut self.outbox);
                    }
                }
                Submessage::NackFrag(nf) => {
                    if let Some(w) = self.writers.get_mut(&nf.writer_id) {
                        w.handle_nack_frag(Guid::new(src, nf.reader_id), &nf, &mut self.outbox);
                    }
                }
                _ => self.stats.submessages_skipped += 1,
            }
        }
        self.flush_liveliness(&mut lively);
    }

    /// Reports liveliness changes collected while receiving (before the samples that caused them).
    fn flush_liveliness(&mut self, changes: &mut Vec<liveliness::Change>) {
        if !changes.is_empty() {
            let c = std::mem::take(changes);
            self.liveliness_changes(&c);
        }
    }

    /// A ParticipantMessage sample from `src`.
    fn on_pmd(&mut self, now: Instant, s: &ReceivedSample) {
        if s.kind != ChangeKind::Alive {
            return;
        }
        let Some(payload) = s.payload.as_deref() else { return };
        match ParticipantMessageData::decode(payload) {
            Ok(pmd) => {
                let mut changes = Vec::new();
                self.liveliness.on_pmd(now, s.writer.prefix, &pmd, &mut changes);
                self.flush_liveliness(&mut changes);
            }
            Err(e) => {
                self.stats.discovery_malformed += 1;
                tracing::debug!(error = %e, from = %s.writer, "undecodable ParticipantMessageData");
            }
        }
    }

    /// Fills `self.targets` with the local readers matched with `writer` that
    /// `reader_id` addresses (all of them for ENTITYID_UNKNOWN).
    fn find_targets(&mut self, reader_id: EntityId, writer: &Guid) -> Vec<EntityId> {
        let mut t = std::mem::take(&mut self.targets);
        t.clear();
        if reader_id == EntityId::UNKNOWN {
            // Built-in writers match only built-in readers and user writers only user readers: the other kind
            // is skipped without a lookup (a user sample would otherwise probe every discovery reader).
            let builtin = writer.entity_id.is_builtin();
            t.extend(
                self.readers
                    .iter()
                    .filter(|(id, r)| id.is_builtin() == builtin && r.writers.contains_key(writer))
                    .map(|(id, _)| *id),
            );
        } else if self.readers.get(&reader_id).is_some_and(|r| r.writers.contains_key(writer)) {
            t.push(reader_id);
        }
        t
    }

    /// Logs the first time a limit drops something; counters keep the totals.
    /// Logs the first time a limit of this kind drops input; the drops themselves are counted in `stats`.
    fn limit_hit(&mut self, kind: LimitKind) {
        let bit = 1u8 << kind as u8;
        if self.limits_logged & bit == 0 {
            self.limits_logged |= bit;
            let what = match kind {
                LimitKind::Participants => "remote participants (max_participants)",
                LimitKind::Endpoints => "remote endpoints (max_remote_endpoints, max_endpoints_per_participant)",
                LimitKind::Reassembly => "fragment reassembly (max_sample_size, max_reassembly_bytes)",
            };
            tracing::warn!("{what}: limit reached, further input of this kind is dropped and counted in stats");
        }
    }

    fn on_data(&mut self, now: Instant, inc: Incoming, ts: Option<crate::wire::types::Time>, d: &Data<'_>) {
        let iq = parse_inline_qos(d.inline_qos.as_ref(), inc.vendor);
        if d.writer_id == EntityId::SPDP_WRITER {
            self.on_spdp(now, inc.writer.prefix, iq.kind, iq.key_hash, d.serialized_payload);
            return;
        }
        let sample = ReceivedSample {
            writer: inc.writer,
            sequence_number: d.writer_sn,
            kind: iq.kind,
            key_hash: iq.key_hash,
            // Copied out of the datagram (whose buffer is reused) into a pooled buffer, which the reader gives
            // back once it is done with it.
            payload: d.serialized_payload.map(|p| self.pool.copy(p)),
            payload_is_key: d.key_flag,
            source_timestamp: ts,
            related_sample_identity: iq.related_sample_identity,
            original_writer: iq.original_writer,
            coherent_set: iq.coherent_set,
            group: iq.group,
        };
        let mut deliver = std::mem::take(&mut self.deliver);
        let ids = self.find_targets(d.reader_id, &inc.writer);
        // The last reader gets the sample itself, the others a clone: with one matched reader (the steady
        // state) nothing is cloned.
        let mut sample = Some(sample);
        for (i, id) in ids.iter().enumerate() {
            if let Some(reader) = self.readers.get_mut(id) {
                let s = if i + 1 == ids.len() { sample.take() } else { sample.clone() };
                if let Some(s) = s {
                    reader.handle_data(s, &mut deliver);
                }
            }
            self.dispatch(now, *id, inc.vendor, &mut deliver);
        }
        // For no reader here: the copy goes straight back.
        if let Some(p) = sample.and_then(|s| s.payload) {
            self.pool.give(p);
        }
        self.targets = ids;
        self.deliver = deliver;
    }

    /// Hands samples delivered by reader `id` to discovery or to the application.
    fn dispatch(&mut self, now: Instant, id: EntityId, vendor: VendorId, deliver: &mut Vec<ReceivedSample>) {
        if let Some(r) = self.readers.get_mut(&id) {
            if r.has_group_parts() {
                let parts = r.take_group_parts();
                self.on_group_parts(id, parts);
            }
        }
        if deliver.is_empty() {
            return;
        }
        if id == EntityId::P2P_MESSAGE_READER {
            for s in std::mem::take(deliver) {
                self.on_pmd(now, &s);
            }
            return;
        }
        if id == EntityId::TL_REQUEST_READER || id == EntityId::TL_REPLY_READER {
            for s in std::mem::take(deliver) {
                self.on_type_lookup(now, id, s);
            }
            return;
        }
        if id == EntityId::SEDP_PUBLICATIONS_READER || id == EntityId::SEDP_SUBSCRIPTIONS_READER {
            let is_writer = id == EntityId::SEDP_PUBLICATIONS_READER;
            for s in std::mem::take(deliver) {
                self.on_sedp(now, vendor, is_writer, s);
            }
            return;
        }
        let reader = Guid::new(self.config.guid_prefix, id);
        if self.readers.get(&id).is_some_and(Reader::is_coherent) {
            // A complete coherent set leaves the reader in one piece: one event, so that the application
            // sees all of it or none of it.
            let mut samples = deliver.drain(..).peekable();
            while let Some(sample) = samples.next() {
                self.stats.samples_delivered += 1;
                let Some(set) = sample.coherent_set else {
                    self.events.push_back(Event::Sample { reader, sample });
                    continue;
                };
                let writer = sample.writer;
                let mut group = vec![sample];
                while let Some(next) = samples.next_if(|n| n.writer == writer && n.coherent_set == Some(set)) {
                    self.stats.samples_delivered += 1;
                    group.push(next);
                }
                self.events.push_back(Event::CoherentSet { reader, samples: group });
            }
            return;
        }
        for sample in deliver.drain(..) {
            self.stats.samples_delivered += 1;
            self.events.push_back(Event::Sample { reader, sample });
        }
    }

    /// The Publisher group of a (local or remote) writer; writers that announced none each stand alone.
    fn writer_group(&self, writer: &Guid) -> Guid {
        let data = if writer.prefix == self.config.guid_prefix {
            self.local_writers.get(&writer.entity_id)
        } else {
            self.db.writers.get(writer)
        };
        data.and_then(|d| d.group_guid).unwrap_or(*writer)
    }

    /// True when local reader `reader` is matched with `writer` (remote, or local).
    fn is_matched(&self, reader: EntityId, writer: &Guid) -> bool {
        if writer.prefix == self.config.guid_prefix {
            let r = Guid::new(self.config.guid_prefix, reader);
            self.writers.get(&writer.entity_id).is_some_and(|w| w.local_readers.contains(&r))
        } else {
            self.readers.get(&reader).is_some_and(|r| r.writers.contains_key(writer))
        }
    }

    /// Collects the parts of group coherent sets that local reader `id` received, and delivers (or drops)
    /// the sets that are now decided across the readers of its Subscriber.
    fn on_group_parts(&mut self, id: EntityId, parts: Vec<GroupPart>) {
        let subscriber = self.readers.get(&id).and_then(|r| r.group).unwrap_or(EntityId::UNKNOWN);
        for part in parts {
            let key = GroupKey { subscriber, publisher: self.writer_group(&part.writer), set: part.set };
            self.group_sets.add(key, id, part);
        }
        self.resolve_group_sets();
    }

    /// Delivers or drops the group coherent sets that can be decided (also after matches changed).
    fn resolve_group_sets(&mut self) {
        if self.group_sets.is_idle() {
            return;
        }
        let mut sets = std::mem::take(&mut self.group_sets);
        let before = sets.dropped;
        let decided = sets.resolve(|k, w| {
            let writer = Guid::new(k.publisher.prefix, w);
            self.readers
                .iter()
                .filter(|(_, r)| r.is_group_coherent() && r.group.unwrap_or(EntityId::UNKNOWN) == k.subscriber)
                .map(|(rid, _)| *rid)
                .filter(|rid| self.is_matched(*rid, &writer))
                .collect()
        });
        self.stats.incomplete_group_sets += sets.dropped - before;
        self.group_sets = sets;
        for (_, outcome) in decided {
            if let GroupOutcome::Deliver(parts) = outcome {
                let parts: Vec<(Guid, Vec<ReceivedSample>)> = parts
                    .into_iter()
                    .map(|(r, v)| {
                        self.stats.samples_delivered += v.len() as u64;
                        (Guid::new(self.config.guid_prefix, r), v)
                    })
                    .collect();
                if !parts.is_empty() {
                    self.events.push_back(Event::GroupCoherentSet { parts });
                }
            }
        }
    }

    fn on_spdp(
        &mut self,
        now: Instant,
        src: GuidPrefix,
        kind: ChangeKind,
        key_hash: Option<KeyHash>,
        payload: Option<&[u8]>,
    ) {
        if kind != ChangeKind::Alive {
            let prefix = key_hash
                .map(|k| Guid::from_bytes(k.0).prefix)
                .or_else(|| payload.and_then(key_guid).map(|g| g.prefix))
                .unwrap_or(src);
            self.remove_participant(prefix);
            return;
        }
        let Some(payload) = payload else { return };
        let data = match ParticipantData::decode(payload) {
            Ok(d) => d,
            Err(e) => {
                self.stats.discovery_malformed += 1;
                tracing::debug!(error = %e, from = %src, "undecodable SPDP data");
                return;
            }
        };
        if data.guid_prefix == self.config.guid_prefix {
            return;
        }
        if data.domain_id.is_some_and(|d| d != self.config.domain_id) || data.domain_tag != self.config.domain_tag {
            return;
        }
        let prefix = data.guid_prefix;
        let endpoints = data.builtin_endpoints;
        if !self.db.participants.contains_key(&prefix) && self.db.participants.len() >= self.config.max_participants {
            self.stats.participants_rejected += 1;
            self.limit_hit(LimitKind::Participants);
            return;
        }
        if !self.db.upsert_participant(now, data) {
            return;
        }
        tracing::debug!(participant = %prefix, "discovered participant");
        self.events.push_back(Event::ParticipantDiscovered(prefix));
        let meta = self.db.metatraffic_locators(&prefix);
        let pairs = [
            (EntityId::SEDP_PUBLICATIONS_WRITER, EntityId::SEDP_PUBLICATIONS_READER, be::PUBLICATIONS_DETECTOR),
            (EntityId::SEDP_SUBSCRIPTIONS_WRITER, EntityId::SEDP_SUBSCRIPTIONS_READER, be::SUBSCRIPTIONS_DETECTOR),
        ];
        for (ours, theirs, bit) in pairs {
            if endpoints & bit != 0 {
                if let Some(w) = self.writers.get_mut(&ours) {
                    let proxy = ReaderProxy::new(Guid::new(prefix, theirs), meta.clone(), true);
                    w.add_reader(now, proxy, true, &mut self.outbox);
                }
            }
        }
        if endpoints & be::PARTICIPANT_MESSAGE_READER != 0 {
            if let Some(w) = self.writers.get_mut(&EntityId::P2P_MESSAGE_WRITER) {
                let proxy = ReaderProxy::new(Guid::new(prefix, EntityId::P2P_MESSAGE_READER), meta.clone(), true);
                w.add_reader(now, proxy, true, &mut self.outbox);
            }
        }
        let tl_writers = [
            (EntityId::TL_REQUEST_WRITER, EntityId::TL_REQUEST_READER, be::TYPELOOKUP_REQUEST_READER),
            (EntityId::TL_REPLY_WRITER, EntityId::TL_REPLY_READER, be::TYPELOOKUP_REPLY_READER),
        ];
        for (ours, theirs, bit) in tl_writers {
            if endpoints & bit != 0 {
                if let Some(w) = self.writers.get_mut(&ours) {
                    let proxy = ReaderProxy::new(Guid::new(prefix, theirs), meta.clone(), true);
                    w.add_reader(now, proxy, false, &mut self.outbox);
                }
            }
        }
        let pairs = [
            (EntityId::SEDP_PUBLICATIONS_READER, EntityId::SEDP_PUBLICATIONS_WRITER, be::PUBLICATIONS_ANNOUNCER),
            (EntityId::SEDP_SUBSCRIPTIONS_READER, EntityId::SEDP_SUBSCRIPTIONS_WRITER, be::SUBSCRIPTIONS_ANNOUNCER),
            (EntityId::TL_REQUEST_READER, EntityId::TL_REQUEST_WRITER, be::TYPELOOKUP_REQUEST_WRITER),
            (EntityId::TL_REPLY_READER, EntityId::TL_REPLY_WRITER, be::TYPELOOKUP_REPLY_WRITER),
            (EntityId::P2P_MESSAGE_READER, EntityId::P2P_MESSAGE_WRITER, be::PARTICIPANT_MESSAGE_WRITER),
        ];
        for (ours, theirs, bit) in pairs {
            if endpoints & bit != 0 {
                if let Some(r) = self.readers.get_mut(&ours) {
                    r.add_writer(WriterProxy::new(Guid::new(prefix, theirs), meta.clone(), true), &mut self.outbox);
                }
            }
        }
        // Answer directly so the newcomer learns of us without waiting for our next announcement.
        self.send_spdp(&meta);
    }

    fn on_sedp(&mut self, now: Instant, vendor: VendorId, is_writer: bool, s: ReceivedSample) {
        let key = s.key_hash.map(|k| Guid::from_bytes(k.0));
        if s.kind != ChangeKind::Alive {
            let guid = key.or_else(|| s.payload.as_deref().and_then(key_guid));
            if let Some(g) = guid {
                if is_writer {
                    self.remove_remote_writer(g);
                } else {
                    self.remove_remote_reader(g);
                }
            }
            return;
        }
        let Some(payload) = s.payload.as_deref() else { return };
        let vendor = self.db.participants.get(&s.writer.prefix).map_or(vendor, |p| p.data.vendor_id);
        let data = match EndpointData::decode(payload, vendor, is_writer, key) {
            Ok(d) => d,
            Err(e) => {
                self.stats.discovery_malformed += 1;
                tracing::debug!(error = %e, from = %s.writer, "undecodable SEDP data");
                return;
            }
        };
        let guid = data.guid;
        if guid.prefix == self.config.guid_prefix {
            return;
        }
        let known = self.db.writers.contains_key(&guid) || self.db.readers.contains_key(&guid);
        let per_participant = || {
            let r = Guid::new(guid.prefix, EntityId::UNKNOWN)..=Guid::new(guid.prefix, EntityId([0xff; 4]));
            self.db.writers.range(r.clone()).count() + self.db.readers.range(r).count()
        };
        if !known
            && (self.db.writers.len() + self.db.readers.len() >= self.config.max_remote_endpoints
                || per_participant() >= self.config.max_endpoints_per_participant)
        {
            self.stats.endpoints_rejected += 1;
            self.limit_hit(LimitKind::Endpoints);
            return;
        }
        if let Some(info) = type_information(&data) {
            let ids = self.types.missing_for(now, &info);
            if !ids.is_empty() {
                self.request_types(now, ids);
            }
        }
        if is_writer {
            self.liveliness.add_remote(now, guid, &data.qos.liveliness);
            if self.db.writers.insert(guid, data).is_none() {
                self.events.push_back(Event::WriterDiscovered(guid));
                let ids: Vec<EntityId> = self.local_readers.keys().copied().collect();
                for id in ids {
                    self.try_match_remote_writer(id, guid);
                }
            }
        } else if self.db.readers.insert(guid, data).is_none() {
            self.events.push_back(Event::ReaderDiscovered(guid));
            let ids: Vec<EntityId> = self.local_writers.keys().copied().collect();
            for id in ids {
                self.try_match_remote_reader(now, id, guid);
            }
        }
    }

    /// Sends a getTypes request for `ids` to every peer's TypeLookup service.
    fn request_types(&mut self, now: Instant, ids: Vec<crate::xtypes::typeobject::TypeIdentifier>) {
        let Some(w) = self.writers.get(&EntityId::TL_REQUEST_WRITER) else { return };
        let Some(payload) = self.types.request(w.guid(), w.next_sn(), ids) else { return };
        self.write_builtin(now, EntityId::TL_REQUEST_WRITER, ChangeKind::Alive, KeyHash::default(), payload);
    }

    /// A TypeLookup request or reply from a peer.
    fn on_type_lookup(&mut self, now: Instant, reader: EntityId, s: ReceivedSample) {
        let Some(payload) = s.payload.as_deref() else { return };
        if s.kind != ChangeKind::Alive {
            return;
        }
        if reader == EntityId::TL_REQUEST_READER {
            let Some(answer) = self.types.answer(payload, s.writer, s.sequence_number.0) else { return };
            self.write_builtin(now, EntityId::TL_REPLY_WRITER, ChangeKind::Alive, KeyHash::default(), answer);
        } else {
            let ours = Guid::new(self.config.guid_prefix, EntityId::TL_REQUEST_WRITER);
            let learned = self.types.take_reply(payload, ours);
            if !learned.is_empty() {
                tracing::debug!(count = learned.len(), from = %s.writer, "learned TypeObjects through TypeLookup");
                self.events.push_back(Event::TypesReceived(learned));
                self.retry_type_matches(now);
            }
        }
    }

    /// Registers a local type's TypeInformation and TypeObjects (the type and
    /// its dependencies) so that peers can look them up.
    pub fn register_type(
        &mut self,
        info: &crate::xtypes::typeobject::TypeInformation,
        objects: Vec<(crate::xtypes::typeobject::TypeIdentifier, crate::xtypes::typeobject::TypeObject)>,
    ) {
        self.types.register(info, objects);
    }

    /// The type a remote writer or reader announced, once its TypeObjects are
    /// known (`None` while they are not, or when it announced none).
    pub fn resolve_remote_type(
        &self,
        remote: &Guid,
    ) -> Option<Result<crate::xtypes::DynamicType, crate::xtypes::DynamicError>> {
        let ep = self.db.writers.get(remote).or_else(|| self.db.readers.get(remote))?;
        self.types.resolve(ep)
    }

    fn remove_remote_writer(&mut self, guid: Guid) {
        if self.db.writers.remove(&guid).is_some() {
            self.liveliness.remove_remote(&guid);
            self.unmatch_remote_writer(guid);
            self.events.push_back(Event::WriterLost(guid));
        }
    }

    fn remove_remote_reader(&mut self, guid: Guid) {
        if self.db.readers.remove(&guid).is_some() {
            self.unmatch_remote_reader(guid);
            self.events.push_back(Event::ReaderLost(guid));
        }
    }

    fn remove_participant(&mut self, prefix: GuidPrefix) {
        if !self.db.participants.contains_key(&prefix) {
            return;
        }
        let (writers, readers) = self.db.remove_participant(&prefix);
        self.liveliness.remove_participant(&prefix);
        for g in writers {
            self.unmatch_remote_writer(g);
            self.events.push_back(Event::WriterLost(g));
        }
        for g in readers {
            self.unmatch_remote_reader(g);
            self.events.push_back(Event::ReaderLost(g));
        }
        for w in self.writers.values_mut() {
            let gone: Vec<Guid> = w.readers.keys().filter(|g| g.prefix == prefix).copied().collect();
            for g in gone {
                w.remove_reader(&g);
            }
        }
        for r in self.readers.values_mut() {
            let gone: Vec<Guid> = r.writers.keys().filter(|g| g.prefix == prefix).copied().collect();
            for g in gone {
                r.remove_writer(&g);
            }
        }
        self.resolve_group_sets();
        tracing::debug!(participant = %prefix, "participant gone");
        self.events.push_back(Event::ParticipantLost(prefix));
    }

    // ----- time -----------------------------------------------------------------------------

    fn send_spdp(&mut self, dests: &[Locator]) {
        if dests.is_empty() {
            return;
        }
        self.spdp_sn += 1;
        let mut qos = Vec::with_capacity(32);
        let mut pl = ParameterListWriter::new(&mut qos, Endian::Little);
        pl.raw(pid::KEY_HASH, &Guid::new(self.config.guid_prefix, EntityId::PARTICIPANT).to_bytes());
        pl.finish();
        let data = Data {
            reader_id: EntityId::SPDP_READER,
            writer_id: EntityId::SPDP_WRITER,
            writer_sn: SequenceNumber(self.spdp_sn),
            inline_qos: Some(ParameterList::new(&qos, Endian::Little)),
            serialized_payload: Some(&self.spdp_payload),
            key_flag: false,
            non_standard_payload: false,
        };
        let need = 64 + self.spdp_payload.len();
        data.encode(self.outbox.message(dests, None, None, need).buf_mut());
    }

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_spdp <= now {
            let dests = self.config.spdp_destinations.clone();
            self.send_spdp(&dests);
            let interval = if self.spdp_burst_left > 0 {
                self.spdp_burst_left -= 1;
                self.config.spdp_initial_interval
            } else {
                self.config.spdp_period
            };
            self.next_spdp = now + interval;
        }
        for prefix in self.db.expired(now) {
            tracing::debug!(participant = %prefix, "lease expired");
            self.remove_participant(prefix);
        }
        let retries = self.types.retries_due(now);
        if !retries.is_empty() {
            self.request_types(now, retries);
        }
        if !self.pending_type_matches.is_empty() {
            // Lookups given up just now let their pairs fall back to matching by type name.
            self.retry_type_matches(now);
        }
        if self.liveliness.next_timeout().is_some_and(|t| t <= now) {
            let out = self.liveliness.on_timer(now);
            self.apply_liveliness(now, out);
        }
        for w in self.writers.values_mut() {
            w.on_timer(now, &mut self.outbox);
        }
        for r in self.readers.values_mut() {
            r.on_timer(now, &mut self.outbox);
        }
    }

    /// The earliest time at which `handle_timeout` should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_spdp;
        if let Some(e) = self.db.next_expiry() {
            t = t.min(e);
        }
        if let Some(r) = self.types.next_retry() {
            t = t.min(r);
        }
        if let Some(l) = self.liveliness.next_timeout() {
            t = t.min(l);
        }
        for r in self.readers.values() {
            if let Some(d) = r.next_deadline() {
                t = t.min(d);
            }
        }
        for w in self.writers.values() {
            if let Some(d) = w.next_deadline() {
                t = t.min(d);
            }
        }
        Some(t)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.outbox.poll();
        if t.is_some() {
            self.stats.datagrams_sent += 1;
        }
        t
    }

    /// The next complete datagram, without closing the ones still being
    /// filled: lets a caller batch several writes' submessages into one
    /// datagram. Whatever is left is sent by the next [`Participant::poll_transmit`].
    pub fn poll_transmit_full(&mut self) -> Option<Transmit> {
        let t = self.outbox.poll_full();
        if t.is_some() {
            self.stats.datagrams_sent += 1;
        }
        t
    }

    /// True when submessages wait in a datagram not yet handed out by
    /// [`Participant::poll_transmit`].
    pub fn has_pending_transmit(&self) -> bool {
        self.outbox.has_pending()
    }

    /// True when [`Participant::poll_transmit`] (or, with `full_only`, [`Participant::poll_transmit_full`])
    /// would return a datagram: lets a driver skip the work of taking output when there is none.
    pub fn has_output(&self, full_only: bool) -> bool {
        self.outbox.has_ready() || (!full_only && self.outbox.has_pending())
    }

    /// Gives a sent datagram's buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.outbox.recycle(buf);
    }

    /// Gives a sent datagram back for reuse: its buffer and its destination list. A caller that hands back
    /// every [`Transmit`] this way lets the steady-state write path run without allocating.
    pub fn recycle_transmit(&mut self, t: Transmit) {
        self.outbox.recycle_transmit(t);
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Announces this participant's departure: disposes its endpoints and its
    /// SPDP data, so that peers drop it at once rather than at lease expiry.
    pub fn shutdown(&mut self, now: Instant) {
        let writers: Vec<Guid> = self.local_writers.values().map(|d| d.guid).collect();
        for g in writers {
            self.delete_writer(now, g);
        }
        let readers: Vec<Guid> = self.local_readers.values().map(|d| d.guid).collect();
        for g in readers {
            self.delete_reader(now, g);
        }
        let mut dests = self.config.spdp_destinations.clone();
        for prefix in self.db.participants.keys() {
            dests.extend(self.db.metatraffic_locators(prefix));
        }
        dests.sort();
        dests.dedup();
        self.spdp_sn += 1;
        let mut qos = Vec::with_capacity(48);
        let mut pl = ParameterListWriter::new(&mut qos, Endian::Little);
        pl.raw(pid::KEY_HASH, &Guid::new(self.config.guid_prefix, EntityId::PARTICIPANT).to_bytes());
        pl.raw(pid::STATUS_INFO, &3u32.to_be_bytes());
        pl.finish();
        let mut key = vec![0x00, 0x03, 0x00, 0x00];
        let mut kp = ParameterListWriter::new(&mut key, Endian::Little);
        kp.raw(pid::PARTICIPANT_GUID, &Guid::new(self.config.guid_prefix, EntityId::PARTICIPANT).to_bytes());
        kp.finish();
        let data = Data {
            reader_id: EntityId::SPDP_READER,
            writer_id: EntityId::SPDP_WRITER,
            writer_sn: SequenceNumber(self.spdp_sn),
            inline_qos: Some(ParameterList::new(&qos, Endian::Little)),
            serialized_payload: Some(&key),
            key_flag: true,
            non_standard_payload: false,
        };
        data.encode(self.outbox.message(&usable(&dests), None, None, 128).buf_mut());
        self.outbox.flush();
    }

    /// Remote participants currently alive.
    pub fn discovered_participants(&self) -> impl Iterator<Item = &ParticipantData> + '_ {
        self.db.participants.values().map(|p| &p.data)
    }

    /// Remote writers currently known.
    pub fn discovered_writers(&self) -> impl Iterator<Item = &EndpointData> + '_ {
        self.db.writers.values()
    }

    /// Remote readers currently known.
    pub fn discovered_readers(&self) -> impl Iterator<Item = &EndpointData> + '_ {
        self.db.readers.values()
    }

    /// Receive and send counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.shared_repairs = self.writers.values().map(Writer::shared_repairs).sum();
        s.multicast_repairs = self.writers.values().map(Writer::multicast_repairs).sum();
        s.incomplete_coherent_sets = self.readers.values().map(Reader::incomplete_sets).sum();
        s.samples_filtered = self.writers.values().map(Writer::samples_filtered).sum();
        s
    }
}

/// What the reader takes from a DATA's inline QoS.
struct InlineQos {
    kind: ChangeKind,
    key_hash: Option<KeyHash>,
    related_sample_identity: Option<SampleIdentity>,
    original_writer: Option<SampleIdentity>,
    coherent_set: Option<SequenceNumber>,
    group: Option<Box<GroupTag>>,
}

/// Extracts STATUS_INFO (as a change kind), KEY_HASH and the related sample identity from inline QoS.
/// The related identity comes from the standard `0x0083`, or from the legacy `0x800f` that RTI and
/// Fast DDS send (read only from those vendors, since `0x800f` is vendor-specific); the standard one wins.
fn parse_inline_qos(qos: Option<&ParameterList<'_>>, vendor: VendorId) -> InlineQos {
    let mut out = InlineQos {
        kind: ChangeKind::Alive,
        key_hash: None,
        related_sample_identity: None,
        coherent_set: None,
        group: None,
        original_writer: None,
    };
    let Some(qos) = qos else { return out };
    let legacy_ok = matches!(vendor, VendorId::RTI | VendorId::RTI_MICRO | VendorId::FASTDDS);
    let mut legacy = None;
    for (p, v) in qos.iter().map_while(Result::ok) {
        match p {
            pid::KEY_HASH if v.len() >= 16 => {
                let mut k = [0u8; 16];
                k.copy_from_slice(&v[..16]);
                out.key_hash = Some(KeyHash(k));
            }
            pid::STATUS_INFO if v.len() >= 4 => {
                out.kind = ChangeKind::from_status_info(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            }
            pid::RELATED_SAMPLE_IDENTITY => {
                out.related_sample_identity = SampleIdentity::read(&mut ByteReader::new(v, qos.endian)).ok();
            }
            pid::COHERENT_SET => out.coherent_set = parse_coherent_set(v, qos.endian),
            pid::GROUP_SEQ_NUM => out.group.get_or_insert_default().seq = parse_coherent_set(v, qos.endian),
            pid::GROUP_COHERENT_SET => out.group.get_or_insert_default().set = parse_coherent_set(v, qos.endian),
            pid::STARLING_GROUP_SET_WRITERS if vendor == VendorId::STARLING => {
                out.group.get_or_insert_default().writers = parse_group_writers(v, qos.endian);
            }
            // OriginalWriterInfo: GUID, SequenceNumber, then the original writer's inline QoS (not used).
            pid::ORIGINAL_WRITER_INFO => {
                out.original_writer = SampleIdentity::read(&mut ByteReader::new(v, qos.endian)).ok();
            }
            pid::RELATED_SAMPLE_IDENTITY_LEGACY if legacy_ok => {
                legacy = SampleIdentity::read(&mut ByteReader::new(v, qos.endian)).ok();
            }
            _ => {}
        }
    }
    if out.related_sample_identity.is_none() {
        out.related_sample_identity = legacy;
    }
    out
}

#[cfg(test)]
mod inline_qos_tests {
    use super::*;
    use crate::wire::cursor::Endian;

    fn identity() -> SampleIdentity {
        let mut g = [0u8; 16];
        g.iter_mut().enumerate().for_each(|(i, b)| *b = 0xa0 + i as u8);
        SampleIdentity::new(Guid::from_bytes(g), SequenceNumber((1 << 32) + 5))
    }

    fn list(endian: Endian, p: u16) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut pl = ParameterListWriter::new(&mut buf, endian);
        pl.param(p, |w| identity().write(w));
        pl.finish();
        buf
    }

    #[test]
    fn standard_pid_in_either_byte_order() {
        for e in [Endian::Little, Endian::Big] {
            let buf = list(e, pid::RELATED_SAMPLE_IDENTITY);
            let iq = parse_inline_qos(Some(&ParameterList::new(&buf, e)), VendorId::CYCLONE);
            assert_eq!(iq.related_sample_identity, Some(identity()));
            assert_eq!(iq.kind, ChangeKind::Alive);
        }
    }

    #[test]
    fn legacy_pid_only_from_rti_and_fast_dds() {
        let buf = list(Endian::Big, pid::RELATED_SAMPLE_IDENTITY_LEGACY);
        let pl = ParameterList::new(&buf, Endian::Big);
        assert_eq!(parse_inline_qos(Some(&pl), VendorId::RTI).related_sample_identity, Some(identity()));
        assert_eq!(parse_inline_qos(Some(&pl), VendorId::FASTDDS).related_sample_identity, Some(identity()));
        assert_eq!(parse_inline_qos(Some(&pl), VendorId::CYCLONE).related_sample_identity, None);
    }

    #[test]
    fn truncated_value_is_ignored() {
        let mut buf = Vec::new();
        let mut pl = ParameterListWriter::new(&mut buf, Endian::Little);
        pl.raw(pid::RELATED_SAMPLE_IDENTITY, &[1; 20]);
        pl.finish();
        let iq = parse_inline_qos(Some(&ParameterList::new(&buf, Endian::Little)), VendorId::RTI);
        assert_eq!(iq.related_sample_identity, None);
    }

    #[test]
    fn fixed_byte_form_round_trips() {
        let id = identity();
        assert_eq!(SampleIdentity::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(SampleIdentity::from_bytes(&[0; 23]), None);
    }
}
