//! The DDS API: [`DomainParticipant`], [`Topic`], [`Publisher`], [`Subscriber`],
//! [`DataWriter`] and [`DataReader`].
//!
//! The API is async-first; every wait has a `*_blocking` twin that runs on the
//! participant's runtime. Creating a participant inside a tokio runtime uses
//! that runtime; outside one the participant owns a small multi-thread runtime.
//!
//! # QoS behaviour
//! Readers apply TIME_BASED_FILTER, LIFESPAN (with the writer's lifespan from
//! discovery), DESTINATION_ORDER, exclusive OWNERSHIP (strength from
//! discovery), HISTORY and RESOURCE_LIMITS in their cache, track the writers
//! of each instance (NOT_ALIVE_NO_WRITERS), purge instances per
//! [`ReaderDataLifecycle`], and report REQUESTED_DEADLINE_MISSED,
//! LIVELINESS_CHANGED, SAMPLE_REJECTED and SAMPLE_LOST. Writers report
//! OFFERED_DEADLINE_MISSED and LIVELINESS_LOST, honour
//! [`WriterDataLifecycle`], unregister their instances when dropped, block
//! KEEP_ALL writes for RELIABILITY.max_blocking_time
//! ([`DataWriter::write_async`]), and map TRANSPORT_PRIORITY to the DSCP of
//! the participant's send socket. Deadline and purge checks run in one timer
//! task per endpoint.
//!
//! LIVELINESS is the core's (`starling_proto::core`, module `liveliness`): it
//! sends ParticipantMessageData for AUTOMATIC and MANUAL_BY_PARTICIPANT writers
//! and liveliness HEARTBEATs for MANUAL_BY_TOPIC ones, tracks every matched
//! writer's lease, and reports LIVELINESS_LOST to writers and
//! LIVELINESS_CHANGED to readers. A reader treats a writer that lost its
//! liveliness like one that unregistered its instances (NOT_ALIVE_NO_WRITERS
//! when no alive writer is left; exclusive ownership passes to the strongest
//! alive writer) until it asserts again.
//!
//! PRESENTATION: [`Publisher::begin_coherent_changes`] /
//! [`Publisher::end_coherent_changes`] make coherent sets of what the
//! publisher's writers with coherent access write (inline QoS
//! `PID_COHERENT_SET` on the wire); a reader with coherent access makes each
//! writer's set readable whole, or drops it when part of it was lost, and
//! [`Subscriber::begin_access`] / [`Subscriber::end_access`] hold completed
//! sets back while the application reads. Ordered access of INSTANCE scope
//! returns samples instance by instance; TOPIC scope keeps the writer's order
//! across instances. GROUP scope (sets and order across a publisher's writers,
//! `PID_GROUP_COHERENT_SET` / `PID_GROUP_SEQ_NUM`) is not implemented: each
//! writer's part of a set is delivered whole on its own.
//!
//! A [`ContentFilteredTopic`] filters a reader's samples with a DDS SQL expression (evaluated on the sample's
//! dynamic-type form), announces the filter in SEDP (CONTENT_FILTER_PROPERTY), and lets Starling writers leave
//! out, at the source, the samples a Starling reader's filter rejects.
//!
//! Conditions ([`GuardCondition`], [`StatusCondition`], [`ReadCondition`],
//! [`QueryCondition`]) wake a [`WaitSet`]; built-in topic readers
//! ([`BuiltinReader`]) show what discovery found.

mod builtin;
mod cft;
mod condition;
mod participant;
pub(crate) mod presentation;
mod reader;
mod status;
pub(crate) use status::bump as status_bump;
mod support;
mod writer;

