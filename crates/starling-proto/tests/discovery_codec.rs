//! Encode/decode tests for SPDP and SEDP parameter lists.

use proptest::prelude::*;
use starling_proto::discovery::{builtin_endpoints as be, ContentFilterProperty, EndpointData, ParticipantData};
use starling_proto::qos::{
    AccessScope, DestinationOrderKind, DurabilityKind, DurabilityService, EndpointQos, History, Liveliness,
    LivelinessKind, OwnershipKind, Presentation, Reliability, ResourceLimits, TypeConsistency, XCDR1, XCDR2,
};
use starling_proto::wire::{
    pid, DecodeError, Duration, Endian, EntityId, Guid, GuidPrefix, Locator, ParameterListWriter, ProtocolVersion,
    VendorId,
};
use std::net::{Ipv4Addr, Ipv6Addr};

fn prefix() -> GuidPrefix {
    GuidPrefix([1, 0xff, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
}

fn writer_guid() -> Guid {
    Guid::new(prefix(), EntityId::new(0x12, EntityId::KIND_WRITER_WITH_KEY))
}

fn reader_guid() -> Guid {
    Guid::new(prefix(), EntityId::new(0x13, EntityId::KIND_READER_WITH_KEY))
}

fn full_participant() -> ParticipantData {
    let mut p = ParticipantData::new(prefix());
    p.domain_id = Some(42);
    p.domain_tag = "lab".into();
    p.builtin_endpoints = be::PARTICIPANT_ANNOUNCER | be::PARTICIPANT_DETECTOR | be::PUBLICATIONS_ANNOUNCER;
    p.metatraffic_unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7410)];
    p.metatraffic_multicast_locators = vec![Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)];
    p.default_unicast_locators =
        vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7411), Locator::udpv6(Ipv6Addr::LOCALHOST, 7411)];
    p.default_multicast_locators = vec![Locator { kind: 16, port: 1, address: [7; 16] }];
    p.lease_duration = Duration::from_millis(12_500);
    p.entity_name = Some("starling-test".into());
    p.user_data = vec![1, 2, 3, 4, 5];
    p.properties = vec![("a".into(), "bee".into()), ("__Pid".into(), "1234".into())];
    p.expects_inline_qos = true;
    p
}

fn full_qos() -> EndpointQos {
    EndpointQos {
        reliability: Reliability {
            kind: starling_proto::qos::ReliabilityKind::Reliable,
            max_blocking_time: Duration::from_millis(250),
        },
        durability: DurabilityKind::TransientLocal,
        durability_service: DurabilityService {
            service_cleanup_delay: Duration::from_millis(3),
            history: History::KeepAll,
            limits: ResourceLimits { max_samples: 10, max_instances: 2, max_samples_per_instance: 5 },
        },
        history: History::KeepLast(7),
        resource_limits: ResourceLimits { max_samples: 100, max_instances: -1, max_samples_per_instance: 50 },
        deadline: Duration::from_millis(1500),
        latency_budget: Duration::from_millis(2),
        liveliness: Liveliness { kind: LivelinessKind::ManualByTopic, lease_duration: Duration::from_millis(900) },
        ownership: OwnershipKind::Exclusive,
        ownership_strength: -3,
        destination_order: DestinationOrderKind::BySourceTimestamp,
        presentation: Presentation { access_scope: AccessScope::Group, coherent_access: true, ordered_access: false },
        partition: vec!["a".into(), "sensors/*".into(), "".into()],
        lifespan: Duration::from_millis(60_000),
        time_based_filter: Duration::from_millis(10),
        user_data: vec![9],
        topic_data: vec![8, 8],
        group_data: vec![7, 7, 7],
        transport_priority: 12,
        data_representation: vec![XCDR2, XCDR1, 1],
        type_consistency: TypeConsistency {
            kind: 0,
            ignore_sequence_bounds: false,
            ignore_string_bounds: true,
            ignore_member_names: true,
            prevent_type_widening: true,
            force_type_validation: true,
        },
    }
}

