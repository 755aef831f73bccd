//! Type assignability (XTypes 1.3 §7.2.4), a practical subset: whether a reader of one type can accept data
//! written with another.
//!
//! Covered: aliases are transparent; primitives must be the same kind; strings by kind (bounds per
//! [`TypeConsistency`]); enums by literal name and value (a final enum needs the same literal set);
//! bitmasks by bit bound; sequences, arrays and maps by element types (array dimensions must match);
//! structs of the same extensibility: final by position with the same member count, appendable by position
//! over the common prefix (either side may have extra trailing members), mutable by member id in any order
//! (with names checked unless ignored); key members must appear on both sides; unions by discriminator and
//! by the cases that share labels. Not covered: type widening, `@try_construct` variants, bitsets,
//! recursive types.

use super::types::{DynamicType, StructMember};
use crate::cdr::Extensibility;

/// The TypeConsistencyEnforcement options that affect assignability.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TypeConsistency {
    /// Ignore sequence (and map) bounds.
    pub ignore_sequence_bounds: bool,
    /// Ignore string bounds.
    pub ignore_string_bounds: bool,
    /// Do not require equal member names for members matched by id.
    pub ignore_member_names: bool,
}

impl Default for TypeConsistency {
    /// The defaults of the TypeConsistencyEnforcement QoS: bounds ignored, names checked.
    fn default() -> Self {
        TypeConsistency { ignore_sequence_bounds: true, ignore_string_bounds: true, ignore_member_names: false }
    }
}

/// True if data of type `source` (the writer's) can be read as type `target` (the reader's), with the
/// default [`TypeConsistency`].
pub fn is_assignable(target: &DynamicType, source: &DynamicType) -> bool {
    is_assignable_with(target, source, &TypeConsistency::default())
}

/// Like [`is_assignable`] with explicit options.
pub fn is_assignable_with(target: &DynamicType, source: &DynamicType, opts: &TypeConsistency) -> bool {
    assignable(target, source, opts, 0)
}

fn bound_ok(target: u32, source: u32, ignore: bool) -> bool {
    ignore || target == 0 || (source != 0 && source <= target)
}

fn assignable(t: &DynamicType, s: &DynamicType, o: &TypeConsistency, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    let d = depth + 1;
    match (t.resolve(), s.resolve()) {
        (DynamicType::Primitive(a), DynamicType::Primitive(b)) => a == b,
        (DynamicType::String { bound: a }, DynamicType::String { bound: b })
        | (DynamicType::WString { bound: a }, DynamicType::WString { bound: b }) => {
            bound_ok(*a, *b, o.ignore_string_bounds)
        }
        (DynamicType::Enum(a), DynamicType::Enum(b)) => {
            let subset = b.literals.iter().all(|l| a.by_name(&l.name).is_some_and(|x| x.value == l.value));
            match a.extensibility {
                Extensibility::Final => subset && a.literals.len() == b.literals.len(),
                _ => subset,
            }
        }
        (DynamicType::Bitmask(a), DynamicType::Bitmask(b)) => a.bit_bound == b.bit_bound,
        (DynamicType::Fixed { digits: a, scale: s1 }, DynamicType::Fixed { digits: b, scale: s2 }) => {
            a == b && s1 == s2
        }
        // XTypes 1.3 §7.2.4.4.4.9: the same bit fields (position and width; holder types may differ).
        (DynamicType::Bitset(a), DynamicType::Bitset(b)) => {
            a.fields.len() == b.fields.len()
                && a.fields.iter().zip(&b.fields).all(|(x, y)| x.position == y.position && x.bitcount == y.bitcount)
        }
        (DynamicType::Sequence(a), DynamicType::Sequence(b)) => {
            bound_ok(a.bound, b.bound, o.ignore_sequence_bounds) && assignable(&a.element, &b.element, o, d)
        }
        (DynamicType::Array(a), DynamicType::Array(b)) => a.dims == b.dims && assignable(&a.element, &b.element, o, d),
        (DynamicType::Map(a), DynamicType::Map(b)) => {
            bound_ok(a.bound, b.bound, o.ignore_sequence_bounds)
                && assignable(&a.key, &b.key, o, d)
                && assignable(&a.value, &b.value, o, d)
        }
        (DynamicType::Struct(a), DynamicType::Struct(b)) => {
            if a.extensibility != b.extensibility {
                return false;
            }
            let (ta, sb) = (a.all_members(), b.all_members());
            match a.extensibility {
                Extensibility::Final => {
                    ta.len() == sb.len() && ta.iter().zip(&sb).all(|(x, y)| member_ok(x, y, o, d, false))
                }
                Extensibility::Appendable => {
                    let common = ta.len().min(sb.len());
                    let keys_in_common = ta.iter().chain(&sb).enumerate().all(|(i, m)| {
                        let pos = if i < ta.len() { i } else { i - ta.len() };
                        !m.key || pos < common
                    });
                    (common > 0 || (ta.is_empty() && sb.is_empty()))
                        && keys_in_common
                        && ta.iter().zip(&sb).all(|(x, y)| member_ok(x, y, o, d, false))
                }
                Extensibility::Mutable => {
                    let mut matched = 0;
                    for x in &ta {
                        match sb.iter().find(|y| y.id == x.id) {
                            Some(y) => {
                                if !member_ok(x, y, o, d, true) {
                                    return false;
                                }
                                matched += 1;
                            }
                            None if x.key => return false,
                            None => {}
                        }
                    }
                    let source_keys_known = sb.iter().filter(|y| y.key).all(|y| ta.iter().any(|x| x.id == y.id));
                    source_keys_known && (matched > 0 || (ta.is_empty() && sb.is_empty()))
                }
            }
        }
        (DynamicType::Union(a), DynamicType::Union(b)) => {
            if a.extensibility != b.extensibility || !assignable(&a.discriminator, &b.discriminator, o, d) {
                return false;
            }
            let mut common = false;
            for sc in &b.cases {
                for l in &sc.labels {
                    if let Some((_, tc)) = a.case_for(*l) {
                        if !assignable(&tc.ty, &sc.ty, o, d) {
                            return false;
                        }
                        common = true;
                    }
                }
            }
            common || b.cases.iter().all(|c| c.labels.is_empty())
        }
        _ => false,
    }
}

fn member_ok(x: &StructMember, y: &StructMember, o: &TypeConsistency, depth: usize, by_id: bool) -> bool {
    let names = o.ignore_member_names || !by_id || x.name == y.name;
    x.id == y.id && x.key == y.key && names && assignable(&x.ty, &y.ty, o, depth)
}
