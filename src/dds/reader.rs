//! DataReader with a per-instance history cache.

use super::participant::Shared;
use super::status::{IncompatibleQosStatus, SubscriptionMatchedStatus};
use super::support::TypeSupport;
use super::DdsError;
use crate::runtime::driver::ReaderSink;
use crate::runtime::wall_clock;
use starling_proto::cdr::{split_encapsulation, XcdrVersion};
use starling_proto::core::{ChangeKind, EndpointConfig, ReceivedSample};
use starling_proto::qos::{EndpointQos, History, QosPolicyId};
use starling_proto::wire::types::{Guid, KeyHash, Time};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

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

struct Entry<T> {
    data: Option<T>,
    key: KeyHash,
    read: bool,
    valid: bool,
    source_timestamp: Option<Time>,
    reception_timestamp: Time,
    writer: Guid,
}

struct Instance<T> {
    state: InstanceState,
    view: ViewState,
    key_holder: Option<T>,
    count: usize,
}

struct Cache<T> {
    entries: VecDeque<Entry<T>>,
    instances: HashMap<KeyHash, Instance<T>>,
    depth: Option<usize>,
    max_samples: Option<usize>,
}

impl<T: Clone> Cache<T> {
    fn insert(&mut self, kind: ChangeKind, key: KeyHash, data: Option<T>, entry: Entry<T>) {
        let inst = self.instances.entry(key).or_insert_with(|| Instance {
            state: InstanceState::Alive,
            view: ViewState::New,
            key_holder: None,
            count: 0,
        });
        match kind {
            ChangeKind::Alive => {
                if inst.state != InstanceState::Alive {
                    inst.state = InstanceState::Alive;
                    inst.view = ViewState::New;
                }
            }
            ChangeKind::Disposed | ChangeKind::DisposedUnregistered => inst.state = InstanceState::NotAliveDisposed,
            ChangeKind::Unregistered => {
                if inst.state == InstanceState::Alive {
                    inst.state = InstanceState::NotAliveNoWriters;
                }
            }
        }
        if inst.key_holder.is_none() {
            inst.key_holder = data.clone();
        }
        let entry = Entry { data: if entry.valid { data } else { data.or_else(|| inst.key_holder.clone()) }, ..entry };
        inst.count += 1;
        let over_depth = self.depth.is_some_and(|d| inst.count > d);
        self.entries.push_back(entry);
        if over_depth {
            if let Some(pos) = self.entries.iter().position(|e| e.key == key) {
                self.entries.remove(pos);
                if let Some(i) = self.instances.get_mut(&key) {
                    i.count -= 1;
                }
            }
        }
        if self.max_samples.is_some_and(|m| self.entries.len() > m) {
            if let Some(old) = self.entries.pop_front() {
                if let Some(i) = self.instances.get_mut(&old.key) {
                    i.count -= 1;
                }
            }
        }
    }

    fn info(&self, e: &Entry<T>) -> SampleInfo {
        let inst = self.instances.get(&e.key);
        SampleInfo {
            sample_state: if e.read { SampleState::Read } else { SampleState::NotRead },
            view_state: inst.map_or(ViewState::NotNew, |i| i.view),
            instance_state: inst.map_or(InstanceState::NotAliveNoWriters, |i| i.state),
            source_timestamp: e.source_timestamp,
            reception_timestamp: e.reception_timestamp,
            publication_handle: e.writer,
            valid_data: e.valid,
            instance_handle: e.key,
        }
    }

    fn mark_seen(&mut self, keys: impl Iterator<Item = KeyHash>) {
        for k in keys {
            if let Some(i) = self.instances.get_mut(&k) {
                i.view = ViewState::NotNew;
            }
        }
    }

    fn read(&mut self) -> Vec<Sample<T>> {
        let out: Vec<Sample<T>> =
            self.entries.iter().map(|e| Sample { data: e.data.clone(), info: self.info(e) }).collect();
        for e in self.entries.iter_mut() {
            e.read = true;
        }
        self.mark_seen(out.iter().map(|s| s.info.instance_handle));
        out
    }

    fn take(&mut self, max: usize) -> Vec<Sample<T>> {
        let n = max.min(self.entries.len());
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let Some(e) = self.entries.pop_front() else { break };
            let info = self.info(&e);
            if let Some(i) = self.instances.get_mut(&e.key) {
                i.count -= 1;
            }
            out.push(Sample { data: e.data, info });
        }
        self.mark_seen(out.iter().map(|s| s.info.instance_handle));
        self.instances.retain(|_, i| i.count > 0 || i.state == InstanceState::Alive);
        out
    }

    fn has_unread(&self) -> bool {
        self.entries.iter().any(|e| !e.read)
    }
}

