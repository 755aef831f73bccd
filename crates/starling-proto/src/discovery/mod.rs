//! Discovery data: what SPDP and SEDP carry, encoded as parameter lists.

pub mod data;

pub use data::{builtin_endpoints, ContentFilterProperty, EndpointData, ParticipantData};
