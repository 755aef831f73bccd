//! Shared helpers for the SPDP/SEDP parameter-list codecs: the encapsulation
//! header, a strict parameter walker, and bounds-checked value readers.
//!
//! Value readers work on the value slice of one parameter. Nothing here
//! allocates in proportion to a length field before the bytes it describes
//! have been checked to be present.

use crate::wire::cursor::{ByteReader, ByteWriter, Endian};
use crate::wire::error::DecodeError;
use crate::wire::parameter::{pid, read_cdr_string, write_cdr_string, ParameterList};
use crate::wire::types::{Duration, Guid, Locator, ProtocolVersion, VendorId};

/// Encapsulation header PL_CDR_LE, as written on the wire.
pub(crate) const PL_CDR_LE_HEADER: [u8; 4] = [0x00, 0x03, 0x00, 0x00];

/// Splits the 4-byte encapsulation header off a serialized payload and
/// returns the byte order of the parameter list that follows.
///
/// PL_CDR_BE/PL_CDR_LE are the real identifiers; CDR_BE/CDR_LE are tolerated
/// as aliases because some stacks mislabel discovery payloads.
pub(crate) fn split_encapsulation(payload: &[u8]) -> Result<(Endian, &[u8]), DecodeError> {
    if payload.len() < 4 {
        return Err(DecodeError::Truncated { needed: 4, available: payload.len() });
    }
    let endian = match [payload[0], payload[1]] {
        [0x00, 0x02] | [0x00, 0x00] => Endian::Big,
        [0x00, 0x03] | [0x00, 0x01] => Endian::Little,
        _ => return Err(DecodeError::Invalid("unsupported encapsulation for a parameter list")),
    };
    Ok((endian, &payload[4..]))
}

/// Walks a parameter list strictly: every header and value must be present and
/// the list must end with PID_SENTINEL. PID_PAD is skipped. `f` sees every
/// other `(pid, value)` pair in order and may stop the walk with an error.
pub(crate) fn walk(
    bytes: &[u8],
    endian: Endian,
    mut f: impl FnMut(u16, &[u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut r = ByteReader::new(bytes, endian);
    loop {
        let p = r.u16()?;
        let len = r.u16()? as usize;
        let value = r.take(len)?;
        match p {
            pid::SENTINEL => return Ok(()),
            pid::PAD => {}
            _ => f(p, value)?,
        }
    }
}

/// The error for an unknown parameter: must-understand ones make the whole
/// list unusable, all others are ignored.
pub(crate) fn unknown(p: u16) -> Result<(), DecodeError> {
    if p & pid::MUST_UNDERSTAND_FLAG != 0 {
        Err(DecodeError::MustUnderstand(p))
    } else {
        Ok(())
    }
}

/// A reader over one parameter value.
pub(crate) fn reader(v: &[u8], endian: Endian) -> ByteReader<'_> {
    ByteReader::new(v, endian)
}

/// Reads a 16-byte GUID value.
pub(crate) fn guid(v: &[u8]) -> Result<Guid, DecodeError> {
    let mut r = ByteReader::new(v, Endian::Big);
    Guid::read(&mut r)
}

/// Reads a CDR string value.
pub(crate) fn string(v: &[u8], endian: Endian) -> Result<String, DecodeError> {
    read_cdr_string(&mut reader(v, endian))
}

/// Reads a u32 value.
pub(crate) fn u32_value(v: &[u8], endian: Endian) -> Result<u32, DecodeError> {
    reader(v, endian).u32()
}

/// Reads a boolean value (first byte non-zero).
pub(crate) fn boolean(v: &[u8]) -> Result<bool, DecodeError> {
    match v.first() {
        Some(b) => Ok(*b != 0),
        None => Err(DecodeError::Truncated { needed: 1, available: 0 }),
    }
}

/// Reads a Duration_t value.
pub(crate) fn duration(v: &[u8], endian: Endian) -> Result<Duration, DecodeError> {
    Duration::read(&mut reader(v, endian))
}

/// Reads a Locator_t value.
pub(crate) fn locator(v: &[u8], endian: Endian) -> Result<Locator, DecodeError> {
    Locator::read(&mut reader(v, endian))
}

/// Reads a PROTOCOL_VERSION value.
pub(crate) fn protocol_version(v: &[u8]) -> Result<ProtocolVersion, DecodeError> {
    match v {
        [major, minor, ..] => Ok(ProtocolVersion { major: *major, minor: *minor }),
        _ => Err(DecodeError::Truncated { needed: 2, available: v.len() }),
    }
}

/// Reads a VENDORID value.
pub(crate) fn vendor_id(v: &[u8]) -> Result<VendorId, DecodeError> {
    match v {
        [a, b, ..] => Ok(VendorId([*a, *b])),
        _ => Err(DecodeError::Truncated { needed: 2, available: v.len() }),
    }
}

/// Reads a sequence<octet> (u32 length, bytes) from `r`. The copy is only made
/// once the bytes are known to be present.
pub(crate) fn read_octets(r: &mut ByteReader<'_>) -> Result<Vec<u8>, DecodeError> {
    let len = r.u32()? as usize;
    Ok(r.take(len)?.to_vec())
}

/// Reads a sequence<string> from `r`. Every element consumes at least 4 bytes
/// of input, so the loop is bounded by the value length, not by the count.
pub(crate) fn read_string_seq(r: &mut ByteReader<'_>) -> Result<Vec<String>, DecodeError> {
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        r.align(4)?;
        out.push(read_cdr_string(r)?);
    }
    Ok(out)
}

