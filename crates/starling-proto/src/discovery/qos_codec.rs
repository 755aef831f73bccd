//! QoS policies in SEDP parameter lists (facts §6.1): every policy is written
//! explicitly; on input each policy PID overwrites the default it replaces.

use super::plist::{self, read_octets, read_string_seq, write_octets, write_string_seq};
use crate::qos::{
    AccessScope, DestinationOrderKind, DurabilityKind, DurabilityService, EndpointQos, History, Liveliness,
    LivelinessKind, OwnershipKind, Presentation, Reliability, ReliabilityKind, ResourceLimits, TypeConsistency,
};
use crate::wire::cursor::{ByteReader, ByteWriter, Endian};
use crate::wire::error::DecodeError;
use crate::wire::parameter::{pid, ParameterListWriter};
use crate::wire::types::Duration;

/// Writes every QoS policy of `q` as its own parameter. PARTITION and the
/// USER/TOPIC/GROUP_DATA policies are left out when empty (their default).
pub(crate) fn write_qos(w: &mut ParameterListWriter<'_>, q: &EndpointQos) {
    w.param(pid::RELIABILITY, |w| {
        w.u32(match q.reliability.kind {
            ReliabilityKind::BestEffort => 1,
            ReliabilityKind::Reliable => 2,
        });
        q.reliability.max_blocking_time.write(w);
    });
    w.u32(pid::DURABILITY, durability_code(q.durability));
    w.param(pid::DURABILITY_SERVICE, |w| {
        let ds = &q.durability_service;
        ds.service_cleanup_delay.write(w);
        write_history(w, ds.history);
        write_limits(w, &ds.limits);
    });
    w.param(pid::HISTORY, |w| write_history(w, q.history));
    w.param(pid::RESOURCE_LIMITS, |w| write_limits(w, &q.resource_limits));
    w.param(pid::DEADLINE, |w| q.deadline.write(w));
    w.param(pid::LATENCY_BUDGET, |w| q.latency_budget.write(w));
    w.param(pid::LIVELINESS, |w| {
        w.u32(match q.liveliness.kind {
            LivelinessKind::Automatic => 0,
            LivelinessKind::ManualByParticipant => 1,
            LivelinessKind::ManualByTopic => 2,
        });
        q.liveliness.lease_duration.write(w);
    });
    w.u32(
        pid::OWNERSHIP,
        match q.ownership {
            OwnershipKind::Shared => 0,
            OwnershipKind::Exclusive => 1,
        },
    );
    w.param(pid::OWNERSHIP_STRENGTH, |w| w.i32(q.ownership_strength));
    w.u32(
        pid::DESTINATION_ORDER,
        match q.destination_order {
            DestinationOrderKind::ByReceptionTimestamp => 0,
            DestinationOrderKind::BySourceTimestamp => 1,
        },
    );
    w.param(pid::PRESENTATION, |w| {
        let p = &q.presentation;
        w.u32(match p.access_scope {
            AccessScope::Instance => 0,
            AccessScope::Topic => 1,
            AccessScope::Group => 2,
        });
        w.u8(p.coherent_access as u8);
        w.u8(p.ordered_access as u8);
    });
    if !q.partition.is_empty() {
        w.param(pid::PARTITION, |w| write_string_seq(w, &q.partition));
    }
    w.param(pid::LIFESPAN, |w| q.lifespan.write(w));
    w.param(pid::TIME_BASED_FILTER, |w| q.time_based_filter.write(w));
    for (p, data) in
        [(pid::USER_DATA, &q.user_data), (pid::TOPIC_DATA, &q.topic_data), (pid::GROUP_DATA, &q.group_data)]
    {
        if !data.is_empty() {
            w.param(p, |w| write_octets(w, data));
        }
    }
    w.param(pid::TRANSPORT_PRIORITY, |w| w.i32(q.transport_priority));
    w.param(pid::DATA_REPRESENTATION, |w| {
        w.u32(q.data_representation.len() as u32);
        for id in &q.data_representation {
            w.i16(*id);
        }
    });
    w.param(pid::TYPE_CONSISTENCY_ENFORCEMENT, |w| {
        let tc = &q.type_consistency;
        w.u16(tc.kind);
        for b in [
            tc.ignore_sequence_bounds,
            tc.ignore_string_bounds,
            tc.ignore_member_names,
            tc.prevent_type_widening,
            tc.force_type_validation,
        ] {
            w.u8(b as u8);
        }
    });
}

fn durability_code(d: DurabilityKind) -> u32 {
    match d {
        DurabilityKind::Volatile => 0,
        DurabilityKind::TransientLocal => 1,
        DurabilityKind::Transient => 2,
        DurabilityKind::Persistent => 3,
    }
}

fn write_history(w: &mut ByteWriter<'_>, h: History) {
    match h {
        History::KeepLast(depth) => {
            w.u32(0);
            w.i32(depth);
        }
        History::KeepAll => {
            w.u32(1);
            // The depth is unused for KEEP_ALL; Cyclone and the spec send 1.
            w.i32(1);
        }
    }
}

fn write_limits(w: &mut ByteWriter<'_>, l: &ResourceLimits) {
    w.i32(l.max_samples);
    w.i32(l.max_instances);
    w.i32(l.max_samples_per_instance);
}

fn read_history(r: &mut ByteReader<'_>) -> Result<History, DecodeError> {
    let kind = r.u32()?;
    let depth = r.i32()?;
    match kind {
        0 if depth >= 1 => Ok(History::KeepLast(depth)),
        0 => Err(DecodeError::Invalid("HISTORY KEEP_LAST depth < 1")),
        1 => Ok(History::KeepAll),
        _ => Err(DecodeError::Invalid("HISTORY kind")),
    }
}

