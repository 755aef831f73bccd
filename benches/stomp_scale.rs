//! STOMP scale benchmark: a closed-loop load generator for `starling bridge --stomp` (or any
//! STOMP 1.2 server, e.g. RabbitMQ's STOMP plugin).
//!
//! 1. Opens `--conns` idle connections (CONNECT 1.2, no heart-beats), spread over
//!    `--sources` loopback source addresses (127.0.0.1, 127.0.0.2, ...), and reports the
//!    server's RSS growth per connection (from `/proc/PID/status` of `--server-pid`).
//! 2. With the idle connections still open, `--publishers` connections each send SEND frames
//!    to `/topic/bench` in windows of `--window`, the last one of each window asking for a
//!    RECEIPT, and wait for it before the next window (closed loop), for `--seconds`; reports
//!    messages per second accepted by the server. With `--subscribers N`, N more connections
//!    subscribe to `/topic/bench` (ack auto) and count the MESSAGE frames they receive.
//!
//! ```sh
//! cargo bench --bench stomp_scale --no-run   # builds target/release/deps/stomp_scale-*
//! target/release/starling bridge --stomp 127.0.0.1:61613 & PID=$!
//! target/release/deps/stomp_scale-* --server-pid $PID --conns 15000
//! ```
//! Both processes raise their open-file soft limit to the hard limit.
//!
//! With `--mode fanout` (see [`fanout`]) it measures `/topic/` fan-out instead: `--publishers`
//! connections publish to `/topic/bench`, `--subscribers` connections subscribe to it, and it
//! reports delivered MESSAGE frames per second, lost messages, latency percentiles (from a
//! timestamp in each body), and the server's CPU and RSS:
//! - closed loop (`--rate 0`): each publisher sends windows of `--window` SENDs (RECEIPT on the
//!   last) and keeps at most `--outstanding` messages not yet received by every subscriber, so
//!   no server has to drop or buffer without bound; the result is the highest delivered rate
//!   sustained without loss;
//! - fixed offered rate (`--rate R`, messages per second published, in total): publishers send
//!   on a 1 ms schedule and latency is measured at that load.
//!
//! ```sh
//! target/release/deps/stomp_scale-* --mode fanout --server-pid $PID --publishers 1 --subscribers 10 --seconds 10
//! target/release/deps/stomp_scale-* --mode fanout --server-pid $PID --publishers 1 --subscribers 10 --rate 4000
//! ```
//!
//! With `--mode dds` (see [`dds`]) it measures STOMP → DDS ingress through a bridge route:
//! `--publishers` connections (from `--sources` loopback addresses) send ShapeType JSON bodies
//! `{"color":"BLUE","x":SEQ,"y":PUBLISHER,"shapesize":MICROS}` to `--destination` at a total of
//! `--rate` messages per second for `--seconds`. `--gen-tasks` tasks (default 4) drive the
//! connections; every `--tick-ms` (default 5) each connection gets the SENDs due, pre-encoded into
//! one buffer and one write, with a RECEIPT requested at most every `--receipt-ms` (default 100; 0 =
//! on the last SEND of every write) and on the last SEND. The DDS side is `--receiver inproc`
//! (default: a reliable KEEP_ALL DataReader of ShapeType on `--topic`, its own participant on `lo`
//! in this process) or `--receiver sub` (a `starling sub` child process, `--starling PATH`, whose
//! printed lines are parsed). The bench checks the sequence numbers per publisher (lost = sent −
//! received, after a drain of up to 30 s) and reports latency from the send time in `shapesize`.
//! `--receiver sub --gen-tasks 100 --tick-ms 1 --receipt-ms 0` is the set-up of the first runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

