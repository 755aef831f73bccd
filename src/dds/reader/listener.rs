//! The reader's listener and the READER_DATA_LIFECYCLE policy.

use super::DataReader;
use crate::dds::status::{
    DeadlineMissedStatus, IncompatibleQosStatus, LivelinessChangedStatus, SampleLostStatus, SampleRejectedStatus,
    StatusMask, SubscriptionMatchedStatus,
};
use std::sync::Arc;
use std::time::Duration;

/// READER_DATA_LIFECYCLE policy (not sent in discovery).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaderDataLifecycle {
    /// Purge instances this long after they became NOT_ALIVE_NO_WRITERS (`None`: never).
    pub autopurge_nowriter_samples_delay: Option<Duration>,
    /// Purge instances this long after they became NOT_ALIVE_DISPOSED (`None`: never).
    pub autopurge_disposed_samples_delay: Option<Duration>,
}

/// Callbacks of a [`DataReader`], the DDS `DataReaderListener`, set with [`DataReader::set_listener`].
///
/// Callbacks run on the thread that received the datagram (or whose call changed the status: a timer for
/// deadlines, the writing thread for a writer of the same participant), right after the sample is in the
/// reader's cache, with no lock of the participant held: a callback may `take` from the reader, `write` with
/// any writer (an echo from inside `on_data_available` is the fastest reply there is) and read statuses.
///
/// Rules:
/// - Do not block in a callback, and keep it short: while it runs, this participant receives no other user
///   data on that thread. Hand long work to another thread.
/// - Calls are coalesced: one `on_data_available` may stand for several samples, so take everything that is
///   there (a loop over [`DataReader::try_take_next`] or one [`DataReader::take`]).
/// - Calling a status callback counts as reading the status (its `*_change` fields are reset).
/// - A callback may run on several threads at once (user data and discovery arrive on different threads).
/// - After [`DataReader::set_listener`] returns, callbacks for changes made later use the new listener; one
///   already running on another thread may still finish.
/// - Do not drop the reader's participant from inside a callback.
pub trait DataReaderListener<T>: Send + Sync {
    /// New data is in the cache (DATA_AVAILABLE).
    fn on_data_available(&self, _reader: &DataReader<T>) {}
    /// A writer matched or unmatched (SUBSCRIPTION_MATCHED).
    fn on_subscription_matched(&self, _reader: &DataReader<T>, _status: SubscriptionMatchedStatus) {}
    /// A matched writer became alive or not alive (LIVELINESS_CHANGED).
    fn on_liveliness_changed(&self, _reader: &DataReader<T>, _status: LivelinessChangedStatus) {}
    /// A writer on the topic offers incompatible QoS (REQUESTED_INCOMPATIBLE_QOS).
    fn on_requested_incompatible_qos(&self, _reader: &DataReader<T>, _status: IncompatibleQosStatus) {}
    /// A deadline passed without a sample of an instance (REQUESTED_DEADLINE_MISSED).
    fn on_requested_deadline_missed(&self, _reader: &DataReader<T>, _status: DeadlineMissedStatus) {}
    /// Samples were lost (SAMPLE_LOST).
    fn on_sample_lost(&self, _reader: &DataReader<T>, _status: SampleLostStatus) {}
    /// A sample was rejected for lack of resources (SAMPLE_REJECTED).
    fn on_sample_rejected(&self, _reader: &DataReader<T>, _status: SampleRejectedStatus) {}
}

/// The statuses a reader's listener can be called for.
pub(super) const LISTENER_STATUSES: u32 = StatusMask::DATA_AVAILABLE.0
    | StatusMask::SUBSCRIPTION_MATCHED.0
    | StatusMask::LIVELINESS_CHANGED.0
    | StatusMask::REQUESTED_INCOMPATIBLE_QOS.0
    | StatusMask::REQUESTED_DEADLINE_MISSED.0
    | StatusMask::SAMPLE_LOST.0
    | StatusMask::SAMPLE_REJECTED.0;

/// An installed listener, with the reader handle it is called with.
pub(super) struct ListenerSlot<T> {
    pub(super) listener: Arc<dyn DataReaderListener<T>>,
    /// A handle on the same reader that does not delete it when dropped.
    pub(super) view: DataReader<T>,
    pub(super) mask: u32,
}
