//! Content-filtered topics across participants on real sockets: a reader on a `ContentFilteredTopic` gets only
//! the samples that pass its filter, parameters change at run time, and a Starling writer filters at the source
//! (proven by its count of samples not sent) while unfiltered readers still get everything.
//!
//! Each test re-executes this binary inside a private network namespace (`unshare -n`, needs root) where `lo`
//! is the only interface. Waits are bounded and poll conditions.

mod common;
use common::{in_netns, lo_participant};
use starling::dds::{DataReader, DataWriter, DdsError, DomainParticipant, Sample};
use starling::dynamic::shape_type;
use starling::filter::FilterError;
use starling::proto::xtypes::DynamicValue;
use starling::qos::{EndpointQos, History, Reliability, XCDR1, XCDR2};
use starling::types::ShapeType;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn shape(color: &str, x: i32) -> ShapeType {
    ShapeType { color: color.to_string(), x, y: 0, shapesize: 30, ..ShapeType::default() }
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
async fn take_valid<T: Clone + Send + Sync + 'static>(
    reader: &DataReader<T>,
    n: usize,
    timeout: Duration,
) -> Vec<Sample<T>> {
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

fn xs(samples: &[Sample<ShapeType>]) -> Vec<i32> {
    samples.iter().filter_map(|s| s.data.as_ref().map(|d| d.x)).collect()
}

/// A filtered reader on one participant and an unfiltered one on another: the filtered reader gets exactly the
/// matching samples, in order, and none of the others even arrive (the writer did not send them: its count of
/// filtered samples says so, and the reader had nothing to drop); the unfiltered reader gets everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_reader_gets_only_matching_samples_filtered_at_the_source() {
    if !in_netns("filtered_reader_gets_only_matching_samples_filtered_at_the_source") {
        return;
    }
    let (pa, pb, pc) = (lo_participant("pub"), lo_participant("filtered"), lo_participant("plain"));
    let writer: DataWriter<ShapeType> =
        pa.create_datawriter(&pa.create_topic::<ShapeType>("Square"), Some(writer_qos())).expect("writer");
    let square = pb.create_topic::<ShapeType>("Square");
    let cft = pb.create_contentfilteredtopic("BigX", &square, "x > %0 AND color = 'RED'", &["50"]).expect("cft");
    assert_eq!(cft.name(), "BigX");
    assert_eq!(cft.related_topic().name(), "Square");
    let filtered = pb.create_datareader(&cft, Some(reader_qos())).expect("filtered reader");
    let plain = pc.create_datareader(&pc.create_topic::<ShapeType>("Square"), Some(reader_qos())).expect("reader");
    writer.wait_for_subscribers(2, WAIT).await.expect("writer matches both readers");
    filtered.wait_for_publishers(1, WAIT).await.expect("filtered reader matches");
    plain.wait_for_publishers(1, WAIT).await.expect("plain reader matches");
    // The subscription's SEDP data carries the filter.
    let seen = pa.discovered_readers().into_iter().find(|d| d.guid == filtered.guid()).expect("discovered");
    let cf = seen.content_filter.expect("CONTENT_FILTER_PROPERTY");
    assert_eq!(
        (cf.content_filtered_topic_name.as_str(), cf.related_topic_name.as_str(), cf.filter_class_name.as_str()),
        ("BigX", "Square", "DDSSQL")
    );
    assert_eq!(cf.filter_expression, "x > %0 AND color = 'RED'");
    assert_eq!(cf.expression_parameters, vec!["50".to_string()]);

    for x in 0..100 {
        writer.write(&shape(if x % 10 == 0 { "BLUE" } else { "RED" }, x)).expect("write");
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("both readers acknowledge everything");
    let want: Vec<i32> = (51..100).filter(|x| x % 10 != 0).collect();
    let got = take_valid(&filtered, want.len(), WAIT).await;
    assert_eq!(xs(&got), want);
    assert!(filtered.take().iter().all(|s| !s.info.valid_data), "nothing else for the filtered reader");
    let all = take_valid(&plain, 100, WAIT).await;
    assert_eq!(xs(&all), (0..100).collect::<Vec<_>>());
    assert_eq!(writer.filtered_sample_count(), 100 - want.len() as u64, "filtered at the source");
    assert_eq!(filtered.filtered_sample_count(), 0, "nothing that fails the filter arrived");
    assert_eq!(filtered.sample_lost_status().total_count, 0);
}

/// `set_expression_parameters` changes what the reader keeps at once, and what the writer sends once the
/// reader's new SEDP announcement arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_parameters_change_at_run_time() {
    if !in_netns("expression_parameters_change_at_run_time") {
        return;
    }
    let (pa, pb) = (lo_participant("pub"), lo_participant("sub"));
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Circle"), Some(writer_qos())).expect("writer");
    let circle = pb.create_topic::<ShapeType>("Circle");
    let cft = pb.create_contentfilteredtopic("OneColor", &circle, "color = %0", &["'RED'"]).expect("cft");
    let reader = pb.create_datareader(&cft, Some(reader_qos())).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    reader.wait_for_publishers(1, WAIT).await.expect("reader matches");
    for x in 0..10 {
        writer.write(&shape(if x % 2 == 0 { "RED" } else { "BLUE" }, x)).expect("write");
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    let got = take_valid(&reader, 5, WAIT).await;
    assert_eq!(xs(&got), vec![0, 2, 4, 6, 8]);
    assert_eq!(writer.filtered_sample_count(), 5);

    // Too few parameters: refused, nothing changes.
    let err = cft.set_expression_parameters::<&str>(&[]).expect_err("missing %0");
    assert!(matches!(err, FilterError::MissingParameter { index: 0, given: 0 }), "{err:?}");
    assert_eq!(cft.expression_parameters(), vec!["'RED'".to_string()]);

    cft.set_expression_parameters(&["'BLUE'"]).expect("new parameters");
    assert_eq!(cft.expression_parameters(), vec!["'BLUE'".to_string()]);
    let guid = reader.guid();
    let announced = |p: &DomainParticipant| {
        p.discovered_readers()
            .iter()
            .any(|d| d.guid == guid && d.content_filter.as_ref().is_some_and(|f| f.expression_parameters == ["'BLUE'"]))
    };
    assert!(eventually(WAIT, || announced(&pa)).await, "the writer's participant saw the new parameters");
    for x in 10..20 {
        writer.write(&shape(if x % 2 == 0 { "RED" } else { "BLUE" }, x)).expect("write");
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    let got = take_valid(&reader, 5, WAIT).await;
    assert_eq!(xs(&got), vec![11, 13, 15, 17, 19]);
    assert!(reader.take().iter().all(|s| !s.info.valid_data), "no RED after the change");
    assert_eq!(writer.filtered_sample_count(), 10, "the writer switched to the new parameters");
}

/// A reader of a run-time (dynamic) type filters on the value it decoded; a filtered and an unfiltered reader
/// in the same participant each get what they asked for; a bad expression is refused with its position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_type_reader_and_colocated_readers() {
    if !in_netns("dynamic_type_reader_and_colocated_readers") {
        return;
    }
    let (pa, pb) = (lo_participant("pub"), lo_participant("sub"));
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Triangle"), Some(writer_qos())).expect("writer");
    let topic = pb.create_dynamic_topic("Triangle", shape_type()).expect("dynamic topic");

    let err = pb.create_contentfilteredtopic("Bad", &topic, "x >> 3", &[] as &[&str]).expect_err("bad expression");
    assert!(matches!(err, DdsError::Filter(FilterError::Parse { col: 4, .. })), "{err:?}");

    let cft = pb
        .create_contentfilteredtopic("SmallB", &topic, "shapesize BETWEEN %0 AND %1 AND color LIKE 'B%'", &["10", "20"])
        .expect("cft");
    let filtered: DataReader<DynamicValue> = pb.create_datareader(&cft, Some(reader_qos())).expect("filtered");
    let plain: DataReader<DynamicValue> = pb.create_datareader(&topic, Some(reader_qos())).expect("plain");
    writer.wait_for_subscribers(2, WAIT).await.expect("writer matches both readers");
    filtered.wait_for_publishers(1, WAIT).await.expect("filtered matches");
    plain.wait_for_publishers(1, WAIT).await.expect("plain matches");
    let colors = ["BLUE", "RED", "BLACK"];
    for i in 0..30 {
        let s = ShapeType { shapesize: i, ..shape(colors[i as usize % 3], i) };
        writer.write(&s).expect("write");
    }
    writer.wait_for_acknowledgments(WAIT).await.expect("acked");
    // x = shapesize = i; BLUE for i % 3 == 0, BLACK for i % 3 == 2.
    let want: Vec<i32> = (10..=20).filter(|i| i % 3 != 1).collect();
    let got = take_valid(&filtered, want.len(), WAIT).await;
    let x_of = |s: &Sample<DynamicValue>| match &s.data {
        Some(DynamicValue::Struct(f)) => match f.get(1) {
            Some(Some(DynamicValue::Int32(x))) => *x,
            _ => -1,
        },
        _ => -1,
    };
    assert_eq!(got.iter().map(x_of).collect::<Vec<_>>(), want);
    assert!(filtered.take().iter().all(|s| !s.info.valid_data), "nothing else");
    assert_eq!(take_valid(&plain, 30, WAIT).await.len(), 30);
}
