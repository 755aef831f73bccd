//! SPDP (DCPSParticipant) parameter-list encoding and decoding (facts §5).

use super::data::ParticipantData;
use super::plist::{self, read_octets, split_encapsulation, walk, PL_CDR_LE_HEADER};
use crate::wire::cursor::Endian;
use crate::wire::error::DecodeError;
use crate::wire::parameter::{pid, read_cdr_string, write_cdr_string, ParameterListWriter};
use crate::wire::types::{Duration, EntityId, Guid, GuidPrefix, ProtocolVersion, VendorId};

/// The participant lease assumed when PARTICIPANT_LEASE_DURATION is absent.
const DEFAULT_LEASE: Duration = Duration { seconds: 100, fraction: 0 };

impl ParticipantData {
    /// Data for a Starling participant: vendor [`VendorId::STARLING`], RTPS 2.5,
    /// no domain id, a 100 s lease, and everything else empty or false.
    pub fn new(guid_prefix: GuidPrefix) -> Self {
        ParticipantData {
            guid_prefix,
            protocol_version: ProtocolVersion::V2_5,
            vendor_id: VendorId::STARLING,
            domain_id: None,
            domain_tag: String::new(),
            builtin_endpoints: 0,
            metatraffic_unicast_locators: Vec::new(),
            metatraffic_multicast_locators: Vec::new(),
            default_unicast_locators: Vec::new(),
            default_multicast_locators: Vec::new(),
            lease_duration: DEFAULT_LEASE,
            entity_name: None,
            user_data: Vec::new(),
            properties: Vec::new(),
            expects_inline_qos: false,
        }
    }

    /// The participant's GUID (prefix + `000001c1`).
    pub fn guid(&self) -> Guid {
        Guid::new(self.guid_prefix, EntityId::PARTICIPANT)
    }

