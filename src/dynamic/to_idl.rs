//! [`DynamicType`] → IDL text, e.g. to show a type learned from a peer
//! (`starling ls --types`). Named types come out dependencies first, each in
//! its (re-opened) modules, so the output parses back to the same types.

use starling_proto::xtypes::{DynamicType, Extensibility, PrimitiveKind, StructType};
use std::fmt::Write;

/// IDL declarations for `ty` and every named type it uses.
pub fn to_idl(ty: &DynamicType) -> String {
    let mut order: Vec<&DynamicType> = Vec::new();
    collect(ty, &mut order);
    let mut out = String::new();
    for t in order {
        declare(t, &mut out);
    }
    out
}

fn collect<'a>(ty: &'a DynamicType, out: &mut Vec<&'a DynamicType>) {
    match ty {
        DynamicType::Struct(s) => {
            if let Some(b) = &s.base {
                collect_struct(b, out);
            }
            for m in &s.members {
                collect(&m.ty, out);
            }
        }
        DynamicType::Union(u) => {
            collect(&u.discriminator, out);
            for c in &u.cases {
                collect(&c.ty, out);
            }
        }
        DynamicType::Alias(a) => collect(&a.target, out),
        DynamicType::Sequence(s) => collect(&s.element, out),
        DynamicType::Array(a) => collect(&a.element, out),
        DynamicType::Map(m) => {
            collect(&m.key, out);
            collect(&m.value, out);
        }
        _ => {}
    }
    if ty.name().is_some() && !out.iter().any(|t| t.name() == ty.name()) {
        out.push(ty);
    }
}

fn collect_struct<'a>(s: &'a StructType, out: &mut Vec<&'a DynamicType>) {
    // The base is referenced by name only; its own members are declared with it.
    for m in &s.members {
        collect(&m.ty, out);
    }
}

/// The type as it appears in a member declaration, plus array dimensions.
fn type_ref(ty: &DynamicType) -> (String, String) {
    match ty {
        DynamicType::Primitive(p) => (prim(*p).to_string(), String::new()),
        DynamicType::String { bound: 0 } => ("string".into(), String::new()),
        DynamicType::String { bound } => (format!("string<{bound}>"), String::new()),
        DynamicType::WString { bound: 0 } => ("wstring".into(), String::new()),
        DynamicType::WString { bound } => (format!("wstring<{bound}>"), String::new()),
        DynamicType::Fixed { digits, scale } => (format!("fixed<{digits}, {scale}>"), String::new()),
        DynamicType::Sequence(s) => {
            let (e, dims) = type_ref(&s.element);
            let e = if dims.is_empty() { e } else { format!("/* array element */ {e}") };
            if s.bound == 0 {
                (format!("sequence<{e}>"), String::new())
            } else {
                (format!("sequence<{e}, {}>", s.bound), String::new())
            }
        }
        DynamicType::Array(a) => {
            let (e, inner) = type_ref(&a.element);
            let dims: String = a.dims.iter().map(|d| format!("[{d}]")).collect();
            (e, dims + &inner)
        }
        DynamicType::Map(m) => {
            let (k, _) = type_ref(&m.key);
            let (v, _) = type_ref(&m.value);
            if m.bound == 0 {
                (format!("map<{k}, {v}>"), String::new())
            } else {
                (format!("map<{k}, {v}, {}>", m.bound), String::new())
            }
        }
        other => (other.name().unwrap_or("octet").to_string(), String::new()),
    }
}

fn prim(p: PrimitiveKind) -> &'static str {
    match p {
        PrimitiveKind::Bool => "boolean",
        PrimitiveKind::Byte => "octet",
        PrimitiveKind::Char8 => "char",
        PrimitiveKind::Char16 => "wchar",
        PrimitiveKind::Int8 => "int8",
        PrimitiveKind::UInt8 => "uint8",
        PrimitiveKind::Int16 => "int16",
        PrimitiveKind::UInt16 => "uint16",
        PrimitiveKind::Int32 => "int32",
        PrimitiveKind::UInt32 => "uint32",
        PrimitiveKind::Int64 => "int64",
        PrimitiveKind::UInt64 => "uint64",
        PrimitiveKind::Float32 => "float",
        PrimitiveKind::Float64 => "double",
        PrimitiveKind::Float128 => "long double",
    }
}

fn ext(e: Extensibility) -> &'static str {
    match e {
        Extensibility::Final => "@final",
        Extensibility::Appendable => "@appendable",
        Extensibility::Mutable => "@mutable",
    }
}

