//! MQTT load generator: a closed-loop benchmark client for `starling bridge` or any MQTT 3.1.1
//! broker (e.g. Debian's mosquitto), used by `benches/mqtt_compare.sh`.
//!
//! A minimal MQTT 3.1.1 client on tokio (CONNECT, SUBSCRIBE, PUBLISH QoS 0/1, PUBACK), with
//! `TCP_NODELAY` on every socket. Payloads (`--size` bytes, at least 20) start with the
//! publisher number, a sequence number and a send timestamp, so subscribers count lost and
//! duplicate messages and measure latency (one process, one monotonic clock).
//!
//! Modes (`--mode`):
//! - `fanout`: `--pubs` publishers on `bench/fan/<p>`, `--subs` subscribers on `bench/fan/+`
//!   (every subscriber receives every message);
//! - `p2p`: `--pubs` publishers, publisher `i` on `bench/p2p/<i>` read by subscriber `i` only;
//! - `idle`: `--conns` connections that only CONNECT (spread over `--sources` source addresses
//!   127.0.0.1, 127.0.0.2, ...), then the server's RSS growth per connection.
//!
//! Closed loop: a publisher never has more than `--window` messages that some subscriber has
//! not yet received (and, at QoS 1, not more than `--window` unacknowledged PUBLISHes), so no
//! run measures an unbounded queue. Without `--rate` publishers send as fast as the loop allows
//! (throughput); with `--rate HZ` each publisher offers HZ messages/s (latency at a fixed rate).
//! The first `--warmup` seconds are not counted. After `--seconds`, publishers stop and
//! subscribers get up to 5 s to drain; a message never received is lost.
//!
//! With `--server-pid`, the server's CPU time (utime + stime from `/proc/PID/stat`) over the
//! measured interval and its VmRSS are reported. Output: one JSON object on stdout.
//!
//! ```sh
//! cargo bench --bench mqtt_load --no-run      # builds target/release/deps/mqtt_load-*
//! target/release/deps/mqtt_load-* --mode fanout --qos 0 --pubs 1 --subs 10 --server-pid $PID
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Fanout,
    P2p,
    Idle,
}

#[derive(Clone, Debug)]
struct Args {
    addr: SocketAddr,
    server_pid: Option<u32>,
    mode: Mode,
    qos: u8,
    pubs: usize,
    subs: usize,
    size: usize,
    seconds: f64,
    warmup: f64,
    rate: Option<f64>,
    window: u64,
    conns: usize,
    sources: u8,
    label: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 1883)),
        server_pid: None,
        mode: Mode::Fanout,
        qos: 0,
        pubs: 1,
        subs: 10,
        size: 100,
        seconds: 10.0,
        warmup: 1.0,
        rate: None,
        window: 1000,
        conns: 10_000,
        sources: 8,
        label: String::new(),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--addr" => a.addr = val.parse().expect("--addr"),
            "--server-pid" => a.server_pid = Some(val.parse().expect("--server-pid")),
            "--mode" => {
                a.mode = match val.as_str() {
                    "fanout" => Mode::Fanout,
                    "p2p" => Mode::P2p,
                    "idle" => Mode::Idle,
                    m => panic!("unknown mode {m}"),
                }
            }
            "--qos" => a.qos = val.parse().expect("--qos"),
            "--pubs" => a.pubs = val.parse().expect("--pubs"),
            "--subs" => a.subs = val.parse().expect("--subs"),
            "--size" => a.size = val.parse().expect("--size"),
            "--seconds" => a.seconds = val.parse().expect("--seconds"),
            "--warmup" => a.warmup = val.parse().expect("--warmup"),
            "--rate" => a.rate = Some(val.parse().expect("--rate")),
            "--window" => a.window = val.parse().expect("--window"),
            "--conns" => a.conns = val.parse().expect("--conns"),
            "--sources" => a.sources = val.parse().expect("--sources"),
            "--label" => a.label = val,
            // `cargo bench` passes --bench.
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    assert!(a.qos <= 1, "--qos 0 or 1");
    assert!(a.size >= 20, "--size at least 20");
    if a.mode == Mode::P2p {
        a.subs = a.pubs;
    }
    a
}