struct Args {
    addr: SocketAddr,
    server_pid: Option<u32>,
    conns: usize,
    sources: u8,
    publishers: usize,
    window: usize,
    body: usize,
    seconds: u64,
    subscribers: usize,
    fanout: bool,
    dds: bool,
    starling: String,
    destination: String,
    topic: String,
    rate: u64,
    outstanding: u64,
    label: String,
    receiver: String,
    gen_tasks: usize,
    tick_ms: u64,
    receipt_ms: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 61613)),
        server_pid: None,
        conns: 15_000,
        sources: 8,
        publishers: 16,
        window: 200,
        body: 64,
        seconds: 10,
        subscribers: 0,
        fanout: false,
        dds: false,
        starling: String::from("target/release/starling"),
        destination: String::from("/topic/shapes.star.BLUE"),
        topic: String::from("Star"),
        rate: 0,
        outstanding: 2000,
        label: String::from("server"),
        receiver: String::from("inproc"),
        gen_tasks: 4,
        tick_ms: 5,
        receipt_ms: 100,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--addr" => a.addr = val.parse().expect("--addr"),
            "--server-pid" => a.server_pid = Some(val.parse().expect("--server-pid")),
            "--conns" => a.conns = val.parse().expect("--conns"),
            "--sources" => a.sources = val.parse().expect("--sources"),
            "--publishers" => a.publishers = val.parse().expect("--publishers"),
            "--window" => a.window = val.parse().expect("--window"),
            "--body" => a.body = val.parse().expect("--body"),
            "--seconds" => a.seconds = val.parse().expect("--seconds"),
            "--subscribers" => a.subscribers = val.parse().expect("--subscribers"),
            "--mode" => {
                a.fanout = val == "fanout";
                a.dds = val == "dds";
            }
            "--starling" => a.starling = val,
            "--destination" => a.destination = val,
            "--topic" => a.topic = val,
            "--rate" => a.rate = val.parse().expect("--rate"),
            "--outstanding" => a.outstanding = val.parse().expect("--outstanding"),
            "--label" => a.label = val,
            "--receiver" => a.receiver = val,
            "--gen-tasks" => a.gen_tasks = val.parse().expect("--gen-tasks"),
            "--tick-ms" => a.tick_ms = val.parse().expect("--tick-ms"),
            "--receipt-ms" => a.receipt_ms = val.parse().expect("--receipt-ms"),
            // `cargo bench` passes --bench.
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
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

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut b = [0u8; 512];
    while !buf.contains(&0) {
        let n = s.read(&mut b).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&b[..n]);
    }
    Ok(buf)
}

async fn open(addr: SocketAddr, src: Ipv4Addr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let mut s = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0").await?;
    let f = read_frame(&mut s).await?;
    if !f.starts_with(b"CONNECTED") {
        return Err(std::io::Error::other(String::from_utf8_lossy(&f).into_owned()));
    }
    Ok(s)
}

/// Subscribes to the bench topic and counts MESSAGE frames (NUL bytes) until `until` + 1 s.
async fn subscriber(addr: SocketAddr, until: Instant, ready: tokio::sync::mpsc::Sender<()>) -> std::io::Result<u64> {
    let mut s = open(addr, Ipv4Addr::LOCALHOST).await?;
    s.write_all(b"SUBSCRIBE\nid:1\ndestination:/topic/bench\nreceipt:s\n\n\0").await?;
    read_frame(&mut s).await?;
    let _ = ready.send(()).await;
    let mut rb = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    let end = tokio::time::Instant::from_std(until + Duration::from_secs(1));
    while let Ok(r) = tokio::time::timeout_at(end, s.read(&mut rb)).await {
        let k = r?;
        if k == 0 {
            break;
        }
        n += rb[..k].iter().filter(|&&b| b == 0).count() as u64;
    }
    Ok(n)
}

