//! The DDS API: [`DomainParticipant`], [`Topic`], [`Publisher`], [`Subscriber`],
//! [`DataWriter`] and [`DataReader`].
//!
//! The API is async-first; every wait has a `*_blocking` twin that runs on the
//! participant's runtime. Creating a participant inside a tokio runtime uses
//! that runtime; outside one the participant owns a small multi-thread runtime.

mod participant;
mod reader;
mod status;
mod writer;

pub use participant::{DomainParticipant, DomainParticipantBuilder, Publisher, Subscriber, Topic};
pub use reader::{DataReader, InstanceState, Sample, SampleInfo, SampleState, ViewState};
pub use status::{IncompatibleQosStatus, PublicationMatchedStatus, SubscriptionMatchedStatus};
pub use writer::DataWriter;

use crate::runtime::TransportError;
use starling_proto::cdr::CdrError;
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
    Encode(CdrError),
    /// The core refused the write; the change (with its payload) is handed back.
    #[error(transparent)]
    Write(#[from] Box<WriteError>),
    /// A wait ran out of time.
    #[error("timed out")]
    Timeout,
    /// The participant was shut down.
    #[error("participant is shut down")]
    Closed,
}
