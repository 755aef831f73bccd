//! `starling bridge`: runs the bridge (from `--config FILE`, or the MQTT endpoint plus, when asked for,
//! the STOMP and AMQP 0-9-1 endpoints) until SIGINT or SIGTERM; `starling bridge hash-password` makes
//! password hashes for the config.

use super::{Cli, CliError};
use crate::bridge::amqp::{AmqpServer, AmqpServerConfig};
use crate::bridge::core::{
    AmqpEndpoint, BridgeConfig, EndpointRegistry, MqttEndpoint, ParticipantFactory, StompEndpoint,
};
use crate::bridge::mqtt::auth::MemoryAuth;
use crate::bridge::mqtt::{MqttServer, ServerConfig};
use crate::bridge::stomp::{ServerConfig as StompConfig, StompServer};
use crate::dds::DomainParticipant;
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `bridge` subcommands.
#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Read a password on stdin (one line) and print its Argon2id PHC hash for `password_hash`.
    HashPassword,
}

/// `bridge` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BridgeArgs {
    /// Bridge configuration file (listeners, IDL files, routes, users); see examples/bridge.xml.
    /// Without it, the MQTT endpoint (and STOMP/AMQP when asked for) runs, configured by the flags
    /// below; with it, the listeners come from the file and the limits from the flags.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Helper commands.
    #[command(subcommand)]
    pub command: Option<BridgeCommand>,
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
    /// Seconds between publications of the MQTT endpoint's counters as retained `$SYS/starling/mqtt/…`
    /// messages (0: never).
    #[arg(long, default_value_t = 10)]
    pub sys_interval: u64,
    /// AMQP 0-9-1 listen address, e.g. 127.0.0.1:5672; off by default.
    #[arg(long, value_name = "ADDR")]
    pub amqp: Option<SocketAddr>,
    /// Directory for durable AMQP queues, exchanges and persistent messages (in memory if unset);
    /// for `--amqp` or the configuration's AMQP listener.
    #[arg(long = "amqp-data", value_name = "DIR")]
    pub amqp_data: Option<std::path::PathBuf>,
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

pub(crate) async fn shutdown_signal() {
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

fn parse_heart_beat(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once(',').ok_or("expected SX,SY")?;
    Ok((a.trim().parse().map_err(|e| format!("{e}"))?, b.trim().parse().map_err(|e| format!("{e}"))?))
}

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

fn bridge_err(e: impl std::fmt::Display) -> CliError {
    CliError::Io(std::io::Error::other(e.to_string()))
}

fn hash_password() -> Result<(), CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']);
    if pw.is_empty() {
        return Err(CliError::Wait("no password on stdin".into()));
    }
    let h = crate::bridge::mqtt::auth::hash_password(pw.as_bytes()).map_err(bridge_err)?;
    println!("{h}");
    Ok(())
}

async fn run_config(cli: &Cli, args: &BridgeArgs, path: &std::path::Path) -> Result<(), CliError> {
    let cfg = BridgeConfig::load(path).map_err(bridge_err)?;
    let mut registry = EndpointRegistry::with_builtin();
    let mut mqtt = MqttEndpoint::default();
    mqtt.server.session.max_packet_size = args.max_packet_size;
    mqtt.server.session.receive_maximum = args.receive_maximum;
    mqtt.server.broker.queue_capacity = args.queue_capacity;
    mqtt.server.sys_interval = sys_interval(args.sys_interval);
    registry.register(Arc::new(mqtt));
    let mut amqp = AmqpEndpoint::default();
    amqp.server.data_dir = args.amqp_data.clone();
    registry.register(Arc::new(amqp));
    let mut stomp = StompEndpoint::default();
    stomp.server.session.heart_beat = args.stomp_heart_beat;
    stomp.server.session.limits.max_frame_size = args.stomp_max_frame;
    stomp.server.broker.queue_capacity = args.queue_capacity;
    registry.register(Arc::new(stomp));
    let (interface, peers, data_multicast) = (cli.interface.clone(), cli.peers.clone(), cli.data_multicast);
    let factory: ParticipantFactory = Arc::new(move |domain| {
        let mut b = DomainParticipant::builder(domain).name("starling-bridge").data_multicast(data_multicast);
        if let Some(i) = &interface {
            b = b.interface(i.clone());
        }
        for p in &peers {
            b = b.peer(p.clone());
        }
        b.build()
    });
    crate::bridge::core::run(cfg, &registry, factory, shutdown_signal()).await.map_err(bridge_err)?;
    eprintln!("starling bridge: stopped");
    Ok(())
}

pub(super) async fn run(cli: &Cli, args: &BridgeArgs) -> Result<(), CliError> {
    if let Some(BridgeCommand::HashPassword) = args.command {
        return hash_password();
    }
    raise_nofile_limit();
    if let Some(path) = &args.config {
        return run_config(cli, args, path).await;
    }
    let mut cfg = ServerConfig { tcp: Some(args.mqtt), ws: args.mqtt_ws, ..ServerConfig::default() };
    cfg.session.max_packet_size = args.max_packet_size;
    cfg.session.receive_maximum = args.receive_maximum;
    cfg.broker.queue_capacity = args.queue_capacity;
    cfg.sys_interval = sys_interval(args.sys_interval);
    let auth = Arc::new(MemoryAuth::default());
    let amqp = match args.amqp {
        None => None,
        Some(addr) => {
            let cfg = AmqpServerConfig { addr, data_dir: args.amqp_data.clone(), ..AmqpServerConfig::default() };
            let s = AmqpServer::bind(cfg, auth.clone()).await.map_err(bridge_err)?;
            if let Some(a) = s.local_addr() {
                eprintln!("starling bridge: AMQP 0-9-1 on {a}");
            }
            Some(s)
        }
    };
    let stomp = if args.stomp.is_some() || args.stomp_ws.is_some() {
        let mut sc = StompConfig { tcp: args.stomp, ws: args.stomp_ws, ..StompConfig::default() };
        sc.session.heart_beat = args.stomp_heart_beat;
        sc.session.limits.max_frame_size = args.stomp_max_frame;
        sc.broker.queue_capacity = args.queue_capacity;
        let s = StompServer::bind(sc, auth.clone()).await.map_err(bridge_err)?;
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
    let server = MqttServer::bind(cfg, auth).await.map_err(bridge_err)?;
    if let Some(a) = server.tcp_addr() {
        eprintln!("starling bridge: MQTT on {a}");
    }
    if let Some(a) = server.ws_addr() {
        eprintln!("starling bridge: MQTT over WebSocket on ws://{a}/");
    }
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
    let amqp_run = async {
        if let Some(a) = amqp {
            a.run(stopped(stop_rx.clone())).await;
        }
    };
    tokio::join!(signal, server.run(stopped(stop_rx.clone())), stomp_run, amqp_run);
    Ok(())
}

fn sys_interval(secs: u64) -> Option<std::time::Duration> {
    (secs > 0).then(|| std::time::Duration::from_secs(secs))
}
