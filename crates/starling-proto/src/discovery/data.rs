//! SPDP participant data and SEDP publication/subscription data, with their
//! parameter-list encoding (PL_CDR_LE out, PL_CDR_LE or PL_CDR_BE in).
//!
//! Absent parameters decode as the spec defaults (Cyclone omits defaults).

use crate::qos::EndpointQos;
use crate::wire::types::{Duration, Guid, GuidPrefix, Locator, ProtocolVersion, VendorId};

/// BUILTIN_ENDPOINT_SET bits.
pub mod builtin_endpoints {
    /// SPDP writer.
    pub const PARTICIPANT_ANNOUNCER: u32 = 1 << 0;
    /// SPDP reader.
    pub const PARTICIPANT_DETECTOR: u32 = 1 << 1;
    /// SEDP publications writer.
    pub const PUBLICATIONS_ANNOUNCER: u32 = 1 << 2;
    /// SEDP publications reader.
    pub const PUBLICATIONS_DETECTOR: u32 = 1 << 3;
    /// SEDP subscriptions writer.
    pub const SUBSCRIPTIONS_ANNOUNCER: u32 = 1 << 4;
    /// SEDP subscriptions reader.
    pub const SUBSCRIPTIONS_DETECTOR: u32 = 1 << 5;
    /// Participant message writer.
    pub const PARTICIPANT_MESSAGE_WRITER: u32 = 1 << 10;
    /// Participant message reader.
    pub const PARTICIPANT_MESSAGE_READER: u32 = 1 << 11;
    /// TypeLookup request writer.
    pub const TYPELOOKUP_REQUEST_WRITER: u32 = 1 << 12;
    /// TypeLookup request reader.
    pub const TYPELOOKUP_REQUEST_READER: u32 = 1 << 13;
    /// TypeLookup reply writer.
    pub const TYPELOOKUP_REPLY_WRITER: u32 = 1 << 14;
    /// TypeLookup reply reader.
    pub const TYPELOOKUP_REPLY_READER: u32 = 1 << 15;
    /// SEDP topics writer (Cyclone/dust_dds numbering).
    pub const TOPICS_ANNOUNCER: u32 = 1 << 28;
    /// SEDP topics reader.
    pub const TOPICS_DETECTOR: u32 = 1 << 29;
}

/// SPDP (DCPSParticipant) data.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantData {
    /// The participant's GUID prefix.
    pub guid_prefix: GuidPrefix,
    /// PROTOCOL_VERSION.
    pub protocol_version: ProtocolVersion,
    /// VENDORID.
    pub vendor_id: VendorId,
    /// DOMAIN_ID, when sent.
    pub domain_id: Option<u32>,
    /// DOMAIN_TAG ("" when absent).
    pub domain_tag: String,
    /// BUILTIN_ENDPOINT_SET.
    pub builtin_endpoints: u32,
    /// METATRAFFIC_UNICAST_LOCATOR, in order.
    pub metatraffic_unicast_locators: Vec<Locator>,
    /// METATRAFFIC_MULTICAST_LOCATOR.
    pub metatraffic_multicast_locators: Vec<Locator>,
    /// DEFAULT_UNICAST_LOCATOR.
    pub default_unicast_locators: Vec<Locator>,
    /// DEFAULT_MULTICAST_LOCATOR.
    pub default_multicast_locators: Vec<Locator>,
    /// PARTICIPANT_LEASE_DURATION (100 s when absent).
    pub lease_duration: Duration,
    /// ENTITY_NAME.
    pub entity_name: Option<String>,
    /// USER_DATA.
    pub user_data: Vec<u8>,
    /// PROPERTY_LIST (string properties only).
    pub properties: Vec<(String, String)>,
    /// EXPECTS_INLINE_QOS.
    pub expects_inline_qos: bool,
}

/// CONTENT_FILTER_PROPERTY of a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentFilterProperty {
    /// Name of the content-filtered topic.
    pub content_filtered_topic_name: String,
    /// The related (real) topic.
    pub related_topic_name: String,
    /// Filter class, "DDSSQL".
    pub filter_class_name: String,
    /// The filter expression.
    pub filter_expression: String,
    /// %n parameters.
    pub expression_parameters: Vec<String>,
}

/// SEDP DCPSPublication or DCPSSubscription data.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointData {
    /// ENDPOINT_GUID (or from the key hash).
    pub guid: Guid,
    /// PARTICIPANT_GUID (defaults to the endpoint's prefix + participant id).
    pub participant_guid: Guid,
    /// TOPIC_NAME.
    pub topic_name: String,
    /// TYPE_NAME.
    pub type_name: String,
    /// All QoS policies (defaults for absent ones: writer or reader defaults).
    pub qos: EndpointQos,
    /// UNICAST_LOCATOR (empty: use the participant's default locators).
    pub unicast_locators: Vec<Locator>,
    /// MULTICAST_LOCATOR.
    pub multicast_locators: Vec<Locator>,
    /// EXPECTS_INLINE_QOS (readers).
    pub expects_inline_qos: bool,
    /// The VENDORID parameter, if sent; otherwise the sender's header vendor.
    pub vendor_id: VendorId,
    /// ENTITY_NAME.
    pub entity_name: Option<String>,
    /// TYPE_INFORMATION, raw XCDR2 bytes.
    pub type_information: Option<Vec<u8>>,
    /// CONTENT_FILTER_PROPERTY (subscriptions).
    pub content_filter: Option<ContentFilterProperty>,
    /// Cyclone's REQUESTS_KEYHASH (vendor 01 10, PID 0x801c).
    pub requests_keyhash: bool,
    /// GROUP_GUID: the endpoint's Publisher or Subscriber, if announced.
    pub group_guid: Option<Guid>,
    /// RTI's EXPECTS_VIRTUAL_HB (vendor 01 01, PID 0x8009, readers): the reader wants HEARTBEAT_VIRTUAL.
    pub expects_virtual_heartbeat: bool,
}