fn read_limits(r: &mut ByteReader<'_>) -> Result<ResourceLimits, DecodeError> {
    Ok(ResourceLimits { max_samples: r.i32()?, max_instances: r.i32()?, max_samples_per_instance: r.i32()? })
}

/// Applies one parameter to `q` if it is a QoS policy. Returns `Ok(false)` for
/// PIDs that are not QoS policies, so that the caller can handle them.
pub(crate) fn read_qos_param(q: &mut EndpointQos, p: u16, v: &[u8], e: Endian) -> Result<bool, DecodeError> {
    let mut r = plist::reader(v, e);
    match p {
        pid::RELIABILITY => {
            let kind = match r.u32()? {
                1 => ReliabilityKind::BestEffort,
                // 3 is the RTPS-PIM ReliabilityKind_t value some old stacks put on the wire.
                2 | 3 => ReliabilityKind::Reliable,
                _ => return Err(DecodeError::Invalid("RELIABILITY kind")),
            };
            // A value without max_blocking_time keeps the default blocking time.
            let max_blocking_time =
                if r.remaining() >= 8 { Duration::read(&mut r)? } else { Reliability::reliable().max_blocking_time };
            q.reliability = Reliability { kind, max_blocking_time };
        }
        pid::DURABILITY => {
            q.durability = match r.u32()? {
                0 => DurabilityKind::Volatile,
                1 => DurabilityKind::TransientLocal,
                2 => DurabilityKind::Transient,
                3 => DurabilityKind::Persistent,
                _ => return Err(DecodeError::Invalid("DURABILITY kind")),
            }
        }
        pid::DURABILITY_SERVICE => {
            let service_cleanup_delay = Duration::read(&mut r)?;
            let history = read_history(&mut r)?;
            let limits = read_limits(&mut r)?;
            q.durability_service = DurabilityService { service_cleanup_delay, history, limits };
        }
        pid::HISTORY => q.history = read_history(&mut r)?,
        pid::RESOURCE_LIMITS => q.resource_limits = read_limits(&mut r)?,
        pid::DEADLINE => q.deadline = Duration::read(&mut r)?,
        pid::LATENCY_BUDGET => q.latency_budget = Duration::read(&mut r)?,
        pid::LIVELINESS => {
            let kind = match r.u32()? {
                0 => LivelinessKind::Automatic,
                1 => LivelinessKind::ManualByParticipant,
                2 => LivelinessKind::ManualByTopic,
                _ => return Err(DecodeError::Invalid("LIVELINESS kind")),
            };
            q.liveliness = Liveliness { kind, lease_duration: Duration::read(&mut r)? };
        }
        pid::OWNERSHIP => {
            q.ownership = match r.u32()? {
                0 => OwnershipKind::Shared,
                1 => OwnershipKind::Exclusive,
                _ => return Err(DecodeError::Invalid("OWNERSHIP kind")),
            }
        }
        pid::OWNERSHIP_STRENGTH => q.ownership_strength = r.i32()?,
        pid::DESTINATION_ORDER => {
            q.destination_order = match r.u32()? {
                0 => DestinationOrderKind::ByReceptionTimestamp,
                1 => DestinationOrderKind::BySourceTimestamp,
                _ => return Err(DecodeError::Invalid("DESTINATION_ORDER kind")),
            }
        }
        pid::PRESENTATION => {
            let access_scope = match r.u32()? {
                0 => AccessScope::Instance,
                1 => AccessScope::Topic,
                2 => AccessScope::Group,
                _ => return Err(DecodeError::Invalid("PRESENTATION access scope")),
            };
            let coherent_access = r.u8()? != 0;
            let ordered_access = r.u8()? != 0;
            q.presentation = Presentation { access_scope, coherent_access, ordered_access };
        }
        pid::PARTITION => q.partition = read_string_seq(&mut r)?,
        pid::LIFESPAN => q.lifespan = Duration::read(&mut r)?,
        pid::TIME_BASED_FILTER => q.time_based_filter = Duration::read(&mut r)?,
        pid::USER_DATA => q.user_data = read_octets(&mut r)?,
        pid::TOPIC_DATA => q.topic_data = read_octets(&mut r)?,
        pid::GROUP_DATA => q.group_data = read_octets(&mut r)?,
        pid::TRANSPORT_PRIORITY => q.transport_priority = r.i32()?,
        pid::DATA_REPRESENTATION => {
            let n = r.u32()? as usize;
            if n > r.remaining() / 2 {
                return Err(DecodeError::Truncated { needed: n.saturating_mul(2), available: r.remaining() });
            }
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(r.i16()?);
            }
            q.data_representation = ids;
        }
        pid::TYPE_CONSISTENCY_ENFORCEMENT => {
            // u16 kind, then five booleans. A value too short for all five (e.g.
            // the kind plus padding) keeps the XTypes defaults for the booleans.
            let kind = r.u16()?;
            let d = TypeConsistency::default();
            q.type_consistency = if r.remaining() >= 5 {
                let b = r.array::<5>()?.map(|b| b != 0);
                TypeConsistency {
                    kind,
                    ignore_sequence_bounds: b[0],
                    ignore_string_bounds: b[1],
                    ignore_member_names: b[2],
                    prevent_type_widening: b[3],
                    force_type_validation: b[4],
                }
            } else {
                TypeConsistency { kind, ..d }
            };
        }
        _ => return Ok(false),
    }
    Ok(true)
}
