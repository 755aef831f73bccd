//! Bridge endpoints that let non-DDS clients reach Starling.
//!
//! Each protocol endpoint is a sans-IO codec, a per-connection session state machine (time
//! passed in) and a thin tokio task that owns the socket: MQTT ([`mqtt`]) and STOMP ([`stomp`]).
//! Routes to DDS topics (payloads transcoded through dynamic types) come with the bridge core.

pub mod mqtt;
pub mod stomp;