#[test]
fn participant_new_defaults() {
    let p = ParticipantData::new(prefix());
    assert_eq!(p.vendor_id, VendorId::STARLING);
    assert_eq!(p.protocol_version, ProtocolVersion::V2_5);
    assert_eq!(p.domain_id, None);
    assert_eq!(p.lease_duration, Duration { seconds: 100, fraction: 0 });
    assert!(p.properties.is_empty() && p.user_data.is_empty() && !p.expects_inline_qos);
}

#[test]
fn participant_roundtrip() {
    for p in [ParticipantData::new(prefix()), full_participant()] {
        let mut buf = Vec::new();
        p.encode(&mut buf);
        assert_eq!(&buf[..4], &[0x00, 0x03, 0x00, 0x00]);
        assert_eq!(buf.len() % 4, 0);
        assert_eq!(ParticipantData::decode(&buf).unwrap(), p);
    }
}

#[test]
fn participant_encoding_layout() {
    let mut buf = Vec::new();
    ParticipantData::new(prefix()).encode(&mut buf);
    // First parameter: PARTICIPANT_GUID, LE header, prefix + 000001c1.
    assert_eq!(&buf[4..8], &[0x50, 0x00, 0x10, 0x00]);
    assert_eq!(&buf[8..20], &prefix().0);
    assert_eq!(&buf[20..24], &[0, 0, 1, 0xc1]);
    // Domain tag empty and domain id None: neither is written.
    let pids = pids_le(&buf[4..]);
    assert!(!pids.contains(&pid::DOMAIN_TAG));
    assert!(!pids.contains(&pid::DOMAIN_ID));
    assert!(!pids.contains(&pid::PROPERTY_LIST));
    assert_eq!(pids.last(), Some(&pid::SENTINEL));
}

fn pids_le(mut b: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let p = u16::from_le_bytes([b[0], b[1]]);
        let len = u16::from_le_bytes([b[2], b[3]]) as usize;
        out.push(p);
        b = &b[4 + len..];
    }
    out
}

#[test]
fn participant_big_endian() {
    let mut buf = vec![0x00, 0x02, 0x00, 0x00];
    let mut w = ParameterListWriter::new(&mut buf, Endian::Big);
    w.u32(pid::PARTICIPANT_BUILTIN_ENDPOINTS, 0x3f);
    w.raw(pid::PARTICIPANT_GUID, &Guid::new(prefix(), EntityId::PARTICIPANT).to_bytes());
    w.raw(pid::VENDORID, &[1, 0x0f]);
    w.raw(pid::PROTOCOL_VERSION, &[2, 4]);
    w.u32(pid::DOMAIN_ID, 0x0102_0304);
    w.param(pid::METATRAFFIC_UNICAST_LOCATOR, |w| Locator::udpv4(Ipv4Addr::new(10, 0, 0, 1), 7412).write(w));
    w.param(pid::PARTICIPANT_LEASE_DURATION, |w| Duration { seconds: 20, fraction: 0 }.write(w));
    w.string(pid::ENTITY_NAME, "big");
    w.param(pid::PROPERTY_LIST, |w| {
        w.u32(1);
        starling_proto::wire::parameter::write_cdr_string(w, "k");
        w.align(4);
        starling_proto::wire::parameter::write_cdr_string(w, "v");
        // DDS-Security binary part with one entry: must be accepted and skipped.
        w.align(4);
        w.u32(1);
        starling_proto::wire::parameter::write_cdr_string(w, "bin");
        w.align(4);
        w.u32(2);
        w.bytes(&[0xaa, 0xbb]);
    });
    w.u32(0x8123, 5); // vendor-specific: ignored
    w.u32(0x0999, 5); // unknown, not must-understand: ignored
    w.finish();
    let p = ParticipantData::decode(&buf).unwrap();
    assert_eq!(p.guid_prefix, prefix());
    assert_eq!(p.vendor_id, VendorId::FASTDDS);
    assert_eq!(p.protocol_version, ProtocolVersion { major: 2, minor: 4 });
    assert_eq!(p.builtin_endpoints, 0x3f);
    assert_eq!(p.domain_id, Some(0x0102_0304));
    assert_eq!(p.metatraffic_unicast_locators, vec![Locator::udpv4(Ipv4Addr::new(10, 0, 0, 1), 7412)]);
    assert_eq!(p.lease_duration, Duration { seconds: 20, fraction: 0 });
    assert_eq!(p.entity_name.as_deref(), Some("big"));
    assert_eq!(p.properties, vec![("k".to_string(), "v".to_string())]);

    // CDR_BE as a tolerated alias gives the same result.
    let mut alias = buf.clone();
    alias[1] = 0x00;
    assert_eq!(ParticipantData::decode(&alias).unwrap(), p);
}

