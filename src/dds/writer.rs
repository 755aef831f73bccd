//! DataWriter.

use super::cft::DDSSQL;
use super::condition::StatusCondition;
use super::participant::Shared;
use super::presentation::PublisherSets;
use super::reader::{timer_task, TimerHandle};
use super::status::{
    take_status, DeadlineMissedStatus, IncompatibleQosStatus, LivelinessLostStatus, PublicationMatchedStatus,
    StatusFlags, StatusMask,
};
use super::support::TypeSupport;
use super::DdsError;
use crate::filter::{merge_projections, projection, DynamicSample, Filter};
use crate::runtime::driver::WriterSink;
use crate::runtime::wall_clock;
use bytes::Bytes;
use starling_proto::cdr::{version_for_representation, XcdrVersion};
use starling_proto::core::{
    ChangeKind, EndpointConfig, FastHashMap, Participant, WriteChange, WriteError, WriteErrorKind,
};
use starling_proto::discovery::ContentFilterProperty;
use starling_proto::qos::{EndpointQos, QosPolicyId};
use starling_proto::wire::types::VendorId;
use starling_proto::wire::types::{Guid, KeyHash, SampleIdentity, SequenceNumber, Time};
use starling_proto::wire::Endian;
use starling_proto::xtypes::{self, DynamicType, Projection};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// WRITER_DATA_LIFECYCLE policy (not sent in discovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterDataLifecycle {
    /// Unregistering an instance with `unregister_instance` disposes it too (default true). Deleting the writer
    /// unregisters its instances without disposing them (readers see NOT_ALIVE_NO_WRITERS), as other vendors do.
    pub autodispose_unregistered_instances: bool,
}

impl Default for WriterDataLifecycle {
    fn default() -> Self {
        WriterDataLifecycle { autodispose_unregistered_instances: true }
    }
}

/// An instance the writer has registered (written and not unregistered).
struct WriterInstance {
    /// The serialized key, for the unregister sent when the writer goes away.
    key_payload: Bytes,
    /// When it was last written (or its missed deadline counted).
    last_write: Instant,
}

struct WriterTrack {
    instances: FastHashMap<KeyHash, WriterInstance>,
}

/// Status channels of one writer, fed by the driver.
pub(crate) struct WriterState {
    matched: watch::Sender<PublicationMatchedStatus>,
    incompatible: watch::Sender<IncompatibleQosStatus>,
    deadline_missed: watch::Sender<DeadlineMissedStatus>,
    liveliness_lost: watch::Sender<LivelinessLostStatus>,
    pub(crate) flags: Arc<StatusFlags>,
    track: Mutex<WriterTrack>,
    timer: Arc<TimerHandle>,
    deadline: Option<Duration>,
    autodispose: AtomicBool,
}

impl WriterState {
    fn lock(&self) -> MutexGuard<'_, WriterTrack> {
        self.track.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deadline checks; returns when to run them next (liveliness is the core's).
    fn tick(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut due = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        let mut missed = Vec::new();
        {
            let mut t = self.lock();
            if let Some(period) = self.deadline {
                for (k, i) in t.instances.iter_mut() {
                    if now >= i.last_write + period {
                        missed.push(*k);
                        i.last_write = now;
                    }
                    due(i.last_write + period);
                }
                due(now + period);
            }
        }
        if !missed.is_empty() {
            self.deadline_missed.send_modify(|s| missed.iter().for_each(|k| s.record(*k)));
            self.flags.raise(StatusMask::OFFERED_DEADLINE_MISSED);
        }
        next
    }
}

impl WriterSink for WriterState {
    fn on_matched(&self, reader: Guid, matched: bool, current_count: u32) {
        self.matched.send_modify(|s| {
            if matched {
                s.total_count += 1;
            }
            s.current_count = current_count;
            s.last_subscription_handle = Some(reader);
        });
        self.flags.raise(StatusMask::PUBLICATION_MATCHED);
    }

