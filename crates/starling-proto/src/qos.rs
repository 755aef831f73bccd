//! DDS QoS policy values as they travel in discovery, with the spec defaults
//! (the values Cyclone omits from SEDP because they equal the default), and
//! requested/offered compatibility checking.

use crate::wire::types::Duration;

/// RELIABILITY kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum ReliabilityKind {
    /// Samples may be lost; no repair.
    BestEffort,
    /// Lost samples are repaired.
    Reliable,
}

/// RELIABILITY policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Reliability {
    /// Best-effort or reliable.
    pub kind: ReliabilityKind,
    /// How long a write may block for resources.
    pub max_blocking_time: Duration,
}

impl Reliability {
    /// Best-effort with the default blocking time.
    pub fn best_effort() -> Self {
        Reliability { kind: ReliabilityKind::BestEffort, max_blocking_time: Duration::from_millis(100) }
    }
    /// Reliable with the default 100 ms blocking time.
    pub fn reliable() -> Self {
        Reliability { kind: ReliabilityKind::Reliable, max_blocking_time: Duration::from_millis(100) }
    }
}

/// DURABILITY kind, ordered VOLATILE < TRANSIENT_LOCAL < TRANSIENT < PERSISTENT.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum DurabilityKind {
    /// Nothing kept for late joiners.
    Volatile,
    /// The writer keeps history for late joiners.
    TransientLocal,
    /// A durability service keeps samples beyond the writer.
    Transient,
    /// Kept on disk.
    Persistent,
}

/// HISTORY policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum History {
    /// Keep the newest `depth` samples per instance.
    KeepLast(i32),
    /// Keep everything (subject to resource limits).
    KeepAll,
}

/// LIVELINESS kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum LivelinessKind {
    /// Asserted by the middleware.
    Automatic,
    /// Asserted by any writer of the participant.
    ManualByParticipant,
    /// Asserted per writer.
    ManualByTopic,
}

/// LIVELINESS policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Liveliness {
    /// How liveliness is asserted.
    pub kind: LivelinessKind,
    /// Lease duration.
    pub lease_duration: Duration,
}

/// OWNERSHIP kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum OwnershipKind {
    /// All writers update an instance.
    Shared,
    /// The strongest writer owns an instance.
    Exclusive,
}

/// DESTINATION_ORDER kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum DestinationOrderKind {
    /// Order of reception.
    ByReceptionTimestamp,
    /// Order of source timestamp.
    BySourceTimestamp,
}

/// PRESENTATION access scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum AccessScope {
    /// Per instance.
    Instance,
    /// Per topic.
    Topic,
    /// Per publisher/subscriber group.
    Group,
}

/// PRESENTATION policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Presentation {
    /// Access scope.
    pub access_scope: AccessScope,
    /// Coherent access.
    pub coherent_access: bool,
    /// Ordered access.
    pub ordered_access: bool,
}

/// RESOURCE_LIMITS policy; -1 means unlimited.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct ResourceLimits {
    /// Maximum samples over all instances.
    pub max_samples: i32,
    /// Maximum instances.
    pub max_instances: i32,
    /// Maximum samples per instance.
    pub max_samples_per_instance: i32,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits { max_samples: -1, max_instances: -1, max_samples_per_instance: -1 }
    }
}

/// DURABILITY_SERVICE policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct DurabilityService {
    /// Service cleanup delay.
    pub service_cleanup_delay: Duration,
    /// History kept by the service.
    pub history: History,
    /// Limits of the service.
    pub limits: ResourceLimits,
}

impl Default for DurabilityService {
    fn default() -> Self {
        DurabilityService {
            service_cleanup_delay: Duration::ZERO,
            history: History::KeepLast(1),
            limits: ResourceLimits::default(),
        }
    }
}

/// DataRepresentationId: XCDR1.
pub const XCDR1: i16 = 0;
/// DataRepresentationId: XML.
pub const XML: i16 = 1;
/// DataRepresentationId: XCDR2.
pub const XCDR2: i16 = 2;

/// TYPE_CONSISTENCY_ENFORCEMENT policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct TypeConsistency {
    /// 0 = DISALLOW_TYPE_COERCION, 1 = ALLOW_TYPE_COERCION.
    pub kind: u16,
    /// Ignore sequence bounds.
    pub ignore_sequence_bounds: bool,
    /// Ignore string bounds.
    pub ignore_string_bounds: bool,
    /// Ignore member names.
    pub ignore_member_names: bool,
    /// Prevent type widening.
    pub prevent_type_widening: bool,
    /// Force type validation.
    pub force_type_validation: bool,
}

impl Default for TypeConsistency {
    fn default() -> Self {
        TypeConsistency {
            kind: 1,
            ignore_sequence_bounds: true,
            ignore_string_bounds: true,
            ignore_member_names: false,
            prevent_type_widening: false,
            force_type_validation: false,
        }
    }
}

