//! STOMP 1.0/1.1/1.2 frame codec: incremental, sans-IO.
//!
//! [`Decoder::decode`] takes bytes accumulated in a `BytesMut` and yields one [`Item`] per call:
//! a heart-beat (a bare EOL between frames) or a complete [`Frame`]. It remembers how far it has
//! scanned, so a large body arriving in many small reads is not rescanned, and it parses the
//! header block once, when it is complete. The decoder itself is a few words; it holds no
//! buffer of its own.
//!
//! Rules applied (STOMP 1.2 §"Augmented BNF", with the per-version differences):
//! - lines end with LF or CR LF (a trailing CR is stripped in every version);
//! - header escapes: none in 1.0; `\n` `\c` `\\` in 1.1; 1.2 adds `\r`; any other escape is an
//!   error. CONNECT, STOMP and CONNECTED frames are never escaped;
//! - repeated headers are all kept, in order; [`Frame::header`] returns the first (which wins);
//! - with `content-length` the body is exactly that many octets and must be followed by NUL;
//!   without it the body runs to the first NUL;
//! - limits: frame size (header block and body), header count, header line length.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt::Write as _;

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0.
    V10,
    /// STOMP 1.1.
    V11,
    /// STOMP 1.2.
    V12,
}

impl Version {
    /// The version as written in `accept-version` and `version` headers.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V10 => "1.0",
            Self::V11 => "1.1",
            Self::V12 => "1.2",
        }
    }

    /// Parses `1.0`, `1.1` or `1.2`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "1.0" => Some(Self::V10),
            "1.1" => Some(Self::V11),
            "1.2" => Some(Self::V12),
            _ => None,
        }
    }
}

/// Frame commands, client and server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// CONNECT.
    Connect,
    /// STOMP (1.1+ alias of CONNECT).
    Stomp,
    /// SEND.
    Send,
    /// SUBSCRIBE.
    Subscribe,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// ACK.
    Ack,
    /// NACK (1.1+).
    Nack,
    /// BEGIN.
    Begin,
    /// COMMIT.
    Commit,
    /// ABORT.
    Abort,
    /// DISCONNECT.
    Disconnect,
    /// CONNECTED (server).
    Connected,
    /// MESSAGE (server).
    Message,
    /// RECEIPT (server).
    Receipt,
    /// ERROR (server).
    Error,
}

impl Command {
    /// The command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Stomp => "STOMP",
            Self::Send => "SEND",
            Self::Subscribe => "SUBSCRIBE",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::Ack => "ACK",
            Self::Nack => "NACK",
            Self::Begin => "BEGIN",
            Self::Commit => "COMMIT",
            Self::Abort => "ABORT",
            Self::Disconnect => "DISCONNECT",
            Self::Connected => "CONNECTED",
            Self::Message => "MESSAGE",
            Self::Receipt => "RECEIPT",
            Self::Error => "ERROR",
        }
    }

    fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"CONNECT" => Self::Connect,
            b"STOMP" => Self::Stomp,
            b"SEND" => Self::Send,
            b"SUBSCRIBE" => Self::Subscribe,
            b"UNSUBSCRIBE" => Self::Unsubscribe,
            b"ACK" => Self::Ack,
            b"NACK" => Self::Nack,
            b"BEGIN" => Self::Begin,
            b"COMMIT" => Self::Commit,
            b"ABORT" => Self::Abort,
            b"DISCONNECT" => Self::Disconnect,
            b"CONNECTED" => Self::Connected,
            b"MESSAGE" => Self::Message,
            b"RECEIPT" => Self::Receipt,
            b"ERROR" => Self::Error,
            _ => return None,
        })
    }

    /// CONNECT, STOMP and CONNECTED headers are never escaped.
    #[must_use]
    pub fn escapes_headers(self) -> bool {
        !matches!(self, Self::Connect | Self::Stomp | Self::Connected)
    }
}

/// One header, name and value unescaped.
pub type Header = (Box<str>, Box<str>);

/// A decoded or to-be-encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// Headers in wire order; repeated names are kept (the first wins).
    pub headers: Vec<Header>,
    /// The body.
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers and no body.
    #[must_use]
    pub fn new(command: Command) -> Self {
        Self { command, headers: Vec::new(), body: Bytes::new() }
    }

    /// Adds a header (builder style).
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first value of header `name`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| &**n == name).map(|(_, v)| &**v)
    }
}

/// What one decode step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A bare EOL between frames.
    HeartBeat,
    /// A complete frame.
    Frame(Frame),
}

