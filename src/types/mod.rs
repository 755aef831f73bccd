//! Built-in topic types.
//!
//! TEMPORARY placeholder for `ShapeType`; replaced by the real type on merge.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};
use starling_proto::cdr::{CdrError, Extensibility, TopicType};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ShapeType {
    pub color: String,
    #[serde(default)]
    pub x: i32,
    #[serde(default)]
    pub y: i32,
    #[serde(default)]
    pub shapesize: i32,
}

impl TopicType for ShapeType {
    fn type_name() -> &'static str {
        "ShapeType"
    }
    fn extensibility() -> Extensibility {
        Extensibility::Appendable
    }
    fn is_keyed() -> bool {
        true
    }
    fn stub_encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    fn stub_decode(b: &[u8]) -> Result<Self, CdrError> {
        serde_json::from_slice(b).map_err(|e| CdrError(e.to_string()))
    }
    fn stub_key(&self) -> Vec<u8> {
        self.color.as_bytes().to_vec()
    }
}
