//! The `starling` command-line tool: `ls`, `sub`, `pub` and `perf`.

mod ls;
pub mod perf;
mod pubsub;
mod registry;

use crate::dds::{DdsError, DomainParticipant};
use clap::{Args, Parser, Subcommand};

pub use registry::{find_type, known_types, JsonSample, TypeEntry};

/// Errors reported by the CLI (one line each).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the DDS layer.
    #[error(transparent)]
    Dds(#[from] DdsError),
    /// `--type` names no registered type.
    #[error("unknown type '{0}'; known types: {1}")]
    UnknownType(String, String),
    /// An input line or argument is not valid JSON for the type.
    #[error("invalid sample on {location}: {message}")]
    BadInput {
        /// "line 3" or "argument 2".
        location: String,
        /// What was wrong.
        message: String,
    },
    /// Reading stdin or writing stdout failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A wait for subscribers expired.
    #[error("{0}")]
    Wait(String),
}

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "starling", version, about = "Brokerless DDS/RTPS publish-subscribe")]
pub struct Cli {
    /// DDS domain id.
    #[arg(long, global = true, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=232))]
    pub domain: u32,
    /// Network interface, by name ("lo") or IPv4 address.
    #[arg(long, global = true, value_name = "NAME|ADDR")]
    pub interface: Option<String>,
    /// Initial peer: ADDR (its well-known ports) or ADDR:PORT. Repeatable.
    #[arg(long = "peer", global = true, value_name = "ADDR")]
    pub peers: Vec<String>,
    /// More logging on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List participants, topics and endpoints on the domain.
    Ls(LsArgs),
    /// Subscribe to a topic and print samples as JSON lines.
    Sub(SubArgs),
    /// Publish JSON samples (arguments or stdin lines) to a topic.
    Pub(PubArgs),
    /// Measure latency (ping/pong) or throughput (pub/sub), like Cyclone's ddsperf.
    Perf(perf::PerfArgs),
}

/// `ls` arguments.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Seconds to listen before printing.
    #[arg(long, default_value_t = 2.0)]
    pub wait: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Reliability and durability flags shared by `pub` and `sub`.
#[derive(Debug, Args, Clone, Copy)]
pub struct QosArgs {
    /// Reliable (the default).
    #[arg(long, conflicts_with = "best_effort")]
    pub reliable: bool,
    /// Best-effort.
    #[arg(long)]
    pub best_effort: bool,
    /// TRANSIENT_LOCAL durability (late joiners get history).
    #[arg(long)]
    pub transient_local: bool,
    /// History depth per instance (KEEP_LAST N); 0, the default, keeps all
    /// (KEEP_ALL), so that a reliable stream loses nothing.
    #[arg(long, default_value_t = 0)]
    pub depth: u32,
}

/// `sub` arguments.
#[derive(Debug, Args)]
pub struct SubArgs {
    /// Topic name.
    pub topic: String,
    /// Registered type name.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,
    /// QoS flags.
    #[command(flatten)]
    pub qos: QosArgs,
    /// Exit after this many data samples.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
}

/// `pub` arguments.
#[derive(Debug, Args)]
pub struct PubArgs {
    /// Topic name.
    pub topic: String,
    /// Registered type name.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,
    /// QoS flags.
    #[command(flatten)]
    pub qos: QosArgs,
    /// Writes per second (default: as fast as given).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Total writes; the given samples repeat until reached.
    #[arg(long)]
    pub count: Option<u64>,
    /// Wait for this many matched subscribers before writing.
    #[arg(long, value_name = "N")]
    pub wait_subscribers: Option<u32>,
    /// Seconds to wait for subscribers.
    #[arg(long, default_value_t = 10.0)]
    pub wait_timeout: f64,
    /// Seconds a reliable writer waits for acknowledgements before exiting.
    #[arg(long, default_value_t = 5.0)]
    pub linger: f64,
    /// Samples as JSON (`{"dispose":{...}}` disposes); stdin lines when none.
    #[arg(value_name = "JSON")]
    pub samples: Vec<String>,
}

pub(crate) fn seconds(s: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(std::time::Duration::MAX)
}

/// Sets up logging on stderr: RUST_LOG if set, else by `-v` count.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "starling=debug,starling_proto=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn participant(cli: &Cli) -> Result<DomainParticipant, CliError> {
    let mut b = DomainParticipant::builder(cli.domain).name("starling-cli");
    if let Some(i) = &cli.interface {
        b = b.interface(i.clone());
    }
    for p in &cli.peers {
        b = b.peer(p.clone());
    }
    Ok(b.build()?)
}

/// Runs the parsed command (inside a tokio runtime).
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Ls(args) => ls::run(participant(&cli)?, args).await,
        Command::Sub(args) => {
            let entry = find_type(&args.type_name)?;
            (entry.sub)(participant(&cli)?, args).await
        }
        Command::Pub(args) => {
            let entry = find_type(&args.type_name)?;
            (entry.publish)(participant(&cli)?, args).await
        }
        Command::Perf(args) => perf::run(participant(&cli)?, args).await,
    }
}
