//! The MQTT endpoint of the bridge: the MQTT server plus a link between its broker core and the
//! hub. DDS samples are published into the broker as retained messages (the latest per instance)
//! with MQTT 5 properties; client messages on inbound filters reach the hub through an internal
//! session subscribed with No Local.
//!
//! # Expiry and request/reply
//! - DDS → MQTT: the writer's LIFESPAN (from discovery) becomes the Message Expiry Interval; the
//!   broker drops the message (and the retained copy) when it runs out and forwards the time left.
//! - MQTT → MQTT: Message Expiry Interval, Response Topic and Correlation Data travel with the
//!   message unchanged, so MQTT 5 request/response works between clients through the bridge.
//! - MQTT → DDS: an expired message is not written; the DDS sample's lifetime is the route
//!   writer's LIFESPAN QoS (DDS has no per-sample lifespan).
//! - MQTT ⇄ DDS request/reply: Response Topic and Correlation Data map to DDS-RPC's related sample
//!   identity (inline QoS `PID_RELATED_SAMPLE_IDENTITY`) as [`super::RequestReply`] describes: an
//!   MQTT request answered by a DDS replier comes back on its Response Topic with its Correlation
//!   Data; a DDS sample forwarded to MQTT carries its sample identity as Correlation Data, which an
//!   MQTT responder echoes to have its answer written as the DDS reply. DDS → MQTT messages also
//!   carry the writer GUID and sequence number as user properties, and the related sample identity
//!   of a reply as `related-sample-identity`.
//!
//! # MQTT → DDS without loss
//! A message a client publishes on an inbound filter is handed to the DDS side's bounded queue
//! ([`super::INBOUND_CAPACITY`]) by the publishing connection itself (the internal session is the
//! broker's direct sink, see [`crate::bridge::mqtt::broker::DirectSink`]), not through the
//! session's outbox: the connection waits, outside the broker lock, until the queue has taken the
//! message before it sends PUBACK (QoS 1) / PUBREC (QoS 2) or reads further packets. A DDS side
//! slower than the publishers therefore slows them through TCP; nothing acknowledged is dropped.
//! QoS 0 messages take the same path (so a publisher's messages stay in order) and are slowed
//! the same way. Wills and other in-process publishes still reach DDS through the session's
//! outbox (capacity `queue_capacity`, QoS 0 dropped oldest-first when it is full).

use super::{
    BoxFuture, BridgeError, Endpoint, EndpointContext, Hub, Inbound, ListenerConfig, Outbound, Protocol, ReplyVia,
    RequestReply,
};
use crate::bridge::mqtt::broker::{Admission, Broker, ConnectOutcome, Delivery, DirectSink, Message, Outbox};
use crate::bridge::mqtt::codec::{Properties, QoS, RetainHandling, SubscriptionOptions};
use crate::bridge::mqtt::server::RESERVED_CLIENT_PREFIX;
use crate::bridge::mqtt::{ListenerSpec, MqttServer, ServerConfig};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// Client id of the bridge's internal session.
pub(crate) fn bridge_client_id() -> String {
    format!("{RESERVED_CLIENT_PREFIX}-bridge")
}

/// The MQTT (TCP, WebSocket, with or without TLS) endpoint.
#[derive(Debug, Clone, Default)]
pub struct MqttEndpoint {
    /// Server limits (listener fields are filled from the configuration).
    pub server: ServerConfig,
}

impl Endpoint for MqttEndpoint {
    fn protocols(&self) -> &'static [Protocol] {
        &[Protocol::Mqtt, Protocol::MqttWs]
    }

    fn bind(
        &self,
        listeners: Vec<ListenerConfig>,
        ctx: EndpointContext,
    ) -> BoxFuture<Result<BoxFuture<()>, BridgeError>> {
        let mut cfg = self.server.clone();
        Box::pin(async move {
            cfg.tcp = None;
            cfg.ws = None;
            cfg.listeners.clear();
            for l in &listeners {
                let tls = l.tls.as_ref().map(super::tls::server_config).transpose()?;
                cfg.listeners.push(ListenerSpec { addr: l.address, websocket: l.protocol == Protocol::MqttWs, tls });
            }
            let server = MqttServer::bind(cfg, ctx.auth.clone()).await.map_err(|e| BridgeError::Bind {
                addr: listeners.first().map_or_else(|| ([0, 0, 0, 0], 0).into(), |l| l.address),
                message: e.to_string(),
            })?;
            for (l, a) in listeners.iter().zip(server.listener_addrs()) {
                let scheme = match (l.protocol == Protocol::MqttWs, l.tls.is_some()) {
                    (false, false) => "mqtt",
                    (false, true) => "mqtts",
                    (true, false) => "ws",
                    (true, true) => "wss",
                };
                eprintln!("starling bridge: MQTT listening on {scheme}://{a}");
            }
            let broker = server.broker();
            let link = Link::attach(broker, &ctx.hub);
            let mut stop = ctx.shutdown.clone();
            let hub = ctx.hub.clone();
            let fut: BoxFuture<()> = Box::pin(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                // The link stops only once the server has closed every connection, so that a message
                // acknowledged to its client during shutdown still reaches the DDS side.
                let (closed_tx, closed_rx) = tokio::sync::watch::channel(false);
                let serve = async move {
                    server.run(shutdown).await;
                    let _ = closed_tx.send(true);
                };
                tokio::join!(serve, link.run(hub, closed_rx));
            });
            Ok(fut)
        })
    }
}