fn clock() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
        r.rlim_cur
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) close with ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
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

// ---- a minimal MQTT 3.1.1 client -------------------------------------------------------------

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, "MQTT");
    body.push(4); // 3.1.1
    body.push(0x02); // clean session
    body.extend_from_slice(&0u16.to_be_bytes()); // no keep-alive
    put_str(&mut body, client_id);
    let mut p = vec![0x10];
    put_len(&mut p, body.len());
    p.extend_from_slice(&body);
    p
}

fn subscribe_packet(filter: &str, qos: u8) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    put_str(&mut body, filter);
    body.push(qos);
    let mut p = vec![0x82];
    put_len(&mut p, body.len());
    p.extend_from_slice(&body);
    p
}

fn publish_packet(out: &mut Vec<u8>, topic: &str, qos: u8, pkid: u16, payload: &[u8]) {
    out.push(0x30 | (qos << 1));
    let len = 2 + topic.len() + if qos > 0 { 2 } else { 0 } + payload.len();
    put_len(out, len);
    put_str(out, topic);
    if qos > 0 {
        out.extend_from_slice(&pkid.to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Incremental packet reader.
struct Reader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
}

impl Reader {
    fn new(rd: OwnedReadHalf) -> Self {
        Self { rd, buf: Vec::with_capacity(64 * 1024), start: 0 }
    }

    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 32 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + 64 * 1024, 0);
        let n = self.rd.read(&mut self.buf[len..]).await?;
        self.buf.truncate(len + n);
        Ok(n > 0)
    }

    /// Next complete packet in the buffer: (first byte, body).
    fn next(&mut self) -> Option<(u8, &[u8])> {
        let b = &self.buf[self.start..];
        if b.len() < 2 {
            return None;
        }
        let (mut len, mut mul, mut i) = (0usize, 1usize, 1usize);
        loop {
            let c = *b.get(i)?;
            len += usize::from(c & 0x7f) * mul;
            mul *= 128;
            i += 1;
            if c & 0x80 == 0 {
                break;
            }
            assert!(i <= 4, "bad remaining length");
        }
        if b.len() < i + len {
            return None;
        }
        let first = b[0];
        let s = self.start;
        self.start += i + len;
        Some((first, &self.buf[s + i..s + i + len]))
    }

    /// Waits for one packet and returns its first byte.
    async fn expect(&mut self) -> std::io::Result<u8> {
        loop {
            if let Some((f, _)) = self.next() {
                return Ok(f);
            }
            if !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

async fn open(addr: SocketAddr, src: Ipv4Addr, id: &str) -> std::io::Result<(Reader, OwnedWriteHalf)> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let s: TcpStream = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    let (rd, mut wr) = s.into_split();
    let mut r = Reader::new(rd);
    wr.write_all(&connect_packet(id)).await?;
    let f = r.expect().await?;
    if f != 0x20 {
        return Err(std::io::Error::other(format!("expected CONNACK, got {f:#x}")));
    }
    Ok((r, wr))
}

// ---- the load -------------------------------------------------------------------------------

/// Shared state of one run.
struct Run {
    /// progress[s * pubs + p]: how many messages of publisher p subscriber s has seen (highest
    /// sequence number + 1).
    progress: Vec<AtomicU64>,
    /// One wake-up per publisher.
    wake: Vec<Notify>,
    /// Measuring started (after warm-up), as a `clock()` value; 0 before.
    measure_from: AtomicU64,
    /// Measuring ended, as a `clock()` value; `u64::MAX` before.
    measure_to: AtomicU64,
    /// Publishers stop sending.
    stop: AtomicBool,
    /// Subscribers stop reading (after the drain).
    done: AtomicBool,
}

#[derive(Default)]
struct SubResult {
    received: u64,
    measured: u64,
    dups: u64,
    latencies_us: Vec<u32>,
}

/// Which publishers subscriber `s` reads.
fn sub_reads(a: &Args, s: usize) -> Vec<usize> {
    match a.mode {
        Mode::P2p => vec![s],
        _ => (0..a.pubs).collect(),
    }
}

async fn subscriber(
    a: Args,
    s: usize,
    run: Arc<Run>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> std::io::Result<SubResult> {
    let (mut r, mut wr) = open(a.addr, Ipv4Addr::LOCALHOST, &format!("bench-sub-{s}")).await?;
    let filter = match a.mode {
        Mode::P2p => format!("bench/p2p/{s}"),
        _ => "bench/fan/+".to_owned(),
    };
    wr.write_all(&subscribe_packet(&filter, a.qos)).await?;
    if r.expect().await? != 0x90 {
        return Err(std::io::Error::other("expected SUBACK"));
    }
    let _ = ready.send(()).await;
    drop(ready);
    let mut res = SubResult::default();
    let mut next = vec![0u64; a.pubs];
    let mut acks = Vec::new();
    let measure_lat = a.rate.is_some();
    loop {
        let from = run.measure_from.load(Ordering::Relaxed);
        let to = run.measure_to.load(Ordering::Relaxed);
        let mut touched = false;
        while let Some((first, body)) = r.next() {
            if first >> 4 != 3 {
                continue;
            }
            let qos = (first >> 1) & 3;
            let tl = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let mut off = 2 + tl;
            if qos > 0 {
                acks.extend_from_slice(&[0x40, 2, body[off], body[off + 1]]);
                off += 2;
            }
            let p = &body[off..];
            let publ = u32::from_le_bytes(p[0..4].try_into().expect("4")) as usize;
            let seq = u64::from_le_bytes(p[4..12].try_into().expect("8"));
            let ts = u64::from_le_bytes(p[12..20].try_into().expect("8"));
            if publ >= a.pubs {
                continue;
            }
            res.received += 1;
            if seq < next[publ] {
                res.dups += 1;
                continue;
            }
            next[publ] = seq + 1;
            touched = true;
            if from != 0 && ts >= from && ts < to {
                res.measured += 1;
                if measure_lat {
                    let us = (clock().saturating_sub(ts) / 1000).min(u64::from(u32::MAX)) as u32;
                    res.latencies_us.push(us);
                }
            }
        }
        if !acks.is_empty() {
            wr.write_all(&acks).await?;
            acks.clear();
        }
        if touched {
            for p in sub_reads(&a, s) {
                run.progress[s * a.pubs + p].store(next[p], Ordering::Release);
                run.wake[p].notify_one();
            }
        }
        let more = tokio::time::timeout(Duration::from_millis(200), r.fill()).await;
        match more {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => break,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                if run.done.load(Ordering::Acquire) {
                    break;
                }
            }
        }
    }
    Ok(res)
}

struct PubResult {
    sent: u64,
    measured: u64,
    /// The connection, kept open until the subscribers drained.
    _conn: (OwnedWriteHalf, tokio::task::JoinHandle<()>),
}

async fn publisher(a: Args, p: usize, run: Arc<Run>, readers: Vec<usize>) -> std::io::Result<PubResult> {
    let (r, mut wr) = open(a.addr, Ipv4Addr::LOCALHOST, &format!("bench-pub-{p}")).await?;
    let topic = match a.mode {
        Mode::P2p => format!("bench/p2p/{p}"),
        _ => format!("bench/fan/{p}"),
    };
    // QoS 1: a reader task counts PUBACKs.
    let acked = Arc::new(AtomicU64::new(0));
    let reader = {
        let (acked, run) = (acked.clone(), run.clone());
        tokio::spawn(async move {
            let mut r = r;
            loop {
                let mut n = 0;
                while let Some((first, _)) = r.next() {
                    if first >> 4 == 4 {
                        n += 1;
                    }
                }
                if n > 0 {
                    acked.fetch_add(n, Ordering::Release);
                    run.wake[p].notify_one();
                }
                match r.fill().await {
                    Ok(true) => {}
                    _ => break,
                }
            }
        })
    };
    let mut payload = vec![0u8; a.size];
    payload[0..4].copy_from_slice(&(p as u32).to_le_bytes());
    let mut out = Vec::with_capacity(64 * 1024);
    let mut seq = 0u64;
    let mut measured = 0u64;
    let t0 = Instant::now();
    let mut pkid = 0u16;
    loop {
        if run.stop.load(Ordering::Acquire) {
            break;
        }
        // Closed loop: how many more may be sent now.
        let min_seen =
            readers.iter().map(|&s| run.progress[s * a.pubs + p].load(Ordering::Acquire)).min().unwrap_or(seq);
        let mut room = (min_seen + a.window).saturating_sub(seq);
        if a.qos > 0 {
            room = room.min((acked.load(Ordering::Acquire) + a.window).saturating_sub(seq));
        }
        if let Some(rate) = a.rate {
            let due = (t0.elapsed().as_secs_f64() * rate) as u64;
            room = room.min(due.saturating_sub(seq));
            if room == 0 {
                tokio::time::sleep(Duration::from_micros(500)).await;
                continue;
            }
        }
        if room == 0 {
            run.wake[p].notified().await;
            continue;
        }
        // At most a window's worth (or 64 messages) per write.
        let batch = room.min(64);
        let from = run.measure_from.load(Ordering::Relaxed);
        let to = run.measure_to.load(Ordering::Relaxed);
        out.clear();
        for _ in 0..batch {
            payload[4..12].copy_from_slice(&seq.to_le_bytes());
            let now = clock();
            payload[12..20].copy_from_slice(&now.to_le_bytes());
            if from != 0 && now < to {
                measured += 1;
            }
            pkid = pkid.wrapping_add(1).max(1);
            publish_packet(&mut out, &topic, a.qos, pkid, &payload);
            seq += 1;
        }
        wr.write_all(&out).await?;
    }
    Ok(PubResult { sent: seq, measured, _conn: (wr, reader) })
}

fn pct(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn load(a: Args) -> serde_json::Value {
    let run = Arc::new(Run {
        progress: (0..a.pubs * a.subs).map(|_| AtomicU64::new(0)).collect(),
        wake: (0..a.pubs).map(|_| Notify::new()).collect(),
        measure_from: AtomicU64::new(0),
        measure_to: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
        done: AtomicBool::new(false),
    });
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.subs.max(1));
    let mut subs = Vec::new();
    for s in 0..a.subs {
        subs.push(tokio::spawn(subscriber(a.clone(), s, run.clone(), ready_tx.clone())));
    }
    drop(ready_tx);
    for _ in 0..a.subs {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let mut pubs = Vec::new();
    for p in 0..a.pubs {
        let readers: Vec<usize> = (0..a.subs).filter(|&s| sub_reads(&a, s).contains(&p)).collect();
        pubs.push(tokio::spawn(publisher(a.clone(), p, run.clone(), readers)));
    }
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let cpu0 = a.server_pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    run.measure_from.store(clock().max(1), Ordering::Release);
    tokio::time::sleep(Duration::from_secs_f64(a.seconds)).await;
    let (cpu1, secs) = (a.server_pid.and_then(cpu_ticks), t0.elapsed().as_secs_f64());
    run.measure_to.store(clock(), Ordering::Release);
    let rss = a.server_pid.and_then(rss_kb);
    run.stop.store(true, Ordering::Release);
    for w in &run.wake {
        w.notify_one();
    }
    let mut sent = 0u64;
    let mut sent_measured = 0u64;
    let mut per_pub = vec![0u64; a.pubs];
    let mut keep = Vec::new();
    for (p, h) in pubs.into_iter().enumerate() {
        match h.await {
            Ok(Ok(r)) => {
                sent += r.sent;
                sent_measured += r.measured;
                per_pub[p] = r.sent;
                keep.push(r);
            }
            Ok(Err(e)) => eprintln!("publisher {p} failed: {e}"),
            Err(e) => eprintln!("publisher {p} panicked: {e}"),
        }
    }
    // Expected deliveries: every subscriber that reads publisher p gets all its messages.
    let expected: u64 = (0..a.subs).map(|s| sub_reads(&a, s).iter().map(|&p| per_pub[p]).sum::<u64>()).sum();
    // Drain: wait until subscribers saw everything (or 5 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let done = (0..a.subs).all(|s| {
            sub_reads(&a, s).iter().all(|&p| run.progress[s * a.pubs + p].load(Ordering::Acquire) >= per_pub[p])
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.done.store(true, Ordering::Release);
    let mut received = 0u64;
    let mut measured = 0u64;
    let mut dups = 0u64;
    let mut lat = Vec::new();
    for (s, h) in subs.into_iter().enumerate() {
        match h.await {
            Ok(Ok(r)) => {
                received += r.received - r.dups;
                measured += r.measured;
                dups += r.dups;
                lat.extend(r.latencies_us);
            }
            Ok(Err(e)) => eprintln!("subscriber {s} failed: {e}"),
            Err(e) => eprintln!("subscriber {s} panicked: {e}"),
        }
    }
    drop(keep);
    lat.sort_unstable();
    let cpu = match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some(100.0 * (y - x) as f64 / ticks_per_sec() / secs),
        _ => None,
    };
    serde_json::json!({
        "label": a.label,
        "mode": format!("{:?}", a.mode).to_lowercase(),
        "qos": a.qos, "pubs": a.pubs, "subs": a.subs, "size": a.size,
        "rate_offered": a.rate.map(|r| r * a.pubs as f64),
        "seconds": secs,
        "published": sent,
        "published_per_s": sent_measured as f64 / secs,
        "delivered": received,
        "delivered_per_s": measured as f64 / secs,
        "expected": expected,
        "lost": expected.saturating_sub(received),
        "duplicates": dups,
        "lat_us": if lat.is_empty() { serde_json::Value::Null } else { serde_json::json!({
            "n": lat.len(), "p50": pct(&lat, 0.5), "p90": pct(&lat, 0.9), "p99": pct(&lat, 0.99), "max": lat[lat.len() - 1]
        })},
        "server_cpu_pct": cpu,
        "server_rss_kb": rss,
    })
}

async fn idle(a: Args) -> serde_json::Value {
    // Warm up with one connection so the server's runtime is fully started before the baseline.
    let warm = open(a.addr, Ipv4Addr::LOCALHOST, "bench-warm").await.expect("cannot connect");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = a.server_pid.and_then(rss_kb);
    let mut conns = Vec::with_capacity(a.conns);
    let mut set = tokio::task::JoinSet::new();
    let mut failed = 0usize;
    for i in 0..a.conns {
        let src = Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(a.sources.max(1))) as u8);
        let addr = a.addr;
        set.spawn(async move { open(addr, src, &format!("idle-{i}")).await });
        if set.len() >= 128 {
            match set.join_next().await {
                Some(Ok(Ok(c))) => conns.push(c),
                _ => failed += 1,
            }
        }
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(c)) => conns.push(c),
            _ => failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = a.server_pid.and_then(rss_kb);
    let per = match (before, after) {
        (Some(b), Some(f)) if !conns.is_empty() => Some(f.saturating_sub(b) as f64 * 1024.0 / conns.len() as f64),
        _ => None,
    };
    let out = serde_json::json!({
        "label": a.label, "mode": "idle", "connections": conns.len(), "failed": failed,
        "server_rss_before_kb": before, "server_rss_after_kb": after, "bytes_per_conn": per,
    });
    drop(conns);
    drop(warm);
    out
}

fn main() {
    let a = parse_args();
    raise_nofile();
    clock();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let v = rt.block_on(async move {
        match a.mode {
            Mode::Idle => idle(a).await,
            _ => load(a).await,
        }
    });
    println!("{v}");
    rt.shutdown_timeout(Duration::from_secs(1));
}
