//! PRESENTATION behaviour across two participants on real sockets: coherent sets delivered whole,
//! `Subscriber::begin_access`/`end_access`, and ordered access of INSTANCE and TOPIC scope.
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