/// Cache and status channels of one reader, fed by the driver.
pub(crate) struct ReaderState<T> {
    support: Arc<dyn TypeSupport<T>>,
    cache: Mutex<Cache<T>>,
    data: watch::Sender<u64>,
    matched: watch::Sender<SubscriptionMatchedStatus>,
    incompatible: watch::Sender<IncompatibleQosStatus>,
    undecodable: AtomicU64,
}

impl<T> ReaderState<T> {
    fn lock(&self) -> MutexGuard<'_, Cache<T>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// XCDR version of an encapsulated payload (by its representation identifier).
fn payload_version(payload: &[u8]) -> XcdrVersion {
    split_encapsulation(payload).map_or(XcdrVersion::V1, |(e, _, _)| e.version())
}

impl<T: Clone + Send + Sync + 'static> ReaderSink for ReaderState<T> {
    fn on_sample(&self, s: ReceivedSample) {
        let valid = s.kind == ChangeKind::Alive;
        let data = match &s.payload {
            Some(p) => {
                let r = if s.payload_is_key { self.support.decode_key(p) } else { self.support.decode(p) };
                match r {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.undecodable.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(writer = %s.writer, "dropping undecodable sample: {e}");
                        return;
                    }
                }
            }
            None => None,
        };
        if valid && data.is_none() {
            self.undecodable.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let key = match (&data, &s.payload) {
            _ if !self.support.is_keyed() => KeyHash::default(),
            (Some(d), Some(p)) => self.support.key_hash(d, payload_version(p)),
            _ => s.key_hash.unwrap_or_default(),
        };
        let entry = Entry {
            data: None,
            key,
            read: false,
            valid,
            source_timestamp: s.source_timestamp,
            reception_timestamp: wall_clock(),
            writer: s.writer,
        };
        self.lock().insert(s.kind, key, data, entry);
        self.data.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn on_matched(&self, writer: Guid, matched: bool, current_count: u32) {
        self.matched.send_modify(|s| {
            if matched {
                s.total_count += 1;
            }
            s.current_count = current_count;
            s.last_publication_handle = Some(writer);
        });
    }

    fn on_incompatible(&self, writer: Guid, policy: QosPolicyId) {
        self.incompatible.send_modify(|s| s.record(writer, policy));
    }
}

/// Reads samples of type `T` from one topic.
pub struct DataReader<T> {
    shared: Arc<Shared>,
    guid: Guid,
    topic: String,
    qos: EndpointQos,
    state: Arc<ReaderState<T>>,
}

impl<T> std::fmt::Debug for DataReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataReader").field("guid", &self.guid).field("topic", &self.topic).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> DataReader<T> {
    pub(crate) fn create(
        shared: Arc<Shared>,
        topic: &str,
        type_name: &str,
        qos: EndpointQos,
        support: Arc<dyn TypeSupport<T>>,
    ) -> Result<Self, DdsError> {
        if shared.inner.is_closed() {
            return Err(DdsError::Closed);
        }
        let depth = match qos.history {
            History::KeepLast(d) => Some(usize::try_from(d).unwrap_or(1).max(1)),
            History::KeepAll => None,
        };
        let max_samples = usize::try_from(qos.resource_limits.max_samples).ok().filter(|m| *m > 0);
        let state = Arc::new(ReaderState {
            support: support.clone(),
            cache: Mutex::new(Cache { entries: VecDeque::new(), instances: HashMap::new(), depth, max_samples }),
            data: watch::channel(0).0,
            matched: watch::channel(SubscriptionMatchedStatus::default()).0,
            incompatible: watch::channel(IncompatibleQosStatus::default()).0,
            undecodable: AtomicU64::new(0),
        });
        let desc = EndpointConfig {
            topic_name: topic.to_string(),
            type_name: type_name.to_string(),
            keyed: support.is_keyed(),
            qos: qos.clone(),
            type_information: None,
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
        Ok(DataReader { shared, guid, topic: topic.to_string(), qos, state })
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

    /// Returns copies of all samples in the cache and marks them read.
    pub fn read(&self) -> Vec<Sample<T>> {
        self.state.lock().read()
    }

    /// Removes and returns all samples in the cache.
    pub fn take(&self) -> Vec<Sample<T>> {
        self.state.lock().take(usize::MAX)
    }

    /// Removes and returns the oldest sample, if any.
    pub fn try_take_next(&self) -> Option<Sample<T>> {
        self.state.lock().take(1).pop()
    }

    /// Waits until the cache holds an unread sample.
    pub async fn wait_for_data(&self, timeout: Duration) -> Result<(), DdsError> {
        let mut rx = self.state.data.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.state.lock().has_unread() {
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
        let r = tokio::time::timeout(timeout, rx.wait_for(|s| s.current_count >= n)).await.map(|r| r.map(|_| ()));
        match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(DdsError::Closed),
            Err(_) => Err(DdsError::Timeout),
        }
    }

    /// Blocking form of [`DataReader::wait_for_publishers`].
    pub fn wait_for_publishers_blocking(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_publishers(n, timeout))
    }

    /// The current SUBSCRIPTION_MATCHED status.
    pub fn subscription_matched_status(&self) -> SubscriptionMatchedStatus {
        *self.state.matched.borrow()
    }

    /// A watch channel that sees every change of the SUBSCRIPTION_MATCHED status.
    pub fn subscription_matched_watch(&self) -> watch::Receiver<SubscriptionMatchedStatus> {
        self.state.matched.subscribe()
    }

    /// The current REQUESTED_INCOMPATIBLE_QOS status.
    pub fn requested_incompatible_qos_status(&self) -> IncompatibleQosStatus {
        *self.state.incompatible.borrow()
    }

    /// A watch channel of REQUESTED_INCOMPATIBLE_QOS changes.
    pub fn requested_incompatible_qos_watch(&self) -> watch::Receiver<IncompatibleQosStatus> {
        self.state.incompatible.subscribe()
    }

    /// Samples dropped because their payload could not be decoded.
    pub fn undecodable_samples(&self) -> u64 {
        self.state.undecodable.load(Ordering::Relaxed)
    }
}

impl<T> Drop for DataReader<T> {
    fn drop(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: u8, valid: bool) -> Entry<u32> {
        Entry {
            data: None,
            key: KeyHash([key; 16]),
            read: false,
            valid,
            source_timestamp: None,
            reception_timestamp: Time::ZERO,
            writer: Guid::UNKNOWN,
        }
    }

