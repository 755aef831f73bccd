use super::*;

fn lim() -> Limits {
    Limits { max_frame_size: 1024, max_headers: 8, max_header_len: 64 }
}

fn dec(bytes: &[u8], v: Option<Version>) -> Result<Vec<Item>, DecodeError> {
    let mut d = Decoder::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(i) = d.decode(&mut buf, v, &lim())? {
        out.push(i);
    }
    Ok(out)
}

fn frame(bytes: &[u8], v: Option<Version>) -> Result<Frame, DecodeError> {
    match dec(bytes, v)?.into_iter().find_map(|i| if let Item::Frame(f) = i { Some(f) } else { None }) {
        Some(f) => Ok(f),
        None => panic!("no frame"),
    }
}

#[test]
fn round_trip_every_version() {
    for v in [Version::V10, Version::V11, Version::V12] {
        let mut f = Frame::new(Command::Send).with("destination", "/topic/a").with("x-custom", "v");
        f.body = Bytes::from_static(b"hello\0world");
        let mut out = BytesMut::new();
        encode(&f, v, &mut out);
        let g = frame(&out, Some(v)).unwrap();
        assert_eq!(g.command, Command::Send);
        assert_eq!(g.header("x-custom"), Some("v"));
        assert_eq!(g.header("content-length"), Some("11"));
        assert_eq!(&g.body[..], b"hello\0world");
    }
}

#[test]
fn escaping_per_version() {
    let f = Frame::new(Command::Message).with("k", "a:b\nc\\d\re");
    let mut o12 = BytesMut::new();
    encode(&f, Version::V12, &mut o12);
    assert!(o12.starts_with(b"MESSAGE\nk:a\\cb\\nc\\\\d\\re\n"));
    let mut o11 = BytesMut::new();
    encode(&f, Version::V11, &mut o11);
    assert!(o11.starts_with(b"MESSAGE\nk:a\\cb\\nc\\\\d\re\n"));
    let mut o10 = BytesMut::new();
    encode(&Frame::new(Command::Message).with("k", "a:b"), Version::V10, &mut o10);
    assert!(o10.starts_with(b"MESSAGE\nk:a:b\n"));
    // CONNECTED is never escaped.
    let mut oc = BytesMut::new();
    encode(&Frame::new(Command::Connected).with("server", "x:y"), Version::V12, &mut oc);
    assert!(oc.starts_with(b"CONNECTED\nserver:x:y\n"));
    // Decoding.
    let g = frame(b"SEND\nk:a\\cb\\n\\\\\\r\n\n\0", Some(Version::V12)).unwrap();
    assert_eq!(g.header("k"), Some("a:b\n\\\r"));
    assert_eq!(frame(b"SEND\nk:a\\r\n\n\0", Some(Version::V11)), Err(DecodeError::BadEscape));
    assert_eq!(frame(b"SEND\nk:a\\t\n\n\0", Some(Version::V12)), Err(DecodeError::BadEscape));
    assert_eq!(frame(b"SEND\nk:a\\\n\n\0", Some(Version::V12)), Err(DecodeError::BadEscape));
    assert_eq!(frame(b"SEND\nk:a\\t\n\n\0", Some(Version::V10)).unwrap().header("k"), Some("a\\t"));
    // CONNECT headers are taken literally (login may contain a backslash).
    assert_eq!(frame(b"CONNECT\nlogin:a\\b\n\n\0", Some(Version::V12)).unwrap().header("login"), Some("a\\b"));
}

#[test]
fn content_length_versus_nul() {
    let g = frame(b"SEND\ncontent-length:3\n\na\0b\0", None).unwrap();
    assert_eq!(&g.body[..], b"a\0b");
    let g = frame(b"SEND\n\nabc\0", None).unwrap();
    assert_eq!(&g.body[..], b"abc");
    assert_eq!(frame(b"SEND\ncontent-length:3\n\nabcd\0", None), Err(DecodeError::MissingNul));
    assert_eq!(frame(b"SEND\ncontent-length:x\n\nabc\0", None), Err(DecodeError::BadContentLength));
    assert_eq!(frame(b"SEND\ncontent-length:5000\n\nabc\0", None), Err(DecodeError::FrameTooLarge));
}

#[test]
fn heart_beats_crlf_and_repeated_headers() {
    let items = dec(b"\n\r\nSEND\r\na:1\r\na:2\r\n\r\nx\0\n\n", Some(Version::V12)).unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0], Item::HeartBeat);
    assert_eq!(items[1], Item::HeartBeat);
    let Item::Frame(f) = &items[2] else { panic!("frame expected") };
    assert_eq!(f.header("a"), Some("1"));
    assert_eq!(f.headers.len(), 2);
    assert_eq!(items[3], Item::HeartBeat);
}

#[test]
fn incremental_byte_by_byte() {
    let mut f = Frame::new(Command::Send).with("destination", "/queue/q");
    f.body = Bytes::from(vec![7u8; 300]);
    let mut wire = BytesMut::new();
    encode(&f, Version::V12, &mut wire);
    encode(&Frame::new(Command::Disconnect), Version::V12, &mut wire);
    let mut d = Decoder::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in wire.iter() {
        buf.extend_from_slice(&[*b]);
        while let Some(Item::Frame(f)) = d.decode(&mut buf, Some(Version::V12), &lim()).unwrap() {
            got.push(f);
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body.len(), 300);
    assert_eq!(got[1].command, Command::Disconnect);
    assert!(d.is_idle());
}

#[test]
fn malformed() {
    assert_eq!(frame(b"FOO\n\n\0", None), Err(DecodeError::UnknownCommand));
    assert_eq!(frame(b"SEND\nnocolon\n\n\0", None), Err(DecodeError::MalformedHeader));
    assert_eq!(frame(b"SEND\nk:\xff\n\n\0", None), Err(DecodeError::NotUtf8));
    let many: Vec<u8> = b"SEND\n"
        .iter()
        .copied()
        .chain((0..9).flat_map(|i| format!("h{i}:v\n").into_bytes()))
        .chain(*b"\n\0")
        .collect();
    assert_eq!(dec(&many, None), Err(DecodeError::TooManyHeaders).map(|_: ()| vec![]));
    let mut long = b"SEND\nk:".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100));
    assert_eq!(dec(&long, None), Err(DecodeError::HeaderTooLong));
    let mut big = b"SEND\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'a', 2000));
    assert_eq!(dec(&big, None), Err(DecodeError::FrameTooLarge));
    // Without the NUL nothing is produced yet.
    assert_eq!(dec(b"SEND\n\nabc", None), Ok(vec![]));
    assert_eq!(DecodeError::MissingNul.to_string(), "frame not terminated by NUL");
}
