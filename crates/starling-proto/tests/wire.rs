//! Wire codec tests: round trips, hand-built big-endian submessages, framing rules and robustness.

use proptest::prelude::*;
use starling_proto::wire::submessage::{id, Submessage};
use starling_proto::wire::*;
use std::net::Ipv4Addr;

const R: EntityId = EntityId([0, 0, 0x12, 0x07]);
const W: EntityId = EntityId([0, 0, 0x12, 0x02]);

fn header() -> Header {
    Header { version: ProtocolVersion::V2_5, vendor_id: VendorId::STARLING, guid_prefix: GuidPrefix([9; 12]) }
}

/// Encodes with `enc`, checks the submessage framing, decodes the body again with `Submessage::decode`.
fn roundtrip(enc: impl Fn(&mut Vec<u8>)) -> (Vec<u8>, Submessage<'static>) {
    let mut buf = Vec::new();
    enc(&mut buf);
    assert_eq!(buf.len() % 4, 0, "submessage padded to 4");
    assert_eq!(buf[1] & 1, 1, "E flag set");
    let len = u16::from_le_bytes([buf[2], buf[3]]) as usize;
    assert_eq!(len, buf.len() - 4, "octetsToNextHeader");
    let leaked: &'static [u8] = Box::leak(buf.clone().into_boxed_slice());
    let sub = Submessage::decode(leaked[0], leaked[1], &leaked[4..]).expect("decodes");
    (buf, sub)
}

fn sample_qos() -> Vec<u8> {
    let mut q = Vec::new();
    let mut w = ParameterListWriter::new(&mut q, Endian::Little);
    w.raw(pid::KEY_HASH, &[0xab; 16]);
    w.param(pid::STATUS_INFO, |w| w.bytes(&[0, 0, 0, 3]));
    w.finish();
    q
}

#[test]
fn data_roundtrip_with_inline_qos_and_payload() {
    let q = sample_qos();
    let payload = [0u8, 1, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    let d = Data {
        reader_id: R,
        writer_id: W,
        writer_sn: SequenceNumber(0x1_0000_0005),
        inline_qos: Some(ParameterList::new(&q, Endian::Little)),
        serialized_payload: Some(&payload),
        key_flag: false,
        non_standard_payload: false,
    };
    let (buf, sub) = roundtrip(|b| d.encode(b));
    assert_eq!(buf[0], id::DATA);
    assert_eq!(buf[1], 0x01 | 0x02 | 0x04);
    assert_eq!(u16::from_le_bytes([buf[6], buf[7]]), 16);
    assert_eq!(sub, Submessage::Data(d.clone()));
    let Submessage::Data(back) = sub else { unreachable!() };
    let qos = back.inline_qos.unwrap();
    assert_eq!(qos.find(pid::KEY_HASH), Some(&[0xab; 16][..]));
    assert_eq!(qos.find(pid::STATUS_INFO), Some(&[0, 0, 0, 3][..]));
}

#[test]
fn data_flag_variants_roundtrip() {
    let key = [0u8, 1, 0, 0, 1, 2, 3, 4];
    for (payload, key_flag, n) in [(None, false, false), (Some(&key[..]), true, false), (Some(&key[..]), false, true)] {
        let d = Data {
            reader_id: EntityId::UNKNOWN,
            writer_id: W,
            writer_sn: SequenceNumber(1),
            inline_qos: None,
            serialized_payload: payload,
            key_flag,
            non_standard_payload: n,
        };
        let (_, sub) = roundtrip(|b| d.encode(b));
        assert_eq!(sub, Submessage::Data(d));
    }
}

#[test]
fn data_with_larger_octets_to_inline_qos_skips_extra_bytes() {
    // BE DATA, D flag, octetsToInlineQos = 24 (8 extra bytes).
    let mut body = vec![0, 0, 0, 24];
    body.extend_from_slice(&R.0);
    body.extend_from_slice(&W.0);
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
    body.extend_from_slice(&[0xee; 8]);
    body.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4]);
    let d = Data::decode(0x04, &body).unwrap();
    assert_eq!(d.writer_sn, SequenceNumber(7));
    assert_eq!(d.serialized_payload, Some(&[0, 0, 0, 0, 1, 2, 3, 4][..]));
    assert!(!d.key_flag);

    // octetsToInlineQos pointing outside the body or into the fixed fields is invalid.
    let mut bad = body.clone();
    bad[3] = 200;
    assert!(Data::decode(0x04, &bad).is_err());
    bad[3] = 12;
    assert!(Data::decode(0x04, &bad).is_err());
}

