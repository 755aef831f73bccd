//! DataReader listeners on real sockets: callbacks run on the receiving thread with no participant lock
//! held, so a callback can take from its reader and write with a writer (an echo), across participants and
//! within one. Every wait is bounded: a deadlock in a callback shows up as a timeout, not a hang.
//!
//! Each test re-executes this binary inside a private network namespace (`unshare -n`, needs root).

mod common;
use common::{in_netns, lo_participant};
use starling::dds::{
    DataReader, DataReaderListener, DataWriter, DomainParticipant, StatusMask, SubscriptionMatchedStatus,
};
use starling::qos::{EndpointQos, History, Reliability, XCDR1, XCDR2};
use starling::types::ShapeType;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn shape(color: &str, x: i32) -> ShapeType {
    starling::cli::JsonSample::from_json(serde_json::json!({"color": color, "x": x, "y": 2 * x, "shapesize": 30}))
        .expect("valid shape")
}

fn qos(reader: bool) -> EndpointQos {
    let mut q = if reader { EndpointQos::reader_default() } else { EndpointQos::writer_default() };
    q.reliability = Reliability::reliable();
    q.history = History::KeepAll;
    if reader {
        q.data_representation = vec![XCDR1, XCDR2];
    }
    q
}

/// Takes everything in `on_data_available` and writes each sample back on `echo` (x negated).
struct Echo {
    echo: DataWriter<ShapeType>,
    calls: AtomicU64,
    taken: AtomicU64,
    echo_errors: AtomicU64,
    matched: Mutex<Vec<SubscriptionMatchedStatus>>,
    threads: Mutex<Vec<String>>,
}

impl Echo {
    fn new(echo: DataWriter<ShapeType>) -> Arc<Echo> {
        Arc::new(Echo {
            echo,
            calls: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            echo_errors: AtomicU64::new(0),
            matched: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        })
    }
}