async fn publisher(addr: SocketAddr, window: usize, body: usize, until: Instant) -> std::io::Result<u64> {
    let mut s = open(addr, Ipv4Addr::LOCALHOST).await?;
    let payload = vec![b'x'; body];
    let mut frame = Vec::new();
    let mut sent = 0u64;
    let mut rb = [0u8; 4096];
    let mut n = 0u64;
    while Instant::now() < until {
        frame.clear();
        for i in 0..window {
            frame.extend_from_slice(b"SEND\ndestination:/topic/bench\ncontent-type:application/octet-stream\n");
            if i + 1 == window {
                n += 1;
                frame.extend_from_slice(format!("receipt:{n}\n").as_bytes());
            }
            frame.extend_from_slice(format!("content-length:{body}\n\n").as_bytes());
            frame.extend_from_slice(&payload);
            frame.push(0);
        }
        s.write_all(&frame).await?;
        // Wait for the RECEIPT (the only frame the server sends us).
        loop {
            let k = s.read(&mut rb).await?;
            if k == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if rb[..k].contains(&0) {
                break;
            }
        }
        sent += window as u64;
    }
    Ok(sent)
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let nofile = raise_nofile();
    if a.fanout {
        fanout::run(&a).await;
        return;
    }
    if a.dds {
        dds::run(&a).await;
        return;
    }
    println!("open-file limit {nofile}; server {} ; {} connections from {} sources", a.addr, a.conns, a.sources);
    // Warm up with one connection so the server's runtime is fully started before the baseline.
    let warm = open(a.addr, Ipv4Addr::LOCALHOST).await.expect("cannot connect");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = a.server_pid.and_then(rss_kb);
    let t0 = Instant::now();
    let mut idle = Vec::with_capacity(a.conns);
    let mut set = tokio::task::JoinSet::new();
    let par = 256;
    for i in 0..a.conns {
        let src = Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(a.sources.max(1))) as u8);
        let addr = a.addr;
        set.spawn(async move { open(addr, src).await });
        if set.len() >= par {
            if let Some(r) = set.join_next().await {
                idle.push(r.expect("task").expect("connect"));
            }
        }
    }
    while let Some(r) = set.join_next().await {
        idle.push(r.expect("task").expect("connect"));
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = a.server_pid.and_then(rss_kb);
    println!(
        "{} idle connections open in {:.1} s ({:.0}/s)",
        idle.len(),
        connect_secs,
        idle.len() as f64 / connect_secs
    );
    if let (Some(b), Some(f)) = (before, after) {
        let per = (f.saturating_sub(b) as f64 * 1024.0) / idle.len() as f64;
        println!("server RSS {b} kB -> {f} kB: {per:.0} bytes per idle connection");
    }
    let until = Instant::now() + Duration::from_secs(a.seconds) + Duration::from_millis(500);
    let mut subs = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.subscribers.max(1));
    for _ in 0..a.subscribers {
        subs.spawn(subscriber(a.addr, until, ready_tx.clone()));
    }
    for _ in 0..a.subscribers {
        let _ = ready_rx.recv().await;
    }
    let t1 = Instant::now();
    let mut pubs = tokio::task::JoinSet::new();
    for _ in 0..a.publishers {
        pubs.spawn(publisher(a.addr, a.window, a.body, until));
    }
    let mut total = 0u64;
    while let Some(r) = pubs.join_next().await {
        match r {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => println!("publisher failed: {e}"),
            Err(e) => println!("publisher task failed: {e}"),
        }
    }
    let secs = t1.elapsed().as_secs_f64();
    println!(
        "ingress: {total} messages ({} B bodies) from {} publishers in {secs:.1} s = {:.0} msg/s, with {} idle connections open",
        a.body,
        a.publishers,
        total as f64 / secs,
        idle.len()
    );
    let mut received = 0u64;
    while let Some(r) = subs.join_next().await {
        if let Ok(Ok(n)) = r {
            received += n;
        }
    }
    if a.subscribers > 0 {
        println!(
            "egress: {received} MESSAGE frames to {} subscribers = {:.0} msg/s ({:.1}% of published x subscribers)",
            a.subscribers,
            received as f64 / secs,
            100.0 * received as f64 / (total as f64 * a.subscribers as f64).max(1.0)
        );
    }
    if let Some(f) = a.server_pid.and_then(rss_kb) {
        println!("server RSS after load {f} kB");
    }
    drop(idle);
    drop(warm);
}

/// `--mode fanout`: N publishers → M subscribers on `/topic/bench` (see the crate docs).
mod fanout {
    use super::*;