#[test]
fn data_big_endian_inline_qos() {
    let mut q = Vec::new();
    let mut w = ParameterListWriter::new(&mut q, Endian::Big);
    w.u32(pid::STATUS_INFO, 1);
    w.finish();
    let mut body = vec![0, 0, 0, 16];
    body.extend_from_slice(&R.0);
    body.extend_from_slice(&W.0);
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
    body.extend_from_slice(&q);
    body.extend_from_slice(&[0, 0, 0, 0, 9, 9, 9, 9]);
    let d = Data::decode(0x02 | 0x08, &body).unwrap();
    let qos = d.inline_qos.unwrap();
    assert_eq!(qos.endian, Endian::Big);
    assert_eq!(qos.bytes, &q[..]);
    assert_eq!(qos.find(pid::STATUS_INFO), Some(&[0, 0, 0, 1][..]));
    assert!(d.key_flag);
    assert_eq!(d.serialized_payload, Some(&[0, 0, 0, 0, 9, 9, 9, 9][..]));
}

#[test]
fn data_rejects_d_and_k_and_bad_qos() {
    let d = Data {
        reader_id: R,
        writer_id: W,
        writer_sn: SequenceNumber(1),
        inline_qos: None,
        serialized_payload: Some(&[0, 1, 0, 0]),
        key_flag: false,
        non_standard_payload: false,
    };
    let mut buf = Vec::new();
    d.encode(&mut buf);
    assert!(Data::decode(0x01 | 0x04 | 0x08, &buf[4..]).is_err());
    // Q flag set but no sentinel before the end.
    assert!(Data::decode(0x01 | 0x02 | 0x04, &buf[4..]).is_err());
}

#[test]
fn data_frag_roundtrip_and_validation() {
    let q = sample_qos();
    let data = [7u8; 20];
    let f = DataFrag {
        reader_id: R,
        writer_id: W,
        writer_sn: SequenceNumber(3),
        fragment_starting_num: 2,
        fragments_in_submessage: 2,
        fragment_size: 10,
        sample_size: 100,
        inline_qos: Some(ParameterList::new(&q, Endian::Little)),
        key_flag: true,
        data: &data,
    };
    let (buf, sub) = roundtrip(|b| f.encode(b));
    assert_eq!(buf[1], 0x01 | 0x02 | 0x04);
    assert_eq!(u16::from_le_bytes([buf[6], buf[7]]), 28);
    assert_eq!(sub, Submessage::DataFrag(f.clone()));

    // Last fragment of the sample is short; the padding after it is cut off.
    let last = [5u8; 3];
    let f2 = DataFrag { fragment_starting_num: 10, fragments_in_submessage: 1, sample_size: 93, data: &last, ..f };
    let (_, sub) = roundtrip(|b| f2.encode(b));
    assert_eq!(sub, Submessage::DataFrag(f2.clone()));

    let body = |f: &DataFrag<'_>| {
        let mut b = Vec::new();
        f.encode(&mut b);
        b.split_off(4)
    };
    let flags = 0x01 | 0x02 | 0x04;
    assert!(DataFrag::decode(flags, &body(&DataFrag { fragment_starting_num: 0, ..f2.clone() })).is_err());
    assert!(DataFrag::decode(flags, &body(&DataFrag { fragment_size: 0, ..f2.clone() })).is_err());
    assert!(DataFrag::decode(flags, &body(&DataFrag { fragments_in_submessage: 0, ..f2.clone() })).is_err());
    assert!(DataFrag::decode(flags, &body(&DataFrag { sample_size: 90, ..f2.clone() })).is_err());
    assert!(DataFrag::decode(flags, &body(&DataFrag { fragment_starting_num: u32::MAX, ..f2.clone() })).is_err());
    // Fewer bytes than the fragments need.
    let b = body(&f);
    assert!(matches!(DataFrag::decode(flags, &b[..b.len() - 1]), Err(DecodeError::Truncated { .. })));
}

