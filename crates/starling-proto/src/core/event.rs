//! What the core hands out (datagrams, events) and takes in (writes).

use crate::discovery::ContentFilterProperty;
use crate::qos::{EndpointQos, QosPolicyId};
use crate::wire::types::{EntityId, Guid, GuidPrefix, KeyHash, Locator, SampleIdentity, SequenceNumber, Time};
use bytes::Bytes;

/// A datagram to send to each of `destinations`.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// Where to send it (UDP locators).
    pub destinations: Vec<Locator>,
    /// The RTPS message.
    pub payload: Vec<u8>,
}

/// The lifecycle state a change carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ChangeKind {
    /// A new value.
    Alive,
    /// The instance was disposed.
    Disposed,
    /// The writer unregistered the instance.
    Unregistered,
    /// Disposed and unregistered at once.
    DisposedUnregistered,
}

impl ChangeKind {
    /// STATUS_INFO flags for this kind (0 for Alive).
    pub fn status_info(self) -> u32 {
        match self {
            ChangeKind::Alive => 0,
            ChangeKind::Disposed => 1,
            ChangeKind::Unregistered => 2,
            ChangeKind::DisposedUnregistered => 3,
        }
    }

    /// The kind for STATUS_INFO flags.
    pub fn from_status_info(flags: u32) -> Self {
        match flags & 3 {
            0 => ChangeKind::Alive,
            1 => ChangeKind::Disposed,
            2 => ChangeKind::Unregistered,
            _ => ChangeKind::DisposedUnregistered,
        }
    }
}

/// A change handed to [`super::Participant::write`].
#[derive(Clone, Debug)]
pub struct WriteChange {
    /// Alive, dispose or unregister.
    pub kind: ChangeKind,
    /// The instance's key hash (zero for unkeyed topics).
    pub key_hash: KeyHash,
    /// Encapsulated payload: the whole sample for `Alive`, the serialized key otherwise.
    pub payload: Bytes,
    /// Source timestamp (wall clock, from the caller).
    pub source_timestamp: Option<Time>,
    /// The sample this one answers (request/reply), sent as inline QoS `PID_RELATED_SAMPLE_IDENTITY`.
    pub related_sample_identity: Option<SampleIdentity>,
    /// For a change relayed by a durability service: the writer and sequence number it had originally, sent
    /// as inline QoS `PID_ORIGINAL_WRITER_INFO` (0x0061). Boxed: rarely set, and it keeps the change small.
    pub original_writer: Option<Box<SampleIdentity>>,
}

/// Why a write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteErrorKind {
    /// No such local writer.
    #[error("no such writer")]
    UnknownWriter,
    /// History is full (KEEP_ALL with resource limits reached).
    #[error("writer history is full")]
    HistoryFull,
}

/// A failed write, handing the change back.
#[derive(Clone, Debug, thiserror::Error)]
#[error("write failed: {kind}")]
pub struct WriteError {
    /// What went wrong.
    pub kind: WriteErrorKind,
    /// The change that was not written.
    pub change: WriteChange,
}

/// Describes a local writer or reader to create.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Topic name.
    pub topic_name: String,
    /// Registered type name.
    pub type_name: String,
    /// Whether the type has key members.
    pub keyed: bool,
    /// Endpoint QoS (topic and group policies merged in).
    pub qos: EndpointQos,
    /// TYPE_INFORMATION to announce, if any (raw XCDR2).
    pub type_information: Option<Vec<u8>>,
    /// A reader's content filter, announced as CONTENT_FILTER_PROPERTY (`None` for writers and unfiltered
    /// readers).
    pub content_filter: Option<ContentFilterProperty>,
    /// The endpoint's Publisher or Subscriber (from [`super::Participant::create_group`]), announced as
    /// GROUP_GUID. PRESENTATION with GROUP access scope ties together the endpoints of one group: group
    /// sequence numbers and group coherent sets span a Publisher's writers, and a Subscriber's readers
    /// deliver a group coherent set together.
    pub group: Option<Guid>,
}

/// Group-wide PRESENTATION information of a change (DDSI-RTPS 2.5 §8.7.6), for writers with GROUP access
/// scope and coherent or ordered access.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupTag {
    /// `PID_GROUP_SEQ_NUM` (0x0064): the change's sequence number among all changes of its Publisher's
    /// writers with GROUP scope.
    pub seq: Option<SequenceNumber>,
    /// `PID_GROUP_COHERENT_SET` (0x0063): the group coherent set the change belongs to (the group sequence
    /// number of the set's first change). End markers carry it too.
    pub set: Option<SequenceNumber>,
    /// On a group coherent set's end marker: the writers (of the sender's participant) that wrote in the set
    /// and how many changes each wrote (Starling vendor PID 0x8063).
    pub writers: Vec<(EntityId, u32)>,
}

/// A sample delivered to a local reader.
#[derive(Clone, Debug)]
pub struct ReceivedSample {
    /// The remote writer.
    pub writer: Guid,
    /// Its sequence number.
    pub sequence_number: SequenceNumber,
    /// Alive, disposed or unregistered.
    pub kind: ChangeKind,
    /// KEY_HASH if the writer sent one.
    pub key_hash: Option<KeyHash>,
    /// The encapsulated payload: data for `Alive`, data or key otherwise; may be absent
    /// for a dispose that carries only a key hash.
    pub payload: Option<Bytes>,
    /// True when `payload` holds only the serialized key.
    pub payload_is_key: bool,
    /// Source timestamp from INFO_TS.
    pub source_timestamp: Option<Time>,
    /// The sample this one answers, from inline QoS `PID_RELATED_SAMPLE_IDENTITY` (0x0083, or RTI's 0x800f).
    pub related_sample_identity: Option<SampleIdentity>,
    /// For a change relayed by a durability service: the writer and sequence number it had originally, sent
    /// as inline QoS `PID_ORIGINAL_WRITER_INFO` (0x0061).
    pub original_writer: Option<SampleIdentity>,
    /// The coherent set the change belongs to (inline QoS `PID_COHERENT_SET`: the sequence number of the
    /// set's first change), if any.
    pub coherent_set: Option<SequenceNumber>,
    /// Group sequence number and group coherent set, from writers with GROUP access scope.
    pub group: Option<Box<GroupTag>>,
}

