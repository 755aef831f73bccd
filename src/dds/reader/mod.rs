//! DataReader with a per-instance history cache.

mod cache;
mod listener;
mod sample;
mod state;
mod timer;

pub(crate) use cache::{Cache, CachePolicies};
pub use listener::{DataReaderListener, ReaderDataLifecycle};
pub use sample::{InstanceState, Sample, SampleInfo, SampleState, ViewState};
pub(crate) use state::ReaderState;
pub(crate) use timer::{timer_task, TimerHandle};

use super::cft::CftState;
use super::condition::{ReadCondition, StateMask, StatusCondition};
use super::participant::Shared;
use super::presentation::{AccessGate, GroupMember};
use super::status::{
    take_status, DeadlineMissedStatus, IncompatibleQosStatus, LivelinessChangedStatus, SampleLostStatus,
    SampleRejectedStatus, StatusFlags, StatusMask, SubscriptionMatchedStatus,
};
use super::support::TypeSupport;
use super::DdsError;
use crate::runtime::driver::ReaderSink;
use crate::runtime::wall_clock;
use listener::{ListenerSlot, LISTENER_STATUSES};
use starling_proto::core::EndpointConfig;
use starling_proto::core::FastHashMap;
use starling_proto::qos::{EndpointQos, ReliabilityKind};
use starling_proto::wire::types::{Guid, KeyHash};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Reads samples of type `T` from one topic.
pub struct DataReader<T> {
    shared: Arc<Shared>,
    guid: Guid,
    topic: String,
    qos: EndpointQos,
    state: Arc<ReaderState<T>>,
    /// False for the handle a listener is called with: dropping it leaves the reader alone.
    owner: bool,
}

impl<T> std::fmt::Debug for DataReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataReader").field("guid", &self.guid).field("topic", &self.topic).finish()
    }
}

fn wait_result<R>(r: Result<Result<R, watch::error::RecvError>, tokio::time::error::Elapsed>) -> Result<(), DdsError> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(DdsError::Closed),
        Err(_) => Err(DdsError::Timeout),
    }
}