    /// The clock of the timestamps in message bodies.
    fn base() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    fn now_ns() -> u64 {
        u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// utime + stime of a process, in clock ticks.
    fn cpu_ticks(pid: u32) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which is in parentheses and may hold spaces).
        let rest = &s[s.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
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

    /// Shared counters: `recv[s * pubs + p]` = messages of publisher p received by subscriber s.
    struct State {
        pubs: usize,
        subs: usize,
        sent: Vec<AtomicU64>,
        recv: Vec<AtomicU64>,
        progress: tokio::sync::Notify,
    }

    impl State {
        fn min_received(&self, p: usize) -> u64 {
            (0..self.subs).map(|s| self.recv[s * self.pubs + p].load(Ordering::Relaxed)).min().unwrap_or(u64::MAX)
        }
        fn all_received(&self) -> bool {
            (0..self.pubs).all(|p| self.min_received(p) >= self.sent[p].load(Ordering::Relaxed))
        }
    }

    fn body(p: usize, seq: u64, size: usize) -> Vec<u8> {
        let mut b = format!("{p} {seq} {} ", now_ns()).into_bytes();
        if b.len() < size {
            b.resize(size, b'x');
        }
        b
    }

    /// Parses `p seq ts` at the start of a body.
    fn parse_body(b: &[u8]) -> Option<(usize, u64, u64)> {
        let mut it = b.split(|&c| c == b' ');
        let mut num = || -> Option<u64> { std::str::from_utf8(it.next()?).ok()?.parse().ok() };
        Some((usize::try_from(num()?).ok()?, num()?, num()?))
    }

    async fn subscriber(
        addr: SocketAddr,
        idx: usize,
        st: Arc<State>,
        ready: tokio::sync::mpsc::Sender<()>,
        mut done: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<Vec<u32>> {
        let mut s = open(addr, Ipv4Addr::LOCALHOST).await?;
        s.write_all(b"SUBSCRIBE\nid:1\ndestination:/topic/bench\nack:auto\nreceipt:s\n\n\0").await?;
        read_frame(&mut s).await?;
        let _ = ready.send(()).await;
        let mut lat_us: Vec<u32> = Vec::with_capacity(1 << 20);
        let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
        let mut rb = vec![0u8; 128 * 1024];
        loop {
            let k = tokio::select! {
                r = s.read(&mut rb) => r?,
                _ = done.changed() => break,
            };
            if k == 0 {
                break;
            }
            buf.extend_from_slice(&rb[..k]);
            let t = now_ns();
            let mut start = 0;
            while let Some(nul) = buf[start..].iter().position(|&c| c == 0) {
                let f = &buf[start..start + nul];
                start += nul + 1;
                let f = &f[f.iter().position(|&c| c != b'\n' && c != b'\r').unwrap_or(f.len())..];
                if !f.starts_with(b"MESSAGE") {
                    continue;
                }
                let Some(hdr_end) = f.windows(2).position(|w| w == b"\n\n") else { continue };
                if let Some((p, _seq, ts)) = parse_body(&f[hdr_end + 2..]) {
                    if p < st.pubs {
                        st.recv[idx * st.pubs + p].fetch_add(1, Ordering::Relaxed);
                        lat_us.push(u32::try_from(t.saturating_sub(ts) / 1000).unwrap_or(u32::MAX));
                    }
                }
            }
            buf.drain(..start);
            st.progress.notify_waiters();
        }
        Ok(lat_us)
    }

    async fn wait_receipt(s: &mut TcpStream, rb: &mut [u8]) -> std::io::Result<()> {
        loop {
            let k = s.read(rb).await?;
            if k == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if rb[..k].contains(&0) {
                return Ok(());
            }
        }
    }

    /// Closed loop: windows with a RECEIPT, at most `outstanding` messages not yet received by all.
    async fn publisher_closed(
        addr: SocketAddr,
        p: usize,
        a: (usize, usize, u64),
        until: Instant,
        st: Arc<State>,
    ) -> std::io::Result<()> {
        let (window, size, outstanding) = a;
        let mut s = open(addr, Ipv4Addr::LOCALHOST).await?;
        let mut frame = Vec::new();
        let mut rb = [0u8; 4096];
        let mut seq = 0u64;
        while Instant::now() < until {
            loop {
                let n = st.progress.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                if seq.saturating_sub(st.min_received(p)) + window as u64 <= outstanding {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(5), n).await;
                if Instant::now() >= until + Duration::from_secs(10) {
                    return Ok(());
                }
            }
            frame.clear();
            for i in 0..window {
                let b = body(p, seq, size);
                frame.extend_from_slice(b"SEND\ndestination:/topic/bench\ncontent-type:text/plain\n");
                if i + 1 == window {
                    frame.extend_from_slice(format!("receipt:{seq}\n").as_bytes());
                }
                frame.extend_from_slice(format!("content-length:{}\n\n", b.len()).as_bytes());
                frame.extend_from_slice(&b);
                frame.push(0);
                seq += 1;
            }
            s.write_all(&frame).await?;
            st.sent[p].store(seq, Ordering::Relaxed);
            wait_receipt(&mut s, &mut rb).await?;
        }
        Ok(())
    }

    /// Fixed rate: `rate` messages per second on a 1 ms schedule; one RECEIPT at the end.
    async fn publisher_rate(
        addr: SocketAddr,
        p: usize,
        size: usize,
        rate: f64,
        until: Instant,
        st: Arc<State>,
    ) -> std::io::Result<()> {
        let mut s = open(addr, Ipv4Addr::LOCALHOST).await?;
        let mut frame = Vec::new();
        let mut rb = [0u8; 4096];
        let mut seq = 0u64;
        let t0 = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        while Instant::now() < until {
            tick.tick().await;
            let due = (t0.elapsed().as_secs_f64() * rate) as u64;
            frame.clear();
            while seq < due {
                let b = body(p, seq, size);
                frame.extend_from_slice(b"SEND\ndestination:/topic/bench\ncontent-type:text/plain\n");
                frame.extend_from_slice(format!("content-length:{}\n\n", b.len()).as_bytes());
                frame.extend_from_slice(&b);
                frame.push(0);
                seq += 1;
            }
            if !frame.is_empty() {
                s.write_all(&frame).await?;
                st.sent[p].store(seq, Ordering::Relaxed);
            }
        }
        s.write_all(b"DISCONNECT\nreceipt:end\n\n\0").await?;
        wait_receipt(&mut s, &mut rb).await?;
        Ok(())
    }

    fn pct(v: &[u32], q: f64) -> u32 {
        if v.is_empty() {
            return 0;
        }
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i.min(v.len() - 1)]
    }

    pub(super) async fn run(a: &Args) {
        let _ = base();
        let (np, ns) = (a.publishers.max(1), a.subscribers.max(1));
        let st = Arc::new(State {
            pubs: np,
            subs: ns,
            sent: (0..np).map(|_| AtomicU64::new(0)).collect(),
            recv: (0..np * ns).map(|_| AtomicU64::new(0)).collect(),
            progress: tokio::sync::Notify::new(),
        });
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(ns);
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let mut subs = tokio::task::JoinSet::new();
        for i in 0..ns {
            subs.spawn(subscriber(a.addr, i, st.clone(), ready_tx.clone(), done_rx.clone()));
        }
        for _ in 0..ns {
            if ready_rx.recv().await.is_none() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cpu0 = a.server_pid.and_then(cpu_ticks);
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs(a.seconds);
        let mut pubs = tokio::task::JoinSet::new();
        for p in 0..np {
            let st = st.clone();
            if a.rate == 0 {
                pubs.spawn(publisher_closed(a.addr, p, (a.window, a.body, a.outstanding), until, st));
            } else {
                pubs.spawn(publisher_rate(a.addr, p, a.body, a.rate as f64 / np as f64, until, st));
            }
        }
        let mut failed = 0;
        while let Some(r) = pubs.join_next().await {
            if !matches!(r, Ok(Ok(()))) {
                failed += 1;
                println!("publisher failed: {r:?}");
            }
        }
        // Wait until every subscriber has everything (bounded), then stop them.
        let drain_deadline = Instant::now() + Duration::from_secs(10);
        let mut last_done = Instant::now();
        while !st.all_received() && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            last_done = Instant::now();
        }
        let end = if st.all_received() { last_done } else { Instant::now() };
        let secs = end.duration_since(t0).as_secs_f64();
        let cpu1 = a.server_pid.and_then(cpu_ticks);
        let rss = a.server_pid.and_then(rss_kb);
        let _ = done_tx.send(true);
        let mut lat: Vec<u32> = Vec::new();
        while let Some(r) = subs.join_next().await {
            match r {
                Ok(Ok(v)) => lat.extend(v),
                other => println!("subscriber failed: {other:?}"),
            }
        }
        lat.sort_unstable();
        let published: u64 = st.sent.iter().map(|x| x.load(Ordering::Relaxed)).sum();
        let delivered: u64 = st.recv.iter().map(|x| x.load(Ordering::Relaxed)).sum();
        let lost = (published * ns as u64).saturating_sub(delivered);
        let cpu = match (cpu0, cpu1) {
            (Some(x), Some(y)) => 100.0 * (y - x) as f64 / ticks_per_sec() / secs,
            _ => f64::NAN,
        };
        let mode = if a.rate == 0 { "closed".to_string() } else { format!("rate{}", a.rate) };
        println!(
            "RESULT label={} mode={mode} pubs={np} subs={ns} body={} published={published} delivered={delivered} \
             lost={lost} secs={secs:.2} delivered_per_s={:.0} p50_us={} p90_us={} p99_us={} max_us={} \
             server_cpu_pct={cpu:.0} server_rss_kb={} failed={failed}",
            a.label,
            a.body,
            delivered as f64 / secs,
            pct(&lat, 0.5),
            pct(&lat, 0.9),
            pct(&lat, 0.99),
            lat.last().copied().unwrap_or(0),
            rss.unwrap_or(0),
        );
    }
}

/// `--mode dds`: STOMP publishers → bridge route → DDS reader; see the crate docs.
mod dds {
    use super::*;
    use starling::dds::DomainParticipant;
    use starling::qos::{EndpointQos, History, Reliability};
    use starling::types::ShapeType;
    use std::io::{BufRead, Write as _};

