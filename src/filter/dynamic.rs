//! Filter evaluation on a [`DynamicValue`] with its [`DynamicType`], without converting the sample to JSON.

use super::{Filter, FilterValue, PathSegment, Value};
use starling_proto::xtypes::{DynamicType, DynamicValue, Projection, StructMember, StructType};

/// A sample of a dynamic type, as the filter sees it: member paths resolve by name through the type.
#[derive(Clone, Copy, Debug)]
pub struct DynamicSample<'a> {
    ty: &'a DynamicType,
    value: &'a DynamicValue,
}

impl<'a> DynamicSample<'a> {
    /// `value`, a value of `ty`.
    pub fn new(ty: &'a DynamicType, value: &'a DynamicValue) -> Self {
        DynamicSample { ty, value }
    }
}

/// The member called `name` of `s` (base members first) and its index in `DynamicValue::Struct`.
pub(crate) fn find_member<'t>(s: &'t StructType, name: &str) -> Option<(usize, &'t StructMember)> {
    let offset = match &s.base {
        Some(b) => {
            if let Some(hit) = find_member(b, name) {
                return Some(hit);
            }
            member_count(b)
        }
        None => 0,
    };
    s.members.iter().position(|m| m.name == name).map(|i| (offset + i, &s.members[i]))
}

fn member_count(s: &StructType) -> usize {
    s.base.as_deref().map_or(0, member_count) + s.members.len()
}

/// One step down `path`: the sub-value and its type.
fn step<'a>(
    ty: &'a DynamicType,
    v: &'a DynamicValue,
    seg: &PathSegment,
) -> Option<(&'a DynamicType, &'a DynamicValue)> {
    match (ty.resolve(), v, seg) {
        (DynamicType::Struct(s), DynamicValue::Struct(fields), PathSegment::Member(name)) => {
            let (i, m) = find_member(s, name)?;
            Some((&m.ty, fields.get(i)?.as_ref()?))
        }
        (DynamicType::Union(u), DynamicValue::Union { discriminator, value }, PathSegment::Member(name)) => {
            let (_, c) = u.case_for(*discriminator)?;
            // Only the selected branch has a value.
            (c.name == *name).then_some(())?;
            Some((&c.ty, value.as_deref()?))
        }
        (DynamicType::Sequence(s), DynamicValue::Sequence(items), PathSegment::Index(i)) => {
            Some((&s.element, items.get(*i)?))
        }
        (DynamicType::Array(a), DynamicValue::Array(items), PathSegment::Index(i)) => {
            Some((&a.element, items.get(*i)?))
        }
        _ => None,
    }
}

/// The filter's view of a scalar of type `ty`.
pub(crate) fn scalar(ty: &DynamicType, v: &DynamicValue) -> Option<Value> {
    use DynamicValue as V;
    Some(match v {
        V::Bool(b) => Value::Bool(*b),
        V::Byte(x) | V::UInt8(x) => Value::UInt(u64::from(*x)),
        V::Char8(c) => Value::String(char::from(*c).to_string()),
        V::Char16(c) => Value::String(char::from_u32(u32::from(*c)).unwrap_or('\u{fffd}').to_string()),
        V::Int8(x) => Value::Int(i64::from(*x)),
        V::Int16(x) => Value::Int(i64::from(*x)),
        V::UInt16(x) => Value::UInt(u64::from(*x)),
        V::Int32(x) => Value::Int(i64::from(*x)),
        V::UInt32(x) => Value::UInt(u64::from(*x)),
        V::Int64(x) => Value::Int(*x),
        V::UInt64(x) => Value::UInt(*x),
        V::Float32(x) => Value::Float(f64::from(*x)),
        V::Float64(x) => Value::Float(*x),
        V::String(s) | V::WString(s) => Value::String(s.clone()),
        V::Enum(x) => match ty.resolve() {
            DynamicType::Enum(e) => Value::Enum(e.by_value(*x)?.name.clone(), i64::from(*x)),
            _ => Value::Int(i64::from(*x)),
        },
        V::Bitmask(bits) => Value::UInt(*bits),
        _ => return None,
    })
}

impl FilterValue for DynamicSample<'_> {
    fn field(&self, path: &[PathSegment]) -> Option<Value> {
        let (mut ty, mut v) = (self.ty, self.value);
        for seg in path {
            (ty, v) = step(ty, v, seg)?;
        }
        // A char array or sequence compares as a string.
        if let (
            DynamicType::Sequence(_) | DynamicType::Array(_),
            DynamicValue::Sequence(items) | DynamicValue::Array(items),
        ) = (ty.resolve(), v)
        {
            let mut s = String::new();
            for c in items {
                match c {
                    DynamicValue::Char8(c) if *c != 0 => s.push(char::from(*c)),
                    DynamicValue::Char8(_) => break,
                    _ => return None,
                }
            }
            return Some(Value::String(s));
        }
        scalar(ty, v)
    }
}

/// The members of `ty` that `filter` names, for [`starling_proto::xtypes::decode_projected`]: evaluating the
/// filter on a sample decoded with it gives the same result as on the whole sample.
pub fn projection(ty: &DynamicType, filter: &Filter) -> Projection {
    let mut p = Projection::default();
    for path in filter.field_paths() {
        if let Some(q) = path_projection(ty, path) {
            p = merge_projections(p, q);
        }
    }
    p
}

/// The projection for one member path (`None` when the type has no such member).
fn path_projection(ty: &DynamicType, path: &[PathSegment]) -> Option<Projection> {
    let DynamicType::Struct(s) = ty.resolve() else { return None };
    let [PathSegment::Member(name), rest @ ..] = path else { return None };
    let (i, m) = find_member(s, name)?;
    // Deeper into a struct: only what the rest of the path names; anything else (a scalar, an index into a
    // collection, a union branch): the whole member.
    let sub = match (m.ty.resolve(), rest) {
        (DynamicType::Struct(_), [PathSegment::Member(_), ..]) => {
            Some(path_projection(&m.ty, rest).unwrap_or_default())
        }
        _ => None,
    };
    Some(Projection { members: vec![(i, sub)] })
}

/// The union of two projections.
pub fn merge_projections(mut a: Projection, b: Projection) -> Projection {
    for (i, sub) in b.members {
        match a.members.iter_mut().find(|(j, _)| *j == i) {
            None => a.members.push((i, sub)),
            Some((_, existing)) => {
                *existing = match (existing.take(), sub) {
                    (Some(x), Some(y)) => Some(merge_projections(x, y)),
                    _ => None,
                }
            }
        }
    }
    a
}
