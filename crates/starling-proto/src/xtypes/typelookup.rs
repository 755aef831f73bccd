//! TypeLookup service messages (XTypes 1.3 §7.6.3.3, facts §8.5): `TypeLookup_Request` and
//! `TypeLookup_Reply` with the getTypes and getTypeDependencies operations.
//!
//! Layout as in Cyclone's `ddsi_xt_typelookup.idl`: the request/reply structs, headers, `SampleIdentity` and
//! `GUID_t` are final; the call/return/result unions are appendable (DHEADER, `long` discriminator); the
//! operation in/out structs are mutable with `@hashid` member ids. Payloads are XCDR2 (`CDR2_LE`/`CDR2_BE`).

use super::error::DynamicError;
use super::typeobject::{read_tiws_seq, write_tiws_seq, TypeIdentifier, TypeIdentifierWithSize, TypeObject};
use super::types::member_hash_id;
use crate::cdr::{split_encapsulation, CdrError, CdrReader, CdrWriter, Encapsulation, XcdrVersion};
use crate::wire::Endian;

/// Discriminator of the getTypes operation (`@hashid("getTypes")`).
pub const GET_TYPES_HASH_ID: i32 = 0x018252d3;
/// Discriminator of the getTypeDependencies operation (`@hashid("getDependencies")`).
pub const GET_DEPENDENCIES_HASH_ID: i32 = 0x05aafb31;
/// `DDS_RETCODE_OK`, the only result discriminator with a value.
pub const RETCODE_OK: i32 = 0;
/// Maximum length of a continuation point.
pub const CONTINUATION_POINT_MAX: usize = 32;

/// `DDS::SampleIdentity`: the writer GUID and sequence number of a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SampleIdentity {
    /// GUID prefix (12 bytes) followed by the entity id (4 bytes).
    pub writer_guid: [u8; 16],
    /// The request's sequence number (high 32 bits signed, low 32 bits unsigned on the wire).
    pub sequence_number: i64,
}

/// `DDS::RPC::RequestHeader`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RequestHeader {
    /// Identity of the request sample.
    pub request_id: SampleIdentity,
    /// Service instance name (`string<255>`, usually empty).
    pub instance_name: String,
}

/// `DDS::RPC::ReplyHeader`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ReplyHeader {
    /// Identity of the request this replies to.
    pub related_request_id: SampleIdentity,
    /// `RemoteExceptionCode` (0 = REMOTE_EX_OK).
    pub remote_ex: i32,
}

/// The operation a request calls.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TypeLookupCall {
    /// getTypes: the TypeObjects of these identifiers.
    GetTypes {
        /// Requested identifiers.
        type_ids: Vec<TypeIdentifier>,
    },
    /// getTypeDependencies: the identifiers these types depend on, possibly in several rounds.
    GetTypeDependencies {
        /// Requested identifiers.
        type_ids: Vec<TypeIdentifier>,
        /// Opaque cursor from the previous reply (empty at first), at most 32 bytes.
        continuation_point: Vec<u8>,
    },
    /// An operation this codec does not know (its discriminator).
    Unknown(i32),
}

/// `TypeLookup_Request`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypeLookupRequest {
    /// Header.
    pub header: RequestHeader,
    /// Operation and arguments.
    pub call: TypeLookupCall,
}

/// Output of getTypes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct GetTypesOut {
    /// The requested identifiers with their TypeObjects.
    pub types: Vec<(TypeIdentifier, TypeObject)>,
    /// Pairs (complete id, minimal id).
    pub complete_to_minimal: Vec<(TypeIdentifier, TypeIdentifier)>,
}

/// Output of getTypeDependencies.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct GetTypeDependenciesOut {
    /// The dependencies, with their TypeObject sizes.
    pub dependent_typeids: Vec<TypeIdentifierWithSize>,
    /// Cursor for the next request (empty when done).
    pub continuation_point: Vec<u8>,
}

