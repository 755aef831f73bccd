//! TypeLookup.
