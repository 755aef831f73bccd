//! QoS behaviour across two participants on real sockets.
//!
//! Each test re-executes this binary inside a private network namespace
//! (`unshare -n`, needs root) where `lo` is the only interface. Waits are
//! bounded and poll conditions; timing tests use generous margins and assert
//! on counts.

mod common;
use common::{in_netns, lo_participant};
use starling::dds::{
    builtin_instance_handle, Condition, DataReader, DataWriter, DdsError, DomainParticipant, GuardCondition,
    InstanceState, ReaderDataLifecycle, Sample, StateMask, StatusMask, WaitSet, WriterDataLifecycle,
};
use starling::proto::core::WriteErrorKind;
use starling::proto::wire::types::Duration as RtpsDuration;
use starling::qos::{
    DestinationOrderKind, EndpointQos, History, LivelinessKind, OwnershipKind, Reliability, ResourceLimits, XCDR1,
    XCDR2,
};
use starling::types::ShapeType;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const WAIT: Duration = Duration::from_secs(15);

fn shape(color: &str, x: i32) -> ShapeType {
    ShapeType { color: color.to_string(), x, y: 0, shapesize: 30, ..ShapeType::default() }
}

fn ms(n: u64) -> RtpsDuration {
    RtpsDuration::from_std(Duration::from_millis(n))
}

fn writer_qos() -> EndpointQos {
    let mut q = EndpointQos::writer_default();
    q.history = History::KeepAll;
    q
}

