//! IDL parsed at run time → [`DynamicType`], with the same mapping the code
//! generator uses for `xtypes_type()`, so a type loaded from IDL by the CLI or
//! the bridge encodes, hashes and announces exactly like its generated twin.

use starling_idl::ast::Prim;
use starling_idl::model::{Ext, ItemKind, Model, Type};
use starling_proto::xtypes::{
    AutoId, BitmaskType, BitsetType, DynamicType, EnumType, Extensibility, PrimitiveKind, StructMember, StructType,
    UnionCase, UnionType,
};

/// Why an IDL type has no dynamic form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FromIdlError {
    /// No type of that name in the loaded IDL.
    #[error("no type '{0}' in the IDL files (known: {1})")]
    Unknown(String, String),
    /// The type (or one it uses) cannot be described dynamically.
    #[error("type '{0}' cannot be used at run time: {1}")]
    Unsupported(String, &'static str),
}

/// The dynamic type for the struct or union `scoped` (`module::Name`; a bare
/// name also matches when it is unique).
pub fn dynamic_type(model: &Model, scoped: &str) -> Result<DynamicType, FromIdlError> {
    let name = resolve_name(model, scoped)?;
    build(model, &name, &mut Vec::new())
}

fn resolve_name(model: &Model, given: &str) -> Result<String, FromIdlError> {
    let topic_types = || {
        model.items.iter().filter(|i| matches!(i.kind, ItemKind::Struct(_) | ItemKind::Union(_))).map(|i| i.scoped())
    };
    if model.get(given).is_some() {
        return Ok(given.to_string());
    }
    let matches: Vec<String> = topic_types().filter(|s| s.rsplit("::").next() == Some(given)).collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(FromIdlError::Unknown(given.to_string(), topic_types().collect::<Vec<_>>().join(", "))),
    }
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

fn bound(b: &Option<u64>) -> u32 {
    b.map_or(0, |b| u32::try_from(b).unwrap_or(u32::MAX))
}

fn ty(model: &Model, t: &Type, stack: &mut Vec<String>) -> Result<DynamicType, FromIdlError> {
    Ok(match t {
        Type::Prim(p) => DynamicType::primitive(prim(*p)),
        Type::String { wide: false, bound: b } => DynamicType::string(bound(b)),
        Type::String { wide: true, bound: b } => DynamicType::wstring(bound(b)),
        Type::Seq(el, b) => DynamicType::sequence(ty(model, el, stack)?, bound(b)),
        Type::Array(el, dims) => {
            let dims: Vec<u32> = dims.iter().map(|d| u32::try_from(*d).unwrap_or(u32::MAX)).collect();
            DynamicType::array(ty(model, el, stack)?, &dims)
        }
        Type::Map(k, v, b) => DynamicType::map(ty(model, k, stack)?, ty(model, v, stack)?, bound(b)),
        Type::Fixed { digits, scale } => DynamicType::fixed(*digits as u8, *scale as u8),
        Type::Named(n) => build(model, n, stack)?,
    })
}

fn build(model: &Model, scoped: &str, stack: &mut Vec<String>) -> Result<DynamicType, FromIdlError> {
    if stack.iter().any(|s| s == scoped) {
        return Err(FromIdlError::Unsupported(scoped.to_string(), "recursive types have no dynamic form yet"));
    }
    let item = model.get(scoped).ok_or_else(|| FromIdlError::Unknown(scoped.to_string(), String::new()))?;
    stack.push(scoped.to_string());
    let out = match &item.kind {
        ItemKind::Struct(s) => {
            let mut st = StructType::new(scoped, ext(s.ext)).nested(s.nested);
            if s.autoid_hash {
                st = st.autoid(AutoId::Hash);
            }
            let mut skip = 0;
            if let Some(b) = &s.base {
                if let ItemKind::Struct(bs) =
                    &model.get(b).map(|i| &i.kind).ok_or_else(|| FromIdlError::Unknown(b.clone(), String::new()))?
                {
                    skip = bs.fields.len();
                }
                match build(model, b, stack)? {
                    DynamicType::Struct(base) => st = st.base(base),
                    _ => return Err(FromIdlError::Unsupported(scoped.to_string(), "base type is not a struct")),
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
                    labels: c.labels.iter().map(|l| *l as i64).collect(),
                    is_default: c.is_default,
                    external: c.external,
                });
            }
            un.build()
        }
        ItemKind::Enum { bit_bound, values } => {
            let mut e = EnumType::new(scoped).bit_bound(*bit_bound as u16);
            for (n, v) in values {
                e = e.literal_value(n.clone(), *v as i32);
            }
            e.build()
        }
        ItemKind::Bitmask { bit_bound, flags } => {
            let mut b = BitmaskType::new(scoped).bit_bound(*bit_bound as u16);
            for (n, p) in flags {
                b = b.flag_at(n.clone(), *p as u16);
            }
            b.build()
        }
        ItemKind::Bitset { fields, bits } => {
            let mut b = BitsetType::new(scoped);
            for f in fields {
                if let Some(n) = &f.name {
                    b = b.field(n.clone(), f.offset as u16, f.width as u8, prim(f.ty));
                }
            }
            b.bit_bound(*bits as u16).build()
        }
        ItemKind::Typedef(t) => ty(model, t, stack)?,
        ItemKind::Const(..) => return Err(FromIdlError::Unsupported(scoped.to_string(), "a constant is not a type")),
    };
    stack.pop();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_from_idl_equals_the_hand_written_description() {
        let idl = "@appendable struct ShapeType { @key string<128> color; int32 x; int32 y; int32 shapesize; \
                   sequence<uint8> additional_payload_size; };";
        let dir = std::env::temp_dir().join(format!("starling-from-idl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("shape.idl");
        std::fs::write(&file, idl).unwrap();
        let model = starling_idl::check(&[&file], &[&dir]).unwrap();
        assert_eq!(dynamic_type(&model, "ShapeType").unwrap(), crate::dynamic::shape_type());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn modules_unions_enums_and_unknown_names() {
        let idl = "module demo { enum Color { RED, GREEN }; union U switch (int32) { case 1: int32 a; \
                   case 2: case 3: string s; default: Color c; }; @mutable struct T { @key int64 id; U u; \
                   sequence<Color, 4> cs; @optional double d; }; };";
        let dir = std::env::temp_dir().join(format!("starling-from-idl2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.idl");
        std::fs::write(&file, idl).unwrap();
        let model = starling_idl::check(&[&file], &[&dir]).unwrap();
        let t = dynamic_type(&model, "T").unwrap();
        assert_eq!(t.name(), Some("demo::T"));
        let v = crate::dynamic::from_json(
            &t,
            &serde_json::json!({"id": 5, "u": {"discriminator": 2, "s": "hi"}, "cs": ["GREEN"], "d": 1.5}),
        )
        .unwrap();
        let mut buf = Vec::new();
        starling_proto::xtypes::encode(&t, &v, 2, starling_proto::wire::Endian::Little, &mut buf).unwrap();
        assert_eq!(starling_proto::xtypes::decode(&t, &buf).unwrap(), v);
        assert!(matches!(dynamic_type(&model, "Nope"), Err(FromIdlError::Unknown(..))));
        std::fs::remove_dir_all(&dir).ok();
    }
}
