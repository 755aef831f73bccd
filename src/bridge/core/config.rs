//! The bridge configuration file: listeners, IDL files, QoS files, routes, the default mapping,
//! users and anonymous access, in one XML document of the DDS-XML family.
//!
//! ```xml
//! <dds xmlns="http://www.omg.org/spec/DDS-XML">
//!   <qos_library name="Bridge">
//!     <qos_profile name="State">…</qos_profile>
//!   </qos_library>
//!   <bridge>
//!     <listener protocol="mqtt" address="127.0.0.1:1883"/>
//!     <listener protocol="mqtt" address="127.0.0.1:8883" tls="true" cert="cert.pem" key="key.pem"/>
//!     <idl file="shapes.idl" include="idl"/>
//!     <qos_file path="more_profiles.xml"/>
//!     <default_mapping prefix="dds" allow="*" deny="DCPS*"/>
//!     <route topic="Square" type="ShapeType" broker_name="shapes/square" direction="both"
//!            format="json" qos_profile="Bridge::State"/>
//!     <anonymous allowed="true"/>
//!     <users>
//!       <user name="guest" password_hash="$argon2id$…" publish="#" subscribe="#"/>
//!     </users>
//!   </bridge>
//! </dds>
//! ```
//!
//! The root is either `<dds>` holding QoS libraries and one `<bridge>` element (the QoS libraries
//! of the same file are loaded, so routes can name them), or a bare `<starling_bridge>` with the
//! same children as `<bridge>`. Relative paths are resolved against the configuration file's
//! directory. Every problem is reported as `file:line:column: message`; unknown elements and
//! attributes are errors, so nothing runs half-configured.

use crate::bridge::mqtt::auth::{AclRule, MemoryAuth};
use crate::bridge::mqtt::codec::topic::{validate_topic_filter, validate_topic_name};
use crate::qos::xml::dom::{self, Element, Pos};
use crate::qos::{DurabilityKind, EndpointQos, History, QosError, QosProvider, Reliability};
use starling_proto::xtypes::DynamicType;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration problem, with the place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// Malformed XML, or an invalid element, attribute or value.
    #[error("{file}:{line}:{col}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
}

/// Wire protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// MQTT 3.1.1/5.0 over TCP.
    Mqtt,
    /// MQTT over WebSocket.
    MqttWs,
    /// STOMP 1.0/1.1/1.2 over TCP.
    Stomp,
    /// STOMP over WebSocket (subprotocols `v10.stomp`, `v11.stomp`, `v12.stomp`).
    StompWs,
    /// AMQP.
    Amqp,
}

impl Protocol {
    /// The name used in the configuration file.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::MqttWs => "mqtt-ws",
            Self::Stomp => "stomp",
            Self::StompWs => "stomp-ws",
            Self::Amqp => "amqp",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "mqtt" => Self::Mqtt,
            "mqtt-ws" => Self::MqttWs,
            "stomp" => Self::Stomp,
            "stomp-ws" => Self::StompWs,
            "amqp" => Self::Amqp,
            _ => return None,
        })
    }
}

/// PEM files for a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// One `<listener>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Protocol.
    pub protocol: Protocol,
    /// Address to listen on.
    pub address: SocketAddr,
    /// TLS files when `tls="true"`.
    pub tls: Option<TlsFiles>,
}

/// Which way a route carries samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Broker clients → DDS.
    ToDds,
    /// DDS → broker clients.
    FromDds,
    /// Both ways.
    Both,
}

impl Direction {
    /// DDS samples are read and forwarded to clients.
    #[must_use]
    pub fn from_dds(self) -> bool {
        matches!(self, Self::FromDds | Self::Both)
    }
    /// Client messages are written into DDS.
    #[must_use]
    pub fn to_dds(self) -> bool {
        matches!(self, Self::ToDds | Self::Both)
    }
}

/// Payload format on the broker side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// DDS-JSON through the dynamic type.
    Json,
    /// The serialized sample with its 4-byte encapsulation header.
    Cdr,
}

