//! Runtime tests on real sockets.
//!
//! Each test re-executes this binary inside a private network namespace
//! (`unshare -n`, needs root) where `lo` is the only interface, so no
//! traffic can reach a real network. Waits are bounded; no bare sleeps.

mod common;
use common::{in_netns, lo_participant};
use starling::dds::{DomainParticipant, InstanceState, Sample};
use starling::qos::{DurabilityKind, EndpointQos, History, Reliability, XCDR1, XCDR2};
use starling::types::ShapeType;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn shape(color: &str, x: i32) -> ShapeType {
    starling::cli::JsonSample::from_json(serde_json::json!({"color": color, "x": x, "y": 2 * x, "shapesize": 30}))
        .expect("valid shape")
}

fn reliable_reader_qos() -> EndpointQos {
    let mut q = EndpointQos::reader_default();
    q.reliability = Reliability::reliable();
    q.history = History::KeepAll;
    q.data_representation = vec![XCDR1, XCDR2];
    q
}

#[test]
fn participants_bind_distinct_indices_on_lo() {
    if !in_netns("participants_bind_distinct_indices_on_lo") {
        return;
    }
    let a = lo_participant("a");
    let b = lo_participant("b");
    assert_eq!(a.interface().name, "lo");
    assert_eq!(a.participant_id(), 0);
    assert_eq!(b.participant_id(), 1);
    assert_ne!(a.guid_prefix(), b.guid_prefix());
    assert_eq!(&a.guid_prefix().0[..2], &[0x01, 0xff]);
    assert!(DomainParticipant::builder(0).interface("eth7").build().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_exchange_shapes_reliably() {
    if !in_netns("two_participants_exchange_shapes_reliably") {
        return;
    }
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let topic_a = pa.create_topic::<ShapeType>("Square");
    let topic_b = pb.create_topic::<ShapeType>("Square");
    let writer = pa.create_datawriter(&topic_a, None).expect("writer");
    let reader = pb.create_datareader(&topic_b, Some(reliable_reader_qos())).expect("reader");
    pa.wait_for_participants(1, WAIT).await.expect("a discovers b");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    reader.wait_for_publishers(1, WAIT).await.expect("reader matches");
    assert_eq!(writer.publication_matched_status().current_count, 1);

    for x in 0..20 {
        writer.write(&shape(if x % 2 == 0 { "BLUE" } else { "RED" }, x)).expect("write");
    }
    let mut got: Vec<Sample<ShapeType>> = Vec::new();
    while got.len() < 20 {
        let s = tokio::time::timeout(WAIT, reader.take_next()).await.expect("sample in time").expect("sample");
        got.push(s);
    }
    let xs: Vec<i32> = got.iter().map(|s| s.data.as_ref().map_or(-1, |d| d.x)).collect();
    assert_eq!(xs, (0..20).collect::<Vec<_>>(), "reliable, in order, no loss");
    assert!(got.iter().all(|s| s.info.valid_data && s.info.publication_handle == writer.guid()));
    assert_eq!(got[0].data.as_ref().map(|d| d.color.as_str()), Some("BLUE"));
    assert_ne!(got[0].info.instance_handle, got[1].info.instance_handle, "two colors, two instances");

    writer.dispose(&shape("BLUE", 0)).expect("dispose");
    let d = tokio::time::timeout(WAIT, reader.take_next()).await.expect("dispose in time").expect("dispose");
    assert!(!d.info.valid_data);
    assert_eq!(d.info.instance_state, InstanceState::NotAliveDisposed);
    assert_eq!(d.data.map(|k| k.color), Some("BLUE".to_string()));
    writer.wait_for_acknowledgments(WAIT).await.expect("all acknowledged");
    assert_eq!(pb.stats().datagrams_malformed, 0);
}

#[test]
fn blocking_api_and_transient_local_late_joiner() {
    if !in_netns("blocking_api_and_transient_local_late_joiner") {
        return;
    }
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let mut wq = EndpointQos::writer_default();
    wq.durability = DurabilityKind::TransientLocal;
    wq.data_representation = vec![XCDR2];
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Circle"), Some(wq)).expect("writer");
    for c in ["RED", "GREEN", "YELLOW"] {
        writer.write(&shape(c, 5)).expect("write");
    }
    let mut rq = reliable_reader_qos();
    rq.durability = DurabilityKind::TransientLocal;
    let reader = pb.create_datareader(&pb.create_topic::<ShapeType>("Circle"), Some(rq)).expect("reader");
    let mut colors = Vec::new();
    while colors.len() < 3 {
        let s = reader.take_next_blocking(WAIT).expect("historical sample");
        colors.extend(s.data.map(|d| d.color));
    }
    colors.sort();
    assert_eq!(colors, ["GREEN", "RED", "YELLOW"]);
    writer.wait_for_acknowledgments_blocking(WAIT).expect("acknowledged");
}

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_starling"));
    c.args(["--interface", "lo"]);
    c
}

#[test]
fn cli_pub_to_sub() {
    if !in_netns("cli_pub_to_sub") {
        return;
    }
    let sub = cli()
        .args(["sub", "Square", "--type", "ShapeType", "--count", "3", "--timeout", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sub");
    let publ = cli()
        .args(["pub", "Square", "--type", "ShapeType", "--wait-subscribers", "1", "--wait-timeout", "20"])
        .args(["--count", "3", r#"{"color":"BLUE","x":10,"y":20,"shapesize":30}"#])
        .output()
        .expect("run pub");
    assert!(publ.status.success(), "pub: {}", String::from_utf8_lossy(&publ.stderr));
    let out = sub.wait_with_output().expect("sub output");
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["color"], "BLUE");
    assert_eq!(lines[0]["x"], 10);
}

#[test]
fn cli_pub_rejects_bad_json_naming_the_line() {
    if !in_netns("cli_pub_rejects_bad_json_naming_the_line") {
        return;
    }
    use std::io::Write;
    let mut child = cli()
        .args(["pub", "Square", "--type", "ShapeType", "--linger", "0"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pub");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"{\"color\":\"RED\"}\n{oops\n").expect("write stdin");
    }
    let out = child.wait_with_output().expect("pub output");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_over_multicast_only() {
    if !in_netns("discovery_over_multicast_only") {
        return;
    }
    // No localhost unicast announcements: SPDP must travel through 239.255.0.1 on lo.
    let build = |name: &str| {
        DomainParticipant::builder(7).interface("127.0.0.1").name(name).localhost_peers(0).build().expect("participant")
    };
    let a = build("a");
    let b = build("b");
    a.wait_for_participants(1, WAIT).await.expect("a finds b by multicast");
    b.wait_for_participants(1, WAIT).await.expect("b finds a by multicast");
    let names: Vec<Option<String>> = a.discovered_participants().into_iter().map(|p| p.entity_name).collect();
    assert_eq!(names, [Some("b".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_qos_is_reported() {
    if !in_netns("incompatible_qos_is_reported") {
        return;
    }
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::best_effort();
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Triangle"), Some(wq)).expect("writer");
    let reader =
        pb.create_datareader(&pb.create_topic::<ShapeType>("Triangle"), Some(reliable_reader_qos())).expect("reader");
    let mut offered = writer.offered_incompatible_qos_watch();
    let mut requested = reader.requested_incompatible_qos_watch();
    tokio::time::timeout(WAIT, offered.wait_for(|s| s.total_count > 0)).await.expect("offered in time").expect("open");
    tokio::time::timeout(WAIT, requested.wait_for(|s| s.total_count > 0))
        .await
        .expect("requested in time")
        .expect("open");
    assert_eq!(writer.offered_incompatible_qos_status().last_policy_id, Some(starling::qos::QosPolicyId::Reliability));
    assert_eq!(writer.publication_matched_status().current_count, 0);
}

/// The summary line (`"summary": true`) of a `perf --json` run.
fn perf_summary(out: &std::process::Output) -> serde_json::Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["summary"] == true)
        .unwrap_or_else(|| panic!("no summary in: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn cli_perf_ping_pong_and_pub_sub() {
    if !in_netns("cli_perf_ping_pong_and_pub_sub") {
        return;
    }
    let svg = std::env::temp_dir().join(format!("starling-perf-{}.svg", std::process::id()));
    let svg_arg = svg.to_str().expect("temp path is UTF-8");
    let s = ping_pong(&[], &["--histogram", svg_arg]);
    assert!(s["half_rtt_us"]["median"].as_f64() <= s["rtt_us"]["median"].as_f64(), "{s}");
    let text = std::fs::read_to_string(&svg).expect("histogram written");
    let _ = std::fs::remove_file(&svg);
    assert!(text.starts_with("<svg") && text.contains("round trips"));

    let sub = cli()
        .args(["perf", "sub", "--keyed", "4", "--duration", "4", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sub");
    let publ = cli()
        .args(["perf", "pub", "--keyed", "4", "--size", "2k", "--window", "64", "--duration", "1", "--json"])
        .output()
        .expect("run pub");
    assert!(publ.status.success(), "pub: {}", String::from_utf8_lossy(&publ.stderr));
    let p = perf_summary(&publ);
    let s = perf_summary(&sub.wait_with_output().expect("sub output"));
    assert_eq!(p["all_acked"], true, "{p}");
    assert!(p["written"].as_u64().is_some_and(|n| n > 0), "{p}");
    assert_eq!(s["received"], p["written"], "sub {s} pub {p}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["size"], 2048, "{s}");
}

/// `perf ping`/`pong` with a polling receive thread (`--spin-us`): the round trips complete (the echo is
/// read by the non-blocking polls, and the thread falls back to blocking between runs of traffic: the
/// discovery phase before the first ping, where a spin finds nothing) and none time out.
#[test]
fn cli_perf_ping_pong_with_polling_receive() {
    if !in_netns("cli_perf_ping_pong_with_polling_receive") {
        return;
    }
    ping_pong(&["--spin-us", "100"], &[]);
}

/// Runs `perf pong` (with `both`) and a one-second `perf ping` (with `both` and `ping_only`) against it,
/// checks that round trips were measured and none timed out, and returns ping's summary.
fn ping_pong(both: &[&str], ping_only: &[&str]) -> serde_json::Value {
    let mut pong = cli()
        .args(["perf", "pong", "--duration", "20", "--json"])
        .args(both)
        .stdout(Stdio::piped())
        .spawn()
        .expect("pong");
    let ping = cli()
        .args(["perf", "ping", "--duration", "1", "--warmup", "0.2", "--json"])
        .args(both)
        .args(ping_only)
        .output()
        .expect("run ping");
    let _ = pong.kill();
    let _ = pong.wait();
    assert!(ping.status.success(), "ping: {}", String::from_utf8_lossy(&ping.stderr));
    let s = perf_summary(&ping);
    assert!(s["rtt_us"]["count"].as_u64().is_some_and(|n| n > 10), "{s}");
    assert_eq!(s["timeouts"], 0, "{s}");
    s
}

/// A reader that knows nothing of the writer's type learns it through the
/// TypeLookup service, then reads the samples as dynamic values and writes
/// dynamic samples that a typed reader decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_reader_learns_type_through_type_lookup() {
    if !in_netns("dynamic_reader_learns_type_through_type_lookup") {
        return;
    }
    use starling_proto::xtypes::DynamicValue;
    let pa = lo_participant("typed");
    let pb = lo_participant("dynamic");
    let topic_a = pa.create_topic::<ShapeType>("Circle");
    let writer = pa.create_datawriter(&topic_a, None).expect("writer");
    let (type_name, ty) = pb.wait_for_writer_type("Circle", WAIT).await.expect("type learned");
    assert_eq!(type_name, "ShapeType");
    assert_eq!(ty, starling::dynamic::shape_type());
    let topic_b = pb.create_dynamic_topic("Circle", ty.clone()).expect("dynamic topic");
    let reader = pb.create_datareader(&topic_b, Some(reliable_reader_qos())).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    writer.write(&shape("GREEN", 7)).expect("write");
    let s = tokio::time::timeout(WAIT, reader.take_next()).await.expect("sample in time").expect("sample");
    let json = starling::dynamic::to_json(&ty, s.data.as_ref().expect("data")).expect("json");
    assert_eq!(json["color"], "GREEN");
    assert_eq!(json["x"], 7);

    // And the other way: a dynamic writer, a typed reader.
    let dyn_writer = pb.create_datawriter(&topic_b, None).expect("dynamic writer");
    let typed_reader = pa.create_datareader(&topic_a, Some(reliable_reader_qos())).expect("typed reader");
    // Two subscribers: the dynamic reader in the same participant and the remote typed one.
    dyn_writer.wait_for_subscribers(2, WAIT).await.expect("dynamic writer matches both readers");
    let v: DynamicValue =
        starling::dynamic::from_json(&ty, &serde_json::json!({"color": "ORANGE", "x": 1, "y": 2, "shapesize": 3}))
            .expect("value");
    dyn_writer.write(&v).expect("write dynamic");
    let t = tokio::time::timeout(WAIT, typed_reader.take_next()).await.expect("typed in time").expect("typed");
    assert_eq!(t.data.map(|d| (d.color, d.shapesize)), Some(("ORANGE".to_string(), 3)));
}

/// A 100 MB sample between two participants over loopback: DATA_FRAGs through the real sockets, reassembled
/// byte-exact, and the small sample written after it arrives after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_sample_over_loopback() {
    if !in_netns("hundred_megabyte_sample_over_loopback") {
        return;
    }
    const SIZE: usize = 100 * 1024 * 1024;
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Big"), Some(wq)).expect("writer");
    let reader =
        pb.create_datareader(&pb.create_topic::<ShapeType>("Big"), Some(reliable_reader_qos())).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    reader.wait_for_publishers(1, WAIT).await.expect("reader matches");
    let mut x = 0x2545_f491u32;
    let blob: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let big = ShapeType { color: "BIG".into(), x: 1, y: 0, shapesize: 1, additional_payload_size: blob };
    writer.write(&big).expect("write 100 MB");
    writer.write(&ShapeType { color: "SMALL".into(), x: 2, ..ShapeType::default() }).expect("write small");
    let long = Duration::from_secs(120);
    let first = tokio::time::timeout(long, reader.take_next()).await.expect("100 MB sample in time").expect("sample");
    let second = tokio::time::timeout(long, reader.take_next()).await.expect("small sample in time").expect("sample");
    let first = first.data.expect("data");
    assert_eq!((first.color.as_str(), first.x), ("BIG", 1));
    assert_eq!(first.additional_payload_size.len(), SIZE);
    assert!(first.additional_payload_size == big.additional_payload_size, "100 MB payload differs");
    assert_eq!(second.data.map(|d| d.x), Some(2));
    writer.wait_for_acknowledgments(long).await.expect("all acknowledged");
    assert_eq!(pb.stats().datagrams_malformed, 0);
}

/// With data multicast on, a writer with two readers sends its samples to the user-data group
/// 239.255.0.1:7401 (a plain socket joined to the group sees RTPS DATA), and both readers get every sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_multicast_reaches_readers_through_the_group() {
    if !in_netns("data_multicast_reaches_readers_through_the_group") {
        return;
    }
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::{Ipv4Addr, SocketAddr};
    let watch = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    watch.set_reuse_address(true).expect("reuse");
    watch.set_reuse_port(true).expect("reuse port");
    watch.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 7401)).into()).expect("bind 7401");
    watch.join_multicast_v4(&Ipv4Addr::new(239, 255, 0, 1), &Ipv4Addr::LOCALHOST).expect("join");
    watch.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let watch: std::net::UdpSocket = watch.into();

    let multicast = |name: &str| {
        DomainParticipant::builder(0).interface("lo").name(name).data_multicast(true).build().expect("participant")
    };
    let (pa, pb, pc) = (multicast("pub"), multicast("sub1"), multicast("sub2"));
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Group"), Some(wq)).expect("writer");
    let readers = [&pb, &pc].map(|p| {
        p.create_datareader(&p.create_topic::<ShapeType>("Group"), Some(reliable_reader_qos())).expect("reader")
    });
    writer.wait_for_subscribers(2, WAIT).await.expect("writer matches both");
    for r in &readers {
        r.wait_for_publishers(1, WAIT).await.expect("reader matches");
    }
    for x in 0..10 {
        writer.write(&shape("GREEN", x)).expect("write");
    }
    for r in &readers {
        let mut xs = Vec::new();
        while xs.len() < 10 {
            let s = tokio::time::timeout(WAIT, r.take_next()).await.expect("sample in time").expect("sample");
            xs.push(s.data.map_or(-1, |d| d.x));
        }
        assert_eq!(xs, (0..10).collect::<Vec<_>>());
    }
    // The group carried user data: an RTPS message with a DATA submessage (id 0x15) for the user writer.
    let entity = writer.guid().entity_id;
    let found = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 65536];
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < end {
            let Ok(n) = watch.recv(&mut buf) else { continue };
            let Ok((_, subs)) = starling::proto::wire::parse(&buf[..n]) else { continue };
            let mut subs = subs;
            if subs.any(|s| matches!(s, Ok(starling::proto::wire::Submessage::Data(d)) if d.writer_id == entity)) {
                return true;
            }
        }
        false
    });
    // Anything written after the watch started also goes to the group.
    writer.write(&shape("GREEN", 10)).expect("write");
    assert!(found.await.expect("join"), "no user DATA seen on 239.255.0.1:7401");
    writer.wait_for_acknowledgments(WAIT).await.expect("all acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_over_localhost_unicast_without_multicast() {
    if !in_netns("discovery_over_localhost_unicast_without_multicast") {
        return;
    }
    // No multicast at all in this namespace: SPDP must reach the other participant through the well-known
    // unicast ports on 127.0.0.1, and samples must flow.
    for args in [&["route", "del", "239.0.0.0/8", "dev", "lo"][..], &["link", "set", "lo", "multicast", "off"]] {
        let ok = Command::new("ip").args(args).status().is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    }
    let pa = lo_participant("uni-a");
    let pb = lo_participant("uni-b");
    pa.wait_for_participants(1, WAIT).await.expect("a finds b by unicast");
    pb.wait_for_participants(1, WAIT).await.expect("b finds a by unicast");
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::reliable();
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Uni"), Some(wq)).expect("writer");
    let reader =
        pb.create_datareader(&pb.create_topic::<ShapeType>("Uni"), Some(reliable_reader_qos())).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    reader.wait_for_publishers(1, WAIT).await.expect("reader matches");
    for x in 0..10 {
        writer.write(&shape("GREEN", x)).expect("write");
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        let s = tokio::time::timeout(WAIT, reader.take_next()).await.expect("sample in time").expect("take");
        if let Some(d) = s.data.filter(|_| s.info.valid_data) {
            got.push(d.x);
        }
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

/// A batching writer with a small KEEP_ALL window and no explicit flush: acknowledgements arrive while a
/// datagram is being filled (it stays open for more samples), and the last partly filled datagram leaves
/// by the linger timer alone. Every sample must arrive, in order, and be acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_writer_without_flush_delivers_everything() {
    if !in_netns("batching_writer_without_flush_delivers_everything") {
        return;
    }
    const N: i32 = 3000;
    let pa = lo_participant("pub");
    let pb = lo_participant("sub");
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::reliable();
    wq.reliability.max_blocking_time = starling_proto::wire::types::Duration::from_millis(15_000);
    wq.history = History::KeepAll;
    wq.resource_limits.max_samples = 64;
    let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Batched"), Some(wq)).expect("writer");
    writer.set_batching(true);
    let reader =
        pb.create_datareader(&pb.create_topic::<ShapeType>("Batched"), Some(reliable_reader_qos())).expect("reader");
    writer.wait_for_subscribers(1, WAIT).await.expect("writer matches");
    reader.wait_for_publishers(1, WAIT).await.expect("reader matches");

    let take = tokio::spawn(async move {
        let mut xs = Vec::with_capacity(N as usize);
        while xs.len() < N as usize {
            reader.wait_for_data(WAIT).await.expect("data in time");
            xs.extend(reader.take().into_iter().filter_map(|s| s.data.map(|d| d.x)));
        }
        xs
    });
    for x in 0..N {
        // A full window waits for acknowledgements; the open datagram is never flushed by hand.
        writer.write_async(&shape("GREEN", x)).await.expect("room within the blocking time");
    }
    let xs = tokio::time::timeout(WAIT * 2, take).await.expect("all samples in time").expect("reader task");
    assert_eq!(xs, (0..N).collect::<Vec<_>>(), "reliable, in order, no loss");
    writer.wait_for_acknowledgments(WAIT).await.expect("all acknowledged");
}
