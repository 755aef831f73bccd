//! The CLI's type table: JSON ⇄ sample for each type the tool knows.

use super::{pubsub, CliError, PubArgs, SubArgs};
use crate::dds::{DdsError, DomainParticipant, Topic};
use crate::types::ShapeType;
use serde_json::{Map, Value};
use starling_proto::cdr::TopicType;
use starling_proto::xtypes::{DynamicType, DynamicValue};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

/// A topic type the CLI can print and parse as JSON.
pub trait JsonSample: TopicType + Clone {
    /// Parses a full sample; absent fields take default values.
    fn from_json(v: Value) -> Result<Self, String>;
    /// The sample as JSON.
    fn to_json(&self) -> Value;
    /// Only the key fields, as JSON.
    fn key_json(&self) -> Value;
}

fn merge(base: Value, given: Value) -> Result<Value, String> {
    let (Value::Object(mut base), Value::Object(given)) = (base, given) else {
        return Err("expected a JSON object".into());
    };
    base.extend(given);
    Ok(Value::Object(base))
}

impl JsonSample for ShapeType {
    fn from_json(v: Value) -> Result<Self, String> {
        let base = serde_json::json!({"color": "", "x": 0, "y": 0, "shapesize": 0});
        serde_json::from_value(merge(base, v)?).map_err(|e| e.to_string())
    }

    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn key_json(&self) -> Value {
        let mut m = Map::new();
        if let Ok(Value::Object(full)) = serde_json::to_value(self) {
            if let Some(c) = full.get("color") {
                m.insert("color".into(), c.clone());
            }
        }
        Value::Object(m)
    }
}

/// How the CLI turns a topic's samples into JSON and back: a compile-time type
/// ([`StaticCodec`]) or a run-time one ([`DynamicCodec`]).
pub trait JsonCodec: Send + Sync + 'static {
    /// The sample type.
    type Sample: Clone + Send + Sync + 'static;
    /// Creates the topic on `p`.
    fn topic(&self, p: &DomainParticipant, name: &str) -> Result<Topic<Self::Sample>, DdsError>;
    /// The sample as JSON.
    fn to_json(&self, s: &Self::Sample) -> Value;
    /// Parses a sample; absent fields take default values.
    fn parse_json(&self, v: Value) -> Result<Self::Sample, String>;
    /// Only the key fields, as JSON.
    fn key_json(&self, s: &Self::Sample) -> Value;
}

/// [`JsonCodec`] for a compile-time type.
pub struct StaticCodec<T>(PhantomData<fn() -> T>);

impl<T> Default for StaticCodec<T> {
    fn default() -> Self {
        StaticCodec(PhantomData)
    }
}

impl<T: JsonSample> JsonCodec for StaticCodec<T> {
    type Sample = T;
    fn topic(&self, p: &DomainParticipant, name: &str) -> Result<Topic<T>, DdsError> {
        Ok(p.create_topic::<T>(name))
    }
    fn to_json(&self, s: &T) -> Value {
        s.to_json()
    }
    fn parse_json(&self, v: Value) -> Result<T, String> {
        T::from_json(v)
    }
    fn key_json(&self, s: &T) -> Value {
        s.key_json()
    }
}

/// [`JsonCodec`] for a type known at run time (from IDL, or from a peer).
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    ty: DynamicType,
}

impl DynamicCodec {
    /// A codec for `ty`.
    pub fn new(ty: DynamicType) -> Self {
        DynamicCodec { ty }
    }
}

fn key_names(ty: &DynamicType, out: &mut Vec<String>) {
    match ty {
        DynamicType::Struct(s) => {
            if let Some(b) = &s.base {
                key_names(&DynamicType::Struct((**b).clone()), out);
            }
            out.extend(s.members.iter().filter(|m| m.key).map(|m| m.name.clone()));
        }
        DynamicType::Alias(a) => key_names(&a.target, out),
        _ => {}
    }
}

impl JsonCodec for DynamicCodec {
    type Sample = DynamicValue;
    fn topic(&self, p: &DomainParticipant, name: &str) -> Result<Topic<DynamicValue>, DdsError> {
        p.create_dynamic_topic(name, self.ty.clone())
    }
    fn to_json(&self, s: &DynamicValue) -> Value {
        crate::dynamic::to_json(&self.ty, s).unwrap_or(Value::Null)
    }
    fn parse_json(&self, v: Value) -> Result<DynamicValue, String> {
        crate::dynamic::from_json(&self.ty, &v).map_err(|e| e.to_string())
    }
    fn key_json(&self, s: &DynamicValue) -> Value {
        let mut keys = Vec::new();
        key_names(&self.ty, &mut keys);
        let full = self.to_json(s);
        let mut m = Map::new();
        if let Value::Object(full) = full {
            for k in keys {
                if let Some(v) = full.get(&k) {
                    m.insert(k, v.clone());
                }
            }
        }
        Value::Object(m)
    }
}

/// A boxed command future.
pub type CommandFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CliError>> + Send + 'a>>;

/// One registered type: its name and the `sub`/`pub` runners instantiated for it.
pub struct TypeEntry {
    /// Registered type name.
    pub name: &'static str,
    /// Runs `sub`.
    pub sub: for<'a> fn(DomainParticipant, &'a SubArgs) -> CommandFuture<'a>,
    /// Runs `pub`.
    pub publish: for<'a> fn(DomainParticipant, &'a PubArgs) -> CommandFuture<'a>,
}

fn shape_sub(p: DomainParticipant, a: &SubArgs) -> CommandFuture<'_> {
    Box::pin(pubsub::subscribe(p, a, StaticCodec::<ShapeType>::default()))
}

fn shape_pub(p: DomainParticipant, a: &PubArgs) -> CommandFuture<'_> {
    Box::pin(pubsub::publish(p, a, StaticCodec::<ShapeType>::default()))
}

static TYPES: &[TypeEntry] = &[TypeEntry { name: "ShapeType", sub: shape_sub, publish: shape_pub }];

/// Names of the registered types.
pub fn known_types() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// Looks a type up by name.
pub fn find_type(name: &str) -> Result<&'static TypeEntry, CliError> {
    TYPES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| CliError::UnknownType(name.to_string(), known_types().collect::<Vec<_>>().join(", ")))
}