/// One `<route>`.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// DDS domain.
    pub domain: u32,
    /// DDS partition (empty: the default partition).
    pub partition: String,
    /// DDS topic name.
    pub topic: String,
    /// Registered type name (`None`: learned from a DDS endpoint).
    pub type_name: Option<String>,
    /// The type, when built in or found in the IDL files (else learned through TypeLookup).
    pub ty: Option<DynamicType>,
    /// Broker-side name in MQTT form (levels separated by `/`).
    pub broker_name: String,
    /// Direction.
    pub direction: Direction,
    /// Payload format.
    pub format: Format,
    /// Writer QoS for samples written into DDS.
    pub writer_qos: EndpointQos,
    /// Reader QoS for samples read from DDS.
    pub reader_qos: EndpointQos,
    /// Where the route is declared (for messages).
    pub line: usize,
}

/// `<default_mapping>`: topics not listed in a route but allowed are bridged under
/// `[prefix/][partition/]Topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultMapping {
    /// Enabled (false when the element is absent or `enabled="false"`).
    pub enabled: bool,
    /// Broker-side prefix (MQTT form; empty for none).
    pub prefix: String,
    /// DDS domain whose topics are mapped.
    pub domain: u32,
    /// Topic name patterns (`*`, `?`) allowed; empty allows all.
    pub allow: Vec<String>,
    /// Topic name patterns denied (checked first).
    pub deny: Vec<String>,
    /// Direction for default-mapped topics.
    pub direction: Direction,
    /// Payload format for default-mapped topics.
    pub format: Format,
}

impl Default for DefaultMapping {
    fn default() -> Self {
        Self {
            enabled: false,
            prefix: String::new(),
            domain: 0,
            allow: Vec::new(),
            deny: Vec::new(),
            direction: Direction::Both,
            format: Format::Json,
        }
    }
}

impl DefaultMapping {
    /// Whether a DDS topic name may be bridged by the default mapping.
    #[must_use]
    pub fn allows(&self, topic: &str) -> bool {
        if !self.enabled || topic.starts_with("DCPS") {
            return false;
        }
        if self.deny.iter().any(|p| crate::qos::glob_match(p, topic)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|p| crate::qos::glob_match(p, topic))
    }
}

/// One `<user>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    /// User name.
    pub name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Topic patterns the user may publish to (`None`: everything).
    pub publish: Option<Vec<String>>,
    /// Topic patterns the user may subscribe to (`None`: everything).
    pub subscribe: Option<Vec<String>>,
}

/// `<anonymous>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousConfig {
    /// Clients without a user name are accepted.
    pub allowed: bool,
    /// Patterns anonymous clients may publish to (`None`: everything).
    pub publish: Option<Vec<String>>,
    /// Patterns anonymous clients may subscribe to (`None`: everything).
    pub subscribe: Option<Vec<String>>,
}

/// What the loop guard does with samples of other bridges' DDS writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoopGuardConfig {
    /// Forward samples written by other bridges (off: they are not re-bridged).
    pub forward_other_bridges: bool,
}

/// A whole, validated bridge configuration.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The file it came from.
    pub file: PathBuf,
    /// Listeners in document order.
    pub listeners: Vec<ListenerConfig>,
    /// Explicit routes.
    pub routes: Vec<RouteConfig>,
    /// The default mapping.
    pub default_mapping: DefaultMapping,
    /// Users.
    pub users: Vec<UserConfig>,
    /// Anonymous access.
    pub anonymous: AnonymousConfig,
    /// Loop guard options.
    pub loop_guard: LoopGuardConfig,
    /// Types from the IDL files, by scoped name.
    pub idl_types: HashMap<String, DynamicType>,
}

impl BridgeConfig {
    /// Loads and validates a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Io { file: path.display().to_string(), message: e.to_string() })?;
        Self::parse(path, &text)
    }

    /// Parses configuration text; `path` names it in messages and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Parser::new(path).run(text)
    }

    /// The authenticator for broker endpoints.
    pub fn authenticator(&self) -> Result<MemoryAuth, ConfigError> {
        let mut auth = MemoryAuth::default();
        auth.allow_anonymous(self.anonymous.allowed);
        if let Some(acl) = acl(self.anonymous.publish.as_deref(), self.anonymous.subscribe.as_deref()) {
            auth.anonymous_acl(acl);
        }
        for u in &self.users {
            auth.add_user(&u.name, &u.password_hash, acl(u.publish.as_deref(), u.subscribe.as_deref())).map_err(
                |e| ConfigError::Io { file: self.file.display().to_string(), message: format!("user {}: {e}", u.name) },
            )?;
        }
        Ok(auth)
    }
}

