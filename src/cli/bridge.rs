//! `starling bridge`: runs the MQTT endpoint (and the AMQP 0-9-1 endpoint with `--amqp`) until
//! SIGINT or SIGTERM.

use super::CliError;
use crate::bridge::amqp::{AmqpServer, AmqpServerConfig};
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
    /// AMQP 0-9-1 listen address, e.g. 127.0.0.1:5672; off by default.
    #[arg(long, value_name = "ADDR")]
    pub amqp: Option<SocketAddr>,
    /// Directory for durable AMQP queues, exchanges and persistent messages (in memory if unset).
    #[arg(long = "amqp-data", value_name = "DIR", requires = "amqp")]
    pub amqp_data: Option<std::path::PathBuf>,
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
    let auth = Arc::new(MemoryAuth::default());
    let amqp = match args.amqp {
        None => None,
        Some(addr) => {
            let cfg = AmqpServerConfig { addr, data_dir: args.amqp_data.clone(), ..AmqpServerConfig::default() };
            let s = AmqpServer::bind(cfg, auth.clone())
                .await
                .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
            if let Some(a) = s.local_addr() {
                eprintln!("starling bridge: AMQP 0-9-1 on {a}");
            }
            Some(s)
        }
    };
    let server = MqttServer::bind(cfg, auth).await.map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
    if let Some(a) = server.tcp_addr() {
        eprintln!("starling bridge: MQTT on {a}");
    }
    if let Some(a) = server.ws_addr() {
        eprintln!("starling bridge: MQTT over WebSocket on ws://{a}/");
    }
    match amqp {
        None => server.run(shutdown_signal()).await,
        Some(amqp) => {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let mut rx2 = rx.clone();
            let mut rx1 = rx;
            let stop_amqp = async move {
                let _ = rx2.wait_for(|v| *v).await;
            };
            let stop_mqtt = async move {
                let _ = rx1.wait_for(|v| *v).await;
            };
            let signal = async move {
                shutdown_signal().await;
                let _ = tx.send(true);
            };
            tokio::join!(server.run(stop_mqtt), amqp.run(stop_amqp), signal);
        }
    }
    Ok(())
}
