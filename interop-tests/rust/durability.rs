//! The durability service ([`starling::durability`]) in one process with three participants on real sockets:
//! a PERSISTENT writer's samples are held per its DURABILITY_SERVICE history after it is gone, served with
//! their original source timestamps by the service's own writer, and served again by a new service that
//! restores them from the store.
//!
//! The test re-executes this binary inside a private network namespace (`unshare -n`, needs root) where `lo`
//! is the only interface. Waits are bounded and poll conditions.

mod common;
use common::{in_netns, lo_participant};
use starling::dds::{DataReader, Sample};
use starling::durability::{DurabilityService, ServiceConfig, TopicStatus};
use starling::proto::wire::types::Time;
use starling::qos::{DurabilityKind, EndpointQos, History, Reliability, XCDR1, XCDR2};
use starling::types::ShapeType;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};

const WAIT: Duration = Duration::from_secs(20);

/// A running service: its status and the way to stop it.
struct Running {
    status: watch::Receiver<BTreeMap<String, TopicStatus>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start_service(store: &std::path::Path) -> Running {
    let config = ServiceConfig { store: Some(store.to_path_buf()), topics: vec!["Dur*".into()] };
    let svc = DurabilityService::new(lo_participant("durability"), config).expect("service");
    let status = svc.status();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        svc.run(async move {
            let _ = rx.await;
        })
        .await
        .expect("service runs");
    });
    Running { status, stop, task }
}

impl Running {
    async fn wait(&mut self, topic: &str, what: impl Fn(&TopicStatus) -> bool) {
        let ok = matches!(
            tokio::time::timeout(WAIT, self.status.wait_for(|m| m.get(topic).is_some_and(&what))).await,
            Ok(Ok(_))
        );
        assert!(ok, "service status for {topic}: {:?}", *self.status.borrow());
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task).await.expect("service stops").expect("service task");
    }
}

fn shape(x: i32) -> ShapeType {
    ShapeType { color: "RED".into(), x, y: 0, shapesize: 30, ..ShapeType::default() }
}

fn reader_qos(durability: DurabilityKind) -> EndpointQos {
    let mut q = EndpointQos::reader_default();
    q.reliability = Reliability::reliable();
    q.durability = durability;
    q.history = History::KeepAll;
    q.data_representation = vec![XCDR1, XCDR2];
    q
}

/// Takes valid samples until `n` arrived (or the wait ran out).
async fn take_valid(reader: &DataReader<ShapeType>, n: usize) -> Vec<Sample<ShapeType>> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + WAIT;
    while got.len() < n {
        match tokio::time::timeout_at(end, reader.take_next()).await {
            Ok(Ok(s)) if s.info.valid_data => got.push(s),
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_samples_held_served_and_restored() {
    if !in_netns("persistent_samples_held_served_and_restored") {
        return;
    }
    let store = std::env::temp_dir().join(format!("starling-durability-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let mut svc = start_service(&store);

    // A PERSISTENT writer whose durability service keeps the newest 2 samples per instance.
    let pw = lo_participant("writer");
    let mut wq = EndpointQos::writer_default();
    wq.durability = DurabilityKind::Persistent;
    wq.history = History::KeepAll;
    wq.durability_service.history = History::KeepLast(2);
    let writer = pw.create_datawriter(&pw.create_topic::<ShapeType>("DurSquare"), Some(wq)).expect("writer");
    // A TRANSIENT reader that is there all along: it gets the samples from the writer, and not again from the
    // service.
    let p0 = lo_participant("present reader");
    let present = p0
        .create_datareader(&p0.create_topic::<ShapeType>("DurSquare"), Some(reader_qos(DurabilityKind::Transient)))
        .expect("reader");
    writer.wait_for_subscribers(2, WAIT).await.expect("the service's reader and the present reader match");
    present.wait_for_publishers(1, WAIT).await.expect("present reader matches");
    let base = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let stamps: Vec<SystemTime> = (0..3).map(|i| base + Duration::from_millis(250 * i)).collect();
    for (i, ts) in stamps.iter().enumerate() {
        writer.write_w_timestamp(&shape(i as i32), *ts).expect("write");
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("acknowledged");
    svc.wait("DurSquare", |s| s.samples == 2 && s.writers == 1 && !s.serving).await;
    let original = writer.guid();
    drop(writer);
    drop(pw);
    svc.wait("DurSquare", |s| s.samples == 2 && s.writers == 0 && s.serving).await;
    let live: Vec<i32> = take_valid(&present, 3).await.iter().filter_map(|s| s.data.as_ref().map(|d| d.x)).collect();
    assert_eq!(live, [0, 1, 2], "the present reader got everything from the writer");
    let mut m = present.subscription_matched_watch();
    let rematched = tokio::time::timeout(WAIT, m.wait_for(|s| s.total_count >= 2 && s.current_count == 1)).await;
    assert!(matches!(rematched, Ok(Ok(_))), "the present reader matches the service's writer");

    let expect = |got: &[Sample<ShapeType>]| {
        let xs: Vec<i32> = got.iter().map(|s| s.data.as_ref().map_or(-1, |d| d.x)).collect();
        assert_eq!(xs, [1, 2], "the newest two samples, in order");
        for (s, ts) in got.iter().zip(&stamps[1..]) {
            let nanos = ts.duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as u64;
            assert_eq!(s.info.source_timestamp, Some(Time::from_nanos(nanos)), "original source timestamp");
            assert_ne!(s.info.publication_handle, original, "served by the service's writer");
        }
    };

    // A late TRANSIENT reader gets them from the service (PERSISTENT offered >= TRANSIENT requested).
    let pr = lo_participant("late reader");
    let reader = pr
        .create_datareader(&pr.create_topic::<ShapeType>("DurSquare"), Some(reader_qos(DurabilityKind::Transient)))
        .expect("reader");
    expect(&take_valid(&reader, 2).await);
    drop(reader);
    drop(pr);
    // By now the service's writer served its history to the late reader; the present reader got none of it.
    assert!(present.take().iter().all(|s| !s.info.valid_data), "no sample twice for the present reader");
    drop(present);
    drop(p0);

    // A new service restores them from the store and serves them.
    svc.stop().await;
    let mut svc = start_service(&store);
    svc.wait("DurSquare", |s| s.samples == 2 && s.serving).await;
    let pr = lo_participant("reader after restart");
    let reader = pr
        .create_datareader(&pr.create_topic::<ShapeType>("DurSquare"), Some(reader_qos(DurabilityKind::Persistent)))
        .expect("reader");
    expect(&take_valid(&reader, 2).await);
    svc.stop().await;
    let _ = std::fs::remove_dir_all(&store);
}
