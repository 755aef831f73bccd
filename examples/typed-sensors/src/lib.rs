//! The types of `idl/sensors.idl`, generated at build time by `starling-idl` (see `build.rs`).
//!
//! `sensors::Reading` implements `starling::proto::cdr::TopicType`, so it is a topic type for
//! `DomainParticipant::create_topic`, with its key (`sensor_id`), extensibility (`@appendable`), XCDR1/XCDR2
//! encoding and XTypes type description (announced in discovery) all taken from the IDL.

#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/sensors.rs"));