#[test]
fn participant_defaults_and_requirements() {
    let guid = Guid::new(prefix(), EntityId::PARTICIPANT).to_bytes();
    let mut buf = vec![0x00, 0x03, 0x00, 0x00];
    let mut w = ParameterListWriter::new(&mut buf, Endian::Little);
    w.raw(pid::PARTICIPANT_GUID, &guid);
    w.u32(pid::PARTICIPANT_BUILTIN_ENDPOINTS, 1);
    w.u32(pid::BUILTIN_ENDPOINT_SET, 2); // wins over 0x0044 wherever it appears
    w.finish();
    let p = ParticipantData::decode(&buf).unwrap();
    assert_eq!(p.lease_duration, Duration { seconds: 100, fraction: 0 });
    assert_eq!(p.builtin_endpoints, 2);
    assert_eq!(p.vendor_id, VendorId::UNKNOWN);

    let mut buf = vec![0x00, 0x03, 0x00, 0x00];
    ParameterListWriter::new(&mut buf, Endian::Little).finish();
    assert!(matches!(ParticipantData::decode(&buf), Err(DecodeError::Invalid(_))));

    // Unsupported encapsulation.
    let mut buf = vec![0x00, 0x07, 0x00, 0x00];
    let mut w = ParameterListWriter::new(&mut buf, Endian::Little);
    w.raw(pid::PARTICIPANT_GUID, &guid);
    w.finish();
    assert!(ParticipantData::decode(&buf).is_err());
}

#[test]
fn participant_must_understand() {
    let mut p = ParticipantData::new(prefix());
    p.domain_tag = "t".into();
    let mut buf = Vec::new();
    p.encode(&mut buf);
    assert_eq!(ParticipantData::decode(&buf).unwrap().domain_tag, "t");
    // Replace the sentinel with an unknown must-understand parameter.
    buf.truncate(buf.len() - 4);
    let mut w = ParameterListWriter::new(&mut buf, Endian::Little);
    w.u32(0x4077, 0);
    w.finish();
    assert_eq!(ParticipantData::decode(&buf), Err(DecodeError::MustUnderstand(0x4077)));
}

#[test]
fn endpoint_new_defaults() {
    let d = EndpointData::new(writer_guid(), "T", "M::T", EndpointQos::writer_default());
    assert_eq!(d.participant_guid, Guid::new(prefix(), EntityId::PARTICIPANT));
    assert_eq!(d.vendor_id, VendorId::STARLING);
    assert!(d.unicast_locators.is_empty() && d.entity_name.is_none() && d.type_information.is_none());
    assert!(!d.requests_keyhash && !d.expects_inline_qos && d.content_filter.is_none());
}

