//! The CLI's type table: JSON ⇄ sample for each type the tool knows.

use super::{pubsub, CliError, PubArgs, SubArgs};
use crate::dds::DomainParticipant;
use crate::types::ShapeType;
use serde_json::{Map, Value};
use starling_proto::cdr::TopicType;
use std::future::Future;
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
    Box::pin(pubsub::subscribe::<ShapeType>(p, a))
}

fn shape_pub(p: DomainParticipant, a: &PubArgs) -> CommandFuture<'_> {
    Box::pin(pubsub::publish::<ShapeType>(p, a))
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
