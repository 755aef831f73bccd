//! CDR, XCDR1 and XCDR2 encoding.
//!
//! - [`CdrWriter`] / [`CdrReader`]: primitives with alignment, strings, sequences, DHEADERs and mutable-type
//!   member headers (XCDR2 EMHEADER, XCDR1 PL_CDR).
//! - [`Encapsulation`]: the 4-byte header in front of every serialized payload.
//! - [`TopicType`]: the trait typed topics implement; [`encode_sample`], [`decode_sample`] and [`key_hash`]
//!   work on whole payloads.
//!
//! Starling has its own codec rather than using the `cdr` crate because that crate only implements classic
//! CDR: it has no XCDR2 (no DHEADER or EMHEADER, and no 4-byte maximum alignment), which DDS peers use for
//! appendable and mutable types.

pub mod encapsulation;
pub mod error;
pub mod fixed;
pub mod reader;
pub mod topic;
pub mod traits;
pub mod writer;

pub use encapsulation::{Encapsulation, Extensibility, XcdrVersion};
pub use error::CdrError;
pub use fixed::{Fixed, FixedError};
pub use reader::CdrReader;
pub use topic::{
    decode_key_payload, decode_sample, encode_key_payload, encode_sample, key_hash, split_encapsulation, try_key_hash,
    version_for_representation, TopicType,
};
pub use traits::CdrSerialize;
pub use writer::{CdrWriter, DHeaderToken, MemberToken};

#[cfg(test)]
mod tests;
