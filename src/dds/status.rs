//! Communication statuses of writers and readers.

use starling_proto::qos::QosPolicyId;
use starling_proto::wire::types::Guid;

/// PUBLICATION_MATCHED status of a writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublicationMatchedStatus {
    /// Readers matched so far (cumulative).
    pub total_count: u32,
    /// Readers matched now.
    pub current_count: u32,
    /// The reader of the latest change.
    pub last_subscription_handle: Option<Guid>,
}

/// SUBSCRIPTION_MATCHED status of a reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionMatchedStatus {
    /// Writers matched so far (cumulative).
    pub total_count: u32,
    /// Writers matched now.
    pub current_count: u32,
    /// The writer of the latest change.
    pub last_publication_handle: Option<Guid>,
}

/// OFFERED_ / REQUESTED_INCOMPATIBLE_QOS status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncompatibleQosStatus {
    /// Incompatible remote endpoints found so far.
    pub total_count: u32,
    /// The policy that failed last.
    pub last_policy_id: Option<QosPolicyId>,
    /// The remote endpoint of the latest incompatibility.
    pub last_remote: Option<Guid>,
}

impl IncompatibleQosStatus {
    pub(crate) fn record(&mut self, remote: Guid, policy: QosPolicyId) {
        self.total_count += 1;
        self.last_policy_id = Some(policy);
        self.last_remote = Some(remote);
    }
}
