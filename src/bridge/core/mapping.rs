//! Names between DDS and broker protocols.
//!
//! The default broker name of a DDS topic is `[prefix/][partition/]Topic` in MQTT form; AMQP routing
//! keys and STOMP destinations use the same levels joined with `.`. A keyed topic adds one level per
//! key value (`…/Square/RED`).
//!
//! Names that cannot be carried as they are, are escaped per level, reversibly: `%` followed by two
//! hex digits stands for a byte of the UTF-8 form. Escaped are `%` itself, the separator (`/`, and `.`
//! in the dotted form), the MQTT wildcards `+` and `#`, NUL, control characters, and a `$` at the start
//! of a level; an empty level is written as a single `%`. [`unescape_level`] reverses
//! [`escape_level`] for every string.

use serde_json::Value;
use starling_proto::xtypes::{DynamicType, StructType};

/// Separator of levels in a broker name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// MQTT topic levels.
    Slash,
    /// AMQP routing keys, STOMP destinations.
    Dot,
}

/// A level that does not unescape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    #[error("bad escape in '{0}'")]
    BadEscape(String),
    /// A key level does not fit the key member's type.
    #[error("key value '{value}' does not fit {member}: {message}")]
    BadKey {
        /// The level.
        value: String,
        /// The key member.
        member: String,
        /// Why.
        message: String,
    },
}

