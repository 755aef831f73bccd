//! Participant configuration: identity, locators and protocol timing.

use super::pool::PoolLimits;
use crate::wire::types::{GuidPrefix, Locator};
use std::time::Duration;

/// A writer-side flow limit: a token bucket of `burst_bytes` refilled at
/// `bytes_per_sec`, so a fast writer does not overrun its readers' socket
/// buffers. New samples wait in the history until tokens are available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowLimit {
    /// Sustained rate in bytes per second.
    pub bytes_per_sec: u64,
    /// Largest burst in bytes.
    pub burst_bytes: u64,
}

/// Bytes of IPv4 (without options) and UDP headers in front of every RTPS message.
pub const IPV4_UDP_HEADERS: usize = 28;

/// Room [`ParticipantConfig::fit_to_mtu`] leaves in a datagram beside one fragment's data: RTPS header,
/// INFO_DST, INFO_TS, the DATA_FRAG header with a key-hash inline QoS, and a piggy-backed HEARTBEAT. On
/// Ethernet (MTU 1500) it gives 1,344-byte fragments, Cyclone DDS's default.
pub const FRAGMENT_HEADROOM: usize = 128;

/// The smallest MTU [`ParticipantConfig::fit_to_mtu`] adapts to: below it a fragment would be smaller than the
/// 1,024 bytes writers use at least (IPv4 itself only guarantees 576).
pub const MIN_MTU: usize = 1024 + FRAGMENT_HEADROOM + IPV4_UDP_HEADERS;

/// Everything a [`super::Participant`] needs to know that it cannot learn
/// from the network. The runtime fills in the locators of the sockets it bound.
#[derive(Clone, Debug)]
pub struct ParticipantConfig {
    /// DDS domain id (0..=232).
    pub domain_id: u32,
    /// Participant index used for the well-known unicast ports.
    pub participant_id: u32,
    /// This participant's GUID prefix (unique per participant).
    pub guid_prefix: GuidPrefix,
    /// DOMAIN_TAG; empty by default.
    pub domain_tag: String,
    /// ENTITY_NAME announced in SPDP.
    pub entity_name: Option<String>,
    /// PROPERTY_LIST announced in SPDP.
    pub properties: Vec<(String, String)>,
    /// USER_DATA announced in SPDP.
    pub user_data: Vec<u8>,
    /// Lease duration announced in SPDP.
    pub lease_duration: Duration,
    /// Period of SPDP announcements (after the initial burst).
    pub spdp_period: Duration,
    /// Number of quick announcements at start-up.
    pub spdp_initial_burst: u32,
    /// Interval of the quick start-up announcements.
    pub spdp_initial_interval: Duration,
    /// Metatraffic unicast locators of this participant (SEDP, SPDP replies).
    pub metatraffic_unicast: Vec<Locator>,
    /// Metatraffic multicast locators this participant listens on.
    pub metatraffic_multicast: Vec<Locator>,
    /// Default unicast locators for user data.
    pub default_unicast: Vec<Locator>,
    /// Default multicast locators for user data.
    pub default_multicast: Vec<Locator>,
    /// Where SPDP announcements go: the multicast group, initial peers, localhost ports.
    pub spdp_destinations: Vec<Locator>,
    /// Whether to send user data to remote multicast locators (else unicast only).
    pub use_multicast_for_data: bool,
    /// Reliable writer heartbeat period.
    pub heartbeat_period: Duration,
    /// Delay before a writer answers a NACK.
    pub nack_response_delay: Duration,
    /// Delay before a reader answers a HEARTBEAT.
    pub heartbeat_response_delay: Duration,
    /// Largest datagram the participant builds.
    pub max_message_size: usize,
    /// DATA_FRAG fragment size for samples that do not fit one datagram.
    pub fragment_size: usize,
    /// Most remote participants tracked at once; more are ignored (and counted).
    pub max_participants: usize,
    /// Most remote writers plus readers tracked at once.
    pub max_remote_endpoints: usize,
    /// Most remote writers plus readers tracked for any one remote participant,
    /// so that one peer cannot fill the whole table.
    pub max_endpoints_per_participant: usize,
    /// Largest sample accepted for reassembly from DATA_FRAG.
    pub max_sample_size: usize,
    /// Bytes all partially reassembled samples may hold together.
    pub max_reassembly_bytes: usize,
    /// Samples being reassembled from DATA_FRAG at once per remote writer (fragments in flight); a new one
    /// makes room by dropping the oldest.
    pub max_fragmented_samples_per_writer: usize,
    /// Default flow limit for user writers (`None`: send as fast as written).
    pub writer_flow_limit: Option<FlowLimit>,
    /// A reliable writer adds a HEARTBEAT to its data after this many samples
    /// without one, so readers acknowledge bursts promptly.
    pub piggyback_heartbeat_every: u32,
    /// Bounds on the released payload buffers kept for reuse (see [`super::PayloadPool`]).
    pub payload_pool: PoolLimits,
}

