//! Whole RTPS messages: parsing a datagram into its header and submessages, and building one.

use super::error::DecodeError;
use super::header::Header;
use super::submessage::{endian_of, id, InfoDst, InfoTs, Submessage};
use super::types::{GuidPrefix, Time};
use std::iter::FusedIterator;

/// Length of a submessage header.
const SUBMESSAGE_HEADER_LEN: usize = 4;

/// Decodes the message header and returns an iterator over the submessages that follow.
///
/// Datagrams that are not RTPS (wrong magic, shorter than a header) give [`DecodeError::NotRtps`].
pub fn parse(datagram: &[u8]) -> Result<(Header, SubmessageIter<'_>), DecodeError> {
    let header = Header::decode(datagram)?;
    Ok((header, SubmessageIter { rest: &datagram[Header::LEN..], done: false }))
}

/// Iterator over the submessages of one message.
///
/// Framing follows the octetsToNextHeader rules: 0 means the submessage runs to the end of the message (except for
/// PAD and INFO_TS, where it means an empty body); a length that is not a multiple of 4 is only accepted when it
/// runs exactly to the end; a length past the end is an error. Unknown ids are yielded as
/// [`Submessage::Unknown`]. After the first error the iterator ends.
#[derive(Clone, Debug)]
pub struct SubmessageIter<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> SubmessageIter<'a> {
    /// The bytes not yet consumed.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    fn next_submessage(&mut self) -> Result<Submessage<'a>, DecodeError> {
        let rest = self.rest;
        let (hdr, after) = rest
            .split_first_chunk::<SUBMESSAGE_HEADER_LEN>()
            .ok_or(DecodeError::Truncated { needed: SUBMESSAGE_HEADER_LEN, available: rest.len() })?;
        let [sub_id, flags, l0, l1] = *hdr;
        let len =
            if endian_of(flags).is_little() { u16::from_le_bytes([l0, l1]) } else { u16::from_be_bytes([l0, l1]) };
        let len = usize::from(len);
        let body_len = if len == 0 {
            if sub_id == id::PAD || sub_id == id::INFO_TS {
                0
            } else {
                after.len()
            }
        } else if len > after.len() {
            return Err(DecodeError::Truncated { needed: len, available: after.len() });
        } else if len % 4 != 0 && len != after.len() {
            return Err(DecodeError::Invalid("octetsToNextHeader is not a multiple of 4"));
        } else {
            len
        };
        let (body, next) = after.split_at(body_len);
        self.rest = next;
        Submessage::decode(sub_id, flags, body)
    }
}

impl<'a> Iterator for SubmessageIter<'a> {
    type Item = Result<Submessage<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let res = self.next_submessage();
        if res.is_err() {
            self.done = true;
            self.rest = &[];
        }
        Some(res)
    }
}

impl FusedIterator for SubmessageIter<'_> {}

/// Builds one RTPS message, reusing a buffer.
///
/// Submessage `encode` methods append to [`MessageBuilder::buf_mut`].
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
}

// A message always holds its header, so an `is_empty` would always be false; `has_submessages` is the useful test.
#[allow(clippy::len_without_is_empty)]
impl MessageBuilder {
    /// Starts a message with `header` in a new buffer.
    pub fn new(header: Header) -> Self {
        Self::with_buffer(Vec::new(), header)
    }

    /// Starts a message with `header` in `buf`, which is cleared first (its capacity is kept).
    pub fn with_buffer(mut buf: Vec<u8>, header: Header) -> Self {
        buf.clear();
        header.encode(&mut buf);
        MessageBuilder { buf }
    }

    /// The buffer that submessages are appended to.
    pub fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Length of the message so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when at least one byte follows the header.
    pub fn has_submessages(&self) -> bool {
        self.buf.len() > Header::LEN
    }

    /// Appends an INFO_TS (`None` invalidates the timestamp).
    pub fn info_ts(&mut self, t: Option<Time>) {
        InfoTs { timestamp: t }.encode(&mut self.buf);
    }

    /// Appends an INFO_DST.
    pub fn info_dst(&mut self, p: GuidPrefix) {
        InfoDst { guid_prefix: p }.encode(&mut self.buf);
    }

    /// The encoded message.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}
