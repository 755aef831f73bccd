//! Heap allocations per sample on the steady-state write and read paths, counted with a global allocator.
//!
//! `allocations_per_sample_on_the_steady_state_paths`: two participants run in-process through the sans-IO
//! core (no sockets): `a` writes reliable KEEP_ALL samples, its datagrams are fed to `b`, and `b`'s events are
//! drained, with sent datagrams handed back as the runtime does (`recycle_transmit`). Only allocations made
//! by this thread while a measured section runs are counted; heartbeat/ACKNACK rounds run outside them.
//!
//! `allocations_per_sample_through_the_dds_api`: the same through `DataWriter::write` and
//! `DataReader::try_take_next` between two participants on loopback in a private network namespace (root needed);
//! the writing thread's allocations are counted (the receive thread decodes samples into the reader's
//! cache; its allocations are not seen here).
//!
//! Per sample (12 B, 1 KB, 32 KB), the bounds are what is achieved, so that a regression fails. Run with
//! `cargo test --release --test alloc -- --nocapture` to see the figures:
//! - core write path (`Participant::write` + `poll_transmit`): 0;
//! - core read path (`handle_datagram` + `poll_event`, and giving the payload back to the participant's
//!   `PayloadPool` after decoding, as the DDS reader does): 0, the payload is copied out of the datagram into
//!   a pooled buffer of its size;
//! - encode (`encode_sample` + `key_hash` into a pooled buffer, as `DataWriter::write` does them): 0, the
//!   buffer that becomes the change's payload comes from the pool, and the writer's history gives it back
//!   once acknowledged;
//! - decode: 1 for `PerfKeyed`, whose payload is a `Vec` (0 when it is empty, at 12 B).
//!
//! Through the DDS API, the pools' counters also show how many payload buffers each side allocated afresh
//! (the receive thread's copies are not on the counting thread).

mod common;

use common::{in_netns, lo_participant};
use starling::qos::{EndpointQos, History, Reliability};
use starling::types::perf::PerfKeyed;
use starling_proto::cdr::{decode_sample, encode_sample, key_hash, XcdrVersion};
use starling_proto::core::{PoolStats, Transmit};
use starling_proto::qos::XCDR1;
use starling_proto::wire::Endian;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

#[path = "../../benches/support/mempair.rs"]
mod mempair;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = ON.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result and the allocations (alloc + realloc) it made on this thread.
fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = COUNT.with(Cell::get);
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    (r, COUNT.with(Cell::get) - before)
}

#[derive(Debug, Default)]
struct Counts {
    samples: u64,
    write_core: u64,
    read_core: u64,
    encode: u64,
    decode: u64,
}

impl Counts {
    fn per_sample(&self, n: u64) -> f64 {
        n as f64 / self.samples as f64
    }
}

/// Writes `n` samples of `size` bytes; counts the core's write path (write + poll_transmit), the core's
/// read path (handle_datagram + poll_event), and CDR encode (with the key hash) and decode as DataWriter
/// and DataReader do them.
fn run(pair: &mut mempair::Pair, size: usize, n: u64, counts: &mut Counts) {
    let mut sample = PerfKeyed::with_size(size);
    let mut sent: Vec<Transmit> = Vec::with_capacity(64);
    let mut events = Vec::with_capacity(64);
    // Like DataWriter::write: a buffer presized to the previous sample's encoded length.
    let mut size_hint = 64;
    for i in 0..n {
        sample.seq = i as u32;
        let pool = pair.a.payload_pool().clone();
        let ((payload, key), enc) = counted(|| {
            let mut buf = pool.take(size_hint);
            encode_sample(&sample, XCDR1, Endian::Little, &mut buf).expect("encode");
            size_hint = buf.len();
            (bytes::Bytes::from(buf), key_hash(&sample, XcdrVersion::V1))
        });
        let mut change = mempair::make_change(payload, 0);
        change.key_hash = key;
        let now = pair.now;
        let writer = pair.writer;
        let ((), w) = counted(|| {
            pair.a.write(now, writer, change).expect("write");
            while let Some(t) = pair.a.poll_transmit() {
                sent.push(t);
            }
        });
        let ((), r) = counted(|| {
            for t in &sent {
                pair.b.handle_datagram(now, &t.payload);
            }
            while let Some(e) = pair.b.poll_event() {
                events.push(e);
            }
        });
        for t in sent.drain(..) {
            pair.a.recycle_transmit(t);
        }
        let mut dec = 0;
        for e in events.drain(..) {
            if let starling_proto::core::Event::Sample { sample, .. } = e {
                let p = sample.payload.expect("payload");
                let (v, d) = counted(|| decode_sample::<PerfKeyed>(&p).expect("decode"));
                assert_eq!(v.seq, i as u32);
                // As the DDS reader does once the sample is decoded: the next one reuses the buffer.
                let ((), g) = counted(|| pair.b.payload_pool().give(p));
                counts.read_core += g;
                dec += d;
                counts.samples += 1;
            }
        }
        // Acknowledgements and anything else the reader sends go back uncounted.
        while let Some(t) = pair.b.poll_transmit() {
            pair.a.handle_datagram(now, &t.payload);
            pair.b.recycle_transmit(t);
        }
        counts.write_core += w;
        counts.read_core += r;
        counts.encode += enc;
        counts.decode += dec;
        if i % 256 == 255 {
            pair.settle();
        }
    }
}

