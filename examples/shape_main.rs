//! `shape_main`: Starling's implementation of the OMG DDS-RTPS interoperability application.
//!
//! It publishes or subscribes `ShapeType` samples and prints the fixed lines the interoperability harnesses
//! wait for (`Create topic: …`, `on_publication_matched() …`, sample lines, …). The command line follows the
//! suite's `shape_main` contract; `--interface NAME` (default `lo`) is a Starling extra that picks the network
//! interface.
//!
//! Build and run:
//!
//! ```sh
//! cargo build --release --example shape_main
//! target/release/examples/shape_main -P -t Square -c RED -w
//! target/release/examples/shape_main -S -t Square
//! ```
//!
//! Features Starling does not honour yet are reported with a line containing `not supported` (after the
//! `Create …` lines), and the program then exits with code 2. Exit codes: 0 normal end (`Done.`), 1 usage or
//! setup error, 2 a requested feature is not supported.
//!
//! PRESENTATION (`--access-scope`, `--coherent`, `--ordered`, `--coherent-sample-count`): the publisher
//! groups `--coherent-sample-count` iterations into one coherent set with
//! `Publisher::begin_coherent_changes`/`end_coherent_changes`, and the subscriber reads each pass between
//! `Subscriber::begin_access`/`end_access`. Readers with coherent access deliver each writer's set whole;
//! ordered access with INSTANCE scope returns samples instance by instance, with TOPIC scope in the writer's
//! order. With GROUP scope a coherent set spans all the publisher's writers (one per topic with
//! `--num-topics`) and the subscriber delivers it across its readers whole; samples carry group sequence
//! numbers, so that `Subscriber::get_datareaders` lists them in the publisher's order.
//!
//! The subscriber's content filter (`-c COLOR`, i.e. `color = 'COLOR'`, or `--cft EXPR`) is a
//! [`ContentFilteredTopic`](starling::dds::ContentFilteredTopic) named `<topic>_filtered`: the reader keeps only
//! matching samples, announces the filter in SEDP, and Starling writers filter at the source.

use rand::Rng;
use starling::dds::{
    DataReader, DataWriter, DeadlineMissedStatus, DomainParticipant, IncompatibleQosStatus, InstanceState, Sample,
    SampleState, WriterDataLifecycle,
};
use starling::filter::Filter;
use starling::proto::qos::{
    AccessScope, DurabilityKind, EndpointQos, History, OwnershipKind, QosPolicyId, Reliability, XCDR1, XCDR2,
};
use starling::proto::wire::types::Duration as DdsDuration;
use starling::types::ShapeType;
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const TYPE_NAME: &str = "ShapeType";

/// Exit code when a requested feature is not supported.
const EXIT_UNSUPPORTED: u8 = 2;

/// Prints one line and flushes, holding the stdout lock so that lines never interleave.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(line.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

/// Prints a warning or error to stderr.
fn warn(msg: &str) {
    eprintln!("{msg}");
}

const USAGE: &str = "\
Usage: shape_main (-P | -S) -t TOPIC [options]
  -P                 publish          -S                 subscribe
  -t TOPIC           topic name (required)
  -d ID              domain id (default 0)
  -b | -r            BEST_EFFORT | RELIABLE reliability (default RELIABLE)
  -k DEPTH           history: 0 = KEEP_ALL, N = KEEP_LAST N (default KEEP_LAST 1)
  -f MS              deadline period (0 = off)
  -s STRENGTH        -1 = SHARED ownership, N >= 0 = EXCLUSIVE (writer strength N)
  -c COLOR           publisher: color to publish (default BLUE); subscriber: only this color
  -p PARTITION       partition of the publisher/subscriber
  -D v|l|t|p         durability VOLATILE, TRANSIENT_LOCAL, TRANSIENT, PERSISTENT (default v)
  -x 1|2             data representation XCDR1 or XCDR2 (default 1)
  -w                 publisher prints every sample it writes
  -z SIZE            shapesize to publish (0 = 1, 2, 3, ...) (default 20)
  -R                 subscriber uses read() instead of take()
  -v e|d             log verbosity: errors or debug (default e)
  -h, --help         this text
  --write-period MS  publisher loop period (default 33)
  --read-period MS   subscriber loop period (default 100)
  --time-filter MS   reader TIME_BASED_FILTER minimum separation
  --lifespan MS      writer LIFESPAN duration
  --num-iterations N publisher stops after N iterations (0 = until SIGINT)
  --num-instances N  publisher writes N instances: COLOR, COLOR1, ...
  --num-topics N     topics TOPIC, TOPIC1, ... with one writer/reader each
  --final-instance-state u|d   unregister or dispose the instances at the end
  --access-scope i|t|g         PRESENTATION access scope
  --coherent         PRESENTATION coherent_access
  --ordered          PRESENTATION ordered_access
  --coherent-sample-count N    iterations per coherent set
  --additional-payload-size N  extra payload bytes (all 255)
  --take-read        plain take()/read() instead of the per-instance loop
  --periodic-announcement MS   participant announcement period
  --datafrag-size N  DATA_FRAG fragment size
  --cft EXPR         subscriber content filter expression
  --size-modulo N    with -z 0: sizes cycle through 1..N
  --interface NAME   network interface or IPv4 address (default lo) [Starling]";

