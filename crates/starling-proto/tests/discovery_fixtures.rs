//! Decoding SPDP/SEDP payloads captured from real Cyclone DDS 11.0.1 and RTI
//! Connext 6.1.2 peers (see `fixtures/README.md` for how they were captured).

use starling_proto::discovery::{builtin_endpoints as be, key_guid, EndpointData, ParticipantData};
use starling_proto::qos::{DurabilityKind, EndpointQos, History, ReliabilityKind, XCDR1, XCDR2};
use starling_proto::wire::{Duration, EntityId, Guid, GuidPrefix, Locator, ProtocolVersion, VendorId};
use std::net::Ipv4Addr;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("fixture hex")).collect()
}

fn prefix(s: &str) -> GuidPrefix {
    let b = hex(&s.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" "));
    GuidPrefix(b.try_into().unwrap())
}

fn lo(port: u16) -> Locator {
    Locator::udpv4(Ipv4Addr::LOCALHOST, port)
}

fn secs(s: i32) -> Duration {
    Duration { seconds: s, fraction: 0 }
}

const CYCLONE_SPDP: &str = include_str!("fixtures/cyclone_spdp.hex");
const CYCLONE_SEDP_PUB: &str = include_str!("fixtures/cyclone_sedp_pub.hex");
const CYCLONE_SEDP_SUB: &str = include_str!("fixtures/cyclone_sedp_sub.hex");
const RTI_SPDP: &str = include_str!("fixtures/rti_spdp.hex");
const RTI_SEDP_PUB: &str = include_str!("fixtures/rti_sedp_pub.hex");

#[test]
fn cyclone_spdp() {
    let p = ParticipantData::decode(&hex(CYCLONE_SPDP)).unwrap();
    assert_eq!(p.vendor_id, VendorId::CYCLONE);
    assert_eq!(p.guid_prefix, prefix("01106662089d55121f867527"));
    assert_eq!(p.protocol_version, ProtocolVersion::V2_5);
    assert_eq!(p.domain_id, Some(0));
    assert_eq!(p.domain_tag, "");
    // SPDP, SEDP pub/sub, PMD and the four TypeLookup endpoints.
    assert_eq!(p.builtin_endpoints, 0x0000_fc3f);
    assert_ne!(p.builtin_endpoints & be::PARTICIPANT_MESSAGE_WRITER, 0);
    assert_eq!(p.builtin_endpoints & be::TOPICS_ANNOUNCER, 0);
    assert_eq!(p.metatraffic_unicast_locators, vec![lo(7410)]);
    assert_eq!(p.default_unicast_locators, vec![lo(7411)]);
    // AllowMulticast=spdp: no multicast locators advertised.
    assert!(p.metatraffic_multicast_locators.is_empty());
    assert!(p.default_multicast_locators.is_empty());
    assert_eq!(p.lease_duration, secs(10));
    assert_eq!(p.entity_name, None);
    let names: Vec<&str> = p.properties.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["__ProcessName", "__Pid", "__Hostname"]);
    assert_eq!(p.properties[0].1, "python3");
    assert!(!p.expects_inline_qos);
}

#[test]
fn cyclone_sedp_publication() {
    let d = EndpointData::decode(&hex(CYCLONE_SEDP_PUB), VendorId::CYCLONE, true, None).unwrap();
    let pre = prefix("01106662089d55121f867527");
    assert_eq!(d.guid, Guid::new(pre, EntityId([0, 0, 2, 0x02])));
    // Cyclone sends no PARTICIPANT_GUID in SEDP: derived from the endpoint prefix.
    assert_eq!(d.participant_guid, Guid::new(pre, EntityId::PARTICIPANT));
    assert_eq!(d.vendor_id, VendorId::CYCLONE);
    assert_eq!(d.topic_name, "Square");
    assert_eq!(d.type_name, "ShapeType");
    // Reliable with 100 ms equals the writer default, so Cyclone omitted it.
    assert_eq!(d.qos.reliability.kind, ReliabilityKind::Reliable);
    assert_eq!(d.qos.reliability.max_blocking_time, Duration::from_millis(100));
    assert_eq!(d.qos.durability, DurabilityKind::TransientLocal);
    assert_eq!(d.qos.history, History::KeepLast(1));
    assert_eq!(d.qos.data_representation, vec![XCDR2]);
    let ti = d.type_information.as_ref().expect("Cyclone sends TYPE_INFORMATION");
    assert_eq!(ti.len(), 100);
    // XCDR2 mutable struct: DHEADER, then member 0x1001 (minimal) with EMHEADER M flag set.
    assert_eq!(&ti[..8], &[0x60, 0, 0, 0, 0x01, 0x10, 0x00, 0x40]);
    assert!(d.unicast_locators.is_empty());
    assert!(!d.requests_keyhash);
    // Everything not sent is the writer default.
    let expected = EndpointQos {
        durability: DurabilityKind::TransientLocal,
        data_representation: vec![XCDR2],
        ..EndpointQos::writer_default()
    };
    assert_eq!(d.qos, expected);
}

