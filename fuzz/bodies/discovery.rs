//! Decodes arbitrary bytes as SPDP and SEDP data (both endpoint kinds) and as
//! a dispose key payload. Nothing may panic.
use starling_proto::discovery::{key_guid, EndpointData, ParticipantData};
use starling_proto::wire::VendorId;

/// Runs one input; panics on a bug.
pub fn run(payload: &[u8]) {
    let _ = ParticipantData::decode(payload);
    let _ = EndpointData::decode(payload, VendorId::CYCLONE, true, None);
    let _ = EndpointData::decode(payload, VendorId::RTI, false, None);
    let _ = key_guid(payload);
}
