//! QoS profiles in the OMG DDS-XML 1.0 syntax (DDS Consolidated XML Syntax,
//! building block QoS), as used by Cyclone DDS's QoS provider and by RTI
//! Connext's `USER_QOS_PROFILES.xml`.
//!
//! ```xml
//! <dds xmlns="http://www.omg.org/spec/DDS-XML">
//!   <qos_library name="Lib">
//!     <qos_profile name="State" is_default_qos="true">
//!       <datawriter_qos>
//!         <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
//!         <durability><kind>TRANSIENT_LOCAL_DURABILITY_QOS</kind></durability>
//!       </datawriter_qos>
//!     </qos_profile>
//!   </qos_library>
//! </dds>
//! ```
//!
//! [`QosProvider`] loads one or more files; [`QosProvider::profile`] returns a
//! resolved [`QosProfile`] (`"Lib::Profile"`), whose
//! [`datawriter_qos`](QosProfile::datawriter_qos) and
//! [`datareader_qos`](QosProfile::datareader_qos) merge topic, group and
//! endpoint QoS for a topic name.
//!
//! Inheritance: `base_name` on a profile or on one entity QoS element
//! (`"Lib::Profile"`, or `"Lib::Profile::Name"` for a named entity QoS);
//! overrides apply field by field; cycles are errors. `topic_filter` on
//! `topic_qos`, `datawriter_qos` and `datareader_qos` selects an element by
//! topic name (`*`/`?` wildcards): filtered elements are tried in document
//! order before the unfiltered one. Unknown and vendor-specific elements are
//! skipped with a warning ([`QosProvider::warnings`]); invalid values are
//! errors naming `file:line:column` and the allowed values.

pub(crate) mod dom;
mod policy;

pub use policy::{HistoryKind, QosPolicies};

use crate::qos::{glob_match, EndpointQos};
use dom::{Element, Pos};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The environment variable [`QosProvider::from_env`] reads: QoS files
/// separated by `;` or `:`.
pub const QOS_PROFILES_ENV: &str = "STARLING_QOS_PROFILES";

/// Errors loading QoS profiles or looking one up.
#[derive(Debug, thiserror::Error)]
pub enum QosError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not well-formed XML.
    #[error("{file}:{line}:{col}: malformed XML: {message}")]
    Xml {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What the XML parser reported.
        message: String,
    },
    /// An invalid value, a missing attribute, an unknown or cyclic `base_name`, or a duplicate definition.
    #[error("{file}:{line}:{col}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong, with the allowed values where that helps.
        message: String,
    },
    /// No profile has this name.
    #[error("no QoS profile '{name}' (known: {known})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The loaded profiles, comma-separated.
        known: String,
    },
}

/// Something skipped while loading (an unknown or vendor-specific element or attribute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QosWarning {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What was skipped.
    pub message: String,
}

impl std::fmt::Display for QosWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Sections a `<dds>` document holds besides QoS libraries (DDS-XML building blocks, Starling's bridge
/// configuration); the QoS loader skips them without a warning.
const OTHER_DDS_SECTIONS: &[&str] =
    &["types", "domain_library", "domain_participant_library", "application_library", "bridge"];

/// Elements RTI Connext adds to the OMG syntax; named as such in warnings.
const RTI_EXTENSIONS: &[&str] = &[
    "acknowledgment_kind",
    "availability",
    "base_name",
    "batch",
    "compression_settings",
    "database",
    "discovery",
    "discovery_config",
    "domain_library",
    "domain_participant_library",
    "encapsulation",
    "event",
    "instance_state_consistency_kind",
    "multi_channel",
    "multicast",
    "participant_factory_qos",
    "participant_name",
    "property",
    "protocol",
    "publish_mode",
    "reader_resource_limits",
    "receiver_pool",
    "service",
    "transport_builtin",
    "transport_multicast",
    "transport_selection",
    "transport_unicast",
    "type_support",
    "typecode",
    "types",
    "unicast",
    "wire_protocol",
    "writer_resource_limits",
];

/// Parse state for one file: its name and the warnings so far.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    warnings: Vec<QosWarning>,
}