impl DataReaderListener<ShapeType> for Echo {
    fn on_data_available(&self, reader: &DataReader<ShapeType>) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let name = std::thread::current().name().unwrap_or("unnamed").to_string();
        self.threads.lock().expect("threads").push(name);
        for s in reader.take() {
            let Some(mut d) = s.data.filter(|_| s.info.valid_data) else { continue };
            self.taken.fetch_add(1, Ordering::SeqCst);
            d.x = -d.x;
            if self.echo.write(&d).is_err() {
                self.echo_errors.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn on_subscription_matched(&self, _reader: &DataReader<ShapeType>, status: SubscriptionMatchedStatus) {
        self.matched.lock().expect("matched").push(status);
    }
}

/// Writes `n` shapes with x = first..first+n on `w` and returns the x of the `n` echoes read from `r`.
fn round_trips(w: &DataWriter<ShapeType>, r: &DataReader<ShapeType>, first: i32, n: i32) -> Vec<i32> {
    for x in first..first + n {
        w.write(&shape("BLUE", x)).expect("write");
    }
    let mut got = Vec::new();
    while got.len() < n as usize {
        let s = r.take_next_blocking(WAIT).expect("echo within the bound");
        got.extend(s.data.filter(|_| s.info.valid_data).map(|d| d.x));
    }
    got
}

/// Ping side on `pa`, echoing reader with its listener on `pb` (which may be the same participant).
fn echo_test(pa: &DomainParticipant, pb: &DomainParticipant) {
    let ping_w = pa.create_datawriter(&pa.create_topic::<ShapeType>("Ping"), Some(qos(false))).expect("ping writer");
    let pong_r = pa.create_datareader(&pa.create_topic::<ShapeType>("Pong"), Some(qos(true))).expect("pong reader");
    let pong_w = pb.create_datawriter(&pb.create_topic::<ShapeType>("Pong"), Some(qos(false))).expect("pong writer");
    let ping_r = pb.create_datareader(&pb.create_topic::<ShapeType>("Ping"), Some(qos(true))).expect("ping reader");
    let echo = Echo::new(pong_w);
    ping_r.set_listener(Some(echo.clone()), StatusMask::DATA_AVAILABLE | StatusMask::SUBSCRIPTION_MATCHED);
    ping_w.wait_for_subscribers_blocking(1, WAIT).expect("ping matched");
    echo.echo.wait_for_subscribers_blocking(1, WAIT).expect("pong matched");
    ping_r.wait_for_publishers_blocking(1, WAIT).expect("ping reader matched");
    pong_r.wait_for_publishers_blocking(1, WAIT).expect("pong reader matched");

    // Echoes come back in order, each sample taken inside the callback.
    let got = round_trips(&ping_w, &pong_r, 1, 20);
    assert_eq!(got, (1..=20).map(|x| -x).collect::<Vec<_>>());
    assert_eq!(echo.taken.load(Ordering::SeqCst), 20);
    assert_eq!(echo.echo_errors.load(Ordering::SeqCst), 0);
    let calls = echo.calls.load(Ordering::SeqCst);
    assert!((1..=20).contains(&calls), "{calls} calls for 20 samples");
    assert_eq!(ping_r.sample_count(), 0, "the listener took every sample");

    // Removing the listener stops the callbacks: the samples stay in the cache.
    ping_r.set_listener(None, StatusMask::NONE);
    for x in 100..105 {
        ping_w.write(&shape("BLUE", x)).expect("write");
    }
    let mut waited = 0;
    while ping_r.sample_count() < 5 {
        ping_r.wait_for_data_blocking(WAIT).expect("samples arrive");
        waited += 1;
        assert!(waited < 100, "samples never all arrived");
        if ping_r.sample_count() < 5 {
            // Wait for the next one: mark what is there as read so that wait_for_data blocks again.
            let _ = ping_r.read();
        }
    }
    assert_eq!(echo.calls.load(Ordering::SeqCst), calls, "no callback after the listener was removed");
    assert_eq!(echo.taken.load(Ordering::SeqCst), 20);
    assert_eq!(ping_r.take().len(), 5);

    // Setting it again works (and takes nothing that is not there).
    ping_r.set_listener(Some(echo.clone()), StatusMask::DATA_AVAILABLE);
    let got = round_trips(&ping_w, &pong_r, 200, 3);
    assert_eq!(got, [-200, -201, -202]);
}

#[test]
fn listener_echoes_across_participants_on_the_receive_thread() {
    if !in_netns("listener_echoes_across_participants_on_the_receive_thread") {
        return;
    }
    let pa = lo_participant("ping");
    let pb = lo_participant("pong");
    echo_test(&pa, &pb);
}

#[test]
fn listener_echo_within_one_participant() {
    if !in_netns("listener_echo_within_one_participant") {
        return;
    }
    // Local delivery happens inside the writer's call: the callback runs on the writing thread after the
    // participant's locks are released, and its own write is delivered the same way.
    let p = lo_participant("both");
    echo_test(&p, &p);
}

/// Counts matched callbacks and which thread data callbacks ran on.
#[derive(Default)]
struct Watcher {
    matched: AtomicU32,
    data: AtomicU32,
    threads: Mutex<Vec<String>>,
}

impl DataReaderListener<ShapeType> for Watcher {
    fn on_data_available(&self, reader: &DataReader<ShapeType>) {
        let name = std::thread::current().name().unwrap_or("unnamed").to_string();
        self.threads.lock().expect("threads").push(name);
        self.data.fetch_add(u32::try_from(reader.take().len()).unwrap_or(u32::MAX), Ordering::SeqCst);
    }

    fn on_subscription_matched(&self, _reader: &DataReader<ShapeType>, status: SubscriptionMatchedStatus) {
        if status.current_count > 0 {
            self.matched.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn listener_status_callbacks_and_mask() {
    if !in_netns("listener_status_callbacks_and_mask") {
        return;
    }
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let reader = pb.create_datareader(&pb.create_topic::<ShapeType>("Watched"), Some(qos(true))).expect("reader");
    let all = Arc::new(Watcher::default());
    reader.set_listener(Some(all.clone()), StatusMask::ALL);
    let w = pa.create_datawriter(&pa.create_topic::<ShapeType>("Watched"), Some(qos(false))).expect("writer");
    reader.wait_for_publishers_blocking(1, WAIT).expect("matched");
    w.wait_for_subscribers_blocking(1, WAIT).expect("matched");
    // The matched callback ran before wait_for_publishers saw the status (both follow the same event, the
    // callback once the driver released its locks, on the same thread): bounded wait for it.
    let mut seen = pb.block_on(async {
        tokio::time::timeout(WAIT, async {
            while all.matched.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    });
    assert!(seen.is_ok(), "on_subscription_matched was not called");
    // A mask without DATA_AVAILABLE: no data callbacks, the samples stay.
    reader.set_listener(Some(all.clone()), StatusMask::SUBSCRIPTION_MATCHED);
    w.write(&shape("RED", 1)).expect("write");
    reader.wait_for_data_blocking(WAIT).expect("data");
    assert_eq!(all.data.load(Ordering::SeqCst), 0);
    assert_eq!(reader.sample_count(), 1);
    // Setting a data listener while a sample waits calls it for that sample.
    reader.set_listener(Some(all.clone()), StatusMask::DATA_AVAILABLE);
    assert_eq!(all.data.load(Ordering::SeqCst), 1);
    w.write(&shape("RED", 2)).expect("write");
    seen = pb.block_on(async {
        tokio::time::timeout(WAIT, async {
            while all.data.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    });
    assert!(seen.is_ok(), "on_data_available was not called for the second sample");
    let threads = all.threads.lock().expect("threads").clone();
    assert_eq!(threads.last().map(String::as_str), Some("starling-recv"), "threads: {threads:?}");
}
