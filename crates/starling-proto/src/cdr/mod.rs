//! CDR, XCDR1 and XCDR2 encoding.