    fn on_incompatible(&self, reader: Guid, policy: QosPolicyId) {
        self.incompatible.send_modify(|s| s.record(reader, policy));
        self.flags.raise(StatusMask::OFFERED_INCOMPATIBLE_QOS);
    }

    fn on_liveliness_lost(&self) {
        self.liveliness_lost.send_modify(|s| {
            s.total_count += 1;
            s.total_count_change += 1;
        });
        self.flags.raise(StatusMask::LIVELINESS_LOST);
    }
}

/// A matched reader's announced filter and, when it compiles here, the filter and the members it names.
type ReaderFilter = (ContentFilterProperty, Option<(Filter, Projection)>);

/// Writer-side content filtering: the compiled filters of the matched Starling readers that announced one.
struct SourceFilter {
    topic: String,
    ty: DynamicType,
    /// Each reader's announced filter, compiled (`None`: it does not compile here, so the reader gets everything).
    cache: Mutex<FastHashMap<Guid, ReaderFilter>>,
}

impl SourceFilter {
    /// The matched readers whose content filter the encapsulated sample does not pass. Only Starling readers
    /// with a DDSSQL filter on this topic are considered; the sample is decoded once, and only when one of
    /// them exists.
    fn left_out(&self, core: &Participant, writer: Guid, payload: &[u8]) -> Vec<Guid> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut readers: Vec<Guid> = Vec::new();
        for d in core.matched_filtered_readers(writer) {
            let Some(cf) = &d.content_filter else { continue };
            if d.vendor_id != VendorId::STARLING
                || !cf.filter_class_name.eq_ignore_ascii_case(DDSSQL)
                || cf.related_topic_name != self.topic
            {
                continue;
            }
            let compile = |cf: &ContentFilterProperty| {
                Filter::with_parameters(&cf.filter_expression, &cf.expression_parameters)
                    .map_err(|e| tracing::debug!(reader = %d.guid, "cannot filter for this reader: {e}"))
                    .ok()
                    .map(|f| {
                        let p = projection(&self.ty, &f);
                        (f, p)
                    })
            };
            let entry = cache.entry(d.guid).or_insert_with(|| (cf.clone(), compile(cf)));
            if entry.0 != *cf {
                *entry = (cf.clone(), compile(cf));
            }
            if entry.1.is_some() {
                readers.push(d.guid);
            }
        }
        let mut out = Vec::new();
        if !readers.is_empty() {
            // One decode for all of them, of the members any of their filters names.
            let filters: Vec<(Guid, &(Filter, Projection))> =
                readers.iter().filter_map(|g| cache.get(g).and_then(|e| e.1.as_ref()).map(|f| (*g, f))).collect();
            let merged = filters.iter().fold(Projection::default(), |p, (_, f)| merge_projections(p, f.1.clone()));
            if let Ok(value) = xtypes::decode_projected(&self.ty, payload, &merged) {
                let sample = DynamicSample::new(&self.ty, &value);
                out.extend(filters.iter().filter(|(_, f)| !f.0.matches(&sample)).map(|(g, _)| *g));
            }
        }
        // Forget readers that went away.
        if cache.len() > 2 * readers.len() + 16 {
            cache.clear();
        }
        out
    }
}

/// What a new writer's history starts with (the durability service's writers): `changes`, served to no
/// reader of `no_history_for` (they already have them).
#[derive(Default)]
pub(crate) struct Preload {
    pub changes: Vec<WriteChange>,
    pub no_history_for: Vec<Guid>,
    /// A relaying writer (see `Participant::set_relay_history` in the core): whether readers that do not drop
    /// relayed duplicates get the history.
    pub relay_for_others: Option<bool>,
}

/// Writes samples of type `T` on one topic.
pub struct DataWriter<T> {
    shared: Arc<Shared>,
    guid: Guid,
    topic: String,
    qos: EndpointQos,
    representation: i16,
    version: XcdrVersion,
    state: Arc<WriterState>,
    size_hint: AtomicUsize,
    batching: AtomicBool,
    support: Arc<dyn TypeSupport<T>>,
    /// The publisher's coherent sets, for a writer with PRESENTATION coherent_access.
    sets: Option<Arc<PublisherSets>>,
    /// `None` for types without a dynamic description (they cannot evaluate filters).
    source_filter: Option<SourceFilter>,
}