/// Writes a sequence<octet>.
pub(crate) fn write_octets(w: &mut ByteWriter<'_>, b: &[u8]) {
    w.u32(b.len() as u32);
    w.bytes(b);
}

/// Writes a sequence<string>.
pub(crate) fn write_string_seq(w: &mut ByteWriter<'_>, items: &[String]) {
    w.u32(items.len() as u32);
    for s in items {
        w.align(4);
        write_cdr_string(w, s);
    }
}

/// The GUID a serialized key payload identifies.
///
/// `payload` is the serialized key of a dispose/unregister DATA on a builtin
/// discovery topic: an encapsulation header followed by a possibly partial
/// parameter list. Returns the ENDPOINT_GUID if present, else the
/// PARTICIPANT_GUID, else `None`. A malformed tail ends the search without
/// discarding what was found before it.
pub fn key_guid(payload: &[u8]) -> Option<Guid> {
    let (endian, body) = split_encapsulation(payload).ok()?;
    let mut participant = None;
    for item in ParameterList::new(body, endian).iter() {
        let Ok((p, v)) = item else { break };
        match p {
            pid::ENDPOINT_GUID => {
                if let Ok(g) = guid(v) {
                    return Some(g);
                }
            }
            pid::PARTICIPANT_GUID if participant.is_none() => participant = guid(v).ok(),
            _ => {}
        }
    }
    participant
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parameter::ParameterListWriter;
    use crate::wire::types::{EntityId, GuidPrefix};

    fn g(last: u8, eid: EntityId) -> Guid {
        Guid::new(GuidPrefix([last; 12]), eid)
    }

    #[test]
    fn key_guid_prefers_endpoint_guid() {
        let pg = g(1, EntityId::PARTICIPANT);
        let eg = g(1, EntityId::new(7, EntityId::KIND_WRITER_WITH_KEY));
        let mut buf = PL_CDR_LE_HEADER.to_vec();
        let mut w = ParameterListWriter::new(&mut buf, Endian::Little);
        w.raw(pid::PARTICIPANT_GUID, &pg.to_bytes());
        w.raw(pid::ENDPOINT_GUID, &eg.to_bytes());
        w.finish();
        assert_eq!(key_guid(&buf), Some(eg));
    }

    #[test]
    fn key_guid_partial_and_big_endian() {
        let pg = g(2, EntityId::PARTICIPANT);
        let mut buf = vec![0x00, 0x02, 0x00, 0x00];
        let mut w = ParameterListWriter::new(&mut buf, Endian::Big);
        w.raw(pid::PARTICIPANT_GUID, &pg.to_bytes());
        // No sentinel, and a truncated trailing header.
        buf.extend_from_slice(&[0x00, 0x5a]);
        assert_eq!(key_guid(&buf), Some(pg));
        assert_eq!(key_guid(&buf[..3]), None);
        assert_eq!(key_guid(&[0x00, 0x03, 0x00, 0x00]), None);
    }

    #[test]
    fn walk_requires_sentinel() {
        let mut buf = Vec::new();
        ParameterListWriter::new(&mut buf, Endian::Little).u32(pid::DOMAIN_ID, 3);
        assert!(walk(&buf, Endian::Little, |_, _| Ok(())).is_err());
        ParameterListWriter::new(&mut buf, Endian::Little).finish();
        let mut seen = Vec::new();
        walk(&buf, Endian::Little, |p, v| {
            seen.push((p, v.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(pid::DOMAIN_ID, 4)]);
    }
}