impl<T: Clone + Send + Sync + 'static> DataReader<T> {
    pub(crate) fn create(
        shared: Arc<Shared>,
        topic: &str,
        type_name: &str,
        qos: EndpointQos,
        support: Arc<dyn TypeSupport<T>>,
        access: Option<Arc<AccessGate>>,
        content_filter: Option<Arc<CftState>>,
    ) -> Result<Self, DdsError> {
        // The subscriber's group GUID, allocated by the subscriber before its readers.
        let group = access.as_ref().and_then(|a| a.group.get().copied());
        if shared.inner.is_closed() {
            return Err(DdsError::Closed);
        }
        let timer = Arc::new(TimerHandle::default());
        let property = content_filter.as_ref().map(|f| f.property());
        let state = Arc::new_cyclic(|me| ReaderState {
            me: me.clone(),
            access,
            support: support.clone(),
            cache: Mutex::new(Cache::new(CachePolicies::from_qos(&qos))),
            data: watch::channel(0).0,
            data_pending: AtomicBool::new(false),
            matched: watch::channel(SubscriptionMatchedStatus::default()).0,
            incompatible: watch::channel(IncompatibleQosStatus::default()).0,
            deadline: watch::channel(DeadlineMissedStatus::default()).0,
            liveliness: watch::channel(LivelinessChangedStatus::default()).0,
            rejected: watch::channel(SampleRejectedStatus::default()).0,
            lost: watch::channel(SampleLostStatus::default()).0,
            flags: Arc::new(StatusFlags::new()),
            undecodable: AtomicU64::new(0),
            key_hashes: Mutex::new(FastHashMap::default()),
            timer: timer.clone(),
            best_effort: qos.reliability.kind == ReliabilityKind::BestEffort,
            content_filter: content_filter.clone(),
            filtered: AtomicU64::new(0),
            listener: Mutex::new(None),
            listener_mask: AtomicU32::new(0),
            pending: AtomicU32::new(0),
            pool: shared.inner.pool().clone(),
        });
        let desc = EndpointConfig {
            topic_name: topic.to_string(),
            type_name: type_name.to_string(),
            keyed: support.is_keyed(),
            qos: qos.clone(),
            type_information: None,
            content_filter: property,
            group,
        };
        let announcement = super::type_announcement(support.dynamic_type(), type_name);
        let mut desc = desc;
        desc.type_information = announcement.as_ref().map(|a| a.bytes.clone());
        let sink: Arc<dyn ReaderSink> = state.clone();
        let guid = shared.inner.call(
            |core, now| {
                if let Some(a) = announcement {
                    core.register_type(&a.info, a.objects);
                }
                core.create_reader(now, desc)
            },
            |table, guid| {
                table.readers.insert(*guid, sink);
            },
        );
        shared.handle.spawn(timer_task(Arc::downgrade(&state), timer, ReaderState::<T>::tick));
        if let Some(f) = &content_filter {
            f.add_reader(&shared, guid);
        }
        if let Some(gate) = &state.access {
            let member: Arc<dyn GroupMember> = state.clone();
            gate.add_member(guid, Arc::downgrade(&member));
        }
        Ok(DataReader { shared, guid, topic: topic.to_string(), qos, state, owner: true })
    }

    /// Sets (`Some`) or removes (`None`) the reader's listener; `mask` selects the statuses it is called for
    /// ([`StatusMask::DATA_AVAILABLE`], [`StatusMask::SUBSCRIPTION_MATCHED`], [`StatusMask::LIVELINESS_CHANGED`],
    /// [`StatusMask::REQUESTED_INCOMPATIBLE_QOS`], [`StatusMask::REQUESTED_DEADLINE_MISSED`],
    /// [`StatusMask::SAMPLE_LOST`], [`StatusMask::SAMPLE_REJECTED`]; [`StatusMask::ALL`] for every one).
    /// See [`DataReaderListener`] for where callbacks run and what they may do. A listener set while samples
    /// are already waiting is called for them once, on the calling thread, before this returns.
    pub fn set_listener(&self, listener: Option<Arc<dyn DataReaderListener<T>>>, mask: StatusMask) {
        let slot = listener.map(|listener| {
            let view = DataReader {
                shared: self.shared.clone(),
                guid: self.guid,
                topic: self.topic.clone(),
                qos: self.qos.clone(),
                state: self.state.clone(),
                owner: false,
            };
            Arc::new(ListenerSlot { listener, view, mask: mask.0 & LISTENER_STATUSES })
        });
        let mask = slot.as_ref().map_or(0, |s| s.mask);
        let old = std::mem::replace(&mut *self.state.listener.lock().unwrap_or_else(|e| e.into_inner()), slot);
        self.state.listener_mask.store(mask, Ordering::Release);
        drop(old);
        if mask & StatusMask::DATA_AVAILABLE.0 != 0 && self.state.lock().has_unread() {
            self.state.raise(StatusMask::DATA_AVAILABLE);
        }
    }

    /// This reader's GUID.
    pub fn guid(&self) -> Guid {
        self.guid
    }

    /// The topic name.
    pub fn topic_name(&self) -> &str {
        &self.topic
    }

    /// The QoS in use.
    pub fn qos(&self) -> &EndpointQos {
        &self.qos
    }

    /// Sets READER_DATA_LIFECYCLE (instances that are not alive are purged after the delays).
    pub fn set_reader_data_lifecycle(&self, lifecycle: ReaderDataLifecycle) {
        {
            let mut c = self.state.lock();
            c.policies.purge_nowriter = lifecycle.autopurge_nowriter_samples_delay;
            c.policies.purge_disposed = lifecycle.autopurge_disposed_samples_delay;
        }
        self.state.timer.wake();
    }

    fn locked(&self) -> MutexGuard<'_, Cache<T>> {
        let mut c = self.state.lock();
        // Only samples under a LIFESPAN expire: no clock read without one.
        if c.entries.iter().any(|e| e.expires.is_some()) {
            c.expire(wall_clock().to_nanos());
        }
        c
    }

    fn after_access(&self, c: MutexGuard<'_, Cache<T>>) {
        if !c.has_unread() {
            self.state.flags.clear(StatusMask::DATA_AVAILABLE);
        }
        drop(c);
        self.state.flags.notify();
    }

    /// Returns copies of all samples in the cache and marks them read.
    pub fn read(&self) -> Vec<Sample<T>> {
        let mut c = self.locked();
        let out = c.read();
        self.after_access(c);
        out
    }

    /// Removes and returns all samples in the cache.
    pub fn take(&self) -> Vec<Sample<T>> {
        let mut c = self.locked();
        let out = c.take(usize::MAX);
        self.after_access(c);
        out
    }

    /// Removes and returns the oldest sample, if any.
    pub fn try_take_next(&self) -> Option<Sample<T>> {
        let mut c = self.locked();
        let out = c.take_next();
        self.after_access(c);
        out
    }

    /// Like [`DataReader::read`], limited to the samples `condition` selects.
    pub fn read_w_condition(&self, condition: &ReadCondition<T>) -> Vec<Sample<T>> {
        let mut c = self.locked();
        let out = c.read_where(&|i, d| condition.selects(i, d));
        self.after_access(c);
        out
    }

    /// Like [`DataReader::take`], limited to the samples `condition` selects.
    pub fn take_w_condition(&self, condition: &ReadCondition<T>) -> Vec<Sample<T>> {
        let mut c = self.locked();
        let out = c.take_where(usize::MAX, &|i, d| condition.selects(i, d));
        self.after_access(c);
        out
    }

    /// A condition that triggers while the cache holds a sample in the given states.
    pub fn create_readcondition(&self, mask: StateMask) -> ReadCondition<T> {
        ReadCondition::new(self.state.clone(), mask, None)
    }

    /// A condition that triggers while the cache holds a sample in the given
    /// states whose value `query` accepts.
    pub fn create_querycondition_fn(
        &self,
        mask: StateMask,
        query: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> ReadCondition<T> {
        ReadCondition::new(self.state.clone(), mask, Some(Arc::new(query)))
    }

    /// A condition on the samples in the given states that match a DDS SQL
    /// filter `expression` (with `%n` parameters), evaluated on the sample's
    /// JSON form.
    pub fn create_querycondition<S: AsRef<str>>(
        &self,
        mask: StateMask,
        expression: &str,
        parameters: &[S],
    ) -> Result<ReadCondition<T>, crate::filter::FilterError>
    where
        T: serde::Serialize,
    {
        let filter = crate::filter::Filter::with_parameters(expression, parameters)?;
        Ok(self.create_querycondition_fn(mask, move |v: &T| serde_json::to_value(v).is_ok_and(|j| filter.matches(&j))))
    }

    /// The StatusCondition of this reader (all statuses enabled).
    pub fn status_condition(&self) -> StatusCondition {
        StatusCondition::new(self.state.flags.clone())
    }

    /// The statuses changed since they were last read (DATA_AVAILABLE: unread samples).
    pub fn status_changes(&self) -> StatusMask {
        self.state.flags.changes()
    }

    /// Samples currently in the cache (expired ones excluded).
    pub fn sample_count(&self) -> usize {
        self.locked().len()
    }

    /// Instances currently in the cache.
    pub fn instance_count(&self) -> usize {
        self.state.lock().instance_count()
    }

    /// The state of an instance, if the cache knows it.
    pub fn instance_state(&self, instance: &KeyHash) -> Option<InstanceState> {
        self.state.lock().instance_state(instance)
    }

    /// Waits until the cache holds an unread sample.
    pub async fn wait_for_data(&self, timeout: Duration) -> Result<(), DdsError> {
        let mut rx = self.state.data.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.state.data_pending.store(false, Ordering::Release);
            if self.locked().has_unread() {
                return Ok(());
            }
            if self.shared.inner.is_closed() {
                return Err(DdsError::Closed);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(DdsError::Closed),
                Err(_) => return Err(DdsError::Timeout),
            }
        }
    }

    /// Blocking form of [`DataReader::wait_for_data`].
    pub fn wait_for_data_blocking(&self, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_data(timeout))
    }

    /// Waits for and removes the oldest sample.
    pub async fn take_next(&self) -> Result<Sample<T>, DdsError> {
        let mut rx = self.state.data.subscribe();
        loop {
            self.state.data_pending.store(false, Ordering::Release);
            if let Some(s) = self.try_take_next() {
                return Ok(s);
            }
            if self.shared.inner.is_closed() || rx.changed().await.is_err() {
                return Err(DdsError::Closed);
            }
        }
    }

    /// Blocking form of [`DataReader::take_next`], bounded by `timeout`.
    pub fn take_next_blocking(&self, timeout: Duration) -> Result<Sample<T>, DdsError> {
        self.shared
            .block_on(async { tokio::time::timeout(timeout, self.take_next()).await.map_err(|_| DdsError::Timeout)? })
    }

    /// Waits until at least `n` writers are matched.
    pub async fn wait_for_publishers(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        let mut rx = self.state.matched.subscribe();
        wait_result(tokio::time::timeout(timeout, rx.wait_for(|s| s.current_count >= n)).await)
    }

    /// Blocking form of [`DataReader::wait_for_publishers`].
    pub fn wait_for_publishers_blocking(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_publishers(n, timeout))
    }

    /// The current SUBSCRIPTION_MATCHED status.
    pub fn subscription_matched_status(&self) -> SubscriptionMatchedStatus {
        self.state.flags.clear(StatusMask::SUBSCRIPTION_MATCHED);
        *self.state.matched.borrow()
    }

    /// A watch channel that sees every change of the SUBSCRIPTION_MATCHED status; its first `changed()` also reports a change made before it was taken.
    pub fn subscription_matched_watch(&self) -> watch::Receiver<SubscriptionMatchedStatus> {
        super::status::status_watch(&self.state.matched)
    }

    /// The current REQUESTED_INCOMPATIBLE_QOS status.
    pub fn requested_incompatible_qos_status(&self) -> IncompatibleQosStatus {
        self.state.flags.clear(StatusMask::REQUESTED_INCOMPATIBLE_QOS);
        *self.state.incompatible.borrow()
    }

    /// A watch channel of REQUESTED_INCOMPATIBLE_QOS changes; its first `changed()` also reports a change made before it was taken.
    pub fn requested_incompatible_qos_watch(&self) -> watch::Receiver<IncompatibleQosStatus> {
        super::status::status_watch(&self.state.incompatible)
    }

    /// The REQUESTED_DEADLINE_MISSED status (reading it resets `total_count_change`).
    pub fn requested_deadline_missed_status(&self) -> DeadlineMissedStatus {
        self.state.flags.clear(StatusMask::REQUESTED_DEADLINE_MISSED);
        take_status(&self.state.deadline, |s| s.total_count_change = 0)
    }

    /// A watch channel of REQUESTED_DEADLINE_MISSED changes; its first `changed()` also reports a change made before it was taken.
    pub fn requested_deadline_missed_watch(&self) -> watch::Receiver<DeadlineMissedStatus> {
        super::status::status_watch(&self.state.deadline)
    }

    /// The LIVELINESS_CHANGED status (reading it resets the `*_change` fields).
    pub fn liveliness_changed_status(&self) -> LivelinessChangedStatus {
        self.state.flags.clear(StatusMask::LIVELINESS_CHANGED);
        take_status(&self.state.liveliness, |s| {
            s.alive_count_change = 0;
            s.not_alive_count_change = 0;
        })
    }

    /// A watch channel of LIVELINESS_CHANGED changes; its first `changed()` also reports a change made before it was taken.
    pub fn liveliness_changed_watch(&self) -> watch::Receiver<LivelinessChangedStatus> {
        super::status::status_watch(&self.state.liveliness)
    }

    /// The SAMPLE_REJECTED status (reading it resets `total_count_change`).
    pub fn sample_rejected_status(&self) -> SampleRejectedStatus {
        self.state.flags.clear(StatusMask::SAMPLE_REJECTED);
        take_status(&self.state.rejected, |s| s.total_count_change = 0)
    }

    /// A watch channel of SAMPLE_REJECTED changes; its first `changed()` also reports a change made before it was taken.
    pub fn sample_rejected_watch(&self) -> watch::Receiver<SampleRejectedStatus> {
        super::status::status_watch(&self.state.rejected)
    }

    /// The SAMPLE_LOST status (reading it resets `total_count_change`).
    pub fn sample_lost_status(&self) -> SampleLostStatus {
        self.state.flags.clear(StatusMask::SAMPLE_LOST);
        take_status(&self.state.lost, |s| s.total_count_change = 0)
    }

    /// Samples dropped on arrival because they do not pass the reader's content filter (those a Starling writer
    /// filtered at the source never arrive, and are not counted).
    pub fn filtered_sample_count(&self) -> u64 {
        self.state.filtered.load(Ordering::Relaxed)
    }

    /// Samples dropped because their payload could not be decoded.
    pub fn undecodable_samples(&self) -> u64 {
        self.state.undecodable.load(Ordering::Relaxed)
    }
}

impl<T> Drop for DataReader<T> {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        // The listener holds a handle on this reader: let it go.
        let slot = self.state.listener.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.state.listener_mask.store(0, Ordering::Release);
        drop(slot);
        self.state.timer.close();
        if self.shared.inner.is_closed() {
            return;
        }
        let guid = self.guid;
        self.shared.inner.call(
            |core, now| core.delete_reader(now, guid),
            |table, _| {
                table.readers.remove(&guid);
            },
        );
    }
}
