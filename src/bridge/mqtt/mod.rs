//! MQTT 3.1.1 and 5.0 endpoint: MQTT clients talk to each other through Starling as through a
//! broker.
//!
//! # Layout
//! - [`codec`]: packet encode/decode (sans-IO, incremental, strict validation);
//! - [`session`]: one connection's protocol state machine (CONNECT, keep-alive, QoS flows,
//!   topic aliases, wills), driven with time passed in;
//! - [`broker`]: the shared core (topic tree, retained messages, persistent sessions, shared
//!   subscriptions, bounded per-client queues and their overflow policy, metrics);
//! - [`auth`]: the authentication/ACL hook and an in-memory Argon2 implementation;
//! - [`server`]: tokio TCP and WebSocket listeners and connection tasks.
//!
//! The codec is written here rather than taken from a broker crate: it has to be sans-IO and
//! zero-copy into the bridge's own session and queue types, and validate exactly as the bridge
//! maps errors to reason codes; broker crates bundle their own runtime and routing.

pub mod auth;
pub mod broker;
pub mod codec;
pub mod server;
pub mod session;

pub use server::{ListenerSpec, MqttServer, ServerConfig};