/// The parsed command line.
#[derive(Debug, Clone)]
struct Opts {
    publish: bool,
    subscribe: bool,
    topic: Option<String>,
    domain: u32,
    reliable: bool,
    depth: Option<i32>,
    deadline_ms: u64,
    strength: i32,
    color: Option<String>,
    partition: Option<String>,
    durability: char,
    xcdr: u8,
    print_writes: bool,
    size: i32,
    use_read: bool,
    debug: bool,
    write_period: u64,
    read_period: u64,
    time_filter: u64,
    lifespan: u64,
    num_iterations: u64,
    num_instances: u32,
    num_topics: u32,
    final_state: Option<char>,
    access_scope: char,
    coherent: bool,
    ordered: bool,
    coherent_sample_count: u32,
    payload: usize,
    take_read: bool,
    periodic_announcement: u64,
    datafrag_size: u64,
    cft: Option<String>,
    size_modulo: Option<i32>,
    interface: String,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            publish: false,
            subscribe: false,
            topic: None,
            domain: 0,
            reliable: true,
            depth: None,
            deadline_ms: 0,
            strength: -1,
            color: None,
            partition: None,
            durability: 'v',
            xcdr: 1,
            print_writes: false,
            size: 20,
            use_read: false,
            debug: false,
            write_period: 33,
            read_period: 100,
            time_filter: 0,
            lifespan: 0,
            num_iterations: 0,
            num_instances: 1,
            num_topics: 1,
            final_state: None,
            access_scope: 'i',
            coherent: false,
            ordered: false,
            coherent_sample_count: 0,
            payload: 0,
            take_read: false,
            periodic_announcement: 0,
            datafrag_size: 0,
            cft: None,
            size_modulo: None,
            interface: "lo".to_string(),
        }
    }
}

/// What parsing decided.
enum Parsed {
    Run(Box<Opts>),
    Help,
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("invalid value for {flag}: {v:?}"))
}

fn one_of(flag: &str, v: &str, allowed: &str) -> Result<char, String> {
    let mut cs = v.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) if allowed.contains(c) => Ok(c),
        _ => Err(format!("invalid value for {flag}: {v:?} (one of {allowed:?})")),
    }
}