/// The QoS of a writer or reader as announced in SEDP (topic, group and
/// endpoint policies merged, as on the wire).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EndpointQos {
    /// RELIABILITY.
    pub reliability: Reliability,
    /// DURABILITY.
    pub durability: DurabilityKind,
    /// DURABILITY_SERVICE.
    pub durability_service: DurabilityService,
    /// HISTORY.
    pub history: History,
    /// RESOURCE_LIMITS.
    pub resource_limits: ResourceLimits,
    /// DEADLINE period.
    pub deadline: Duration,
    /// LATENCY_BUDGET duration.
    pub latency_budget: Duration,
    /// LIVELINESS.
    pub liveliness: Liveliness,
    /// OWNERSHIP.
    pub ownership: OwnershipKind,
    /// OWNERSHIP_STRENGTH (writers).
    pub ownership_strength: i32,
    /// DESTINATION_ORDER.
    pub destination_order: DestinationOrderKind,
    /// PRESENTATION.
    pub presentation: Presentation,
    /// PARTITION names; empty = the default partition.
    pub partition: Vec<String>,
    /// LIFESPAN.
    pub lifespan: Duration,
    /// TIME_BASED_FILTER minimum separation (readers).
    pub time_based_filter: Duration,
    /// USER_DATA.
    pub user_data: Vec<u8>,
    /// TOPIC_DATA.
    pub topic_data: Vec<u8>,
    /// GROUP_DATA.
    pub group_data: Vec<u8>,
    /// TRANSPORT_PRIORITY.
    pub transport_priority: i32,
    /// DATA_REPRESENTATION ids; a writer uses the first.
    pub data_representation: Vec<i16>,
    /// TYPE_CONSISTENCY_ENFORCEMENT (readers).
    pub type_consistency: TypeConsistency,
}

impl EndpointQos {
    /// The spec defaults for a DataWriter (RELIABLE, 100 ms).
    pub fn writer_default() -> Self {
        EndpointQos { reliability: Reliability::reliable(), ..Self::reader_default() }
    }

    /// The reader defaults with both XCDR1 and XCDR2 accepted: what a reader that decodes either encoding should
    /// request (Cyclone DDS 11 writers offer XCDR2 only, most other vendors XCDR1).
    pub fn reader_any_representation() -> Self {
        EndpointQos { data_representation: vec![XCDR1, XCDR2], ..EndpointQos::reader_default() }
    }

    /// Makes a reader that still requests only the default representation (XCDR1) accept XCDR2 too; a list
    /// naming representations explicitly is kept.
    pub fn accept_any_representation(&mut self) {
        if self.data_representation == [XCDR1] {
            self.data_representation = vec![XCDR1, XCDR2];
        }
    }

    /// The spec defaults for a DataReader (BEST_EFFORT).
    pub fn reader_default() -> Self {
        EndpointQos {
            reliability: Reliability::best_effort(),
            durability: DurabilityKind::Volatile,
            durability_service: DurabilityService::default(),
            history: History::KeepLast(1),
            resource_limits: ResourceLimits::default(),
            deadline: Duration::INFINITE,
            latency_budget: Duration::ZERO,
            liveliness: Liveliness { kind: LivelinessKind::Automatic, lease_duration: Duration::INFINITE },
            ownership: OwnershipKind::Shared,
            ownership_strength: 0,
            destination_order: DestinationOrderKind::ByReceptionTimestamp,
            presentation: Presentation {
                access_scope: AccessScope::Instance,
                coherent_access: false,
                ordered_access: false,
            },
            partition: Vec::new(),
            lifespan: Duration::INFINITE,
            time_based_filter: Duration::ZERO,
            user_data: Vec::new(),
            topic_data: Vec::new(),
            group_data: Vec::new(),
            transport_priority: 0,
            data_representation: vec![XCDR1],
            type_consistency: TypeConsistency::default(),
        }
    }

    /// The data representation a writer uses (the first in its list; XCDR1 if empty).
    pub fn writer_representation(&self) -> i16 {
        self.data_representation.first().copied().unwrap_or(XCDR1)
    }
}

/// A QoS policy named in an incompatibility status.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[non_exhaustive]
pub enum QosPolicyId {
    /// RELIABILITY.
    Reliability,
    /// DURABILITY.
    Durability,
    /// DEADLINE.
    Deadline,
    /// LATENCY_BUDGET.
    LatencyBudget,
    /// LIVELINESS.
    Liveliness,
    /// OWNERSHIP.
    Ownership,
    /// DESTINATION_ORDER.
    DestinationOrder,
    /// PRESENTATION.
    Presentation,
    /// PARTITION (a mismatch is not "incompatible": it only prevents matching).
    Partition,
    /// DATA_REPRESENTATION.
    DataRepresentation,
    /// TYPE_CONSISTENCY_ENFORCEMENT (XTypes): both sides announced their types and the writer's type is not
    /// assignable to the reader's.
    TypeConsistency,
}