#[test]
fn heartbeat_roundtrip() {
    let hb = Heartbeat {
        reader_id: R,
        writer_id: W,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(0x7_0000_0001),
        count: 42,
        final_flag: true,
        liveliness_flag: true,
    };
    let (buf, sub) = roundtrip(|b| hb.encode(b));
    assert_eq!(buf.len(), 32);
    assert_eq!(buf[1], 0x07);
    assert_eq!(sub, Submessage::Heartbeat(hb));
}

#[test]
fn heartbeat_big_endian_by_hand() {
    let mut m = Vec::new();
    header().encode(&mut m);
    m.extend_from_slice(&[0x07, 0x02, 0x00, 0x1c]); // HEARTBEAT, F, BE, length 28
    m.extend_from_slice(&R.0);
    m.extend_from_slice(&W.0);
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // firstSN 1
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // lastSN 2^32 + 2
    m.extend_from_slice(&[0, 0, 0, 5]); // count
    let (h, mut it) = parse(&m).unwrap();
    assert_eq!(h, header());
    let Some(Ok(Submessage::Heartbeat(hb))) = it.next() else { panic!("heartbeat expected") };
    assert_eq!(
        hb,
        Heartbeat {
            reader_id: R,
            writer_id: W,
            first_sn: SequenceNumber(1),
            last_sn: SequenceNumber((1 << 32) + 2),
            count: 5,
            final_flag: true,
            liveliness_flag: false,
        }
    );
    assert!(it.next().is_none());
}

#[test]
fn heartbeat_ignores_trailing_group_info() {
    let mut body = Vec::new();
    body.extend_from_slice(&R.0);
    body.extend_from_slice(&W.0);
    body.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
    body.extend_from_slice(&[0, 0, 0, 0, 9, 0, 0, 0]);
    body.extend_from_slice(&[3, 0, 0, 0]);
    body.extend_from_slice(&[0xaa; 16]);
    let hb = Heartbeat::decode(0x01, &body).unwrap();
    assert_eq!(hb.first_sn, SequenceNumber((1 << 32) + 1));
    assert_eq!(hb.last_sn, SequenceNumber(9));
    assert_eq!(hb.count, 3);
}

#[test]
fn acknack_big_endian_two_word_bitmap_by_hand() {
    let mut m = Vec::new();
    header().encode(&mut m);
    m.extend_from_slice(&[0x06, 0x02, 0x00, 0x20]); // ACKNACK, F, BE, length 32
    m.extend_from_slice(&R.0);
    m.extend_from_slice(&W.0);
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]); // bitmapBase 5
    m.extend_from_slice(&[0, 0, 0, 40]); // numBits 40 → 2 words
    m.extend_from_slice(&[0x80, 0, 0, 0x01]); // bits 0 and 31: SN 5, 36
    m.extend_from_slice(&[0x40, 0, 0, 0]); // bit 33: SN 38
    m.extend_from_slice(&[0, 0, 0, 9]); // count
    let (_, mut it) = parse(&m).unwrap();
    let Some(Ok(Submessage::AckNack(an))) = it.next() else { panic!("acknack expected") };
    assert!(it.next().is_none());
    assert_eq!(an.reader_id, R);
    assert_eq!(an.writer_id, W);
    assert!(an.final_flag);
    assert_eq!(an.count, 9);
    assert_eq!(an.reader_sn_state.base, SequenceNumber(5));
    assert_eq!(an.reader_sn_state.num_bits, 40);
    let sns: Vec<i64> = an.reader_sn_state.iter().map(|s| s.0).collect();
    assert_eq!(sns, vec![5, 36, 38]);
    // And back: the LE encoding decodes to the same value.
    let (_, sub) = roundtrip(|b| an.encode(b));
    assert_eq!(sub, Submessage::AckNack(an));
}

#[test]
fn acknack_preemptive_base_zero() {
    let an = AckNack {
        reader_id: R,
        writer_id: W,
        reader_sn_state: SequenceNumberSet::new(SequenceNumber(0)),
        count: 1,
        final_flag: false,
    };
    let (buf, sub) = roundtrip(|b| an.encode(b));
    assert_eq!(buf.len(), 28);
    assert_eq!(sub, Submessage::AckNack(an));
}

#[test]
fn acknack_rejects_too_many_bits() {
    let mut body = Vec::new();
    body.extend_from_slice(&R.0);
    body.extend_from_slice(&W.0);
    body.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    body.extend_from_slice(&257u32.to_le_bytes());
    body.extend_from_slice(&[0; 40]);
    assert!(AckNack::decode(0x01, &body).is_err());
}

