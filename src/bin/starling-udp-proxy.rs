//! `starling-udp-proxy`: a userspace UDP relay that impairs traffic on purpose.
//!
//! Each `--map LISTEN=FORWARD` binds a UDP socket on `LISTEN` and relays every
//! datagram it receives to `FORWARD`, after applying, independently per
//! datagram and from a seeded RNG (so a run replays with `--seed`):
//!
//! * `--loss P`: drop with probability P percent;
//! * `--dup P`: send a second copy (with its own delay) with probability P;
//! * `--delay MS` and `--jitter MS`: hold for `delay + uniform(0..=jitter)` ms;
//! * `--reorder P`: hold for an extra `--reorder-delay MS` with probability P,
//!   so that datagrams sent after it overtake it.
//!
//! The relay sends from the listening socket, so the receiver sees the proxy's
//! address as the source. RTPS does not care: replies go to the locators
//! announced in discovery, not to the source address. To put the proxy on
//! the path between two RTPS participants, run them in two network namespaces
//! routed through a third one, and redirect the routed traffic to the proxy
//! there with nftables DNAT, one mapping per destination port (see
//! `interop-tests/udp_proxy.py`). With unicast-only discovery (`--peer`), all
//! traffic between the two participants then crosses the proxy.
//!
//! On SIGTERM/SIGINT the process exits; on exit (and every `--stats-every`
//! seconds, if set) it prints one JSON line of counters per mapping on stderr.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Impairment settings (shared by every mapping).
#[derive(Clone, Copy, Debug, Default)]
struct Impair {
    loss: f64,
    dup: f64,
    reorder: f64,
    delay: Duration,
    jitter: Duration,
    reorder_delay: Duration,
}

/// Per-mapping counters.
#[derive(Default)]
struct Counters {
    received: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    sent: AtomicU64,
    send_errors: AtomicU64,
}

struct Mapping {
    listen: SocketAddr,
    forward: SocketAddr,
    socket: UdpSocket,
    counters: Counters,
}

/// A datagram waiting for its release time (min-heap by time, then arrival order).
struct Held {
    at: Instant,
    order: u64,
    mapping: usize,
    data: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.order == o.order
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

struct Queue {
    heap: Mutex<(BinaryHeap<Held>, u64)>,
    cv: Condvar,
}

impl Queue {
    fn push(&self, at: Instant, mapping: usize, data: Vec<u8>) {
        let mut g = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        let order = g.1;
        g.1 += 1;
        g.0.push(Held { at, order, mapping, data });
        self.cv.notify_one();
    }
}

const USAGE: &str = "usage: starling-udp-proxy --map LISTEN=FORWARD [--map ...] [--loss P] [--dup P] \
[--reorder P] [--delay MS] [--jitter MS] [--reorder-delay MS] [--seed N] [--stats-every SECS]
  P is a percentage (0-100); MS is milliseconds. Addresses are IPv4 ADDR:PORT.";

fn fail(msg: &str) -> ! {
    eprintln!("starling-udp-proxy: {msg}\n{USAGE}");
    std::process::exit(2);
}

fn percent(v: &str, name: &str) -> f64 {
    match v.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => p / 100.0,
        _ => fail(&format!("{name} must be a percentage between 0 and 100, got '{v}'")),
    }
}

fn millis(v: &str, name: &str) -> Duration {
    match v.parse::<f64>() {
        Ok(m) if m >= 0.0 && m.is_finite() => Duration::from_secs_f64(m / 1000.0),
        _ => fail(&format!("{name} must be a non-negative number of milliseconds, got '{v}'")),
    }
}