#[test]
fn allocations_per_sample_on_the_steady_state_paths() {
    // (payload size, bound on core write, core read, encode, decode allocations per sample)
    // Before the allocation work, per sample: write 3.1, read 2.1, encode 2, decode 1 (0 at 12 B); before the
    // payload pool, read 1 and encode 1.
    let cases =
        [(12usize, 0.01, 0.05, 0.05, 0.01), (1024, 0.01, 0.05, 0.05, 1.01), (32 * 1024, 0.01, 0.05, 0.05, 1.01)];
    for (size, max_w, max_r, max_enc, max_dec) in cases {
        let mut pair = mempair::Pair::new(true, true);
        run(&mut pair, size, 1000, &mut Counts::default()); // warm-up: buffers, maps and queues grow
        pair.settle();
        let mut c = Counts::default();
        run(&mut pair, size, 2000, &mut c);
        assert_eq!(c.samples, 2000, "every sample delivered once");
        let (w, r, enc, dec) =
            (c.per_sample(c.write_core), c.per_sample(c.read_core), c.per_sample(c.encode), c.per_sample(c.decode));
        println!(
            "size {size:>6} B: core write path {w:.3}, core read path {r:.3}, encode+key hash {enc:.3}, decode {dec:.2} allocations per sample"
        );
        assert!(w <= max_w, "core write path: {w:.2} allocations per sample (bound {max_w})");
        assert!(r <= max_r, "core read path: {r:.2} allocations per sample (bound {max_r})");
        assert!(enc <= max_enc, "encode: {enc:.2} allocations per sample (bound {max_enc})");
        assert!(dec <= max_dec, "decode: {dec:.2} allocations per sample (bound {max_dec})");
    }
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

#[test]
fn allocations_per_sample_through_the_dds_api() {
    if !in_netns("allocations_per_sample_through_the_dds_api") {
        return;
    }
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let reliable = |mut q: EndpointQos| {
        q.reliability = Reliability::reliable();
        q.history = History::KeepAll;
        q
    };
    let writer = pa
        .create_datawriter(&pa.create_topic::<PerfKeyed>("Alloc"), Some(reliable(EndpointQos::writer_default())))
        .expect("writer");
    let reader = pb
        .create_datareader(&pb.create_topic::<PerfKeyed>("Alloc"), Some(reliable(EndpointQos::reader_default())))
        .expect("reader");
    pa.wait_for_participants_blocking(1, WAIT).expect("a discovers b");
    writer.wait_for_subscribers_blocking(1, WAIT).expect("writer matches");
    reader.wait_for_publishers_blocking(1, WAIT).expect("reader matches");

    // (payload size, bound on allocations per write on the writing thread): 0, the payload buffer comes from
    // the participant's pool, to which the history gives it back once acknowledged (1 before the pool). A
    // datagram the socket cannot take at once would be copied into the send backlog; loopback does not push
    // back (it releases the sender's buffer space as it hands the datagram over).
    for (size, max_write) in [(12usize, 0.05), (1024, 0.05), (32 * 1024, 0.05)] {
        let mut sample = PerfKeyed::with_size(size);
        let mut seq = 0u32;
        // Writes `n` samples in rounds of 100, each acknowledged and taken before the next; returns the
        // allocations counted in `write` and in `try_take_next`.
        let mut phase = |n: u32| {
            let (mut w, mut t) = (0, 0);
            let mut taken = 0u32;
            let first = seq;
            for _ in 0..n / 100 {
                for _ in 0..100 {
                    sample.seq = seq;
                    let (r, a) = counted(|| writer.write(&sample));
                    r.expect("write");
                    w += a;
                    seq += 1;
                }
                writer.wait_for_acknowledgments_blocking(WAIT).expect("acknowledged");
                while taken < seq - first {
                    let (got, a) = counted(|| reader.try_take_next());
                    t += a;
                    match got {
                        Some(s) => {
                            assert_eq!(s.data.as_ref().map(|d| d.seq), Some(first + taken), "in order, no loss");
                            taken += 1;
                        }
                        None => reader.wait_for_data_blocking(WAIT).expect("samples arrive"),
                    }
                }
            }
            (w, t)
        };
        phase(1000); // warm-up
        let n = 2000u32;
        let (sub_before, pub_before) = (pb.payload_pool_stats(), pa.payload_pool_stats());
        let (w, t) = phase(n);
        let (sub_after, pub_after) = (pb.payload_pool_stats(), pa.payload_pool_stats());
        let (w, t) = (w as f64 / f64::from(n), t as f64 / f64::from(n));
        // The receive thread's payload buffers (not counted above): fresh ones per sample.
        let fresh = |before: PoolStats, after: PoolStats| (after.allocated - before.allocated) as f64 / f64::from(n);
        let (recv, enc) = (fresh(sub_before, sub_after), fresh(pub_before, pub_after));
        println!(
            "size {size:>6} B: DataWriter::write {w:.3}, DataReader::try_take_next {t:.3} allocations per sample (application thread); \
             payload buffers allocated per sample: {enc:.3} written, {recv:.3} received"
        );
        assert!(w <= max_write, "DataWriter::write: {w:.3} allocations per sample (bound {max_write})");
        assert!(enc <= max_write, "written payloads: {enc:.3} fresh buffers per sample (bound {max_write})");
        assert!(recv <= max_write, "received payloads: {recv:.3} fresh buffers per sample (bound {max_write})");
        // The sample was decoded on the receive thread; taking it moves it out of the cache.
        assert!(t <= max_write, "DataReader::try_take_next: {t:.3} allocations per sample (bound {max_write})");
    }
}