/// What a participant accepts from the network at most, so that a hostile or runaway peer cannot make it
/// allocate without bound. What goes beyond a limit is dropped, counted in [`super::Stats`]
/// (`participants_rejected`, `endpoints_rejected`, `fragments_dropped`) and logged once per kind of limit.
/// [`ParticipantLimits::default`] gives the defaults of [`ParticipantConfig::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParticipantLimits {
    /// Most remote participants tracked at once (default 1024).
    pub max_participants: usize,
    /// Most remote writers plus readers tracked at once (default 16384).
    pub max_remote_endpoints: usize,
    /// Most remote writers plus readers of any one remote participant (default 2048).
    pub max_endpoints_per_participant: usize,
    /// Largest sample accepted for reassembly from DATA_FRAG (default 256 MiB).
    pub max_sample_size: usize,
    /// Bytes all partially reassembled samples may hold together (default 512 MiB).
    pub max_reassembly_bytes: usize,
    /// Samples being reassembled at once per remote writer (default 64).
    pub max_fragmented_samples_per_writer: usize,
}

impl Default for ParticipantLimits {
    fn default() -> Self {
        ParticipantConfig::new(0, 0, GuidPrefix([0; 12])).limits()
    }
}

impl ParticipantConfig {
    /// The resource limits of this configuration.
    pub fn limits(&self) -> ParticipantLimits {
        ParticipantLimits {
            max_participants: self.max_participants,
            max_remote_endpoints: self.max_remote_endpoints,
            max_endpoints_per_participant: self.max_endpoints_per_participant,
            max_sample_size: self.max_sample_size,
            max_reassembly_bytes: self.max_reassembly_bytes,
            max_fragmented_samples_per_writer: self.max_fragmented_samples_per_writer,
        }
    }

    /// Sizes datagrams to fit one link frame of `mtu` bytes (the MTU of the interface the participant sends
    /// on): `max_message_size` becomes at most `mtu` minus the IPv4 and UDP headers, and `fragment_size` at most
    /// that minus [`FRAGMENT_HEADROOM`], so that every DATA_FRAG fits a datagram too. Neither is ever raised.
    ///
    /// Why: a UDP datagram larger than the MTU is split into IP fragments and is lost when any one of them is,
    /// so at a frame loss rate p a datagram of n frames arrives with probability (1 - p)^n. A 65,000-byte
    /// datagram is 45 frames on Ethernet: at 20 % frame loss almost none arrive, first transmissions and repairs
    /// alike, and a reliable writer stops making progress. MTUs under [`MIN_MTU`] (and loopback's 64 KiB) leave
    /// the configuration as it is.
    pub fn fit_to_mtu(&mut self, mtu: usize) {
        if mtu < MIN_MTU {
            return;
        }
        let max = mtu - IPV4_UDP_HEADERS;
        self.max_message_size = self.max_message_size.min(max);
        self.fragment_size = self.fragment_size.min(self.max_message_size.saturating_sub(FRAGMENT_HEADROOM));
    }

    /// Sets all resource limits at once.
    pub fn set_limits(&mut self, limits: ParticipantLimits) {
        self.max_participants = limits.max_participants;
        self.max_remote_endpoints = limits.max_remote_endpoints;
        self.max_endpoints_per_participant = limits.max_endpoints_per_participant;
        self.max_sample_size = limits.max_sample_size;
        self.max_reassembly_bytes = limits.max_reassembly_bytes;
        self.max_fragmented_samples_per_writer = limits.max_fragmented_samples_per_writer;
    }

    /// Defaults for a participant; locators are left empty for the runtime to fill.
    pub fn new(domain_id: u32, participant_id: u32, guid_prefix: GuidPrefix) -> Self {
        ParticipantConfig {
            domain_id,
            participant_id,
            guid_prefix,
            domain_tag: String::new(),
            entity_name: None,
            properties: Vec::new(),
            user_data: Vec::new(),
            lease_duration: Duration::from_secs(10),
            spdp_period: Duration::from_secs(3),
            spdp_initial_burst: 5,
            spdp_initial_interval: Duration::from_millis(100),
            metatraffic_unicast: Vec::new(),
            metatraffic_multicast: Vec::new(),
            default_unicast: Vec::new(),
            default_multicast: Vec::new(),
            spdp_destinations: Vec::new(),
            use_multicast_for_data: false,
            heartbeat_period: Duration::from_millis(100),
            nack_response_delay: Duration::from_millis(0),
            heartbeat_response_delay: Duration::from_millis(0),
            max_message_size: 65000,
            fragment_size: 16384,
            max_participants: 1024,
            max_remote_endpoints: 16384,
            max_endpoints_per_participant: 2048,
            max_sample_size: 256 * 1024 * 1024,
            max_reassembly_bytes: 512 * 1024 * 1024,
            max_fragmented_samples_per_writer: 64,
            writer_flow_limit: None,
            piggyback_heartbeat_every: 32,
            payload_pool: PoolLimits::default(),
        }
    }
}