/// Escapes one level (see the module docs).
#[must_use]
pub fn escape_level(s: &str, sep: Separator) -> String {
    if s.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let esc = matches!(c, '%' | '/' | '+' | '#' | '\0')
            || c.is_control()
            || (c == '.' && sep == Separator::Dot)
            || (i == 0 && c == '$');
        if esc {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape_level`].
pub fn unescape_level(s: &str) -> Result<String, NameError> {
    if s == "%" {
        return Ok(String::new());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| NameError::BadEscape(s.to_string()))?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| NameError::BadEscape(s.to_string()))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| NameError::BadEscape(s.to_string()))
}

/// The default MQTT name of a DDS topic: `[prefix/][partition/]Topic`, partition and topic escaped.
/// A topic name with `/` (ROS 2 style) keeps its levels.
#[must_use]
pub fn default_name(prefix: &str, partition: &str, topic: &str) -> String {
    let mut levels: Vec<String> = Vec::new();
    if !prefix.is_empty() {
        levels.push(prefix.to_string());
    }
    if !partition.is_empty() {
        levels.push(escape_level(partition, Separator::Slash));
    }
    levels.extend(topic.split('/').map(|l| escape_level(l, Separator::Slash)));
    levels.join("/")
}

/// Converts an MQTT-form name to the dotted form (AMQP routing key, STOMP destination): each level
/// unescaped and escaped again for `.`.
pub fn to_dotted(name: &str) -> Result<String, NameError> {
    let mut out = Vec::new();
    for l in name.split('/') {
        out.push(escape_level(&unescape_level(l)?, Separator::Dot));
    }
    Ok(out.join("."))
}

/// Converts a dotted name back to MQTT form.
pub fn from_dotted(name: &str) -> Result<String, NameError> {
    let mut out = Vec::new();
    for l in name.split('.') {
        out.push(escape_level(&unescape_level(l)?, Separator::Slash));
    }
    Ok(out.join("/"))
}

/// The key members of a struct type, flattened to leaves, as JSON paths of member names.
#[must_use]
pub fn key_paths(ty: &DynamicType) -> Vec<Vec<String>> {
    fn walk(s: &StructType, prefix: &[String], out: &mut Vec<Vec<String>>, nested: bool) {
        let members = s.all_members();
        let any_key = members.iter().any(|m| m.key);
        for m in members {
            // In a nested key type without key members, all members are part of the key.
            if !(m.key || (nested && !any_key)) {
                continue;
            }
            let mut p = prefix.to_vec();
            p.push(m.name.clone());
            match m.ty.resolve() {
                DynamicType::Struct(inner) => walk(inner, &p, out, true),
                _ => out.push(p),
            }
        }
    }
    let mut out = Vec::new();
    if let DynamicType::Struct(s) = ty.resolve() {
        walk(s, &[], &mut out, false);
    }
    out
}

fn key_member_type<'a>(ty: &'a DynamicType, path: &[String]) -> Option<&'a DynamicType> {
    let mut t = ty.resolve();
    for name in path {
        let DynamicType::Struct(s) = t else { return None };
        t = s.all_members().into_iter().find(|m| &m.name == name)?.ty.resolve();
    }
    Some(t)
}

/// The key values of a JSON sample as escaped topic levels.
#[must_use]
pub fn key_levels(ty: &DynamicType, sample: &Value) -> Vec<String> {
    key_paths(ty)
        .iter()
        .map(|p| {
            let mut v = sample;
            for n in p {
                v = v.get(n).unwrap_or(&Value::Null);
            }
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            escape_level(&s, Separator::Slash)
        })
        .collect()
}

/// Sets the key members of a JSON sample from topic levels (as made by [`key_levels`]).
pub fn apply_key_levels(ty: &DynamicType, levels: &[&str], sample: &mut Value) -> Result<(), NameError> {
    apply_key_levels_at(ty, &key_paths(ty), levels, sample)
}

/// [`apply_key_levels`] with the type's [`key_paths`] computed beforehand (a route keeps them).
pub fn apply_key_levels_at(
    ty: &DynamicType,
    paths: &[Vec<String>],
    levels: &[&str],
    sample: &mut Value,
) -> Result<(), NameError> {
    for (path, level) in paths.iter().zip(levels) {
        let raw = unescape_level(level)?;
        let bad =
            |message: &str| NameError::BadKey { value: raw.clone(), member: path.join("."), message: message.into() };
        let v = match key_member_type(ty, path) {
            Some(DynamicType::String { .. } | DynamicType::WString { .. } | DynamicType::Enum(_)) => {
                Value::String(raw.clone())
            }
            Some(DynamicType::Primitive(k)) => {
                use starling_proto::xtypes::PrimitiveKind as P;
                match k {
                    P::Char8 | P::Char16 => Value::String(raw.clone()),
                    P::Bool => match raw.as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => return Err(bad("expected true or false")),
                    },
                    _ => serde_json::from_str::<Value>(&raw)
                        .ok()
                        .filter(Value::is_number)
                        .ok_or_else(|| bad("expected a number"))?,
                }
            }
            _ => serde_json::from_str::<Value>(&raw).map_err(|e| bad(&e.to_string()))?,
        };
        let mut obj = &mut *sample;
        for (i, n) in path.iter().enumerate() {
            if !obj.is_object() {
                *obj = Value::Object(serde_json::Map::new());
            }
            let Value::Object(m) = obj else { break };
            if i + 1 == path.len() {
                m.insert(n.clone(), v);
                break;
            }
            obj = m.entry(n.clone()).or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips() {
        for s in ["", "plain", "a/b", "+", "#", "%", "%41", "$SYS", "x$y", "a.b", "nul\0", "ümlaut/ü", "\n", "%%"] {
            for sep in [Separator::Slash, Separator::Dot] {
                let e = escape_level(s, sep);
                assert!(!e.contains(['/', '+', '#', '\0']), "{s:?} -> {e:?}");
                assert!(!e.is_empty());
                if sep == Separator::Dot {
                    assert!(!e.contains('.'));
                }
                assert_eq!(unescape_level(&e).unwrap(), s, "{s:?} via {e:?}");
            }
        }
        assert_eq!(escape_level("a/b+c", Separator::Slash), "a%2Fb%2Bc");
        assert_eq!(escape_level("$x", Separator::Slash), "%24x");
        assert!(unescape_level("%4").is_err());
        assert!(unescape_level("%zz").is_err());
        assert!(unescape_level("%FF").is_err());
    }

    #[test]
    fn default_names() {
        assert_eq!(default_name("", "", "Square"), "Square");
        assert_eq!(default_name("dds", "p1", "Square"), "dds/p1/Square");
        assert_eq!(default_name("dds", "a/b", "rt/chatter"), "dds/a%2Fb/rt/chatter");
        assert_eq!(default_name("", "", "we+ird#"), "we%2Bird%23");
        let n = default_name("dds", "p.1", "Sq.uare");
        let d = to_dotted(&n).unwrap();
        assert_eq!(d, "dds.p%2E1.Sq%2Euare");
        assert_eq!(from_dotted(&d).unwrap(), n);
    }

    #[test]
    fn keys_to_levels_and_back() {
        let ty = crate::dynamic::shape_type();
        let v = serde_json::json!({"color": "RED/1", "x": 1, "y": 2, "shapesize": 3, "additional_payload_size": []});
        let levels = key_levels(&ty, &v);
        assert_eq!(levels, vec!["RED%2F1".to_string()]);
        let mut w = serde_json::json!({"x": 1});
        let refs: Vec<&str> = levels.iter().map(String::as_str).collect();
        apply_key_levels(&ty, &refs, &mut w).unwrap();
        assert_eq!(w["color"], "RED/1");
        let nested = starling_proto::xtypes::StructType::new("K", starling_proto::xtypes::Extensibility::Final)
            .key_member("id", DynamicType::int32())
            .key_member(
                "pos",
                starling_proto::xtypes::StructType::new("P", starling_proto::xtypes::Extensibility::Final)
                    .member("a", DynamicType::int64())
                    .member("b", DynamicType::bool())
                    .build(),
            )
            .member("v", DynamicType::float64())
            .build();
        let v = serde_json::json!({"id": 7, "pos": {"a": -3, "b": true}, "v": 1.5});
        let levels = key_levels(&nested, &v);
        assert_eq!(levels, vec!["7", "-3", "true"]);
        let mut w = serde_json::json!({"v": 1.5});
        let refs: Vec<&str> = levels.iter().map(String::as_str).collect();
        apply_key_levels(&nested, &refs, &mut w).unwrap();
        assert_eq!(w, v);
        assert!(apply_key_levels(&nested, &["x"], &mut w).is_err());
    }
}
