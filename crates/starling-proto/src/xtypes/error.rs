//! Errors of the dynamic-type codec, TypeObjects and TypeLookup messages.

use thiserror::Error;

use crate::cdr::CdrError;

/// An error while encoding, decoding or describing dynamically typed data.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DynamicError {
    /// The CDR layer failed (truncated input, bad string, bound exceeded, ...).
    #[error(transparent)]
    Cdr(#[from] CdrError),
    /// A value does not have the shape its type requires.
    #[error("expected {expected}, found {found}")]
    Mismatch {
        /// What the type requires.
        expected: String,
        /// What the value is.
        found: &'static str,
    },
    /// A struct value has the wrong number of fields.
    #[error("struct {name} has {expected} members, the value has {found}")]
    MemberCount {
        /// Type name.
        name: String,
        /// Members of the type (base members included).
        expected: usize,
        /// Fields of the value.
        found: usize,
    },
    /// A non-optional member has no value.
    #[error("member {0} is not optional but has no value")]
    MissingMember(String),
    /// An array value has the wrong number of elements.
    #[error("array needs {expected} elements, the value has {found}")]
    ArrayLength {
        /// Product of the dimensions.
        expected: usize,
        /// Elements in the value.
        found: usize,
    },
    /// A discriminator value that the discriminator type cannot represent.
    #[error("discriminator value {0} out of range for its type")]
    Discriminator(i64),
    /// The type itself cannot be used this way; the text says why.
    #[error("unsupported type: {0}")]
    Unsupported(String),
    /// A TypeObject or TypeIdentifier that is malformed or uses something not supported.
    #[error("invalid TypeObject: {0}")]
    TypeObject(&'static str),
    /// A TypeIdentifier that the resolver does not know.
    #[error("unresolved type identifier {0}")]
    Unresolved(String),
}