/// Parses the command line with getopt rules for single-letter options (`-t X`, `-tX`, `-wb`) and
/// `--name value` long options.
fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut o = Opts::default();
    let mut i = 0;
    let mut final_seen = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let flag_only = matches!(name, "help" | "coherent" | "ordered" | "take-read");
            let value = if flag_only {
                String::new()
            } else if let Some(v) = inline {
                v
            } else {
                let v = args.get(i).cloned().ok_or_else(|| format!("option --{name} needs a value"))?;
                i += 1;
                v
            };
            let flag = format!("--{name}");
            match name {
                "help" => return Ok(Parsed::Help),
                "coherent" => o.coherent = true,
                "ordered" => o.ordered = true,
                "take-read" => o.take_read = true,
                "write-period" => o.write_period = num(&flag, &value)?,
                "read-period" => o.read_period = num(&flag, &value)?,
                "time-filter" => o.time_filter = num(&flag, &value)?,
                "lifespan" => o.lifespan = num(&flag, &value)?,
                "num-iterations" => o.num_iterations = num(&flag, &value)?,
                "num-instances" => {
                    o.num_instances = num(&flag, &value)?;
                    if o.num_instances == 0 {
                        return Err("--num-instances must be at least 1".into());
                    }
                }
                "num-topics" => {
                    o.num_topics = num(&flag, &value)?;
                    if o.num_topics == 0 {
                        return Err("--num-topics must be at least 1".into());
                    }
                }
                "final-instance-state" => {
                    o.final_state = Some(one_of(&flag, &value, "ud")?);
                    final_seen += 1;
                }
                "access-scope" => o.access_scope = one_of(&flag, &value, "itg")?,
                "coherent-sample-count" => o.coherent_sample_count = num(&flag, &value)?,
                "additional-payload-size" => o.payload = num(&flag, &value)?,
                "periodic-announcement" => o.periodic_announcement = num(&flag, &value)?,
                "datafrag-size" => o.datafrag_size = num(&flag, &value)?,
                "cft" => o.cft = Some(value),
                "size-modulo" => {
                    let m: i32 = num(&flag, &value)?;
                    if m < 1 {
                        return Err("--size-modulo must be at least 1".into());
                    }
                    o.size_modulo = Some(m);
                }
                "interface" => o.interface = value,
                _ => return Err(format!("unknown option --{name}")),
            }
            continue;
        }
        let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) else {
            return Err(format!("unexpected argument {a:?}"));
        };
        let chars: Vec<char> = cluster.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let takes_value = "tdkfscpDxzv".contains(c);
            let value = if takes_value {
                let rest: String = chars[j..].iter().collect();
                j = chars.len();
                if !rest.is_empty() {
                    rest
                } else {
                    let v = args.get(i).cloned().ok_or_else(|| format!("option -{c} needs a value"))?;
                    i += 1;
                    v
                }
            } else {
                String::new()
            };
            let flag = format!("-{c}");
            match c {
                'P' => o.publish = true,
                'S' => o.subscribe = true,
                'b' => o.reliable = false,
                'r' => o.reliable = true,
                'w' => o.print_writes = true,
                'R' => o.use_read = true,
                'h' => return Ok(Parsed::Help),
                't' => o.topic = Some(value),
                'd' => o.domain = num(&flag, &value)?,
                'k' => {
                    let k: i32 = num(&flag, &value)?;
                    if k < 0 {
                        return Err("-k must be 0 (KEEP_ALL) or a positive depth".into());
                    }
                    o.depth = Some(k);
                }
                'f' => o.deadline_ms = num(&flag, &value)?,
                's' => {
                    o.strength = num(&flag, &value)?;
                    if o.strength < -1 {
                        return Err("-s must be -1 (shared) or a strength >= 0".into());
                    }
                }
                'c' => o.color = Some(value),
                'p' => o.partition = Some(value),
                'D' => o.durability = one_of(&flag, &value, "vltp")?,
                'x' => {
                    o.xcdr = num(&flag, &value).and_then(|x: u8| match x {
                        1 | 2 => Ok(x),
                        _ => Err("-x must be 1 or 2".to_string()),
                    })?
                }
                'z' => {
                    o.size = num(&flag, &value)?;
                    if o.size < 0 {
                        return Err("-z must not be negative".into());
                    }
                }
                'v' => o.debug = one_of(&flag, &value, "ed")? == 'd',
                _ => return Err(format!("unknown option -{c}")),
            }
        }
    }
    if final_seen > 1 {
        return Err("--final-instance-state given more than once".into());
    }
    if o.publish == o.subscribe {
        return Err("exactly one of -P or -S is required".into());
    }
    if o.topic.as_deref().is_none_or(str::is_empty) {
        return Err("-t TOPIC is required".into());
    }
    if o.subscribe && o.color.is_some() && o.cft.is_some() {
        return Err("-c and --cft cannot be combined on a subscriber".into());
    }
    Ok(Parsed::Run(Box::new(o)))
}