pub use builtin::{
    builtin_instance_handle, BuiltinReader, ParticipantBuiltinTopicData, PublicationBuiltinTopicData,
    SubscriptionBuiltinTopicData, TopicBuiltinTopicData,
};
pub use cft::{ContentFilteredTopic, TopicDescription, DDSSQL};
pub use condition::{Condition, GuardCondition, QueryCondition, ReadCondition, StateMask, StatusCondition, WaitSet};
pub use participant::{DomainParticipant, DomainParticipantBuilder, Publisher, Subscriber, Topic};
pub use reader::{
    DataReader, DataReaderListener, InstanceState, ReaderDataLifecycle, Sample, SampleInfo, SampleState, ViewState,
};
pub use starling_proto::core::{FlowLimit, ParticipantLimits};
pub use starling_proto::wire::types::SampleIdentity;
pub use status::{
    DeadlineMissedStatus, IncompatibleQosStatus, LivelinessChangedStatus, LivelinessLostStatus,
    PublicationMatchedStatus, SampleLostStatus, SampleRejectedReason, SampleRejectedStatus, StatusMask,
    SubscriptionMatchedStatus,
};
pub use support::{CodecError, DynamicSupport, StaticSupport, TypeSupport};
pub use writer::{DataWriter, WriterDataLifecycle};

use crate::runtime::TransportError;
use starling_proto::core::WriteError;

/// Errors of the DDS API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DdsError {
    /// Setting up the transport failed (bad interface, peer, domain, ports).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Creating the runtime failed.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The sample could not be serialized.
    #[error("cannot serialize sample: {0}")]
    Encode(CodecError),
    /// The core refused the write; the change (with its payload) is handed back.
    #[error(transparent)]
    Write(#[from] Box<WriteError>),
    /// A blocking write ran out of time (RELIABILITY.max_blocking_time) with
    /// the history still full; the change is handed back.
    #[error("write timed out: {0}")]
    WriteTimeout(Box<WriteError>),
    /// A wait ran out of time.
    #[error("timed out")]
    Timeout,
    /// The participant was shut down.
    #[error("participant is shut down")]
    Closed,
    /// The operation is not allowed in the entity's current state or with its QoS.
    #[error("precondition not met: {0}")]
    PreconditionNotMet(&'static str),
    /// A content filter expression or its parameters are wrong (the error gives the position).
    #[error("content filter: {0}")]
    Filter(#[from] crate::filter::FilterError),
    /// The topic's type does not describe itself ([`TypeSupport::dynamic_type`] is `None`), so a content filter
    /// cannot name its members.
    #[error("content filter on type {0}: the type has no XTypes description to evaluate a filter on")]
    FilterUnsupported(String),
}

/// What a topic type announces about itself: its TypeInformation (as the
/// SEDP parameter value) and the TypeObjects to register with the TypeLookup
/// service. `None` for types that do not describe themselves, or when the
/// description cannot be built (then matching falls back to type names).
pub(crate) fn type_announcement(
    ty: Option<starling_proto::xtypes::DynamicType>,
    type_name: &str,
) -> Option<TypeAnnouncement> {
    use starling_proto::xtypes::typeobject::{type_objects, EquivalenceKind, TypeInformation};
    // A type registered under another name than its own announces nothing: peers would resolve it under
    // the wrong name.
    let ty = ty.filter(|t| t.name() == Some(type_name))?;
    let info = TypeInformation::for_type(&ty).ok()?;
    let mut objects = type_objects(&ty, EquivalenceKind::Complete).ok()?;
    objects.extend(type_objects(&ty, EquivalenceKind::Minimal).ok()?);
    let bytes = info.to_bytes(starling_proto::wire::Endian::Little);
    Some(TypeAnnouncement { info, objects, bytes })
}

/// See [`type_announcement`].
pub(crate) struct TypeAnnouncement {
    pub info: starling_proto::xtypes::typeobject::TypeInformation,
    pub objects:
        Vec<(starling_proto::xtypes::typeobject::TypeIdentifier, starling_proto::xtypes::typeobject::TypeObject)>,
    pub bytes: Vec<u8>,
}