#[test]
fn cyclone_sedp_subscription() {
    let d = EndpointData::decode(&hex(CYCLONE_SEDP_SUB), VendorId::CYCLONE, false, None).unwrap();
    let pre = prefix("0110f1c4f832ac2164aeb93e");
    assert_eq!(d.guid, Guid::new(pre, EntityId([0, 0, 2, 0x07])));
    assert_eq!(d.participant_guid, Guid::new(pre, EntityId::PARTICIPANT));
    assert_eq!(d.topic_name, "Square");
    assert_eq!(d.type_name, "ShapeType");
    assert_eq!(d.qos.reliability.kind, ReliabilityKind::BestEffort);
    assert_eq!(d.qos.reliability.max_blocking_time, Duration::ZERO);
    assert_eq!(d.qos.durability, DurabilityKind::Volatile);
    assert_eq!(d.qos.history, History::KeepLast(5));
    // A Cyclone 11 reader accepts both representations, XCDR2 first.
    assert_eq!(d.qos.data_representation, vec![XCDR2, XCDR1]);
    assert!(d.type_information.is_some());
    assert!(!d.expects_inline_qos);
}

#[test]
fn rti_spdp() {
    let p = ParticipantData::decode(&hex(RTI_SPDP)).unwrap();
    assert_eq!(p.vendor_id, VendorId::RTI);
    assert_eq!(p.guid_prefix, prefix("01013ece9e7a19ae3a806806"));
    // Connext 6.1.2 advertises RTPS 2.3.
    assert_eq!(p.protocol_version, ProtocolVersion { major: 2, minor: 3 });
    assert_eq!(p.domain_id, Some(0));
    // No TypeLookup endpoints, no topics endpoints.
    assert_eq!(p.builtin_endpoints, 0x0000_0c3f);
    // RTI's shared-memory locator kind (0x01000000) is kept next to UDPv4.
    assert_eq!(p.metatraffic_unicast_locators.len(), 2);
    assert_eq!(p.metatraffic_unicast_locators[0], lo(7414));
    assert_eq!(p.metatraffic_unicast_locators[1].kind, 0x0100_0000);
    assert_eq!(p.metatraffic_unicast_locators[1].port, 7414);
    assert_eq!(p.default_unicast_locators[0], lo(7415));
    assert_eq!(p.default_unicast_locators[1].kind, 0x0100_0000);
    assert_eq!(p.metatraffic_multicast_locators, vec![Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)]);
    assert!(p.default_multicast_locators.is_empty());
    // RTI's default participant lease is the spec's 100 s.
    assert_eq!(p.lease_duration, secs(100));
    assert_eq!(p.entity_name.as_deref(), Some("Pub"));
    assert_eq!(p.properties.len(), 6);
    assert_eq!(p.properties[0].0, "dds.sys_info.hostname");
    assert!(p.properties.iter().any(|(n, _)| n == "dds.sys_info.process_id"));
}

#[test]
fn rti_sedp_publication() {
    let d = EndpointData::decode(&hex(RTI_SEDP_PUB), VendorId::RTI, true, None).unwrap();
    let pre = prefix("01013ece9e7a19ae3a806806");
    assert_eq!(d.guid, Guid::new(pre, EntityId([0x80, 0, 0, 0x02])));
    assert_eq!(d.participant_guid, Guid::new(pre, EntityId::PARTICIPANT));
    assert_eq!(d.vendor_id, VendorId::RTI);
    assert_eq!(d.topic_name, "Square");
    assert_eq!(d.type_name, "ShapeType");
    // StrictReliable: reliable, max_blocking_time 5 s.
    assert_eq!(d.qos.reliability.kind, ReliabilityKind::Reliable);
    assert_eq!(d.qos.reliability.max_blocking_time, secs(5));
    assert_eq!(d.qos.durability, DurabilityKind::Volatile);
    // RTI does not announce HISTORY or DATA_REPRESENTATION: defaults apply.
    assert_eq!(d.qos.history, History::KeepLast(1));
    assert_eq!(d.qos.data_representation, vec![XCDR1]);
    // No XTypes 1.3 TypeInformation (RTI sends its own compressed TypeObject, PID 0x8021).
    assert_eq!(d.type_information, None);
    assert_eq!(d.entity_name.as_deref(), Some("W"));
    assert!(d.unicast_locators.is_empty());
}

#[test]
fn fixtures_identify_their_key() {
    // The full SPDP/SEDP payloads also work as (over-complete) key payloads.
    assert_eq!(key_guid(&hex(RTI_SPDP)), Some(Guid::new(prefix("01013ece9e7a19ae3a806806"), EntityId::PARTICIPANT)));
    let pub_guid = Guid::new(prefix("01106662089d55121f867527"), EntityId([0, 0, 2, 0x02]));
    assert_eq!(key_guid(&hex(CYCLONE_SEDP_PUB)), Some(pub_guid));
}

#[test]
fn fixtures_survive_truncation() {
    for f in [CYCLONE_SPDP, CYCLONE_SEDP_PUB, CYCLONE_SEDP_SUB, RTI_SPDP, RTI_SEDP_PUB] {
        let b = hex(f);
        for n in 0..b.len() {
            assert!(ParticipantData::decode(&b[..n]).is_err());
            assert!(EndpointData::decode(&b[..n], VendorId::UNKNOWN, true, None).is_err());
            let _ = key_guid(&b[..n]);
        }
    }
}
