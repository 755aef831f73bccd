//! DDS SQL content filters.