fn reader_qos() -> EndpointQos {
    let mut q = EndpointQos::reader_default();
    q.reliability = Reliability::reliable();
    q.history = History::KeepAll;
    q.data_representation = vec![XCDR1, XCDR2];
    q
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Takes samples until `n` valid ones arrived (or `timeout` passed).
async fn take_valid(reader: &DataReader<ShapeType>, n: usize, timeout: Duration) -> Vec<Sample<ShapeType>> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + timeout;
    while got.len() < n {
        match tokio::time::timeout_at(end, reader.take_next()).await {
            Ok(Ok(s)) if s.info.valid_data => got.push(s),
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    got
}

struct Pair {
    pa: DomainParticipant,
    pb: DomainParticipant,
}

fn pair() -> Pair {
    Pair { pa: lo_participant("pub"), pb: lo_participant("sub") }
}

impl Pair {
    fn writer(&self, topic: &str, qos: EndpointQos) -> DataWriter<ShapeType> {
        self.pa.create_datawriter(&self.pa.create_topic::<ShapeType>(topic), Some(qos)).expect("writer")
    }

    fn reader(&self, topic: &str, qos: EndpointQos) -> DataReader<ShapeType> {
        self.pb.create_datareader(&self.pb.create_topic::<ShapeType>(topic), Some(qos)).expect("reader")
    }
}

async fn matched(w: &DataWriter<ShapeType>, r: &DataReader<ShapeType>) {
    w.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    r.wait_for_publishers(1, WAIT).await.expect("reader matches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_ownership_failover() {
    if !in_netns("exclusive_ownership_failover") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.ownership = OwnershipKind::Exclusive;
    wq.ownership_strength = 10;
    let weak = p.writer("Owned", wq.clone());
    wq.ownership_strength = 20;
    let strong = p.writer("Owned", wq);
    let mut rq = reader_qos();
    rq.ownership = OwnershipKind::Exclusive;
    let reader = p.reader("Owned", rq);
    reader.wait_for_publishers(2, WAIT).await.expect("both writers match");
    weak.wait_for_subscribers(1, WAIT).await.expect("weak matches");
    strong.wait_for_subscribers(1, WAIT).await.expect("strong matches");

    strong.write(&shape("RED", 1000)).expect("write");
    assert_eq!(take_valid(&reader, 1, WAIT).await.len(), 1);
    for x in 0..10 {
        weak.write(&shape("RED", x)).expect("write");
        strong.write(&shape("RED", 1001 + x)).expect("write");
    }
    weak.wait_for_acknowledgments(WAIT).await.expect("acked");
    strong.wait_for_acknowledgments(WAIT).await.expect("acked");
    let got = take_valid(&reader, 10, WAIT).await;
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|s| s.info.publication_handle == strong.guid()), "only the strongest writer's samples");
    assert!(reader.take().iter().all(|s| !s.info.valid_data), "nothing from the weaker writer");

    let strong_guid = strong.guid();
    drop(strong);
    let mut m = reader.subscription_matched_watch();
    tokio::time::timeout(WAIT, m.wait_for(|s| s.current_count == 1)).await.expect("unmatched").expect("open");
    weak.write(&shape("RED", 7)).expect("write");
    let got = take_valid(&reader, 1, WAIT).await;
    assert_eq!(got.len(), 1, "ownership failed over");
    assert_eq!(got[0].info.publication_handle, weak.guid());
    assert_ne!(got[0].info.publication_handle, strong_guid);
    assert_eq!(got[0].data.as_ref().map(|d| d.x), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_missed_on_both_sides() {
    if !in_netns("deadline_missed_on_both_sides") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.deadline = ms(100);
    let writer = p.writer("Deadline", wq);
    let mut rq = reader_qos();
    rq.deadline = ms(200);
    let reader = p.reader("Deadline", rq);
    matched(&writer, &reader).await;
    writer.write(&shape("RED", 1)).expect("write");
    writer.write(&shape("BLUE", 1)).expect("write");
    assert_eq!(take_valid(&reader, 2, WAIT).await.len(), 2);
    let mut wd = writer.offered_deadline_missed_watch();
    tokio::time::timeout(WAIT, wd.wait_for(|s| s.total_count >= 4)).await.expect("offered misses").expect("open");
    let mut rd = reader.requested_deadline_missed_watch();
    tokio::time::timeout(WAIT, rd.wait_for(|s| s.total_count >= 2)).await.expect("requested misses").expect("open");
    let ws = writer.offered_deadline_missed_status();
    assert!(ws.total_count >= 4 && ws.total_count_change >= 4 && ws.last_instance_handle.is_some());
    assert_eq!(writer.offered_deadline_missed_status().total_count_change, 0, "reading resets the change");
    let rs = reader.requested_deadline_missed_status();
    assert!(rs.total_count >= 2 && rs.last_instance_handle.is_some());
    // While written faster than the deadline, no more misses are counted.
    let before = reader.requested_deadline_missed_status().total_count;
    let wbefore = writer.offered_deadline_missed_status().total_count;
    for _ in 0..10 {
        writer.write(&shape("RED", 2)).expect("write");
        writer.write(&shape("BLUE", 2)).expect("write");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A loaded machine may stretch a 20 ms sleep past the deadline now and then: allow a few.
    assert!(reader.requested_deadline_missed_status().total_count <= before + 4);
    assert!(writer.offered_deadline_missed_status().total_count <= wbefore + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_based_filter_thins_stream() {
    if !in_netns("time_based_filter_thins_stream") {
        return;
    }
    let p = pair();
    let writer = p.writer("Filtered", writer_qos());
    let mut rq = reader_qos();
    rq.time_based_filter = ms(100);
    let reader = p.reader("Filtered", rq);
    matched(&writer, &reader).await;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let start = Instant::now();
    for x in 0..100 {
        tick.tick().await;
        writer.write(&shape("RED", x)).expect("write");
    }
    let elapsed = start.elapsed();
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    let kept = reader.take().len();
    let expected = (elapsed.as_millis() / 100) as usize + 1;
    assert!(kept >= 3 && kept <= expected + 3, "kept {kept} of 100 over {elapsed:?} (expected about {expected})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifespan_expires_samples() {
    if !in_netns("lifespan_expires_samples") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.lifespan = ms(300);
    let writer = p.writer("Lifespan", wq);
    let reader = p.reader("Lifespan", reader_qos());
    matched(&writer, &reader).await;
    // Stamped 10 s ago: already expired on arrival.
    writer.write_w_timestamp(&shape("RED", 0), SystemTime::now() - Duration::from_secs(10)).expect("write");
    for x in 1..4 {
        writer.write(&shape("RED", x)).expect("write");
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    assert!(eventually(WAIT, || reader.sample_lost_status().total_count >= 1).await, "expired on arrival");
    let fresh = reader.read();
    assert!(fresh.iter().all(|s| s.data.as_ref().is_some_and(|d| d.x > 0)));
    assert!(!fresh.is_empty() && fresh.len() <= 3);
    assert!(eventually(WAIT, || reader.sample_count() == 0).await, "samples vanish once their lifespan ends");
    assert!(reader.take().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_order_by_source_timestamp() {
    if !in_netns("destination_order_by_source_timestamp") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.destination_order = DestinationOrderKind::BySourceTimestamp;
    let writer = p.writer("Ordered", wq);
    let mut rq = reader_qos();
    rq.destination_order = DestinationOrderKind::BySourceTimestamp;
    let reader = p.reader("Ordered", rq);
    matched(&writer, &reader).await;
    let t = SystemTime::now();
    writer.write_w_timestamp(&shape("RED", 1), t).expect("write");
    writer.write_w_timestamp(&shape("RED", 2), t - Duration::from_secs(1)).expect("older: dropped");
    writer.write_w_timestamp(&shape("RED", 3), t + Duration::from_millis(1)).expect("write");
    writer.write_w_timestamp(&shape("BLUE", 4), t - Duration::from_secs(5)).expect("other instance");
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    let got = take_valid(&reader, 3, WAIT).await;
    let xs: Vec<i32> = got.iter().filter_map(|s| s.data.as_ref().map(|d| d.x)).collect();
    assert_eq!(xs, vec![1, 3, 4]);
    assert!(reader.take().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_writers_state_and_autopurge() {
    if !in_netns("no_writers_state_and_autopurge") {
        return;
    }
    let p = pair();
    let writer = p.writer("Lifecycle", writer_qos());
    writer.set_writer_data_lifecycle(WriterDataLifecycle { autodispose_unregistered_instances: false });
    let reader = p.reader("Lifecycle", reader_qos());
    matched(&writer, &reader).await;
    writer.write(&shape("RED", 1)).expect("write");
    writer.write(&shape("BLUE", 1)).expect("write");
    let got = take_valid(&reader, 2, WAIT).await;
    assert_eq!(got.len(), 2);
    let red = got.iter().find(|s| s.data.as_ref().is_some_and(|d| d.color == "RED")).expect("red").info.instance_handle;
    assert_eq!(reader.instance_state(&red), Some(InstanceState::Alive));
    assert_eq!(writer.registered_instances().len(), 2);
    writer.unregister_instance(&shape("BLUE", 0)).expect("unregister");
    assert_eq!(writer.registered_instances().len(), 1);
    let s = tokio::time::timeout(WAIT, reader.take_next()).await.expect("in time").expect("notification");
    assert!(!s.info.valid_data);
    assert_eq!(s.info.instance_state, InstanceState::NotAliveNoWriters, "unregister without autodispose");

    reader.set_reader_data_lifecycle(ReaderDataLifecycle {
        autopurge_nowriter_samples_delay: Some(Duration::from_millis(300)),
        autopurge_disposed_samples_delay: None,
    });
    drop(writer);
    assert!(
        eventually(WAIT, || reader.instance_state(&red) == Some(InstanceState::NotAliveNoWriters)).await,
        "the writer's drop leaves its instances without writers"
    );
    let n = reader.read();
    assert!(n.iter().any(|s| !s.info.valid_data && s.info.instance_state == InstanceState::NotAliveNoWriters));
    assert!(eventually(WAIT, || reader.instance_count() == 0 && reader.sample_count() == 0).await, "purged");

    // A new writer brings the instance back as NEW.
    let writer = p.writer("Lifecycle", writer_qos());
    matched(&writer, &reader).await;
    writer.write(&shape("RED", 2)).expect("write");
    let got = take_valid(&reader, 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].info.view_state, starling::dds::ViewState::New);
    // Autodispose (the default) turns unregister into dispose.
    writer.unregister_instance(&shape("RED", 0)).expect("unregister");
    let s = tokio::time::timeout(WAIT, reader.take_next()).await.expect("in time").expect("notification");
    assert_eq!(s.info.instance_state, InstanceState::NotAliveDisposed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_resource_limits() {
    if !in_netns("reader_resource_limits") {
        return;
    }
    let p = pair();
    let writer = p.writer("Limited", writer_qos());
    let mut rq = reader_qos();
    rq.resource_limits = ResourceLimits { max_samples: 5, max_instances: 2, max_samples_per_instance: 3 };
    let reader = p.reader("Limited", rq);
    let mut lq = reader_qos();
    lq.history = History::KeepLast(2);
    lq.resource_limits = ResourceLimits { max_samples: 3, max_instances: -1, max_samples_per_instance: -1 };
    let keep_last = p.reader("Limited", lq);
    reader.wait_for_publishers(1, WAIT).await.expect("match");
    keep_last.wait_for_publishers(1, WAIT).await.expect("match");
    writer.wait_for_subscribers(2, WAIT).await.expect("match");
    for c in ["RED", "GREEN", "BLUE"] {
        for x in 0..4 {
            writer.write(&shape(c, x)).expect("write");
        }
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    assert!(
        eventually(WAIT, || reader.sample_count() + reader.sample_rejected_status().total_count as usize == 12).await,
        "every sample stored or rejected"
    );
    assert_eq!(reader.sample_count(), 5);
    assert!(reader.instance_count() <= 2);
    let st = reader.sample_rejected_status();
    assert_eq!(st.total_count, 7);
    assert!(st.last_reason.is_some() && st.last_instance_handle.is_some());
    let changes = reader.status_changes();
    assert!(changes.intersects(StatusMask::DATA_AVAILABLE), "unread samples");
    assert!(!changes.intersects(StatusMask::SAMPLE_REJECTED), "reading the status clears its flag");
    assert!(eventually(WAIT, || keep_last.sample_count() == 3).await);
    let kept: Vec<i32> = keep_last.take().iter().filter_map(|s| s.data.as_ref().map(|d| d.x)).collect();
    assert_eq!(kept, vec![3, 2, 3], "KEEP_LAST evicts: GREEN's last, BLUE's last two");
    assert_eq!(keep_last.sample_rejected_status().total_count, 0);
}

fn set_lo(up: bool) {
    let ok = Command::new("ip")
        .args(["link", "set", "lo", if up { "up" } else { "down" }])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip link set lo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_all_writer_blocks_then_times_out() {
    if !in_netns("keep_all_writer_blocks_then_times_out") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.resource_limits.max_samples = 3;
    wq.reliability.max_blocking_time = ms(300);
    let writer = p.writer("Blocking", wq);
    let reader = p.reader("Blocking", reader_qos());
    matched(&writer, &reader).await;
    // Cut the link: nothing gets acknowledged any more.
    set_lo(false);
    for x in 0..3 {
        writer.write(&shape("RED", x)).expect("room for three");
    }
    let t = Instant::now();
    match writer.write(&shape("RED", 3)) {
        Err(DdsError::Write(e)) => {
            assert_eq!(e.kind, WriteErrorKind::HistoryFull);
            assert!(!e.change.payload.is_empty());
        }
        other => panic!("expected HistoryFull, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_millis(250), "the sync write does not block");
    let t = Instant::now();
    match writer.write_async(&shape("RED", 4)).await {
        Err(DdsError::WriteTimeout(e)) => {
            assert_eq!(e.kind, WriteErrorKind::HistoryFull);
            assert!(!e.change.payload.is_empty(), "the change is handed back");
        }
        other => panic!("expected a write timeout, got {other:?}"),
    }
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(5), "blocked {waited:?}");
    // Back up: acknowledgements free the history and a blocking write goes through.
    set_lo(true);
    writer.wait_for_acknowledgments(WAIT).await.expect("acked after the link is back");
    writer.write_async(&shape("RED", 5)).await.expect("room again");
    let got = take_valid(&reader, 4, WAIT).await;
    let xs: Vec<i32> = got.iter().filter_map(|s| s.data.as_ref().map(|d| d.x)).collect();
    assert_eq!(xs, vec![0, 1, 2, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waitset_wakes_on_data_and_guard() {
    if !in_netns("waitset_wakes_on_data_and_guard") {
        return;
    }
    let p = pair();
    let writer = p.writer("Waited", writer_qos());
    let reader = p.reader("Waited", reader_qos());
    matched(&writer, &reader).await;
    let guard = GuardCondition::new();
    let rc = reader.create_readcondition(StateMask::not_read());
    let qc = reader.create_querycondition(StateMask::ANY, "x > %0", &["5"]).expect("query");
    let sc = reader.status_condition();
    sc.set_enabled_statuses(StatusMask::DATA_AVAILABLE);
    let mut ws = WaitSet::new();
    ws.attach_condition(&guard);
    ws.attach_condition(&rc);
    assert!(matches!(ws.wait(Duration::from_millis(100)).await, Err(DdsError::Timeout)));

    let g2 = guard.clone();
    let setter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        g2.set_trigger_value(true);
    });
    let t = ws.wait(WAIT).await.expect("guard wakes the wait-set");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].id(), guard.id());
    setter.await.expect("setter");
    guard.set_trigger_value(false);

    writer.write(&shape("RED", 1)).expect("write");
    writer.write(&shape("RED", 10)).expect("write");
    let t = ws.wait(WAIT).await.expect("data wakes the wait-set");
    assert!(t.iter().any(|c| c.id() == rc.id()));
    assert!(writer.wait_for_acknowledgments(WAIT).await.is_ok());
    assert!(eventually(WAIT, || reader.sample_count() == 2).await);
    assert!(sc.trigger_value(), "DATA_AVAILABLE");
    let q = reader.take_w_condition(&qc);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].data.as_ref().map(|d| d.x), Some(10));
    let rest = reader.read_w_condition(&rc);
    assert_eq!(rest.len(), 1);
    assert!(!rc.trigger_value(), "read samples no longer match NOT_READ");
    let _ = reader.take();
    assert!(!sc.trigger_value(), "nothing unread");
    assert!(ws.detach_condition(&rc));
    let blocking = tokio::task::spawn_blocking(move || ws.wait_blocking(Duration::from_millis(50)).is_err());
    assert!(blocking.await.expect("join"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_topic_readers_see_remote_participant_and_writer() {
    if !in_netns("builtin_topic_readers_see_remote_participant_and_writer") {
        return;
    }
    let p = pair();
    let writer = p.writer("Square", writer_qos());
    let participants = p.pb.builtin_participant_reader();
    let publications = p.pb.builtin_publication_reader();
    let topics = p.pb.builtin_topic_reader();
    let subscriptions = p.pa.builtin_subscription_reader();
    participants
        .wait_for(WAIT, |s| s.iter().any(|s| s.data.as_ref().is_some_and(|d| d.entity_name.as_deref() == Some("pub"))))
        .await
        .expect("participant seen");
    let wguid = writer.guid();
    publications
        .wait_for(WAIT, |s| {
            s.iter().any(|s| s.data.as_ref().is_some_and(|d| d.key == wguid && d.topic_name == "Square"))
        })
        .await
        .expect("publication seen");
    topics
        .wait_for(WAIT, |s| s.iter().any(|s| s.data.as_ref().is_some_and(|d| d.name == "Square")))
        .await
        .expect("topic seen");
    let reader = p.reader("Square", reader_qos());
    let rguid = reader.guid();
    subscriptions
        .wait_for(WAIT, |s| s.iter().any(|s| s.data.as_ref().is_some_and(|d| d.key == rguid)))
        .await
        .expect("subscription seen");
    drop(writer);
    let handle = builtin_instance_handle(&wguid);
    assert!(
        eventually(WAIT, || publications.instance_state(&handle) == Some(InstanceState::NotAliveDisposed)).await,
        "a deleted writer is disposed"
    );
    let pa_prefix = p.pa.guid_prefix();
    // The built-in reader keeps its participant alive too.
    drop(subscriptions);
    drop(p.pa);
    let phandle = builtin_instance_handle(&starling::proto::wire::types::Guid::new(
        pa_prefix,
        starling::proto::wire::types::EntityId::PARTICIPANT,
    ));
    assert!(
        eventually(WAIT, || participants.instance_state(&phandle) == Some(InstanceState::NotAliveDisposed)).await,
        "a participant that left is disposed"
    );
}

/// LIVELINESS across participants: the remote reader tracks each writer's lease (MANUAL_BY_TOPIC through
/// liveliness heartbeats and writes, MANUAL_BY_PARTICIPANT through ParticipantMessageData), the writers report
/// LIVELINESS_LOST, and both come back when asserted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveliness_lost_and_changed() {
    if !in_netns("liveliness_lost_and_changed") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.liveliness.kind = LivelinessKind::ManualByTopic;
    wq.liveliness.lease_duration = ms(2000); // 40 assertion periods, so a stalled machine (load 10 on 2 cores) does not lose it
    let by_topic = p.writer("Lively", wq.clone());
    wq.liveliness.kind = LivelinessKind::ManualByParticipant;
    let by_participant = p.writer("Lively", wq);
    let reader = p.reader("Lively", reader_qos());
    reader.wait_for_publishers(2, WAIT).await.expect("match");
    assert!(eventually(WAIT, || reader.liveliness_changed_status().alive_count == 2).await);
    by_topic.write(&shape("RED", 1)).expect("write");
    // Nobody asserts any more: both writers lose their liveliness, on both sides.
    let mut lost = by_topic.liveliness_lost_watch();
    tokio::time::timeout(WAIT, lost.wait_for(|s| s.total_count >= 1)).await.expect("lost").expect("open");
    assert!(by_topic.status_condition().trigger_value());
    assert_eq!(by_topic.liveliness_lost_status().total_count_change, 1);
    let mut lost = by_participant.liveliness_lost_watch();
    tokio::time::timeout(WAIT, lost.wait_for(|s| s.total_count >= 1)).await.expect("lost").expect("open");
    let mut changed = reader.liveliness_changed_watch();
    tokio::time::timeout(WAIT, changed.wait_for(|s| s.not_alive_count == 2)).await.expect("not alive").expect("open");
    let st = reader.liveliness_changed_status();
    assert_eq!((st.alive_count, st.not_alive_count), (0, 2));
    // The RED instance's only writer died.
    let notes = reader.take();
    assert!(notes.iter().any(|s| !s.info.valid_data && s.info.instance_state == InstanceState::NotAliveNoWriters));
    // Asserting faster than the lease revives both and keeps them alive.
    let (t0, p0) = (by_topic.liveliness_lost_status().total_count, by_participant.liveliness_lost_status().total_count);
    for _ in 0..12 {
        by_topic.assert_liveliness();
        p.pa.assert_liveliness();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(WAIT, changed.wait_for(|s| s.alive_count == 2)).await.expect("alive").expect("open");
    assert_eq!(by_topic.liveliness_lost_status().total_count, t0);
    assert_eq!(by_participant.liveliness_lost_status().total_count, p0);
    // Deleting a writer removes it from the counts; the other one dies again once nobody asserts it.
    let survivor = by_participant.guid();
    drop(by_topic);
    tokio::time::timeout(WAIT, changed.wait_for(|s| s.alive_count + s.not_alive_count == 1))
        .await
        .expect("unmatched")
        .expect("open");
    tokio::time::timeout(WAIT, changed.wait_for(|s| s.not_alive_count == 1)).await.expect("not alive").expect("open");
    let st = reader.liveliness_changed_status();
    assert_eq!((st.alive_count, st.not_alive_count), (0, 1));
    assert_eq!(st.last_publication_handle, Some(survivor));
}

/// Exclusive ownership fails over when the owner loses its liveliness (while still matched), and the owner takes
/// the instance back once it writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_fails_over_on_liveliness_loss() {
    if !in_netns("ownership_fails_over_on_liveliness_loss") {
        return;
    }
    let p = pair();
    let mut wq = writer_qos();
    wq.ownership = OwnershipKind::Exclusive;
    wq.ownership_strength = 10;
    let weak = p.writer("OwnedLively", wq.clone());
    wq.ownership_strength = 20;
    wq.liveliness.kind = LivelinessKind::ManualByTopic;
    wq.liveliness.lease_duration = ms(1000);
    let strong = p.writer("OwnedLively", wq);
    let mut rq = reader_qos();
    rq.ownership = OwnershipKind::Exclusive;
    let reader = p.reader("OwnedLively", rq);
    reader.wait_for_publishers(2, WAIT).await.expect("both writers match");
    weak.wait_for_subscribers(1, WAIT).await.expect("weak matches");
    strong.wait_for_subscribers(1, WAIT).await.expect("strong matches");
    strong.write(&shape("RED", 1000)).expect("write");
    weak.write(&shape("RED", 1)).expect("write");
    weak.wait_for_acknowledgments(WAIT).await.expect("acked");
    let got = take_valid(&reader, 1, WAIT).await;
    assert_eq!(got.iter().map(|s| s.info.publication_handle).collect::<Vec<_>>(), vec![strong.guid()]);
    // The strong writer falls silent: once its lease ran out the weak one owns RED, with both still matched.
    let mut changed = reader.liveliness_changed_watch();
    tokio::time::timeout(WAIT, changed.wait_for(|s| s.not_alive_count == 1)).await.expect("not alive").expect("open");
    assert_eq!(reader.subscription_matched_status().current_count, 2);
    weak.write(&shape("RED", 2)).expect("write");
    let got = take_valid(&reader, 1, WAIT).await;
    assert_eq!(got.len(), 1, "ownership failed over");
    assert_eq!(got[0].info.publication_handle, weak.guid());
    // The strong writer writes again: alive, and the owner again.
    strong.write(&shape("RED", 1001)).expect("write");
    let got = take_valid(&reader, 1, WAIT).await;
    assert_eq!(got.iter().map(|s| s.data.as_ref().map(|d| d.x)).collect::<Vec<_>>(), vec![Some(1001)]);
    tokio::time::timeout(WAIT, changed.wait_for(|s| s.alive_count == 2)).await.expect("alive").expect("open");
    weak.write(&shape("RED", 3)).expect("write");
    weak.wait_for_acknowledgments(WAIT).await.expect("acked");
    assert!(reader.take().iter().all(|s| s.info.publication_handle != weak.guid()), "the weak writer lost it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_priority_sets_dscp() {
    if !in_netns("transport_priority_sets_dscp") {
        return;
    }
    let p = pair();
    assert_eq!(p.pa.send_tos(), Some(0));
    let mut wq = writer_qos();
    wq.transport_priority = 46;
    let writer = p.writer("Priority", wq);
    assert_eq!(p.pa.send_tos(), Some(46 << 2), "expedited forwarding");
    let mut wq = writer_qos();
    wq.transport_priority = 10;
    let _low = p.writer("Priority", wq);
    assert_eq!(p.pa.send_tos(), Some(46 << 2), "the highest priority stays");
    let reader = p.reader("Priority", reader_qos());
    matched(&writer, &reader).await;
    writer.write(&shape("RED", 1)).expect("write");
    assert_eq!(take_valid(&reader, 1, WAIT).await.len(), 1, "traffic still flows");
}

/// DDS request/reply: a replier answers with `write_w_related`, naming the request's identity (taken from its
/// SampleInfo); the requester sees it as the reply's `related_sample_identity`, and it equals the identity the
/// request's `write` returned. A plain write carries no related identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_related_sample_identity() {
    if !in_netns("request_reply_related_sample_identity") {
        return;
    }
    let p = pair();
    // Requester on pa: request writer and reply reader; replier on pb: the other way round.
    let req_w = p.writer("Req", writer_qos());
    let req_r = p.reader("Req", reader_qos());
    let rep_w = p.pb.create_datawriter(&p.pb.create_topic::<ShapeType>("Rep"), Some(writer_qos())).expect("w");
    let rep_r = p.pa.create_datareader(&p.pa.create_topic::<ShapeType>("Rep"), Some(reader_qos())).expect("r");
    matched(&req_w, &req_r).await;
    rep_w.wait_for_subscribers(1, WAIT).await.expect("reply writer matches");
    rep_r.wait_for_publishers(1, WAIT).await.expect("reply reader matches");

    let sn = req_w.write(&shape("RED", 1)).expect("request");
    let request_id = req_w.sample_identity(sn);
    assert_eq!(request_id.writer_guid, req_w.guid());
    let got = take_valid(&req_r, 1, WAIT).await;
    assert_eq!(got.len(), 1, "request arrives");
    assert_eq!(got[0].info.related_sample_identity, None);
    assert_eq!(got[0].info.sample_identity(), request_id);

    let reply_id = rep_w.write_w_related(&shape("RED", 2), got[0].info.sample_identity()).expect("reply");
    assert_eq!(reply_id.writer_guid, rep_w.guid());
    let replies = take_valid(&rep_r, 1, WAIT).await;
    assert_eq!(replies.len(), 1, "reply arrives");
    assert_eq!(replies[0].info.related_sample_identity, Some(request_id));
    assert_eq!(replies[0].info.sample_identity(), reply_id);
    assert_eq!(replies[0].data.as_ref().map(|d| d.x), Some(2));
}

/// A status watch taken after the status changed still reports that change: a tool that creates an entity and
/// then asks for its watch does not miss a match or an incompatibility that came in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_taken_late_reports_earlier_change() {
    if !in_netns("status_watch_taken_late_reports_earlier_change") {
        return;
    }
    let p = pair();
    let writer = p.writer("LateWatch", writer_qos());
    let reader = p.reader("LateWatch", reader_qos());
    matched(&writer, &reader).await;
    let mut w = writer.publication_matched_watch();
    let mut r = reader.subscription_matched_watch();
    tokio::time::timeout(WAIT, w.changed()).await.expect("writer watch reports the match").expect("open");
    tokio::time::timeout(WAIT, r.changed()).await.expect("reader watch reports the match").expect("open");
    assert_eq!(w.borrow_and_update().current_count, 1);
    assert_eq!(r.borrow_and_update().current_count, 1);

    // Exclusive ownership requested, shared offered: incompatible on both sides, before any watch is taken.
    let mut rq = reader_qos();
    rq.ownership = OwnershipKind::Exclusive;
    let bad_reader = p.reader("LateWatchOwned", rq);
    let bad_writer = p.writer("LateWatchOwned", writer_qos());
    assert!(
        eventually(WAIT, || bad_reader.requested_incompatible_qos_status().total_count > 0).await,
        "incompatibility seen by the reader"
    );
    assert!(
        eventually(WAIT, || bad_writer.offered_incompatible_qos_status().total_count > 0).await,
        "incompatibility seen by the writer"
    );
    let mut ri = bad_reader.requested_incompatible_qos_watch();
    let mut wi = bad_writer.offered_incompatible_qos_watch();
    tokio::time::timeout(WAIT, ri.changed()).await.expect("reader incompatibility reported").expect("open");
    tokio::time::timeout(WAIT, wi.changed()).await.expect("writer incompatibility reported").expect("open");
    assert_eq!(ri.borrow_and_update().last_policy_id, Some(starling::qos::QosPolicyId::Ownership));

    // A fresh watch of an unchanged status waits.
    let quiet = p.reader("LateWatchQuiet", reader_qos());
    let mut q = quiet.subscription_matched_watch();
    assert!(tokio::time::timeout(Duration::from_millis(200), q.changed()).await.is_err(), "nothing to report");
}
