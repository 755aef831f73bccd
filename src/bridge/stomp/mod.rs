//! STOMP 1.0, 1.1 and 1.2 endpoint over TCP and WebSocket: STOMP clients talk to each other
//! (and, through the route layer, to DDS) as through a message broker.
//!
//! # Layout
//! - [`codec`]: incremental frame decoder and encoder (sans-IO; escaping per version, limits);
//! - [`session`]: one connection's state machine (CONNECT and version negotiation, heart-beats,
//!   subscriptions and ack modes, transactions, receipts, errors), driven with time passed in;
//! - [`broker`]: shared routing (`/topic`, `/queue`, `/exchange`, `/amq/queue` destinations),
//!   per-connection bounded outboxes and their overflow policy, metrics, and the interface the
//!   DDS route layer attaches to ([`broker::StompBroker::publish_external`],
//!   [`broker::RouteHook`]);
//! - [`server`]: tokio TCP and WebSocket listeners and connection tasks.
//!
//! Users and ACLs come from the MQTT endpoint's [`Authenticator`](crate::bridge::mqtt::auth::Authenticator):
//! `login`/`passcode` are checked like an MQTT user name and password, and destinations are
//! checked as ACL topics without their leading `/` (`topic/sensors.a`, `queue/jobs`).

pub mod broker;
pub mod codec;
pub mod server;
pub mod session;

pub use broker::{Admission, RouteHook, StompBroker};
pub use server::{ServerConfig, StompHandle, StompServer};
