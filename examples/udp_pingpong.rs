//! The raw-UDP floor for `starling perf ping`: the same round trip with std UDP sockets and nothing else.
//!
//! ```text
//! cargo run --release --example udp_pingpong -- pong [--addr 127.0.0.1:7799] [--duration 30]
//! cargo run --release --example udp_pingpong -- ping [--addr 127.0.0.1:7799] [--size 12] [--duration 10]
//!                                                    [--warmup 1] [--json]
//! ```
//!
//! Both take `--spin-us N`: poll the socket without blocking for up to N µs before waiting in the kernel
//! (the floor for `starling perf ... --spin-us N`).
//!
//! `ping` sends a `--size`-byte datagram whose first 4 bytes are a sequence number, waits (blocking
//! `recv`, 1 s timeout) for `pong` to send it back, and reports the round-trip time (RTT) and RTT/2 per
//! second and for the whole run, with the same histogram and the same line formats as `starling perf`.

use starling::cli::perf::{rss_mb, LatencyHistogram};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Opts {
    mode: String,
    addr: SocketAddr,
    size: usize,
    duration: f64,
    warmup: f64,
    json: bool,
    spin: Duration,
}

fn parse() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("usage: udp_pingpong ping|pong [--addr A] [--size N] [--duration S] [--json]")?;
    if mode != "ping" && mode != "pong" {
        return Err(format!("unknown mode '{mode}' (ping or pong)"));
    }
    let mut o = Opts {
        mode,
        addr: SocketAddr::from(([127, 0, 0, 1], 7799)),
        size: 12,
        duration: 10.0,
        warmup: 1.0,
        json: false,
        spin: Duration::ZERO,
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = value("--addr")?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--size" => o.size = value("--size")?.parse().map_err(|e| format!("--size: {e}"))?,
            "--duration" => o.duration = value("--duration")?.parse().map_err(|e| format!("--duration: {e}"))?,
            "--warmup" => o.warmup = value("--warmup")?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--json" => o.json = true,
            "--spin-us" => {
                o.spin = Duration::from_micros(value("--spin-us")?.parse().map_err(|e| format!("--spin-us: {e}"))?)
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if !(4..=65_000).contains(&o.size) {
        return Err("--size must be 4 to 65000".into());
    }
    Ok(o)
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// Receives one datagram: blocking (the socket's read timeout applies), or, with a non-zero `spin`, polling
/// without blocking for up to `spin` first, then waiting for up to `timeout` in `poll(2)`.
fn recv_from(
    sock: &UdpSocket,
    buf: &mut [u8],
    spin: Duration,
    timeout: Duration,
) -> std::io::Result<(usize, SocketAddr)> {
    if spin.is_zero() {
        return sock.recv_from(buf);
    }
    use std::os::fd::AsRawFd;
    let until = Instant::now() + spin;
    loop {
        match sock.recv_from(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() < until {
                    std::thread::yield_now();
                    continue;
                }
                let mut fd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
                // SAFETY: one valid pollfd, count 1.
                match unsafe { libc::poll(&mut fd, 1, ms) } {
                    0 => return Err(std::io::ErrorKind::TimedOut.into()),
                    n if n < 0 => return Err(std::io::Error::last_os_error()),
                    _ => {}
                }
                // Blocking again only after this wake-up: a reply normally comes during the next spin.
                return sock.recv_from(buf);
            }
            r => return r,
        }
    }
}

fn pong(o: &Opts) -> std::io::Result<()> {
    let sock = UdpSocket::bind(o.addr)?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    sock.set_nonblocking(!o.spin.is_zero())?;
    let end = Instant::now() + secs(o.duration);
    let mut buf = vec![0u8; 65_536];
    let mut n = 0u64;
    while Instant::now() < end {
        match recv_from(&sock, &mut buf, o.spin, Duration::from_millis(200)) {
            Ok((len, from)) => {
                sock.send_to(&buf[..len], from)?;
                n += 1;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    if o.json {
        println!(r#"{{"mode":"pong","summary":true,"count":{n},"rss_mb":{:.2}}}"#, rss_mb().unwrap_or(0.0));
    } else {
        println!("# udp pong: echoed {n}");
    }
    Ok(())
}

fn round_trip(
    sock: &UdpSocket,
    out: &mut [u8],
    buf: &mut [u8],
    seq: u32,
    spin: Duration,
) -> std::io::Result<Option<Duration>> {
    out[..4].copy_from_slice(&seq.to_le_bytes());
    let t0 = Instant::now();
    sock.send(out)?;
    loop {
        match recv_from(sock, buf, spin, Duration::from_secs(1)).map(|(n, _)| n) {
            Ok(n) if n >= 4 && buf[..4] == seq.to_le_bytes() => return Ok(Some(t0.elapsed())),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
}

fn report(o: &Opts, t: f64, h: &LatencyHistogram, summary: bool) {
    if o.json {
        let mut v = serde_json::json!({
            "mode": "ping", "t": t, "size": o.size, "count": h.count(),
            "rtt_us": h.summary_json(1.0), "half_rtt_us": h.summary_json(0.5),
            "rss_mb": rss_mb().unwrap_or(0.0),
        });
        if summary {
            v["summary"] = true.into();
            v["round_trips_per_s"] = (h.count() as f64 / t).round().into();
        }
        println!("{v}");
    } else {
        let us = |ns: u64| ns as f64 / 1000.0;
        println!(
            "{}{t:6.1} {:>8} rtt med {:>7.1} p90 {:>7.1} p99 {:>7.1} p99.9 {:>7.1} max {:>8.1} | rtt/2 med {:>6.1} µs",
            if summary { "# summary " } else { "" },
            h.count(),
            us(h.quantile(0.5)),
            us(h.quantile(0.9)),
            us(h.quantile(0.99)),
            us(h.quantile(0.999)),
            us(h.max()),
            us(h.quantile(0.5)) / 2.0
        );
    }
}

fn ping(o: &Opts) -> std::io::Result<()> {
    let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    sock.connect(o.addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    sock.set_nonblocking(!o.spin.is_zero())?;
    let mut out = vec![0u8; o.size];
    let mut buf = vec![0u8; 65_536];
    let mut seq = 0u32;
    let warm_end = Instant::now() + secs(o.warmup);
    while Instant::now() < warm_end {
        seq = seq.wrapping_add(1);
        round_trip(&sock, &mut out, &mut buf, seq, o.spin)?;
    }
    let (mut total, mut interval) = (LatencyHistogram::new(), LatencyHistogram::new());
    let start = Instant::now();
    let end = start + secs(o.duration);
    let mut next = start + Duration::from_secs(1);
    while Instant::now() < end {
        seq = seq.wrapping_add(1);
        if let Some(rtt) = round_trip(&sock, &mut out, &mut buf, seq, o.spin)? {
            let ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
            total.record(ns);
            interval.record(ns);
        }
        if Instant::now() >= next {
            report(o, (next - start).as_secs_f64(), &interval, false);
            interval.clear();
            next += Duration::from_secs(1);
        }
    }
    report(o, start.elapsed().as_secs_f64(), &total, true);
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("udp_pingpong: {e}");
            return ExitCode::from(2);
        }
    };
    let r = if o.mode == "ping" { ping(&o) } else { pong(&o) };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_pingpong: {e}");
            ExitCode::FAILURE
        }
    }
}