/// Decoder limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame (command, headers and body) accepted, in bytes.
    pub max_frame_size: usize,
    /// Most headers in one frame.
    pub max_headers: usize,
    /// Longest header line, in bytes (escaped form).
    pub max_header_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_frame_size: 4 * 1024 * 1024, max_headers: 64, max_header_len: 8 * 1024 }
    }
}

/// Why bytes could not be decoded. The `Display` text is what the ERROR frame's `message`
/// header says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The command line is not a known command.
    #[error("unknown command")]
    UnknownCommand,
    /// A header line has no colon.
    #[error("malformed header")]
    MalformedHeader,
    /// A backslash escape not defined for the version.
    #[error("invalid escape sequence in header")]
    BadEscape,
    /// A header or command is not UTF-8.
    #[error("header is not valid UTF-8")]
    NotUtf8,
    /// More headers than allowed.
    #[error("too many headers")]
    TooManyHeaders,
    /// A header line longer than allowed.
    #[error("header too long")]
    HeaderTooLong,
    /// The frame is larger than allowed.
    #[error("frame too large")]
    FrameTooLarge,
    /// `content-length` is not a number.
    #[error("invalid content-length")]
    BadContentLength,
    /// The octet after a `content-length` body is not NUL.
    #[error("frame not terminated by NUL")]
    MissingNul,
}

#[derive(Debug)]
struct Head {
    command: Command,
    headers: Vec<Header>,
    /// Offset of the first body byte.
    body_start: usize,
    content_length: Option<usize>,
}

/// Incremental frame decoder state (a few words; see the module docs).
#[derive(Debug, Default)]
pub struct Decoder {
    /// Bytes of the buffer already searched for the current terminator.
    scanned: usize,
    /// The parsed header block of the frame being received.
    head: Option<Box<Head>>,
}

