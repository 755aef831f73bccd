//! [`DynamicValue`] ⇄ JSON, following the OMG DDS-JSON conventions where they exist.
//!
//! | IDL | JSON |
//! |---|---|
//! | struct | object, members in declaration order; an absent `@optional` member is left out (`null` is accepted as absent) |
//! | integers | numbers, exact for all 64-bit values (never through `f64`) |
//! | `float`/`double` | numbers; NaN and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | `long double` | the 128 raw bits as a string `"0x…"` |
//! | `boolean` | `true`/`false` |
//! | `char`/`wchar` | a one-character string |
//! | `octet`, `uint8` | numbers (so `sequence<octet>` is an array of numbers) |
//! | `string`/`wstring` | strings |
//! | enum | the enumerator name (a number naming a valid value is accepted on input) |
//! | bitmask | an array of the set flag names (a number when a set bit has no name; numbers accepted) |
//! | `fixed<d, s>` | a string holding the exact decimal with `s` digits after the point (`"-12.50"`); numbers are accepted on input |
//! | bitset | an object of its named fields: numbers (signed fields sign-extended), booleans for `boolean` fields; missing fields are 0 on input |
//! | sequence, array | arrays (multi-dimensional arrays nest) |
//! | map | an object when keys are strings, integers or enums (integer keys as decimal strings), else an array of `[key, value]` pairs |
//! | union | `{"discriminator": d, "<branch>": value}`; `d` in its type's JSON form. On input the discriminator may be left out, and then the branch's first label (or, for the default branch, a value no case lists) is used |
//!
//! Missing members take their default values on input; unknown member names are errors. Errors name the
//! JSON path, for example `$.pos.x: expected int32, found "abc"`.

use serde_json::{Map, Number, Value};
use starling_proto::xtypes::{BitmaskType, BitsetType, DynamicType, DynamicValue, EnumType, PrimitiveKind, UnionType};
use thiserror::Error;

/// A JSON value that does not fit the type, or a value that cannot be shown as JSON.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum JsonError {
    /// The value at `path` is wrong; `message` says how.
    #[error("{path}: {message}")]
    Invalid {
        /// JSON path such as `$.pos.x` or `$.points[2]`.
        path: String,
        /// What was expected and found.
        message: String,
    },
}

