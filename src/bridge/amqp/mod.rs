//! AMQP 0-9-1 endpoint: pika, kombu and other RabbitMQ clients talk to each other through
//! Starling as through a RabbitMQ broker (vhost `/`, the four exchange types, publisher
//! confirms, transactions, durable queues on disk).
//!
//! # Layout
//! - [`frames`]: frame codec (outer framing here; methods and properties via `amq-protocol`);
//! - [`routing`]: topic and headers matching;
//! - [`connection`]: one connection's state machine (handshake, channels, content assembly,
//!   acks, confirms, transactions, heartbeats), sans-IO with time passed in;
//! - [`broker`]: exchanges, queues, bindings, consumers, flow control;
//! - [`store`]: the durable store (`--amqp-data`);
//! - [`server`]: tokio listener and connection tasks, and [`AmqpBroker`], the handle for the
//!   bridge's route layer.
//!
//! The frame codec is `amq-protocol` (the codec lapin uses): it decodes and encodes every
//! 0-9-1 method and the basic properties and passed the round-trip and malformed-input tests
//! here; the bridge reads the outer frame itself so it can refuse an oversized frame from its
//! header and slice body frames without copying.
//!
//! Users and their `publish`/`subscribe` patterns come from the bridge's
//! [`Authenticator`](crate::bridge::mqtt::auth::Authenticator); a publish or binding is checked as
//! [`connection::acl_name`] of its exchange and routing key, consuming as `queue/NAME`, and a
//! refusal closes the channel with 403 (ACCESS_REFUSED).

pub mod broker;
pub mod connection;
pub mod frames;
pub mod routing;
pub mod server;
pub mod store;

pub use server::{AmqpBroker, AmqpServer, AmqpServerConfig};