impl Decoder {
    /// A fresh decoder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// True between frames (nothing partially received).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.head.is_none() && self.scanned == 0
    }

    /// Decodes one item from the front of `buf`, consuming its bytes; `Ok(None)` when more bytes
    /// are needed. `version` selects header unescaping (`None` before CONNECT: no escapes).
    /// After an error the stream is unusable.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        version: Option<Version>,
        limits: &Limits,
    ) -> Result<Option<Item>, DecodeError> {
        if self.head.is_none() {
            // Heart-beats / EOLs between frames.
            if self.scanned == 0 {
                match buf.first() {
                    None => return Ok(None),
                    Some(b'\n') => {
                        buf.advance(1);
                        return Ok(Some(Item::HeartBeat));
                    }
                    Some(b'\r') => match buf.get(1) {
                        None => return Ok(None),
                        Some(b'\n') => {
                            buf.advance(2);
                            return Ok(Some(Item::HeartBeat));
                        }
                        Some(_) => return Err(DecodeError::UnknownCommand),
                    },
                    Some(_) => {}
                }
            }
            let Some(end) = self.find_header_end(buf, limits)? else {
                return Ok(None);
            };
            let head = parse_head(&buf[..end.0], end.1, version, limits)?;
            self.head = Some(Box::new(head));
            self.scanned = end.1;
        }
        let Some(head) = self.head.as_deref() else { return Ok(None) };
        let body_end = if let Some(len) = head.content_length {
            let end = head.body_start.saturating_add(len);
            if end.saturating_add(1) > limits.max_frame_size {
                return Err(DecodeError::FrameTooLarge);
            }
            if buf.len() <= end {
                return Ok(None);
            }
            if buf[end] != 0 {
                return Err(DecodeError::MissingNul);
            }
            end
        } else {
            let from = self.scanned.max(head.body_start);
            match memchr0(&buf[from..]) {
                Some(i) => from + i,
                None => {
                    if buf.len() > limits.max_frame_size {
                        return Err(DecodeError::FrameTooLarge);
                    }
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        };
        if body_end + 1 > limits.max_frame_size {
            return Err(DecodeError::FrameTooLarge);
        }
        let Some(head) = self.head.take() else { return Ok(None) };
        self.scanned = 0;
        let mut frame_bytes = buf.split_to(body_end + 1);
        frame_bytes.truncate(body_end);
        let body = frame_bytes.split_off(head.body_start).freeze();
        Ok(Some(Item::Frame(Frame { command: head.command, headers: head.headers, body })))
    }

    /// Finds the blank line ending the header block: `(end of header text, start of body)`.
    fn find_header_end(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, DecodeError> {
        let mut i = self.scanned.saturating_sub(2);
        let mut line_start = last_line_start(buf, i);
        while let Some(off) = buf.get(i..).and_then(|b| b.iter().position(|&c| c == b'\n')) {
            let nl = i + off;
            let line_len = nl - line_start;
            if line_len > limits.max_header_len {
                return Err(DecodeError::HeaderTooLong);
            }
            let is_blank = line_len == 0 || (line_len == 1 && buf[line_start] == b'\r');
            if is_blank && line_start > 0 {
                return Ok(Some((line_start, nl + 1)));
            }
            line_start = nl + 1;
            i = nl + 1;
        }
        if buf.len() - line_start > limits.max_header_len {
            return Err(DecodeError::HeaderTooLong);
        }
        if buf.len() > limits.max_frame_size {
            return Err(DecodeError::FrameTooLarge);
        }
        self.scanned = buf.len();
        Ok(None)
    }
}

fn last_line_start(buf: &[u8], upto: usize) -> usize {
    buf[..upto.min(buf.len())].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1)
}

fn memchr0(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_head(text: &[u8], body_start: usize, version: Option<Version>, limits: &Limits) -> Result<Head, DecodeError> {
    let mut lines = text.split(|&c| c == b'\n');
    let cmd_line = strip_cr(lines.next().unwrap_or_default());
    let command = Command::parse(cmd_line).ok_or(DecodeError::UnknownCommand)?;
    let escapes = if command.escapes_headers() { version.filter(|v| *v != Version::V10) } else { None };
    let mut headers = Vec::new();
    let mut content_length = None;
    for line in lines {
        let line = strip_cr(line);
        if line.is_empty() {
            continue;
        }
        if headers.len() >= limits.max_headers {
            return Err(DecodeError::TooManyHeaders);
        }
        let colon = line.iter().position(|&c| c == b':').ok_or(DecodeError::MalformedHeader)?;
        let name = unescape(&line[..colon], escapes)?;
        let value = unescape(&line[colon + 1..], escapes)?;
        if &*name == "content-length" && content_length.is_none() {
            let n: usize = value.trim().parse().map_err(|_| DecodeError::BadContentLength)?;
            if n >= limits.max_frame_size {
                return Err(DecodeError::FrameTooLarge);
            }
            content_length = Some(n);
        }
        headers.push((name, value));
    }
    Ok(Head { command, headers, body_start, content_length })
}

fn unescape(raw: &[u8], version: Option<Version>) -> Result<Box<str>, DecodeError> {
    let s = std::str::from_utf8(raw).map_err(|_| DecodeError::NotUtf8)?;
    let Some(v) = version else { return Ok(s.into()) };
    if !s.contains('\\') {
        return Ok(s.into());
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            Some('r') if v == Version::V12 => out.push('\r'),
            _ => return Err(DecodeError::BadEscape),
        }
    }
    Ok(out.into())
}

fn escape_into(out: &mut BytesMut, s: &str, version: Option<Version>) {
    let Some(v) = version.filter(|v| *v != Version::V10) else {
        out.extend_from_slice(s.as_bytes());
        return;
    };
    if !s.bytes().any(|b| matches!(b, b'\n' | b'\r' | b':' | b'\\')) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            ':' => out.extend_from_slice(b"\\c"),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\r' if v == Version::V12 => out.extend_from_slice(b"\\r"),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// Writes a header line, escaped for `version` unless `command` is never escaped.
pub fn encode_header(out: &mut BytesMut, command: Command, name: &str, value: &str, version: Version) {
    let v = command.escapes_headers().then_some(version);
    escape_into(out, name, v);
    out.extend_from_slice(b":");
    escape_into(out, value, v);
    out.extend_from_slice(b"\n");
}

/// Appends `frame` to `out`, headers escaped for `version`. A `content-length` header is
/// added when the body is not empty and the frame has none.
pub fn encode(frame: &Frame, version: Version, out: &mut BytesMut) {
    out.reserve(frame.command.as_str().len() + 2 + frame.body.len() + 32 * frame.headers.len());
    out.extend_from_slice(frame.command.as_str().as_bytes());
    out.extend_from_slice(b"\n");
    for (n, v) in &frame.headers {
        encode_header(out, frame.command, n, v, version);
    }
    if !frame.body.is_empty() && frame.header("content-length").is_none() {
        let mut s = String::new();
        let _ = write!(s, "{}", frame.body.len());
        encode_header(out, frame.command, "content-length", &s, version);
    }
    out.extend_from_slice(b"\n");
    out.extend_from_slice(&frame.body);
    out.extend_from_slice(b"\0");
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