impl<T> std::fmt::Debug for DataWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataWriter").field("guid", &self.guid).field("topic", &self.topic).finish()
    }
}

impl<T: Send + Sync + 'static> DataWriter<T> {
    /// Creates a writer whose history starts with `preload` (empty for a plain writer) and is served to no
    /// reader of `no_history_for` (see `Participant::create_writer_preloaded` in the core).
    pub(crate) fn create_preloaded(
        shared: Arc<Shared>,
        topic: &str,
        type_name: &str,
        qos: EndpointQos,
        support: Arc<dyn TypeSupport<T>>,
        preload: Preload,
        publisher: &Arc<PublisherSets>,
    ) -> Result<Self, DdsError> {
        // The publisher's coherent sets (writers with coherent access take part) and group GUID.
        let sets = qos.presentation.coherent_access.then(|| publisher.clone());
        let group = publisher.group.get().copied();
        if shared.inner.is_closed() {
            return Err(DdsError::Closed);
        }
        let representation = qos.writer_representation();
        let version = version_for_representation(representation).map_err(|e| DdsError::Encode(e.into()))?;
        let timer = Arc::new(TimerHandle::default());
        let state = Arc::new(WriterState {
            matched: watch::channel(PublicationMatchedStatus::default()).0,
            incompatible: watch::channel(IncompatibleQosStatus::default()).0,
            deadline_missed: watch::channel(DeadlineMissedStatus::default()).0,
            liveliness_lost: watch::channel(LivelinessLostStatus::default()).0,
            flags: Arc::new(StatusFlags::new()),
            track: Mutex::new(WriterTrack { instances: FastHashMap::default() }),
            timer: timer.clone(),
            deadline: qos.deadline.to_std().filter(|d| !d.is_zero()),
            autodispose: AtomicBool::new(true),
        });
        let desc = EndpointConfig {
            topic_name: topic.to_string(),
            type_name: type_name.to_string(),
            keyed: support.is_keyed(),
            qos: qos.clone(),
            type_information: None,
            content_filter: None,
            group,
        };
        let announcement = super::type_announcement(support.dynamic_type(), type_name);
        let mut desc = desc;
        desc.type_information = announcement.as_ref().map(|a| a.bytes.clone());
        let sink: Arc<dyn WriterSink> = state.clone();
        let writer_qos = qos.clone();
        let guid = shared.inner.call(
            |core, now| {
                if let Some(a) = announcement {
                    core.register_type(&a.info, a.objects);
                }
                let relay = preload.relay_for_others.map(|o| (o, preload.no_history_for.clone()));
                let guid = core.create_writer_preloaded(now, desc, preload.changes, preload.no_history_for);
                if let Some((others, no_history_for)) = relay {
                    core.set_relay_history(guid, others, no_history_for);
                }
                guid
            },
            |table, guid| {
                table.writers.insert(*guid, sink);
                table.writer_qos.insert(*guid, writer_qos);
            },
        );
        if let Some(sets) = &sets {
            if sets.add_writer(guid) {
                // The publisher is inside a coherent set: this writer joins it.
                shared.inner.call(|core, _| core.begin_coherent_set(guid), |_, _| {});
            }
        }
        shared.inner.raise_transport_priority(qos.transport_priority);
        if state.deadline.is_some() {
            shared.handle.spawn(timer_task(Arc::downgrade(&state), timer, WriterState::tick));
        }
        Ok(DataWriter {
            shared,
            guid,
            topic: topic.to_string(),
            qos,
            representation,
            version,
            state,
            size_hint: AtomicUsize::new(64),
            batching: AtomicBool::new(false),
            source_filter: support.dynamic_type().map(|ty| SourceFilter {
                topic: topic.to_string(),
                ty,
                cache: Mutex::new(FastHashMap::default()),
            }),
            support,
            sets,
        })
    }

    /// This writer's GUID.
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

    /// Sets WRITER_DATA_LIFECYCLE.
    pub fn set_writer_data_lifecycle(&self, lifecycle: WriterDataLifecycle) {
        self.state.autodispose.store(lifecycle.autodispose_unregistered_instances, Ordering::Release);
    }

    /// Turns write batching on or off (default off).
    ///
    /// With batching, a write sends only datagrams that are full and leaves
    /// the last one open, so that the next writes add their samples to it:
    /// many small samples then share a datagram (and a system call). The
    /// open datagram goes out when it fills, on [`DataWriter::flush`], with
    /// any other activity of the participant, or at the latest about 200 µs
    /// later. Turning batching off flushes.
    pub fn set_batching(&self, on: bool) {
        self.batching.store(on, Ordering::Release);
        if !on {
            self.flush();
        }
    }

    /// Sends whatever batched writes left in a partly filled datagram.
    pub fn flush(&self) {
        if !self.shared.inner.is_closed() {
            self.shared.inner.call(|_, _| (), |_, _| {});
        }
    }

    /// Writes a sample, stamped with the current time.
    ///
    /// Never blocks (so it can be called from async code): a KEEP_ALL writer
    /// whose history is full (RESOURCE_LIMITS.max_samples) fails at once with
    /// [`DdsError::Write`] of kind `HistoryFull`, handing the change back; use
    /// [`DataWriter::write_async`] to wait for acknowledgements to free space.
    pub fn write(&self, sample: &T) -> Result<SequenceNumber, DdsError> {
        self.write_change(ChangeKind::Alive, sample, wall_clock())
    }

    /// Writes a sample, waiting up to RELIABILITY.max_blocking_time for room
    /// in a full KEEP_ALL history; then fails with [`DdsError::WriteTimeout`],
    /// which hands the change back.
    pub async fn write_async(&self, sample: &T) -> Result<SequenceNumber, DdsError> {
        let mut change = self.prepare(ChangeKind::Alive, sample, wall_clock())?;
        let mut progress = self.shared.inner.progress();
        let max = self.qos.reliability.max_blocking_time.to_std().unwrap_or(Duration::from_secs(24 * 3600));
        let deadline = tokio::time::Instant::now() + max;
        loop {
            match self.submit(change) {
                Ok(sn) => return Ok(sn),
                Err(DdsError::Write(e)) if e.kind == WriteErrorKind::HistoryFull => change = e.change,
                Err(e) => return Err(e),
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(DdsError::Closed),
                Err(_) => {
                    return Err(DdsError::WriteTimeout(Box::new(WriteError {
                        kind: WriteErrorKind::HistoryFull,
                        change,
                    })))
                }
            }
        }
    }

    /// Blocking form of [`DataWriter::write_async`].
    pub fn write_blocking(&self, sample: &T) -> Result<SequenceNumber, DdsError> {
        self.shared.block_on(self.write_async(sample))
    }

    /// Writes a reply: a sample that answers the sample `related` (a request), as in DDS-RPC. The
    /// identity travels as inline QoS `PID_RELATED_SAMPLE_IDENTITY`, and readers see it in
    /// [`SampleInfo::related_sample_identity`](crate::dds::SampleInfo::related_sample_identity).
    /// Returns the identity of the sample written (this writer's GUID and the sequence number), which a
    /// replier in turn can match against.
    pub fn write_w_related(&self, sample: &T, related: SampleIdentity) -> Result<SampleIdentity, DdsError> {
        let mut change = self.prepare(ChangeKind::Alive, sample, wall_clock())?;
        change.related_sample_identity = Some(related);
        let sn = self.submit(change)?;
        Ok(self.sample_identity(sn))
    }

    /// The identity of the sample this writer wrote with sequence number `sn` (what
    /// [`DataWriter::write`] returns): the writer's GUID and `sn`. A request's identity, to be matched
    /// against the replies' [`SampleInfo::related_sample_identity`](crate::dds::SampleInfo::related_sample_identity).
    pub fn sample_identity(&self, sn: SequenceNumber) -> SampleIdentity {
        SampleIdentity::new(self.guid, sn)
    }

    /// Writes a sample with an explicit source timestamp.
    pub fn write_w_timestamp(&self, sample: &T, timestamp: SystemTime) -> Result<SequenceNumber, DdsError> {
        let nanos = timestamp.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        self.write_change(ChangeKind::Alive, sample, Time::from_nanos(nanos))
    }

    /// Disposes the instance whose key fields `key_holder` carries.
    pub fn dispose(&self, key_holder: &T) -> Result<SequenceNumber, DdsError> {
        self.write_change(ChangeKind::Disposed, key_holder, wall_clock())
    }

    /// Disposes the instance whose key fields `key_holder` carries, with an explicit source timestamp.
    pub fn dispose_w_timestamp(&self, key_holder: &T, timestamp: SystemTime) -> Result<SequenceNumber, DdsError> {
        let nanos = timestamp.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        self.write_change(ChangeKind::Disposed, key_holder, Time::from_nanos(nanos))
    }

    /// Unregisters the instance whose key fields `key_holder` carries (and
    /// disposes it when WRITER_DATA_LIFECYCLE.autodispose_unregistered_instances is set).
    pub fn unregister_instance(&self, key_holder: &T) -> Result<SequenceNumber, DdsError> {
        let kind = if self.state.autodispose.load(Ordering::Acquire) {
            ChangeKind::DisposedUnregistered
        } else {
            ChangeKind::Unregistered
        };
        self.write_change(kind, key_holder, wall_clock())
    }

    /// Asserts this writer's liveliness. MANUAL_BY_TOPIC: readers hear it as a
    /// HEARTBEAT with the liveliness flag. MANUAL_BY_PARTICIPANT: asserts the whole
    /// participant, as [`super::DomainParticipant::assert_liveliness`] does (a
    /// ParticipantMessageData). AUTOMATIC: nothing to do. Every write asserts too.
    pub fn assert_liveliness(&self) {
        if self.shared.inner.is_closed() {
            return;
        }
        let guid = self.guid;
        self.shared.inner.call(|core, now| core.assert_liveliness(now, guid), |_, _| {});
    }

    fn write_change(&self, kind: ChangeKind, sample: &T, ts: Time) -> Result<SequenceNumber, DdsError> {
        let change = self.prepare(kind, sample, ts)?;
        self.submit(change)
    }

    fn prepare(&self, kind: ChangeKind, sample: &T, ts: Time) -> Result<WriteChange, DdsError> {
        let key =
            if self.support.is_keyed() { self.support.key_hash(sample, self.version) } else { KeyHash::default() };
        // The buffer becomes the change's payload: a pooled one of the previous sample's size, which the
        // writer's history gives back when it drops the change (no allocation for samples of a fixed size).
        let pool = self.shared.inner.pool();
        let mut buf = pool.take(self.size_hint.load(Ordering::Relaxed));
        let r = if kind == ChangeKind::Alive {
            self.support.encode(sample, self.representation, Endian::Little, &mut buf)
        } else {
            self.support.encode_key(sample, self.representation, Endian::Little, &mut buf)
        };
        r.map_err(DdsError::Encode)?;
        if kind == ChangeKind::Alive {
            self.size_hint.store(buf.len(), Ordering::Relaxed);
            // Remember the key of a new instance, for the unregister on drop.
            if !self.state.lock().instances.contains_key(&key) {
                let mut kb = Vec::new();
                self.support
                    .encode_key(sample, self.representation, Endian::Little, &mut kb)
                    .map_err(DdsError::Encode)?;
                self.state
                    .lock()
                    .instances
                    .insert(key, WriterInstance { key_payload: kb.into(), last_write: Instant::now() });
                self.state.timer.wake();
            }
        }
        Ok(WriteChange {
            kind,
            key_hash: key,
            payload: Bytes::from(buf),
            source_timestamp: Some(ts),
            related_sample_identity: None,
            original_writer: None,
        })
    }

    fn submit(&self, change: WriteChange) -> Result<SequenceNumber, DdsError> {
        if self.shared.inner.is_closed() {
            return Err(DdsError::Closed);
        }
        let (kind, key) = (change.kind, change.key_hash);
        let guid = self.guid;
        let batch = self.batching.load(Ordering::Relaxed);
        let filter = self.source_filter.as_ref().filter(|_| kind == ChangeKind::Alive);
        let sn = self
            .shared
            .inner
            .call_write(batch, guid, |core, now| {
                let left_out = filter.map(|f| f.left_out(core, guid, &change.payload)).unwrap_or_default();
                core.write_filtered(now, guid, change, left_out)
            })
            .map_err(Box::new)?;
        let now = Instant::now();
        {
            let mut t = self.state.lock();
            match kind {
                ChangeKind::Alive | ChangeKind::Disposed => {
                    if let Some(i) = t.instances.get_mut(&key) {
                        i.last_write = now;
                    }
                }
                ChangeKind::Unregistered | ChangeKind::DisposedUnregistered => {
                    t.instances.remove(&key);
                }
            }
        }
        Ok(sn)
    }

    /// Samples not sent to a matched reader because they do not pass the content filter it announced (one
    /// per sample and reader): writer-side filtering for Starling readers on a
    /// [`ContentFilteredTopic`](super::ContentFilteredTopic).
    pub fn filtered_sample_count(&self) -> u64 {
        self.shared.inner.inspect(|c| c.samples_filtered(self.guid))
    }

    /// True when every matched reliable reader acknowledged everything written.
    pub fn is_acked_by_all(&self) -> bool {
        self.shared.inner.inspect(|c| c.is_acked_by_all(self.guid))
    }

    /// Waits until every matched reliable reader acknowledged everything written.
    pub async fn wait_for_acknowledgments(&self, timeout: Duration) -> Result<(), DdsError> {
        let mut progress = self.shared.inner.progress();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_acked_by_all() {
                return Ok(());
            }
            if self.shared.inner.is_closed() {
                return Err(DdsError::Closed);
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(DdsError::Closed),
                Err(_) => return Err(DdsError::Timeout),
            }
        }
    }

    /// Blocking form of [`DataWriter::wait_for_acknowledgments`].
    pub fn wait_for_acknowledgments_blocking(&self, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_acknowledgments(timeout))
    }

    /// For a relaying writer (the durability service's): whether readers of other vendors get its history
    /// from now on, except those of `no_history_for`.
    pub(crate) fn set_relay_history(&self, for_others: bool, no_history_for: Vec<Guid>) {
        let guid = self.guid();
        self.shared.inner.call(move |core, _| core.set_relay_history(guid, for_others, no_history_for), |_, _| {});
    }

    /// Waits until at least `n` readers are matched.
    pub async fn wait_for_subscribers(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        let mut rx = self.state.matched.subscribe();
        let r = tokio::time::timeout(timeout, rx.wait_for(|s| s.current_count >= n)).await.map(|r| r.map(|_| ()));
        match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(DdsError::Closed),
            Err(_) => Err(DdsError::Timeout),
        }
    }

    /// Blocking form of [`DataWriter::wait_for_subscribers`].
    pub fn wait_for_subscribers_blocking(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_subscribers(n, timeout))
    }

    /// The current PUBLICATION_MATCHED status.
    pub fn publication_matched_status(&self) -> PublicationMatchedStatus {
        self.state.flags.clear(StatusMask::PUBLICATION_MATCHED);
        *self.state.matched.borrow()
    }

    /// A watch channel that sees every change of the PUBLICATION_MATCHED status; its first `changed()` also reports a change made before it was taken.
    pub fn publication_matched_watch(&self) -> watch::Receiver<PublicationMatchedStatus> {
        super::status::status_watch(&self.state.matched)
    }

    /// The current OFFERED_INCOMPATIBLE_QOS status.
    pub fn offered_incompatible_qos_status(&self) -> IncompatibleQosStatus {
        self.state.flags.clear(StatusMask::OFFERED_INCOMPATIBLE_QOS);
        *self.state.incompatible.borrow()
    }

    /// A watch channel of OFFERED_INCOMPATIBLE_QOS changes; its first `changed()` also reports a change made before it was taken.
    pub fn offered_incompatible_qos_watch(&self) -> watch::Receiver<IncompatibleQosStatus> {
        super::status::status_watch(&self.state.incompatible)
    }
}

