//! Discovery data: what SPDP and SEDP carry, encoded as parameter lists.

pub mod data;
mod plist;
mod qos_codec;
mod sedp;
mod spdp;

pub use data::{builtin_endpoints, ContentFilterProperty, EndpointData, ParticipantData};
pub use plist::key_guid;