#[test]
fn nack_frag_and_heartbeat_frag_roundtrip() {
    let mut set = FragmentNumberSet::new(3);
    set.insert(3);
    set.insert(70);
    let nf =
        NackFrag { reader_id: R, writer_id: W, writer_sn: SequenceNumber(8), fragment_number_state: set, count: 4 };
    let (buf, sub) = roundtrip(|b| nf.encode(b));
    assert_eq!(buf.len(), 4 + 16 + 8 + 12 + 4);
    assert_eq!(sub, Submessage::NackFrag(nf));

    let hf =
        HeartbeatFrag { reader_id: R, writer_id: W, writer_sn: SequenceNumber(8), last_fragment_num: 12, count: 2 };
    let (buf, sub) = roundtrip(|b| hf.encode(b));
    assert_eq!(buf.len(), 28);
    assert_eq!(sub, Submessage::HeartbeatFrag(hf));
}

#[test]
fn gap_roundtrip() {
    let mut list = SequenceNumberSet::new(SequenceNumber(10));
    list.insert(SequenceNumber(12));
    let g = Gap { reader_id: R, writer_id: W, gap_start: SequenceNumber(4), gap_list: list };
    let (_, sub) = roundtrip(|b| g.encode(b));
    assert_eq!(sub, Submessage::Gap(g));
}

#[test]
fn info_submessages_roundtrip() {
    for t in [None, Some(Time { seconds: 1_700_000_000, fraction: 0x8000_0000 })] {
        let ts = InfoTs { timestamp: t };
        let (buf, sub) = roundtrip(|b| ts.encode(b));
        assert_eq!(buf.len(), if t.is_some() { 12 } else { 4 });
        assert_eq!(sub, Submessage::InfoTs(ts));
    }
    let dst = InfoDst { guid_prefix: GuidPrefix([3; 12]) };
    let (buf, sub) = roundtrip(|b| dst.encode(b));
    assert_eq!(buf.len(), 16);
    assert_eq!(sub, Submessage::InfoDst(dst));

    let src = InfoSrc {
        protocol_version: ProtocolVersion { major: 2, minor: 4 },
        vendor_id: VendorId::FASTDDS,
        guid_prefix: GuidPrefix([4; 12]),
    };
    let (buf, sub) = roundtrip(|b| src.encode(b));
    assert_eq!(buf.len(), 24);
    assert_eq!(sub, Submessage::InfoSrc(src));

    for multicast in [vec![], vec![Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)]] {
        let reply = InfoReply {
            unicast_locators: vec![
                Locator::udpv4(Ipv4Addr::new(10, 0, 0, 1), 7410),
                Locator::udpv6("fe80::1".parse().unwrap(), 7411),
            ],
            multicast_locators: multicast,
        };
        let (_, sub) = roundtrip(|b| reply.encode(b));
        assert_eq!(sub, Submessage::InfoReply(reply));
    }

    for multicast in [None, Some(Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7401))] {
        let r4 = InfoReplyIp4 { unicast: Locator::udpv4(Ipv4Addr::new(192, 168, 1, 2), 7411), multicast };
        let (buf, sub) = roundtrip(|b| r4.encode(b));
        assert_eq!(buf.len(), if multicast.is_some() { 20 } else { 12 });
        assert_eq!(&buf[4..8], &u32::from(Ipv4Addr::new(192, 168, 1, 2)).to_le_bytes());
        assert_eq!(sub, Submessage::InfoReplyIp4(r4));
    }

    let (buf, sub) = roundtrip(|b| Pad.encode(b));
    assert_eq!(buf, [id::PAD, 0x01, 0, 0]);
    assert_eq!(sub, Submessage::Pad);
}

#[test]
fn info_reply_ip4_big_endian_by_hand() {
    let body = [192, 168, 1, 2, 0, 0, 0x1c, 0xf3, 239, 255, 0, 1, 0, 0, 0x1c, 0xe8];
    let r = InfoReplyIp4::decode(0x02, &body).unwrap();
    assert_eq!(r.unicast, Locator::udpv4(Ipv4Addr::new(192, 168, 1, 2), 7411));
    assert_eq!(r.multicast, Some(Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)));
}

