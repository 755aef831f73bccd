//! IDL model → [`DynamicType`]: types of IDL files parsed at run time (by `starling-idl`) as dynamic
//! types, described exactly as the generated code describes itself (`TopicType::dynamic_type`), so a
//! dynamic endpoint and a compiled one announce the same TypeObject.
//!
//! Typedefs are already expanded in the model; bitsets and recursive types have no dynamic form.

use starling_idl::ast::Prim;
use starling_idl::model::{Ext, ItemKind, Model, Type};
use starling_proto::xtypes::{
    AutoId, BitmaskType, DynamicType, EnumType, Extensibility, PrimitiveKind, StructMember, StructType, UnionCase,
    UnionType,
};

/// Why a named IDL type cannot be turned into a [`DynamicType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FromIdlError {
    /// No struct, union, enum or bitmask has this scoped name.
    #[error("no type '{0}' in the IDL files")]
    Unknown(String),
    /// The type holds a bitset or refers to itself.
    #[error("type '{0}' cannot be described as a dynamic type (bitset or recursive type)")]
    NotDescribable(String),
}

/// The dynamic type of the struct, union, enum or bitmask `scoped` (`Module::Type`; a leading `::` is ignored).
pub fn dynamic_type(model: &Model, scoped: &str) -> Result<DynamicType, FromIdlError> {
    let scoped = scoped.trim_start_matches("::");
    if model.get(scoped).is_none() {
        return Err(FromIdlError::Unknown(scoped.to_string()));
    }
    named(model, scoped, &mut Vec::new())
}

/// Scoped names of the structs in `model` (candidates for topic types), in declaration order.
pub fn struct_names(model: &Model) -> Vec<String> {
    model
        .items
        .iter()
        .filter(|i| matches!(i.kind, ItemKind::Struct(_)))
        .map(starling_idl::model::Item::scoped)
        .collect()
}

fn ext(e: Ext) -> Extensibility {
    match e {
        Ext::Final => Extensibility::Final,
        Ext::Appendable => Extensibility::Appendable,
        Ext::Mutable => Extensibility::Mutable,
    }
}

fn prim(p: Prim) -> PrimitiveKind {
    match p {
        Prim::Bool => PrimitiveKind::Bool,
        Prim::Octet => PrimitiveKind::Byte,
        Prim::Char => PrimitiveKind::Char8,
        Prim::WChar => PrimitiveKind::Char16,
        Prim::I8 => PrimitiveKind::Int8,
        Prim::U8 => PrimitiveKind::UInt8,
        Prim::I16 => PrimitiveKind::Int16,
        Prim::U16 => PrimitiveKind::UInt16,
        Prim::I32 => PrimitiveKind::Int32,
        Prim::U32 => PrimitiveKind::UInt32,
        Prim::I64 => PrimitiveKind::Int64,
        Prim::U64 => PrimitiveKind::UInt64,
        Prim::F32 => PrimitiveKind::Float32,
        Prim::F64 => PrimitiveKind::Float64,
        Prim::F128 => PrimitiveKind::Float128,
    }
}

fn bound(b: Option<u64>) -> u32 {
    b.map_or(0, |b| u32::try_from(b).unwrap_or(u32::MAX))
}

fn ty(model: &Model, t: &Type, stack: &mut Vec<String>) -> Result<DynamicType, FromIdlError> {
    Ok(match t {
        Type::Prim(p) => DynamicType::primitive(prim(*p)),
        Type::String { wide: false, bound: b } => DynamicType::string(bound(*b)),
        Type::String { wide: true, bound: b } => DynamicType::wstring(bound(*b)),
        Type::Seq(el, b) => DynamicType::sequence(ty(model, el, stack)?, bound(*b)),
        Type::Array(el, dims) => {
            let dims: Vec<u32> = dims.iter().map(|d| u32::try_from(*d).unwrap_or(u32::MAX)).collect();
            DynamicType::array(ty(model, el, stack)?, &dims)
        }
        Type::Map(k, v, b) => DynamicType::map(ty(model, k, stack)?, ty(model, v, stack)?, bound(*b)),
        Type::Named(n) => named(model, n, stack)?,
    })
}