fn declare(ty: &DynamicType, out: &mut String) {
    let Some(scoped) = ty.name() else { return };
    let parts: Vec<&str> = scoped.split("::").collect();
    let (modules, name) = parts.split_at(parts.len() - 1);
    let name = name[0];
    let mut ind = String::new();
    for m in modules {
        let _ = writeln!(out, "{ind}module {m} {{");
        ind.push_str("  ");
    }
    match ty {
        DynamicType::Struct(s) => {
            let _ = writeln!(out, "{ind}{}", ext(s.extensibility));
            let base = s.base.as_ref().map(|b| format!(" : {}", b.name)).unwrap_or_default();
            let _ = writeln!(out, "{ind}struct {name}{base} {{");
            for m in &s.members {
                let (t, dims) = type_ref(&m.ty);
                let mut ann = String::new();
                if m.key {
                    ann.push_str("@key ");
                }
                if m.optional {
                    ann.push_str("@optional ");
                }
                if m.external {
                    ann.push_str("@external ");
                }
                let _ = writeln!(out, "{ind}  {ann}{t} {}{dims};", m.name);
            }
            let _ = writeln!(out, "{ind}}};");
        }
        DynamicType::Union(u) => {
            let (d, _) = type_ref(&u.discriminator);
            let _ = writeln!(out, "{ind}{}", ext(u.extensibility));
            let _ = writeln!(out, "{ind}union {name} switch ({d}) {{");
            for c in &u.cases {
                let mut labels: String = c.labels.iter().map(|l| format!("case {l}: ")).collect();
                if c.is_default {
                    labels.push_str("default: ");
                }
                let (t, dims) = type_ref(&c.ty);
                let _ = writeln!(out, "{ind}  {labels}{t} {}{dims};", c.name);
            }
            let _ = writeln!(out, "{ind}}};");
        }
        DynamicType::Enum(e) => {
            let lits: Vec<String> = e.literals.iter().map(|l| format!("@value({}) {}", l.value, l.name)).collect();
            let _ = writeln!(out, "{ind}@bit_bound({}) enum {name} {{ {} }};", e.bit_bound, lits.join(", "));
        }
        DynamicType::Bitmask(b) => {
            let flags: Vec<String> = b.flags.iter().map(|f| format!("@position({}) {}", f.position, f.name)).collect();
            let _ = writeln!(out, "{ind}@bit_bound({}) bitmask {name} {{ {} }};", b.bit_bound, flags.join(", "));
        }
        DynamicType::Bitset(b) => {
            let _ = writeln!(out, "{ind}bitset {name} {{");
            let mut end = 0u16;
            for f in &b.fields {
                if f.position > end {
                    let _ = writeln!(out, "{ind}  bitfield<{}>;", f.position - end);
                }
                let _ = writeln!(out, "{ind}  bitfield<{}, {}> {};", f.bitcount, prim(f.holder), f.name);
                end = f.position + u16::from(f.bitcount);
            }
            if b.bit_bound > end {
                let _ = writeln!(out, "{ind}  bitfield<{}>;", b.bit_bound - end);
            }
            let _ = writeln!(out, "{ind}}};");
        }
        DynamicType::Alias(a) => {
            let (t, dims) = type_ref(&a.target);
            let _ = writeln!(out, "{ind}typedef {t} {name}{dims};");
        }
        _ => {}
    }
    for _ in modules {
        ind.truncate(ind.len() - 2);
        let _ = writeln!(out, "{ind}}};");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The printed IDL parses back to the same dynamic type.
    #[test]
    fn round_trips_through_the_idl_compiler() {
        let idl = "module demo { enum Color { RED, GREEN }; struct P { int32 x; int32 y; }; \
                   union U switch (int32) { case 1: int32 a; case 2: case 3: string<8> s; default: Color c; }; \
                   @mutable struct T { @key int64 id; U u; sequence<Color, 4> cs; @optional double d; \
                   P grid[2][3]; map<string, P> named; B bits; }; \
                   bitset B { bitfield<3> a; bitfield<2>; bitfield<4, int8> b; bitfield<1> c; bitfield<6>; }; };";
        let dir = std::env::temp_dir().join(format!("starling-to-idl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.idl");
        std::fs::write(&file, idl).unwrap();
        let model = starling_idl::check(&[&file], &[&dir]).unwrap();
        let t = crate::dynamic::from_idl(&model, "demo::T").unwrap();
        let printed = to_idl(&t);
        let file2 = dir.join("printed.idl");
        std::fs::write(&file2, &printed).unwrap();
        let model2 = starling_idl::check(&[&file2], &[&dir]).unwrap_or_else(|d| panic!("{printed}\n{d:?}"));
        assert_eq!(crate::dynamic::from_idl(&model2, "demo::T").unwrap(), t, "{printed}");
        assert_eq!(to_idl(&crate::dynamic::shape_type()).lines().next(), Some("@appendable"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
