//! Decode errors for everything that arrives from the network.

/// Why a datagram, submessage or parameter could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("truncated: needed {needed} more bytes, {available} available")]
    Truncated {
        /// Bytes the decoder wanted.
        needed: usize,
        /// Bytes that remained.
        available: usize,
    },
    /// The bytes are present but not a valid value.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// Not an RTPS message (wrong magic, e.g. RTI's `RTPX`).
    #[error("not an RTPS message")]
    NotRtps,
    /// An RTPS major version this implementation does not speak.
    #[error("unsupported RTPS protocol version {0}.{1}")]
    UnsupportedVersion(u8, u8),
    /// A parameter with the must-understand bit that we do not understand.
    #[error("unknown must-understand parameter 0x{0:04x}")]
    MustUnderstand(u16),
}
