//! `starling perf`: latency (`ping`/`pong`) and throughput (`pub`/`sub`) measurements in the spirit of
//! Cyclone's `ddsperf`.
//!
//! - `ping` writes a sample on `<topic>_ping`, waits for `pong` to echo it on `<topic>_pong`, and records the
//!   round trip (one outstanding ping at a time, or paced by `--rate`). It reports the round-trip time (RTT)
//!   and RTT/2; `ddsperf` prints RTT/2 only.
//! - Both answer from a [`DataReaderListener`], as ddsperf does: `pong` echoes each ping from
//!   `on_data_available`, on the thread that received it, and `ping` takes the echo, records the round trip
//!   and (without `--rate`) writes the next ping there too. The measuring task only reports, paces `--rate`
//!   and counts timeouts.
//! - `pub` writes sequence-numbered samples on `<topic>_data` as fast as possible (or at `--rate`); `sub`
//!   counts them (in a listener, on the receiving thread, like ddsperf's subscriber), detects lost samples
//!   from gaps in the sequence numbers, and reports samples/s and MB/s
//!   (1 MB = 10^6 bytes of serialized sample, the same measure as ddsperf's Mb/s divided by 8).
//!
//! **Backpressure.** A reliable `pub` uses a KEEP_ALL writer whose history is limited to `--window` samples
//! (RESOURCE_LIMITS max_samples; default 2 MiB worth, between 4 and 65 536 samples, so that what is in
//! flight fits the receiver's socket buffer). `DataWriter::write` does not block: when the history is full
//! it fails with `HistoryFull`, and `pub` then flushes its batched datagram and writes the sample again with
//! [`DataWriter::write_async`] as soon as an acknowledgement frees room (bounded to 1 ms, then retried). So
//! at most one window of unacknowledged samples is in flight; the time spent waiting is reported as
//! `full wait`. Best-effort `pub` has no backpressure at all. `pub` batches samples into datagrams
//! ([`DataWriter::set_batching`]), as ddsperf's data writer does.
//!
//! Every line also shows the process's resident set size (VmRSS from `/proc/self/status`) and its CPU use
//! (utime + stime from `/proc/self/stat`, assuming 100 clock ticks per second).

use super::{seconds, CliError};
use crate::dds::{DataReader, DataReaderListener, DataWriter, DdsError, DomainParticipant, StatusMask};
use crate::qos::{EndpointQos, History, Reliability};
use crate::types::perf::{PerfSample, FIXED_SIZE};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use starling_proto::core::WriteErrorKind;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Largest `--size`: 16 MiB.
pub const MAX_SIZE: usize = 16 << 20;

/// What `starling perf` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PerfMode {
    /// Send pings and measure round trips (needs a `pong`).
    Ping,
    /// Echo pings.
    Pong,
    /// Publish samples as fast as possible or at `--rate`.
    Pub,
    /// Receive samples and measure throughput and loss.
    Sub,
}

/// `perf` arguments.
#[derive(Clone, Debug, Args)]
pub struct PerfArgs {
    /// ping, pong, pub or sub.
    #[arg(value_enum)]
    pub mode: PerfMode,
    /// Serialized sample size in bytes, 12 to 16M (suffixes k, M: 1k = 1024); 12 bytes are sequence
    /// number, key and payload length, as in ddsperf's KS topic.
    #[arg(long, default_value = "12", value_parser = parse_size)]
    pub size: usize,
    /// Pings or samples per second (default: as fast as possible).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<f64>,
    /// Reliable (the default).
    #[arg(long, conflicts_with = "best_effort")]
    pub reliable: bool,
    /// Best-effort.
    #[arg(long)]
    pub best_effort: bool,
    /// Seconds to measure (after discovery and the ping warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of unrecorded round trips before a ping measures.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Use a keyed type with N instances (samples cycle through the keys).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keyed: Option<u32>,
    /// Reliable pub: most unacknowledged samples in the writer's history (default: 2 MiB worth).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub window: Option<u64>,
    /// Topic name prefix (`_ping`, `_pong`, `_data` are appended).
    #[arg(long, default_value = "StarlingPerf")]
    pub topic: String,
    /// Seconds to wait for the peer to match.
    #[arg(long, default_value_t = 20.0)]
    pub wait: f64,
    /// One JSON object per line (per second, then a summary with `"summary": true`).
    #[arg(long)]
    pub json: bool,
    /// Microseconds the receive thread keeps polling for data after handling some, before it sleeps (see
    /// `DomainParticipantBuilder::receive_spin`): lower latency for more CPU time. 0 (the default) never spins.
    #[arg(long, value_name = "MICROS", default_value_t = 0)]
    pub spin_us: u64,
    /// ping: write the round-trip histogram of the whole run as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub histogram: Option<PathBuf>,
}

