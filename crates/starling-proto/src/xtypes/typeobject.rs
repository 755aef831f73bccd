//! TypeObject.
