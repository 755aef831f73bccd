//! The runtime: sockets, the per-participant task, timers and the clock.
//!
//! This is the only layer that reads `Instant::now()`; the protocol core in
//! `starling_proto::core` gets time passed in.

pub(crate) mod driver;
pub mod transport;

pub use driver::DiscoveryEvent;
pub use transport::{BoundTransport, NetInterface, TransportConfig, TransportError};