/// Parses `--size`: a byte count with an optional `k`/`K`/`KiB` or `M`/`MiB` suffix (binary multiples).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, mult) =
        if let Some(d) = lower.strip_suffix("kib").or(lower.strip_suffix("kb")).or(lower.strip_suffix('k')) {
            (d, 1024)
        } else if let Some(d) = lower.strip_suffix("mib").or(lower.strip_suffix("mb")).or(lower.strip_suffix('m')) {
            (d, 1024 * 1024)
        } else {
            (lower.strip_suffix('b').unwrap_or(&lower), 1)
        };
    let n: usize = digits.trim().parse().map_err(|_| format!("'{s}' is not a size (examples: 12, 1k, 64k, 1M)"))?;
    let n = n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))?;
    if !(FIXED_SIZE..=MAX_SIZE).contains(&n) {
        return Err(format!("size must be between {FIXED_SIZE} bytes and 16M, got {n}"));
    }
    Ok(n)
}

/// The default unacknowledged window of a reliable `pub`: 2 MiB worth of samples (half the default 4 MiB
/// receive buffer), 4 to 65 536.
pub fn default_window(size: usize) -> u64 {
    ((2usize << 20) / size.max(1)).clamp(4, 65_536) as u64
}

// ----- latency histogram ----------------------------------------------------------------------------------

/// Sub-buckets per power of two (relative resolution 1/128, under 1 %).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanosecond values: exact below 128 ns, then 128 buckets per power of two.
/// Fixed size (about 60 KB), so recording never allocates.
#[derive(Clone)]
pub struct LatencyHistogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram").field("count", &self.count).field("min", &self.min).finish()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let mantissa = (v >> (e - SUB_BITS)) as usize;
    (e - SUB_BITS + 1) as usize * SUB + (mantissa - SUB)
}

/// The smallest value in bucket `i` and the bucket's width.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let group = (i / SUB) as u32;
    let mantissa = (i % SUB + SUB) as u64;
    (mantissa << (group - 1), 1u64 << (group - 1))
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram { counts: vec![0; BUCKETS].into_boxed_slice(), count: 0, sum: 0, min: u64::MAX, max: 0 }
    }

    /// Records one value in nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.count += 1;
        self.sum += u128::from(ns);
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Forgets everything recorded.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// Largest value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean value (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value below which a fraction `q` (0..=1) of the values lie: the middle of the bucket holding the
    /// value of that rank, clamped to the exact minimum and maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = bucket_range(i);
                return (lo + width / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// Median, p90, p99, p99.9, max, mean and min in microseconds, with the count, as JSON; `scale`
    /// multiplies every value (0.5 gives RTT/2).
    pub fn summary_json(&self, scale: f64) -> Value {
        let us = |ns: f64| (ns * scale / 100.0).round() / 10.0;
        json!({
            "median": us(self.quantile(0.5) as f64),
            "p90": us(self.quantile(0.9) as f64),
            "p99": us(self.quantile(0.99) as f64),
            "p999": us(self.quantile(0.999) as f64),
            "max": us(self.max() as f64),
            "mean": us(self.mean()),
            "min": us(self.min() as f64),
            "count": self.count,
        })
    }

    /// Iterates over non-empty buckets as (lowest value, width, count).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| {
            let (lo, w) = bucket_range(i);
            (lo, w, *c)
        })
    }

    /// Writes the histogram as an SVG bar chart: logarithmic time axis from the minimum to the maximum,
    /// linear counts, the median and p99 marked.
    pub fn write_svg(&self, path: &Path, title: &str) -> std::io::Result<()> {
        std::fs::write(path, self.to_svg(title))
    }

    /// The SVG text of [`LatencyHistogram::write_svg`].
    pub fn to_svg(&self, title: &str) -> String {
        const W: f64 = 800.0;
        const H: f64 = 420.0;
        const L: f64 = 70.0;
        const R: f64 = 20.0;
        const T: f64 = 50.0;
        const B: f64 = 60.0;
        const BINS: usize = 80;
        let lo = (self.min().max(1) as f64).ln();
        let hi = (self.max().max(1) as f64).ln().max(lo + 2f64.ln());
        let mut bins = [0u64; BINS];
        for (b, w, c) in self.buckets() {
            let mid = (b as f64 + w as f64 / 2.0).max(1.0).ln();
            let i = (((mid - lo) / (hi - lo) * BINS as f64).max(0.0) as usize).min(BINS - 1);
            bins[i] += c;
        }
        let peak = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
        let (pw, ph) = (W - L - R, H - T - B);
        let x_of = |ns: f64| L + (ns.max(1.0).ln() - lo) / (hi - lo) * pw;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ =
            writeln!(s, r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#, W / 2.0, xml(title));
        let _ = writeln!(
            s,
            r##"<text x="{}" y="40" text-anchor="middle" fill="#555">{} round trips; median {:.1} µs, p99 {:.1} µs, max {:.1} µs (logarithmic time axis)</text>"##,
            W / 2.0,
            self.count,
            self.quantile(0.5) as f64 / 1000.0,
            self.quantile(0.99) as f64 / 1000.0,
            self.max as f64 / 1000.0,
        );
        for (i, c) in bins.iter().enumerate() {
            let h = *c as f64 / peak * ph;
            let x = L + i as f64 * pw / BINS as f64;
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#4878a8"/>"##,
                T + ph - h,
                pw / BINS as f64 - 1.0
            );
        }
        let _ = writeln!(
            s,
            r#"<line x1="{L}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{L}" y1="{T}" x2="{L}" y2="{}" stroke="black"/>"#,
            T + ph,
            L + pw,
            T + ph,
            T + ph
        );
        for k in 0..=5 {
            let ns = (lo + (hi - lo) * k as f64 / 5.0).exp();
            let x = x_of(ns);
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="black"/><text x="{x:.1}" y="{}" text-anchor="middle">{:.1}</text>"#,
                T + ph,
                T + ph + 5.0,
                T + ph + 18.0,
                ns / 1000.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">round-trip time (µs)</text>"#,
            L + pw / 2.0,
            H - 15.0
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, L - 5.0, T + 4.0, peak as u64);
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">0</text>"#, L - 5.0, T + ph);
        for (q, name, color) in [(0.5, "median", "#2a2"), (0.99, "p99", "#c22")] {
            let x = x_of(self.quantile(q) as f64);
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{}" stroke="{color}" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="{color}">{name}</text>"#,
                T + ph,
                x + 3.0,
                T + 12.0
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

// ----- process statistics ---------------------------------------------------------------------------------

/// This process's resident set size in MB (VmRSS), if readable.
pub fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0 / 1e6)
}