/// The operation result a reply carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TypeLookupReturn {
    /// getTypes result: `Ok` or the non-OK return code.
    GetTypes(Result<GetTypesOut, i32>),
    /// getTypeDependencies result: `Ok` or the non-OK return code.
    GetTypeDependencies(Result<GetTypeDependenciesOut, i32>),
    /// An operation this codec does not know (its discriminator).
    Unknown(i32),
}

/// `TypeLookup_Reply`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypeLookupReply {
    /// Header.
    pub header: ReplyHeader,
    /// Result.
    pub return_data: TypeLookupReturn,
}

fn write_sample_identity(w: &mut CdrWriter<'_>, s: &SampleIdentity) {
    w.bytes(&s.writer_guid);
    w.i32((s.sequence_number >> 32) as i32);
    w.u32(s.sequence_number as u32);
}

fn read_sample_identity(r: &mut CdrReader<'_>) -> Result<SampleIdentity, DynamicError> {
    let mut writer_guid = [0u8; 16];
    writer_guid.copy_from_slice(r.bytes(16)?);
    let high = r.i32()?;
    let low = r.u32()?;
    Ok(SampleIdentity { writer_guid, sequence_number: (i64::from(high) << 32) | i64::from(low) })
}

fn write_ti_seq(w: &mut CdrWriter<'_>, ids: &[TypeIdentifier]) {
    let d = w.begin_dheader();
    w.seq_len(ids.len());
    for id in ids {
        id.write(w);
    }
    w.end_dheader(d);
}

fn read_ti_seq(r: &mut CdrReader<'_>) -> Result<Vec<TypeIdentifier>, DynamicError> {
    let mut sub = r.dheader()?;
    let n = sub.seq_len(1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(TypeIdentifier::read(&mut sub)?);
    }
    r.skip_to_end_of(&sub);
    Ok(out)
}

fn write_octets(w: &mut CdrWriter<'_>, b: &[u8]) -> Result<(), DynamicError> {
    if b.len() > CONTINUATION_POINT_MAX {
        return Err(CdrError::BoundExceeded { len: b.len(), bound: CONTINUATION_POINT_MAX }.into());
    }
    w.seq_len(b.len());
    w.bytes(b);
    Ok(())
}

fn read_octets(r: &mut CdrReader<'_>) -> Result<Vec<u8>, DynamicError> {
    let n = r.seq_len(1)?;
    if n > CONTINUATION_POINT_MAX {
        return Err(CdrError::BoundExceeded { len: n, bound: CONTINUATION_POINT_MAX }.into());
    }
    Ok(r.bytes(n)?.to_vec())
}

