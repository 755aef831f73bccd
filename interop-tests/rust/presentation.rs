//! PRESENTATION behaviour across two participants on real sockets: coherent sets delivered whole,
//! `Subscriber::begin_access`/`end_access`, ordered access of INSTANCE and TOPIC scope, GROUP scope (one
//! coherent set across a publisher's writers and a subscriber's readers; `Subscriber::get_datareaders` in the
//! publisher's order), and coherent sets through a content filter applied at the writer.
//!
//! Each test re-executes this binary inside a private network namespace (`unshare -n`, needs root) where
//! `lo` is the only interface. Waits are bounded and poll conditions.

mod common;
use common::{in_netns, lo_participant};
use starling::dds::{DataReader, DataWriter, DdsError, DomainParticipant, Publisher, Subscriber};
use starling::qos::{AccessScope, EndpointQos, History, Reliability, XCDR1, XCDR2};
use starling::types::ShapeType;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn shape(color: &str, x: i32) -> ShapeType {
    ShapeType { color: color.to_string(), x, y: 0, shapesize: 30, ..ShapeType::default() }
}

fn qos(writer: bool, scope: AccessScope, coherent: bool, ordered: bool) -> EndpointQos {
    let mut q = if writer { EndpointQos::writer_default() } else { EndpointQos::reader_default() };
    q.reliability = Reliability::reliable();
    q.history = History::KeepAll;
    if !writer {
        q.data_representation = vec![XCDR1, XCDR2];
    }
    q.presentation.access_scope = scope;
    q.presentation.coherent_access = coherent;
    q.presentation.ordered_access = ordered;
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

struct Setup {
    _pp: DomainParticipant,
    _sp: DomainParticipant,
    publisher: Publisher,
    subscriber: Subscriber,
    writer: DataWriter<ShapeType>,
    reader: DataReader<ShapeType>,
}

/// A writer and a reader on "Square" in two participants, matched.
async fn setup(wq: EndpointQos, rq: EndpointQos) -> Setup {
    let pp = lo_participant("pub");
    let sp = lo_participant("sub");
    let publisher = pp.create_publisher(Vec::new());
    let subscriber = sp.create_subscriber(Vec::new());
    let writer = publisher.create_datawriter(&pp.create_topic::<ShapeType>("Square"), Some(wq)).expect("writer");
    let reader = subscriber.create_datareader(&sp.create_topic::<ShapeType>("Square"), Some(rq)).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matched");
    assert!(eventually(WAIT, || reader.subscription_matched_status().current_count == 1).await, "reader matched");
    Setup { _pp: pp, _sp: sp, publisher, subscriber, writer, reader }
}

fn xs(samples: &[starling::dds::Sample<ShapeType>]) -> Vec<(String, i32)> {
    samples.iter().filter_map(|s| s.data.as_ref().map(|d| (d.color.clone(), d.x))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coherent_set_is_delivered_whole() {
    if !in_netns("coherent_set_is_delivered_whole") {
        return;
    }
    let s = setup(qos(true, AccessScope::Topic, true, false), qos(false, AccessScope::Topic, true, false)).await;
    for set in 0..5 {
        s.publisher.begin_coherent_changes().expect("begin");
        s.writer.write(&shape("RED", set)).expect("write");
        s.writer.write(&shape("BLUE", set)).expect("write");
        // The reader has these two (acknowledged), but the set is not over: nothing may be readable.
        s.writer.wait_for_acknowledgments(WAIT).await.expect("acknowledged");
        assert_eq!(s.reader.sample_count(), 0, "set {set}: part of an open coherent set is readable");
        s.writer.write(&shape("GREEN", set)).expect("write");
        s.publisher.end_coherent_changes().expect("end");
        assert!(eventually(WAIT, || s.reader.sample_count() == 3).await, "set {set} never arrived");
        let got = xs(&s.reader.take());
        assert_eq!(got, [("RED".into(), set), ("BLUE".into(), set), ("GREEN".into(), set)], "set {set}");
    }
    // Outside a set, samples are delivered one by one.
    s.writer.write(&shape("RED", 99)).expect("write");
    assert!(eventually(WAIT, || s.reader.sample_count() == 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_access_holds_sets_back_until_end_access() {
    if !in_netns("begin_access_holds_sets_back_until_end_access") {
        return;
    }
    let s = setup(qos(true, AccessScope::Topic, true, false), qos(false, AccessScope::Topic, true, false)).await;
    s.subscriber.begin_access();
    s.publisher.begin_coherent_changes().expect("begin");
    s.writer.write(&shape("RED", 1)).expect("write");
    s.writer.write(&shape("BLUE", 1)).expect("write");
    s.publisher.end_coherent_changes().expect("end");
    s.writer.wait_for_acknowledgments(WAIT).await.expect("acknowledged");
    assert_eq!(s.reader.sample_count(), 0, "a set became readable during an access");
    s.subscriber.end_access().expect("end_access");
    assert!(eventually(WAIT, || s.reader.sample_count() == 2).await, "the held set never became readable");
    assert!(matches!(s.subscriber.end_access(), Err(DdsError::PreconditionNotMet(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_access_instance_and_topic_scope() {
    if !in_netns("ordered_access_instance_and_topic_scope") {
        return;
    }
    let pp = lo_participant("pub");
    let sp = lo_participant("sub");
    let publisher = pp.create_publisher(Vec::new());
    let writer = publisher
        .create_datawriter(&pp.create_topic::<ShapeType>("Square"), Some(qos(true, AccessScope::Topic, false, true)))
        .expect("writer");
    let topic = sp.create_topic::<ShapeType>("Square");
    let by_instance =
        sp.create_datareader(&topic, Some(qos(false, AccessScope::Instance, false, true))).expect("reader");
    let by_topic = sp.create_datareader(&topic, Some(qos(false, AccessScope::Topic, false, true))).expect("reader");
    writer.wait_for_subscribers(2, WAIT).await.expect("both readers matched");
    let order = [("RED", 1), ("BLUE", 1), ("RED", 2), ("BLUE", 2), ("GREEN", 1), ("RED", 3)];
    for (c, x) in order {
        writer.write(&shape(c, x)).expect("write");
    }
    assert!(eventually(WAIT, || by_instance.sample_count() == 6 && by_topic.sample_count() == 6).await);
    let owned = |v: &[(&str, i32)]| v.iter().map(|(c, x)| (c.to_string(), *x)).collect::<Vec<_>>();
    assert_eq!(xs(&by_topic.take()), owned(&order), "TOPIC scope: the writer's order across instances");
    let grouped = [("RED", 1), ("RED", 2), ("RED", 3), ("BLUE", 1), ("BLUE", 2), ("GREEN", 1)];
    assert_eq!(xs(&by_instance.take()), owned(&grouped), "INSTANCE scope: instance by instance, each in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coherent_changes_need_a_coherent_writer() {
    if !in_netns("coherent_changes_need_a_coherent_writer") {
        return;
    }
    let pp = lo_participant("pub");
    let publisher = pp.create_publisher(Vec::new());
    let _w = publisher
        .create_datawriter(&pp.create_topic::<ShapeType>("Square"), Some(qos(true, AccessScope::Topic, false, false)))
        .expect("writer");
    assert!(matches!(publisher.begin_coherent_changes(), Err(DdsError::PreconditionNotMet(_))));
    assert!(matches!(publisher.end_coherent_changes(), Err(DdsError::PreconditionNotMet(_))));
}

/// Two writers (Square, Circle) of one publisher and two readers of one subscriber, all with GROUP access
/// scope, in two participants, matched.
struct GroupSetup {
    _pp: DomainParticipant,
    _sp: DomainParticipant,
    publisher: Publisher,
    subscriber: Subscriber,
    writers: [DataWriter<ShapeType>; 2],
    readers: [DataReader<ShapeType>; 2],
}

async fn group_setup(coherent: bool, ordered: bool) -> GroupSetup {
    let pp = lo_participant("pub");
    let sp = lo_participant("sub");
    let publisher = pp.create_publisher(Vec::new());
    let subscriber = sp.create_subscriber(Vec::new());
    let (wq, rq) =
        (qos(true, AccessScope::Group, coherent, ordered), qos(false, AccessScope::Group, coherent, ordered));
    let w = |t: &str| publisher.create_datawriter(&pp.create_topic::<ShapeType>(t), Some(wq.clone())).expect("writer");
    let r = |t: &str| subscriber.create_datareader(&sp.create_topic::<ShapeType>(t), Some(rq.clone())).expect("reader");
    let writers = [w("Square"), w("Circle")];
    let readers = [r("Square"), r("Circle")];
    for w in &writers {
        w.wait_for_subscribers(1, WAIT).await.expect("writer matched");
    }
    for r in &readers {
        assert!(eventually(WAIT, || r.subscription_matched_status().current_count == 1).await, "reader matched");
    }
    GroupSetup { _pp: pp, _sp: sp, publisher, subscriber, writers, readers }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_coherent_set_spans_the_publishers_writers() {
    if !in_netns("group_coherent_set_spans_the_publishers_writers") {
        return;
    }
    let s = group_setup(true, true).await;
    let [square, circle] = &s.writers;
    for set in 0..4 {
        s.publisher.begin_coherent_changes().expect("begin");
        square.write(&shape("RED", set)).expect("write");
        circle.write(&shape("BLUE", set)).expect("write");
        square.write(&shape("GREEN", set)).expect("write");
        for w in &s.writers {
            w.wait_for_acknowledgments(WAIT).await.expect("acknowledged");
        }
        // Both readers have their changes, but the group set is open: nothing of it may be readable.
        assert_eq!(s.readers[0].sample_count() + s.readers[1].sample_count(), 0, "set {set}: part of an open set");
        if set % 2 == 1 {
            // Only the Circle writer adds to this set after the wait: the Square reader's share is complete
            // on its own, yet must wait for the Circle share.
            circle.write(&shape("YELLOW", set)).expect("write");
        }
        s.publisher.end_coherent_changes().expect("end");
        let (want_sq, want_ci) = (2, if set % 2 == 1 { 2 } else { 1 });
        assert!(
            eventually(WAIT, || s.readers[0].sample_count() == want_sq && s.readers[1].sample_count() == want_ci).await,
            "set {set} never arrived whole"
        );
        assert_eq!(xs(&s.readers[0].take()), [("RED".into(), set), ("GREEN".into(), set)], "set {set}");
        let mut circles = vec![("BLUE".to_string(), set)];
        if set % 2 == 1 {
            circles.push(("YELLOW".into(), set));
        }
        assert_eq!(xs(&s.readers[1].take()), circles, "set {set}");
    }
    assert_eq!(s._sp.stats().incomplete_group_sets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_set_waits_for_the_end_of_the_subscribers_access() {
    if !in_netns("group_set_waits_for_the_end_of_the_subscribers_access") {
        return;
    }
    let s = group_setup(true, false).await;
    s.subscriber.begin_access();
    s.publisher.begin_coherent_changes().expect("begin");
    s.writers[0].write(&shape("RED", 1)).expect("write");
    s.writers[1].write(&shape("BLUE", 1)).expect("write");
    s.publisher.end_coherent_changes().expect("end");
    for w in &s.writers {
        w.wait_for_acknowledgments(WAIT).await.expect("acknowledged");
    }
    assert_eq!(s.readers[0].sample_count() + s.readers[1].sample_count(), 0, "a set became readable in an access");
    s.subscriber.end_access().expect("end_access");
    assert!(
        eventually(WAIT, || s.readers[0].sample_count() == 1 && s.readers[1].sample_count() == 1).await,
        "the held group set never became readable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_ordered_access_lists_readers_in_the_publishers_order() {
    if !in_netns("group_ordered_access_lists_readers_in_the_publishers_order") {
        return;
    }
    let s = group_setup(false, true).await;
    let which = [0usize, 1, 1, 0, 1, 0, 0, 1];
    for (i, w) in which.iter().enumerate() {
        s.writers[*w].write(&shape(if *w == 0 { "RED" } else { "BLUE" }, i as i32)).expect("write");
    }
    assert!(eventually(WAIT, || s.readers[0].sample_count() == 4 && s.readers[1].sample_count() == 4).await);
    s.subscriber.begin_access();
    let order = s.subscriber.get_datareaders();
    let guids = [s.readers[0].guid(), s.readers[1].guid()];
    assert_eq!(order, which.iter().map(|w| guids[*w]).collect::<Vec<_>>(), "the publisher's order across readers");
    // Taking one sample from each listed reader in turn visits the samples as written.
    let mut seen = Vec::new();
    for g in &order {
        let r = if *g == guids[0] { &s.readers[0] } else { &s.readers[1] };
        let sample = r.take_next_blocking(WAIT).expect("a sample");
        assert!(sample.info.group_sequence_number.is_some(), "GROUP-scope samples carry a group sequence number");
        seen.push(sample.data.expect("data").x);
    }
    s.subscriber.end_access().expect("end_access");
    assert_eq!(seen, (0..which.len() as i32).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coherent_set_through_a_writer_side_content_filter() {
    if !in_netns("coherent_set_through_a_writer_side_content_filter") {
        return;
    }
    let pp = lo_participant("pub");
    let sp = lo_participant("sub");
    let publisher = pp.create_publisher(Vec::new());
    let writer = publisher
        .create_datawriter(&pp.create_topic::<ShapeType>("Square"), Some(qos(true, AccessScope::Topic, true, false)))
        .expect("writer");
    let topic = sp.create_topic::<ShapeType>("Square");
    let cft = sp.create_contentfilteredtopic("Square_big", &topic, "x > 5", &[] as &[&str]).expect("filter");
    let reader = sp.create_datareader(&cft, Some(qos(false, AccessScope::Topic, true, false))).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matched");
    assert!(eventually(WAIT, || reader.subscription_matched_status().current_count == 1).await);
    // The writer learns the reader's filter through SEDP; wait until it filters at the source.
    assert!(
        eventually(WAIT, || !pp.discovered_readers().iter().all(|r| r.content_filter.is_none())).await,
        "the reader's filter never reached the writer"
    );
    for set in 0..4 {
        publisher.begin_coherent_changes().expect("begin");
        for x in [1, 10 + set, 3, 20 + set] {
            writer.write(&shape("RED", x)).expect("write");
        }
        publisher.end_coherent_changes().expect("end");
        assert!(eventually(WAIT, || reader.sample_count() == 2).await, "set {set} (minus filtered) never arrived");
        assert_eq!(xs(&reader.take()), [("RED".into(), 10 + set), ("RED".into(), 20 + set)], "set {set}");
    }
    assert!(pp.stats().samples_filtered >= 8, "the writer did not filter at the source");
    assert_eq!(sp.stats().incomplete_coherent_sets, 0, "a set was dropped for its filtered changes");
}