/// CPU time (user + system) of this process in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start with field 3, the state.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc/self/stat` (USER_HZ; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU use between calls, in percent of one core.
struct CpuMeter {
    ticks: u64,
    at: Instant,
    first_ticks: u64,
    first_at: Instant,
}

impl CpuMeter {
    fn new() -> Self {
        let t = cpu_ticks().unwrap_or(0);
        let now = Instant::now();
        CpuMeter { ticks: t, at: now, first_ticks: t, first_at: now }
    }

    /// Percent of one core since the previous call.
    fn interval(&mut self) -> f64 {
        let t = cpu_ticks().unwrap_or(self.ticks);
        let now = Instant::now();
        let pct = pct(t.saturating_sub(self.ticks), now - self.at);
        self.ticks = t;
        self.at = now;
        pct
    }

    /// Percent of one core since creation.
    fn total(&self) -> f64 {
        pct(cpu_ticks().unwrap_or(self.first_ticks).saturating_sub(self.first_ticks), self.first_at.elapsed())
    }
}

fn pct(ticks: u64, over: Duration) -> f64 {
    let s = over.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        (ticks as f64 / TICKS_PER_SEC / s * 1000.0).round() / 10.0
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

// ----- running --------------------------------------------------------------------------------------------

fn qos(args: &PerfArgs, latency: bool, reader: bool) -> EndpointQos {
    let mut q = if reader { EndpointQos::reader_default() } else { EndpointQos::writer_default() };
    q.reliability = if args.best_effort { Reliability::best_effort() } else { Reliability::reliable() };
    // Ping/pong keep the last sample (as ddsperf does); throughput keeps all so a reliable stream loses nothing.
    q.history = if latency { History::KeepLast(1) } else { History::KeepAll };
    if reader {
        q.accept_any_representation();
    }
    q
}

fn wait_error(what: &str, secs: f64) -> impl FnOnce(DdsError) -> CliError + '_ {
    move |e| match e {
        DdsError::Timeout => CliError::Wait(format!("no {what} matched within {secs} s")),
        other => other.into(),
    }
}

/// Runs `starling perf`.
///
/// The measurement runs as a task on a runtime worker rather than on the
/// thread blocked on the CLI's main future: a receive task then wakes it on
/// its own worker (tokio's LIFO slot) instead of waking another thread.
pub(crate) async fn run(p: DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    let args = args.clone();
    match tokio::spawn(async move { run_on_worker(p, &args).await }).await {
        Ok(r) => r,
        Err(e) => Err(CliError::Wait(format!("perf task failed: {e}"))),
    }
}

async fn run_on_worker(p: DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    if args.keyed.is_some() {
        run_typed::<true>(p, args).await
    } else {
        run_typed::<false>(p, args).await
    }
}

async fn run_typed<const K: bool>(p: DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    let r = match args.mode {
        PerfMode::Ping => ping::<K>(&p, args).await,
        PerfMode::Pong => pong::<K>(&p, args).await,
        PerfMode::Pub => publish::<K>(&p, args).await,
        PerfMode::Sub => subscribe::<K>(&p, args).await,
    };
    drop(p);
    r
}

type Endpoints<const K: bool> = (DataWriter<PerfSample<K>>, DataReader<PerfSample<K>>);

/// A writer on `out`, a reader on `inp`, both matched.
async fn echo_pair<const K: bool>(
    p: &DomainParticipant,
    args: &PerfArgs,
    out: &str,
    inp: &str,
) -> Result<Endpoints<K>, CliError> {
    let w = p.create_datawriter(&p.create_topic::<PerfSample<K>>(out), Some(qos(args, true, false)))?;
    let r = p.create_datareader(&p.create_topic::<PerfSample<K>>(inp), Some(qos(args, true, true)))?;
    let wait = seconds(args.wait);
    w.wait_for_subscribers(1, wait).await.map_err(wait_error("subscriber", args.wait))?;
    r.wait_for_publishers(1, wait).await.map_err(wait_error("publisher", args.wait))?;
    Ok((w, r))
}