/// Converts a message for the bridge's internal session into what the DDS side writes.
fn inbound(msg: &Message) -> Inbound {
    Inbound {
        name: msg.topic.to_string(),
        payload: msg.payload.clone(),
        properties: msg.properties.user_properties.clone(),
        rpc: RequestReply {
            response_topic: msg.properties.response_topic.clone(),
            correlation_data: msg.properties.correlation_data.clone(),
            via: ReplyVia::Mqtt,
        },
        expires_at: msg.expires_at,
    }
}

/// The internal session's direct sink: client publishes go to the hub's bounded queue, awaited
/// by the publishing connection before its acknowledgement.
struct ToDds {
    hub: Hub,
}

impl DirectSink for ToDds {
    fn admit(&self, d: Delivery) -> Admission {
        let m = inbound(&d.msg);
        let hub = self.hub.clone();
        Box::pin(async move {
            if !hub.to_dds(m).await {
                tracing::warn!("bridge: DDS side stopped, message on {} not written", d.msg.topic);
            }
        })
    }
}

struct Link {
    broker: Arc<Mutex<Broker>>,
    client: Arc<str>,
    outbox: Option<Arc<Outbox>>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, Broker> {
        self.broker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn attach(broker: Arc<Mutex<Broker>>, hub: &Hub) -> Self {
        let client: Arc<str> = bridge_client_id().into();
        let mut link = Self { broker, client, outbox: None };
        let now = Instant::now();
        let mut b = link.lock();
        let outbox = match b.connect(now, &link.client, true, u32::MAX) {
            ConnectOutcome::Accepted { outbox, .. } => Some(outbox),
            ConnectOutcome::Busy(_) => None,
        };
        if outbox.is_some() {
            let opts = SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: false,
                retain_handling: RetainHandling::DoNotSend,
            };
            b.set_direct(&link.client, Arc::new(ToDds { hub: hub.clone() }));
            for f in hub.inbound_filters() {
                if let Err(e) = b.subscribe(now, &link.client, f, opts, None) {
                    tracing::warn!("bridge: cannot subscribe to {f}: {e:?}");
                }
            }
        }
        drop(b);
        link.outbox = outbox;
        link
    }

    async fn run(self, hub: Hub, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut rx = hub.subscribe();
        let mut batch: Vec<Delivery> = Vec::new();
        let outbox = self.outbox.clone();
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(m) => self.publish(&m),
                    Err(RecvError::Lagged(n)) => tracing::warn!("bridge: MQTT side lagged, {n} DDS samples skipped"),
                    Err(RecvError::Closed) => return,
                },
                () = async { match &outbox { Some(o) => o.notified().await, None => std::future::pending().await } } => {
                    if let Some(o) = &outbox {
                        self.forward(o, &mut batch, &hub).await;
                    }
                }
                _ = stop.changed() => {
                    // Every connection is closed: what clients sent (and were acknowledged) goes to DDS.
                    if let Some(o) = &outbox {
                        self.forward(o, &mut batch, &hub).await;
                    }
                    return;
                }
            }
        }
    }

    /// Hands the messages queued for the bridge's internal session to the DDS side.
    async fn forward(&self, o: &Outbox, batch: &mut Vec<Delivery>, hub: &Hub) {
        let metrics = self.lock().metrics().clone();
        o.drain(Instant::now(), usize::MAX, batch, &metrics);
        for d in batch.drain(..) {
            let msg = &d.msg;
            let m = inbound(msg);
            if !hub.to_dds(m).await {
                tracing::warn!("bridge: DDS side stopped, message on {} not written", msg.topic);
            }
        }
    }

    fn publish(&self, m: &Outbound) {
        if m.reply && m.rpc.via != ReplyVia::Mqtt {
            // A reply to a STOMP or AMQP request.
            return;
        }
        let now = Instant::now();
        let mut properties = Properties {
            user_properties: m.properties.clone(),
            message_expiry_interval: m.expiry.map(|d| u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)),
            response_topic: m.rpc.response_topic.clone(),
            correlation_data: m.rpc.correlation_data.clone(),
            ..Properties::default()
        };
        if !m.disposed {
            properties.content_type = Some(m.content_type.to_string());
            if m.content_type == "application/json" {
                properties.payload_format_indicator = Some(1);
            }
        }
        let msg = Message {
            topic: m.name.as_str().into(),
            payload: m.payload.clone(),
            qos: QoS::AtLeastOnce,
            // A reply to an MQTT request goes once to the requester's response topic.
            retain: !m.reply,
            properties,
            expires_at: m.expiry.map(|d| now + d),
            origin: Some(self.client.clone()),
        };
        self.lock().publish(now, msg);
    }
}