/// Warnings for options that mean nothing in the chosen role; the options are ignored.
fn role_warnings(o: &mut Opts) {
    if o.subscribe {
        if o.size != 20 {
            warn("warning: -z is ignored on a subscriber");
        }
        if o.print_writes {
            warn("warning: -w is ignored on a subscriber");
        }
        if o.lifespan != 0 {
            warn("warning: --lifespan is ignored on a subscriber");
            o.lifespan = 0;
        }
        if o.num_iterations != 0 || o.num_instances != 1 || o.final_state.is_some() {
            warn("warning: --num-iterations, --num-instances and --final-instance-state are ignored on a subscriber");
            o.final_state = None;
        }
        if o.payload != 0 || o.coherent_sample_count != 0 || o.size_modulo.is_some() {
            warn("warning: publisher-only options are ignored on a subscriber");
        }
    } else {
        if o.time_filter != 0 {
            warn("warning: --time-filter is ignored on a publisher");
            o.time_filter = 0;
        }
        if o.use_read || o.take_read {
            warn("warning: -R and --take-read are ignored on a publisher");
        }
        if o.cft.is_some() {
            warn("warning: --cft is ignored on a publisher");
        }
        if o.color.is_none() {
            warn("warning: no color given (-c); publishing BLUE");
        }
    }
    if o.periodic_announcement != 0 {
        warn("warning: --periodic-announcement is ignored: Starling uses its own announcement period");
    }
    if o.datafrag_size != 0 {
        warn("warning: --datafrag-size is ignored: Starling picks the fragment size itself");
    }
}

/// Features requested by `o` that Starling cannot honour yet, as the contract's `not supported` lines.
fn unsupported(o: &Opts) -> Vec<String> {
    // TRANSIENT and PERSISTENT are supported: the writer serves its history to late joiners while it lives
    // (as TRANSIENT_LOCAL), and a `starling durability` service keeps the samples beyond it.
    // PRESENTATION GROUP scope is supported too (group coherent sets and group sequence numbers).
    let _ = o;
    Vec::new()
}

fn millis(ms: u64) -> DdsDuration {
    DdsDuration::from_millis(ms)
}

/// The endpoint QoS the options ask for (partition is set through the publisher/subscriber).
fn endpoint_qos(o: &Opts) -> EndpointQos {
    let mut q = if o.publish { EndpointQos::writer_default() } else { EndpointQos::reader_default() };
    q.reliability = if o.reliable { Reliability::reliable() } else { Reliability::best_effort() };
    q.durability = match o.durability {
        'l' => DurabilityKind::TransientLocal,
        't' => DurabilityKind::Transient,
        'p' => DurabilityKind::Persistent,
        _ => DurabilityKind::Volatile,
    };
    q.history = match o.depth {
        Some(0) => History::KeepAll,
        Some(n) => History::KeepLast(n),
        None => q.history,
    };
    // What a durability service keeps of a TRANSIENT/PERSISTENT writer: its own history, as Cyclone's
    // shape application sets it.
    q.durability_service.history = q.history;
    if o.deadline_ms > 0 {
        q.deadline = millis(o.deadline_ms);
    }
    if o.strength >= 0 {
        q.ownership = OwnershipKind::Exclusive;
        q.ownership_strength = o.strength;
    }
    q.presentation.access_scope = match o.access_scope {
        't' => AccessScope::Topic,
        'g' => AccessScope::Group,
        _ => AccessScope::Instance,
    };
    q.presentation.coherent_access = o.coherent;
    q.presentation.ordered_access = o.ordered;
    if o.lifespan > 0 {
        q.lifespan = millis(o.lifespan);
    }
    if o.time_filter > 0 {
        q.time_based_filter = millis(o.time_filter);
    }
    q.data_representation = vec![if o.xcdr == 2 { XCDR2 } else { XCDR1 }];
    q
}

/// The DDS QosPolicyId_t value of a policy.
fn policy_number(p: QosPolicyId) -> i32 {
    match p {
        QosPolicyId::Durability => 2,
        QosPolicyId::Presentation => 3,
        QosPolicyId::Deadline => 4,
        QosPolicyId::LatencyBudget => 5,
        QosPolicyId::Ownership => 6,
        QosPolicyId::Liveliness => 8,
        QosPolicyId::Partition => 10,
        QosPolicyId::Reliability => 11,
        QosPolicyId::DestinationOrder => 12,
        QosPolicyId::DataRepresentation => 23,
        QosPolicyId::TypeConsistency => 24,
        _ => 0,
    }
}

fn incompatible_line(kind: &str, topic: &str, s: &IncompatibleQosStatus) -> String {
    let (id, name) = s.last_policy_id.map_or((0, "UNKNOWN"), |p| (policy_number(p), p.name()));
    format!("{kind}() topic: '{topic}'  type: '{TYPE_NAME}' : {id} ({name})")
}

