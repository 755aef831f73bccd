//! Starling: brokerless DDS/RTPS publish-subscribe.
//!
//! # Layout
//! - [`dds`]: the DDS API (participant, topics, writers, readers, statuses).
//! - [`runtime`]: sockets, the per-participant tokio task, timers; the only
//!   layer that reads the clock. It drives the sans-IO core in [`proto`].
//! - [`bridge`]: endpoints for MQTT clients (STOMP and AMQP later).
//! - [`cli`]: the `starling` command-line tool (`src/bin/starling.rs`).
//! - [`types`]: built-in topic types such as `ShapeType`.
//! - [`dynamic`]: dynamically typed samples (JSON conversion of [`proto::xtypes`] values).
//! - [`qos`]: QoS policies, re-exported from the core, and OMG DDS-XML QoS profiles.
//! - [`filter`]: DDS SQL content-filter expressions.
//! - [`durability`]: the durability service for TRANSIENT and PERSISTENT data (`starling durability`).
#![warn(missing_docs)]

pub use starling_proto as proto;

pub mod bridge;
pub mod cli;
pub mod dds;
pub mod durability;
pub mod dynamic;
pub mod runtime;
pub mod types;

pub mod filter;
pub mod qos;