/// Writes one mutable member with a hashed id.
fn member(
    w: &mut CdrWriter<'_>,
    name: &str,
    body: impl FnOnce(&mut CdrWriter<'_>) -> Result<(), DynamicError>,
) -> Result<(), DynamicError> {
    let t = w.begin_member(member_hash_id(name), false);
    body(w)?;
    w.end_member(t);
    Ok(())
}

/// Iterates the members of a mutable struct, calling `f(id, body)` for each.
fn members<'a>(
    r: &mut CdrReader<'a>,
    mut f: impl FnMut(u32, &mut CdrReader<'a>) -> Result<(), DynamicError>,
) -> Result<(), DynamicError> {
    let mut sub = r.dheader()?;
    while let Some((id, must_understand, mut body)) = sub.next_member()? {
        let before = body.remaining();
        f(id, &mut body)?;
        if must_understand && body.remaining() == before {
            return Err(CdrError::UnknownMember(id).into());
        }
    }
    r.skip_to_end_of(&sub);
    Ok(())
}

fn frame(
    endian: Endian,
    body: impl FnOnce(&mut CdrWriter<'_>) -> Result<(), DynamicError>,
) -> Result<Vec<u8>, DynamicError> {
    let encap = if endian == Endian::Big { Encapsulation::Cdr2Be } else { Encapsulation::Cdr2Le };
    let mut out = Vec::new();
    out.extend_from_slice(&encap.id());
    out.extend_from_slice(&[0, 0]);
    {
        let mut w = CdrWriter::new(&mut out, XcdrVersion::V2, endian);
        body(&mut w)?;
    }
    let pad = (4 - out.len() % 4) % 4;
    out.resize(out.len() + pad, 0);
    out[3] = pad as u8;
    Ok(out)
}

fn reader(payload: &[u8]) -> Result<CdrReader<'_>, DynamicError> {
    let (encap, _options, body) = split_encapsulation(payload)?;
    if encap.version() != XcdrVersion::V2 {
        return Err(DynamicError::TypeObject("TypeLookup messages are XCDR2"));
    }
    Ok(CdrReader::new(body, XcdrVersion::V2, encap.endian()))
}

impl TypeLookupRequest {
    /// The serialized payload (XCDR2 final encapsulation, the given byte order).
    pub fn encode(&self, endian: Endian) -> Result<Vec<u8>, DynamicError> {
        frame(endian, |w| {
            write_sample_identity(w, &self.header.request_id);
            w.bounded_string(&self.header.instance_name, 255)?;
            let d = w.begin_dheader();
            match &self.call {
                TypeLookupCall::GetTypes { type_ids } => {
                    w.i32(GET_TYPES_HASH_ID);
                    let m = w.begin_dheader();
                    member(w, "type_ids", |w| {
                        write_ti_seq(w, type_ids);
                        Ok(())
                    })?;
                    w.end_dheader(m);
                }
                TypeLookupCall::GetTypeDependencies { type_ids, continuation_point } => {
                    w.i32(GET_DEPENDENCIES_HASH_ID);
                    let m = w.begin_dheader();
                    member(w, "type_ids", |w| {
                        write_ti_seq(w, type_ids);
                        Ok(())
                    })?;
                    member(w, "continuation_point", |w| write_octets(w, continuation_point))?;
                    w.end_dheader(m);
                }
                TypeLookupCall::Unknown(d) => w.i32(*d),
            }
            w.end_dheader(d);
            Ok(())
        })
    }

    /// Parses a request payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DynamicError> {
        let mut r = reader(payload)?;
        let request_id = read_sample_identity(&mut r)?;
        let instance_name = r.bounded_string(255)?;
        let mut u = r.dheader()?;
        let disc = u.i32()?;
        let call = match disc {
            GET_TYPES_HASH_ID => {
                let mut type_ids = Vec::new();
                members(&mut u, |id, b| {
                    if id == member_hash_id("type_ids") {
                        type_ids = read_ti_seq(b)?;
                    }
                    Ok(())
                })?;
                TypeLookupCall::GetTypes { type_ids }
            }
            GET_DEPENDENCIES_HASH_ID => {
                let (mut type_ids, mut continuation_point) = (Vec::new(), Vec::new());
                members(&mut u, |id, b| {
                    if id == member_hash_id("type_ids") {
                        type_ids = read_ti_seq(b)?;
                    } else if id == member_hash_id("continuation_point") {
                        continuation_point = read_octets(b)?;
                    }
                    Ok(())
                })?;
                TypeLookupCall::GetTypeDependencies { type_ids, continuation_point }
            }
            other => TypeLookupCall::Unknown(other),
        };
        r.skip_to_end_of(&u);
        Ok(TypeLookupRequest { header: RequestHeader { request_id, instance_name }, call })
    }
}