    /// Appends the serialized payload: the PL_CDR_LE encapsulation header and
    /// the parameter list, ending with the sentinel.
    ///
    /// DOMAIN_TAG is written only when non-empty (it is must-understand), and
    /// PROPERTY_LIST is written as the string sequence followed by an empty
    /// binary-property sequence, as Cyclone itself sends it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&PL_CDR_LE_HEADER);
        let mut w = ParameterListWriter::new(out, Endian::Little);
        w.raw(pid::PARTICIPANT_GUID, &self.guid().to_bytes());
        w.raw(pid::PROTOCOL_VERSION, &[self.protocol_version.major, self.protocol_version.minor]);
        w.raw(pid::VENDORID, &self.vendor_id.0);
        if let Some(d) = self.domain_id {
            w.u32(pid::DOMAIN_ID, d);
        }
        if !self.domain_tag.is_empty() {
            w.string(pid::DOMAIN_TAG, &self.domain_tag);
        }
        w.u32(pid::BUILTIN_ENDPOINT_SET, self.builtin_endpoints);
        for (p, list) in [
            (pid::METATRAFFIC_UNICAST_LOCATOR, &self.metatraffic_unicast_locators),
            (pid::METATRAFFIC_MULTICAST_LOCATOR, &self.metatraffic_multicast_locators),
            (pid::DEFAULT_UNICAST_LOCATOR, &self.default_unicast_locators),
            (pid::DEFAULT_MULTICAST_LOCATOR, &self.default_multicast_locators),
        ] {
            for l in list {
                w.param(p, |w| l.write(w));
            }
        }
        w.param(pid::PARTICIPANT_LEASE_DURATION, |w| self.lease_duration.write(w));
        if let Some(name) = &self.entity_name {
            w.string(pid::ENTITY_NAME, name);
        }
        if !self.user_data.is_empty() {
            w.param(pid::USER_DATA, |w| plist::write_octets(w, &self.user_data));
        }
        if !self.properties.is_empty() {
            w.param(pid::PROPERTY_LIST, |w| {
                w.u32(self.properties.len() as u32);
                for (name, value) in &self.properties {
                    w.align(4);
                    write_cdr_string(w, name);
                    w.align(4);
                    write_cdr_string(w, value);
                }
                w.align(4);
                w.u32(0);
            });
        }
        if self.expects_inline_qos {
            w.raw(pid::EXPECTS_INLINE_QOS, &[1]);
        }
        w.finish();
    }

    /// Decodes a serialized SPDP payload (encapsulation header included).
    ///
    /// PL_CDR_LE and PL_CDR_BE are accepted, as are CDR_LE/CDR_BE used as
    /// aliases. PARTICIPANT_GUID is required. Absent parameters take their
    /// defaults (lease 100 s). Unknown parameters and vendor-specific ones are
    /// skipped unless they carry the must-understand bit, which yields
    /// [`DecodeError::MustUnderstand`]. Locators of every kind are kept.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let (e, body) = split_encapsulation(payload)?;
        let mut d = ParticipantData::new(GuidPrefix::UNKNOWN);
        d.vendor_id = VendorId::UNKNOWN;
        let mut have_guid = false;
        let mut endpoint_set: Option<u32> = None;
        let mut legacy_endpoint_set: Option<u32> = None;
        walk(body, e, |p, v| {
            match p {
                pid::PARTICIPANT_GUID => {
                    d.guid_prefix = plist::guid(v)?.prefix;
                    have_guid = true;
                }
                pid::PROTOCOL_VERSION => d.protocol_version = plist::protocol_version(v)?,
                pid::VENDORID => d.vendor_id = plist::vendor_id(v)?,
                pid::DOMAIN_ID => d.domain_id = Some(plist::u32_value(v, e)?),
                pid::DOMAIN_TAG => d.domain_tag = plist::string(v, e)?,
                pid::BUILTIN_ENDPOINT_SET => endpoint_set = Some(plist::u32_value(v, e)?),
                pid::PARTICIPANT_BUILTIN_ENDPOINTS => legacy_endpoint_set = Some(plist::u32_value(v, e)?),
                pid::METATRAFFIC_UNICAST_LOCATOR => d.metatraffic_unicast_locators.push(plist::locator(v, e)?),
                pid::METATRAFFIC_MULTICAST_LOCATOR => d.metatraffic_multicast_locators.push(plist::locator(v, e)?),
                pid::DEFAULT_UNICAST_LOCATOR => d.default_unicast_locators.push(plist::locator(v, e)?),
                pid::DEFAULT_MULTICAST_LOCATOR => d.default_multicast_locators.push(plist::locator(v, e)?),
                pid::PARTICIPANT_LEASE_DURATION => d.lease_duration = plist::duration(v, e)?,
                pid::ENTITY_NAME => d.entity_name = Some(plist::string(v, e)?),
                pid::USER_DATA => d.user_data = read_octets(&mut plist::reader(v, e))?,
                pid::PROPERTY_LIST => d.properties = read_properties(v, e)?,
                pid::EXPECTS_INLINE_QOS => d.expects_inline_qos = plist::boolean(v)?,
                _ => plist::unknown(p)?,
            }
            Ok(())
        })?;
        if !have_guid {
            return Err(DecodeError::Invalid("SPDP data without PARTICIPANT_GUID"));
        }
        d.builtin_endpoints = endpoint_set.or(legacy_endpoint_set).unwrap_or(0);
        Ok(d)
    }
}

/// PROPERTY_LIST: sequence<{string name; string value}>, optionally followed by
/// the DDS-Security binary-property sequence, which is not kept.
fn read_properties(v: &[u8], e: Endian) -> Result<Vec<(String, String)>, DecodeError> {
    let mut r = plist::reader(v, e);
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        r.align(4)?;
        let name = read_cdr_string(&mut r)?;
        r.align(4)?;
        let value = read_cdr_string(&mut r)?;
        out.push((name, value));
    }
    Ok(out)
}
