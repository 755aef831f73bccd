//! The RTPS 2.5 wire codec.
//!
//! Decoding never panics and never allocates in proportion to an unchecked
//! length field: decoded submessages borrow from the datagram.

pub mod cursor;
pub mod error;
pub mod header;
pub mod message;
pub mod parameter;
pub mod submessage;
pub mod types;

pub use cursor::{ByteReader, ByteWriter, Endian};
pub use error::DecodeError;
pub use header::Header;
pub use message::{parse, MessageBuilder, SubmessageIter};
pub use parameter::{pid, ParameterList, ParameterListWriter};
pub use submessage::*;
pub use types::*;