/// How long a ping waits for its echo before it counts as a timeout.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the measuring task looks for a ping that timed out.
const TIMEOUT_CHECK: Duration = Duration::from_millis(100);

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `ping`'s listener and its measuring task share.
struct PingRun<const K: bool> {
    sample: PerfSample<K>,
    seq: u32,
    /// When the outstanding ping was written (`None`: none outstanding).
    sent: Option<Instant>,
    /// False during the warm-up.
    recording: bool,
    /// The listener writes the next ping as soon as the echo is in (no `--rate`).
    free_running: bool,
    stop: bool,
    total: LatencyHistogram,
    interval: LatencyHistogram,
    timeouts: u64,
    interval_timeouts: u64,
    error: Option<DdsError>,
}

/// `ping`'s reader listener: takes the echo, records the round trip, and writes the next ping.
struct Pinger<const K: bool> {
    w: DataWriter<PerfSample<K>>,
    run: Mutex<PingRun<K>>,
}

impl<const K: bool> Pinger<K> {
    /// Writes the next ping (with the run locked).
    fn send(&self, run: &mut PingRun<K>) {
        run.seq = run.seq.wrapping_add(1);
        run.sample.seq = run.seq;
        run.sent = Some(Instant::now());
        if let Err(e) = self.w.write(&run.sample) {
            run.sent = None;
            run.stop = true;
            run.error.get_or_insert(e);
        }
    }
}

impl<const K: bool> DataReaderListener<PerfSample<K>> for Pinger<K> {
    fn on_data_available(&self, reader: &DataReader<PerfSample<K>>) {
        while let Some(s) = reader.try_take_next() {
            let now = Instant::now();
            let Some(d) = s.data.as_ref().filter(|_| s.info.valid_data) else { continue };
            let mut run = locked(&self.run);
            let Some(t0) = run.sent.filter(|_| d.seq == run.seq) else { continue }; // a late echo
            run.sent = None;
            if run.recording {
                let ns = u64::try_from(now.duration_since(t0).as_nanos()).unwrap_or(u64::MAX);
                run.interval.record(ns);
                run.total.record(ns);
            }
            if run.free_running && !run.stop {
                self.send(&mut run);
            }
        }
    }
}

/// `pong`'s reader listener: echoes every ping from the thread that received it.
struct Echo<const K: bool> {
    w: DataWriter<PerfSample<K>>,
    echoed: AtomicU64,
    error: Mutex<Option<DdsError>>,
}

impl<const K: bool> DataReaderListener<PerfSample<K>> for Echo<K> {
    fn on_data_available(&self, reader: &DataReader<PerfSample<K>>) {
        while let Some(s) = reader.try_take_next() {
            if let (true, Some(d)) = (s.info.valid_data, &s.data) {
                match self.w.write(d) {
                    Ok(_) => {
                        self.echoed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        locked(&self.error).get_or_insert(e);
                    }
                }
            }
        }
    }
}

fn print_json(v: &Value) {
    println!("{v}");
}

fn ping_line(t: f64, h: &LatencyHistogram, timeouts: u64, rss: f64, cpu: f64) -> String {
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "{t:6.1} {:>8} {:>9.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} | {:>8.1} {:>8.1} | {:>5} | {rss:6.1} {cpu:5.1}",
        h.count(),
        us(h.quantile(0.5)),
        us(h.quantile(0.9)),
        us(h.quantile(0.99)),
        us(h.quantile(0.999)),
        us(h.max()),
        us(h.quantile(0.5)) / 2.0,
        us(h.quantile(0.99)) / 2.0,
        timeouts
    )
}

async fn ping<const K: bool>(p: &DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    let (w, r) = echo_pair::<K>(p, args, &format!("{}_ping", args.topic), &format!("{}_pong", args.topic)).await?;
    let period = args.rate.filter(|r| *r > 0.0).map(|r| seconds(1.0 / r));
    let pinger = Arc::new(Pinger {
        w,
        run: Mutex::new(PingRun {
            sample: PerfSample::<K>::with_size(args.size),
            seq: 0,
            sent: None,
            recording: false,
            free_running: period.is_none(),
            stop: false,
            total: LatencyHistogram::new(),
            interval: LatencyHistogram::new(),
            timeouts: 0,
            interval_timeouts: 0,
            error: None,
        }),
    });
    r.set_listener(Some(pinger.clone()), StatusMask::DATA_AVAILABLE);
    let result = drive_pings(&pinger, args, period).await;
    r.set_listener(None, StatusMask::NONE);
    result
}