#[test]
fn info_reply_huge_count_is_rejected_before_allocating() {
    let mut body = u32::MAX.to_le_bytes().to_vec();
    body.extend_from_slice(&[0; 24]);
    assert!(InfoReply::decode(0x01, &body).is_err());
    let mut body = 2u32.to_le_bytes().to_vec();
    body.extend_from_slice(&[0; 24]);
    assert!(matches!(InfoReply::decode(0x01, &body), Err(DecodeError::Truncated { .. })));
}

#[test]
fn truncated_fixed_size_submessages_are_errors() {
    let mut all = Vec::new();
    Heartbeat {
        reader_id: R,
        writer_id: W,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(2),
        count: 1,
        final_flag: false,
        liveliness_flag: false,
    }
    .encode(&mut all);
    let mut set = SequenceNumberSet::new(SequenceNumber(1));
    set.insert(SequenceNumber(40));
    AckNack { reader_id: R, writer_id: W, reader_sn_state: set, count: 1, final_flag: false }.encode(&mut all);
    Gap { reader_id: R, writer_id: W, gap_start: SequenceNumber(1), gap_list: set }.encode(&mut all);
    NackFrag {
        reader_id: R,
        writer_id: W,
        writer_sn: SequenceNumber(1),
        fragment_number_state: FragmentNumberSet::new(1),
        count: 1,
    }
    .encode(&mut all);
    HeartbeatFrag { reader_id: R, writer_id: W, writer_sn: SequenceNumber(1), last_fragment_num: 1, count: 1 }
        .encode(&mut all);
    InfoTs { timestamp: Some(Time::ZERO) }.encode(&mut all);
    InfoDst { guid_prefix: GuidPrefix([1; 12]) }.encode(&mut all);
    InfoSrc { protocol_version: ProtocolVersion::V2_5, vendor_id: VendorId::RTI, guid_prefix: GuidPrefix([1; 12]) }
        .encode(&mut all);
    InfoReplyIp4 { unicast: Locator::udpv4(Ipv4Addr::LOCALHOST, 1), multicast: None }.encode(&mut all);
    Data {
        reader_id: R,
        writer_id: W,
        writer_sn: SequenceNumber(1),
        inline_qos: None,
        serialized_payload: None,
        key_flag: false,
        non_standard_payload: false,
    }
    .encode(&mut all);

    let mut rest = &all[..];
    let mut n = 0;
    while !rest.is_empty() {
        let (sub_id, flags) = (rest[0], rest[1]);
        let len = u16::from_le_bytes([rest[2], rest[3]]) as usize;
        let body = &rest[4..4 + len];
        assert!(Submessage::decode(sub_id, flags, body).is_ok());
        for cut in 0..len {
            assert!(Submessage::decode(sub_id, flags, &body[..cut]).is_err(), "id {sub_id:#x} cut at {cut}");
        }
        rest = &rest[4 + len..];
        n += 1;
    }
    assert_eq!(n, 10);

    // The same submessages in one message, cut anywhere inside a submessage: an error, then the end.
    let mut m = Vec::new();
    header().encode(&mut m);
    m.extend_from_slice(&all);
    let (_, it) = parse(&m).unwrap();
    assert_eq!(it.filter(Result::is_ok).count(), 10);
    for cut in Header::LEN + 1..m.len() {
        let (_, it) = parse(&m[..cut]).unwrap();
        let items: Vec<_> = it.collect();
        if cut % 4 != 0 || !items.iter().all(Result::is_ok) {
            assert!(items.last().unwrap().is_err(), "cut at {cut}");
            assert!(items[..items.len() - 1].iter().all(Result::is_ok));
        }
    }
}

#[test]
fn header_errors() {
    assert_eq!(parse(b"RTPX\x02\x05\x01\x01abcdefghijkl").unwrap_err(), DecodeError::NotRtps);
    assert_eq!(parse(b"RTPS\x02\x05\x01\x01\x00DDSPING").unwrap_err(), DecodeError::NotRtps);
    assert_eq!(parse(b"RTPS\x01\x00\x01\x01abcdefghijkl").unwrap_err(), DecodeError::UnsupportedVersion(1, 0));
    let (h, mut it) = parse(b"RTPS\x02\x01\x01\x01abcdefghijkl").unwrap();
    assert_eq!(h.version, ProtocolVersion { major: 2, minor: 1 });
    assert!(it.next().is_none());
}