impl<T: Send + Sync + 'static> DataWriter<T> {
    /// Instances this writer has registered (written and not unregistered).
    pub fn registered_instances(&self) -> Vec<KeyHash> {
        self.state.lock().instances.keys().copied().collect()
    }

    /// The OFFERED_DEADLINE_MISSED status (reading it resets `total_count_change`).
    pub fn offered_deadline_missed_status(&self) -> DeadlineMissedStatus {
        self.state.flags.clear(StatusMask::OFFERED_DEADLINE_MISSED);
        take_status(&self.state.deadline_missed, |s| s.total_count_change = 0)
    }

    /// A watch channel of OFFERED_DEADLINE_MISSED changes; its first `changed()` also reports a change made before it was taken.
    pub fn offered_deadline_missed_watch(&self) -> watch::Receiver<DeadlineMissedStatus> {
        super::status::status_watch(&self.state.deadline_missed)
    }

    /// The LIVELINESS_LOST status (reading it resets `total_count_change`).
    pub fn liveliness_lost_status(&self) -> LivelinessLostStatus {
        self.state.flags.clear(StatusMask::LIVELINESS_LOST);
        take_status(&self.state.liveliness_lost, |s| s.total_count_change = 0)
    }

    /// A watch channel of LIVELINESS_LOST changes; its first `changed()` also reports a change made before it was taken.
    pub fn liveliness_lost_watch(&self) -> watch::Receiver<LivelinessLostStatus> {
        super::status::status_watch(&self.state.liveliness_lost)
    }

    /// The StatusCondition of this writer (all statuses enabled).
    pub fn status_condition(&self) -> StatusCondition {
        StatusCondition::new(self.state.flags.clone())
    }
}

