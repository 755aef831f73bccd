//! QoS policies (re-exported from the core) and QoS profiles loaded from
//! OMG DDS-XML files ([`xml`]).

pub use starling_proto::qos::*;

pub mod xml;

pub use xml::{ParticipantQos, QosError, QosPolicies, QosProfile, QosProvider, QosWarning};
