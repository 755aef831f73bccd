//! The sans-IO protocol core: a participant with its built-in discovery
//! endpoints (SPDP, SEDP), TypeLookup and ParticipantMessage (liveliness)
//! endpoints, user writers and readers, matching, participant lease expiry
//! and writer liveliness (see `liveliness.rs`).
//!
//! Nothing here owns a socket, spawns a task or reads a clock. The caller
//! passes the current time into every call and drains output:
//!
//! 1. feed input: [`Participant::handle_datagram`] for each received datagram,
//!    [`Participant::handle_timeout`] when the deadline from
//!    [`Participant::poll_timeout`] has passed, and API calls such as
//!    [`Participant::write`];
//! 2. then drain [`Participant::poll_transmit`] until `None` and send each
//!    datagram to its destinations, and [`Participant::poll_event`] until
//!    `None` and deliver each event;
//! 3. sleep until [`Participant::poll_timeout`] or the next datagram.

mod coherent;
mod config;
mod discovery;
mod event;
mod history;
mod liveliness;
mod outbox;
mod participant;
mod pool;
mod reader;
mod typelookup;
mod typematch;
mod writer;

pub use config::{FlowLimit, ParticipantConfig, ParticipantLimits, FRAGMENT_HEADROOM, IPV4_UDP_HEADERS, MIN_MTU};
pub use event::{
    ChangeKind, EndpointConfig, Event, GroupTag, ReceivedSample, Stats, Transmit, WriteChange, WriteError,
    WriteErrorKind,
};
pub use liveliness::{auto_pmd_period, ParticipantMessageData, AUTOMATIC_LIVELINESS_UPDATE, MANUAL_LIVELINESS_UPDATE};
pub use participant::Participant;
pub use pool::{PayloadPool, PoolLimits, PoolStats};

/// Hash state of the maps on the per-sample paths (writer proxies by GUID, instances by key hash, fragment
/// reassembly by sequence number): foldhash, seeded per process. SipHash, std's default, took about a fifth
/// of a subscriber's CPU time at 1 KB samples; foldhash still resists simple collision attacks by its seed.
pub type FastState = foldhash::fast::RandomState;
/// A `HashMap` with [`FastState`].
pub type FastHashMap<K, V> = std::collections::HashMap<K, V, FastState>;
/// A `HashSet` with [`FastState`].
pub type FastHashSet<K> = std::collections::HashSet<K, FastState>;
