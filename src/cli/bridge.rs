//! `starling bridge`: runs the MQTT endpoint (and the STOMP endpoint if asked for) until SIGINT
//! or SIGTERM.

use super::CliError;
use crate::bridge::mqtt::auth::MemoryAuth;
use crate::bridge::mqtt::{MqttServer, ServerConfig};
use crate::bridge::stomp::{ServerConfig as StompConfig, StompServer};
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
    /// STOMP over TCP listen address, e.g. 127.0.0.1:61613; off by default.
    #[arg(long, value_name = "ADDR")]
    pub stomp: Option<SocketAddr>,
    /// STOMP over WebSocket listen address (subprotocols v10.stomp, v11.stomp, v12.stomp); off by default.
    #[arg(long = "stomp-ws", value_name = "ADDR")]
    pub stomp_ws: Option<SocketAddr>,
    /// STOMP heart-beat offered in CONNECTED, "SX,SY" in milliseconds (can send every SX, wants one every SY).
    #[arg(long = "stomp-heart-beat", value_name = "SX,SY", default_value = "10000,10000", value_parser = parse_heart_beat)]
    pub stomp_heart_beat: (u32, u32),
    /// Largest STOMP frame accepted, in bytes.
    #[arg(long = "stomp-max-frame", default_value_t = 4 * 1024 * 1024)]
    pub stomp_max_frame: usize,
}

fn parse_heart_beat(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once(',').ok_or("expected SX,SY")?;
    Ok((a.trim().parse().map_err(|e| format!("{e}"))?, b.trim().parse().map_err(|e| format!("{e}"))?))
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

/// Raises the open-file soft limit to the hard limit: every client connection is a descriptor.
fn raise_nofile_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the local struct.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

pub(super) async fn run(args: &BridgeArgs) -> Result<(), CliError> {
    raise_nofile_limit();
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
    let stomp = if args.stomp.is_some() || args.stomp_ws.is_some() {
        let mut sc = StompConfig { tcp: args.stomp, ws: args.stomp_ws, ..StompConfig::default() };
        sc.session.heart_beat = args.stomp_heart_beat;
        sc.session.limits.max_frame_size = args.stomp_max_frame;
        sc.broker.queue_capacity = args.queue_capacity;
        let s = StompServer::bind(sc, Arc::new(MemoryAuth::default()))
            .await
            .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
        if let Some(a) = s.tcp_addr() {
            eprintln!("starling bridge: STOMP on {a}");
        }
        if let Some(a) = s.ws_addr() {
            eprintln!("starling bridge: STOMP over WebSocket on ws://{a}/");
        }
        Some(s)
    } else {
        None
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let stomp_run = async {
        if let Some(s) = stomp {
            s.run(stopped(stop_rx.clone())).await;
        }
    };
    tokio::join!(signal, server.run(stopped(stop_rx.clone())), stomp_run);
    Ok(())
}