/// Prints the writer's listener lines (matched, incompatible QoS) as its statuses change.
fn watch_writer(w: &DataWriter<ShapeType>) {
    let topic = w.topic_name().to_string();
    let mut matched = w.publication_matched_watch();
    let t = topic.clone();
    tokio::spawn(async move {
        let mut last = 0i64;
        while matched.changed().await.is_ok() {
            let cur = i64::from(matched.borrow_and_update().current_count);
            if cur != last {
                out(&format!(
                    "on_publication_matched() topic: '{t}'  type: '{TYPE_NAME}' : matched readers {cur} (change = {})",
                    cur - last
                ));
                last = cur;
            }
        }
    });
    let mut incompatible = w.offered_incompatible_qos_watch();
    let t = topic.clone();
    tokio::spawn(async move {
        while incompatible.changed().await.is_ok() {
            let s = *incompatible.borrow_and_update();
            out(&incompatible_line("on_offered_incompatible_qos", &t, &s));
        }
    });
    watch_deadline(w.offered_deadline_missed_watch(), "on_offered_deadline_missed", topic);
}

/// Prints a deadline-missed listener line for every change of a DEADLINE_MISSED status.
fn watch_deadline(mut rx: tokio::sync::watch::Receiver<DeadlineMissedStatus>, kind: &'static str, topic: String) {
    tokio::spawn(async move {
        let mut last = 0u32;
        while rx.changed().await.is_ok() {
            let total = rx.borrow_and_update().total_count;
            if total != last {
                out(&format!(
                    "{kind}() topic: '{topic}'  type: '{TYPE_NAME}' : (total = {total}, change = {})",
                    total - last
                ));
                last = total;
            }
        }
    });
}

/// Prints the reader's listener lines (matched, incompatible QoS) as its statuses change.
fn watch_reader(r: &DataReader<ShapeType>) {
    let topic = r.topic_name().to_string();
    let mut matched = r.subscription_matched_watch();
    let t = topic.clone();
    tokio::spawn(async move {
        let mut last = 0i64;
        while matched.changed().await.is_ok() {
            let cur = i64::from(matched.borrow_and_update().current_count);
            if cur != last {
                out(&format!(
                    "on_subscription_matched() topic: '{t}'  type: '{TYPE_NAME}' : matched writers {cur} (change = {})",
                    cur - last
                ));
                last = cur;
            }
        }
    });
    let mut incompatible = r.requested_incompatible_qos_watch();
    let t = topic.clone();
    tokio::spawn(async move {
        while incompatible.changed().await.is_ok() {
            let s = *incompatible.borrow_and_update();
            out(&incompatible_line("on_requested_incompatible_qos", &t, &s));
        }
    });
    watch_deadline(r.requested_deadline_missed_watch(), "on_requested_deadline_missed", topic);
}

/// The contract's sample line.
fn sample_line(topic: &str, s: &ShapeType) -> String {
    let mut line = format!("{:<10} {:<10} {:03} {:03} [{}]", topic, s.color, s.x, s.y, s.shapesize);
    if let Some(last) = s.additional_payload_size.last() {
        line.push_str(&format!(" {{{last}}}"));
    }
    line
}

fn topic_names(o: &Opts) -> Vec<String> {
    let base = o.topic.clone().unwrap_or_default();
    (0..o.num_topics).map(|i| if i == 0 { base.clone() } else { format!("{base}{i}") }).collect()
}

