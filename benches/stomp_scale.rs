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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
