//! Starling: brokerless DDS/RTPS publish-subscribe.
#![warn(missing_docs)]

pub use starling_proto as proto;

pub mod runtime;
pub mod types;
