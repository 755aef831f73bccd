//! The samples a reader returns and their metadata.

use starling_proto::wire::types::{Guid, KeyHash, SampleIdentity, SequenceNumber, Time};

/// Whether the application has seen a sample before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleState {
    /// Returned by an earlier `read`.
    Read,
    /// Not returned before.
    NotRead,
}

/// Whether the instance is new to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewState {
    /// No sample of this instance (since it was last alive) was returned before.
    New,
    /// Samples of the instance were returned before.
    NotNew,
}

/// The instance's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// A writer has it registered and it is not disposed.
    Alive,
    /// A writer disposed it.
    NotAliveDisposed,
    /// Its writers unregistered it.
    NotAliveNoWriters,
}

/// Metadata of a received sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    /// Read or not read.
    pub sample_state: SampleState,
    /// New or not new instance.
    pub view_state: ViewState,
    /// The instance's state when the sample was returned.
    pub instance_state: InstanceState,
    /// The writer's timestamp, if it sent one.
    pub source_timestamp: Option<Time>,
    /// When the sample arrived.
    pub reception_timestamp: Time,
    /// The writer's GUID.
    pub publication_handle: Guid,
    /// False for dispose/unregister notifications.
    pub valid_data: bool,
    /// The instance's key hash (computed locally).
    pub instance_handle: KeyHash,
    /// The writer's sequence number of the change (0 when not from a writer's history, such as
    /// a NOT_ALIVE_NO_WRITERS notification).
    pub sequence_number: i64,
    /// The sample this one answers (DDS request/reply): the identity the writer passed to
    /// [`DataWriter::write_w_related`](crate::dds::DataWriter::write_w_related), received as inline QoS
    /// `PID_RELATED_SAMPLE_IDENTITY`.
    pub related_sample_identity: Option<SampleIdentity>,
    /// The sample's position among all the samples of its Publisher's writers (`PID_GROUP_SEQ_NUM`), from
    /// writers with PRESENTATION access scope GROUP and coherent or ordered access.
    pub group_sequence_number: Option<i64>,
    /// For a sample relayed by a durability service: the writer that wrote it and its sequence number there
    /// (inline QoS `PID_ORIGINAL_WRITER_INFO`). A reader delivers each original sample once, whether it comes
    /// from its writer, from one service or from several.
    pub original_writer: Option<SampleIdentity>,
}

impl SampleInfo {
    /// This sample's own identity: the writer's GUID and sequence number. A replier passes it to
    /// [`DataWriter::write_w_related`](crate::dds::DataWriter::write_w_related).
    pub fn sample_identity(&self) -> SampleIdentity {
        SampleIdentity::new(self.publication_handle, SequenceNumber(self.sequence_number))
    }
}

/// A sample with its metadata. For `valid_data == false` the data, when
/// present, only has its key fields set.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<T> {
    /// The value (or the key holder for a dispose/unregister).
    pub data: Option<T>,
    /// Metadata.
    pub info: SampleInfo,
}