impl Ctx<'_> {
    fn error(&self, pos: Pos, message: String) -> QosError {
        QosError::Invalid { file: self.file.to_string(), line: pos.line, col: pos.col, message }
    }

    fn warn(&mut self, pos: Pos, message: String) {
        let w = QosWarning { file: self.file.to_string(), line: pos.line, col: pos.col, message };
        tracing::warn!("{w}");
        self.warnings.push(w);
    }

    fn unknown(&mut self, el: &Element, parent: &str) {
        let what = if RTI_EXTENSIONS.contains(&el.name.as_str()) {
            "unsupported RTI Connext element"
        } else {
            "unknown element"
        };
        self.warn(el.pos, format!("{what} <{}> in <{parent}> ignored", el.name));
    }

    fn check_attrs(&mut self, el: &Element, known: &[&str]) {
        for a in &el.attrs {
            if !known.contains(&a.name.as_str()) && a.name != "schemaLocation" && a.name != "noNamespaceSchemaLocation"
            {
                self.warn(a.pos, format!("unknown attribute '{}' on <{}> ignored", a.name, el.name));
            }
        }
    }
}

/// The entity QoS element kinds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Participant = 0,
    Topic = 1,
    Publisher = 2,
    Subscriber = 3,
    DataWriter = 4,
    DataReader = 5,
}

impl Kind {
    fn from_element(name: &str) -> Option<Kind> {
        Some(match name {
            "domainparticipant_qos" | "domain_participant_qos" | "participant_qos" => Kind::Participant,
            "topic_qos" => Kind::Topic,
            "publisher_qos" => Kind::Publisher,
            "subscriber_qos" => Kind::Subscriber,
            "datawriter_qos" => Kind::DataWriter,
            "datareader_qos" => Kind::DataReader,
            _ => return None,
        })
    }

    fn filterable(self) -> bool {
        matches!(self, Kind::Topic | Kind::DataWriter | Kind::DataReader)
    }
}

/// A reference by name, with where it was written.
#[derive(Clone, Debug)]
struct NameRef {
    name: String,
    pos: Pos,
}

/// One entity QoS element as written.
#[derive(Clone, Debug)]
struct RawEntry {
    name: Option<String>,
    filter: Option<String>,
    base: Option<NameRef>,
    policies: QosPolicies,
}

/// One profile as written.
#[derive(Clone, Debug)]
struct RawProfile {
    full: String,
    file: String,
    pos: Pos,
    base: Option<NameRef>,
    is_default: bool,
    entries: [Vec<RawEntry>; 6],
}