fn message(subs: &[&[u8]]) -> &'static [u8] {
    let mut m = Vec::new();
    header().encode(&mut m);
    for s in subs {
        m.extend_from_slice(s);
    }
    Box::leak(m.into_boxed_slice())
}

fn infodst_le() -> Vec<u8> {
    let mut b = Vec::new();
    InfoDst { guid_prefix: GuidPrefix([5; 12]) }.encode(&mut b);
    b
}

#[test]
fn framing_rules() {
    let dst = infodst_le();
    // PAD and INFO_TS with length 0 have empty bodies; unknown ids are skipped by length (BE length here).
    let m = message(&[
        &[id::PAD, 0x00, 0, 0],
        &[id::INFO_TS, 0x03, 0, 0],
        &[0x00, 0x00, 0, 4, 1, 2, 3, 4],
        &[0x31, 0x01, 4, 0, 1, 2, 3, 4],
        &[0x81, 0x01, 0, 0],
        &dst,
    ]);
    let subs: Vec<_> = parse(m).unwrap().1.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        subs,
        vec![
            Submessage::Pad,
            Submessage::InfoTs(InfoTs { timestamp: None }),
            Submessage::Unknown { id: 0x00, flags: 0x00 },
            Submessage::Unknown { id: 0x31, flags: 0x01 },
            // Length 0 for a vendor submessage: it runs to the end and swallows the INFO_DST.
            Submessage::Unknown { id: 0x81, flags: 0x01 },
        ]
    );

    // Length 0 on an INFO_DST: body runs to the end of the message.
    let mut dst0 = dst.clone();
    dst0[2] = 0;
    let subs: Vec<_> = parse(message(&[&dst0])).unwrap().1.collect();
    assert_eq!(subs, vec![Ok(Submessage::InfoDst(InfoDst { guid_prefix: GuidPrefix([5; 12]) }))]);

    // A length that is not a multiple of 4 is accepted only when it runs exactly to the end.
    let odd = [0x80, 0x01, 3, 0, 1, 2, 3];
    let subs: Vec<_> = parse(message(&[&dst, &odd])).unwrap().1.collect();
    assert_eq!(subs.len(), 2);
    assert!(subs.iter().all(Result::is_ok));
    let subs: Vec<_> = parse(message(&[&odd, &[0], &dst])).unwrap().1.collect();
    assert_eq!(subs.len(), 1);
    assert!(subs[0].is_err());

    // A length past the end is an error and ends the iteration.
    let mut long = dst.clone();
    long[2] = 20;
    let mut it = parse(message(&[&dst, &long])).unwrap().1;
    assert!(it.next().unwrap().is_ok());
    assert!(matches!(it.next(), Some(Err(DecodeError::Truncated { .. }))));
    assert!(it.next().is_none());

    // Trailing bytes too short for a submessage header.
    let subs: Vec<_> = parse(message(&[&dst, &[0, 0]])).unwrap().1.collect();
    assert_eq!(subs.len(), 2);
    assert!(subs[1].is_err());

    // A submessage whose body does not decode ends the iteration too.
    let subs: Vec<_> = parse(message(&[&[id::INFO_TS, 0x01, 0, 0], &dst])).unwrap().1.collect();
    assert_eq!(subs.len(), 1);
    assert!(subs[0].is_err());
}

#[test]
fn message_builder() {
    let hb = Heartbeat {
        reader_id: EntityId::UNKNOWN,
        writer_id: W,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(3),
        count: 7,
        final_flag: false,
        liveliness_flag: false,
    };
    let mut b = MessageBuilder::new(header());
    assert_eq!(b.len(), Header::LEN);
    assert!(!b.has_submessages());
    b.info_dst(GuidPrefix([1; 12]));
    b.info_ts(Some(Time { seconds: 5, fraction: 6 }));
    hb.encode(b.buf_mut());
    assert!(b.has_submessages());
    assert_eq!(b.len(), 20 + 16 + 12 + 32);
    let bytes = b.finish();
    let (h, it) = parse(&bytes).unwrap();
    assert_eq!(h, header());
    let subs: Vec<_> = it.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        subs,
        vec![
            Submessage::InfoDst(InfoDst { guid_prefix: GuidPrefix([1; 12]) }),
            Submessage::InfoTs(InfoTs { timestamp: Some(Time { seconds: 5, fraction: 6 }) }),
            Submessage::Heartbeat(hb),
        ]
    );

    let cap = bytes.capacity();
    let mut b = MessageBuilder::with_buffer(bytes, header());
    assert_eq!(b.len(), Header::LEN);
    b.info_ts(None);
    let bytes = b.finish();
    assert_eq!(bytes.capacity(), cap);
    assert_eq!(parse(&bytes).unwrap().1.collect::<Vec<_>>(), vec![Ok(Submessage::InfoTs(InfoTs { timestamp: None }))]);
}

