//! Encapsulation identifiers (the first two bytes of every serialized payload),
//! XCDR versions and type extensibility kinds.

use super::error::CdrError;
use crate::wire::Endian;

/// The version of the extended CDR rules a stream follows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum XcdrVersion {
    /// XCDR version 1 (classic CDR; 8-byte alignment; PL_CDR for mutable types).
    V1,
    /// XCDR version 2 (maximum alignment 4; DHEADER and EMHEADER).
    V2,
}

/// The extensibility kind of a constructed type (XTypes §7.2.2.4.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Extensibility {
    /// `@final`: members fixed, no headers.
    Final,
    /// `@appendable`: members may be added at the end; XCDR2 prefixes a DHEADER.
    Appendable,
    /// `@mutable`: members identified by id; parameter-list encoding.
    Mutable,
}

/// The representation identifier of a serialized payload's encapsulation header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Encapsulation {
    /// `00 00`: plain XCDR1, big-endian.
    CdrBe,
    /// `00 01`: plain XCDR1, little-endian.
    CdrLe,
    /// `00 02`: XCDR1 parameter list, big-endian.
    PlCdrBe,
    /// `00 03`: XCDR1 parameter list, little-endian.
    PlCdrLe,
    /// `00 06`: plain XCDR2 (final types), big-endian.
    Cdr2Be,
    /// `00 07`: plain XCDR2 (final types), little-endian.
    Cdr2Le,
    /// `00 08`: delimited XCDR2 (appendable types), big-endian.
    DCdr2Be,
    /// `00 09`: delimited XCDR2 (appendable types), little-endian.
    DCdr2Le,
    /// `00 0a`: XCDR2 parameter list (mutable types), big-endian.
    PlCdr2Be,
    /// `00 0b`: XCDR2 parameter list (mutable types), little-endian.
    PlCdr2Le,
}

impl Encapsulation {
    /// The two identifier bytes as they appear on the wire (always big-endian).
    pub fn id(self) -> [u8; 2] {
        let low = match self {
            Encapsulation::CdrBe => 0x00,
            Encapsulation::CdrLe => 0x01,
            Encapsulation::PlCdrBe => 0x02,
            Encapsulation::PlCdrLe => 0x03,
            Encapsulation::Cdr2Be => 0x06,
            Encapsulation::Cdr2Le => 0x07,
            Encapsulation::DCdr2Be => 0x08,
            Encapsulation::DCdr2Le => 0x09,
            Encapsulation::PlCdr2Be => 0x0a,
            Encapsulation::PlCdr2Le => 0x0b,
        };
        [0x00, low]
    }

    /// Parses the two identifier bytes; XML (`00 04`/`00 05`) and unknown ids are rejected.
    pub fn from_id(id: [u8; 2]) -> Result<Self, CdrError> {
        Ok(match id {
            [0x00, 0x00] => Encapsulation::CdrBe,
            [0x00, 0x01] => Encapsulation::CdrLe,
            [0x00, 0x02] => Encapsulation::PlCdrBe,
            [0x00, 0x03] => Encapsulation::PlCdrLe,
            [0x00, 0x06] => Encapsulation::Cdr2Be,
            [0x00, 0x07] => Encapsulation::Cdr2Le,
            [0x00, 0x08] => Encapsulation::DCdr2Be,
            [0x00, 0x09] => Encapsulation::DCdr2Le,
            [0x00, 0x0a] => Encapsulation::PlCdr2Be,
            [0x00, 0x0b] => Encapsulation::PlCdr2Le,
            other => return Err(CdrError::UnknownEncapsulation(other)),
        })
    }

    /// The byte order of the payload body.
    pub fn endian(self) -> Endian {
        match self {
            Encapsulation::CdrBe
            | Encapsulation::PlCdrBe
            | Encapsulation::Cdr2Be
            | Encapsulation::DCdr2Be
            | Encapsulation::PlCdr2Be => Endian::Big,
            Encapsulation::CdrLe
            | Encapsulation::PlCdrLe
            | Encapsulation::Cdr2Le
            | Encapsulation::DCdr2Le
            | Encapsulation::PlCdr2Le => Endian::Little,
        }
    }

    /// The XCDR version of the payload body.
    pub fn version(self) -> XcdrVersion {
        match self {
            Encapsulation::CdrBe | Encapsulation::CdrLe | Encapsulation::PlCdrBe | Encapsulation::PlCdrLe => {
                XcdrVersion::V1
            }
            _ => XcdrVersion::V2,
        }
    }

    /// The identifier a writer uses for a type of the given extensibility.
    ///
    /// XCDR1: final and appendable → CDR, mutable → PL_CDR.
    /// XCDR2: final → CDR2, appendable → D_CDR2, mutable → PL_CDR2.
    pub fn for_type(version: XcdrVersion, extensibility: Extensibility, endian: Endian) -> Self {
        let big = endian == Endian::Big;
        match (version, extensibility) {
            (XcdrVersion::V1, Extensibility::Final | Extensibility::Appendable) => {
                if big {
                    Encapsulation::CdrBe
                } else {
                    Encapsulation::CdrLe
                }
            }
            (XcdrVersion::V1, Extensibility::Mutable) => {
                if big {
                    Encapsulation::PlCdrBe
                } else {
                    Encapsulation::PlCdrLe
                }
            }
            (XcdrVersion::V2, Extensibility::Final) => {
                if big {
                    Encapsulation::Cdr2Be
                } else {
                    Encapsulation::Cdr2Le
                }
            }
            (XcdrVersion::V2, Extensibility::Appendable) => {
                if big {
                    Encapsulation::DCdr2Be
                } else {
                    Encapsulation::DCdr2Le
                }
            }
            (XcdrVersion::V2, Extensibility::Mutable) => {
                if big {
                    Encapsulation::PlCdr2Be
                } else {
                    Encapsulation::PlCdr2Le
                }
            }
        }
    }
}