fn named(model: &Model, scoped: &str, stack: &mut Vec<String>) -> Result<DynamicType, FromIdlError> {
    if stack.iter().any(|s| s == scoped) {
        return Err(FromIdlError::NotDescribable(scoped.to_string()));
    }
    let item = model.get(scoped).ok_or_else(|| FromIdlError::Unknown(scoped.to_string()))?;
    stack.push(scoped.to_string());
    let out = match &item.kind {
        ItemKind::Struct(s) => {
            let mut st = StructType::new(scoped, ext(s.ext)).nested(s.nested);
            if s.autoid_hash {
                st = st.autoid(AutoId::Hash);
            }
            let mut skip = 0;
            if let Some(b) = &s.base {
                match named(model, b, stack)? {
                    DynamicType::Struct(bs) => {
                        skip = model.get(b).map_or(0, |i| match &i.kind {
                            ItemKind::Struct(d) => d.fields.len(),
                            _ => 0,
                        });
                        st = st.base(bs);
                    }
                    _ => return Err(FromIdlError::NotDescribable(scoped.to_string())),
                }
            }
            for f in s.fields.iter().skip(skip) {
                let mut m = StructMember::new(f.name.clone(), ty(model, &f.ty, stack)?);
                if f.key {
                    m = m.key();
                }
                if f.optional {
                    m = m.optional();
                }
                if f.must_understand {
                    m = m.must_understand();
                }
                if f.external {
                    m = m.external();
                }
                st = st.with_member(m.id(f.id));
            }
            st.build()
        }
        ItemKind::Union(u) => {
            let mut un = UnionType::new(scoped, ext(u.ext), ty(model, &u.disc, stack)?);
            un.nested = u.nested;
            un.autoid = if u.autoid_hash { AutoId::Hash } else { AutoId::Sequential };
            for c in &u.cases {
                un = un.with_case(UnionCase {
                    id: c.id,
                    name: c.name.clone(),
                    ty: ty(model, &c.ty, stack)?,
                    labels: c.labels.iter().map(|l| i64::try_from(*l).unwrap_or(i64::MAX)).collect(),
                    is_default: c.is_default,
                    external: c.external,
                });
            }
            un.build()
        }
        ItemKind::Enum { bit_bound, values } => {
            let mut e = EnumType::new(scoped).bit_bound(u16::try_from(*bit_bound).unwrap_or(32));
            for (n, v) in values {
                e = e.literal_value(n.clone(), i32::try_from(*v).unwrap_or(i32::MAX));
            }
            e.build()
        }
        ItemKind::Bitmask { bit_bound, flags } => {
            let mut b = BitmaskType::new(scoped).bit_bound(u16::try_from(*bit_bound).unwrap_or(32));
            for (n, p) in flags {
                b = b.flag_at(n.clone(), u16::try_from(*p).unwrap_or(u16::MAX));
            }
            b.build()
        }
        _ => return Err(FromIdlError::NotDescribable(scoped.to_string())),
    };
    stack.pop();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(src: &str) -> Model {
        let dir = std::env::temp_dir().join(format!("starling-from-idl-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.idl");
        std::fs::write(&f, src).unwrap();
        let m = starling_idl::check(&[&f], &[&dir]).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        m
    }

    #[test]
    fn shape_type_matches_builtin() {
        let m = model(
            "@appendable struct ShapeType { @key string<128> color; long x; long y; long shapesize; \
             sequence<uint8> additional_payload_size; };",
        );
        assert_eq!(dynamic_type(&m, "ShapeType").unwrap(), crate::dynamic::shape_type());
        assert_eq!(struct_names(&m), vec!["ShapeType".to_string()]);
    }

    #[test]
    fn nested_enum_union_and_errors() {
        let m = model(
            "module M { enum Color { RED, GREEN }; union U switch (long) { case 1: long a; default: string b; };\n\
             @mutable struct Inner { double v; };\n\
             struct Outer { @key long id; Color c; U u; Inner i; sequence<Inner, 3> more; }; };",
        );
        let t = dynamic_type(&m, "::M::Outer").unwrap();
        assert_eq!(t.name(), Some("M::Outer"));
        assert!(t.is_keyed());
        assert_eq!(dynamic_type(&m, "M::Nope"), Err(FromIdlError::Unknown("M::Nope".into())));
    }
}