/// Where a value sits in the JSON being converted, formatted only when an error names it (so that
/// converting a valid value allocates no path strings).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Member(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(s) => f.write_str(s),
            Path::Member(p, name) => write!(f, "{p}.{name}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

fn err(path: impl std::fmt::Display, message: impl Into<String>) -> JsonError {
    JsonError::Invalid { path: path.to_string(), message: message.into() }
}

fn found(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        let mut cut = 40;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

fn expected(path: impl std::fmt::Display, what: &str, v: &Value) -> JsonError {
    err(path, format!("expected {what}, found {}", found(v)))
}

fn member_path(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// Converts a value of `ty` to JSON.
pub fn to_json(ty: &DynamicType, v: &DynamicValue) -> Result<Value, JsonError> {
    to_json_at(ty, v, "$")
}

/// Parses JSON as a value of `ty`.
pub fn from_json(ty: &DynamicType, v: &Value) -> Result<DynamicValue, JsonError> {
    from_json_at(ty, v, &Path::Root("$"))
}

fn float_json(x: f64) -> Value {
    if x.is_nan() {
        Value::String("NaN".into())
    } else if x.is_infinite() {
        Value::String(if x > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn mismatch(path: &str, ty: &DynamicType, v: &DynamicValue) -> JsonError {
    err(path, format!("value {} does not fit {}", v.kind_name(), ty.describe()))
}

fn to_json_at(ty: &DynamicType, v: &DynamicValue, path: &str) -> Result<Value, JsonError> {
    use DynamicValue as V;
    Ok(match (ty.resolve(), v) {
        (DynamicType::Primitive(_), _) => match v {
            V::Bool(b) => Value::Bool(*b),
            V::Byte(x) | V::UInt8(x) => Value::from(*x),
            V::Char8(c) => Value::String(char::from(*c).to_string()),
            V::Char16(c) => Value::String(char::from_u32(u32::from(*c)).unwrap_or('\u{fffd}').to_string()),
            V::Int8(x) => Value::from(*x),
            V::Int16(x) => Value::from(*x),
            V::UInt16(x) => Value::from(*x),
            V::Int32(x) => Value::from(*x),
            V::UInt32(x) => Value::from(*x),
            V::Int64(x) => Value::from(*x),
            V::UInt64(x) => Value::from(*x),
            // Shortest decimal form of the f32, so 0.1f32 prints as 0.1.
            V::Float32(x) => float_json(x.to_string().parse::<f64>().unwrap_or(f64::from(*x))),
            V::Float64(x) => float_json(*x),
            V::Float128(bits) => Value::String(format!("0x{bits:032x}")),
            _ => return Err(mismatch(path, ty, v)),
        },
        (DynamicType::String { .. }, V::String(s)) | (DynamicType::WString { .. }, V::WString(s)) => {
            Value::String(s.clone())
        }
        (DynamicType::Enum(e), V::Enum(x)) => match e.by_value(*x) {
            Some(l) => Value::String(l.name.clone()),
            None => Value::from(*x),
        },
        (DynamicType::Bitmask(b), V::Bitmask(bits)) => bitmask_json(b, *bits),
        (DynamicType::Bitset(b), V::Bitset(bits)) => bitset_json(b, *bits),
        (DynamicType::Fixed { scale, .. }, V::Fixed(x)) => {
            Value::String(starling_proto::cdr::fixed::format_fixed(*x, u32::from(*scale)))
        }
        (DynamicType::Struct(s), V::Struct(fields)) => {
            let members = s.all_members();
            if members.len() != fields.len() {
                return Err(err(
                    path,
                    format!("struct {} has {} members, value has {}", s.name, members.len(), fields.len()),
                ));
            }
            let mut m = Map::new();
            for (mem, f) in members.iter().zip(fields) {
                if let Some(f) = f {
                    m.insert(mem.name.clone(), to_json_at(&mem.ty, f, &member_path(path, &mem.name))?);
                }
            }
            Value::Object(m)
        }
        (DynamicType::Union(u), V::Union { discriminator, value }) => {
            let mut m = Map::new();
            m.insert("discriminator".into(), discriminator_json(&u.discriminator, *discriminator));
            if let (Some((_, c)), Some(val)) = (u.case_for(*discriminator), value) {
                m.insert(c.name.clone(), to_json_at(&c.ty, val, &member_path(path, &c.name))?);
            }
            Value::Object(m)
        }
        (DynamicType::Sequence(s), V::Sequence(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| to_json_at(&s.element, x, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        (DynamicType::Array(a), V::Array(items)) => {
            let expected_len: usize = a.dims.iter().map(|d| *d as usize).product();
            if items.len() != expected_len {
                return Err(err(path, format!("array needs {expected_len} elements, value has {}", items.len())));
            }
            nest_array(&a.element, &a.dims, items, path)?
        }
        (DynamicType::Map(m), V::Map(items)) => {
            if map_as_object(&m.key) {
                let mut o = Map::new();
                for (i, (k, val)) in items.iter().enumerate() {
                    let key = match to_json_at(&m.key, k, &format!("{path}[{i}]"))? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    let vp = format!("{path}[{}]", Value::String(key.clone()));
                    o.insert(key, to_json_at(&m.value, val, &vp)?);
                }
                Value::Object(o)
            } else {
                Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, (k, val))| {
                            let p = format!("{path}[{i}]");
                            Ok(Value::Array(vec![to_json_at(&m.key, k, &p)?, to_json_at(&m.value, val, &p)?]))
                        })
                        .collect::<Result<_, JsonError>>()?,
                )
            }
        }
        _ => return Err(mismatch(path, ty, v)),
    })
}

fn nest_array(elem: &DynamicType, dims: &[u32], items: &[DynamicValue], path: &str) -> Result<Value, JsonError> {
    match dims {
        [] | [_] => Ok(Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| to_json_at(elem, x, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        )),
        [_, rest @ ..] => {
            let chunk: usize = rest.iter().map(|d| *d as usize).product::<usize>().max(1);
            Ok(Value::Array(
                items
                    .chunks(chunk)
                    .enumerate()
                    .map(|(i, c)| nest_array(elem, rest, c, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ))
        }
    }
}

fn map_as_object(key: &DynamicType) -> bool {
    match key.resolve() {
        DynamicType::String { .. } | DynamicType::WString { .. } | DynamicType::Enum(_) => true,
        DynamicType::Primitive(p) => {
            !matches!(p, PrimitiveKind::Float32 | PrimitiveKind::Float64 | PrimitiveKind::Float128)
        }
        _ => false,
    }
}

fn bitmask_json(b: &BitmaskType, bits: u64) -> Value {
    let named: u64 = b.flags.iter().filter(|f| f.position < 64).fold(0, |acc, f| acc | (1u64 << f.position));
    if bits & !named != 0 {
        return Value::from(bits);
    }
    Value::Array(
        b.flags
            .iter()
            .filter(|f| f.position < 64 && bits & (1u64 << f.position) != 0)
            .map(|f| Value::String(f.name.clone()))
            .collect(),
    )
}

fn bitset_json(b: &BitsetType, bits: u64) -> Value {
    let mut m = Map::new();
    for f in &b.fields {
        let v = if f.holder == PrimitiveKind::Bool {
            Value::Bool(f.get_raw(bits) != 0)
        } else {
            let x = f.get(bits);
            i64::try_from(x).map(Value::from).unwrap_or_else(|_| Value::from(x as u64))
        };
        m.insert(f.name.clone(), v);
    }
    Value::Object(m)
}

fn bitset_from(b: &BitsetType, v: &Value, path: &Path<'_>) -> Result<u64, JsonError> {
    let Value::Object(o) = v else { return Err(expected(path, &format!("bitset {} (an object)", b.name), v)) };
    let mut bits = 0u64;
    for (k, x) in o {
        let p = Path::Member(path, k);
        let f = b.by_name(k).ok_or_else(|| err(p, format!("bitset {} has no field {k}", b.name)))?;
        let value = match x {
            Value::Bool(t) if f.holder == PrimitiveKind::Bool => i128::from(*t),
            _ => {
                let (min, max) = f.range();
                int_from(x, &p, &format!("a {}-bit field", f.bitcount), min, max)?
            }
        };
        bits = f.set(bits, value);
    }
    Ok(bits)
}

fn discriminator_json(ty: &DynamicType, d: i64) -> Value {
    match ty.resolve() {
        DynamicType::Enum(e) => e.by_value(d as i32).map_or(Value::from(d), |l| Value::String(l.name.clone())),
        DynamicType::Primitive(PrimitiveKind::Bool) => Value::Bool(d != 0),
        DynamicType::Primitive(PrimitiveKind::Char8 | PrimitiveKind::Char16) => {
            char::from_u32(d as u32).map_or(Value::from(d), |c| Value::String(c.to_string()))
        }
        DynamicType::Primitive(PrimitiveKind::UInt64) => Value::from(d as u64),
        _ => Value::from(d),
    }
}

fn int_from(v: &Value, path: &Path<'_>, what: &str, min: i128, max: i128) -> Result<i128, JsonError> {
    let n = match v {
        Value::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    };
    match n {
        Some(x) if (min..=max).contains(&x) => Ok(x),
        Some(_) => Err(err(path, format!("{} out of range for {what}", found(v)))),
        None => Err(expected(path, what, v)),
    }
}

fn float_from(v: &Value, path: &Path<'_>, what: &str) -> Result<f64, JsonError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| expected(path, what, v)),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "Infinity" | "inf" | "+Infinity" => Ok(f64::INFINITY),
            "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(expected(path, what, v)),
        },
        _ => Err(expected(path, what, v)),
    }
}

fn char_from(v: &Value, path: &Path<'_>, what: &str, max: u32) -> Result<u32, JsonError> {
    if let Value::String(s) = v {
        let mut it = s.chars();
        if let (Some(c), None) = (it.next(), it.next()) {
            if u32::from(c) <= max {
                return Ok(u32::from(c));
            }
        }
    }
    Err(expected(path, &format!("{what} (a one-character string)"), v))
}

fn primitive_from(p: PrimitiveKind, v: &Value, path: &Path<'_>) -> Result<DynamicValue, JsonError> {
    use DynamicValue as V;
    use PrimitiveKind as P;
    let what = p.idl_name();
    let int = |min: i128, max: i128| int_from(v, path, what, min, max);
    Ok(match p {
        P::Bool => match v {
            Value::Bool(b) => V::Bool(*b),
            _ => return Err(expected(path, what, v)),
        },
        P::Byte => V::Byte(int(0, 255)? as u8),
        P::UInt8 => V::UInt8(int(0, 255)? as u8),
        P::Int8 => V::Int8(int(-128, 127)? as i8),
        P::Int16 => V::Int16(int(i16::MIN.into(), i16::MAX.into())? as i16),
        P::UInt16 => V::UInt16(int(0, u16::MAX.into())? as u16),
        P::Int32 => V::Int32(int(i32::MIN.into(), i32::MAX.into())? as i32),
        P::UInt32 => V::UInt32(int(0, u32::MAX.into())? as u32),
        P::Int64 => V::Int64(int(i64::MIN.into(), i64::MAX.into())? as i64),
        P::UInt64 => V::UInt64(int(0, u64::MAX.into())? as u64),
        P::Float32 => V::Float32(float_from(v, path, what)? as f32),
        P::Float64 => V::Float64(float_from(v, path, what)?),
        P::Char8 => V::Char8(char_from(v, path, what, 0xff)? as u8),
        P::Char16 => V::Char16(char_from(v, path, what, 0xffff)? as u16),
        P::Float128 => {
            match v.as_str().and_then(|s| s.strip_prefix("0x")).and_then(|h| u128::from_str_radix(h, 16).ok()) {
                Some(bits) => V::Float128(bits),
                None => return Err(expected(path, "float128 (a \"0x…\" string of its 128 bits)", v)),
            }
        }
    })
}

fn enum_from(e: &EnumType, v: &Value, path: &Path<'_>) -> Result<i32, JsonError> {
    let what = format!("an enumerator of {}", e.name);
    match v {
        Value::String(s) => e.by_name(s).map(|l| l.value).ok_or_else(|| expected(path, &what, v)),
        Value::Number(_) => {
            let x = int_from(v, path, &what, i32::MIN.into(), i32::MAX.into())? as i32;
            e.by_value(x).map(|l| l.value).ok_or_else(|| expected(path, &what, v))
        }
        _ => Err(expected(path, &what, v)),
    }
}

fn bitmask_from(b: &BitmaskType, v: &Value, path: &Path<'_>) -> Result<u64, JsonError> {
    match v {
        Value::Number(_) => Ok(int_from(v, path, "bitmask", 0, u64::MAX.into())? as u64),
        Value::Array(items) => {
            let mut bits = 0u64;
            for (i, item) in items.iter().enumerate() {
                let p = Path::Index(path, i);
                let f = item
                    .as_str()
                    .and_then(|s| b.flags.iter().find(|f| f.name == s))
                    .filter(|f| f.position < 64)
                    .ok_or_else(|| expected(p, &format!("a flag of {}", b.name), item))?;
                bits |= 1u64 << f.position;
            }
            Ok(bits)
        }
        _ => Err(expected(path, &format!("flags of {}", b.name), v)),
    }
}

fn discriminator_from(ty: &DynamicType, v: &Value, path: &Path<'_>) -> Result<i64, JsonError> {
    let dv = match ty.resolve() {
        DynamicType::Enum(e) => DynamicValue::Enum(enum_from(e, v, path)?),
        DynamicType::Primitive(p) => primitive_from(*p, v, path)?,
        other => return Err(err(path, format!("unsupported discriminator type {}", other.describe()))),
    };
    dv.as_discriminator().ok_or_else(|| expected(path, "a discriminator", v))
}

/// A discriminator value that no case lists (for selecting the default branch).
fn unused_label(u: &UnionType) -> i64 {
    let used = |x: i64| u.cases.iter().any(|c| c.labels.contains(&x));
    if let DynamicType::Enum(e) = u.discriminator.resolve() {
        if let Some(l) = e.literals.iter().find(|l| !used(i64::from(l.value))) {
            return i64::from(l.value);
        }
    }
    (0..).find(|x| !used(*x)).unwrap_or(0)
}

fn union_from(u: &UnionType, v: &Value, path: &Path<'_>) -> Result<DynamicValue, JsonError> {
    let Value::Object(o) = v else { return Err(expected(path, &format!("union {} (an object)", u.name), v)) };
    let mut branch = None;
    for (k, val) in o {
        if k == "discriminator" {
            continue;
        }
        if branch.is_some() {
            return Err(err(path, format!("more than one branch of union {} given", u.name)));
        }
        let c = u
            .cases
            .iter()
            .find(|c| &c.name == k)
            .ok_or_else(|| err(Path::Member(path, k), format!("union {} has no branch {k}", u.name)))?;
        branch = Some((c, val));
    }
    let disc = match o.get("discriminator") {
        Some(d) => Some(discriminator_from(&u.discriminator, d, &Path::Member(path, "discriminator"))?),
        None => None,
    };
    let discriminator = match (disc, branch) {
        (Some(d), _) => d,
        (None, Some((c, _))) => c.labels.first().copied().unwrap_or_else(|| unused_label(u)),
        (None, None) => u.default_discriminator(),
    };
    let selected = u.case_for(discriminator).map(|(_, c)| c);
    let value = match (selected, branch) {
        (Some(sel), Some((c, val))) if sel.name == c.name => {
            Some(Box::new(from_json_at(&c.ty, val, &Path::Member(path, &c.name))?))
        }
        (Some(sel), Some((c, _))) => {
            return Err(err(path, format!("discriminator selects branch {}, but {} was given", sel.name, c.name)))
        }
        (Some(sel), None) => Some(Box::new(DynamicValue::default_for(&sel.ty))),
        (None, Some((c, _))) => {
            return Err(err(path, format!("discriminator selects no branch, but {} was given", c.name)))
        }
        (None, None) => None,
    };
    Ok(DynamicValue::Union { discriminator, value })
}

fn from_json_at(ty: &DynamicType, v: &Value, path: &Path<'_>) -> Result<DynamicValue, JsonError> {
    Ok(match ty.resolve() {
        DynamicType::Primitive(p) => primitive_from(*p, v, path)?,
        DynamicType::String { bound } | DynamicType::WString { bound } => {
            let wide = matches!(ty.resolve(), DynamicType::WString { .. });
            let Value::String(s) = v else { return Err(expected(path, &ty.describe(), v)) };
            let len = if wide { s.encode_utf16().count() } else { s.len() };
            if *bound != 0 && len > *bound as usize {
                return Err(err(path, format!("string of length {len} exceeds bound {bound}")));
            }
            if !wide && s.contains('\0') {
                return Err(err(path, "string contains a NUL character"));
            }
            if wide {
                DynamicValue::WString(s.clone())
            } else {
                DynamicValue::String(s.clone())
            }
        }
        DynamicType::Enum(e) => DynamicValue::Enum(enum_from(e, v, path)?),
        DynamicType::Bitmask(b) => DynamicValue::Bitmask(bitmask_from(b, v, path)?),
        DynamicType::Bitset(b) => DynamicValue::Bitset(bitset_from(b, v, path)?),
        DynamicType::Fixed { digits, scale } => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(expected(path, &format!("fixed<{digits}, {scale}> (a decimal string)"), v)),
            };
            let x = starling_proto::cdr::fixed::parse_fixed(&text, u32::from(*digits), u32::from(*scale))
                .map_err(|e| err(path, e.to_string()))?;
            DynamicValue::Fixed(x)
        }
        DynamicType::Struct(s) => {
            let Value::Object(o) = v else { return Err(expected(path, &format!("struct {} (an object)", s.name), v)) };
            let members = s.all_members();
            for k in o.keys() {
                if !members.iter().any(|m| &m.name == k) {
                    return Err(err(Path::Member(path, k), format!("struct {} has no member {k}", s.name)));
                }
            }
            let mut fields = Vec::with_capacity(members.len());
            for m in members {
                let p = Path::Member(path, &m.name);
                fields.push(match o.get(&m.name) {
                    None | Some(Value::Null) if m.optional => None,
                    None => Some(DynamicValue::default_for(&m.ty)),
                    Some(x) => Some(from_json_at(&m.ty, x, &p)?),
                });
            }
            DynamicValue::Struct(fields)
        }
        DynamicType::Union(u) => union_from(u, v, path)?,
        DynamicType::Sequence(s) => {
            let Value::Array(items) = v else { return Err(expected(path, "an array", v)) };
            if s.bound != 0 && items.len() > s.bound as usize {
                return Err(err(path, format!("{} elements exceed the bound {}", items.len(), s.bound)));
            }
            DynamicValue::Sequence(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| from_json_at(&s.element, x, &Path::Index(path, i)))
                    .collect::<Result<_, _>>()?,
            )
        }
        DynamicType::Array(a) => {
            let mut out = Vec::new();
            flatten_array(&a.element, &a.dims, v, path, &mut out)?;
            DynamicValue::Array(out)
        }
        DynamicType::Map(m) => {
            let mut items = Vec::new();
            match v {
                Value::Object(o) if map_as_object(&m.key) => {
                    for (k, val) in o {
                        let key_text = format!("{path}[{}]", Value::String(k.clone()));
                        let p = Path::Root(&key_text);
                        let key_json = match m.key.resolve() {
                            DynamicType::Primitive(p) if !matches!(p, PrimitiveKind::Char8 | PrimitiveKind::Char16) => {
                                if *p == PrimitiveKind::Bool {
                                    k.parse::<bool>().map(Value::Bool).unwrap_or_else(|_| Value::String(k.clone()))
                                } else {
                                    serde_json::from_str::<Number>(k)
                                        .map(Value::Number)
                                        .unwrap_or_else(|_| Value::String(k.clone()))
                                }
                            }
                            _ => Value::String(k.clone()),
                        };
                        items.push((from_json_at(&m.key, &key_json, &p)?, from_json_at(&m.value, val, &p)?));
                    }
                }
                Value::Array(pairs) => {
                    for (i, pair) in pairs.iter().enumerate() {
                        let p = Path::Index(path, i);
                        match pair {
                            Value::Array(kv) if kv.len() == 2 => {
                                items.push((from_json_at(&m.key, &kv[0], &p)?, from_json_at(&m.value, &kv[1], &p)?))
                            }
                            other => return Err(expected(p, "a [key, value] pair", other)),
                        }
                    }
                }
                other => return Err(expected(path, "a map (an object or an array of [key, value] pairs)", other)),
            }
            if m.bound != 0 && items.len() > m.bound as usize {
                return Err(err(path, format!("{} entries exceed the bound {}", items.len(), m.bound)));
            }
            DynamicValue::Map(items)
        }
        DynamicType::Alias(_) => return Err(err(path, "alias did not resolve")),
    })
}

fn flatten_array(
    elem: &DynamicType,
    dims: &[u32],
    v: &Value,
    path: &Path<'_>,
    out: &mut Vec<DynamicValue>,
) -> Result<(), JsonError> {
    let Some((first, rest)) = dims.split_first() else {
        out.push(from_json_at(elem, v, path)?);
        return Ok(());
    };
    let Value::Array(items) = v else { return Err(expected(path, &format!("an array of {first}"), v)) };
    if items.len() != *first as usize {
        return Err(err(path, format!("expected {first} elements, found {}", items.len())));
    }
    for (i, x) in items.iter().enumerate() {
        flatten_array(elem, rest, x, &Path::Index(path, i), out)?;
    }
    Ok(())
}
