//! The `starling` command-line tool: `ls`, `sub`, `pub`, `bridge`, `idl`, `perf` and `durability`.

mod bridge;
mod durability;
mod idl;
mod ls;
pub mod perf;
mod pubsub;
mod registry;

use crate::dds::{DdsError, DomainParticipant};
use crate::filter::{Filter, FilterError};
use crate::qos::{EndpointQos, QosError, QosProfile, QosProvider};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub use idl::{IdlArgs, IdlCommand};
pub use registry::{find_type, known_types, DynamicCodec, JsonCodec, JsonSample, StaticCodec, TypeEntry};

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
    /// A QoS file could not be loaded, or `--profile` names no profile.
    #[error(transparent)]
    Qos(#[from] QosError),
    /// `--filter` does not parse or lacks `--filter-param` values.
    #[error("invalid --filter expression: {0}")]
    Filter(#[from] FilterError),
    /// The IDL compiler rejected its input (diagnostics were printed on stderr) or could not write.
    #[error("{0}")]
    Idl(String),
    /// The durability service failed (its store, typically).
    #[error("durability service: {0}")]
    Durability(String),
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
    /// Receive user data on the multicast group too and send to readers' groups (see
    /// `DomainParticipantBuilder::data_multicast`).
    #[arg(long, global = true)]
    pub data_multicast: bool,
    /// More logging on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// OMG DDS-XML QoS file to load (repeatable; after those in STARLING_QOS_PROFILES).
    #[arg(long = "qos-file", global = true, value_name = "FILE")]
    pub qos_files: Vec<PathBuf>,
    /// QoS profile for pub/sub, LIBRARY::PROFILE (default: the file's is_default_qos profile, if any).
    #[arg(long, global = true, value_name = "LIB::PROFILE")]
    pub profile: Option<String>,
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
    /// Run the bridge between DDS and MQTT clients (`--config FILE`), or only an MQTT 3.1.1/5.0 broker.
    Bridge(bridge::BridgeArgs),
    /// Check IDL files or generate Rust code from them.
    Idl(idl::IdlArgs),
    /// Measure latency (ping/pong) or throughput (pub/sub), like Cyclone's ddsperf.
    Perf(perf::PerfArgs),
    /// Run a durability service: keep the samples of TRANSIENT and PERSISTENT writers and serve them to late
    /// joiners after the writers are gone (PERSISTENT ones also across restarts, with `--store`).
    Durability(DurabilityArgs),
}

/// `durability` arguments.
#[derive(Debug, Args, Clone)]
pub struct DurabilityArgs {
    /// Directory of the PERSISTENT store (created if missing); without it PERSISTENT data is kept in memory only.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Topic name patterns to serve (`*` and `?` wildcards); default: every topic.
    #[arg(long, value_name = "PATTERN", num_args = 1..)]
    pub topics: Vec<String>,
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
    /// Also print each discovered type as IDL (types peers announce through
    /// XTypes TypeInformation, learned with TypeLookup).
    #[arg(long)]
    pub types: bool,
}

/// Reliability, durability and history flags shared by `pub` and `sub`.
/// Without a QoS profile the defaults are reliable, volatile, KEEP_ALL; with
/// one, the profile's values apply and only the flags given override them.
#[derive(Debug, Args, Clone)]
pub struct QosArgs {
    /// Reliable (the default without a profile).
    #[arg(long, conflicts_with = "best_effort")]
    pub reliable: bool,
    /// Best-effort.
    #[arg(long)]
    pub best_effort: bool,
    /// TRANSIENT_LOCAL durability (late joiners get history).
    #[arg(long, conflicts_with = "volatile")]
    pub transient_local: bool,
    /// VOLATILE durability (the default without a profile).
    #[arg(long)]
    pub volatile: bool,
    /// TRANSIENT durability: a `starling durability` service keeps the samples beyond the writer.
    #[arg(long, conflicts_with_all = ["volatile", "transient_local", "persistent"])]
    pub transient: bool,
    /// PERSISTENT durability: as TRANSIENT, and the service keeps them on disk (`--store`).
    #[arg(long, conflicts_with_all = ["volatile", "transient_local"])]
    pub persistent: bool,
    /// History depth per instance (KEEP_LAST N); 0 keeps all (KEEP_ALL, the
    /// default without a profile, so that a reliable stream loses nothing).
    #[arg(long)]
    pub depth: Option<u32>,
    /// XCDR2 data representation: a writer encodes in XCDR2 instead of XCDR1, a reader requests XCDR2 only
    /// (without it a reader accepts both). Cyclone DDS readers of mutable or optional-member types often
    /// request XCDR2 only.
    #[arg(long)]
    pub xcdr2: bool,
    /// The QoS from `--profile` for this endpoint, filled in by [`run`].
    #[arg(skip)]
    pub profile_qos: Option<EndpointQos>,
}

/// `sub` arguments.
#[derive(Debug, Args, Clone)]
pub struct SubArgs {
    /// Topic name.
    pub topic: String,
    /// Registered type name. Without it, the type is learned from the
    /// topic's writers (XTypes TypeLookup), when they announce one.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: Option<String>,
    /// Seconds to wait for a writer's type when no `--type` is given.
    #[arg(long, default_value_t = 10.0)]
    pub type_wait: f64,
    /// IDL files defining `--type` (repeatable); the type is then built at run time.
    #[arg(long = "idl", value_name = "FILE")]
    pub idl: Vec<PathBuf>,
    /// Include directory for the IDL files (repeatable).
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub include: Vec<PathBuf>,
    /// QoS flags.
    #[command(flatten)]
    pub qos: QosArgs,
    /// Exit after this many data samples.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Print only samples for which this DDS SQL filter expression holds,
    /// e.g. "x > 100 AND color = 'RED'": a ContentFilteredTopic, so Starling writers filter at the source.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Value for %0, %1, … in `--filter` (repeatable, in order).
    #[arg(long = "filter-param", value_name = "VALUE", requires = "filter")]
    pub filter_params: Vec<String>,
    /// Print each data sample as `{"data":…,"sample_identity":HEX,"related_sample_identity":HEX|null}`:
    /// the sample's identity (writer GUID and sequence number) and the request it answers, each as 48
    /// hex digits (GUID, then the sequence number as big-endian high int32 and low uint32).
    #[arg(long)]
    pub identity: bool,
}

/// `pub` arguments.
#[derive(Debug, Args, Clone)]
pub struct PubArgs {
    /// Topic name.
    pub topic: String,
    /// Registered type name (a built-in type, or one defined in `--idl` files).
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,
    /// IDL files defining `--type` (repeatable); the type is then built at run time.
    #[arg(long = "idl", value_name = "FILE")]
    pub idl: Vec<PathBuf>,
    /// Include directory for the IDL files (repeatable).
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub include: Vec<PathBuf>,
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
    /// Seconds to stay alive (writer and participant kept) after writing and lingering; logs "staying".
    #[arg(long, default_value_t = 0.0)]
    pub stay: f64,
    /// Write every sample as a reply to this sample identity (48 hex digits, as `sub --identity`
    /// prints it): sent as inline QoS PID_RELATED_SAMPLE_IDENTITY (DDS request/reply).
    #[arg(long, value_name = "HEX", value_parser = pubsub::parse_identity)]
    pub related: Option<crate::dds::SampleIdentity>,
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
    Ok(participant_builder(cli).build()?)
}

/// The participant the global options describe, to be built (or given more settings first).
fn participant_builder(cli: &Cli) -> crate::dds::DomainParticipantBuilder {
    let mut b = DomainParticipant::builder(cli.domain).name("starling-cli").data_multicast(cli.data_multicast);
    if let Some(i) = &cli.interface {
        b = b.interface(i.clone());
    }
    for p in &cli.peers {
        b = b.peer(p.clone());
    }
    b
}

/// Loads STARLING_QOS_PROFILES and `--qos-file`s and picks `--profile` (or
/// the default profile); `None` when no profile applies.
pub fn load_profile(cli: &Cli) -> Result<Option<(QosProvider, String)>, CliError> {
    if cli.profile.is_none()
        && cli.qos_files.is_empty()
        && std::env::var_os(crate::qos::xml::QOS_PROFILES_ENV).is_none()
    {
        return Ok(None);
    }
    let mut provider = QosProvider::from_env()?;
    for f in &cli.qos_files {
        provider.load_file(f)?;
    }
    let name = match &cli.profile {
        Some(n) => provider.profile(n)?.name().to_string(),
        None => match provider.default_profile() {
            Some(p) => p.name().to_string(),
            None => return Ok(None),
        },
    };
    Ok(Some((provider, name)))
}

fn with_profile<T>(
    loaded: &Option<(QosProvider, String)>,
    f: impl FnOnce(&QosProfile) -> T,
) -> Result<Option<T>, CliError> {
    match loaded {
        Some((provider, name)) => Ok(Some(f(provider.profile(name)?))),
        None => Ok(None),
    }
}

/// Runs the parsed command (inside a tokio runtime).
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Ls(args) => ls::run(participant(&cli)?, args).await,
        Command::Sub(args) => {
            let idl_type = match (&args.type_name, args.idl.is_empty()) {
                (Some(t), false) => Some(idl::load_type(&args.idl, &args.include, t)?),
                (None, false) => return Err(CliError::Idl("--idl needs --type to name the topic's type".into())),
                _ => None,
            };
            let entry = match (&idl_type, &args.type_name) {
                (None, Some(t)) => Some(find_type(t)?),
                _ => None,
            };
            if let Some(expr) = &args.filter {
                // Reject a bad expression before joining the domain.
                Filter::with_parameters(expr, &args.filter_params)?;
            }
            let mut args = args.clone();
            args.qos.profile_qos = with_profile(&load_profile(&cli)?, |p| p.datareader_qos(&args.topic))?;
            let p = participant(&cli)?;
            if let Some(ty) = idl_type {
                return pubsub::subscribe(p, &args, DynamicCodec::new(ty)).await;
            }
            match entry {
                Some(entry) => (entry.sub)(p, &args).await,
                None => {
                    let (name, ty) =
                        p.wait_for_writer_type(&args.topic, seconds(args.type_wait)).await.map_err(|e| match e {
                            DdsError::Timeout => CliError::Wait(format!(
                                "no writer on '{}' announced a type within {} s; give --type",
                                args.topic, args.type_wait
                            )),
                            other => other.into(),
                        })?;
                    tracing::info!(type_name = %name, "learned the topic's type from its writer");
                    pubsub::subscribe(p, &args, DynamicCodec::new(ty)).await
                }
            }
        }
        Command::Pub(args) => {
            let mut args = args.clone();
            if args.idl.is_empty() {
                let entry = find_type(&args.type_name)?;
                args.qos.profile_qos = with_profile(&load_profile(&cli)?, |p| p.datawriter_qos(&args.topic))?;
                (entry.publish)(participant(&cli)?, &args).await
            } else {
                let ty = idl::load_type(&args.idl, &args.include, &args.type_name)?;
                args.qos.profile_qos = with_profile(&load_profile(&cli)?, |p| p.datawriter_qos(&args.topic))?;
                pubsub::publish(participant(&cli)?, &args, DynamicCodec::new(ty)).await
            }
        }
        Command::Bridge(args) => bridge::run(&cli, args).await,
        Command::Idl(args) => idl::run(args),
        Command::Perf(args) => {
            let spin = std::time::Duration::from_micros(args.spin_us);
            perf::run(participant_builder(&cli).receive_spin(spin).build()?, args).await
        }
        Command::Durability(args) => durability::run(participant(&cli)?, args).await,
    }
}
