//! Bridge endpoints that let non-DDS clients reach Starling.
//!
//! Each protocol endpoint is a sans-IO codec, a per-connection session state machine (time
//! passed in) and a thin tokio task that owns the socket: MQTT ([`mqtt`]), STOMP ([`stomp`]) and
//! AMQP 0-9-1 ([`amqp`], whose [`amqp::AmqpBroker`] is the attachment point for the route layer).
//! Routes to DDS topics (payloads transcoded through dynamic types) live in [`core`].

pub mod amqp;
pub mod core;
pub mod listener;
pub mod mqtt;
pub mod stomp;