impl TypeLookupReply {
    /// The serialized payload (XCDR2 final encapsulation). TypeObjects must be in the same byte order.
    pub fn encode(&self, endian: Endian) -> Result<Vec<u8>, DynamicError> {
        frame(endian, |w| {
            write_sample_identity(w, &self.header.related_request_id);
            w.i32(self.header.remote_ex);
            let d = w.begin_dheader();
            match &self.return_data {
                TypeLookupReturn::GetTypes(res) => {
                    w.i32(GET_TYPES_HASH_ID);
                    let rd = w.begin_dheader();
                    match res {
                        Ok(out) => {
                            w.i32(RETCODE_OK);
                            let m = w.begin_dheader();
                            member(w, "types", |w| {
                                let s = w.begin_dheader();
                                w.seq_len(out.types.len());
                                for (id, obj) in &out.types {
                                    id.write(w);
                                    obj.write(w)?;
                                }
                                w.end_dheader(s);
                                Ok(())
                            })?;
                            member(w, "complete_to_minimal", |w| {
                                let s = w.begin_dheader();
                                w.seq_len(out.complete_to_minimal.len());
                                for (a, b) in &out.complete_to_minimal {
                                    a.write(w);
                                    b.write(w);
                                }
                                w.end_dheader(s);
                                Ok(())
                            })?;
                            w.end_dheader(m);
                        }
                        Err(code) => w.i32(*code),
                    }
                    w.end_dheader(rd);
                }
                TypeLookupReturn::GetTypeDependencies(res) => {
                    w.i32(GET_DEPENDENCIES_HASH_ID);
                    let rd = w.begin_dheader();
                    match res {
                        Ok(out) => {
                            w.i32(RETCODE_OK);
                            let m = w.begin_dheader();
                            member(w, "dependent_typeids", |w| {
                                write_tiws_seq(w, &out.dependent_typeids);
                                Ok(())
                            })?;
                            member(w, "continuation_point", |w| write_octets(w, &out.continuation_point))?;
                            w.end_dheader(m);
                        }
                        Err(code) => w.i32(*code),
                    }
                    w.end_dheader(rd);
                }
                TypeLookupReturn::Unknown(d) => w.i32(*d),
            }
            w.end_dheader(d);
            Ok(())
        })
    }

    /// Parses a reply payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DynamicError> {
        let mut r = reader(payload)?;
        let related_request_id = read_sample_identity(&mut r)?;
        let remote_ex = r.i32()?;
        let mut u = r.dheader()?;
        let disc = u.i32()?;
        let return_data = match disc {
            GET_TYPES_HASH_ID => {
                let mut res = u.dheader()?;
                let code = res.i32()?;
                let out = if code == RETCODE_OK {
                    let mut out = GetTypesOut::default();
                    members(&mut res, |id, b| {
                        if id == member_hash_id("types") {
                            let mut s = b.dheader()?;
                            let n = s.seq_len(5)?;
                            for _ in 0..n {
                                let tid = TypeIdentifier::read(&mut s)?;
                                let obj = TypeObject::read(&mut s)?;
                                out.types.push((tid, obj));
                            }
                            b.skip_to_end_of(&s);
                        } else if id == member_hash_id("complete_to_minimal") {
                            let mut s = b.dheader()?;
                            let n = s.seq_len(2)?;
                            for _ in 0..n {
                                let a = TypeIdentifier::read(&mut s)?;
                                let c = TypeIdentifier::read(&mut s)?;
                                out.complete_to_minimal.push((a, c));
                            }
                            b.skip_to_end_of(&s);
                        }
                        Ok(())
                    })?;
                    Ok(out)
                } else {
                    Err(code)
                };
                u.skip_to_end_of(&res);
                TypeLookupReturn::GetTypes(out)
            }
            GET_DEPENDENCIES_HASH_ID => {
                let mut res = u.dheader()?;
                let code = res.i32()?;
                let out = if code == RETCODE_OK {
                    let mut out = GetTypeDependenciesOut::default();
                    members(&mut res, |id, b| {
                        if id == member_hash_id("dependent_typeids") {
                            out.dependent_typeids = read_tiws_seq(b)?;
                        } else if id == member_hash_id("continuation_point") {
                            out.continuation_point = read_octets(b)?;
                        }
                        Ok(())
                    })?;
                    Ok(out)
                } else {
                    Err(code)
                };
                u.skip_to_end_of(&res);
                TypeLookupReturn::GetTypeDependencies(out)
            }
            other => TypeLookupReturn::Unknown(other),
        };
        r.skip_to_end_of(&u);
        Ok(TypeLookupReply { header: ReplyHeader { related_request_id, remote_ex }, return_data })
    }
}
