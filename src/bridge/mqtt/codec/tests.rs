use super::*;

const MAX: usize = 1 << 20;

fn props_full_publish() -> Properties {
    Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        content_type: Some("text/plain".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(Bytes::from_static(b"\x01\x02")),
        subscription_identifiers: vec![1, 300, 70000],
        topic_alias: Some(3),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        ..Properties::default()
    }
}

fn all_packets(v: Version) -> Vec<Packet> {
    let five = v == Version::V5;
    let p = |x: Properties| if five { x } else { Properties::default() };
    let will_props =
        Properties { will_delay_interval: Some(5), content_type: Some("a".into()), ..Properties::default() };
    let connect_props = Properties {
        session_expiry_interval: Some(100),
        receive_maximum: Some(10),
        maximum_packet_size: Some(1000),
        topic_alias_maximum: Some(5),
        request_response_information: Some(1),
        request_problem_information: Some(0),
        user_properties: vec![("a".into(), "b".into())],
        authentication_method: Some("m".into()),
        authentication_data: Some(Bytes::from_static(b"d")),
        ..Properties::default()
    };
    let connack_props = Properties {
        session_expiry_interval: Some(1),
        receive_maximum: Some(2),
        maximum_qos: Some(1),
        retain_available: Some(0),
        maximum_packet_size: Some(3),
        assigned_client_identifier: Some("id".into()),
        topic_alias_maximum: Some(4),
        reason_string: Some("r".into()),
        wildcard_subscription_available: Some(1),
        subscription_identifier_available: Some(1),
        shared_subscription_available: Some(0),
        server_keep_alive: Some(30),
        response_information: Some("ri".into()),
        server_reference: Some("other".into()),
        authentication_method: Some("m".into()),
        authentication_data: Some(Bytes::from_static(b"x")),
        ..Properties::default()
    };
    let reason = |c: u8| if five { ReasonCode(c) } else { ReasonCode::SUCCESS };
    let rs = Properties { reason_string: Some("why".into()), ..Properties::default() };
    let mut out = vec![
        Packet::Connect(Box::new(Connect {
            version: v,
            client_id: "c1".into(),
            clean_start: true,
            keep_alive: 30,
            properties: p(connect_props),
            will: Some(LastWill {
                topic: "will/t".into(),
                payload: Bytes::from_static(b"bye"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: p(will_props),
            }),
            username: Some("u".into()),
            password: Some(Bytes::from_static(b"pw")),
        })),
        Packet::Connect(Box::new(Connect {
            version: v,
            client_id: String::new(),
            clean_start: false,
            keep_alive: 0,
            properties: Properties::default(),
            will: None,
            username: None,
            password: None,
        })),
        Packet::ConnAck(ConnAck { session_present: true, code: ReasonCode::SUCCESS, properties: p(connack_props) }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: ReasonCode(if five { 0x86 } else { 4 }),
            properties: Properties::default(),
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: "a/b".into(),
            pkid: 0,
            properties: Properties::default(),
            payload: Bytes::from_static(b"x"),
        }),
        Packet::Publish(Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "a/b/é".into(),
            pkid: 7,
            properties: p(props_full_publish()),
            payload: Bytes::from(vec![0u8; 300]),
        }),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Subscribe(Subscribe {
            pkid: 9,
            properties: p(Properties { subscription_identifiers: vec![42], ..Properties::default() }),
            filters: vec![
                ("a/+/c".into(), SubscriptionOptions { qos: QoS::ExactlyOnce, ..Default::default() }),
                (
                    "$share/g/x/#".into(),
                    SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: five,
                        retain_as_published: five,
                        retain_handling: if five { RetainHandling::DoNotSend } else { RetainHandling::SendAtSubscribe },
                    },
                ),
            ],
        }),
        Packet::SubAck(SubAck {
            pkid: 9,
            properties: p(rs.clone()),
            codes: vec![ReasonCode(0), ReasonCode(2), ReasonCode(0x80)],
        }),
        Packet::Unsubscribe(Unsubscribe {
            pkid: 10,
            properties: Properties::default(),
            filters: vec!["a".into(), "b/#".into()],
        }),
        Packet::UnsubAck(UnsubAck {
            pkid: 10,
            properties: p(rs.clone()),
            codes: if five { vec![ReasonCode(0), ReasonCode(0x11)] } else { vec![] },
        }),
        Packet::Disconnect(Disconnect {
            reason: reason(0x04),
            properties: p(Properties { session_expiry_interval: Some(9), ..rs.clone() }),
        }),
        Packet::Disconnect(Disconnect::new(ReasonCode::SUCCESS)),
    ];
    for (i, mk) in [Packet::PubAck, Packet::PubRec, Packet::PubRel, Packet::PubComp].into_iter().enumerate() {
        out.push(mk(PubResp::new(100 + i as u16)));
        let code = if i >= 2 { 0x92 } else { 0x10 };
        out.push(mk(PubResp { pkid: 200, reason: reason(code), properties: p(rs.clone()) }));
    }
    if five {
        out.push(Packet::Auth(Auth {
            reason: ReasonCode(0x18),
            properties: Properties { authentication_method: Some("m".into()), ..rs },
        }));
        out.push(Packet::Auth(Auth { reason: ReasonCode::SUCCESS, properties: Properties::default() }));
    }
    out
}

