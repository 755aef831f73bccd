//! The runtime: sockets, the per-participant task, timers and the clock.
//!
//! This is the only layer that reads `Instant::now()`; the protocol core in
//! `starling_proto::core` gets time passed in.

pub(crate) mod driver;
pub mod transport;

pub use driver::DiscoveryEvent;
pub use transport::{BoundTransport, NetInterface, TransportConfig, TransportError};

use driver::Inner;
use rand::RngCore;
use starling_proto::core::{Participant, ParticipantConfig};
use starling_proto::wire::types::{GuidPrefix, Time, VendorId};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The current wall-clock time as an RTPS timestamp.
pub fn wall_clock() -> Time {
    Time::from_nanos(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64))
}

/// Converts an RTPS timestamp to a `SystemTime` (`None` for INVALID/INFINITE).
pub fn time_to_system(t: Time) -> Option<SystemTime> {
    if t == Time::INVALID || t == Time::INFINITE {
        return None;
    }
    UNIX_EPOCH.checked_add(std::time::Duration::from_nanos(t.to_nanos()))
}

/// A fresh GUID prefix: Starling's vendor bytes, the process id, then random bytes.
pub fn new_guid_prefix() -> GuidPrefix {
    let mut p = [0u8; 12];
    p[..2].copy_from_slice(&VendorId::STARLING.0);
    p[2..6].copy_from_slice(&std::process::id().to_be_bytes());
    rand::thread_rng().fill_bytes(&mut p[6..]);
    GuidPrefix(p)
}

/// A running participant: the shared state and facts about its transport.
pub(crate) struct Started {
    pub(crate) inner: Arc<Inner>,
    pub(crate) iface: NetInterface,
    pub(crate) participant_id: u32,
    pub(crate) guid_prefix: GuidPrefix,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Reliability timing, limits and fragmentation a participant may override; `None` keeps the core's default.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tuning {
    /// Reliable writers' HEARTBEAT period.
    pub(crate) heartbeat_period: Option<std::time::Duration>,
    /// How long writers collect NACKs before repairing (shared repairs for several readers).
    pub(crate) nack_response_delay: Option<std::time::Duration>,
    /// How long readers wait before answering a HEARTBEAT.
    pub(crate) heartbeat_response_delay: Option<std::time::Duration>,
    /// Resource limits against hostile or runaway peers.
    pub(crate) limits: Option<starling_proto::core::ParticipantLimits>,
    /// DATA_FRAG fragment size.
    pub(crate) fragment_size: Option<usize>,
    /// Default flow limit of user writers.
    pub(crate) writer_flow_limit: Option<starling_proto::core::FlowLimit>,
    /// How long the receive thread polls for more user data after handling some, before it blocks.
    pub(crate) receive_spin: Option<std::time::Duration>,
}

/// Binds the sockets, creates the core and spawns the driver task on `handle`.
pub(crate) fn start(
    tc: &TransportConfig,
    entity_name: Option<String>,
    tuning: Tuning,
    handle: &tokio::runtime::Handle,
) -> Result<Started, TransportError> {
    let bound = transport::bind(tc)?;
    let guid_prefix = new_guid_prefix();
    let mut config = ParticipantConfig::new(tc.domain_id, bound.participant_id, guid_prefix);
    config.entity_name = entity_name;
    config.metatraffic_unicast = bound.metatraffic_unicast_locators.clone();
    config.metatraffic_multicast =
        if bound.spdp_multicast.is_some() { bound.metatraffic_multicast_locators.clone() } else { Vec::new() };
    config.default_unicast = bound.default_unicast_locators.clone();
    config.use_multicast_for_data = !bound.default_multicast_locators.is_empty();
    config.default_multicast = bound.default_multicast_locators.clone();
    config.spdp_destinations = bound.spdp_destinations.clone();
    // Datagrams no larger than one frame of the interface: an IP-fragmented datagram is lost with any of its
    // fragments (see ParticipantConfig::fit_to_mtu). Loopback's 64 KiB MTU changes nothing.
    if let Some(mtu) = transport::interface_mtu(&bound.iface.name) {
        config.fit_to_mtu(mtu);
        tracing::debug!(
            "{} MTU {mtu}: datagrams up to {} B, fragments of {} B",
            bound.iface.name,
            config.max_message_size,
            config.fragment_size
        );
    }
    if let Some(d) = tuning.heartbeat_period {
        config.heartbeat_period = d;
    }
    if let Some(d) = tuning.nack_response_delay {
        config.nack_response_delay = d;
    }
    if let Some(d) = tuning.heartbeat_response_delay {
        config.heartbeat_response_delay = d;
    }
    if let Some(limits) = tuning.limits {
        config.set_limits(limits);
    }
    if let Some(size) = tuning.fragment_size {
        config.fragment_size = size;
    }
    if tuning.writer_flow_limit.is_some() {
        config.writer_flow_limit = tuning.writer_flow_limit;
    }
    let iface = bound.iface.clone();
    let participant_id = bound.participant_id;
    let _entered = handle.enter();
    let core = Participant::new(config, Instant::now());
    let inner = Inner::new(core, bound)
        .map_err(|source| TransportError::Io { context: "registering sockets with the runtime".into(), source })?;
    let task = handle.spawn(driver::run(inner.clone()));
    if let Err(source) = driver::spawn_receive_thread(&inner, handle.clone(), tuning.receive_spin.unwrap_or_default()) {
        inner.shutdown();
        return Err(TransportError::Io { context: "starting the receive thread".into(), source });
    }
    Ok(Started { inner, iface, participant_id, guid_prefix, task })
}
