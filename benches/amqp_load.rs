//! AMQP 0-9-1 load generator: publish → consume through one broker (Starling's bridge or
//! RabbitMQ), for `benches/amqp_compare.sh`.
//!
//! Each of `--conns` connections declares its own auto-delete queue `amqp-load-N`, consumes it
//! on channel 2 (no-ack) and publishes to it through the default exchange on channel 1
//! (`--confirms`: after confirm.select), with `--body`-byte bodies.
//!
//! - `--mode throughput` (closed loop): at most `--window` messages per connection are in
//!   flight (published and not yet delivered back, or with confirms not yet confirmed); after
//!   a 1 s warm-up, delivered messages are counted for `--seconds`.
//! - `--mode latency`: publishes `--rate` messages/s in total (open loop, spread over the
//!   connections, paced every millisecond); each body starts with its send time, and the
//!   delivery latency percentiles of the messages sent after the warm-up are reported.
//!
//! Either way the publishers then stop, the generator waits (bounded) for every message to
//! come back and every confirm, and reports what was lost. With `--server-pid`, the server's
//! CPU use over the measured interval (utime + stime from `/proc/PID/stat`) and its RSS at the
//! end are reported. Output: one JSON object on stdout.
//!
//! It is a minimal client on raw frames (handshake with PLAIN, no heartbeats) rather than a
//! client library: the hot path writes pre-encoded publish frames in batches and scans
//! deliveries without decoding them, so the generator costs as little CPU as possible on the
//! two cores it shares with the broker, and the same bytes go to both brokers.
//!
//! ```sh
//! cargo bench --bench amqp_load --no-run     # builds target/release/deps/amqp_load-*
//! amqp_load-* --addr 127.0.0.1:5672 --conns 10 --confirms --mode throughput --seconds 5
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Throughput,
    Latency,
}

#[derive(Clone, Debug)]
struct Args {
    addr: SocketAddr,
    label: String,
    server_pid: Option<u32>,
    conns: usize,
    confirms: bool,
    mode: Mode,
    window: u64,
    rate: u64,
    body: usize,
    seconds: f64,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 5672)),
        label: "server".into(),
        server_pid: None,
        conns: 1,
        confirms: false,
        mode: Mode::Throughput,
        window: 500,
        rate: 10_000,
        body: 100,
        seconds: 5.0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--addr" => a.addr = val.parse().expect("--addr"),
            "--label" => a.label = val,
            "--server-pid" => a.server_pid = Some(val.parse().expect("--server-pid")),
            "--conns" => a.conns = val.parse().expect("--conns"),
            "--window" => a.window = val.parse().expect("--window"),
            "--rate" => a.rate = val.parse().expect("--rate"),
            "--body" => a.body = val.parse().expect("--body"),
            "--seconds" => a.seconds = val.parse().expect("--seconds"),
            "--mode" => {
                a.mode = match val.as_str() {
                    "throughput" => Mode::Throughput,
                    "latency" => Mode::Latency,
                    other => panic!("--mode {other}: throughput or latency"),
                }
            }
            "--confirms" => {
                a.confirms = true;
                i += 1;
                continue;
            }
            // `cargo bench` passes --bench.
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    assert!(a.body >= 8, "--body must be at least 8 bytes (the send time)");
    a
}

// ---- raw frames ---------------------------------------------------------------------------

fn shortstr(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).expect("short string"));
    out.extend_from_slice(s.as_bytes());
}

fn method(channel: u16, class: u16, meth: u16, args: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&((args.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&meth.to_be_bytes());
    out.extend_from_slice(args);
    out.push(0xCE);
    out
}

/// basic.publish to the default exchange with routing key `queue`, a content header without
/// properties, and one body frame; the body is at `body_at..body_at + body`.
fn publish_template(queue: &str, body: usize) -> (Vec<u8>, usize) {
    let mut args = vec![0, 0];
    shortstr(&mut args, "");
    shortstr(&mut args, queue);
    args.push(0);
    let mut out = method(1, 60, 40, &args);
    let mut header = vec![0, 60, 0, 0];
    header.extend_from_slice(&(body as u64).to_be_bytes());
    header.extend_from_slice(&[0, 0]);
    out.push(2);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.push(0xCE);
    out.push(3);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(body as u32).to_be_bytes());
    let body_at = out.len();
    out.resize(body_at + body, b'x');
    out.push(0xCE);
    (out, body_at)
}

struct RawFrame {
    kind: u8,
    channel: u16,
    payload: Vec<u8>,
}

async fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<RawFrame> {
    loop {
        if buf.len() >= 7 {
            let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
            if buf.len() >= size + 8 {
                let f = RawFrame {
                    kind: buf[0],
                    channel: u16::from_be_bytes([buf[1], buf[2]]),
                    payload: buf[7..7 + size].to_vec(),
                };
                buf.drain(..size + 8);
                return Ok(f);
            }
        }
        let mut tmp = [0u8; 4096];
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Reads frames until the method `class.meth` arrives (fails on connection.close or
/// channel.close).
async fn expect(s: &mut TcpStream, buf: &mut Vec<u8>, class: u16, meth: u16) -> std::io::Result<RawFrame> {
    loop {
        let f = read_frame(s, buf).await?;
        if f.kind != 1 || f.payload.len() < 4 {
            continue;
        }
        let ids = (u16::from_be_bytes([f.payload[0], f.payload[1]]), u16::from_be_bytes([f.payload[2], f.payload[3]]));
        if ids == (class, meth) {
            return Ok(f);
        }
        if ids == (10, 50) || ids == (20, 40) {
            let text = f.payload.get(7..).map(String::from_utf8_lossy).unwrap_or_default().into_owned();
            return Err(std::io::Error::other(format!("closed by the server on channel {}: {text}", f.channel)));
        }
    }
}

/// Opens a connection (PLAIN guest/guest, no heartbeats), channels 1 and 2, the queue, the
/// consumer and (optionally) confirm mode.
async fn setup(addr: SocketAddr, queue: &str, confirms: bool) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = Vec::new();
    s.write_all(b"AMQP\x00\x00\x09\x01").await?;
    expect(&mut s, &mut buf, 10, 10).await?;
    let mut a = 0u32.to_be_bytes().to_vec();
    shortstr(&mut a, "PLAIN");
    let resp = b"\x00guest\x00guest";
    a.extend_from_slice(&(resp.len() as u32).to_be_bytes());
    a.extend_from_slice(resp);
    shortstr(&mut a, "en_US");
    s.write_all(&method(0, 10, 11, &a)).await?;
    let tune = expect(&mut s, &mut buf, 10, 30).await?;
    let channel_max = u16::from_be_bytes([tune.payload[4], tune.payload[5]]);
    let mut a = channel_max.to_be_bytes().to_vec();
    a.extend_from_slice(&131_072u32.to_be_bytes());
    a.extend_from_slice(&0u16.to_be_bytes());
    s.write_all(&method(0, 10, 31, &a)).await?;
    let mut a = Vec::new();
    shortstr(&mut a, "/");
    shortstr(&mut a, "");
    a.push(0);
    s.write_all(&method(0, 10, 40, &a)).await?;
    expect(&mut s, &mut buf, 10, 41).await?;
    for ch in [1, 2] {
        s.write_all(&method(ch, 20, 10, &[0])).await?;
        expect(&mut s, &mut buf, 20, 11).await?;
    }
    let mut a = vec![0, 0];
    shortstr(&mut a, queue);
    a.push(0b1000); // auto-delete
    a.extend_from_slice(&0u32.to_be_bytes());
    s.write_all(&method(1, 50, 10, &a)).await?;
    expect(&mut s, &mut buf, 50, 11).await?;
    if confirms {
        s.write_all(&method(1, 85, 10, &[0])).await?;
        expect(&mut s, &mut buf, 85, 11).await?;
    }
    let mut a = vec![0, 0];
    shortstr(&mut a, queue);
    shortstr(&mut a, "c");
    a.push(0b10); // no-ack
    a.extend_from_slice(&0u32.to_be_bytes());
    s.write_all(&method(2, 60, 20, &a)).await?;
    expect(&mut s, &mut buf, 60, 21).await?;
    if !buf.is_empty() {
        return Err(std::io::Error::other("unexpected frames after basic.consume-ok"));
    }
    Ok(s)
}

// ---- one connection -----------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    confirmed: AtomicU64,
    nacked: AtomicU64,
    writer_done: AtomicBool,
    notify: Notify,
}

#[derive(Default)]
struct ConnResult {
    published: u64,
    delivered: u64,
    confirmed: u64,
    nacked: u64,
    latencies_us: Vec<u32>,
    error: Option<String>,
}

/// Tracks confirms: tags are 1, 2, 3, … in publish order; `multiple` covers all up to a tag.
#[derive(Default)]
struct ConfirmTracker {
    upto: u64,
    ahead: HashSet<u64>,
}

impl ConfirmTracker {
    fn confirm(&mut self, tag: u64, multiple: bool) {
        if multiple {
            self.upto = self.upto.max(tag);
            self.ahead.retain(|t| *t > tag);
        } else if tag == self.upto + 1 {
            self.upto = tag;
        } else if tag > self.upto {
            self.ahead.insert(tag);
        }
        while self.ahead.remove(&(self.upto + 1)) {
            self.upto += 1;
        }
    }
}

struct Plan {
    args: Args,
    base: Instant,
    warm: Instant,
    stop: Arc<AtomicBool>,
}

/// Publishes until the plan stops; returns the write half, because dropping it would shut the
/// socket down for writing, which RabbitMQ takes for the end of the connection.
async fn writer(
    mut w: tokio::net::tcp::OwnedWriteHalf,
    plan: Arc<Plan>,
    c: Arc<Counters>,
    queue: String,
) -> std::io::Result<tokio::net::tcp::OwnedWriteHalf> {
    let a = &plan.args;
    let (template, body_at) = publish_template(&queue, a.body);
    let mut buf: Vec<u8> = Vec::with_capacity(template.len() * 64);
    let mut published = 0u64;
    let per_conn_rate = a.rate as f64 / a.conns as f64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !plan.stop.load(Ordering::Relaxed) {
        let n = match a.mode {
            Mode::Throughput => {
                let done = c.delivered.load(Ordering::Acquire);
                let done = if a.confirms { done.min(c.confirmed.load(Ordering::Acquire)) } else { done };
                let room = a.window.saturating_sub(published - done.min(published));
                if room == 0 {
                    // A permit stored by notify_one() makes this return at once: no lost wake-up.
                    let _ = tokio::time::timeout(Duration::from_millis(100), c.notify.notified()).await;
                    continue;
                }
                room.min(64)
            }
            Mode::Latency => {
                tick.tick().await;
                let due = (plan.base.elapsed().as_secs_f64() * per_conn_rate) as u64;
                due.saturating_sub(published)
            }
        };
        if n == 0 {
            continue;
        }
        buf.clear();
        for _ in 0..n {
            let start = buf.len();
            buf.extend_from_slice(&template);
            let t = plan.base.elapsed().as_nanos() as u64;
            buf[start + body_at..start + body_at + 8].copy_from_slice(&t.to_be_bytes());
        }
        w.write_all(&buf).await?;
        published += n;
        c.published.store(published, Ordering::Release);
    }
    c.writer_done.store(true, Ordering::Release);
    Ok(w)
}

async fn reader(
    mut r: tokio::net::tcp::OwnedReadHalf,
    plan: Arc<Plan>,
    c: Arc<Counters>,
    lat: &mut Vec<u32>,
) -> std::io::Result<()> {
    let warm_ns = plan.warm.duration_since(plan.base).as_nanos() as u64;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut start, mut end) = (0usize, 0usize);
    let mut delivered = 0u64;
    let mut tracker = ConfirmTracker::default();
    let mut nacked = 0u64;
    loop {
        // Parse every complete frame in buf[start..end].
        loop {
            if end - start < 7 {
                break;
            }
            let size = u32::from_be_bytes([buf[start + 3], buf[start + 4], buf[start + 5], buf[start + 6]]) as usize;
            if end - start < size + 8 {
                break;
            }
            let p = &buf[start + 7..start + 7 + size];
            match buf[start] {
                1 if p.len() >= 4 => {
                    let ids = (u16::from_be_bytes([p[0], p[1]]), u16::from_be_bytes([p[2], p[3]]));
                    match ids {
                        (60, 80) | (60, 120) if p.len() >= 13 => {
                            let mut t = [0u8; 8];
                            t.copy_from_slice(&p[4..12]);
                            tracker.confirm(u64::from_be_bytes(t), p[12] & 1 != 0);
                            if ids.1 == 120 {
                                nacked += 1;
                                c.nacked.store(nacked, Ordering::Release);
                            }
                            c.confirmed.store(tracker.upto, Ordering::Release);
                        }
                        (10, 50) | (20, 40) => {
                            let text = String::from_utf8_lossy(p.get(7..).unwrap_or_default()).into_owned();
                            return Err(std::io::Error::other(format!("closed by the server: {text}")));
                        }
                        _ => {}
                    }
                }
                3 => {
                    delivered += 1;
                    if plan.args.mode == Mode::Latency && p.len() >= 8 {
                        let mut t = [0u8; 8];
                        t.copy_from_slice(&p[..8]);
                        let sent = u64::from_be_bytes(t);
                        if sent >= warm_ns {
                            let now = plan.base.elapsed().as_nanos() as u64;
                            lat.push(u32::try_from(now.saturating_sub(sent) / 1000).unwrap_or(u32::MAX));
                        }
                    }
                }
                _ => {}
            }
            start += size + 8;
        }
        c.delivered.store(delivered, Ordering::Release);
        c.notify.notify_one();
        if start == end {
            start = 0;
            end = 0;
        } else if buf.len() - end < 64 * 1024 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if buf.len() - end < 64 * 1024 {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let n = r.read(&mut buf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        end += n;
    }
}

async fn connection(
    s: TcpStream,
    queue: String,
    plan: Arc<Plan>,
    c: Arc<Counters>,
    drain_until: Arc<Notify>,
) -> ConnResult {
    let (r, w) = s.into_split();
    let wt = tokio::spawn(writer(w, plan.clone(), c.clone(), queue));
    let mut lat = Vec::new();
    let mut reading = Box::pin(reader(r, plan.clone(), c.clone(), &mut lat));
    let mut error = None;
    // Read until the publishers have stopped and everything came back (or the drain deadline).
    let done = async {
        loop {
            if c.writer_done.load(Ordering::Acquire) {
                let p = c.published.load(Ordering::Acquire);
                let back = c.delivered.load(Ordering::Acquire) >= p
                    && (!plan.args.confirms || c.confirmed.load(Ordering::Acquire) >= p);
                if back {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        r = &mut reading => if let Err(e) = r { error = Some(e.to_string()) },
        () = done => {}
        () = drain_until.notified() => {}
    }
    drop(reading);
    let _write_half = wt.await;
    ConnResult {
        published: c.published.load(Ordering::Acquire),
        delivered: c.delivered.load(Ordering::Acquire),
        confirmed: c.confirmed.load(Ordering::Acquire),
        nacked: c.nacked.load(Ordering::Acquire),
        latencies_us: lat,
        error,
    }
}

// ---- server metrics -----------------------------------------------------------------------

fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    // Connections are set up before the clock of the run starts.
    let mut socks = Vec::new();
    for i in 0..args.conns {
        let queue = format!("amqp-load-{i}");
        match setup(args.addr, &queue, args.confirms).await {
            Ok(s) => socks.push((s, queue)),
            Err(e) => {
                println!("{}", serde_json::json!({"server": args.label, "errors": [format!("setup: {e}")]}));
                std::process::exit(1);
            }
        }
    }
    let base = Instant::now();
    let warm = base + Duration::from_secs(1);
    let stop = Arc::new(AtomicBool::new(false));
    let plan = Arc::new(Plan { args: args.clone(), base, warm, stop: stop.clone() });
    let drain = Arc::new(Notify::new());
    let counters: Vec<Arc<Counters>> = (0..args.conns).map(|_| Arc::new(Counters::default())).collect();
    let delivered_now = || counters.iter().map(|c| c.delivered.load(Ordering::Acquire)).sum::<u64>();
    let mut tasks = Vec::new();
    for ((s, queue), c) in socks.into_iter().zip(&counters) {
        tasks.push(tokio::spawn(connection(s, queue, plan.clone(), c.clone(), drain.clone())));
    }
    // Warm-up, then the measured interval.
    tokio::time::sleep_until(tokio::time::Instant::from_std(warm)).await;
    let cpu0 = args.server_pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    let snap0 = delivered_now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let snap1 = delivered_now();
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = args.server_pid.and_then(cpu_ticks);
    let rss = args.server_pid.and_then(rss_kb);
    stop.store(true, Ordering::Release);
    let drain_deadline = drain.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        drain_deadline.notify_waiters();
    });
    let mut published = 0;
    let mut delivered = 0;
    let mut confirmed = 0;
    let mut nacked = 0;
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => {
                published += r.published;
                delivered += r.delivered;
                confirmed += r.confirmed;
                nacked += r.nacked;
                lat.extend(r.latencies_us);
                if let Some(e) = r.error {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    lat.sort_unstable();
    let rate = (snap1 - snap0) as f64 / elapsed;
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some((b - a) as f64 / ticks_per_sec() / elapsed * 100.0),
        _ => None,
    };
    let out = serde_json::json!({
        "server": args.label,
        "mode": match args.mode { Mode::Throughput => "throughput", Mode::Latency => "latency" },
        "conns": args.conns,
        "confirms": args.confirms,
        "body": args.body,
        "window": args.window,
        "offered_rate": if args.mode == Mode::Latency { Some(args.rate) } else { None },
        "delivered_per_s": rate.round(),
        "published": published,
        "delivered": delivered,
        "confirmed": if args.confirms { Some(confirmed) } else { None },
        "nacked": nacked,
        "lost": published.saturating_sub(delivered),
        "server_cpu_pct": cpu.map(|c| (c * 10.0).round() / 10.0),
        "server_rss_mb": rss.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
        "latency_us": if args.mode == Mode::Latency {
            Some(serde_json::json!({
                "samples": lat.len(),
                "p50": percentile(&lat, 0.5),
                "p90": percentile(&lat, 0.9),
                "p99": percentile(&lat, 0.99),
                "p999": percentile(&lat, 0.999),
                "max": lat.last().copied().unwrap_or(0),
            }))
        } else { None },
        "errors": errors,
    });
    println!("{out}");
}
