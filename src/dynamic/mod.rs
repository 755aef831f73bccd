//! Dynamically typed samples: JSON conversion for [`DynamicValue`](starling_proto::xtypes::DynamicValue)s and the
//! dynamic form of built-in types.
//!
//! The type model and the XCDR codec live in [`starling_proto::xtypes`]; this module adds what needs
//! `serde_json`.

pub mod from_idl;
pub mod json;
pub mod to_idl;

pub use from_idl::{dynamic_type as from_idl, FromIdlError};
pub use json::{from_json, to_json, JsonError};
pub use to_idl::to_idl;

use starling_proto::xtypes::{DynamicType, Extensibility, StructType};

/// The interoperability demo's `ShapeType` as a [`DynamicType`]; it encodes exactly like
/// [`crate::types::ShapeType`].
pub fn shape_type() -> DynamicType {
    StructType::new("ShapeType", Extensibility::Appendable)
        .key_member("color", DynamicType::string(crate::types::shape::COLOR_BOUND as u32))
        .member("x", DynamicType::int32())
        .member("y", DynamicType::int32())
        .member("shapesize", DynamicType::int32())
        .member("additional_payload_size", DynamicType::sequence(DynamicType::uint8(), 0))
        .build()
}

#[cfg(test)]
mod tests;