    fn base() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    fn now_us() -> u64 {
        u64::try_from(base().elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn cpu_ticks(pid: u32) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &s[s.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    }

    /// What the DDS reader saw.
    #[derive(Default)]
    struct Seen {
        next: Vec<u64>,
        received: u64,
        out_of_order: u64,
        latency_us: Vec<u32>,
        probe: bool,
    }

    impl Seen {
        /// Records one sample `(x = seq, y = publisher, shapesize = send time in µs)` read at `now`.
        fn record(&mut self, x: u64, y: u64, t: u64, now: u64, pubs: usize) {
            let Ok(p) = usize::try_from(y) else { return };
            if p >= pubs {
                self.probe = true;
                return;
            }
            if self.next[p] != x {
                self.out_of_order += 1;
            }
            self.next[p] = x + 1;
            self.received += 1;
            self.latency_us.push(u32::try_from(now.saturating_sub(t)).unwrap_or(u32::MAX));
        }
    }

    fn field(line: &str, name: &str) -> Option<u64> {
        let i = line.find(name)? + name.len();
        let rest = line[i..].trim_start_matches([':', ' ']);
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        rest[..end].parse().ok()
    }

    /// `--receiver sub`: reads `starling sub` lines until EOF.
    fn sub_reader(out: std::process::ChildStdout, seen: Arc<std::sync::Mutex<Seen>>, pubs: usize) {
        let r = std::io::BufReader::with_capacity(1 << 20, out);
        for line in r.lines() {
            let Ok(line) = line else { break };
            let (Some(x), Some(y), Some(t)) =
                (field(&line, "\"x\""), field(&line, "\"y\""), field(&line, "\"shapesize\""))
            else {
                continue;
            };
            let now = now_us();
            seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(x, y, t, now, pubs);
        }
    }

    /// `--receiver inproc`: a reliable KEEP_ALL DataReader of ShapeType on `topic` (its own participant
    /// on `lo`, in this process) that takes every sample and records it; no text in between.
    async fn inproc_reader(topic: String, seen: Arc<std::sync::Mutex<Seen>>, pubs: usize) {
        let dp = DomainParticipant::builder(0).name("stomp-scale-reader").interface("lo").build().expect("participant");
        let t = dp.create_topic::<ShapeType>(&topic);
        let mut qos = EndpointQos {
            reliability: Reliability::reliable(),
            history: History::KeepAll,
            ..EndpointQos::reader_default()
        };
        qos.accept_any_representation();
        let reader = dp.create_datareader(&t, Some(qos)).expect("datareader");
        loop {
            let Ok(first) = reader.take_next().await else { break };
            let now = now_us();
            let rest = reader.take();
            let mut g = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for s in std::iter::once(first).chain(rest) {
                if let Some(d) = s.data {
                    let (Ok(x), Ok(y), Ok(t)) = (u64::try_from(d.x), u64::try_from(d.y), u64::try_from(d.shapesize))
                    else {
                        continue;
                    };
                    g.record(x, y, t, now, pubs);
                }
            }
        }
    }

    /// Appends one SEND frame: `head` is the pre-encoded command and fixed headers.
    fn frame(head: &[u8], p: usize, seq: u64, receipt: bool, now: u64, out: &mut Vec<u8>) {
        let mut body = [0u8; 96];
        let mut c = std::io::Cursor::new(&mut body[..]);
        let _ = write!(c, "{{\"color\":\"BLUE\",\"x\":{seq},\"y\":{p},\"shapesize\":{now}}}");
        let n = usize::try_from(c.position()).unwrap_or(0);
        out.extend_from_slice(head);
        if receipt {
            let _ = writeln!(out, "receipt:{seq}");
        }
        let _ = write!(out, "content-length:{n}\n\n");
        out.extend_from_slice(&body[..n]);
        out.push(0);
    }

    fn head(dest: &str) -> Vec<u8> {
        format!("SEND\ndestination:{dest}\ncontent-type:application/json\n").into_bytes()
    }

    /// One publisher connection, driven by a [`generator`] task.
    struct Conn {
        p: usize,
        wr: tokio::net::tcp::OwnedWriteHalf,
        receipts: tokio::task::JoinHandle<u64>,
        sent: u64,
        last_receipt: u64,
        ok: bool,
    }

    /// Drives publisher connections (ids `ids`) at `rate` msg/s each from `start`: every `tick` it appends the
    /// SENDs due on each connection into one buffer and writes it with one call; a RECEIPT is requested
    /// at most once per `receipt_every` (0: on the last SEND of every write) and on the last SEND.
    /// Returns (sent, receipts).
    async fn generator(
        a: Arc<(SocketAddr, String)>,
        ids: Vec<(usize, Ipv4Addr)>,
        rate: f64,
        tick: Duration,
        receipt_every: Duration,
        start: Instant,
        until: Instant,
    ) -> (u64, u64) {
        let head = head(&a.1);
        let mut conns = Vec::with_capacity(ids.len());
        for (p, src) in ids {
            let Ok(s) = open(a.0, src).await else { continue };
            let (mut rd, wr) = s.into_split();
            let receipts = tokio::spawn(async move {
                let mut rb = vec![0u8; 16 * 1024];
                let mut n = 0u64;
                while let Ok(k) = rd.read(&mut rb).await {
                    if k == 0 {
                        break;
                    }
                    n += rb[..k].iter().filter(|&&b| b == 0).count() as u64;
                }
                n
            });
            conns.push(Conn { p, wr, receipts, sent: 0, last_receipt: 0, ok: true });
        }
        let receipt_us = u64::try_from(receipt_every.as_micros()).unwrap_or(u64::MAX);
        let mut t = tokio::time::interval(tick);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            t.tick().await;
            let last = Instant::now() >= until;
            let due = ((until.min(Instant::now()) - start).as_secs_f64() * rate) as u64;
            let now = now_us();
            for c in conns.iter_mut().filter(|c| c.ok && due > c.sent) {
                buf.clear();
                for seq in c.sent..due {
                    let r = seq + 1 == due && (receipt_us == 0 || last || now >= c.last_receipt + receipt_us);
                    if r {
                        c.last_receipt = now;
                    }
                    frame(&head, c.p, seq, r, now, &mut buf);
                }
                c.ok = c.wr.write_all(&buf).await.is_ok();
                c.sent = due;
            }
            if last {
                break;
            }
        }
        // Wait for the last RECEIPTs, then close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (mut sent, mut got) = (0, 0);
        for mut c in conns {
            let _ = c.wr.write_all(b"DISCONNECT\nreceipt:bye\n\n\0").await;
            sent += c.sent;
            got +=
                tokio::time::timeout(Duration::from_secs(60), c.receipts).await.ok().and_then(Result::ok).unwrap_or(0);
        }
        (sent, got)
    }

    fn pct(v: &[u32], q: f64) -> u32 {
        if v.is_empty() {
            return 0;
        }
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_default()
    }

    pub(super) async fn run(a: &Args) {
        let _ = base();
        let pubs = a.publishers.max(1);
        let secs = a.seconds.max(1) + 40;
        let seen = Arc::new(std::sync::Mutex::new(Seen { next: vec![0; pubs], ..Seen::default() }));
        let mut child = None;
        let mut sub_pid = None;
        let rd = if a.receiver == "sub" {
            let mut c = std::process::Command::new(&a.starling)
                .args(["sub", &a.topic, "--type", "ShapeType", "--interface", "lo", "--reliable", "--depth", "0"])
                .args(["--timeout", &secs.to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("cannot start starling sub");
            sub_pid = Some(c.id());
            let out = c.stdout.take().expect("stdout");
            child = Some(c);
            let s2 = seen.clone();
            let pubs2 = pubs;
            Err(std::thread::spawn(move || sub_reader(out, s2, pubs2)))
        } else {
            Ok(tokio::spawn(inproc_reader(a.topic.clone(), seen.clone(), pubs)))
        };
        // Probe (publisher id = pubs) until the reader has matched the bridge's writer.
        let mut probe = open(a.addr, Ipv4Addr::LOCALHOST).await.expect("cannot connect");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut k = 0;
        let probe_head = head(&a.destination);
        while !seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).probe {
            assert!(Instant::now() < deadline, "the DDS reader never matched the bridge's writer");
            let mut b = Vec::new();
            frame(&probe_head, pubs, k, false, now_us(), &mut b);
            probe.write_all(&b).await.expect("probe");
            k += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(probe);
        let me = std::process::id();
        let rss0 = a.server_pid.and_then(rss_kb);
        let cpu0 = a.server_pid.and_then(cpu_ticks);
        let sub_cpu0 = sub_pid.and_then(cpu_ticks);
        let me_cpu0 = cpu_ticks(me);
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs(a.seconds);
        let per = a.rate as f64 / pubs as f64;
        let shared = Arc::new((a.addr, a.destination.clone()));
        let tasks = a.gen_tasks.clamp(1, pubs);
        let mut groups: Vec<Vec<(usize, Ipv4Addr)>> = vec![Vec::new(); tasks];
        for p in 0..pubs {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (p % usize::from(a.sources.max(1))) as u8);
            groups[p % tasks].push((p, src));
        }
        let mut set = tokio::task::JoinSet::new();
        for g in groups {
            set.spawn(generator(
                shared.clone(),
                g,
                per,
                Duration::from_millis(a.tick_ms.max(1)),
                Duration::from_millis(a.receipt_ms),
                t0,
                until,
            ));
        }
        let (mut sent, mut receipts) = (0u64, 0u64);
        while let Some(r) = set.join_next().await {
            if let Ok((s, r)) = r {
                sent += s;
                receipts += r;
            }
        }
        let send_secs = t0.elapsed().as_secs_f64();
        let load = loadavg();
        // Drain: until everything arrived or nothing new for 10 s (bounded by 30 s).
        let drain_end = Instant::now() + Duration::from_secs(30);
        let mut last = (0u64, Instant::now());
        loop {
            let got = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).received;
            if got >= sent || Instant::now() > drain_end || last.1.elapsed() > Duration::from_secs(10) {
                break;
            }
            if got != last.0 {
                last = (got, Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all_secs = t0.elapsed().as_secs_f64();
        let cpu1 = a.server_pid.and_then(cpu_ticks);
        let sub_cpu1 = sub_pid.and_then(cpu_ticks);
        let me_cpu1 = cpu_ticks(me);
        let rss1 = a.server_pid.and_then(rss_kb);
        match rd {
            Err(thread) => {
                if let Some(mut c) = child {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                let _ = thread.join();
            }
            Ok(task) => task.abort(),
        }
        let mut g = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        g.latency_us.sort_unstable();
        let pct_cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => (b - a) as f64 / 100.0 / all_secs * 100.0,
            _ => f64::NAN,
        };
        let us_per_msg = match (cpu0, cpu1) {
            (Some(a), Some(b)) if g.received > 0 => (b - a) as f64 * 10_000.0 / g.received as f64,
            _ => f64::NAN,
        };
        println!(
            "RESULT label={} receiver={} pubs={pubs} gen_tasks={tasks} tick_ms={} receipt_ms={} sources={} offered={} \
             sent_rate={:.0} delivered_rate={:.0} sent={sent} receipts={receipts} received={} lost={} out_of_order={} \
             lat_p50_us={} lat_p99_us={} lat_max_us={} server_cpu_pct={:.0} server_cpu_us_per_msg={us_per_msg:.2} \
             sub_cpu_pct={:.0} bench_cpu_pct={:.0} loadavg1={load} server_rss_kb={}->{} send_secs={send_secs:.1} \
             all_secs={all_secs:.1}",
            a.label,
            a.receiver,
            a.tick_ms,
            a.receipt_ms,
            a.sources,
            a.rate,
            sent as f64 / send_secs,
            g.received as f64 / all_secs,
            g.received,
            sent.saturating_sub(g.received),
            g.out_of_order,
            pct(&g.latency_us, 0.5),
            pct(&g.latency_us, 0.99),
            g.latency_us.last().copied().unwrap_or(0),
            pct_cpu(cpu0, cpu1),
            pct_cpu(sub_cpu0, sub_cpu1),
            pct_cpu(me_cpu0, me_cpu1),
            rss0.unwrap_or(0),
            rss1.unwrap_or(0),
        );
    }
}
