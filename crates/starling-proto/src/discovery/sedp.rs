//! SEDP (DCPSPublication / DCPSSubscription) parameter-list encoding and
//! decoding (facts §6).

use super::data::{ContentFilterProperty, EndpointData};
use super::plist::{self, read_string_seq, split_encapsulation, walk, write_string_seq, PL_CDR_LE_HEADER};
use super::qos_codec::{read_qos_param, write_qos};
use crate::qos::EndpointQos;
use crate::wire::cursor::Endian;
use crate::wire::error::DecodeError;
use crate::wire::parameter::{pid, read_cdr_string, write_cdr_string, ParameterList, ParameterListWriter};
use crate::wire::types::{EntityId, Guid, ProtocolVersion, VendorId};

/// Cyclone (vendor 01 10) vendor PID: ADLINK_ENDPOINT_GUID.
const CYCLONE_ENDPOINT_GUID: u16 = 0x8004;
/// RTI (vendor 01 01) vendor PID: EXPECTS_VIRTUAL_HB (boolean as uint32), sent by Connext readers.
const RTI_EXPECTS_VIRTUAL_HB: u16 = 0x8009;

impl EndpointData {
    /// Data for a Starling endpoint: the participant GUID is the endpoint's
    /// prefix + `000001c1`, the vendor is [`VendorId::STARLING`], and locators,
    /// names, type information and filters are empty.
    pub fn new(guid: Guid, topic_name: &str, type_name: &str, qos: EndpointQos) -> Self {
        EndpointData {
            guid,
            participant_guid: Guid::new(guid.prefix, EntityId::PARTICIPANT),
            topic_name: topic_name.to_owned(),
            type_name: type_name.to_owned(),
            qos,
            unicast_locators: Vec::new(),
            multicast_locators: Vec::new(),
            expects_inline_qos: false,
            vendor_id: VendorId::STARLING,
            entity_name: None,
            type_information: None,
            content_filter: None,
            requests_keyhash: false,
            group_guid: None,
            expects_virtual_heartbeat: false,
        }
    }

