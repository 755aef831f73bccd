//! The interoperability demo's `ShapeType`.
//!
//! ```idl
//! @appendable
//! struct ShapeType {
//!   @key string<128> color;
//!   int32 x;
//!   int32 y;
//!   int32 shapesize;
//!   sequence<uint8> additional_payload_size;
//! };
//! ```

use serde::{Deserialize, Serialize};
use starling_proto::cdr::{CdrError, CdrReader, CdrWriter, Extensibility, TopicType, XcdrVersion};

/// Bound of the `color` key member (`string<128>`).
pub const COLOR_BOUND: usize = 128;

/// One sample of the shapes demo: a colored shape at a position.
///
/// JSON form: `{"color":"BLUE","x":10,"y":20,"shapesize":30}`; `additional_payload_size` is omitted when empty
/// and defaults to empty when absent.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShapeType {
    /// The key: the shape's color, at most 128 bytes.
    pub color: String,
    /// Horizontal position.
    pub x: i32,
    /// Vertical position.
    pub y: i32,
    /// Size of the shape.
    pub shapesize: i32,
    /// Extra payload bytes used to test large samples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_payload_size: Vec<u8>,
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

    fn serialize(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        let d = w.begin_dheader();
        w.bounded_string(&self.color, COLOR_BOUND)?;
        w.i32(self.x);
        w.i32(self.y);
        w.i32(self.shapesize);
        w.seq_len(self.additional_payload_size.len());
        w.bytes(&self.additional_payload_size);
        w.end_dheader(d);
        Ok(())
    }

    fn deserialize(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let mut body = r.dheader()?;
        let color = body.bounded_string(COLOR_BOUND)?;
        let x = body.i32()?;
        let y = body.i32()?;
        let shapesize = body.i32()?;
        // Appendable: a peer with an older version of the type may stop before the sequence.
        let additional_payload_size = if body.remaining() == 0 {
            Vec::new()
        } else {
            let n = body.seq_len(1)?;
            body.bytes(n)?.to_vec()
        };
        r.skip_to_end_of(&body);
        Ok(ShapeType { color, x, y, shapesize, additional_payload_size })
    }

    fn serialize_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.bounded_string(&self.color, COLOR_BOUND)
    }

    fn key_max_size(_version: XcdrVersion) -> Option<usize> {
        // uint32 length + 128 characters + NUL.
        Some(4 + COLOR_BOUND + 1)
    }

    fn serialize_key_payload(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        let d = w.begin_dheader();
        w.bounded_string(&self.color, COLOR_BOUND)?;
        w.end_dheader(d);
        Ok(())
    }

    fn deserialize_key_payload(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let mut body = r.dheader()?;
        let color = body.bounded_string(COLOR_BOUND)?;
        r.skip_to_end_of(&body);
        Ok(ShapeType { color, ..ShapeType::default() })
    }

    fn dynamic_type() -> Option<starling_proto::xtypes::DynamicType> {
        Some(crate::dynamic::shape_type())
    }
}

#[cfg(test)]
mod tests;