impl<T> Drop for DataWriter<T> {
    fn drop(&mut self) {
        self.state.timer.close();
        if let Some(sets) = &self.sets {
            sets.remove_writer(self.guid);
        }
        if self.shared.inner.is_closed() {
            return;
        }
        let guid = self.guid;
        // Unregister every instance still registered, without disposing it, whatever autodispose says: readers
        // then see NOT_ALIVE_NO_WRITERS once no other writer has the instance, as with Cyclone DDS and RTI Connext
        // (the OMG interoperability suite's FinalInstanceState test expects this of a plain deletion).
        // Autodispose applies to explicit `unregister_instance` calls.
        let kind = ChangeKind::Unregistered;
        let instances: Vec<(KeyHash, Bytes)> =
            self.state.lock().instances.drain().map(|(k, i)| (k, i.key_payload)).collect();
        let ts = wall_clock();
        self.shared.inner.call(
            |core, now| {
                for (key_hash, payload) in instances {
                    let change = WriteChange {
                        kind,
                        key_hash,
                        payload,
                        source_timestamp: Some(ts),
                        related_sample_identity: None,
                        original_writer: None,
                    };
                    if let Err(e) = core.write(now, guid, change) {
                        tracing::debug!(%guid, "unregister on delete failed: {e}");
                    }
                }
                core.delete_writer(now, guid)
            },
            |table, _| {
                table.writers.remove(&guid);
                table.writer_qos.remove(&guid);
            },
        );
    }
}