#[test]
fn every_packet_round_trips_in_both_versions() {
    for v in [Version::V311, Version::V5] {
        for p in all_packets(v) {
            let mut buf = BytesMut::new();
            encode(&p, v, &mut buf, MAX).unwrap();
            let bytes = buf.clone();
            // Incremental: every strict prefix is incomplete.
            for cut in 0..bytes.len() {
                let mut part = BytesMut::from(&bytes[..cut]);
                assert_eq!(decode(&mut part, Some(v), MAX), Ok(None), "{p:?} cut at {cut}");
            }
            // Two packets back to back decode one at a time.
            buf.extend_from_slice(&bytes);
            assert_eq!(decode(&mut buf, Some(v), MAX).unwrap().as_ref(), Some(&p), "{v:?}");
            assert_eq!(decode(&mut buf, Some(v), MAX).unwrap().as_ref(), Some(&p));
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn connect_decodes_before_the_version_is_known() {
    for v in [Version::V311, Version::V5] {
        let p = all_packets(v).remove(0);
        let mut buf = BytesMut::new();
        encode(&p, v, &mut buf, MAX).unwrap();
        assert_eq!(decode(&mut buf, None, MAX).unwrap(), Some(p));
    }
    let mut buf = BytesMut::from(&[0xC0u8, 0][..]);
    assert_eq!(decode(&mut buf, None, MAX), Err(DecodeError::InvalidPacketType(12)));
}

fn err(bytes: &[u8], v: Option<Version>) -> DecodeError {
    let mut b = BytesMut::from(bytes);
    decode(&mut b, v, MAX).expect_err("must fail")
}

#[test]
fn malformed_inputs_map_to_reason_codes() {
    let v5 = Some(Version::V5);
    let v3 = Some(Version::V311);
    // Remaining length with a fifth byte.
    let e = err(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], v5);
    assert_eq!(e, DecodeError::MalformedRemainingLength);
    assert_eq!(e.reason_code(), ReasonCode::MALFORMED_PACKET);
    // Reserved flags: PUBREL must be 0b0010, SUBSCRIBE too, PINGREQ 0.
    assert!(matches!(err(&[0x60, 2, 0, 1], v5), DecodeError::ReservedFlags { packet_type: 6, .. }));
    assert!(matches!(err(&[0x80, 6, 0, 1, 0, 1, b'a', 0], v3), DecodeError::ReservedFlags { .. }));
    assert_eq!(err(&[0xC1, 0], v3).reason_code(), ReasonCode::MALFORMED_PACKET);
    // QoS 3 publish; DUP on QoS 0.
    assert_eq!(err(&[0x36, 5, 0, 1, b'a', 0, 1], v3), DecodeError::InvalidQos(3));
    assert_eq!(err(&[0x38, 3, 0, 1, b'a'], v3), DecodeError::DupOnQos0);
    // Invalid UTF-8 and U+0000 in a topic.
    let e = err(&[0x30, 4, 0, 2, 0xC3, 0x28], v3);
    assert_eq!(e, DecodeError::InvalidUtf8);
    assert_eq!(e.reason_code(), ReasonCode::MALFORMED_PACKET);
    assert_eq!(err(&[0x30, 4, 0, 2, b'a', 0], v3), DecodeError::NullCharacter);
    // UTF-16 surrogate encoded in UTF-8 (ED A0 80) is not well-formed.
    assert_eq!(err(&[0x30, 5, 0, 3, 0xED, 0xA0, 0x80], v3), DecodeError::InvalidUtf8);
    // Packet id 0 on QoS 1 publish, PUBACK, SUBSCRIBE.
    let e = err(&[0x32, 5, 0, 1, b'a', 0, 0], v3);
    assert_eq!(e, DecodeError::ZeroPacketId);
    assert_eq!(e.reason_code(), ReasonCode::PROTOCOL_ERROR);
    assert_eq!(err(&[0x40, 2, 0, 0], v3), DecodeError::ZeroPacketId);
    // Wildcard in a topic name.
    assert_eq!(err(&[0x30, 3, 0, 1, b'+'], v3).reason_code(), ReasonCode::TOPIC_NAME_INVALID);
    // Oversize: refused from the fixed header alone.
    let mut b = BytesMut::from(&[0x30u8, 0xFF, 0x7F][..]);
    let e = decode(&mut b, v3, 1000).unwrap_err();
    assert_eq!(e, DecodeError::PacketTooLarge { size: 16386, max: 1000 });
    assert_eq!(e.reason_code(), ReasonCode::PACKET_TOO_LARGE);
    // Trailing bytes after PINGREQ-like fixed bodies.
    assert_eq!(err(&[0xC0, 1, 0], v3), DecodeError::TrailingBytes(1));
    // Field running past the end.
    assert_eq!(err(&[0x30, 2, 0, 5], v3), DecodeError::Truncated);
    // Packet type 0; AUTH on 3.1.1.
    assert_eq!(err(&[0x00, 0], v3), DecodeError::InvalidPacketType(0));
    assert_eq!(err(&[0xF0, 0], v3), DecodeError::InvalidPacketType(15));
    // SUBSCRIBE without filters; bad options.
    assert_eq!(err(&[0x82, 2, 0, 1], v3).reason_code(), ReasonCode::PROTOCOL_ERROR);
    assert_eq!(err(&[0x82, 6, 0, 1, 0, 1, b'a', 0x04], v3), DecodeError::InvalidSubscriptionOptions(4));
    assert_eq!(err(&[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x30], v5), DecodeError::InvalidSubscriptionOptions(0x30));
    // Properties: duplicate, not allowed for the packet, bad value.
    let e = err(&[0x30, 14, 0, 1, b'a', 10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1], v5);
    assert_eq!(e, DecodeError::DuplicateProperty(2));
    assert_eq!(e.reason_code(), ReasonCode::PROTOCOL_ERROR);
    let e = err(&[0x30, 6, 0, 1, b'a', 2, 0x11, 0], v5);
    assert!(matches!(e, DecodeError::PropertyNotAllowed { id: 0x11, .. }));
    assert_eq!(e.reason_code(), ReasonCode::MALFORMED_PACKET);
    assert_eq!(err(&[0x30, 6, 0, 1, b'a', 2, 0x01, 2], v5), DecodeError::InvalidPropertyValue(1));
    // Bad reason code in PUBACK.
    assert!(matches!(err(&[0x40, 3, 0, 1, 0x05], v5), DecodeError::InvalidReasonCode { code: 5, .. }));
}

#[test]
fn connect_validation() {
    fn connect(name: &[u8], level: u8, flags: u8) -> Vec<u8> {
        let mut b = vec![0, name.len() as u8];
        b.extend_from_slice(name);
        b.extend_from_slice(&[level, flags, 0, 10]);
        if level == 5 {
            b.push(0);
        }
        b.extend_from_slice(&[0, 1, b'c']);
        let mut out = vec![0x10, b.len() as u8];
        out.extend(b);
        out
    }
    let e = err(&connect(b"MQTT", 6, 2), None);
    assert_eq!(e.reason_code(), ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
    assert!(matches!(err(&connect(b"MQIsdp", 3, 2), None), DecodeError::UnsupportedProtocol { .. }));
    // Reserved flag bit 0.
    assert_eq!(err(&connect(b"MQTT", 4, 3), None), DecodeError::InvalidConnectFlags(3));
    // Will QoS without the will flag; password without user name in 3.1.1.
    assert_eq!(err(&connect(b"MQTT", 4, 0x08), None), DecodeError::InvalidConnectFlags(8));
    assert_eq!(err(&connect(b"MQTT", 4, 0x40), None), DecodeError::InvalidConnectFlags(0x40));
    let mut ok = BytesMut::from(&connect(b"MQTT", 5, 2)[..]);
    assert!(matches!(decode(&mut ok, None, MAX), Ok(Some(Packet::Connect(_)))));
}

#[test]
fn topic_syntax() {
    for ok in ["a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "/", "$share/g/a/#", "$SYS/#"] {
        assert!(validate_topic_filter(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a#", "a/#/b", "a+/b", "#/a", "$share/g", "$share//a", "$share/g+/a"] {
        assert!(validate_topic_filter(bad).is_err(), "{bad}");
    }
    assert!(validate_topic_name("a/b").is_ok());
    assert!(validate_topic_name("a/+").is_err());
    assert!(topic::matches("a/#", "a"));
    assert!(topic::matches("a/+", "a/b"));
    assert!(!topic::matches("a/+", "a/b/c"));
    assert!(!topic::matches("#", "$SYS/x"));
    assert!(!topic::matches("+/x", "$SYS/x"));
    assert!(topic::matches("$SYS/#", "$SYS/x"));
}

#[test]
fn encode_respects_maximum_packet_size() {
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        pkid: 0,
        properties: Properties::default(),
        payload: Bytes::from(vec![0u8; 100]),
    });
    let mut b = BytesMut::new();
    assert!(matches!(encode(&p, Version::V5, &mut b, 50), Err(EncodeError::TooLarge { .. })));
    assert!(b.is_empty());
    encode(&p, Version::V5, &mut b, 106).unwrap();
    assert_eq!(b.len(), 106);
}
