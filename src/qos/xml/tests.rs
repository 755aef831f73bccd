use super::*;
use crate::proto::wire::types::Duration;
use crate::qos::{
    AccessScope, DestinationOrderKind, DurabilityKind, History, LivelinessKind, OwnershipKind, ReliabilityKind, XCDR2,
};
use std::path::PathBuf;

fn ms(n: u64) -> Duration {
    Duration::from_std(std::time::Duration::from_millis(n))
}

fn secs(n: u64) -> Duration {
    Duration::from_std(std::time::Duration::from_secs(n))
}

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn invalid(text: &str) -> String {
    match QosProvider::from_str("t.xml", text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shared_example_resolves() {
    let path = repo_file("../shared/qos/dds-xml-example.xml");
    let qp = QosProvider::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(qp.warnings().is_empty(), "{:?}", qp.warnings());
    assert_eq!(
        qp.profile_names().collect::<Vec<_>>(),
        [
            "StarlingExamples::State",
            "StarlingExamples::Sensor",
            "StarlingExamples::LargeData",
            "StarlingExamples::StateFast"
        ]
    );

    let state = qp.profile("StarlingExamples::State").unwrap();
    let w = state.datawriter_qos("Any");
    assert_eq!(w.reliability.kind, ReliabilityKind::Reliable);
    assert_eq!(w.reliability.max_blocking_time, ms(100));
    assert_eq!(w.durability, DurabilityKind::TransientLocal);
    assert_eq!(w.history, History::KeepLast(10));
    assert_eq!(state.datawriter_policies("Any").autodispose_unregistered_instances, Some(false));
    let r = state.datareader_qos("Any");
    assert_eq!(
        (r.reliability.kind, r.durability, r.history),
        (ReliabilityKind::Reliable, DurabilityKind::TransientLocal, History::KeepLast(10))
    );
    assert_eq!(crate::qos::check_compatible(&w, &r), Ok(()));

    let sensor = qp.profile("StarlingExamples::Sensor").unwrap();
    let w = sensor.datawriter_qos("temp");
    assert_eq!(w.reliability.kind, ReliabilityKind::BestEffort);
    assert_eq!(w.durability, DurabilityKind::Volatile);
    assert_eq!(w.history, History::KeepLast(1));
    assert_eq!(w.deadline, ms(50));
    assert_eq!((w.liveliness.kind, w.liveliness.lease_duration), (LivelinessKind::Automatic, secs(2)));
    assert_eq!(w.lifespan, secs(1));
    let r = sensor.datareader_qos("temp");
    assert_eq!(r.deadline, ms(200));
    assert_eq!(r.time_based_filter, ms(100));
    assert_eq!(r.liveliness.lease_duration, Duration::INFINITE);
    assert_eq!(crate::qos::check_compatible(&w, &r), Ok(()));

    let large = qp.profile("StarlingExamples::LargeData").unwrap();
    let w = large.datawriter_qos("img");
    assert_eq!(w.reliability.max_blocking_time, secs(5));
    assert_eq!(w.history, History::KeepAll);
    assert_eq!(
        (w.resource_limits.max_samples, w.resource_limits.max_instances, w.resource_limits.max_samples_per_instance),
        (32, -1, 32)
    );
    assert_eq!(w.destination_order, DestinationOrderKind::BySourceTimestamp);
    assert_eq!(w.partition, ["bulk"]);
    let r = large.datareader_qos("img");
    assert_eq!(r.resource_limits.max_samples, 64);
    assert_eq!(r.partition, ["bulk"]);

    let fast = qp.profile("StarlingExamples::StateFast").unwrap();
    let alarm = fast.datawriter_qos("AlarmX");
    assert_eq!(alarm.history, History::KeepLast(100));
    assert_eq!(alarm.transport_priority, 10);
    assert_eq!(alarm.reliability.kind, ReliabilityKind::Reliable);
    assert_eq!(alarm.durability, DurabilityKind::TransientLocal);
    let other = fast.datawriter_qos("Position");
    assert_eq!(other.history, History::KeepLast(1));
    assert_eq!(other.transport_priority, 0);
    assert_eq!(other.reliability.kind, ReliabilityKind::Reliable);
    assert_eq!(other.reliability.max_blocking_time, ms(100));
    assert_eq!(other.durability, DurabilityKind::TransientLocal);
    let r = fast.datareader_qos("AlarmX");
    assert_eq!((r.history, r.durability), (History::KeepLast(1), DurabilityKind::TransientLocal));
    let pq = fast.participant_qos();
    assert_eq!(pq.user_data, b"star");
    assert!(pq.autoenable_created_entities);
    // Bare profile names work when unambiguous.
    assert_eq!(qp.profile("StateFast").unwrap().name(), "StarlingExamples::StateFast");
    assert!(qp.default_profile().is_none());
}

#[test]
fn shipped_patterns_load() {
    let qp = QosProvider::from_file(repo_file("qos-profiles/starling-patterns.xml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(qp.warnings().is_empty(), "{:?}", qp.warnings());
    let state = qp.profile("StarlingPatterns::State").unwrap();
    let w = state.datawriter_qos("t");
    assert_eq!(
        (w.reliability.kind, w.durability, w.history),
        (ReliabilityKind::Reliable, DurabilityKind::TransientLocal, History::KeepLast(1))
    );
    let sensor = qp.profile("StarlingPatterns::Sensor").unwrap();
    let (w, r) = (sensor.datawriter_qos("t"), sensor.datareader_qos("t"));
    assert_eq!((w.reliability.kind, w.deadline), (ReliabilityKind::BestEffort, ms(100)));
    assert_eq!(r.deadline, secs(1));
    let event = qp.profile("StarlingPatterns::Event").unwrap();
    assert_eq!(event.datawriter_qos("t").history, History::KeepAll);
    assert_eq!(event.datareader_qos("t").reliability.kind, ReliabilityKind::Reliable);
    let large = qp.profile("StarlingPatterns::LargeData").unwrap();
    assert_eq!(large.datawriter_qos("t").resource_limits.max_samples, 8);
    for name in qp.profile_names() {
        let p = qp.profile(name).unwrap();
        assert_eq!(crate::qos::check_compatible(&p.datawriter_qos("t"), &p.datareader_qos("t")), Ok(()), "{name}");
    }
}

const RTI: &str = r#"<?xml version="1.0"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://community.rti.com/schema/6.1.0/rti_dds_qos_profiles.xsd" version="6.1.0">
  <qos_library name="MyLib">
    <qos_profile name="Default" base_name="BuiltinQosLib::Generic.StrictReliable" is_default_qos="true">
      <participant_qos>
        <participant_name><name>app</name></participant_name>
        <discovery><initial_peers><element>udpv4://127.0.0.1</element></initial_peers></discovery>
      </participant_qos>
      <datawriter_qos>
        <reliability>
          <kind>DDS_RELIABLE_RELIABILITY_QOS</kind>
          <max_blocking_time><sec>DURATION_INFINITE_SEC</sec><nanosec>DURATION_INFINITE_NSEC</nanosec></max_blocking_time>
        </reliability>
        <history><kind>KEEP_LAST_HISTORY_QOS</kind><depth>5</depth></history>
        <publish_mode><kind>ASYNCHRONOUS_PUBLISH_MODE_QOS</kind></publish_mode>
        <representation><value><element>XCDR2_DATA_REPRESENTATION</element></value></representation>
      </datawriter_qos>
      <datareader_qos topic_filter="Square">
        <reliability><kind>DDS_BEST_EFFORT_RELIABILITY_QOS</kind></reliability>
      </datareader_qos>
      <datareader_qos>
        <reliability><kind>RELIABLE</kind></reliability>
      </datareader_qos>
    </qos_profile>
    <qos_profile name="Derived" base_name="Default">
      <datawriter_qos>
        <history><depth>7</depth></history>
      </datawriter_qos>
    </qos_profile>
  </qos_library>
</dds>
"#;

#[test]
fn rti_style_profiles_load_with_warnings() {
    let qp = QosProvider::from_str("USER_QOS_PROFILES.xml", RTI).unwrap_or_else(|e| panic!("{e}"));
    let d = qp.default_profile().unwrap();
    assert_eq!(d.name(), "MyLib::Default");
    let w = d.datawriter_qos("Circle");
    assert_eq!(w.reliability.max_blocking_time, Duration::INFINITE);
    assert_eq!(w.history, History::KeepLast(5));
    assert_eq!(w.data_representation, [XCDR2]);
    assert_eq!(d.datareader_qos("Square").reliability.kind, ReliabilityKind::BestEffort);
    assert_eq!(d.datareader_qos("Circle").reliability.kind, ReliabilityKind::Reliable);
    // Inheriting within the library by bare name; depth overrides, kind stays.
    assert_eq!(qp.profile("MyLib::Derived").unwrap().datawriter_qos("x").history, History::KeepLast(7));
    let msgs: Vec<String> = qp.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(msgs[0].starts_with("USER_QOS_PROFILES.xml:5:33: base_name 'BuiltinQosLib::"), "{}", msgs[0]);
    assert_eq!(
        msgs[1],
        "USER_QOS_PROFILES.xml:7:9: unsupported RTI Connext element <participant_name> in <participant_qos> ignored"
    );
    assert!(msgs[2].starts_with("USER_QOS_PROFILES.xml:8:9: unsupported RTI Connext element <discovery>"));
    assert!(msgs[3].starts_with("USER_QOS_PROFILES.xml:16:9: unsupported RTI Connext element <publish_mode>"));
}

const CYCLONE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.omg.org/dds/">
  <qos_library name="qos_lib">
    <qos_profile name="base">
      <domain_participant_qos>
        <user_data><valueB64>c3Rhcg==</valueB64></user_data>
        <entity_factory><autoenable_created_entities>false</autoenable_created_entities></entity_factory>
      </domain_participant_qos>
      <topic_qos name="topic">
        <topic_data><value>1,2,0x03</value></topic_data>
        <durability_service>
          <service_cleanup_delay><sec>DURATION_ZERO_SEC</sec><nanosec>DURATION_ZERO_NSEC</nanosec></service_cleanup_delay>
          <history_kind>KEEP_LAST_HISTORY_QOS</history_kind>
          <history_depth>3</history_depth>
          <max_samples>LENGTH_UNLIMITED</max_samples>
          <max_instances>0x10</max_instances>
          <max_samples_per_instance>3</max_samples_per_instance>
        </durability_service>
        <ownership><kind>EXCLUSIVE_OWNERSHIP_QOS</kind></ownership>
        <latency_budget><duration><sec>0</sec><nanosec>5000000</nanosec></duration></latency_budget>
      </topic_qos>
      <publisher_qos name="pub">
        <presentation>
          <access_scope>TOPIC_PRESENTATION_QOS</access_scope>
          <coherent_access>true</coherent_access>
          <ordered_access>1</ordered_access>
        </presentation>
        <partition><name><element>p1</element><element>p*</element></name></partition>
        <group_data><value>0x67</value></group_data>
      </publisher_qos>
      <datawriter_qos name="writer">
        <ownership_strength><value>7</value></ownership_strength>
        <data_representation><value><element>XCDR2_DATA_REPRESENTATION</element></value></data_representation>
      </datawriter_qos>
      <datareader_qos name="reader">
        <reader_data_lifecycle>
          <autopurge_nowriter_samples_delay><sec>DURATION_INFINITY</sec><nanosec>DURATION_INFINITY</nanosec></autopurge_nowriter_samples_delay>
          <autopurge_disposed_samples_delay><sec>1</sec></autopurge_disposed_samples_delay>
        </reader_data_lifecycle>
        <type_consistency>
          <kind>DISALLOW_TYPE_COERCION</kind>
          <ignore_member_names>true</ignore_member_names>
          <force_type_validation>true</force_type_validation>
        </type_consistency>
        <data_representation><value><element>XCDR_DATA_REPRESENTATION</element><element>XCDR2_DATA_REPRESENTATION</element></value></data_representation>
      </datareader_qos>
    </qos_profile>
    <qos_profile name="derived">
      <datawriter_qos base_name="qos_lib::base::writer">
        <transport_priority><value>-2</value></transport_priority>
      </datawriter_qos>
    </qos_profile>
    <datareader_qos name="bare_reader">
      <history><kind>KEEP_ALL</kind></history>
    </datareader_qos>
  </qos_library>
</dds>
"#;

#[test]
fn cyclone_style_profiles_load() {
    let qp = QosProvider::from_str("cyclone.xml", CYCLONE).unwrap_or_else(|e| panic!("{e}"));
    assert!(qp.warnings().is_empty(), "{:?}", qp.warnings());
    let base = qp.profile("qos_lib::base").unwrap();
    let pq = base.participant_qos();
    assert_eq!((pq.user_data.as_slice(), pq.autoenable_created_entities), (&b"star"[..], false));
    let w = base.datawriter_qos("T");
    assert_eq!(w.topic_data, [1, 2, 3]);
    assert_eq!(w.durability_service.history, History::KeepLast(3));
    assert_eq!(w.durability_service.limits.max_samples, -1);
    assert_eq!(w.durability_service.limits.max_instances, 16);
    assert_eq!((w.ownership, w.ownership_strength), (OwnershipKind::Exclusive, 7));
    assert_eq!(w.latency_budget, ms(5));
    assert_eq!(w.presentation.access_scope, AccessScope::Topic);
    assert!(w.presentation.coherent_access && w.presentation.ordered_access);
    assert_eq!(w.partition, ["p1", "p*"]);
    assert_eq!(w.group_data, [0x67]);
    assert_eq!(w.data_representation, [XCDR2]);
    let r = base.datareader_qos("T");
    assert_eq!(r.partition, Vec::<String>::new(), "publisher partition must not reach readers");
    assert_eq!(r.data_representation, [0, XCDR2]);
    assert_eq!(r.type_consistency.kind, 0);
    assert!(r.type_consistency.ignore_member_names && r.type_consistency.force_type_validation);
    let rp = base.datareader_policies("T");
    assert_eq!(rp.autopurge_nowriter_samples_delay, Some(Duration::INFINITE));
    assert_eq!(rp.autopurge_disposed_samples_delay, Some(secs(1)));
    // Named entity QoS as a base ("lib::profile::name").
    let d = qp.profile("qos_lib::derived").unwrap().datawriter_qos("T");
    assert_eq!((d.ownership_strength, d.transport_priority, d.data_representation.as_slice()), (7, -2, &[XCDR2][..]));
    // A bare entity QoS in a library is a profile of its own.
    assert_eq!(qp.profile("qos_lib::bare_reader").unwrap().datareader_qos("T").history, History::KeepAll);
}

fn wrap(body: &str) -> String {
    format!("<dds>\n<qos_library name=\"L\">\n{body}\n</qos_library>\n</dds>\n")
}

#[test]
fn value_errors_name_line_column_and_allowed_values() {
    let e = invalid(&wrap(
        "<qos_profile name=\"P\">\n<datawriter_qos>\n  <reliability><kind>1</kind></reliability>\n</datawriter_qos>\n</qos_profile>",
    ));
    assert_eq!(
        e,
        "t.xml:5:22: invalid value '1' for <kind> of <reliability>; expected BEST_EFFORT_RELIABILITY_QOS, RELIABLE_RELIABILITY_QOS"
    );
    let e = invalid(&wrap(
        "<qos_profile name=\"P\">\n<datareader_qos>\n<deadline><period><sec>1</sec><nanosec>1000000000</nanosec></period></deadline>\n</datareader_qos>\n</qos_profile>",
    ));
    assert!(e.starts_with("t.xml:5:40: invalid value '1000000000' for <nanosec> of <period> of <deadline>; expected an integer below 1000000000"), "{e}");
    let e = invalid(&wrap(
        "<qos_profile name=\"P\">\n<datawriter_qos>\n<history><kind>KEEP_LAST_HISTORY_QOS</kind><depth>lots</depth></history>\n</datawriter_qos>\n</qos_profile>",
    ));
    assert!(
        e.starts_with("t.xml:5:51: invalid value 'lots' for <depth> of <history>; expected an integer >= 1"),
        "{e}"
    );
    let e = invalid(&wrap(
        "<qos_profile name=\"P\">\n<datawriter_qos>\n<writer_data_lifecycle><autodispose_unregistered_instances>yes</autodispose_unregistered_instances></writer_data_lifecycle>\n</datawriter_qos>\n</qos_profile>",
    ));
    assert!(e.starts_with("t.xml:5:60: invalid value 'yes'"), "{e}");
    assert!(e.ends_with("expected true, false, 1 or 0"), "{e}");
    let e = invalid(&wrap("<qos_profile name=\"P\">\n<datawriter_qos>\n<user_data><value>1, 300</value></user_data>\n</datawriter_qos>\n</qos_profile>"));
    assert!(e.starts_with("t.xml:5:19: invalid octet '300'"), "{e}");
}

#[test]
fn structure_errors() {
    let e = invalid(&wrap("<qos_profile name=\"P\" base_name=\"L::Nope\"/>"));
    assert_eq!(e, "t.xml:3:23: base_name 'L::Nope' names no loaded QoS profile");
    let e = invalid(&wrap("<qos_profile name=\"A\" base_name=\"B\"/>\n<qos_profile name=\"B\" base_name=\"L::A\"/>"));
    assert!(e.contains("base_name inheritance cycle: L::A -> L::B -> L::A"), "{e}");
    let e = invalid(&wrap("<qos_profile name=\"A\"><datawriter_qos base_name=\"L::A\"/></qos_profile>"));
    assert!(e.contains("cycle"), "{e}");
    let e = invalid(&wrap(
        "<qos_profile name=\"P\">\n<datawriter_qos topic_filter=\"A*\"/>\n<datawriter_qos topic_filter=\"A*\"/>\n</qos_profile>",
    ));
    assert_eq!(e, "t.xml:5:1: a second <datawriter_qos> with topic_filter \"A*\" in profile 'L::P'");
    let e = invalid(&wrap("<qos_profile name=\"P\"><publisher_qos topic_filter=\"x\"/></qos_profile>"));
    assert!(e.contains("topic_filter is not allowed on <publisher_qos>"), "{e}");
    let e = invalid(&wrap("<qos_profile/>"));
    assert_eq!(e, "t.xml:3:1: <qos_profile> needs a name=\"...\" attribute");
    let e = invalid("<dds>\n  <qos_library name=\"L\">\n</dds>");
    assert!(e.starts_with("t.xml:3:"), "{e}");
    assert!(e.contains("malformed XML"), "{e}");
    let e = invalid("<profiles/>");
    assert!(e.contains("expected <dds> or <qos_library>"), "{e}");
    let e = invalid(&wrap("<qos_profile name=\"P\"/>\n<qos_profile name=\"P\"/>"));
    assert_eq!(e, "t.xml:4:1: QoS profile 'L::P' is already defined at t.xml:3:1");
}

#[test]
fn unknown_elements_warn_with_position() {
    let qp = QosProvider::from_str(
        "w.xml",
        &wrap("<qos_profile name=\"P\" colour=\"x\">\n<datawriter_qos>\n  <frobnicate/>\n  <history><kind>KEEP_ALL_HISTORY_QOS</kind><speed>3</speed></history>\n</datawriter_qos>\n<gadget/>\n</qos_profile>"),
    )
    .unwrap();
    let msgs: Vec<String> = qp.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "w.xml:3:23: unknown attribute 'colour' on <qos_profile> ignored",
            "w.xml:5:3: unknown element <frobnicate> in <datawriter_qos> ignored",
            "w.xml:6:45: unknown element <speed> in <history> ignored",
            "w.xml:8:1: unknown element <gadget> in <qos_profile> ignored",
        ]
    );
    assert_eq!(qp.profile("L::P").unwrap().datawriter_qos("t").history, History::KeepAll);
}

#[test]
fn other_sections_of_a_dds_document_are_not_warned_about() {
    let qp = QosProvider::from_str(
        "d.xml",
        "<dds>\n<types><struct name=\"T\"/></types>\n<bridge><listener protocol=\"mqtt\"/></bridge>\n\
         <qos_library name=\"L\"><qos_profile name=\"P\"/></qos_library>\n<gizmo/>\n</dds>\n",
    )
    .unwrap();
    let msgs: Vec<String> = qp.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(msgs, ["d.xml:5:1: unknown element <gizmo> in <dds> ignored"]);
    assert!(qp.profile("L::P").is_ok());
}

#[test]
fn later_files_inherit_from_earlier_ones_and_failed_loads_change_nothing() {
    let mut qp = QosProvider::from_file(repo_file("qos-profiles/starling-patterns.xml")).unwrap();
    qp.load_str(
        "mine.xml",
        "<qos_library name=\"Mine\"><qos_profile name=\"S\" base_name=\"StarlingPatterns::State\" is_default_qos=\"true\"><datareader_qos><history><depth>3</depth></history></datareader_qos></qos_profile></qos_library>",
    )
    .unwrap();
    let d = qp.default_profile().unwrap();
    assert_eq!(d.datareader_qos("t").history, History::KeepLast(3));
    assert_eq!(d.datareader_qos("t").durability, DurabilityKind::TransientLocal);
    let n = qp.profile_names().count();
    assert!(qp
        .load_str("bad.xml", "<qos_library name=\"X\"><qos_profile name=\"Y\" base_name=\"Z::Z\"/></qos_library>")
        .is_err());
    assert_eq!(qp.profile_names().count(), n);
    let e = qp.profile("Nope::Nope").unwrap_err().to_string();
    assert!(e.starts_with("no QoS profile 'Nope::Nope' (known: StarlingPatterns::State,"), "{e}");
}

#[test]
fn path_lists() {
    let a = repo_file("qos-profiles/starling-patterns.xml");
    let mut qp = QosProvider::new();
    qp.load_path_list(&format!(" ;{};", a.display())).unwrap();
    assert!(qp.profile("StarlingPatterns::Event").is_ok());
    let e = QosProvider::new().load_path_list("/nonexistent/q.xml").unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/q.xml: "), "{e}");
}
