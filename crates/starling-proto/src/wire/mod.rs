//! The RTPS 2.5 wire codec.
//!
//! Decoding never panics and never allocates in proportion to an unchecked
//! length field: decoded submessages borrow from the datagram.

pub mod cursor;
pub mod error;
pub mod parameter;
pub mod types;

pub use cursor::{ByteReader, ByteWriter, Endian};
pub use error::DecodeError;
pub use parameter::{pid, ParameterList, ParameterListWriter};
pub use types::*;