impl QosPolicyId {
    /// The policy's DDS name, e.g. `RELIABILITY`.
    pub fn name(&self) -> &'static str {
        match self {
            QosPolicyId::Reliability => "RELIABILITY",
            QosPolicyId::Durability => "DURABILITY",
            QosPolicyId::Deadline => "DEADLINE",
            QosPolicyId::LatencyBudget => "LATENCY_BUDGET",
            QosPolicyId::Liveliness => "LIVELINESS",
            QosPolicyId::Ownership => "OWNERSHIP",
            QosPolicyId::DestinationOrder => "DESTINATION_ORDER",
            QosPolicyId::Presentation => "PRESENTATION",
            QosPolicyId::Partition => "PARTITION",
            QosPolicyId::DataRepresentation => "DATA_REPRESENTATION",
            QosPolicyId::TypeConsistency => "TYPE_CONSISTENCY_ENFORCEMENT",
        }
    }
}

fn dur_le(a: Duration, b: Duration) -> bool {
    // Infinite compares as the largest value; (seconds, fraction) ordering works for finite ones.
    match (a.is_infinite(), b.is_infinite()) {
        (_, true) => true,
        (true, false) => false,
        _ => (a.seconds, a.fraction) <= (b.seconds, b.fraction),
    }
}

/// Checks the requested/offered (RxO) policies of a writer against a reader.
/// Returns the first incompatible policy, or `Ok(())`.
pub fn check_compatible(offered: &EndpointQos, requested: &EndpointQos) -> Result<(), QosPolicyId> {
    if offered.reliability.kind < requested.reliability.kind {
        return Err(QosPolicyId::Reliability);
    }
    if offered.durability < requested.durability {
        return Err(QosPolicyId::Durability);
    }
    if !dur_le(offered.deadline, requested.deadline) {
        return Err(QosPolicyId::Deadline);
    }
    if !dur_le(offered.latency_budget, requested.latency_budget) {
        return Err(QosPolicyId::LatencyBudget);
    }
    if offered.liveliness.kind < requested.liveliness.kind
        || !dur_le(offered.liveliness.lease_duration, requested.liveliness.lease_duration)
    {
        return Err(QosPolicyId::Liveliness);
    }
    if offered.ownership != requested.ownership {
        return Err(QosPolicyId::Ownership);
    }
    if offered.destination_order < requested.destination_order {
        return Err(QosPolicyId::DestinationOrder);
    }
    let (op, rp) = (&offered.presentation, &requested.presentation);
    if op.access_scope < rp.access_scope
        || (rp.coherent_access && !op.coherent_access)
        || (rp.ordered_access && !op.ordered_access)
    {
        return Err(QosPolicyId::Presentation);
    }
    let wrep = offered.writer_representation();
    let reader_reps: &[i16] =
        if requested.data_representation.is_empty() { &[XCDR1] } else { &requested.data_representation };
    if !reader_reps.contains(&wrep) {
        return Err(QosPolicyId::DataRepresentation);
    }
    Ok(())
}

/// True when two partition lists share a partition (with `*`/`?` wildcards on
/// either side; an empty list is the default partition "").
pub fn partitions_match(a: &[String], b: &[String]) -> bool {
    let default = [String::new()];
    let a = if a.is_empty() { &default[..] } else { a };
    let b = if b.is_empty() { &default[..] } else { b };
    a.iter().any(|x| b.iter().any(|y| x == y || glob_match(x, y) || glob_match(y, x)))
}

/// fnmatch-style matching of `name` against `pattern` with `*`, `?` and `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && p[pi] == '\\' && pi + 1 < p.len() && p[pi + 1] == n[ni] {
            pi += 2;
            ni += 1;
        } else if pi < p.len() && (p[pi] == '?' || (p[pi] == n[ni] && p[pi] != '*' && p[pi] != '\\')) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliability_rxo() {
        let w = EndpointQos { reliability: Reliability::best_effort(), ..EndpointQos::writer_default() };
        let r = EndpointQos { reliability: Reliability::reliable(), ..EndpointQos::reader_default() };
        assert_eq!(check_compatible(&w, &r), Err(QosPolicyId::Reliability));
        assert_eq!(check_compatible(&EndpointQos::writer_default(), &r), Ok(()));
        assert_eq!(check_compatible(&EndpointQos::writer_default(), &EndpointQos::reader_default()), Ok(()));
    }

    #[test]
    fn durability_rxo() {
        let w = EndpointQos::writer_default();
        let r = EndpointQos { durability: DurabilityKind::TransientLocal, ..EndpointQos::reader_default() };
        assert_eq!(check_compatible(&w, &r), Err(QosPolicyId::Durability));
    }

    #[test]
    fn representation() {
        let w = EndpointQos { data_representation: vec![XCDR2], ..EndpointQos::writer_default() };
        assert_eq!(check_compatible(&w, &EndpointQos::reader_default()), Err(QosPolicyId::DataRepresentation));
        let r = EndpointQos { data_representation: vec![XCDR1, XCDR2], ..EndpointQos::reader_default() };
        assert_eq!(check_compatible(&w, &r), Ok(()));
    }

    #[test]
    fn partitions() {
        assert!(partitions_match(&[], &[]));
        assert!(!partitions_match(&["a".into()], &[]));
        assert!(partitions_match(&["sensors/*".into()], &["sensors/temp".into()]));
        assert!(partitions_match(&["x".into(), "y?".into()], &["yz".into()]));
        assert!(!partitions_match(&["a*b".into()], &["ac".into()]));
    }
}