/// Starts the pings, then reports each second and at the end; paces `--rate` and counts timeouts, while the
/// listener does the round trips.
async fn drive_pings<const K: bool>(
    pinger: &Pinger<K>,
    args: &PerfArgs,
    period: Option<Duration>,
) -> Result<(), CliError> {
    let check = |run: &mut PingRun<K>| -> Result<(), CliError> {
        match run.error.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    };
    // Warm-up: round trips that are not recorded.
    let warm_end = Instant::now() + seconds(args.warmup);
    pinger.send(&mut locked(&pinger.run));
    let mut next_send = Instant::now() + period.unwrap_or(Duration::ZERO);
    while Instant::now() < warm_end {
        let until = warm_end.min(Instant::now() + period.unwrap_or(TIMEOUT_CHECK));
        tokio::time::sleep_until(until.into()).await;
        let mut run = locked(&pinger.run);
        check(&mut run)?;
        let idle = run.sent.is_none_or(|t| t.elapsed() >= PING_TIMEOUT);
        if idle && (period.is_none() || Instant::now() >= next_send) {
            pinger.send(&mut run);
            next_send += period.unwrap_or(Duration::ZERO);
        }
    }
    if !args.json {
        println!("# ping: size {} B, {}; RTT in µs (RTT/2 is what ddsperf prints)", args.size, reliability(args));
        println!(
            "{:>6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>9} | {:>8} {:>8} | {:>5} | {:>6} {:>5}",
            "t", "count", "rtt med", "p90", "p99", "p99.9", "max", "rtt/2 md", "rtt/2 99", "t/o", "rssMB", "cpu%"
        );
    }
    let mut cpu = CpuMeter::new();
    let start = Instant::now();
    {
        let mut run = locked(&pinger.run);
        run.recording = true;
        run.total.clear();
        run.interval.clear();
    }
    let end = start + seconds(args.duration);
    let mut next_report = start + Duration::from_secs(1);
    next_send = start;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let mut wake = end.min(next_report).min(now + TIMEOUT_CHECK);
        if period.is_some() {
            wake = wake.min(next_send.max(now));
        }
        if wake > now {
            tokio::time::sleep_until(wake.into()).await;
        }
        let now = Instant::now();
        {
            let mut run = locked(&pinger.run);
            check(&mut run)?;
            if let Some(t0) = run.sent.filter(|t| now.duration_since(*t) >= PING_TIMEOUT) {
                tracing::debug!(seq = run.seq, after = ?now.duration_since(t0), "ping timed out");
                run.sent = None;
                run.timeouts += 1;
                run.interval_timeouts += 1;
                if period.is_none() {
                    pinger.send(&mut run);
                }
            }
            if let Some(period) = period {
                if now >= next_send && run.sent.is_none() {
                    pinger.send(&mut run);
                    next_send += period;
                }
            }
        }
        if now >= next_report {
            let t = (next_report - start).as_secs_f64();
            let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.interval());
            let mut run = locked(&pinger.run);
            let line = if args.json {
                json!({
                    "mode": "ping", "t": t, "size": args.size, "count": run.interval.count(),
                    "rtt_us": run.interval.summary_json(1.0), "half_rtt_us": run.interval.summary_json(0.5),
                    "timeouts": run.interval_timeouts, "rss_mb": round2(rss), "cpu_pct": c,
                })
                .to_string()
            } else {
                ping_line(t, &run.interval, run.interval_timeouts, rss, c)
            };
            run.interval.clear();
            run.interval_timeouts = 0;
            drop(run);
            println!("{line}");
            next_report += Duration::from_secs(1);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut run = locked(&pinger.run);
    run.stop = true;
    run.recording = false;
    check(&mut run)?;
    let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.total());
    let (total, timeouts) = (&run.total, run.timeouts);
    if args.json {
        print_json(&json!({
            "mode": "ping", "summary": true, "size": args.size, "reliable": !args.best_effort,
            "seconds": round2(elapsed), "round_trips_per_s": round2(total.count() as f64 / elapsed),
            "rtt_us": total.summary_json(1.0), "half_rtt_us": total.summary_json(0.5),
            "timeouts": timeouts, "rss_mb": round2(rss), "cpu_pct": c,
        }));
    } else {
        println!("# summary over {elapsed:.1} s, {:.0} round trips/s:", total.count() as f64 / elapsed);
        println!("{}", ping_line(elapsed, total, timeouts, rss, c));
    }
    if let Some(path) = &args.histogram {
        let title = format!("starling perf ping, {} B, {}", args.size, reliability(args));
        total.write_svg(path, &title)?;
    }
    Ok(())
}

fn reliability(args: &PerfArgs) -> &'static str {
    if args.best_effort {
        "best-effort"
    } else {
        "reliable"
    }
}

async fn pong<const K: bool>(p: &DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    let (w, r) = echo_pair::<K>(p, args, &format!("{}_pong", args.topic), &format!("{}_ping", args.topic)).await?;
    if !args.json {
        println!("# pong: echoing {}_ping on {}_pong", args.topic, args.topic);
        println!("{:>6} {:>8} {:>6} {:>5}", "t", "echoed", "rssMB", "cpu%");
    }
    let echo = Arc::new(Echo { w, echoed: AtomicU64::new(0), error: Mutex::new(None) });
    r.set_listener(Some(echo.clone()), StatusMask::DATA_AVAILABLE);
    let result = report_pongs(&echo, args).await;
    r.set_listener(None, StatusMask::NONE);
    result
}

