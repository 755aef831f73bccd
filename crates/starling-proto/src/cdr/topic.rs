//! The [`TopicType`] trait and whole-payload encoding: encapsulation header, body, padding, key hash.

use md5::{Digest, Md5};

use super::encapsulation::{Encapsulation, Extensibility, XcdrVersion};
use super::error::CdrError;
use super::reader::CdrReader;
use super::writer::CdrWriter;
use crate::qos::{XCDR1, XCDR2};
use crate::wire::{Endian, KeyHash};

/// A data type that can be published on a topic.
///
/// Implementations are hand-written for now and will later be generated from IDL.
pub trait TopicType: Sized + Send + Sync + 'static {
    /// The registered type name (for example `"ShapeType"`).
    fn type_name() -> &'static str;
    /// The type's extensibility kind; selects the encapsulation identifier.
    fn extensibility() -> Extensibility;
    /// True if the type has at least one key member.
    fn is_keyed() -> bool;
    /// Body only (no encapsulation header); writes its own DHEADER/EMHEADERs according to w.version().
    fn serialize(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError>;
    /// Reads the body written by [`serialize`](Self::serialize) (or by a peer).
    fn deserialize(r: &mut CdrReader<'_>) -> Result<Self, CdrError>;
    /// Key members only, in declaration order, as plain (final-style) CDR — used for the key hash.
    fn serialize_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError>;
    /// Maximum size of serialize_key's output in that version; None = unbounded (forces MD5).
    fn key_max_size(version: XcdrVersion) -> Option<usize>;
    /// Serialized key payload as sent in a DATA with the K flag (dispose/unregister) — the KeyHolder encoding.
    fn serialize_key_payload(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError>;
    /// From a key payload: key fields set, the others default.
    fn deserialize_key_payload(r: &mut CdrReader<'_>) -> Result<Self, CdrError>;
    /// The type as an XTypes dynamic type, when the implementation can describe
    /// itself. Endpoints of such types announce TypeInformation in discovery and
    /// answer TypeLookup requests for it; the default is `None` (matching by
    /// type name only).
    fn dynamic_type() -> Option<crate::xtypes::DynamicType> {
        None
    }
}

/// Maps a DataRepresentationId (XCDR1 = 0, XCDR2 = 2) to an XCDR version.
pub fn version_for_representation(representation: i16) -> Result<XcdrVersion, CdrError> {
    match representation {
        XCDR1 => Ok(XcdrVersion::V1),
        XCDR2 => Ok(XcdrVersion::V2),
        other => Err(CdrError::UnsupportedRepresentation(other)),
    }
}

/// Splits a serialized payload into its encapsulation identifier, its options and the body after the header.
pub fn split_encapsulation(payload: &[u8]) -> Result<(Encapsulation, [u8; 2], &[u8]), CdrError> {
    match payload {
        [a, b, o0, o1, body @ ..] => Ok((Encapsulation::from_id([*a, *b])?, [*o0, *o1], body)),
        _ => Err(CdrError::Truncated),
    }
}

/// Writes header + body, then pads to a multiple of 4 and records the pad count in the options.
fn encode_with<T: TopicType>(
    representation: i16,
    endian: Endian,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut CdrWriter<'_>) -> Result<(), CdrError>,
) -> Result<(), CdrError> {
    let version = version_for_representation(representation)?;
    let encap = Encapsulation::for_type(version, T::extensibility(), endian);
    let start = out.len();
    out.extend_from_slice(&encap.id());
    out.extend_from_slice(&[0, 0]);
    let result = {
        let mut w = CdrWriter::new(out, version, endian);
        body(&mut w)
    };
    if let Err(e) = result {
        out.truncate(start);
        return Err(e);
    }
    let pad = (4 - (out.len() - start) % 4) % 4;
    out.resize(out.len() + pad, 0);
    out[start + 3] = pad as u8;
    Ok(())
}

/// Appends a complete serialized payload for `sample`: the 4-byte encapsulation header chosen by
/// [`Encapsulation::for_type`], the body, and zero padding to a multiple of 4 (the pad count goes in the low
/// 2 bits of the options). `representation` is 0 for XCDR1 or 2 for XCDR2. On error `out` is left unchanged.
pub fn encode_sample<T: TopicType>(
    sample: &T,
    representation: i16,
    endian: Endian,
    out: &mut Vec<u8>,
) -> Result<(), CdrError> {
    encode_with::<T>(representation, endian, out, |w| sample.serialize(w))
}

/// Decodes a serialized payload (any supported encapsulation; version and byte order come from its header).
pub fn decode_sample<T: TopicType>(payload: &[u8]) -> Result<T, CdrError> {
    let (encap, _options, body) = split_encapsulation(payload)?;
    let mut r = CdrReader::new(body, encap.version(), encap.endian());
    T::deserialize(&mut r)
}

/// Appends a serialized key payload (the KeyHolder encoding, as carried by a DATA with the K flag), framed
/// like [`encode_sample`].
pub fn encode_key_payload<T: TopicType>(
    sample: &T,
    representation: i16,
    endian: Endian,
    out: &mut Vec<u8>,
) -> Result<(), CdrError> {
    encode_with::<T>(representation, endian, out, |w| sample.serialize_key_payload(w))
}

/// Decodes a serialized key payload: the key members are set, the others take their defaults.
pub fn decode_key_payload<T: TopicType>(payload: &[u8]) -> Result<T, CdrError> {
    let (encap, _options, body) = split_encapsulation(payload)?;
    let mut r = CdrReader::new(body, encap.version(), encap.endian());
    T::deserialize_key_payload(&mut r)
}

/// The RTPS key hash of `sample` (XTypes 1.3 §7.6.8, RTPS 2.5 §9.6.4.8).
///
/// The key members are serialized big-endian in `version`. If [`TopicType::key_max_size`] is at most 16 the
/// hash is that serialization zero-padded to 16 bytes; otherwise (or if unbounded) it is its MD5 digest.
/// Unkeyed types get the all-zero hash. If [`TopicType::serialize_key`] fails (for example a key string over
/// its bound, which makes [`encode_sample`] fail as well), the hash covers the bytes written before the
/// failure; use [`try_key_hash`] to see the error instead.
pub fn key_hash<T: TopicType>(sample: &T, version: XcdrVersion) -> KeyHash {
    key_hash_and_result(sample, version).0
}

/// Like [`key_hash`], but returns the error if the key cannot be serialized.
pub fn try_key_hash<T: TopicType>(sample: &T, version: XcdrVersion) -> Result<KeyHash, CdrError> {
    let (hash, result) = key_hash_and_result(sample, version);
    result.map(|()| hash)
}

thread_local! {
    /// Scratch buffer for the serialized key that a key hash is computed from: reused, so that computing a
    /// key hash per sample does not allocate once the buffer has grown to the key's size.
    static KEY_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A scratch buffer grown beyond this (by an unusually large key) is not kept.
const KEY_SCRATCH_MAX: usize = 4096;

/// Serializes `sample`'s key (big-endian, as the key hash wants it) into the thread's scratch buffer and
/// hashes it; also returns whether the key serialized.
fn key_hash_and_result<T: TopicType>(sample: &T, version: XcdrVersion) -> (KeyHash, Result<(), CdrError>) {
    if !T::is_keyed() {
        return (KeyHash([0; 16]), Ok(()));
    }
    let run = |buf: &mut Vec<u8>| {
        buf.clear();
        let mut w = CdrWriter::new(buf, version, Endian::Big);
        let result = sample.serialize_key(&mut w);
        (hash_key_bytes::<T>(buf, version), result)
    };
    KEY_SCRATCH
        .try_with(|cell| {
            // Busy only if a key serializer computes a key hash itself: then a fresh buffer is used.
            let mut buf = cell.try_borrow_mut().ok()?;
            let out = run(&mut buf);
            if buf.capacity() > KEY_SCRATCH_MAX {
                *buf = Vec::new();
            }
            Some(out)
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| run(&mut Vec::new()))
}

fn hash_key_bytes<T: TopicType>(bytes: &[u8], version: XcdrVersion) -> KeyHash {
    let mut out = [0u8; 16];
    if !T::is_keyed() {
        return KeyHash(out);
    }
    match T::key_max_size(version) {
        Some(max) if max <= 16 && bytes.len() <= 16 => out[..bytes.len()].copy_from_slice(bytes),
        _ => out.copy_from_slice(&Md5::digest(bytes)),
    }
    KeyHash(out)
}