impl Ctx<'_> {
    fn document(&mut self, root: &Element) -> Result<Vec<RawProfile>, QosError> {
        let mut out = Vec::new();
        match root.name.as_str() {
            "dds" => {
                self.check_attrs(root, &["version"]);
                for c in &root.children {
                    if c.name == "qos_library" {
                        self.library(c, &mut out)?;
                    } else if OTHER_DDS_SECTIONS.contains(&c.name.as_str()) {
                        // Another part of the same document (types, domains, a bridge's routes): not QoS.
                        tracing::debug!(file = self.file, line = c.pos.line, "<{}> left to its own reader", c.name);
                    } else {
                        self.unknown(c, "dds");
                    }
                }
            }
            "qos_library" => self.library(root, &mut out)?,
            other => {
                return Err(self.error(root.pos, format!("root element <{other}>: expected <dds> or <qos_library>")))
            }
        }
        Ok(out)
    }

    fn required<'e>(&self, el: &'e Element, attr: &str) -> Result<&'e str, QosError> {
        match el.attr(attr) {
            Some(a) if !a.value.trim().is_empty() => Ok(a.value.trim()),
            _ => Err(self.error(el.pos, format!("<{}> needs a {attr}=\"...\" attribute", el.name))),
        }
    }

    fn base_ref(&mut self, el: &Element, library: &str) -> Option<NameRef> {
        let a = el.attr("base_name")?;
        let name = a.value.trim();
        if name.is_empty() {
            return None;
        }
        let lib = name.split("::").next().unwrap_or_default();
        if name.contains("::") && lib.starts_with("BuiltinQosLib") {
            self.warn(
                a.pos,
                format!("base_name '{name}' is an RTI Connext built-in profile, not available here; ignored"),
            );
            return None;
        }
        let name = if name.contains("::") { name.to_string() } else { format!("{library}::{name}") };
        Some(NameRef { name, pos: a.pos })
    }

    fn library(&mut self, lib: &Element, out: &mut Vec<RawProfile>) -> Result<(), QosError> {
        let lname = self.required(lib, "name")?.to_string();
        self.check_attrs(lib, &["name"]);
        for c in &lib.children {
            if c.name == "qos_profile" {
                let pname = self.required(c, "name")?;
                self.check_attrs(c, &["name", "base_name", "is_default_qos"]);
                let is_default = match c.attr("is_default_qos") {
                    Some(a) => {
                        let el = Element {
                            name: "is_default_qos".into(),
                            text: a.value.clone(),
                            text_pos: a.pos,
                            ..Default::default()
                        };
                        self.boolean(&el, "is_default_qos")?
                    }
                    None => false,
                };
                let mut p = RawProfile {
                    full: format!("{lname}::{pname}"),
                    file: self.file.to_string(),
                    pos: c.pos,
                    base: self.base_ref(c, &lname),
                    is_default,
                    entries: Default::default(),
                };
                for e in &c.children {
                    match Kind::from_element(&e.name) {
                        Some(kind) => {
                            let entry = self.entry(e, kind, &lname)?;
                            let list = &p.entries[kind as usize];
                            if entry.name.is_none() {
                                let f = entry.filter.as_deref().unwrap_or("*");
                                if list.iter().any(|o| o.name.is_none() && o.filter.as_deref().unwrap_or("*") == f) {
                                    return Err(self.error(
                                        e.pos,
                                        format!(
                                            "a second <{}> with topic_filter \"{f}\" in profile '{}'",
                                            e.name, p.full
                                        ),
                                    ));
                                }
                            }
                            p.entries[kind as usize].push(entry);
                        }
                        None => self.unknown(e, "qos_profile"),
                    }
                }
                out.push(p);
            } else if let Some(kind) = Kind::from_element(&c.name) {
                // A bare entity QoS in a library is a profile holding only that QoS.
                let pname = self.required(c, "name")?.to_string();
                let mut entry = self.entry(c, kind, &lname)?;
                entry.name = None;
                let mut entries: [Vec<RawEntry>; 6] = Default::default();
                entries[kind as usize].push(entry);
                out.push(RawProfile {
                    full: format!("{lname}::{pname}"),
                    file: self.file.to_string(),
                    pos: c.pos,
                    base: None,
                    is_default: false,
                    entries,
                });
            } else {
                self.unknown(c, "qos_library");
            }
        }
        Ok(())
    }

    fn entry(&mut self, e: &Element, kind: Kind, library: &str) -> Result<RawEntry, QosError> {
        self.check_attrs(e, &["name", "base_name", "topic_filter"]);
        let filter = e.attr("topic_filter").map(|a| a.value.trim().to_string());
        if filter.is_some() && !kind.filterable() {
            return Err(self.error(e.pos, format!("topic_filter is not allowed on <{}>", e.name)));
        }
        Ok(RawEntry {
            name: e.attr("name").map(|a| a.value.trim().to_string()),
            filter,
            base: self.base_ref(e, library),
            policies: self.policies(e)?,
        })
    }
}

/// Where a resolved entity QoS element starts from.
#[derive(Debug)]
enum EntryBase {
    Profile(Arc<QosProfile>),
    Entity(Arc<QosProfile>, Kind, usize),
}