/// Reports what the listener echoed, each second and at the end.
async fn report_pongs<const K: bool>(echo: &Echo<K>, args: &PerfArgs) -> Result<(), CliError> {
    let mut cpu = CpuMeter::new();
    let start = Instant::now();
    let end = start + seconds(args.duration);
    let mut next_report = start + Duration::from_secs(1);
    let mut reported = 0u64;
    loop {
        tokio::time::sleep_until(end.min(next_report).into()).await;
        if let Some(e) = locked(&echo.error).take() {
            return Err(e.into());
        }
        if Instant::now() >= end {
            break;
        }
        let t = (next_report - start).as_secs_f64();
        let total = echo.echoed.load(Ordering::Relaxed);
        let n = total - reported;
        reported = total;
        let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.interval());
        if args.json {
            print_json(&json!({"mode": "pong", "t": t, "count": n, "rss_mb": round2(rss), "cpu_pct": c}));
        } else {
            println!("{t:6.1} {n:>8} {rss:6.1} {c:5.1}");
        }
        next_report += Duration::from_secs(1);
    }
    let total = echo.echoed.load(Ordering::Relaxed);
    let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.total());
    if args.json {
        print_json(&json!({"mode": "pong", "summary": true, "count": total, "rss_mb": round2(rss), "cpu_pct": c}));
    } else {
        println!("# summary: echoed {total}, rss {rss:.1} MB, cpu {c:.1} %");
    }
    Ok(())
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}