    fn cache(depth: Option<usize>) -> Cache<u32> {
        Cache { entries: VecDeque::new(), instances: HashMap::new(), depth, max_samples: None }
    }

    #[test]
    fn keep_last_is_per_instance() {
        let mut c = cache(Some(2));
        for v in 0..5 {
            c.insert(ChangeKind::Alive, KeyHash([1; 16]), Some(v), entry(1, true));
        }
        c.insert(ChangeKind::Alive, KeyHash([2; 16]), Some(100), entry(2, true));
        let got: Vec<_> = c.take(usize::MAX).into_iter().map(|s| s.data).collect();
        assert_eq!(got, vec![Some(3), Some(4), Some(100)]);
    }

    #[test]
    fn states_and_dispose_key_holder() {
        let mut c = cache(None);
        c.insert(ChangeKind::Alive, KeyHash([1; 16]), Some(7), entry(1, true));
        let first = c.read();
        assert_eq!(first[0].info.sample_state, SampleState::NotRead);
        assert_eq!(first[0].info.view_state, ViewState::New);
        let again = c.read();
        assert_eq!(again[0].info.sample_state, SampleState::Read);
        assert_eq!(again[0].info.view_state, ViewState::NotNew);
        c.insert(ChangeKind::Disposed, KeyHash([1; 16]), None, entry(1, false));
        let all = c.take(usize::MAX);
        assert_eq!(all.len(), 2);
        assert!(!all[1].info.valid_data);
        assert_eq!(all[1].data, Some(7), "dispose without payload carries the instance's key holder");
        assert_eq!(all[1].info.instance_state, InstanceState::NotAliveDisposed);
        assert!(c.instances.is_empty(), "a taken, disposed instance is forgotten");
    }

    #[test]
    fn payload_versions() {
        assert_eq!(payload_version(&[0, 1, 0, 0]), XcdrVersion::V1);
        assert_eq!(payload_version(&[0, 7, 0, 0]), XcdrVersion::V2);
        assert_eq!(payload_version(&[0, 9, 0, 0]), XcdrVersion::V2);
        assert_eq!(payload_version(&[]), XcdrVersion::V1);
    }
}
