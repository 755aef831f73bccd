//! Assignability.
use super::types::DynamicType;
/// Stub.
pub fn is_assignable(_a: &DynamicType, _b: &DynamicType) -> bool {
    true
}