/// Something that happened, drained with [`super::Participant::poll_event`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A remote participant was discovered.
    ParticipantDiscovered(GuidPrefix),
    /// A remote participant left or its lease expired.
    ParticipantLost(GuidPrefix),
    /// A remote writer was discovered through SEDP.
    WriterDiscovered(Guid),
    /// A remote writer went away.
    WriterLost(Guid),
    /// A remote reader was discovered through SEDP.
    ReaderDiscovered(Guid),
    /// A remote reader went away.
    ReaderLost(Guid),
    /// A local writer matched (or unmatched) a reader.
    PublicationMatched {
        /// Local writer.
        writer: Guid,
        /// Remote (or local) reader.
        reader: Guid,
        /// True when matched, false when the match ended.
        matched: bool,
        /// Readers currently matched.
        current_count: u32,
    },
    /// A local reader matched (or unmatched) a writer.
    SubscriptionMatched {
        /// Local reader.
        reader: Guid,
        /// Remote writer.
        writer: Guid,
        /// True when matched, false when the match ended.
        matched: bool,
        /// Writers currently matched.
        current_count: u32,
    },
    /// A local writer found a reader on its topic with incompatible QoS.
    OfferedIncompatibleQos {
        /// Local writer.
        writer: Guid,
        /// The reader.
        reader: Guid,
        /// The first incompatible policy.
        policy: QosPolicyId,
    },
    /// A local reader found a writer on its topic with incompatible QoS.
    RequestedIncompatibleQos {
        /// Local reader.
        reader: Guid,
        /// The writer.
        writer: Guid,
        /// The first incompatible policy.
        policy: QosPolicyId,
    },
    /// TypeObjects arrived from a peer through TypeLookup; endpoints that
    /// announced these types can now be resolved with
    /// [`super::Participant::resolve_remote_type`].
    TypesReceived(Vec<crate::xtypes::typeobject::TypeIdentifier>),
    /// The liveliness of a writer matched with a local reader changed (LIVELINESS
    /// QoS with a finite lease). A writer is alive when it matches; this reports
    /// each change after that.
    LivelinessChanged {
        /// Local reader.
        reader: Guid,
        /// The (remote or local) writer.
        writer: Guid,
        /// True when it asserted its liveliness again, false when its lease ran out.
        alive: bool,
    },
    /// A local MANUAL_BY_PARTICIPANT or MANUAL_BY_TOPIC writer did not assert its
    /// liveliness within its lease (LIVELINESS_LOST).
    LivelinessLost {
        /// Local writer.
        writer: Guid,
    },
    /// A sample for a local reader.
    Sample {
        /// Local reader.
        reader: Guid,
        /// The sample.
        sample: ReceivedSample,
    },
    /// A complete coherent set for a local reader with PRESENTATION coherent_access: its samples, in the
    /// writer's order, to be made visible to the application together.
    CoherentSet {
        /// Local reader.
        reader: Guid,
        /// The set's samples.
        samples: Vec<ReceivedSample>,
    },
    /// A complete group coherent set (GROUP access scope) for the readers of one local Subscriber: each
    /// reader's share, to be made visible together (all readers at once).
    GroupCoherentSet {
        /// Each local reader with its samples, in the Publisher's order.
        parts: Vec<(Guid, Vec<ReceivedSample>)>,
    },
}

/// Counters of what the participant received and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams dropped as malformed (bad header or a bad submessage).
    pub datagrams_malformed: u64,
    /// Datagrams that were not RTPS at all (e.g. RTI's RTPX) and were ignored.
    pub datagrams_ignored: u64,
    /// Submessages skipped for being unknown or not for us.
    pub submessages_skipped: u64,
    /// Discovery payloads that failed to decode.
    pub discovery_malformed: u64,
    /// Datagrams produced by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Samples delivered to local readers.
    pub samples_delivered: u64,
    /// Participants ignored because `max_participants` was reached.
    pub participants_rejected: u64,
    /// Remote endpoints ignored because `max_remote_endpoints` was reached.
    pub endpoints_rejected: u64,
    /// Fragmented samples dropped for exceeding the size or reassembly limits.
    pub fragments_dropped: u64,
    /// Repaired samples that writers sent once for several readers that asked for them within the nack
    /// response delay.
    pub shared_repairs: u64,
    /// Of the shared repairs, those sent once to a multicast group (writers that use multicast for data).
    pub multicast_repairs: u64,
    /// Coherent sets that readers with coherent access dropped for being incomplete.
    pub incomplete_coherent_sets: u64,
    /// Group coherent sets (GROUP access scope) that subscribers dropped whole because a part of them was
    /// missing in some reader.
    pub incomplete_group_sets: u64,
    /// Samples that writers did not send to a matched reader because its content filter rejects them (one
    /// per sample and reader).
    pub samples_filtered: u64,
}