#[test]
fn endpoint_roundtrip() {
    let mut w = EndpointData::new(writer_guid(), "Square", "ShapeType", full_qos());
    w.unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7411)];
    w.multicast_locators = vec![Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7401)];
    w.entity_name = Some("writer one".into());
    w.type_information = Some(vec![0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    let mut r = EndpointData::new(reader_guid(), "Square", "ShapeType", EndpointQos::reader_default());
    r.expects_inline_qos = true;
    r.content_filter = Some(ContentFilterProperty {
        content_filtered_topic_name: "cft".into(),
        related_topic_name: "Square".into(),
        filter_class_name: "DDSSQL".into(),
        filter_expression: "x > %0 AND y < %1".into(),
        expression_parameters: vec!["10".into(), "200".into()],
    });
    for (d, is_writer) in
        [(w, true), (r, false), (EndpointData::new(writer_guid(), "", "", EndpointQos::writer_default()), true)]
    {
        let mut buf = Vec::new();
        d.encode(&mut buf);
        assert_eq!(&buf[..4], &[0x00, 0x03, 0x00, 0x00]);
        assert_eq!(buf.len() % 4, 0);
        // Every policy is explicit, so decoding with the other side's defaults gives the same.
        for as_writer in [is_writer, !is_writer] {
            assert_eq!(EndpointData::decode(&buf, VendorId::CYCLONE, as_writer, None).unwrap(), d);
        }
    }
}

#[test]
fn endpoint_key_hash_is_the_guid() {
    let mut buf = Vec::new();
    EndpointData::new(writer_guid(), "T", "T", EndpointQos::writer_default()).encode(&mut buf);
    let pl = starling_proto::wire::ParameterList::new(&buf[4..], Endian::Little);
    assert_eq!(pl.find(pid::KEY_HASH), Some(&writer_guid().to_bytes()[..]));
    let mut rel = vec![2, 0, 0, 0];
    rel.extend_from_slice(&0i32.to_le_bytes());
    rel.extend_from_slice(&Duration::from_millis(100).fraction.to_le_bytes());
    assert_eq!(pl.find(pid::RELIABILITY), Some(&rel[..]));
}

fn minimal_sedp(endian: Endian, with_guid: bool, extra: impl FnOnce(&mut ParameterListWriter<'_>)) -> Vec<u8> {
    let mut buf = match endian {
        Endian::Little => vec![0x00, 0x03, 0x00, 0x00],
        Endian::Big => vec![0x00, 0x02, 0x00, 0x00],
    };
    let mut w = ParameterListWriter::new(&mut buf, endian);
    if with_guid {
        w.raw(pid::ENDPOINT_GUID, &writer_guid().to_bytes());
    }
    w.string(pid::TOPIC_NAME, "Square");
    w.string(pid::TYPE_NAME, "ShapeType");
    extra(&mut w);
    w.finish();
    buf
}

#[test]
fn endpoint_defaults_when_absent() {
    let buf = minimal_sedp(Endian::Little, true, |_| {});
    let w = EndpointData::decode(&buf, VendorId::RTI, true, None).unwrap();
    assert_eq!(w.qos, EndpointQos::writer_default());
    assert_eq!(w.vendor_id, VendorId::RTI);
    assert_eq!(w.participant_guid, Guid::new(prefix(), EntityId::PARTICIPANT));
    let r = EndpointData::decode(&buf, VendorId::RTI, false, None).unwrap();
    assert_eq!(r.qos, EndpointQos::reader_default());
    assert_eq!(r.qos.data_representation, vec![XCDR1]);
    assert_eq!(r.qos.history, History::KeepLast(1));
}

#[test]
fn endpoint_big_endian() {
    let buf = minimal_sedp(Endian::Big, true, |w| {
        w.raw(pid::VENDORID, &[1, 3]);
        w.param(pid::RELIABILITY, |w| {
            w.u32(3); // RTPS-PIM RELIABLE
            Duration { seconds: 1, fraction: 0 }.write(w);
        });
        w.param(pid::HISTORY, |w| {
            w.u32(0);
            w.i32(10);
        });
        w.param(pid::DATA_REPRESENTATION, |w| {
            w.u32(2);
            w.i16(XCDR2);
            w.i16(XCDR1);
        });
        w.param(pid::PARTITION, |w| {
            w.u32(2);
            starling_proto::wire::parameter::write_cdr_string(w, "p1");
            w.align(4);
            starling_proto::wire::parameter::write_cdr_string(w, "p22");
        });
        w.param(pid::TYPE_CONSISTENCY_ENFORCEMENT, |w| w.u16(0)); // booleans missing
        w.param(pid::UNICAST_LOCATOR, |w| Locator::udpv4(Ipv4Addr::new(1, 2, 3, 4), 9).write(w));
    });
    let d = EndpointData::decode(&buf, VendorId::UNKNOWN, false, None).unwrap();
    assert_eq!(d.vendor_id, VendorId::OPENDDS);
    assert_eq!(d.qos.reliability.kind, starling_proto::qos::ReliabilityKind::Reliable);
    assert_eq!(d.qos.reliability.max_blocking_time, Duration { seconds: 1, fraction: 0 });
    assert_eq!(d.qos.history, History::KeepLast(10));
    assert_eq!(d.qos.data_representation, vec![XCDR2, XCDR1]);
    assert_eq!(d.qos.partition, vec!["p1".to_string(), "p22".to_string()]);
    assert_eq!(d.qos.type_consistency, TypeConsistency { kind: 0, ..TypeConsistency::default() });
    assert_eq!(d.unicast_locators, vec![Locator::udpv4(Ipv4Addr::new(1, 2, 3, 4), 9)]);
}

#[test]
fn endpoint_guid_fallbacks() {
    let no_guid = minimal_sedp(Endian::Little, false, |_| {});
    assert!(matches!(EndpointData::decode(&no_guid, VendorId::CYCLONE, true, None), Err(DecodeError::Invalid(_))));
    let d = EndpointData::decode(&no_guid, VendorId::CYCLONE, true, Some(reader_guid())).unwrap();
    assert_eq!(d.guid, reader_guid());

    // Cyclone's vendor PID 0x8004, only under Cyclone's vendor id.
    let cyc = minimal_sedp(Endian::Little, false, |w| w.raw(0x8004, &writer_guid().to_bytes()));
    assert_eq!(EndpointData::decode(&cyc, VendorId::CYCLONE, true, None).unwrap().guid, writer_guid());
    assert!(EndpointData::decode(&cyc, VendorId::RTI, true, None).is_err());
    // The VENDORID parameter overrides the sender's header vendor.
    let cyc2 = minimal_sedp(Endian::Little, false, |w| {
        w.raw(0x8004, &writer_guid().to_bytes());
        w.raw(pid::VENDORID, &[1, 0x10]);
    });
    assert_eq!(EndpointData::decode(&cyc2, VendorId::UNKNOWN, true, None).unwrap().guid, writer_guid());
}

#[test]
fn endpoint_requests_keyhash_only_for_cyclone() {
    let buf = minimal_sedp(Endian::Little, true, |w| w.raw(pid::CYCLONE_REQUESTS_KEYHASH, &[1]));
    assert!(EndpointData::decode(&buf, VendorId::CYCLONE, false, None).unwrap().requests_keyhash);
    assert!(!EndpointData::decode(&buf, VendorId::FASTDDS, false, None).unwrap().requests_keyhash);
}

#[test]
fn endpoint_expects_virtual_heartbeat_only_for_rti() {
    // RTI's EXPECTS_VIRTUAL_HB (0x8009) as Connext 6.1.2 sends it in a reader's SEDP data.
    let buf = minimal_sedp(Endian::Little, true, |w| w.raw(0x8009, &[1, 0, 0, 0]));
    assert!(EndpointData::decode(&buf, VendorId::RTI, false, None).unwrap().expects_virtual_heartbeat);
    let off = minimal_sedp(Endian::Little, true, |w| w.raw(0x8009, &[0, 0, 0, 0]));
    assert!(!EndpointData::decode(&off, VendorId::RTI, false, None).unwrap().expects_virtual_heartbeat);
    // Under another vendor id 0x8009 means something else (or nothing).
    assert!(!EndpointData::decode(&buf, VendorId::CYCLONE, false, None).unwrap().expects_virtual_heartbeat);
}

#[test]
fn endpoint_rejections() {
    let bad = |f: &dyn Fn(&mut ParameterListWriter<'_>)| {
        let buf = minimal_sedp(Endian::Little, true, f);
        EndpointData::decode(&buf, VendorId::CYCLONE, true, None)
    };
    for kind in [0u32, 4, 0xffff_ffff] {
        assert!(matches!(
            bad(&|w| w.param(pid::RELIABILITY, |w| {
                w.u32(kind);
                Duration::ZERO.write(w);
            })),
            Err(DecodeError::Invalid(_))
        ));
    }
    assert!(matches!(bad(&|w| w.u32(pid::DURABILITY, 9)), Err(DecodeError::Invalid(_))));
    // DATA_REPRESENTATION count larger than the value.
    assert!(bad(&|w| w.param(pid::DATA_REPRESENTATION, |w| {
        w.u32(1000);
        w.i16(0);
    }))
    .is_err());
    assert!(bad(&|w| w.param(pid::DATA_REPRESENTATION, |w| w.u32(u32::MAX))).is_err());
    // Must-understand: unknown 0x4xxx, and Cyclone's relaxed matching 0xc006 which we do not implement.
    assert_eq!(bad(&|w| w.u32(0x4055, 0)), Err(DecodeError::MustUnderstand(0x4055)));
    assert_eq!(bad(&|w| w.u32(0xc006, 1)), Err(DecodeError::MustUnderstand(0xc006)));
    // Missing topic or type name.
    let mut buf = vec![0x00, 0x03, 0x00, 0x00];
    let mut w = ParameterListWriter::new(&mut buf, Endian::Little);
    w.raw(pid::ENDPOINT_GUID, &writer_guid().to_bytes());
    w.string(pid::TOPIC_NAME, "Square");
    w.finish();
    assert!(matches!(EndpointData::decode(&buf, VendorId::CYCLONE, true, None), Err(DecodeError::Invalid(_))));
    // Huge sequence counts with short values fail without allocating.
    assert!(bad(&|w| w.param(pid::PARTITION, |w| w.u32(u32::MAX))).is_err());
    assert!(bad(&|w| w.param(pid::USER_DATA, |w| w.u32(u32::MAX))).is_err());
}

#[test]
fn truncated_encodings_are_errors() {
    let mut spdp = Vec::new();
    full_participant().encode(&mut spdp);
    let mut sedp = Vec::new();
    EndpointData::new(writer_guid(), "Square", "ShapeType", full_qos()).encode(&mut sedp);
    for n in 0..spdp.len() {
        assert!(ParticipantData::decode(&spdp[..n]).is_err(), "spdp prefix {n}");
    }
    for n in 0..sedp.len() {
        assert!(EndpointData::decode(&sedp[..n], VendorId::CYCLONE, true, None).is_err(), "sedp prefix {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), writer: bool) {
        let _ = ParticipantData::decode(&bytes);
        let _ = EndpointData::decode(&bytes, VendorId::CYCLONE, writer, None);
        let _ = starling_proto::discovery::key_guid(&bytes);
        // The same bytes behind a valid header, so the parameter walker sees them.
        for hdr in [[0u8, 3, 0, 0], [0, 2, 0, 0]] {
            let mut b = hdr.to_vec();
            b.extend_from_slice(&bytes);
            let _ = ParticipantData::decode(&b);
            let _ = EndpointData::decode(&b, VendorId::CYCLONE, writer, Some(Guid::UNKNOWN));
            let _ = starling_proto::discovery::key_guid(&b);
        }
    }

    #[test]
    fn mutated_encodings_never_panic(pos in any::<usize>(), val: u8, cut in any::<usize>()) {
        let mut b = Vec::new();
        EndpointData::new(writer_guid(), "Square", "ShapeType", full_qos()).encode(&mut b);
        let mut s = Vec::new();
        full_participant().encode(&mut s);
        for buf in [&mut b, &mut s] {
            let i = pos % buf.len();
            buf[i] = val;
            let n = cut % (buf.len() + 1);
            let _ = ParticipantData::decode(&buf[..n]);
            let _ = EndpointData::decode(&buf[..n], VendorId::CYCLONE, true, None);
        }
    }
}