#[derive(Debug)]
struct Entry {
    name: Option<String>,
    filter: Option<String>,
    base: Option<EntryBase>,
    policies: QosPolicies,
}

/// A loaded QoS profile with its inheritance resolved.
#[derive(Debug)]
pub struct QosProfile {
    name: String,
    is_default: bool,
    base: Option<Arc<QosProfile>>,
    entries: [Vec<Entry>; 6],
}

/// DomainParticipant QoS from a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantQos {
    /// USER_DATA.
    pub user_data: Vec<u8>,
    /// ENTITY_FACTORY autoenable_created_entities (default true).
    pub autoenable_created_entities: bool,
}

impl QosProfile {
    /// The full name, `library::profile`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the profile is marked `is_default_qos="true"`.
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    fn select(&self, kind: Kind, topic: Option<&str>) -> Option<&Entry> {
        let list = &self.entries[kind as usize];
        if let Some(t) = topic {
            if let Some(e) = list.iter().find(|e| e.filter.as_deref().is_some_and(|f| glob_match(f, t))) {
                return Some(e);
            }
        }
        list.iter().find(|e| e.filter.is_none())
    }

    fn resolve(&self, kind: Kind, topic: Option<&str>) -> QosPolicies {
        match self.select(kind, topic) {
            Some(e) => self.resolve_entry(e, kind, topic),
            None => self.base.as_ref().map(|b| b.resolve(kind, topic)).unwrap_or_default(),
        }
    }

    fn resolve_entry(&self, e: &Entry, kind: Kind, topic: Option<&str>) -> QosPolicies {
        let mut p = match &e.base {
            Some(EntryBase::Profile(b)) => b.resolve(kind, topic),
            Some(EntryBase::Entity(b, k, i)) => b.resolve_entry(&b.entries[*k as usize][*i], *k, topic),
            None => self.base.as_ref().map(|b| b.resolve(kind, topic)).unwrap_or_default(),
        };
        p.overlay(&e.policies);
        p
    }

    /// The topic QoS policies this profile sets for `topic`.
    pub fn topic_policies(&self, topic: &str) -> QosPolicies {
        self.resolve(Kind::Topic, Some(topic))
    }

    /// The publisher QoS policies.
    pub fn publisher_policies(&self) -> QosPolicies {
        self.resolve(Kind::Publisher, None)
    }

    /// The subscriber QoS policies.
    pub fn subscriber_policies(&self) -> QosPolicies {
        self.resolve(Kind::Subscriber, None)
    }

    /// The participant QoS policies.
    pub fn participant_policies(&self) -> QosPolicies {
        self.resolve(Kind::Participant, None)
    }

    /// The datawriter policies for `topic`, merged: topic QoS, then the
    /// publisher's partition/presentation/group_data, then the datawriter QoS.
    pub fn datawriter_policies(&self, topic: &str) -> QosPolicies {
        let mut p = self.topic_policies(topic);
        p.overlay(&self.publisher_policies().group_policies());
        p.overlay(&self.resolve(Kind::DataWriter, Some(topic)));
        p
    }

    /// The datareader policies for `topic`, merged like [`datawriter_policies`](Self::datawriter_policies).
    pub fn datareader_policies(&self, topic: &str) -> QosPolicies {
        let mut p = self.topic_policies(topic);
        p.overlay(&self.subscriber_policies().group_policies());
        p.overlay(&self.resolve(Kind::DataReader, Some(topic)));
        p
    }

    /// The QoS of a writer of `topic`: [`datawriter_policies`](Self::datawriter_policies)
    /// over [`EndpointQos::writer_default`].
    pub fn datawriter_qos(&self, topic: &str) -> EndpointQos {
        self.datawriter_policies(topic).apply_to(EndpointQos::writer_default())
    }

    /// The QoS of a reader of `topic`: [`datareader_policies`](Self::datareader_policies)
    /// over [`EndpointQos::reader_default`].
    pub fn datareader_qos(&self, topic: &str) -> EndpointQos {
        self.datareader_policies(topic).apply_to(EndpointQos::reader_default())
    }