fn acl(publish: Option<&[String]>, subscribe: Option<&[String]>) -> Option<Vec<AclRule>> {
    if publish.is_none() && subscribe.is_none() {
        return None;
    }
    let mut rules = Vec::new();
    for p in publish.unwrap_or(&["#".to_string()]) {
        rules.push(AclRule { pattern: p.clone(), publish: true, subscribe: false });
    }
    for p in subscribe.unwrap_or(&["#".to_string()]) {
        rules.push(AclRule { pattern: p.clone(), publish: false, subscribe: true });
    }
    Some(rules)
}

struct Parser {
    file: String,
    dir: PathBuf,
    qos: QosProvider,
}

impl Parser {
    fn new(path: &Path) -> Self {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self { file: path.display().to_string(), dir, qos: QosProvider::new() }
    }

    fn err(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { file: self.file.clone(), line: pos.line, col: pos.col, message: message.into() }
    }

    fn qos_err(&self, e: QosError) -> ConfigError {
        match e {
            QosError::Xml { file, line, col, message } => {
                ConfigError::Invalid { file, line, col, message: format!("malformed XML: {message}") }
            }
            QosError::Invalid { file, line, col, message } => ConfigError::Invalid { file, line, col, message },
            other => ConfigError::Io { file: self.file.clone(), message: other.to_string() },
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// Checks that `el` has only `allowed` attributes.
    fn attrs(&self, el: &Element, allowed: &[&str]) -> Result<(), ConfigError> {
        for a in &el.attrs {
            if !allowed.contains(&a.name.as_str()) {
                return Err(self.err(
                    a.pos,
                    format!("unknown attribute '{}' on <{}> (allowed: {})", a.name, el.name, allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn required<'a>(&self, el: &'a Element, name: &str) -> Result<&'a dom::Attr, ConfigError> {
        el.attr(name).ok_or_else(|| self.err(el.pos, format!("<{}> needs a '{name}' attribute", el.name)))
    }

    fn bool_attr(&self, el: &Element, name: &str, default: bool) -> Result<bool, ConfigError> {
        match el.attr(name) {
            None => Ok(default),
            Some(a) => match a.value.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                v => Err(self.err(a.pos, format!("{name}=\"{v}\" is not a boolean (true or false)"))),
            },
        }
    }

    fn domain_attr(&self, el: &Element) -> Result<u32, ConfigError> {
        match el.attr("domain") {
            None => Ok(0),
            Some(a) => a
                .value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| *d <= 232)
                .ok_or_else(|| self.err(a.pos, format!("domain=\"{}\" is not a domain id (0 to 232)", a.value))),
        }
    }

    fn patterns(&self, a: &dom::Attr, filters: bool) -> Result<Vec<String>, ConfigError> {
        let list: Vec<String> =
            a.value.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if filters {
            for p in &list {
                validate_topic_filter(p)
                    .map_err(|e| self.err(a.pos, format!("{}: '{p}' is not a topic pattern: {e}", a.name)))?;
            }
        }
        Ok(list)
    }

    fn run(mut self, text: &str) -> Result<BridgeConfig, ConfigError> {
        let root = dom::parse(&self.file, text).map_err(|e| self.qos_err(e))?;
        let bridge = match root.name.as_str() {
            "starling_bridge" => root.clone(),
            "dds" => {
                let mut found: Option<&Element> = None;
                for c in &root.children {
                    match c.name.as_str() {
                        "bridge" if found.is_some() => return Err(self.err(c.pos, "more than one <bridge> element")),
                        "bridge" => found = Some(c),
                        _ => {}
                    }
                }
                let Some(b) = found else {
                    return Err(self.err(root.pos, "<dds> holds no <bridge> element"));
                };
                // The QoS libraries of this file.
                self.qos.load_str(&self.file, text).map_err(|e| self.qos_err(e))?;
                b.clone()
            }
            other => {
                return Err(self.err(
                    root.pos,
                    format!(
                        "the root element must be <dds> (with a <bridge> inside) or <starling_bridge>, not <{other}>"
                    ),
                ))
            }
        };
        self.attrs(&bridge, &[])?;
        // First pass: files the rest depends on.
        let mut idl_files = Vec::new();
        let mut includes = Vec::new();
        let mut idl_pos = None;
        for c in &bridge.children {
            match c.name.as_str() {
                "idl" => {
                    self.attrs(c, &["file", "include"])?;
                    let f = self.required(c, "file")?;
                    let p = self.path(&f.value);
                    if !p.is_file() {
                        return Err(self.err(f.pos, format!("IDL file {} not found", p.display())));
                    }
                    idl_files.push(p);
                    if let Some(i) = c.attr("include") {
                        for d in i.value.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
                            includes.push(self.path(d));
                        }
                    }
                    idl_pos.get_or_insert(c.pos);
                }
                "qos_file" => {
                    self.attrs(c, &["path"])?;
                    let f = self.required(c, "path")?;
                    let p = self.path(&f.value);
                    if !p.is_file() {
                        return Err(self.err(f.pos, format!("QoS file {} not found", p.display())));
                    }
                    self.qos.load_file(&p).map_err(|e| self.qos_err(e))?;
                }
                _ => {}
            }
        }
        let mut idl_types = HashMap::new();
        if let Some(pos) = idl_pos {
            let model = starling_idl::check(&idl_files, &includes).map_err(|diags| {
                let first = diags.first().map_or_else(|| "IDL error".to_string(), |d| d.to_string());
                self.err(pos, format!("IDL files do not compile: {}", first.lines().next().unwrap_or_default()))
            })?;
            let structs = model.items.iter().filter(|i| matches!(i.kind, starling_idl::model::ItemKind::Struct(_)));
            for name in structs.map(starling_idl::model::Item::scoped) {
                if let Ok(t) = crate::dynamic::from_idl::dynamic_type(&model, &name) {
                    idl_types.insert(name, t);
                }
            }
        }
        let mut cfg = BridgeConfig {
            file: PathBuf::from(&self.file),
            listeners: Vec::new(),
            routes: Vec::new(),
            default_mapping: DefaultMapping::default(),
            users: Vec::new(),
            anonymous: AnonymousConfig { allowed: true, publish: None, subscribe: None },
            loop_guard: LoopGuardConfig::default(),
            idl_types,
        };
        let mut seen_addr = HashSet::new();
        let mut seen_names: HashMap<String, usize> = HashMap::new();
        let mut seen = HashSet::new();
        for c in &bridge.children {
            match c.name.as_str() {
                "idl" | "qos_file" => {}
                "listener" => {
                    let l = self.listener(c)?;
                    if !seen_addr.insert(l.address) {
                        return Err(self.err(c.pos, format!("address {} is used by another listener", l.address)));
                    }
                    cfg.listeners.push(l);
                }
                "route" => {
                    let r = self.route(c, &cfg.idl_types)?;
                    if let Some(line) = seen_names.insert(r.broker_name.clone(), r.line) {
                        return Err(self.err(
                            c.pos,
                            format!("broker_name '{}' is already used by the route on line {line}", r.broker_name),
                        ));
                    }
                    cfg.routes.push(r);
                }
                "default_mapping" | "anonymous" | "users" | "loop_guard" if !seen.insert(c.name.clone()) => {
                    return Err(self.err(c.pos, format!("<{}> may appear only once", c.name)));
                }
                "default_mapping" => cfg.default_mapping = self.default_mapping(c)?,
                "anonymous" => {
                    self.attrs(c, &["allowed", "publish", "subscribe"])?;
                    cfg.anonymous.allowed = self.bool_attr(c, "allowed", true)?;
                    cfg.anonymous.publish = c.attr("publish").map(|a| self.patterns(a, true)).transpose()?;
                    cfg.anonymous.subscribe = c.attr("subscribe").map(|a| self.patterns(a, true)).transpose()?;
                }
                "users" => {
                    self.attrs(c, &[])?;
                    for u in &c.children {
                        let user = self.user(u)?;
                        if cfg.users.iter().any(|x| x.name == user.name) {
                            return Err(self.err(u.pos, format!("user '{}' is defined twice", user.name)));
                        }
                        cfg.users.push(user);
                    }
                }
                "loop_guard" => {
                    self.attrs(c, &["forward_other_bridges"])?;
                    cfg.loop_guard.forward_other_bridges = self.bool_attr(c, "forward_other_bridges", false)?;
                }
                other => {
                    return Err(self.err(
                        c.pos,
                        format!(
                            "unknown element <{other}> in <{}> (expected listener, idl, qos_file, route, \
                             default_mapping, anonymous, users, loop_guard)",
                            bridge.name
                        ),
                    ))
                }
            }
        }
        if cfg.listeners.is_empty() {
            return Err(self.err(bridge.pos, "no <listener>: the bridge would accept no clients"));
        }
        Ok(cfg)
    }

    fn listener(&self, c: &Element) -> Result<ListenerConfig, ConfigError> {
        self.attrs(c, &["protocol", "address", "tls", "cert", "key"])?;
        let p = self.required(c, "protocol")?;
        let protocol = Protocol::parse(p.value.trim()).ok_or_else(|| {
            self.err(p.pos, format!("unknown protocol '{}' (expected mqtt, mqtt-ws, stomp, stomp-ws or amqp)", p.value))
        })?;
        let a = self.required(c, "address")?;
        let address = a
            .value
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| self.err(a.pos, format!("address '{}' is not IP:PORT", a.value)))?;
        let tls = if self.bool_attr(c, "tls", false)? {
            let mut files = Vec::new();
            for name in ["cert", "key"] {
                let f = self.required(c, name).map_err(|_| self.err(c.pos, format!("tls=\"true\" needs '{name}'")))?;
                let path = self.path(&f.value);
                if !path.is_file() {
                    return Err(self.err(f.pos, format!("{name} file {} not found", path.display())));
                }
                files.push(path);
            }
            let key = files.pop().unwrap_or_default();
            let cert = files.pop().unwrap_or_default();
            Some(TlsFiles { cert, key })
        } else {
            if let Some(a) = c.attr("cert").or_else(|| c.attr("key")) {
                return Err(self.err(a.pos, format!("'{}' needs tls=\"true\"", a.name)));
            }
            None
        };
        Ok(ListenerConfig { protocol, address, tls })
    }

    fn direction(&self, c: &Element) -> Result<Direction, ConfigError> {
        match c.attr("direction") {
            None => Ok(Direction::Both),
            Some(a) => match a.value.trim() {
                "both" => Ok(Direction::Both),
                "to_dds" | "to-dds" => Ok(Direction::ToDds),
                "from_dds" | "from-dds" => Ok(Direction::FromDds),
                v => Err(self.err(a.pos, format!("direction '{v}' is not one of to_dds, from_dds, both"))),
            },
        }
    }

    fn format(&self, c: &Element) -> Result<Format, ConfigError> {
        match c.attr("format") {
            None => Ok(Format::Json),
            Some(a) => match a.value.trim() {
                "json" => Ok(Format::Json),
                "cdr" => Ok(Format::Cdr),
                v => Err(self.err(a.pos, format!("format '{v}' is not json or cdr"))),
            },
        }
    }

    fn route(&self, c: &Element, idl: &HashMap<String, DynamicType>) -> Result<RouteConfig, ConfigError> {
        self.attrs(
            c,
            &[
                "domain",
                "partition",
                "topic",
                "type",
                "broker_name",
                "direction",
                "format",
                "qos_profile",
                "reliability",
                "durability",
                "history_depth",
            ],
        )?;
        let domain = self.domain_attr(c)?;
        let topic = self.required(c, "topic")?;
        if topic.value.trim().is_empty() {
            return Err(self.err(topic.pos, "topic must not be empty"));
        }
        let topic = topic.value.trim().to_string();
        let partition = c.attr("partition").map(|a| a.value.trim().to_string()).unwrap_or_default();
        let (type_name, ty) = match c.attr("type") {
            None => (None, None),
            Some(a) => {
                let name = a.value.trim().trim_start_matches("::").to_string();
                let ty = if let Some(t) = idl.get(&name) {
                    Some(t.clone())
                } else if name == "ShapeType" {
                    Some(crate::dynamic::shape_type())
                } else {
                    let mut known: Vec<&str> = idl.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    known.push("ShapeType");
                    return Err(self.err(
                        a.pos,
                        format!("type '{name}' is not in the IDL files nor built in (known: {})", known.join(", ")),
                    ));
                };
                (Some(name), ty)
            }
        };
        let broker_name = match c.attr("broker_name") {
            Some(a) => {
                let n = a.value.trim().to_string();
                validate_topic_name(&n)
                    .map_err(|e| self.err(a.pos, format!("broker_name '{n}' is not a topic name: {e}")))?;
                if n.starts_with('$') {
                    return Err(self.err(a.pos, format!("broker_name '{n}' must not start with '$'")));
                }
                n
            }
            None => super::mapping::default_name("", &partition, &topic),
        };
        let direction = self.direction(c)?;
        let format = self.format(c)?;
        let (mut writer_qos, mut reader_qos) = match c.attr("qos_profile") {
            Some(a) => {
                let p = self.qos.profile(a.value.trim()).map_err(|e| self.err(a.pos, e.to_string()))?;
                (p.datawriter_qos(&topic), p.datareader_qos(&topic))
            }
            None => {
                // Bridges relay state: reliable and keep the latest per instance by default.
                let mut w = EndpointQos::writer_default();
                let mut r = EndpointQos::reader_default();
                r.reliability = Reliability::reliable();
                w.history = History::KeepLast(1);
                r.history = History::KeepLast(16);
                (w, r)
            }
        };
        if let Some(a) = c.attr("reliability") {
            let rel = match a.value.trim() {
                "reliable" => Reliability::reliable(),
                "best_effort" => Reliability::best_effort(),
                v => return Err(self.err(a.pos, format!("reliability '{v}' is not reliable or best_effort"))),
            };
            writer_qos.reliability = rel;
            reader_qos.reliability = rel;
        }
        if let Some(a) = c.attr("durability") {
            let d = match a.value.trim() {
                "volatile" => DurabilityKind::Volatile,
                "transient_local" => DurabilityKind::TransientLocal,
                v => return Err(self.err(a.pos, format!("durability '{v}' is not volatile or transient_local"))),
            };
            writer_qos.durability = d;
            reader_qos.durability = d;
        }
        if let Some(a) = c.attr("history_depth") {
            let n = a
                .value
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| self.err(a.pos, format!("history_depth '{}' is not a positive integer", a.value)))?;
            writer_qos.history = History::KeepLast(n);
            reader_qos.history = History::KeepLast(n);
        }
        if !partition.is_empty() {
            writer_qos.partition = vec![partition.clone()];
            reader_qos.partition = vec![partition.clone()];
        }
        Ok(RouteConfig {
            domain,
            partition,
            topic,
            type_name,
            ty,
            broker_name,
            direction,
            format,
            writer_qos,
            reader_qos,
            line: c.pos.line,
        })
    }

    fn default_mapping(&self, c: &Element) -> Result<DefaultMapping, ConfigError> {
        self.attrs(c, &["enabled", "prefix", "domain", "allow", "deny", "direction", "format"])?;
        let prefix = match c.attr("prefix") {
            None => String::new(),
            Some(a) => {
                let p = a.value.trim().trim_end_matches('/').to_string();
                if !p.is_empty() {
                    validate_topic_name(&p)
                        .map_err(|e| self.err(a.pos, format!("prefix '{p}' is not a topic name: {e}")))?;
                    if p.starts_with('$') {
                        return Err(self.err(a.pos, format!("prefix '{p}' must not start with '$'")));
                    }
                }
                p
            }
        };
        Ok(DefaultMapping {
            enabled: self.bool_attr(c, "enabled", true)?,
            prefix,
            domain: self.domain_attr(c)?,
            allow: c.attr("allow").map(|a| self.patterns(a, false)).transpose()?.unwrap_or_default(),
            deny: c.attr("deny").map(|a| self.patterns(a, false)).transpose()?.unwrap_or_default(),
            direction: self.direction(c)?,
            format: self.format(c)?,
        })
    }

    fn user(&self, u: &Element) -> Result<UserConfig, ConfigError> {
        if u.name != "user" {
            return Err(self.err(u.pos, format!("unknown element <{}> in <users> (expected <user>)", u.name)));
        }
        self.attrs(u, &["name", "password_hash", "publish", "subscribe"])?;
        let name = self.required(u, "name")?.value.trim().to_string();
        if name.is_empty() {
            return Err(self.err(u.pos, "user name must not be empty"));
        }
        let h = self.required(u, "password_hash")?;
        argon2::password_hash::PasswordHash::new(h.value.trim()).map_err(|e| {
            self.err(
                h.pos,
                format!(
                    "password_hash is not an Argon2 PHC string ({e}); make one with `starling bridge hash-password`"
                ),
            )
        })?;
        Ok(UserConfig {
            name,
            password_hash: h.value.trim().to_string(),
            publish: u.attr("publish").map(|a| self.patterns(a, true)).transpose()?,
            subscribe: u.attr("subscribe").map(|a| self.patterns(a, true)).transpose()?,
        })
    }
}