fn partitions(o: &Opts) -> Vec<String> {
    o.partition.iter().cloned().collect()
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut i), Ok(mut t)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            tokio::select! {
                _ = i.recv() => {}
                _ = t.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The moving shape of the publisher loop.
struct Mover {
    x: i32,
    y: i32,
    dx: i32,
    dy: i32,
    size: i32,
}

impl Mover {
    const WIDTH: i32 = 240;
    const HEIGHT: i32 = 270;

    fn new(size: i32) -> Self {
        let mut rng = rand::thread_rng();
        let mut v = || rng.gen_range(1..=5) * if rng.gen_bool(0.5) { 1 } else { -1 };
        let (dx, dy) = (v(), v());
        let mut rng = rand::thread_rng();
        Mover { x: rng.gen_range(0..Self::WIDTH), y: rng.gen_range(0..Self::HEIGHT), dx, dy, size }
    }

    fn step(&mut self, grow: bool, modulo: Option<i32>) {
        self.x += self.dx;
        self.y += self.dy;
        if self.x < 0 {
            self.x = -self.x;
            self.dx = -self.dx;
        } else if self.x > Self::WIDTH {
            self.x = 2 * Self::WIDTH - self.x;
            self.dx = -self.dx;
        }
        if self.y < 0 {
            self.y = -self.y;
            self.dy = -self.dy;
        } else if self.y > Self::HEIGHT {
            self.y = 2 * Self::HEIGHT - self.y;
            self.dy = -self.dy;
        }
        if grow {
            self.size = match modulo {
                Some(m) => (self.size % m) + 1,
                None => self.size + 1,
            };
        }
    }
}

async fn run_publisher(dp: &DomainParticipant, o: &Opts) -> Result<(), u8> {
    let color = o.color.clone().unwrap_or_else(|| "BLUE".to_string());
    let publisher = dp.create_publisher(partitions(o));
    let qos = endpoint_qos(o);
    let mut writers = Vec::new();
    for name in topic_names(o) {
        out(&format!("Create topic: {name}"));
        let topic = dp.create_topic::<ShapeType>(&name);
        out(&format!("Create writer for topic: {name} color: {color}"));
        let lines = unsupported(o);
        if !lines.is_empty() {
            lines.iter().for_each(|l| out(l));
            return Err(EXIT_UNSUPPORTED);
        }
        let w = publisher.create_datawriter(&topic, Some(qos.clone())).map_err(|e| {
            warn(&format!("failed to create datawriter: {e}"));
            1u8
        })?;
        if o.final_state == Some('u') {
            // The contract: unregistering must not dispose.
            w.set_writer_data_lifecycle(WriterDataLifecycle { autodispose_unregistered_instances: false });
        }
        watch_writer(&w);
        writers.push(w);
    }
    let instances: Vec<String> =
        (0..o.num_instances).map(|i| if i == 0 { color.clone() } else { format!("{color}{i}") }).collect();
    let mut shape = Mover::new(o.size);
    let payload = vec![255u8; o.payload];
    let period = Duration::from_millis(o.write_period);
    let mut iteration = 0u64;
    let mut set_open = false;
    let stop = interrupted();
    tokio::pin!(stop);
    loop {
        if o.num_iterations != 0 && iteration >= o.num_iterations {
            break;
        }
        iteration += 1;
        shape.step(o.size == 0, o.size_modulo);
        let sets = (o.coherent || o.ordered) && o.coherent_sample_count > 0;
        let count = u64::from(o.coherent_sample_count.max(1));
        if sets && (iteration - 1) % count == 0 {
            out("Started Coherent Set");
            if o.coherent {
                if let Err(e) = publisher.begin_coherent_changes() {
                    warn(&format!("begin_coherent_changes: {e}"));
                }
                set_open = true;
            }
        }
        for w in &writers {
            for c in &instances {
                let s = ShapeType {
                    color: c.clone(),
                    x: shape.x,
                    y: shape.y,
                    shapesize: shape.size,
                    additional_payload_size: payload.clone(),
                };
                match w.write_async(&s).await {
                    Ok(_) => {
                        if o.print_writes {
                            out(&sample_line(w.topic_name(), &s));
                        }
                    }
                    Err(e) => warn(&format!("write failed: {e}")),
                }
            }
        }
        if sets && iteration % count == 0 {
            out("Finished Coherent Set");
            if set_open {
                set_open = false;
                if let Err(e) = publisher.end_coherent_changes() {
                    warn(&format!("end_coherent_changes: {e}"));
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = &mut stop => break,
        }
    }
    if set_open {
        // Stopped inside a set: close it so that readers get what was written.
        out("Finished Coherent Set");
        if let Err(e) = publisher.end_coherent_changes() {
            warn(&format!("end_coherent_changes: {e}"));
        }
    }
    for w in &writers {
        for c in &instances {
            let key = ShapeType { color: c.clone(), ..ShapeType::default() };
            let r = match o.final_state {
                Some('u') => w.unregister_instance(&key).map(|_| ()),
                Some('d') => w.dispose(&key).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = r {
                warn(&format!("final instance state: {e}"));
            }
        }
    }
    for w in &writers {
        let _ = w.wait_for_acknowledgments(Duration::from_secs(1)).await;
    }
    drop(writers);
    Ok(())
}

/// One reader, with its content filter (the reader applies it; kept here for the instance-state lines).
struct ReaderEntry {
    reader: DataReader<ShapeType>,
    filter: Option<Filter>,
    colors: HashMap<[u8; 16], String>,
}

fn print_samples(e: &mut ReaderEntry, samples: Vec<Sample<ShapeType>>, per_instance: bool) {
    let topic = e.reader.topic_name().to_string();
    let mut ordered: Vec<Sample<ShapeType>> = Vec::with_capacity(samples.len());
    if per_instance {
        // Emulates the take_next_instance() loop: all samples of one instance, then the next instance.
        let mut order: Vec<[u8; 16]> = Vec::new();
        let mut groups: HashMap<[u8; 16], Vec<Sample<ShapeType>>> = HashMap::new();
        for s in samples {
            let k = s.info.instance_handle.0;
            if !groups.contains_key(&k) {
                order.push(k);
            }
            groups.entry(k).or_default().push(s);
        }
        for k in order {
            ordered.extend(groups.remove(&k).unwrap_or_default());
        }
    } else {
        ordered = samples;
    }
    for s in ordered {
        let key = s.info.instance_handle.0;
        if s.info.valid_data {
            if let Some(d) = &s.data {
                e.colors.insert(key, d.color.clone());
                out(&sample_line(&topic, d));
            }
        }
        if s.info.instance_state != InstanceState::Alive {
            let color = s
                .data
                .as_ref()
                .map(|d| d.color.clone())
                .filter(|c| !c.is_empty())
                .or_else(|| e.colors.get(&key).cloned());
            let Some(color) = color else { continue };
            if let Some(f) = &e.filter {
                let holder = ShapeType { color: color.clone(), ..ShapeType::default() };
                // Instance-state lines of filtered-out colors are not shown; only the key can be tested.
                if key_filtered_out(f, &holder) {
                    continue;
                }
            }
            let state = match s.info.instance_state {
                InstanceState::NotAliveDisposed => "NOT_ALIVE_DISPOSED_INSTANCE_STATE",
                _ => "NOT_ALIVE_NO_WRITERS_INSTANCE_STATE",
            };
            out(&format!("{topic:<10} {color:<10} {state}"));
        }
    }
}

/// True when a filter that only looks at `color` rejects the key holder. Filters on other fields cannot be
/// decided from the key, so instance-state lines are then always shown.
fn key_filtered_out(f: &Filter, holder: &ShapeType) -> bool {
    f.expression().contains("color") && !f.expression().contains("shapesize") && {
        let v = serde_json::to_value(holder).unwrap_or_default();
        !f.matches(&v)
    }
}

async fn run_subscriber(dp: &DomainParticipant, o: &Opts) -> Result<(), u8> {
    let subscriber = dp.create_subscriber(partitions(o));
    let qos = endpoint_qos(o);
    let mut readers = Vec::new();
    for name in topic_names(o) {
        out(&format!("Create topic: {name}"));
        let topic = dp.create_topic::<ShapeType>(&name);
        let filter = if let Some(c) = &o.color {
            let quoted = format!("'{}'", c.replace('\'', "''"));
            Some(("color = %0".to_string(), vec![quoted]))
        } else {
            o.cft.as_ref().map(|expr| (expr.clone(), Vec::new()))
        };
        let cft = match &filter {
            None => None,
            Some((expr, params)) => {
                match dp.create_contentfilteredtopic(&format!("{name}_filtered"), &topic, expr, params) {
                    Ok(cft) => Some(cft),
                    Err(err) => {
                        warn(&format!("content filter: {err}"));
                        out("failed to create content filtered topic");
                        return Err(1);
                    }
                }
            }
        };
        let filter =
            cft.as_ref().and_then(|c| Filter::with_parameters(&c.filter_expression(), &c.expression_parameters()).ok());
        let shown = if cft.is_some() { format!("{name}_filtered") } else { name.clone() };
        out(&format!("Create reader for topic: {shown}"));
        let lines = unsupported(o);
        if !lines.is_empty() {
            lines.iter().for_each(|l| out(l));
            return Err(EXIT_UNSUPPORTED);
        }
        let r = match &cft {
            Some(cft) => subscriber.create_datareader(cft, Some(qos.clone())),
            None => subscriber.create_datareader(&topic, Some(qos.clone())),
        }
        .map_err(|e| {
            warn(&format!("failed to create datareader: {e}"));
            1u8
        })?;
        watch_reader(&r);
        readers.push(ReaderEntry { reader: r, filter, colors: HashMap::new() });
    }
    let period = Duration::from_millis(o.read_period);
    let stop = interrupted();
    tokio::pin!(stop);
    let mut pass = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = &mut stop => break,
        }
        if o.coherent {
            out(&format!("Reading coherent sets, iteration {pass}"));
        }
        if o.ordered {
            out(&format!("Reading with ordered access, iteration {pass}"));
        }
        pass += 1;
        // One access per pass: coherent sets completing while the readers are read wait for the next pass.
        subscriber.begin_access();
        for e in &mut readers {
            let samples = if o.use_read {
                e.reader.read().into_iter().filter(|s| s.info.sample_state == SampleState::NotRead).collect()
            } else {
                e.reader.take()
            };
            print_samples(e, samples, !o.take_read);
        }
        if let Err(e) = subscriber.end_access() {
            warn(&format!("end_access: {e}"));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = match parse_args(&args) {
        Ok(Parsed::Run(o)) => *o,
        Ok(Parsed::Help) => {
            out(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            warn(&format!("error: {e}"));
            warn(USAGE);
            return ExitCode::from(1);
        }
    };
    let level = if o.debug { "debug" } else { "error" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .try_init();
    role_warnings(&mut o);
    let dp = match DomainParticipant::builder(o.domain).interface(o.interface.clone()).build() {
        Ok(dp) => dp,
        Err(e) => {
            warn(&format!("failed to create participant: {e}"));
            return ExitCode::from(1);
        }
    };
    let r = if o.publish { run_publisher(&dp, &o).await } else { run_subscriber(&dp, &o).await };
    drop(dp);
    match r {
        Ok(()) => {
            out("Done.");
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Opts, String> {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        match parse_args(&args)? {
            Parsed::Run(o) => Ok(*o),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn flags_and_defaults() {
        let o = parse("-P -t Square").unwrap();
        assert!(o.publish && o.reliable && o.xcdr == 1 && o.size == 20 && o.write_period == 33);
        let o = parse("-S -t Square -b -k 0 -s -1 -x 2 -p p* --read-period 500").unwrap();
        assert!(!o.reliable && o.depth == Some(0) && o.strength == -1 && o.xcdr == 2);
        assert_eq!(o.partition.as_deref(), Some("p*"));
        assert_eq!(o.read_period, 500);
        let o = parse("-Pw -tCircle -z0").unwrap();
        assert!(o.print_writes && o.size == 0 && o.topic.as_deref() == Some("Circle"));
        assert!(parse("-P -S -t Square").is_err());
        assert!(parse("-P").is_err());
        assert!(parse("-P -t Square -s -2").is_err());
        assert!(parse("-P -t Square --final-instance-state u --final-instance-state d").is_err());
    }

    #[test]
    fn sample_line_format() {
        let s = ShapeType { color: "BLUE".into(), x: 1, y: 2, shapesize: 1, additional_payload_size: vec![] };
        assert_eq!(sample_line("Square", &s), "Square     BLUE       001 002 [1]");
        let s = ShapeType { additional_payload_size: vec![255; 3], x: 117, y: 42, shapesize: 30, ..s };
        assert_eq!(sample_line("Square", &s), "Square     BLUE       117 042 [30] {255}");
    }

    #[test]
    fn color_filter() {
        let f = Filter::with_parameters("color = %0", &["'RED'"]).unwrap();
        let red = serde_json::to_value(ShapeType { color: "RED".into(), ..Default::default() }).unwrap();
        let blue = serde_json::to_value(ShapeType { color: "BLUE".into(), ..Default::default() }).unwrap();
        assert!(f.matches(&red) && !f.matches(&blue));
        let f = Filter::new("shapesize <= 20").unwrap();
        let big = serde_json::to_value(ShapeType { shapesize: 21, ..Default::default() }).unwrap();
        assert!(!f.matches(&big));
    }
}
