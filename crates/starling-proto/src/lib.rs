//! Starling's sans-IO RTPS core.
//!
//! # Layout
//! - [`wire`]: the RTPS message codec, one file per submessage, parameter lists.
//! - [`cdr`]: CDR / XCDR1 / XCDR2 encoding, encapsulation, key hashes, the
//!   [`cdr::TopicType`] trait that typed topics implement.
//! - [`qos`]: QoS policy values and requested/offered matching.
//! - [`discovery`]: SPDP and SEDP data and their parameter-list encoding.
//! - [`core`]: the protocol state machines: participant, discovery, writers,
//!   readers. Time comes in as an argument; datagrams and events come out as data.
//!
//! Dependencies point one way: `wire`/`cdr` → `qos`/`discovery` → `core`.
#![warn(missing_docs)]

pub mod cdr;
pub mod core;
pub mod discovery;
pub mod qos;
pub mod wire;
pub mod xtypes;