async fn publish<const K: bool>(p: &DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    let topic = p.create_topic::<PerfSample<K>>(&format!("{}_data", args.topic));
    let reliable = !args.best_effort;
    let window = args.window.unwrap_or_else(|| default_window(args.size));
    let mut wq = qos(args, false, false);
    if reliable {
        wq.resource_limits.max_samples = i32::try_from(window).unwrap_or(i32::MAX);
    }
    let w = p.create_datawriter(&topic, Some(wq))?;
    // Like ddsperf's data writer: batch samples into datagrams, flushed before every wait.
    w.set_batching(true);
    w.wait_for_subscribers(1, seconds(args.wait)).await.map_err(wait_error("subscriber", args.wait))?;
    let keys = args.keyed.unwrap_or(1).max(1);
    let mut sample = PerfSample::<K>::with_size(args.size);
    let size = sample.size() as f64;
    if !args.json {
        println!(
            "# pub: size {} B, {}, window {}",
            args.size,
            reliability(args),
            if reliable { window.to_string() } else { "-".into() }
        );
        println!(
            "{:>6} {:>12} {:>10} {:>10} {:>9} {:>6} {:>5}",
            "t", "written", "samples/s", "MB/s", "full wait", "rssMB", "cpu%"
        );
    }
    let ack_timeout = Duration::from_secs(10);
    let mut stalled = false;
    let mut cpu = CpuMeter::new();
    let start = Instant::now();
    let end = start + seconds(args.duration);
    let mut next_report = start + Duration::from_secs(1);
    let (mut written, mut interval_written) = (0u64, 0u64);
    let (mut ack_wait, mut interval_ack_wait) = (Duration::ZERO, Duration::ZERO);
    let rate = args.rate.filter(|r| *r > 0.0);
    // Reading the clock is a tenth of this loop's cost at small samples: unpaced, read it every 16 writes.
    let mut now = start;
    loop {
        if now >= end {
            break;
        }
        if let Some(rate) = rate {
            let due = start + seconds(written as f64 / rate);
            if now < due {
                w.flush();
                tokio::time::sleep_until(due.into()).await;
            }
        }
        sample.seq = (written + 1) as u32;
        sample.key = ((written + 1) % u64::from(keys)) as u32;
        let mut full_since = None;
        loop {
            match w.write(&sample) {
                Ok(_) => break,
                Err(DdsError::Write(e)) if e.kind == WriteErrorKind::HistoryFull => {
                    let t = Instant::now();
                    let since = *full_since.get_or_insert(t);
                    if t - since > ack_timeout {
                        stalled = true;
                        break;
                    }
                    // Send what is batched (its heartbeat asks for the acknowledgements), then
                    // write again as soon as an acknowledgement frees room (bounded to 1 ms).
                    w.flush();
                    let r = tokio::time::timeout(Duration::from_millis(1), w.write_async(&sample)).await;
                    ack_wait += t.elapsed();
                    interval_ack_wait += t.elapsed();
                    match r {
                        Ok(Ok(_)) => break,
                        Ok(Err(DdsError::WriteTimeout(_))) | Err(_) => {}
                        Ok(Err(e)) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        if stalled {
            tracing::warn!("no acknowledgement for {} s with a full history; stopping", ack_timeout.as_secs());
            break;
        }
        written += 1;
        interval_written += 1;
        if written % 256 == 0 {
            tokio::task::yield_now().await;
        }
        if rate.is_some() || written % 16 == 0 {
            now = Instant::now();
        }
        if now >= next_report {
            let t = (now - start).as_secs_f64();
            let dt = (now - (next_report - Duration::from_secs(1))).as_secs_f64();
            let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.interval());
            let rate = interval_written as f64 / dt;
            if args.json {
                print_json(&json!({
                    "mode": "pub", "t": round2(t), "size": args.size, "written": written,
                    "samples_per_s": rate.round(), "mb_per_s": round2(mb(rate * size)),
                    "full_wait_s": round2(interval_ack_wait.as_secs_f64()), "rss_mb": round2(rss), "cpu_pct": c,
                }));
            } else {
                println!(
                    "{t:6.1} {written:>12} {rate:>10.0} {:>10.1} {:>8.2}s {rss:6.1} {c:5.1}",
                    mb(rate * size),
                    interval_ack_wait.as_secs_f64()
                );
            }
            interval_written = 0;
            interval_ack_wait = Duration::ZERO;
            next_report = now + Duration::from_secs(1);
        }
    }
    w.flush();
    let elapsed = start.elapsed().as_secs_f64();
    let acked = if reliable { w.wait_for_acknowledgments(ack_timeout).await.is_ok() } else { true };
    let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.total());
    let rate = written as f64 / elapsed;
    if args.json {
        print_json(&json!({
            "mode": "pub", "summary": true, "size": args.size, "reliable": reliable, "seconds": round2(elapsed),
            "written": written, "samples_per_s": rate.round(), "mb_per_s": round2(mb(rate * size)),
            "window": if reliable { Some(window) } else { None }, "full_wait_s": round2(ack_wait.as_secs_f64()),
            "stalled": stalled, "all_acked": acked, "rss_mb": round2(rss), "cpu_pct": c,
        }));
    } else {
        println!(
            "# summary: {written} samples in {elapsed:.1} s: {rate:.0} samples/s, {:.1} MB/s; waited {:.2} s on a full history{}; rss {rss:.1} MB, cpu {c:.1} %",
            mb(rate * size),
            ack_wait.as_secs_f64(),
            if acked { "" } else { " (not all acknowledged at the end)" }
        );
    }
    Ok(())
}

/// Sequence-number bookkeeping of `sub`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LossCounter {
    /// The next sequence number expected (the first is 1).
    pub next: u64,
    /// Sequence numbers skipped over.
    pub lost: u64,
    /// Samples at or below a sequence number already seen (duplicates or reordering).
    pub out_of_order: u64,
}

impl LossCounter {
    /// A counter expecting sequence number 1 first.
    pub fn new() -> Self {
        LossCounter { next: 1, lost: 0, out_of_order: 0 }
    }

    /// Records sequence number `seq`.
    pub fn record(&mut self, seq: u64) {
        if seq < self.next {
            self.out_of_order += 1;
            return;
        }
        self.lost += seq - self.next;
        self.next = seq + 1;
    }
}

/// What `sub`'s listener counts and its reporting task reads.
struct SubStats {
    received: u64,
    bytes: u64,
    interval_n: u64,
    interval_bytes: u64,
    size: usize,
    loss: LossCounter,
    /// When the first and the last sample arrived.
    first: Option<Instant>,
    last: Option<Instant>,
}

/// `sub`'s reader listener: takes and counts the samples on the thread that received them, as ddsperf's
/// subscriber does (no hand-over to another thread per batch).
struct Counter<const K: bool> {
    stats: Mutex<SubStats>,
}

/// The sequence number is 32 bits on the wire; unwraps it against the expected one.
fn unwrap_seq(expected: u64, seq: u32) -> u64 {
    let base = expected & !0xffff_ffff;
    let cand = base | u64::from(seq);
    if cand + (1 << 31) < expected {
        cand + (1 << 32)
    } else {
        cand
    }
}

impl<const K: bool> DataReaderListener<PerfSample<K>> for Counter<K> {
    fn on_data_available(&self, reader: &DataReader<PerfSample<K>>) {
        let batch = reader.take();
        if batch.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut st = locked(&self.stats);
        st.first.get_or_insert(now);
        st.last = Some(now);
        for s in batch {
            if let (true, Some(d)) = (s.info.valid_data, &s.data) {
                let size = d.size();
                st.received += 1;
                st.interval_n += 1;
                st.size = size;
                st.interval_bytes += size as u64;
                st.bytes += size as u64;
                let next = st.loss.next;
                st.loss.record(unwrap_seq(next, d.seq));
            }
        }
    }
}

async fn subscribe<const K: bool>(p: &DomainParticipant, args: &PerfArgs) -> Result<(), CliError> {
    let topic = p.create_topic::<PerfSample<K>>(&format!("{}_data", args.topic));
    let r = p.create_datareader(&topic, Some(qos(args, false, true)))?;
    let counter = Arc::new(Counter::<K> {
        stats: Mutex::new(SubStats {
            received: 0,
            bytes: 0,
            interval_n: 0,
            interval_bytes: 0,
            size: 0,
            loss: LossCounter::new(),
            first: None,
            last: None,
        }),
    });
    r.set_listener(Some(counter.clone()), StatusMask::DATA_AVAILABLE);
    let result = count_samples(&r, &counter, args).await;
    r.set_listener(None, StatusMask::NONE);
    result
}

/// Reports what `sub`'s listener counted, each second and at the end.
async fn count_samples<const K: bool>(
    r: &DataReader<PerfSample<K>>,
    counter: &Counter<K>,
    args: &PerfArgs,
) -> Result<(), CliError> {
    r.wait_for_publishers(1, seconds(args.wait)).await.map_err(wait_error("publisher", args.wait))?;
    if !args.json {
        println!("# sub: {}", reliability(args));
        println!(
            "{:>6} {:>12} {:>10} {:>10} {:>8} {:>6} {:>6} {:>5}",
            "t", "received", "samples/s", "MB/s", "lost", "size", "rssMB", "cpu%"
        );
    }
    let mut cpu = CpuMeter::new();
    let start = Instant::now();
    let end = start + seconds(args.duration);
    let mut last_report = start;
    loop {
        let next_report = (last_report + Duration::from_secs(1)).min(end);
        tokio::time::sleep_until(next_report.into()).await;
        let now = Instant::now();
        if now >= end {
            break;
        }
        let dt = (now - last_report).as_secs_f64();
        let t = (now - start).as_secs_f64();
        let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.interval());
        let (received, n, b, size, loss) = {
            let mut st = locked(&counter.stats);
            let v = (st.received, st.interval_n, st.interval_bytes, st.size, st.loss);
            st.interval_n = 0;
            st.interval_bytes = 0;
            v
        };
        let rate = n as f64 / dt;
        let mbs = mb(b as f64 / dt);
        if args.json {
            print_json(&json!({
                "mode": "sub", "t": round2(t), "size": size, "received": received,
                "samples_per_s": rate.round(), "mb_per_s": round2(mbs), "lost": loss.lost,
                "out_of_order": loss.out_of_order, "rss_mb": round2(rss), "cpu_pct": c,
            }));
        } else {
            println!("{t:6.1} {received:>12} {rate:>10.0} {mbs:>10.1} {:>8} {size:>6} {rss:6.1} {c:5.1}", loss.lost);
        }
        last_report = now;
    }
    let (received, bytes, size, loss, first, last) = {
        let st = locked(&counter.stats);
        (st.received, st.bytes, st.size, st.loss, st.first, st.last)
    };
    let active = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if active > 0.0 { received as f64 / active } else { 0.0 };
    let mbs = if active > 0.0 { mb(bytes as f64 / active) } else { 0.0 };
    let (rss, c) = (rss_mb().unwrap_or(0.0), cpu.total());
    if args.json {
        print_json(&json!({
            "mode": "sub", "summary": true, "size": size, "reliable": !args.best_effort, "received": received,
            "active_seconds": round2(active), "samples_per_s": rate.round(), "mb_per_s": round2(mbs),
            "lost": loss.lost, "out_of_order": loss.out_of_order, "undecodable": r.undecodable_samples(),
            "rss_mb": round2(rss), "cpu_pct": c,
        }));
    } else {
        println!(
            "# summary: {received} samples in {active:.1} s (first to last): {rate:.0} samples/s, {mbs:.1} MB/s; lost {}, out of order {}; rss {rss:.1} MB, cpu {c:.1} %",
            loss.lost, loss.out_of_order
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes_and_bounds() {
        assert_eq!(parse_size("12"), Ok(12));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert!(parse_size("11").is_err());
        assert!(parse_size("17M").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999999999k").is_err());
    }

    #[test]
    fn histogram_buckets_round_trip_and_quantiles() {
        for v in [0u64, 1, 127, 128, 129, 255, 256, 1000, 45_000, 1 << 40, u64::MAX] {
            let (lo, w) = bucket_range(bucket_of(v));
            assert!(lo <= v && v - lo < w, "{v}: [{lo}, +{w})");
        }
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let within = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.01;
        assert!(within(h.quantile(0.5), 500_000), "{}", h.quantile(0.5));
        assert!(within(h.quantile(0.99), 990_000), "{}", h.quantile(0.99));
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.count(), 1000);
        let svg = h.to_svg("t <1>");
        assert!(svg.starts_with("<svg") && svg.contains("t &lt;1&gt;") && svg.trim_end().ends_with("</svg>"));
        h.clear();
        assert_eq!((h.count(), h.quantile(0.5), h.min()), (0, 0, 0));
    }

    #[test]
    fn loss_counter_counts_gaps_and_duplicates() {
        let mut l = LossCounter::new();
        for s in [1, 2, 5, 6, 6, 3, 7] {
            l.record(s);
        }
        assert_eq!((l.next, l.lost, l.out_of_order), (8, 2, 2));
    }

    #[test]
    fn default_window_is_bounded() {
        assert_eq!(default_window(12), 65_536);
        assert_eq!(default_window(1024), 2048);
        assert_eq!(default_window(1 << 20), 4);
        assert_eq!(default_window(16 << 20), 4);
    }
}