    /// Appends the serialized payload: the PL_CDR_LE encapsulation header and
    /// the parameter list with every QoS policy written explicitly, ending with
    /// the sentinel. `requests_keyhash` is not written: it is a Cyclone vendor
    /// PID and only means something under Cyclone's vendor id.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&PL_CDR_LE_HEADER);
        let mut w = ParameterListWriter::new(out, Endian::Little);
        let guid = self.guid.to_bytes();
        w.raw(pid::ENDPOINT_GUID, &guid);
        w.raw(pid::PARTICIPANT_GUID, &self.participant_guid.to_bytes());
        w.string(pid::TOPIC_NAME, &self.topic_name);
        w.string(pid::TYPE_NAME, &self.type_name);
        let v = ProtocolVersion::V2_5;
        w.raw(pid::PROTOCOL_VERSION, &[v.major, v.minor]);
        w.raw(pid::VENDORID, &self.vendor_id.0);
        w.raw(pid::KEY_HASH, &guid);
        write_qos(&mut w, &self.qos);
        for l in &self.unicast_locators {
            w.param(pid::UNICAST_LOCATOR, |w| l.write(w));
        }
        for l in &self.multicast_locators {
            w.param(pid::MULTICAST_LOCATOR, |w| l.write(w));
        }
        if self.expects_inline_qos {
            w.raw(pid::EXPECTS_INLINE_QOS, &[1]);
        }
        if let Some(g) = &self.group_guid {
            w.raw(pid::GROUP_GUID, &g.to_bytes());
        }
        if let Some(name) = &self.entity_name {
            w.string(pid::ENTITY_NAME, name);
        }
        if let Some(ti) = &self.type_information {
            w.raw(pid::TYPE_INFORMATION, ti);
        }
        if let Some(cf) = &self.content_filter {
            w.param(pid::CONTENT_FILTER_PROPERTY, |w| {
                for s in [&cf.content_filtered_topic_name, &cf.related_topic_name, &cf.filter_class_name] {
                    w.align(4);
                    write_cdr_string(w, s);
                }
                w.align(4);
                write_cdr_string(w, &cf.filter_expression);
                w.align(4);
                write_string_seq(w, &cf.expression_parameters);
            });
        }
        w.finish();
    }

    /// Decodes a serialized SEDP payload (encapsulation header included).
    ///
    /// - Absent QoS policies take [`EndpointQos::writer_default`] or
    ///   [`EndpointQos::reader_default`] according to `is_writer`.
    /// - The endpoint GUID comes from ENDPOINT_GUID; if that is absent, from
    ///   `key_guid` (the DATA's inline KEY_HASH), then Cyclone's vendor PID
    ///   `0x8004` (vendor 01 10 only), then a KEY_HASH parameter in the list;
    ///   with none of these the data is [`DecodeError::Invalid`].
    /// - PARTICIPANT_GUID defaults to the endpoint prefix + `000001c1`.
    /// - TOPIC_NAME and TYPE_NAME are required.
    /// - `vendor_id` is the VENDORID parameter if present, else `sender_vendor`.
    ///   Vendor-specific PIDs are interpreted only for the vendor they belong to.
    /// - An unknown parameter with the must-understand bit yields
    ///   [`DecodeError::MustUnderstand`].
    pub fn decode(
        payload: &[u8],
        sender_vendor: VendorId,
        is_writer: bool,
        key_guid: Option<Guid>,
    ) -> Result<Self, DecodeError> {
        let (e, body) = split_encapsulation(payload)?;
        // The vendor decides how vendor PIDs read, wherever VENDORID sits in the list.
        let vendor = match ParameterList::new(body, e).find(pid::VENDORID) {
            Some(v) => plist::vendor_id(v)?,
            None => sender_vendor,
        };
        let is_cyclone = vendor == VendorId::CYCLONE;
        let is_rti = vendor.is_rti();
        let qos = if is_writer { EndpointQos::writer_default() } else { EndpointQos::reader_default() };
        let mut d = EndpointData::new(Guid::UNKNOWN, "", "", qos);
        d.vendor_id = vendor;
        let mut endpoint_guid = None;
        let mut cyclone_guid = None;
        let mut key_hash_guid = None;
        let mut participant_guid = None;
        let mut topic = None;
        let mut type_name = None;
        walk(body, e, |p, v| {
            if read_qos_param(&mut d.qos, p, v, e)? {
                return Ok(());
            }
            match p {
                pid::ENDPOINT_GUID => endpoint_guid = Some(plist::guid(v)?),
                pid::PARTICIPANT_GUID => participant_guid = Some(plist::guid(v)?),
                pid::KEY_HASH => key_hash_guid = Some(plist::guid(v)?),
                pid::TOPIC_NAME => topic = Some(plist::string(v, e)?),
                pid::TYPE_NAME => type_name = Some(plist::string(v, e)?),
                pid::UNICAST_LOCATOR => d.unicast_locators.push(plist::locator(v, e)?),
                pid::MULTICAST_LOCATOR => d.multicast_locators.push(plist::locator(v, e)?),
                pid::EXPECTS_INLINE_QOS => d.expects_inline_qos = plist::boolean(v)?,
                pid::ENTITY_NAME => d.entity_name = Some(plist::string(v, e)?),
                pid::TYPE_INFORMATION => d.type_information = Some(v.to_vec()),
                pid::CONTENT_FILTER_PROPERTY => d.content_filter = Some(read_content_filter(v, e)?),
                pid::GROUP_GUID => d.group_guid = Some(plist::guid(v)?),
                // Understood, not kept: PROTOCOL_VERSION, VENDORID (read above).
                pid::PROTOCOL_VERSION | pid::VENDORID => {}
                RTI_EXPECTS_VIRTUAL_HB if is_rti => {
                    d.expects_virtual_heartbeat = v.iter().any(|b| *b != 0);
                }
                CYCLONE_ENDPOINT_GUID if is_cyclone => cyclone_guid = Some(plist::guid(v)?),
                pid::CYCLONE_REQUESTS_KEYHASH if is_cyclone => {
                    d.requests_keyhash = v.first().is_none_or(|b| *b != 0);
                }
                _ => plist::unknown(p)?,
            }
            Ok(())
        })?;
        d.guid = endpoint_guid
            .or(key_guid)
            .or(cyclone_guid)
            .or(key_hash_guid)
            .ok_or(DecodeError::Invalid("SEDP data without an endpoint GUID"))?;
        d.participant_guid = participant_guid.unwrap_or(Guid::new(d.guid.prefix, EntityId::PARTICIPANT));
        d.topic_name = topic.ok_or(DecodeError::Invalid("SEDP data without TOPIC_NAME"))?;
        d.type_name = type_name.ok_or(DecodeError::Invalid("SEDP data without TYPE_NAME"))?;
        Ok(d)
    }
}

/// CONTENT_FILTER_PROPERTY: four strings and a sequence<string> of parameters.
fn read_content_filter(v: &[u8], e: Endian) -> Result<ContentFilterProperty, DecodeError> {
    let mut r = plist::reader(v, e);
    let mut s = || -> Result<String, DecodeError> {
        r.align(4)?;
        read_cdr_string(&mut r)
    };
    let content_filtered_topic_name = s()?;
    let related_topic_name = s()?;
    let filter_class_name = s()?;
    let filter_expression = s()?;
    r.align(4)?;
    let expression_parameters = read_string_seq(&mut r)?;
    Ok(ContentFilterProperty {
        content_filtered_topic_name,
        related_topic_name,
        filter_class_name,
        filter_expression,
        expression_parameters,
    })
}