    /// The participant QoS (defaults where the profile sets nothing).
    pub fn participant_qos(&self) -> ParticipantQos {
        let p = self.participant_policies();
        ParticipantQos {
            user_data: p.user_data.unwrap_or_default(),
            autoenable_created_entities: p.autoenable_created_entities.unwrap_or(true),
        }
    }
}

/// Loaded QoS libraries: profiles by `library::profile` name.
#[derive(Debug, Default)]
pub struct QosProvider {
    raw: Vec<RawProfile>,
    profiles: Vec<Arc<QosProfile>>,
    index: HashMap<String, usize>,
    warnings: Vec<QosWarning>,
}

struct Builder<'a> {
    raw: &'a [RawProfile],
    index: HashMap<&'a str, usize>,
    done: Vec<Option<Arc<QosProfile>>>,
    visiting: Vec<usize>,
}

impl Builder<'_> {
    fn err(&self, p: &RawProfile, pos: Pos, message: String) -> QosError {
        QosError::Invalid { file: p.file.clone(), line: pos.line, col: pos.col, message }
    }

    fn build(&mut self, i: usize) -> Result<Arc<QosProfile>, QosError> {
        if let Some(done) = &self.done[i] {
            return Ok(done.clone());
        }
        let raw = &self.raw[i];
        if let Some(start) = self.visiting.iter().position(|&v| v == i) {
            let mut chain: Vec<&str> = self.visiting[start..].iter().map(|&v| self.raw[v].full.as_str()).collect();
            chain.push(&raw.full);
            return Err(self.err(raw, raw.pos, format!("base_name inheritance cycle: {}", chain.join(" -> "))));
        }
        self.visiting.push(i);
        let base = match &raw.base {
            Some(r) => Some(self.profile_ref(raw, r)?),
            None => None,
        };
        let mut entries: [Vec<Entry>; 6] = Default::default();
        for (k, list) in raw.entries.iter().enumerate() {
            for e in list {
                let ebase = match &e.base {
                    Some(r) => Some(self.entry_ref(raw, r, k)?),
                    None => None,
                };
                entries[k].push(Entry {
                    name: e.name.clone(),
                    filter: e.filter.clone(),
                    base: ebase,
                    policies: e.policies.clone(),
                });
            }
        }
        self.visiting.pop();
        let p = Arc::new(QosProfile { name: raw.full.clone(), is_default: raw.is_default, base, entries });
        self.done[i] = Some(p.clone());
        Ok(p)
    }

    fn profile_ref(&mut self, raw: &RawProfile, r: &NameRef) -> Result<Arc<QosProfile>, QosError> {
        match self.index.get(r.name.as_str()) {
            Some(&j) => self.build(j),
            None => Err(self.err(raw, r.pos, format!("base_name '{}' names no loaded QoS profile", r.name))),
        }
    }

    fn entry_ref(&mut self, raw: &RawProfile, r: &NameRef, kind: usize) -> Result<EntryBase, QosError> {
        if self.index.contains_key(r.name.as_str()) {
            return self.profile_ref(raw, r).map(EntryBase::Profile);
        }
        // "lib::profile::name": a named entity QoS.
        if let Some((prof, ename)) = r.name.rsplit_once("::") {
            if let Some(&j) = self.index.get(prof) {
                let p = self.build(j)?;
                let order = std::iter::once(kind).chain((0..6).filter(|&k| k != kind));
                for k in order {
                    if let Some(idx) = p.entries[k].iter().position(|e| e.name.as_deref() == Some(ename)) {
                        let kinds = [
                            Kind::Participant,
                            Kind::Topic,
                            Kind::Publisher,
                            Kind::Subscriber,
                            Kind::DataWriter,
                            Kind::DataReader,
                        ];
                        return Ok(EntryBase::Entity(p.clone(), kinds[k], idx));
                    }
                }
            }
        }
        Err(self.err(raw, r.pos, format!("base_name '{}' names no loaded QoS profile or entity QoS", r.name)))
    }
}

