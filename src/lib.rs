//! Starling: brokerless DDS/RTPS publish-subscribe.
#![warn(missing_docs)]

pub use starling_proto as proto;

pub mod dds;
pub mod runtime;
pub mod types;

/// QoS policies (re-exported from the core).
pub mod qos {
    pub use starling_proto::qos::*;
}
pub mod cli;