fn stats_line(maps: &[Arc<Mapping>]) -> String {
    let parts: Vec<String> = maps
        .iter()
        .map(|m| {
            let c = &m.counters;
            format!(
                "{{\"listen\":\"{}\",\"forward\":\"{}\",\"received\":{},\"dropped\":{},\"duplicated\":{},\
                 \"reordered\":{},\"sent\":{},\"send_errors\":{}}}",
                m.listen,
                m.forward,
                c.received.load(Ordering::Relaxed),
                c.dropped.load(Ordering::Relaxed),
                c.duplicated.load(Ordering::Relaxed),
                c.reordered.load(Ordering::Relaxed),
                c.sent.load(Ordering::Relaxed),
                c.send_errors.load(Ordering::Relaxed)
            )
        })
        .collect();
    format!("{{\"proxy\":[{}]}}", parts.join(","))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut specs: Vec<(SocketAddr, SocketAddr)> = Vec::new();
    let mut imp = Impair { reorder_delay: Duration::from_millis(5), ..Impair::default() };
    let mut seed = 1u64;
    let mut stats_every: Option<Duration> = None;
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            println!("{USAGE}");
            return;
        }
        let Some(v) = args.next() else { fail(&format!("{a} needs a value")) };
        match a.as_str() {
            "--map" => {
                let Some((l, f)) = v.split_once('=') else { fail(&format!("--map expects LISTEN=FORWARD, got '{v}'")) };
                let parse = |s: &str| s.parse::<SocketAddr>().unwrap_or_else(|_| fail(&format!("bad address '{s}'")));
                specs.push((parse(l), parse(f)));
            }
            "--loss" => imp.loss = percent(&v, "--loss"),
            "--dup" => imp.dup = percent(&v, "--dup"),
            "--reorder" => imp.reorder = percent(&v, "--reorder"),
            "--delay" => imp.delay = millis(&v, "--delay"),
            "--jitter" => imp.jitter = millis(&v, "--jitter"),
            "--reorder-delay" => imp.reorder_delay = millis(&v, "--reorder-delay"),
            "--seed" => seed = v.parse().unwrap_or_else(|_| fail("--seed must be an unsigned integer")),
            "--stats-every" => stats_every = Some(millis(&v, "--stats-every") * 1000),
            _ => fail(&format!("unknown option '{a}'")),
        }
    }
    if specs.is_empty() {
        fail("at least one --map is required");
    }
    let mut maps = Vec::new();
    for (listen, forward) in specs {
        let socket = UdpSocket::bind(listen).unwrap_or_else(|e| fail(&format!("cannot bind {listen}: {e}")));
        // Large buffers: the proxy must not become an unintended source of loss.
        let s2 = socket2::SockRef::from(&socket);
        let _ = s2.set_recv_buffer_size(4 << 20);
        let _ = s2.set_send_buffer_size(4 << 20);
        maps.push(Arc::new(Mapping { listen, forward, socket, counters: Counters::default() }));
    }
    let queue = Arc::new(Queue { heap: Mutex::new((BinaryHeap::new(), 0)), cv: Condvar::new() });
    let stop = Arc::new(AtomicBool::new(false));

    for (i, m) in maps.iter().enumerate() {
        let m = Arc::clone(m);
        let q = Arc::clone(&queue);
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i as u64));
        std::thread::spawn(move || receive_loop(i, &m, &q, imp, &mut rng));
    }
    {
        let maps = maps.clone();
        let q = Arc::clone(&queue);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || send_loop(&maps, &q, &stop));
    }
    eprintln!("starling-udp-proxy: ready ({} mappings, seed {seed}, {imp:?})", maps.len());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut tick = tokio::time::interval(stats_every.unwrap_or(Duration::from_secs(3600)));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => if stats_every.is_some() { eprintln!("{}", stats_line(&maps)) },
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    eprintln!("{}", stats_line(&maps));
}

fn receive_loop(i: usize, m: &Mapping, q: &Queue, imp: Impair, rng: &mut StdRng) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match m.socket.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("starling-udp-proxy: recv on {}: {e}", m.listen);
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        m.counters.received.fetch_add(1, Ordering::Relaxed);
        if rng.gen_bool(imp.loss) {
            m.counters.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let copies = if rng.gen_bool(imp.dup) {
            m.counters.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        let now = Instant::now();
        for _ in 0..copies {
            let mut hold = imp.delay;
            if !imp.jitter.is_zero() {
                hold += imp.jitter.mul_f64(rng.gen::<f64>());
            }
            if rng.gen_bool(imp.reorder) {
                m.counters.reordered.fetch_add(1, Ordering::Relaxed);
                hold += imp.reorder_delay;
            }
            q.push(now + hold, i, buf[..n].to_vec());
        }
    }
}

fn send_loop(maps: &[Arc<Mapping>], q: &Queue, stop: &AtomicBool) {
    let mut g = q.heap.lock().unwrap_or_else(|e| e.into_inner());
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        match g.0.peek() {
            Some(h) if h.at <= now => {
                let h = g.0.pop().expect("peeked");
                drop(g);
                let m = &maps[h.mapping];
                match m.socket.send_to(&h.data, m.forward) {
                    Ok(_) => m.counters.sent.fetch_add(1, Ordering::Relaxed),
                    Err(_) => m.counters.send_errors.fetch_add(1, Ordering::Relaxed),
                };
                g = q.heap.lock().unwrap_or_else(|e| e.into_inner());
            }
            Some(h) => {
                let wait = h.at - now;
                g = q.cv.wait_timeout(g, wait).unwrap_or_else(|e| e.into_inner()).0;
            }
            None => {
                g = q.cv.wait_timeout(g, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
    }
}