impl QosProvider {
    /// An empty provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads one file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, QosError> {
        let mut p = Self::new();
        p.load_file(path)?;
        Ok(p)
    }

    /// Loads XML text; `name` stands for the file in messages.
    pub fn from_str(name: &str, text: &str) -> Result<Self, QosError> {
        let mut p = Self::new();
        p.load_str(name, text)?;
        Ok(p)
    }

    /// Loads the files listed in `STARLING_QOS_PROFILES` (separated by `;` or
    /// `:`); an empty provider when it is unset.
    pub fn from_env() -> Result<Self, QosError> {
        let mut p = Self::new();
        if let Ok(list) = std::env::var(QOS_PROFILES_ENV) {
            p.load_path_list(&list)?;
        }
        Ok(p)
    }

    /// Loads every file of a `;`- or `:`-separated list (empty items skipped).
    pub fn load_path_list(&mut self, list: &str) -> Result<(), QosError> {
        let sep = if list.contains(';') { ';' } else { ':' };
        for item in list.split(sep).map(str::trim).filter(|s| !s.is_empty()) {
            self.load_file(item)?;
        }
        Ok(())
    }

    /// Adds a file. Its profiles may inherit from profiles loaded before.
    /// On error nothing of the file is kept.
    pub fn load_file(&mut self, path: impl AsRef<Path>) -> Result<(), QosError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| QosError::Io { path: name.clone(), source })?;
        self.load_str(&name, &text)
    }

    /// Adds XML text; `name` stands for the file in messages.
    pub fn load_str(&mut self, name: &str, text: &str) -> Result<(), QosError> {
        let root = dom::parse(name, text)?;
        let mut ctx = Ctx { file: name, warnings: Vec::new() };
        let new = ctx.document(&root)?;
        let mut raw = self.raw.clone();
        for p in new {
            if let Some(old) = raw.iter().find(|o| o.full == p.full) {
                return Err(QosError::Invalid {
                    file: p.file.clone(),
                    line: p.pos.line,
                    col: p.pos.col,
                    message: format!(
                        "QoS profile '{}' is already defined at {}:{}:{}",
                        p.full, old.file, old.pos.line, old.pos.col
                    ),
                });
            }
            raw.push(p);
        }
        let index: HashMap<&str, usize> = raw.iter().enumerate().map(|(i, p)| (p.full.as_str(), i)).collect();
        let mut b = Builder { raw: &raw, index, done: vec![None; raw.len()], visiting: Vec::new() };
        let mut profiles = Vec::with_capacity(raw.len());
        for i in 0..raw.len() {
            profiles.push(b.build(i)?);
        }
        self.index = raw.iter().enumerate().map(|(i, p)| (p.full.clone(), i)).collect();
        self.raw = raw;
        self.profiles = profiles;
        self.warnings.extend(ctx.warnings);
        Ok(())
    }

    /// A profile by `library::profile` name (or by bare profile name when only
    /// one library has it).
    pub fn profile(&self, name: &str) -> Result<&QosProfile, QosError> {
        let name = name.trim();
        if let Some(&i) = self.index.get(name) {
            return Ok(&self.profiles[i]);
        }
        if !name.contains("::") {
            let mut hits = self.profiles.iter().filter(|p| p.name.rsplit("::").next() == Some(name));
            if let (Some(p), None) = (hits.next(), hits.next()) {
                return Ok(p);
            }
        }
        Err(QosError::UnknownProfile {
            name: name.to_string(),
            known: self.profile_names().collect::<Vec<_>>().join(", "),
        })
    }

    /// The profile marked `is_default_qos="true"` (the first, if several are).
    pub fn default_profile(&self) -> Option<&QosProfile> {
        self.profiles.iter().find(|p| p.is_default).map(|p| &**p)
    }

    /// The names of all loaded profiles, in load order.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| p.name.as_str())
    }

    /// Warnings about skipped elements and attributes, in load order.
    pub fn warnings(&self) -> &[QosWarning] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests;