fn walk(datagram: &[u8]) {
    if let Ok((_, it)) = parse(datagram) {
        let mut n = 0usize;
        for sub in it {
            n += 1;
            assert!(n <= datagram.len() / 4 + 1, "iteration must terminate");
            let qos = match sub {
                Ok(Submessage::Data(d)) => d.inline_qos,
                Ok(Submessage::DataFrag(d)) => d.inline_qos,
                _ => None,
            };
            if let Some(q) = qos {
                for p in q.iter() {
                    let _ = p;
                }
            }
        }
    }
}

fn arb_sn() -> impl Strategy<Value = SequenceNumber> {
    any::<i64>().prop_map(SequenceNumber)
}

fn arb_entity() -> impl Strategy<Value = EntityId> {
    any::<[u8; 4]>().prop_map(EntityId)
}

fn arb_sn_set() -> impl Strategy<Value = SequenceNumberSet> {
    (arb_sn(), 0u32..=256, any::<[u32; 8]>()).prop_map(|(base, num_bits, mut bitmap)| {
        for w in bitmap.iter_mut().skip(num_bits.div_ceil(32) as usize) {
            *w = 0;
        }
        SequenceNumberSet { base, num_bits, bitmap }
    })
}

proptest! {
    #[test]
    fn parse_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        walk(&bytes);
    }

    #[test]
    fn parse_arbitrary_submessages_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut m = Vec::new();
        header().encode(&mut m);
        m.extend_from_slice(&bytes);
        walk(&m);
    }

    #[test]
    fn parse_arbitrary_bodies_of_known_ids_never_panics(
        sub_id in prop::sample::select(vec![0x01u8, 0x06, 0x07, 0x08, 0x09, 0x0c, 0x0d, 0x0e, 0x0f, 0x12, 0x13, 0x15, 0x16]),
        flags in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Submessage::decode(sub_id, flags, &body);
        let mut m = Vec::new();
        header().encode(&mut m);
        m.extend_from_slice(&[sub_id, flags, 0, 0]);
        m.extend_from_slice(&body);
        walk(&m);
    }

    #[test]
    fn heartbeat_roundtrip_any(
        reader_id in arb_entity(), writer_id in arb_entity(), first_sn in arb_sn(), last_sn in arb_sn(),
        count in any::<u32>(), final_flag in any::<bool>(), liveliness_flag in any::<bool>(),
    ) {
        let hb = Heartbeat { reader_id, writer_id, first_sn, last_sn, count, final_flag, liveliness_flag };
        let mut b = Vec::new();
        hb.encode(&mut b);
        prop_assert_eq!(Heartbeat::decode(b[1], &b[4..]).unwrap(), hb);
    }

    #[test]
    fn acknack_roundtrip_any(
        reader_id in arb_entity(), writer_id in arb_entity(), set in arb_sn_set(), count in any::<u32>(),
        final_flag in any::<bool>(),
    ) {
        let an = AckNack { reader_id, writer_id, reader_sn_state: set, count, final_flag };
        let mut b = MessageBuilder::new(header());
        an.encode(b.buf_mut());
        let bytes = b.finish();
        let subs: Vec<_> = parse(&bytes).unwrap().1.collect();
        prop_assert_eq!(subs, vec![Ok(Submessage::AckNack(an))]);
    }

    #[test]
    fn gap_roundtrip_any(
        reader_id in arb_entity(), writer_id in arb_entity(), gap_start in arb_sn(), gap_list in arb_sn_set(),
    ) {
        let g = Gap { reader_id, writer_id, gap_start, gap_list };
        let mut b = Vec::new();
        g.encode(&mut b);
        prop_assert_eq!(Gap::decode(b[1], &b[4..]).unwrap(), g);
    }
}
