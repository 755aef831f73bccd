//! Errors of the CDR / XCDR codec.

use thiserror::Error;

/// An error while encoding or decoding CDR, XCDR1 or XCDR2 data.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CdrError {
    /// The input ended before the value (or its alignment padding) was complete.
    #[error("CDR data truncated")]
    Truncated,
    /// A boolean octet was neither 0 nor 1.
    #[error("invalid CDR boolean value {0}")]
    InvalidBool(u8),
    /// A string's bytes were not valid UTF-8.
    #[error("CDR string is not valid UTF-8")]
    InvalidUtf8,
    /// A string or sequence is longer than its declared bound.
    #[error("length {len} exceeds bound {bound}")]
    BoundExceeded {
        /// The actual length (characters for strings, elements for sequences).
        len: usize,
        /// The declared maximum.
        bound: usize,
    },
    /// An enumeration value that the type does not define.
    #[error("invalid enumeration value {0}")]
    InvalidEnum(u32),
    /// The encapsulation identifier of a serialized payload is not one this codec handles.
    #[error("unknown encapsulation identifier {0:02x?}")]
    UnknownEncapsulation([u8; 2]),
    /// A DataRepresentationId other than XCDR1 (0) or XCDR2 (2) was requested.
    #[error("unsupported data representation {0}")]
    UnsupportedRepresentation(i16),
    /// A mutable-type member flagged must-understand that the type does not know.
    #[error("unknown must-understand member id {0:#x}")]
    UnknownMember(u32),
    /// Structurally invalid data; the text says what was wrong.
    #[error("invalid CDR data: {0}")]
    Invalid(&'static str),
}
