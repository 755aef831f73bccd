//! Policy elements: parsing `<reliability>` etc. into a [`QosPolicies`] in
//! which every field is optional, overlaying, and applying to an [`EndpointQos`].

use super::dom::Element;
use super::Ctx;
use super::QosError;
use crate::proto::wire::types::Duration;
use crate::qos::{
    AccessScope, DestinationOrderKind, DurabilityKind, EndpointQos, History, LivelinessKind, OwnershipKind,
    ReliabilityKind,
};

/// HISTORY kind (the depth is a separate field in [`QosPolicies`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum HistoryKind {
    /// KEEP_LAST_HISTORY_QOS.
    KeepLast,
    /// KEEP_ALL_HISTORY_QOS.
    KeepAll,
}

macro_rules! policies {
    ($( $(#[$m:meta])* $field:ident : $ty:ty ),* $(,)?) => {
        /// The policy fields set by one QoS element (or a merge of several). `None` means "not set here":
        /// inheritance and merging override field by field.
        #[derive(Clone, Debug, Default, PartialEq)]
        #[non_exhaustive]
        pub struct QosPolicies {
            $( $(#[$m])* pub $field: Option<$ty>, )*
        }

        impl QosPolicies {
            /// Overrides every field that `other` sets.
            pub fn overlay(&mut self, other: &QosPolicies) {
                $( if other.$field.is_some() { self.$field.clone_from(&other.$field); } )*
            }
        }
    };
}

policies! {
    /// reliability.kind
    reliability_kind: ReliabilityKind,
    /// reliability.max_blocking_time
    max_blocking_time: Duration,
    /// durability.kind
    durability: DurabilityKind,
    /// durability_service.service_cleanup_delay
    ds_service_cleanup_delay: Duration,
    /// durability_service.history_kind
    ds_history_kind: HistoryKind,
    /// durability_service.history_depth
    ds_history_depth: i32,
    /// durability_service.max_samples
    ds_max_samples: i32,
    /// durability_service.max_instances
    ds_max_instances: i32,
    /// durability_service.max_samples_per_instance
    ds_max_samples_per_instance: i32,
    /// history.kind
    history_kind: HistoryKind,
    /// history.depth
    history_depth: i32,
    /// resource_limits.max_samples (-1 = LENGTH_UNLIMITED)
    max_samples: i32,
    /// resource_limits.max_instances
    max_instances: i32,
    /// resource_limits.max_samples_per_instance
    max_samples_per_instance: i32,
    /// deadline.period
    deadline: Duration,
    /// latency_budget.duration
    latency_budget: Duration,
    /// liveliness.kind
    liveliness_kind: LivelinessKind,
    /// liveliness.lease_duration
    lease_duration: Duration,
    /// ownership.kind
    ownership: OwnershipKind,
    /// ownership_strength.value
    ownership_strength: i32,
    /// destination_order.kind
    destination_order: DestinationOrderKind,
    /// presentation.access_scope
    access_scope: AccessScope,
    /// presentation.coherent_access
    coherent_access: bool,
    /// presentation.ordered_access
    ordered_access: bool,
    /// partition.name
    partition: Vec<String>,
    /// lifespan.duration
    lifespan: Duration,
    /// time_based_filter.minimum_separation
    time_based_filter: Duration,
    /// user_data.value
    user_data: Vec<u8>,
    /// topic_data.value
    topic_data: Vec<u8>,
    /// group_data.value
    group_data: Vec<u8>,
    /// transport_priority.value
    transport_priority: i32,
    /// writer_data_lifecycle.autodispose_unregistered_instances
    autodispose_unregistered_instances: bool,
    /// reader_data_lifecycle.autopurge_nowriter_samples_delay
    autopurge_nowriter_samples_delay: Duration,
    /// reader_data_lifecycle.autopurge_disposed_samples_delay
    autopurge_disposed_samples_delay: Duration,
    /// entity_factory.autoenable_created_entities
    autoenable_created_entities: bool,
    /// data_representation.value
    data_representation: Vec<i16>,
    /// type_consistency.kind (0 = DISALLOW_TYPE_COERCION, 1 = ALLOW_TYPE_COERCION)
    type_consistency_kind: u16,
    /// type_consistency.ignore_sequence_bounds
    ignore_sequence_bounds: bool,
    /// type_consistency.ignore_string_bounds
    ignore_string_bounds: bool,
    /// type_consistency.ignore_member_names
    ignore_member_names: bool,
    /// type_consistency.prevent_type_widening
    prevent_type_widening: bool,
    /// type_consistency.force_type_validation
    force_type_validation: bool,
}

fn history(kind: Option<HistoryKind>, depth: Option<i32>, current: History) -> History {
    let cur_depth = match current {
        History::KeepLast(d) => Some(d),
        History::KeepAll => None,
    };
    match kind {
        Some(HistoryKind::KeepAll) => History::KeepAll,
        Some(HistoryKind::KeepLast) => History::KeepLast(depth.or(cur_depth).unwrap_or(1)),
        None => match (current, depth) {
            (History::KeepLast(_), Some(d)) => History::KeepLast(d),
            (h, _) => h,
        },
    }
}

impl QosPolicies {
    /// Only the policies a publisher or subscriber passes to its endpoints
    /// (partition, presentation, group_data).
    pub fn group_policies(&self) -> QosPolicies {
        QosPolicies {
            partition: self.partition.clone(),
            access_scope: self.access_scope,
            coherent_access: self.coherent_access,
            ordered_access: self.ordered_access,
            group_data: self.group_data.clone(),
            ..Default::default()
        }
    }

    /// `q` with every policy set here applied.
    pub fn apply_to(&self, mut q: EndpointQos) -> EndpointQos {
        macro_rules! set {
            ($($src:ident => $($dst:ident).+),* $(,)?) => {
                $( if let Some(v) = &self.$src { q.$($dst).+ = v.clone(); } )*
            };
        }
        set!(
            reliability_kind => reliability.kind,
            max_blocking_time => reliability.max_blocking_time,
            durability => durability,
            ds_service_cleanup_delay => durability_service.service_cleanup_delay,
            ds_max_samples => durability_service.limits.max_samples,
            ds_max_instances => durability_service.limits.max_instances,
            ds_max_samples_per_instance => durability_service.limits.max_samples_per_instance,
            max_samples => resource_limits.max_samples,
            max_instances => resource_limits.max_instances,
            max_samples_per_instance => resource_limits.max_samples_per_instance,
            deadline => deadline,
            latency_budget => latency_budget,
            liveliness_kind => liveliness.kind,
            lease_duration => liveliness.lease_duration,
            ownership => ownership,
            ownership_strength => ownership_strength,
            destination_order => destination_order,
            access_scope => presentation.access_scope,
            coherent_access => presentation.coherent_access,
            ordered_access => presentation.ordered_access,
            partition => partition,
            lifespan => lifespan,
            time_based_filter => time_based_filter,
            user_data => user_data,
            topic_data => topic_data,
            group_data => group_data,
            transport_priority => transport_priority,
            data_representation => data_representation,
            type_consistency_kind => type_consistency.kind,
            ignore_sequence_bounds => type_consistency.ignore_sequence_bounds,
            ignore_string_bounds => type_consistency.ignore_string_bounds,
            ignore_member_names => type_consistency.ignore_member_names,
            prevent_type_widening => type_consistency.prevent_type_widening,
            force_type_validation => type_consistency.force_type_validation,
        );
        q.history = history(self.history_kind, self.history_depth, q.history);
        q.durability_service.history =
            history(self.ds_history_kind, self.ds_history_depth, q.durability_service.history);
        q
    }
}

const RELIABILITY: &[(&str, &str, ReliabilityKind)] = &[
    ("BEST_EFFORT_RELIABILITY_QOS", "BEST_EFFORT", ReliabilityKind::BestEffort),
    ("RELIABLE_RELIABILITY_QOS", "RELIABLE", ReliabilityKind::Reliable),
];
const DURABILITY: &[(&str, &str, DurabilityKind)] = &[
    ("VOLATILE_DURABILITY_QOS", "VOLATILE", DurabilityKind::Volatile),
    ("TRANSIENT_LOCAL_DURABILITY_QOS", "TRANSIENT_LOCAL", DurabilityKind::TransientLocal),
    ("TRANSIENT_DURABILITY_QOS", "TRANSIENT", DurabilityKind::Transient),
    ("PERSISTENT_DURABILITY_QOS", "PERSISTENT", DurabilityKind::Persistent),
];
const HISTORY: &[(&str, &str, HistoryKind)] = &[
    ("KEEP_LAST_HISTORY_QOS", "KEEP_LAST", HistoryKind::KeepLast),
    ("KEEP_ALL_HISTORY_QOS", "KEEP_ALL", HistoryKind::KeepAll),
];
const OWNERSHIP: &[(&str, &str, OwnershipKind)] = &[
    ("SHARED_OWNERSHIP_QOS", "SHARED", OwnershipKind::Shared),
    ("EXCLUSIVE_OWNERSHIP_QOS", "EXCLUSIVE", OwnershipKind::Exclusive),
];
const LIVELINESS: &[(&str, &str, LivelinessKind)] = &[
    ("AUTOMATIC_LIVELINESS_QOS", "AUTOMATIC", LivelinessKind::Automatic),
    ("MANUAL_BY_PARTICIPANT_LIVELINESS_QOS", "MANUAL_BY_PARTICIPANT", LivelinessKind::ManualByParticipant),
    ("MANUAL_BY_TOPIC_LIVELINESS_QOS", "MANUAL_BY_TOPIC", LivelinessKind::ManualByTopic),
];
const DESTINATION_ORDER: &[(&str, &str, DestinationOrderKind)] = &[
    (
        "BY_RECEPTION_TIMESTAMP_DESTINATIONORDER_QOS",
        "BY_RECEPTION_TIMESTAMP",
        DestinationOrderKind::ByReceptionTimestamp,
    ),
    ("BY_SOURCE_TIMESTAMP_DESTINATIONORDER_QOS", "BY_SOURCE_TIMESTAMP", DestinationOrderKind::BySourceTimestamp),
];
const ACCESS_SCOPE: &[(&str, &str, AccessScope)] = &[
    ("INSTANCE_PRESENTATION_QOS", "INSTANCE", AccessScope::Instance),
    ("TOPIC_PRESENTATION_QOS", "TOPIC", AccessScope::Topic),
    ("GROUP_PRESENTATION_QOS", "GROUP", AccessScope::Group),
];
const TYPE_CONSISTENCY: &[(&str, &str, u16)] =
    &[("DISALLOW_TYPE_COERCION", "DISALLOW", 0), ("ALLOW_TYPE_COERCION", "ALLOW", 1)];
const REPRESENTATION: &[(&str, &str, i16)] = &[
    ("XCDR_DATA_REPRESENTATION", "XCDR", crate::qos::XCDR1),
    ("XML_DATA_REPRESENTATION", "XML", crate::qos::XML),
    ("XCDR2_DATA_REPRESENTATION", "XCDR2", crate::qos::XCDR2),
    ("XCDR1_DATA_REPRESENTATION", "XCDR1", crate::qos::XCDR1),
];

/// Sub-elements with the DURATION_INFINITE sentinel.
const INFINITE: u32 = 0x7fff_ffff;

impl Ctx<'_> {
    fn enumeration<T: Copy>(&self, el: &Element, what: &str, table: &[(&str, &str, T)]) -> Result<T, QosError> {
        let v = el.value();
        let bare = v.strip_prefix("DDS_").unwrap_or(v);
        for (full, short, val) in table {
            if bare.eq_ignore_ascii_case(full) || bare.eq_ignore_ascii_case(short) {
                return Ok(*val);
            }
        }
        let allowed: Vec<&str> = table.iter().map(|t| t.0).collect();
        Err(self.invalid_value(el, what, &allowed.join(", ")))
    }

    fn invalid_value(&self, el: &Element, what: &str, allowed: &str) -> QosError {
        self.error(el.text_pos, format!("invalid value '{}' for {what}; expected {allowed}", el.value()))
    }

    pub(super) fn boolean(&self, el: &Element, what: &str) -> Result<bool, QosError> {
        match el.value() {
            "true" | "TRUE" | "True" | "1" => Ok(true),
            "false" | "FALSE" | "False" | "0" => Ok(false),
            _ => Err(self.invalid_value(el, what, "true, false, 1 or 0")),
        }
    }

    fn integer(&self, el: &Element, what: &str, min: i64, unlimited: bool) -> Result<i32, QosError> {
        let v = el.value();
        let bare = v.strip_prefix("DDS_").unwrap_or(v);
        if unlimited && bare == "LENGTH_UNLIMITED" {
            return Ok(-1);
        }
        let allowed = || {
            let mut s = format!("an integer >= {min} (decimal or 0x hex)");
            if unlimited {
                s.push_str(" or LENGTH_UNLIMITED");
            }
            s
        };
        let n = parse_int(v).ok_or_else(|| self.invalid_value(el, what, &allowed()))?;
        if n < min || n > i64::from(i32::MAX) {
            return Err(self.invalid_value(el, what, &allowed()));
        }
        Ok(n as i32)
    }

    fn duration(&mut self, el: &Element, what: &str) -> Result<Duration, QosError> {
        let (mut sec, mut nsec) = (0u32, 0u32);
        let mut infinite = false;
        if el.children.is_empty() && !el.value().is_empty() {
            // Lenient: a constant written directly inside the duration element.
            return match el.value().strip_prefix("DDS_").unwrap_or(el.value()) {
                "DURATION_INFINITY" | "DURATION_INFINITE" => Ok(Duration::INFINITE),
                "DURATION_ZERO" => Ok(Duration::ZERO),
                _ => Err(self.invalid_value(el, what, "<sec> and <nanosec> elements")),
            };
        }
        for c in &el.children {
            let v = c.value();
            let bare = v.strip_prefix("DDS_").unwrap_or(v);
            match c.name.as_str() {
                "sec" => match bare {
                    "DURATION_INFINITY" | "DURATION_INFINITE_SEC" => infinite = true,
                    "DURATION_ZERO_SEC" => sec = 0,
                    _ => {
                        let allowed =
                            "a non-negative integer, DURATION_INFINITY, DURATION_INFINITE_SEC or DURATION_ZERO_SEC";
                        let n = parse_int(v)
                            .filter(|n| (0..=i64::from(INFINITE)).contains(n))
                            .ok_or_else(|| self.invalid_value(c, &format!("<sec> of {what}"), allowed))?;
                        sec = n as u32;
                        infinite |= sec == INFINITE;
                    }
                },
                "nanosec" => match bare {
                    "DURATION_INFINITY" | "DURATION_INFINITE_NSEC" | "DURATION_INFINITY_NSEC" => infinite = true,
                    "DURATION_ZERO_NSEC" => nsec = 0,
                    _ => {
                        let allowed = "an integer below 1000000000, DURATION_INFINITY, DURATION_INFINITE_NSEC or DURATION_ZERO_NSEC";
                        let n = parse_int(v)
                            .filter(|n| (0..1_000_000_000).contains(n) || *n == i64::from(INFINITE))
                            .ok_or_else(|| self.invalid_value(c, &format!("<nanosec> of {what}"), allowed))?;
                        nsec = n as u32;
                        infinite |= nsec == INFINITE;
                    }
                },
                _ => self.unknown(c, &el.name),
            }
        }
        if infinite {
            return Ok(Duration::INFINITE);
        }
        Ok(Duration::from_std(std::time::Duration::new(u64::from(sec), nsec)))
    }

    fn octets(&mut self, el: &Element) -> Result<Option<Vec<u8>>, QosError> {
        let mut out = None;
        for c in &el.children {
            match c.name.as_str() {
                "value" if !c.children.is_empty() => {
                    let mut v = Vec::new();
                    for e in &c.children {
                        if e.name != "element" {
                            self.unknown(e, &c.name);
                            continue;
                        }
                        v.push(self.octet(e, e.value())?);
                    }
                    out = Some(v);
                }
                "value" => {
                    let mut v = Vec::new();
                    for item in c.value().split([',', ' ', '\t', '\n', '\r']).filter(|s| !s.is_empty()) {
                        v.push(self.octet(c, item)?);
                    }
                    out = Some(v);
                }
                "valueB64" | "value_b64" => {
                    let v = base64_decode(c.value()).ok_or_else(|| {
                        self.invalid_value(c, &format!("<{}> of <{}>", c.name, el.name), "Base64 text")
                    })?;
                    out = Some(v);
                }
                _ => self.unknown(c, &el.name),
            }
        }
        Ok(out)
    }

    fn octet(&self, el: &Element, item: &str) -> Result<u8, QosError> {
        parse_int(item).and_then(|n| u8::try_from(n).ok()).ok_or_else(|| {
            self.error(
                el.text_pos,
                format!("invalid octet '{item}' in <{}>; expected decimal or 0x hex values 0..=255", el.name),
            )
        })
    }

    fn strings(&mut self, el: &Element) -> Vec<String> {
        if el.children.is_empty() {
            return if el.value().is_empty() { Vec::new() } else { vec![el.value().to_string()] };
        }
        let mut out = Vec::new();
        for c in &el.children {
            if c.name == "element" {
                out.push(c.value().to_string());
            } else {
                self.unknown(c, &el.name);
            }
        }
        out
    }

    /// Parses the policy elements inside an entity QoS element.
    pub(super) fn policies(&mut self, entity: &Element) -> Result<QosPolicies, QosError> {
        let mut p = QosPolicies::default();
        for pol in &entity.children {
            let pname = pol.name.as_str();
            let w = |f: &str| format!("<{f}> of <{pname}>");
            match pname {
                "reliability" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "kind" => p.reliability_kind = Some(self.enumeration(c, &w("kind"), RELIABILITY)?),
                            "max_blocking_time" => p.max_blocking_time = Some(self.duration(c, &w(&c.name))?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "durability" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "kind" => p.durability = Some(self.enumeration(c, &w("kind"), DURABILITY)?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "durability_service" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "service_cleanup_delay" => {
                                p.ds_service_cleanup_delay = Some(self.duration(c, &w(&c.name))?)
                            }
                            "history_kind" => p.ds_history_kind = Some(self.enumeration(c, &w(&c.name), HISTORY)?),
                            "history_depth" => p.ds_history_depth = Some(self.integer(c, &w(&c.name), 1, false)?),
                            "max_samples" => p.ds_max_samples = Some(self.integer(c, &w(&c.name), 1, true)?),
                            "max_instances" => p.ds_max_instances = Some(self.integer(c, &w(&c.name), 1, true)?),
                            "max_samples_per_instance" => {
                                p.ds_max_samples_per_instance = Some(self.integer(c, &w(&c.name), 1, true)?)
                            }
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "history" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "kind" => p.history_kind = Some(self.enumeration(c, &w("kind"), HISTORY)?),
                            "depth" => p.history_depth = Some(self.integer(c, &w("depth"), 1, false)?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "resource_limits" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "max_samples" => p.max_samples = Some(self.integer(c, &w(&c.name), 1, true)?),
                            "max_instances" => p.max_instances = Some(self.integer(c, &w(&c.name), 1, true)?),
                            "max_samples_per_instance" => {
                                p.max_samples_per_instance = Some(self.integer(c, &w(&c.name), 1, true)?)
                            }
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "deadline" => self.one_duration(pol, "period", &mut p.deadline)?,
                "latency_budget" => self.one_duration(pol, "duration", &mut p.latency_budget)?,
                "lifespan" => self.one_duration(pol, "duration", &mut p.lifespan)?,
                "time_based_filter" => self.one_duration(pol, "minimum_separation", &mut p.time_based_filter)?,
                "liveliness" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "kind" => p.liveliness_kind = Some(self.enumeration(c, &w("kind"), LIVELINESS)?),
                            "lease_duration" => p.lease_duration = Some(self.duration(c, &w(&c.name))?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "ownership" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "kind" => p.ownership = Some(self.enumeration(c, &w("kind"), OWNERSHIP)?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "ownership_strength" => self.one_int(pol, &mut p.ownership_strength)?,
                "transport_priority" => self.one_int(pol, &mut p.transport_priority)?,
                "destination_order" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "kind" => p.destination_order = Some(self.enumeration(c, &w("kind"), DESTINATION_ORDER)?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "presentation" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "access_scope" => p.access_scope = Some(self.enumeration(c, &w(&c.name), ACCESS_SCOPE)?),
                            "coherent_access" => p.coherent_access = Some(self.boolean(c, &w(&c.name))?),
                            "ordered_access" => p.ordered_access = Some(self.boolean(c, &w(&c.name))?),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "partition" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "name" => p.partition = Some(self.strings(c)),
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "user_data" => p.user_data = self.octets(pol)?.or(p.user_data.take()),
                "topic_data" => p.topic_data = self.octets(pol)?.or(p.topic_data.take()),
                "group_data" => p.group_data = self.octets(pol)?.or(p.group_data.take()),
                "writer_data_lifecycle" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "autodispose_unregistered_instances" => {
                                p.autodispose_unregistered_instances = Some(self.boolean(c, &w(&c.name))?)
                            }
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "reader_data_lifecycle" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "autopurge_nowriter_samples_delay" => {
                                p.autopurge_nowriter_samples_delay = Some(self.duration(c, &w(&c.name))?)
                            }
                            "autopurge_disposed_samples_delay" => {
                                p.autopurge_disposed_samples_delay = Some(self.duration(c, &w(&c.name))?)
                            }
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "entity_factory" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "autoenable_created_entities" => {
                                p.autoenable_created_entities = Some(self.boolean(c, &w(&c.name))?)
                            }
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "data_representation" | "representation" => {
                    for c in &pol.children {
                        match c.name.as_str() {
                            "value" => {
                                let mut ids = Vec::new();
                                let items: Vec<&Element> =
                                    if c.children.is_empty() { vec![c] } else { c.children.iter().collect() };
                                for e in items {
                                    if e.name != "element" && e.name != "value" {
                                        self.unknown(e, &c.name);
                                        continue;
                                    }
                                    let id = match parse_int(e.value()).and_then(|n| i16::try_from(n).ok()) {
                                        Some(n) => n,
                                        None => self.enumeration(e, &w("value"), REPRESENTATION)?,
                                    };
                                    ids.push(id);
                                }
                                p.data_representation = Some(ids);
                            }
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                "type_consistency" | "type_consistency_enforcement" => {
                    for c in &pol.children {
                        let b = |ctx: &Self| ctx.boolean(c, &w(&c.name)).map(Some);
                        match c.name.as_str() {
                            "kind" => {
                                p.type_consistency_kind = Some(self.enumeration(c, &w("kind"), TYPE_CONSISTENCY)?)
                            }
                            "ignore_sequence_bounds" => p.ignore_sequence_bounds = b(self)?,
                            "ignore_string_bounds" => p.ignore_string_bounds = b(self)?,
                            "ignore_member_names" => p.ignore_member_names = b(self)?,
                            "prevent_type_widening" => p.prevent_type_widening = b(self)?,
                            "force_type_validation" => p.force_type_validation = b(self)?,
                            _ => self.unknown(c, pname),
                        }
                    }
                }
                _ => self.unknown(pol, &entity.name),
            }
        }
        Ok(p)
    }

    fn one_duration(&mut self, pol: &Element, field: &str, out: &mut Option<Duration>) -> Result<(), QosError> {
        for c in &pol.children {
            if c.name == field {
                *out = Some(self.duration(c, &format!("<{field}> of <{}>", pol.name))?);
            } else {
                self.unknown(c, &pol.name);
            }
        }
        Ok(())
    }

    fn one_int(&mut self, pol: &Element, out: &mut Option<i32>) -> Result<(), QosError> {
        for c in &pol.children {
            if c.name == "value" {
                *out = Some(self.integer(c, &format!("<value> of <{}>", pol.name), i64::from(i32::MIN), false)?);
            } else {
                self.unknown(c, &pol.name);
            }
        }
        Ok(())
    }
}

/// Decimal or `0x` hex, with an optional sign.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -n } else { n })
}

/// Standard Base64 (padding optional, whitespace ignored).
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|b| !b.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_base64() {
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int(" 42 "), Some(42));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("4x"), None);
        assert_eq!(base64_decode("c3Rhcg==").as_deref(), Some(&b"star"[..]));
        assert_eq!(base64_decode("c3Rh").as_deref(), Some(&b"sta"[..]));
        assert_eq!(base64_decode("c3R!"), None);
    }
}
