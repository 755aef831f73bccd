//! `starling bridge`: runs the MQTT endpoint until SIGINT or SIGTERM.

use super::CliError;
use crate::bridge::mqtt::auth::MemoryAuth;
use crate::bridge::mqtt::{MqttServer, ServerConfig};
use clap::Args;
use std::net::SocketAddr;
use std::sync::Arc;

/// `bridge` arguments.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// MQTT over TCP listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1883")]
    pub mqtt: SocketAddr,
    /// MQTT over WebSocket listen address (subprotocol "mqtt"), e.g. 127.0.0.1:8083; off by default.
    #[arg(long = "mqtt-ws", value_name = "ADDR")]
    pub mqtt_ws: Option<SocketAddr>,
    /// Maximum Packet Size accepted from MQTT clients, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(16..=268_435_460))]
    pub max_packet_size: u32,
    /// Receive Maximum advertised to MQTT 5 clients (inbound QoS 2 in progress).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u16).range(1..))]
    pub receive_maximum: u16,
    /// Outbound queue capacity per client (messages); see the overflow policy in the docs.
    #[arg(long, default_value_t = 10_000)]
    pub queue_capacity: usize,
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut i), Ok(mut t)) => {
                tokio::select! {
                    _ = i.recv() => {}
                    _ = t.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(super) async fn run(args: &BridgeArgs) -> Result<(), CliError> {
    let mut cfg = ServerConfig { tcp: Some(args.mqtt), ws: args.mqtt_ws, ..ServerConfig::default() };
    cfg.session.max_packet_size = args.max_packet_size;
    cfg.session.receive_maximum = args.receive_maximum;
    cfg.broker.queue_capacity = args.queue_capacity;
    let server = MqttServer::bind(cfg, Arc::new(MemoryAuth::default()))
        .await
        .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
    if let Some(a) = server.tcp_addr() {
        eprintln!("starling bridge: MQTT on {a}");
    }
    if let Some(a) = server.ws_addr() {
        eprintln!("starling bridge: MQTT over WebSocket on ws://{a}/");
    }
    server.run(shutdown_signal()).await;
    Ok(())
}
