//! DataReader with a per-instance history cache.

use super::cft::CftState;
use super::condition::{ReadCondition, StateMask, StatusCondition};
use super::participant::Shared;
use super::presentation::{AccessGate, GroupMember};
use super::status::{
    take_status, DeadlineMissedStatus, IncompatibleQosStatus, LivelinessChangedStatus, SampleLostStatus,
    SampleRejectedReason, SampleRejectedStatus, StatusFlags, StatusMask, SubscriptionMatchedStatus,
};
use super::support::TypeSupport;
use super::DdsError;
use crate::runtime::driver::{defer_listener, Deferred, ReaderSink};
use crate::runtime::wall_clock;
use starling_proto::cdr::{split_encapsulation, XcdrVersion};
use starling_proto::core::{ChangeKind, EndpointConfig, ReceivedSample};
use starling_proto::core::{FastHashMap as HashMap, FastHashSet as HashSet};
use starling_proto::qos::{
    AccessScope, DestinationOrderKind, EndpointQos, History, OwnershipKind, QosPolicyId, ReliabilityKind,
};
use starling_proto::wire::types::{Guid, KeyHash, SampleIdentity, SequenceNumber, Time};
use starling_proto::FastHashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

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

struct Entry<T> {
    data: Option<T>,
    key: KeyHash,
    read: bool,
    valid: bool,
    source_timestamp: Option<Time>,
    reception_timestamp: Time,
    writer: Guid,
    /// Wall-clock nanoseconds after which the sample is dropped (LIFESPAN).
    expires: Option<u64>,
    /// The writer's sequence number (0 if none).
    seq: i64,
    /// The sample this one answers (request/reply), if the writer sent one.
    related: Option<SampleIdentity>,
    /// The group sequence number (writers with GROUP access scope).
    group_seq: Option<i64>,
    /// The original writer and sequence number of a relayed sample.
    original: Option<SampleIdentity>,
}

struct Instance<T> {
    state: InstanceState,
    view: ViewState,
    key_holder: Option<T>,
    count: usize,
    /// Writers that wrote the instance and have not unregistered it (nor unmatched).
    writers: HashSet<Guid>,
    /// EXCLUSIVE ownership: the owner and its strength.
    owner: Option<(Guid, i32)>,
    /// TIME_BASED_FILTER: when the last sample was kept.
    last_kept: Option<Instant>,
    /// BY_SOURCE_TIMESTAMP: the newest source timestamp kept.
    newest_source: Option<Time>,
    /// DEADLINE: when the last sample arrived (or the last miss was counted).
    last_sample: Instant,
    /// When the instance stopped being alive (autopurge).
    not_alive_since: Option<Instant>,
}

/// What the reader knows about a matched writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WriterInfo {
    /// OWNERSHIP_STRENGTH.
    pub(crate) strength: i32,
    /// LIFESPAN (`None`: infinite).
    pub(crate) lifespan: Option<Duration>,
}

/// The reader policies the cache applies.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CachePolicies {
    /// KEEP_LAST depth (already capped by max_samples_per_instance); `None` for KEEP_ALL.
    pub(crate) depth: Option<usize>,
    pub(crate) max_samples: Option<usize>,
    pub(crate) max_instances: Option<usize>,
    pub(crate) max_per_instance: Option<usize>,
    pub(crate) min_separation: Option<Duration>,
    pub(crate) by_source_timestamp: bool,
    pub(crate) exclusive: bool,
    pub(crate) deadline: Option<Duration>,
    pub(crate) purge_nowriter: Option<Duration>,
    pub(crate) purge_disposed: Option<Duration>,
    /// PRESENTATION ordered_access with INSTANCE scope: read and take return the samples instance by
    /// instance (each in order); otherwise they come in the order they arrived, which is the writer's order
    /// across instances (TOPIC and GROUP scope).
    pub(crate) by_instance: bool,
}

impl CachePolicies {
    pub(crate) fn from_qos(qos: &EndpointQos) -> Self {
        let limit = |v: i32| usize::try_from(v).ok().filter(|m| *m > 0);
        let max_per_instance = limit(qos.resource_limits.max_samples_per_instance);
        let depth = match qos.history {
            History::KeepLast(d) => {
                let d = usize::try_from(d).unwrap_or(1).max(1);
                Some(max_per_instance.map_or(d, |m| m.min(d)))
            }
            History::KeepAll => None,
        };
        CachePolicies {
            depth,
            max_samples: limit(qos.resource_limits.max_samples),
            max_instances: limit(qos.resource_limits.max_instances),
            max_per_instance,
            min_separation: qos.time_based_filter.to_std().filter(|d| !d.is_zero()),
            by_source_timestamp: qos.destination_order == DestinationOrderKind::BySourceTimestamp,
            exclusive: qos.ownership == OwnershipKind::Exclusive,
            deadline: qos.deadline.to_std().filter(|d| !d.is_zero()),
            purge_nowriter: None,
            purge_disposed: None,
            by_instance: qos.presentation.ordered_access && qos.presentation.access_scope == AccessScope::Instance,
        }
    }
}

/// What became of a received sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored in the cache (or changed an instance's state visibly).
    Stored,
    /// Dropped by a policy (time-based filter, ownership, destination order, a no-op unregister).
    Dropped,
    /// Its lifespan had expired on arrival.
    Expired,
    /// Did not fit the resource limits.
    Rejected(SampleRejectedReason),
}

/// What a timer run found.
#[derive(Debug, Default)]
pub(crate) struct TickResult {
    pub(crate) deadline_missed: Vec<KeyHash>,
    pub(crate) purged: bool,
    pub(crate) next: Option<Instant>,
}

pub(crate) struct Cache<T> {
    entries: VecDeque<Entry<T>>,
    instances: FastHashMap<KeyHash, Instance<T>>,
    pub(crate) policies: CachePolicies,
    /// Matched writers.
    writers: FastHashMap<Guid, WriterInfo>,
    /// Matched writers whose liveliness lease ran out (LIVELINESS).
    not_alive: HashSet<Guid>,
    /// The last sequence number received from each writer (gap detection).
    last_sn: FastHashMap<Guid, i64>,
    /// The highest sequence number delivered per original writer (directly or relayed by a durability service).
    delivered: FastHashMap<Guid, i64>,
}

impl<T: Clone> Cache<T> {
    pub(crate) fn new(policies: CachePolicies) -> Self {
        Cache {
            entries: VecDeque::new(),
            instances: HashMap::default(),
            policies,
            writers: HashMap::default(),
            not_alive: HashSet::default(),
            last_sn: HashMap::default(),
            delivered: HashMap::default(),
        }
    }

    /// Notes a sequence number from `writer`; returns how many were skipped
    /// since the previous one (none for the first, or for one out of order).
    fn note_sequence(&mut self, writer: Guid, sn: i64) -> u64 {
        let prev = self.last_sn.insert(writer, sn);
        match prev {
            Some(p) if sn > p + 1 => u64::try_from(sn - p - 1).unwrap_or(0),
            Some(p) if sn <= p => {
                self.last_sn.insert(writer, p);
                0
            }
            _ => 0,
        }
    }

    /// Adds a change from `writer`, received now (built-in topics use this).
    pub(crate) fn push(&mut self, kind: ChangeKind, key: KeyHash, data: Option<T>, writer: Guid) -> bool {
        let wall = wall_clock();
        let entry = Entry {
            data: None,
            key,
            read: false,
            valid: kind == ChangeKind::Alive,
            source_timestamp: Some(wall),
            reception_timestamp: wall,
            writer,
            expires: None,
            seq: 0,
            related: None,
            group_seq: None,
            original: None,
        };
        self.insert(kind, key, data, entry, Instant::now()) == Outcome::Stored
    }

    /// A writer matched.
    pub(crate) fn add_writer(&mut self, writer: Guid, info: WriterInfo) {
        self.writers.insert(writer, info);
    }

    /// Adds a sample or lifecycle change received at `now` (`wall`: the wall clock in nanoseconds).
    fn insert(&mut self, kind: ChangeKind, key: KeyHash, data: Option<T>, entry: Entry<T>, now: Instant) -> Outcome {
        let p = self.policies;
        let info = self.writers.get(&entry.writer).copied().unwrap_or_default();
        let w = entry.writer;
        let alive = kind == ChangeKind::Alive;
        // Resource limits are checked before anything changes.
        let existing = self.instances.get(&key).map(|i| i.count);
        if existing.is_none() && p.max_instances.is_some_and(|m| self.instances.len() >= m) {
            // Forget an instance that holds nothing and is not alive, if there is one.
            let idle = self.instances.iter().find(|(_, i)| i.count == 0 && i.state != InstanceState::Alive);
            match idle.map(|(k, _)| *k) {
                Some(k) => {
                    self.instances.remove(&k);
                }
                None => return Outcome::Rejected(SampleRejectedReason::InstancesLimit),
            }
        }
        if alive && p.depth.is_none() {
            let count = existing.unwrap_or(0);
            if p.max_per_instance.is_some_and(|m| count >= m) {
                return Outcome::Rejected(SampleRejectedReason::SamplesPerInstanceLimit);
            }
            if p.max_samples.is_some_and(|m| self.entries.len() >= m) {
                return Outcome::Rejected(SampleRejectedReason::SamplesLimit);
            }
        }
        let inst = self.instances.entry(key).or_insert_with(|| Instance {
            state: InstanceState::Alive,
            view: ViewState::New,
            key_holder: None,
            count: 0,
            writers: HashSet::default(),
            owner: None,
            last_kept: None,
            newest_source: None,
            last_sample: now,
            not_alive_since: None,
        });
        let unregisters = matches!(kind, ChangeKind::Unregistered | ChangeKind::DisposedUnregistered);
        if p.exclusive {
            match inst.owner {
                Some((o, _)) if o == w => {}
                Some((o, os)) if info.strength > os || (info.strength == os && w < o) => {
                    inst.owner = Some((w, info.strength));
                }
                Some(_) => {
                    // Not the owner: its samples are not delivered, but it counts as a live writer.
                    if alive {
                        inst.writers.insert(w);
                    } else if unregisters {
                        inst.writers.remove(&w);
                    }
                    return Outcome::Dropped;
                }
                None => inst.owner = Some((w, info.strength)),
            }
        }
        if p.by_source_timestamp && kind != ChangeKind::Unregistered {
            if let (Some(ts), Some(newest)) = (entry.source_timestamp, inst.newest_source) {
                if ts < newest {
                    return Outcome::Dropped;
                }
            }
            if entry.source_timestamp.is_some() {
                inst.newest_source = entry.source_timestamp;
            }
        }
        if alive {
            inst.writers.insert(w);
            inst.last_sample = now;
            if let (Some(min), Some(last)) = (p.min_separation, inst.last_kept) {
                if inst.state == InstanceState::Alive && now.saturating_duration_since(last) < min {
                    return Outcome::Dropped;
                }
            }
            inst.last_kept = Some(now);
        }
        match kind {
            ChangeKind::Alive => {
                if inst.state != InstanceState::Alive {
                    inst.state = InstanceState::Alive;
                    inst.view = ViewState::New;
                    inst.not_alive_since = None;
                }
            }
            ChangeKind::Disposed | ChangeKind::DisposedUnregistered => {
                if unregisters {
                    inst.writers.remove(&w);
                    if inst.owner.is_some_and(|(o, _)| o == w) {
                        inst.owner = None;
                    }
                }
                if inst.state == InstanceState::NotAliveDisposed {
                    // Already disposed (e.g. the writer's unregister-on-delete disposing again): the state
                    // does not change, so the application is not told twice.
                    return Outcome::Dropped;
                }
                inst.not_alive_since = Some(now);
                inst.state = InstanceState::NotAliveDisposed;
            }
            ChangeKind::Unregistered => {
                inst.writers.remove(&w);
                if inst.owner.is_some_and(|(o, _)| o == w) {
                    inst.owner = None;
                }
                if inst.state != InstanceState::Alive || !inst.writers.is_empty() {
                    // Other writers keep the instance alive: nothing to tell the application.
                    return Outcome::Dropped;
                }
                inst.state = InstanceState::NotAliveNoWriters;
                inst.not_alive_since = Some(now);
            }
        }
        if inst.key_holder.is_none() {
            inst.key_holder = data.clone();
        }
        let data = if entry.valid { data } else { data.or_else(|| inst.key_holder.clone()) };
        if !alive && p.depth.is_none() && p.max_samples.is_some_and(|m| self.entries.len() >= m) {
            // KEEP_ALL and full: the state changed, but there is no room for the notification.
            return Outcome::Stored;
        }
        self.store(Entry { data, ..entry });
        Outcome::Stored
    }

    /// Appends an entry, evicting (KEEP_LAST) what exceeds the depth and the sample limit.
    fn store(&mut self, entry: Entry<T>) {
        let key = entry.key;
        let Some(inst) = self.instances.get_mut(&key) else { return };
        inst.count += 1;
        let over_depth = self.policies.depth.is_some_and(|d| inst.count > d);
        self.entries.push_back(entry);
        if over_depth {
            if let Some(pos) = self.entries.iter().position(|e| e.key == key) {
                self.remove_at(pos);
            }
        }
        while self.policies.max_samples.is_some_and(|m| self.entries.len() > m) {
            self.remove_at(0);
        }
    }

    fn remove_at(&mut self, pos: usize) -> Option<Entry<T>> {
        let e = self.entries.remove(pos)?;
        if let Some(i) = self.instances.get_mut(&e.key) {
            i.count -= 1;
        }
        Some(e)
    }

    /// A writer unmatched (or its participant was lost): instances it alone
    /// kept alive become NOT_ALIVE_NO_WRITERS; ownership it held passes to the
    /// strongest other writer of the instance. Returns true when the cache
    /// changed, and whether the writer was alive.
    fn remove_writer(&mut self, writer: Guid, now: Instant, wall: Time) -> (bool, bool) {
        let changed = self.release_writer(writer, now, wall);
        self.writers.remove(&writer);
        self.last_sn.remove(&writer);
        (changed, !self.not_alive.remove(&writer))
    }

    /// A matched writer's liveliness changed. Losing it is, for its instances,
    /// like an unregister: those it alone kept alive become NOT_ALIVE_NO_WRITERS
    /// and exclusive ownership fails over to the strongest alive writer; once alive
    /// again, its next samples register the instances again. Returns whether the
    /// writer's state changed, and whether the cache did.
    pub(crate) fn set_writer_liveliness(
        &mut self,
        writer: Guid,
        alive: bool,
        now: Instant,
        wall: Time,
    ) -> (bool, bool) {
        if !self.writers.contains_key(&writer) {
            return (false, false);
        }
        if alive {
            return (self.not_alive.remove(&writer), false);
        }
        if !self.not_alive.insert(writer) {
            return (false, false);
        }
        (true, self.release_writer(writer, now, wall))
    }

    /// Drops `writer` from every instance (see [`Cache::remove_writer`]); true when the cache changed.
    fn release_writer(&mut self, writer: Guid, now: Instant, wall: Time) -> bool {
        let mut notify = Vec::new();
        let (writers, not_alive) = (&self.writers, &self.not_alive);
        for (k, inst) in self.instances.iter_mut() {
            let registered = inst.writers.remove(&writer);
            if inst.owner.is_some_and(|(o, _)| o == writer) {
                // The strongest alive writer that still has the instance takes over (ties: the smaller GUID).
                inst.owner = inst
                    .writers
                    .iter()
                    .filter(|w| !not_alive.contains(w))
                    .map(|w| (*w, writers.get(w).map_or(0, |i| i.strength)))
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            }
            if registered && inst.writers.is_empty() && inst.state == InstanceState::Alive {
                inst.state = InstanceState::NotAliveNoWriters;
                inst.not_alive_since = Some(now);
                notify.push((*k, inst.key_holder.clone()));
            }
        }
        let changed = !notify.is_empty();
        for (key, data) in notify {
            if self.policies.depth.is_none() && self.policies.max_samples.is_some_and(|m| self.entries.len() >= m) {
                continue;
            }
            self.store(Entry {
                data,
                key,
                read: false,
                valid: false,
                source_timestamp: None,
                reception_timestamp: wall,
                writer,
                expires: None,
                seq: 0,
                related: None,
                group_seq: None,
                original: None,
            });
        }
        changed
    }

    /// Runs the deadline and autopurge checks.
    fn tick(&mut self, now: Instant) -> TickResult {
        let p = self.policies;
        let mut r = TickResult::default();
        let mut next: Option<Instant> = None;
        let mut due = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        let mut purge = Vec::new();
        for (k, inst) in self.instances.iter_mut() {
            if let Some(period) = p.deadline {
                if inst.state == InstanceState::Alive {
                    if now >= inst.last_sample + period {
                        r.deadline_missed.push(*k);
                        inst.last_sample = now;
                    }
                    due(inst.last_sample + period);
                }
            }
            let delay = match inst.state {
                InstanceState::NotAliveNoWriters => p.purge_nowriter,
                InstanceState::NotAliveDisposed => p.purge_disposed,
                InstanceState::Alive => None,
            };
            if let (Some(delay), Some(since)) = (delay, inst.not_alive_since) {
                if now >= since + delay {
                    purge.push(*k);
                } else {
                    due(since + delay);
                }
            }
        }
        // Anything that starts after this run is due no sooner than the shortest period from now.
        for d in [p.deadline, p.purge_nowriter, p.purge_disposed].into_iter().flatten() {
            due(now + d);
        }
        if !purge.is_empty() {
            r.purged = true;
            self.entries.retain(|e| !purge.contains(&e.key));
            for k in &purge {
                self.instances.remove(k);
            }
        }
        r.next = next;
        r
    }

    /// Drops samples whose lifespan ended before `wall` (nanoseconds).
    fn expire(&mut self, wall: u64) {
        if !self.entries.iter().any(|e| e.expires.is_some_and(|x| x <= wall)) {
            return;
        }
        let instances = &mut self.instances;
        self.entries.retain(|e| {
            let keep = e.expires.is_none_or(|x| x > wall);
            if !keep {
                if let Some(i) = instances.get_mut(&e.key) {
                    i.count -= 1;
                }
            }
            keep
        });
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
            sequence_number: e.seq,
            related_sample_identity: e.related,
            group_sequence_number: e.group_seq,
            original_writer: e.original,
        }
    }

    /// The samples not read yet, in the order read and take visit them: each one's writer, group sequence
    /// number and reception time (for [`Subscriber::get_datareaders`](super::Subscriber::get_datareaders)).
    pub(crate) fn unread_order(&self) -> Vec<(Guid, Option<i64>, Time)> {
        self.visit_order()
            .into_iter()
            .map(|i| &self.entries[i])
            .filter(|e| !e.read && e.valid)
            .map(|e| (e.writer, e.group_seq, e.reception_timestamp))
            .collect()
    }

    fn mark_seen(&mut self, keys: impl Iterator<Item = KeyHash>) {
        for k in keys {
            if let Some(i) = self.instances.get_mut(&k) {
                i.view = ViewState::NotNew;
            }
        }
    }

    fn matches(&self, e: &Entry<T>, filter: &dyn Fn(&SampleInfo, Option<&T>) -> bool) -> bool {
        filter(&self.info(e), e.data.as_ref())
    }

    /// The order in which read and take visit the entries: arrival order, or instance by instance (instances
    /// in the order of their oldest entry) with ordered access of INSTANCE scope.
    fn visit_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        if self.policies.by_instance {
            let mut rank: HashMap<KeyHash, usize> = HashMap::default();
            for (i, e) in self.entries.iter().enumerate() {
                rank.entry(e.key).or_insert(i);
            }
            order.sort_by_key(|i| (rank.get(&self.entries[*i].key).copied().unwrap_or(*i), *i));
        }
        order
    }

    /// Copies of the samples `filter` accepts, marked read afterwards.
    pub(crate) fn read_where(&mut self, filter: &dyn Fn(&SampleInfo, Option<&T>) -> bool) -> Vec<Sample<T>> {
        let mut out = Vec::new();
        for i in self.visit_order() {
            let e = &self.entries[i];
            if self.matches(e, filter) {
                out.push(Sample { data: e.data.clone(), info: self.info(e) });
                self.entries[i].read = true;
            }
        }
        self.mark_seen(out.iter().map(|s| s.info.instance_handle));
        out
    }

    pub(crate) fn read(&mut self) -> Vec<Sample<T>> {
        self.read_where(&|_, _| true)
    }

    /// Removes and returns up to `max` samples `filter` accepts, oldest first (instance by instance with
    /// ordered access of INSTANCE scope).
    pub(crate) fn take_where(
        &mut self,
        max: usize,
        filter: &dyn Fn(&SampleInfo, Option<&T>) -> bool,
    ) -> Vec<Sample<T>> {
        let mut out = Vec::new();
        if self.policies.by_instance {
            let mut taken: Vec<(usize, SampleInfo)> = Vec::new();
            for i in self.visit_order() {
                if taken.len() >= max {
                    break;
                }
                if self.matches(&self.entries[i], filter) {
                    taken.push((i, self.info(&self.entries[i])));
                }
            }
            // Remove from the back so that the indices stay valid, then restore the visiting order.
            let mut by_index: Vec<(usize, usize)> = taken.iter().enumerate().map(|(n, (i, _))| (*i, n)).collect();
            by_index.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
            let mut slots: Vec<Option<Sample<T>>> = (0..taken.len()).map(|_| None).collect();
            for (i, n) in by_index {
                if let Some(e) = self.remove_at(i) {
                    slots[n] = Some(Sample { data: e.data, info: taken[n].1 });
                }
            }
            out.extend(slots.into_iter().flatten());
        } else {
            let mut i = 0;
            while i < self.entries.len() && out.len() < max {
                if self.matches(&self.entries[i], filter) {
                    let info = self.info(&self.entries[i]);
                    if let Some(e) = self.remove_at(i) {
                        out.push(Sample { data: e.data, info });
                    }
                } else {
                    i += 1;
                }
            }
        }
        self.mark_seen(out.iter().map(|s| s.info.instance_handle));
        // Instances that hold nothing, are not alive and that no writer still has registered are forgotten
        // (a registered one must be remembered, or its writer's later unregister would look new).
        self.instances.retain(|_, i| i.count > 0 || i.state == InstanceState::Alive || !i.writers.is_empty());
        out
    }

    pub(crate) fn take(&mut self, max: usize) -> Vec<Sample<T>> {
        self.take_where(max, &|_, _| true)
    }

    pub(crate) fn has_unread(&self) -> bool {
        self.entries.iter().any(|e| !e.read)
    }

    /// True when some sample passes `filter`.
    pub(crate) fn any(&self, filter: &dyn Fn(&SampleInfo, Option<&T>) -> bool) -> bool {
        self.entries.iter().any(|e| self.matches(e, filter))
    }

    pub(crate) fn instance_state(&self, key: &KeyHash) -> Option<InstanceState> {
        self.instances.get(key).map(|i| i.state)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn instance_count(&self) -> usize {
        self.instances.len()
    }
}

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
const LISTENER_STATUSES: u32 = StatusMask::DATA_AVAILABLE.0
    | StatusMask::SUBSCRIPTION_MATCHED.0
    | StatusMask::LIVELINESS_CHANGED.0
    | StatusMask::REQUESTED_INCOMPATIBLE_QOS.0
    | StatusMask::REQUESTED_DEADLINE_MISSED.0
    | StatusMask::SAMPLE_LOST.0
    | StatusMask::SAMPLE_REJECTED.0;

/// An installed listener, with the reader handle it is called with.
struct ListenerSlot<T> {
    listener: Arc<dyn DataReaderListener<T>>,
    /// A handle on the same reader that does not delete it when dropped.
    view: DataReader<T>,
    mask: u32,
}

/// Cache and status channels of one reader, fed by the driver.
pub(crate) struct ReaderState<T> {
    support: Arc<dyn TypeSupport<T>>,
    cache: Mutex<Cache<T>>,
    data: watch::Sender<u64>,
    /// Set when a sample notified `data`, cleared by a waiter before it looks at the cache: samples arriving
    /// before any waiter looked again notify nobody new (a watch notification per sample was a tenth of a
    /// subscriber's CPU time at 1 KB).
    data_pending: AtomicBool,
    matched: watch::Sender<SubscriptionMatchedStatus>,
    incompatible: watch::Sender<IncompatibleQosStatus>,
    deadline: watch::Sender<DeadlineMissedStatus>,
    liveliness: watch::Sender<LivelinessChangedStatus>,
    rejected: watch::Sender<SampleRejectedStatus>,
    lost: watch::Sender<SampleLostStatus>,
    pub(crate) flags: Arc<StatusFlags>,
    undecodable: AtomicU64,
    /// Our key hash of a sample, by the KEY_HASH its writer sent with it and
    /// the payload's XCDR version: the hash is computed (an MD5 for long keys)
    /// once per instance and writer's hash instead of once per sample.
    key_hashes: Mutex<FastHashMap<(KeyHash, XcdrVersion), KeyHash>>,
    timer: Arc<TimerHandle>,
    best_effort: bool,
    /// The subscriber's access gate (coherent sets wait while its application is between begin_access and
    /// end_access).
    access: Option<Arc<AccessGate>>,
    /// This state itself, for sets deferred by the access gate.
    me: std::sync::Weak<ReaderState<T>>,
    /// The content filter of a reader on a [`ContentFilteredTopic`](super::ContentFilteredTopic).
    content_filter: Option<Arc<CftState>>,
    /// Samples the content filter dropped on arrival.
    filtered: AtomicU64,
    /// The listener, if one is set.
    listener: Mutex<Option<Arc<ListenerSlot<T>>>>,
    /// The statuses the listener wants (0 without a listener): checked on every status change.
    listener_mask: AtomicU32,
    /// Statuses whose callbacks are due and not yet run.
    pending: AtomicU32,
}

impl<T> ReaderState<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Cache<T>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone + Send + Sync + 'static> ReaderState<T> {
    /// The cache changed: wake waiters.
    fn data_changed(&self) {
        // One wake-up per wait: the waiter clears `data_pending` before it looks at the cache.
        if !self.data_pending.swap(true, Ordering::AcqRel) {
            super::status::bump(&self.data);
        }
        self.raise(StatusMask::DATA_AVAILABLE);
    }

    /// Marks statuses changed, wakes conditions, and makes the listener's callbacks for them due: they run
    /// once the driver has released its locks, or at once when no driver call is under way on this thread.
    fn raise(&self, s: StatusMask) {
        self.flags.raise(s);
        let wanted = s.0 & self.listener_mask.load(Ordering::Acquire);
        if wanted == 0 || self.pending.fetch_or(wanted, Ordering::AcqRel) != 0 {
            // No listener for these, or a run is already due and will see the new bits.
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        if !defer_listener(me) {
            self.run_deferred();
        }
    }

    /// Runs the timers; returns when to run them next.
    fn tick(&self, now: Instant) -> Option<Instant> {
        let r = self.lock().tick(now);
        if !r.deadline_missed.is_empty() {
            self.deadline.send_modify(|s| r.deadline_missed.iter().for_each(|k| s.record(*k)));
            self.raise(StatusMask::REQUESTED_DEADLINE_MISSED);
        }
        if r.purged {
            super::status::bump(&self.data);
            self.flags.notify();
        }
        r.next
    }
}

/// Wakes an endpoint's timer task (to re-plan, or to exit once closed).
#[derive(Default)]
pub(crate) struct TimerHandle {
    notify: Notify,
    closed: AtomicBool,
}

impl TimerHandle {
    /// The endpoint's timing changed: re-plan.
    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }

    /// The endpoint is gone: stop.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

/// The timer task of an endpoint: runs `tick` when due, sleeps otherwise
/// (without keeping the endpoint alive), and exits once the endpoint is gone.
pub(crate) async fn timer_task<S: Send + Sync + 'static>(
    state: std::sync::Weak<S>,
    handle: Arc<TimerHandle>,
    tick: fn(&S, Instant) -> Option<Instant>,
) {
    loop {
        if handle.closed.load(Ordering::Acquire) {
            return;
        }
        let notified = handle.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = match state.upgrade() {
            Some(s) => tick(&s, Instant::now()),
            None => return,
        };
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = &mut notified => {}
        }
    }
}

/// XCDR version of an encapsulated payload (by its representation identifier).
fn payload_version(payload: &[u8]) -> XcdrVersion {
    split_encapsulation(payload).map_or(XcdrVersion::V1, |(e, _, _)| e.version())
}

/// Entries of [`ReaderState::key_hashes`] kept at most (then it starts over).
const KEY_HASH_CACHE: usize = 4096;

impl<T: 'static> ReaderState<T> {
    /// Our key hash of `data`, looked up by the writer's `wire` key hash when it sent one.
    fn key_hash_of(&self, data: &T, version: XcdrVersion, wire: Option<KeyHash>) -> KeyHash {
        let Some(wire) = wire else { return self.support.key_hash(data, version) };
        let mut cache = self.key_hashes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&(wire, version)) {
            return *k;
        }
        let k = self.support.key_hash(data, version);
        if cache.len() >= KEY_HASH_CACHE {
            cache.clear();
        }
        cache.insert((wire, version), k);
        k
    }
}

/// A received sample, decoded, waiting to enter the cache.
struct Decoded<T> {
    s: ReceivedSample,
    data: Option<T>,
    key: KeyHash,
    valid: bool,
}

impl<T: Clone + Send + Sync + 'static> ReaderState<T> {
    /// Decodes a received sample; `None` (counted) when it cannot be decoded.
    fn decode(&self, s: ReceivedSample) -> Option<Decoded<T>> {
        let valid = s.kind == ChangeKind::Alive;
        let data = match &s.payload {
            Some(p) => {
                let r = if s.payload_is_key { self.support.decode_key(p) } else { self.support.decode(p) };
                match r {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.undecodable.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(writer = %s.writer, "dropping undecodable sample: {e}");
                        return None;
                    }
                }
            }
            None => None,
        };
        if valid && data.is_none() {
            self.undecodable.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if let (true, Some(cft), Some(d), Some(p)) = (valid, &self.content_filter, &data, &s.payload) {
            let pass = match self.support.as_dynamic(d) {
                Some(v) => cft.accepts_value(v),
                None => cft.accepts_payload(p),
            };
            if !pass {
                self.filtered.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        let key = match (&data, &s.payload) {
            _ if !self.support.is_keyed() => KeyHash::default(),
            (Some(d), Some(p)) => self.key_hash_of(d, payload_version(p), s.key_hash),
            _ => s.key_hash.unwrap_or_default(),
        };
        Some(Decoded { s, data, key, valid })
    }

    /// Puts a decoded sample into the (locked) cache; returns the samples found lost before it and the outcome.
    fn insert(&self, cache: &mut Cache<T>, d: Decoded<T>, wall: Time) -> (u64, Outcome) {
        let Decoded { s, data, key, valid } = d;
        let mut gap = 0;
        // Samples filtered out at the source leave gaps too: a filtered reader does not count them as lost.
        if self.best_effort && self.content_filter.is_none() {
            // Reliable readers get every change repaired (or a GAP for what the writer no longer has).
            gap = cache.note_sequence(s.writer, s.sequence_number.0);
        }
        let lifespan = cache.writers.get(&s.writer).and_then(|w| w.lifespan);
        let expires = match (lifespan, s.source_timestamp) {
            (Some(l), Some(ts)) if ts != Time::INVALID => {
                Some(ts.to_nanos().saturating_add(u64::try_from(l.as_nanos()).unwrap_or(u64::MAX)))
            }
            _ => None,
        };
        if valid && expires.is_some_and(|x| x <= wall.to_nanos()) {
            return (gap, Outcome::Expired);
        }
        let entry = Entry {
            data: None,
            key,
            read: false,
            valid,
            source_timestamp: s.source_timestamp,
            reception_timestamp: wall,
            writer: s.writer,
            expires,
            seq: s.sequence_number.0,
            related: s.related_sample_identity,
            group_seq: s.group.as_ref().and_then(|g| g.seq).map(|q| q.0),
            original: s.original_writer,
        };
        // Each original change once: from its writer, or relayed (with its original identity) by durability
        // services, whichever comes first. Changes of one writer arrive in order from each of them, so the
        // highest sequence number seen per original writer tells what was delivered.
        let id = s.original_writer.unwrap_or_else(|| SampleIdentity::new(s.writer, s.sequence_number));
        if id.sequence_number.0 > 0
            && cache.delivered.get(&id.writer_guid).is_some_and(|sn| *sn >= id.sequence_number.0)
        {
            return (gap, Outcome::Dropped);
        }
        let outcome = cache.insert(s.kind, key, data, entry, Instant::now());
        if id.sequence_number.0 > 0 && !matches!(outcome, Outcome::Rejected(_)) {
            cache.delivered.insert(id.writer_guid, id.sequence_number.0);
        }
        (gap, outcome)
    }

    /// Updates the statuses after a sample went through the cache.
    fn report(&self, key: KeyHash, gap: u64, outcome: Outcome) {
        if gap > 0 {
            self.lost.send_modify(|l| {
                l.total_count = l.total_count.saturating_add(u32::try_from(gap).unwrap_or(u32::MAX));
                l.total_count_change = l.total_count_change.saturating_add(u32::try_from(gap).unwrap_or(u32::MAX));
            });
            self.raise(StatusMask::SAMPLE_LOST);
        }
        match outcome {
            Outcome::Stored => self.data_changed(),
            Outcome::Dropped => {}
            Outcome::Expired => {
                self.lost.send_modify(|l| {
                    l.total_count += 1;
                    l.total_count_change += 1;
                });
                self.raise(StatusMask::SAMPLE_LOST);
            }
            Outcome::Rejected(reason) => {
                self.rejected.send_modify(|r| {
                    r.total_count += 1;
                    r.total_count_change += 1;
                    r.last_reason = Some(reason);
                    r.last_instance_handle = Some(key);
                });
                self.raise(StatusMask::SAMPLE_REJECTED);
            }
        }
    }

    /// Puts a whole coherent set into the cache under one lock, so that no read sees part of it.
    fn insert_set(&self, decoded: Vec<Decoded<T>>) {
        let wall = wall_clock();
        let results: Vec<(KeyHash, u64, Outcome)> = {
            let mut cache = self.lock();
            decoded
                .into_iter()
                .map(|d| {
                    let key = d.key;
                    let (gap, outcome) = self.insert(&mut cache, d, wall);
                    (key, gap, outcome)
                })
                .collect()
        };
        for (key, gap, outcome) in results {
            self.report(key, gap, outcome);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Deferred for ReaderState<T> {
    fn run_deferred(&self) {
        let due = self.pending.swap(0, Ordering::AcqRel);
        let slot = self.listener.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(slot) = slot else { return };
        let due = due & slot.mask;
        let (l, r) = (&*slot.listener, &slot.view);
        let has = |m: StatusMask| due & m.0 != 0;
        // Statuses first, so that a data callback already knows about a writer that just matched.
        if has(StatusMask::SUBSCRIPTION_MATCHED) {
            l.on_subscription_matched(r, r.subscription_matched_status());
        }
        if has(StatusMask::LIVELINESS_CHANGED) {
            l.on_liveliness_changed(r, r.liveliness_changed_status());
        }
        if has(StatusMask::REQUESTED_INCOMPATIBLE_QOS) {
            l.on_requested_incompatible_qos(r, r.requested_incompatible_qos_status());
        }
        if has(StatusMask::REQUESTED_DEADLINE_MISSED) {
            l.on_requested_deadline_missed(r, r.requested_deadline_missed_status());
        }
        if has(StatusMask::SAMPLE_LOST) {
            l.on_sample_lost(r, r.sample_lost_status());
        }
        if has(StatusMask::SAMPLE_REJECTED) {
            l.on_sample_rejected(r, r.sample_rejected_status());
        }
        if has(StatusMask::DATA_AVAILABLE) {
            l.on_data_available(r);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> GroupMember for ReaderState<T> {
    fn unread_order(&self) -> Vec<(Guid, Option<i64>, Time)> {
        self.lock().unread_order()
    }
}

impl<T: Clone + Send + Sync + 'static> ReaderSink for ReaderState<T> {
    fn on_sample(&self, s: ReceivedSample) {
        let Some(d) = self.decode(s) else { return };
        let key = d.key;
        let wall = wall_clock();
        let (gap, outcome) = {
            let mut cache = self.lock();
            self.insert(&mut cache, d, wall)
        };
        self.report(key, gap, outcome);
    }

    fn prepare_group_part(&self, samples: Vec<ReceivedSample>) -> Option<Box<dyn FnOnce() + Send>> {
        let decoded: Vec<Decoded<T>> = samples.into_iter().filter_map(|s| self.decode(s)).collect();
        if decoded.is_empty() {
            return None;
        }
        let me = self.me.upgrade()?;
        Some(Box::new(move || me.insert_set(decoded)))
    }

    fn access_gate(&self) -> Option<Arc<AccessGate>> {
        self.access.clone()
    }

    fn on_coherent_set(&self, samples: Vec<ReceivedSample>) {
        let decoded: Vec<Decoded<T>> = samples.into_iter().filter_map(|s| self.decode(s)).collect();
        if decoded.is_empty() {
            return;
        }
        match &self.access {
            // The subscriber's application is between begin_access and end_access: the set waits.
            Some(gate) => {
                let Some(me) = self.me.upgrade() else { return };
                let deferred: Box<dyn FnOnce() + Send> = Box::new(move || me.insert_set(decoded));
                if let Some(f) = gate.defer(deferred) {
                    f();
                }
            }
            None => self.insert_set(decoded),
        }
    }

    fn on_matched(&self, writer: Guid, matched: bool, current_count: u32, writer_qos: Option<&EndpointQos>) {
        // A writer is alive when it matches (the core reports it right after if it is not).
        let mut was_alive = true;
        if matched {
            let info = writer_qos.map_or_else(WriterInfo::default, |q| WriterInfo {
                strength: q.ownership_strength,
                lifespan: q.lifespan.to_std(),
            });
            self.lock().add_writer(writer, info);
        } else {
            let (changed, alive) = self.lock().remove_writer(writer, Instant::now(), wall_clock());
            was_alive = alive;
            if changed {
                self.data_changed();
            }
        }
        self.matched.send_modify(|s| {
            if matched {
                s.total_count += 1;
            }
            s.current_count = current_count;
            s.last_publication_handle = Some(writer);
        });
        self.liveliness.send_modify(|l| {
            if matched {
                l.alive_count += 1;
                l.alive_count_change += 1;
            } else if was_alive {
                l.alive_count = l.alive_count.saturating_sub(1);
                l.alive_count_change -= 1;
            } else {
                l.not_alive_count = l.not_alive_count.saturating_sub(1);
                l.not_alive_count_change -= 1;
            }
            l.last_publication_handle = Some(writer);
        });
        self.raise(StatusMask::SUBSCRIPTION_MATCHED | StatusMask::LIVELINESS_CHANGED);
    }

    fn on_liveliness_changed(&self, writer: Guid, alive: bool) {
        let (changed, cache_changed) = self.lock().set_writer_liveliness(writer, alive, Instant::now(), wall_clock());
        if cache_changed {
            self.data_changed();
        }
        if !changed {
            return;
        }
        self.liveliness.send_modify(|l| {
            let d = if alive { 1 } else { -1 };
            l.alive_count = l.alive_count.saturating_add_signed(d);
            l.alive_count_change += d;
            l.not_alive_count = l.not_alive_count.saturating_add_signed(-d);
            l.not_alive_count_change -= d;
            l.last_publication_handle = Some(writer);
        });
        self.raise(StatusMask::LIVELINESS_CHANGED);
    }

    fn on_incompatible(&self, writer: Guid, policy: QosPolicyId) {
        self.incompatible.send_modify(|s| s.record(writer, policy));
        self.raise(StatusMask::REQUESTED_INCOMPATIBLE_QOS);
    }
}

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
            key_hashes: Mutex::new(HashMap::default()),
            timer: timer.clone(),
            best_effort: qos.reliability.kind == ReliabilityKind::BestEffort,
            content_filter: content_filter.clone(),
            filtered: AtomicU64::new(0),
            listener: Mutex::new(None),
            listener_mask: AtomicU32::new(0),
            pending: AtomicU32::new(0),
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
        let out = c.take(1).pop();
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

#[cfg(test)]
mod tests {
    use super::*;

    const W1: Guid = Guid {
        prefix: starling_proto::wire::types::GuidPrefix([1; 12]),
        entity_id: starling_proto::wire::types::EntityId([0, 0, 1, 2]),
    };
    const W2: Guid = Guid {
        prefix: starling_proto::wire::types::GuidPrefix([2; 12]),
        entity_id: starling_proto::wire::types::EntityId([0, 0, 1, 2]),
    };

    fn entry(key: u8, valid: bool) -> Entry<u32> {
        entry_from(key, valid, W1, None)
    }

    fn entry_from(key: u8, valid: bool, writer: Guid, ts: Option<u64>) -> Entry<u32> {
        Entry {
            data: None,
            key: KeyHash([key; 16]),
            read: false,
            valid,
            source_timestamp: ts.map(Time::from_nanos),
            reception_timestamp: Time::ZERO,
            writer,
            expires: None,
            seq: 0,
            related: None,
            group_seq: None,
            original: None,
        }
    }

    fn cache(depth: Option<usize>) -> Cache<u32> {
        Cache::new(CachePolicies { depth, ..CachePolicies::default() })
    }

    fn k(n: u8) -> KeyHash {
        KeyHash([n; 16])
    }

    fn values(c: &mut Cache<u32>) -> Vec<u32> {
        c.take(usize::MAX).into_iter().filter(|s| s.info.valid_data).filter_map(|s| s.data).collect()
    }

    #[test]
    fn keep_last_is_per_instance() {
        let mut c = cache(Some(2));
        let now = Instant::now();
        for v in 0..5 {
            c.insert(ChangeKind::Alive, k(1), Some(v), entry(1, true), now);
        }
        c.insert(ChangeKind::Alive, k(2), Some(100), entry(2, true), now);
        let got: Vec<_> = c.take(usize::MAX).into_iter().map(|s| s.data).collect();
        assert_eq!(got, vec![Some(3), Some(4), Some(100)]);
    }

    #[test]
    fn states_and_dispose_key_holder() {
        let mut c = cache(None);
        let now = Instant::now();
        c.insert(ChangeKind::Alive, k(1), Some(7), entry(1, true), now);
        let first = c.read();
        assert_eq!(first[0].info.sample_state, SampleState::NotRead);
        assert_eq!(first[0].info.view_state, ViewState::New);
        let again = c.read();
        assert_eq!(again[0].info.sample_state, SampleState::Read);
        assert_eq!(again[0].info.view_state, ViewState::NotNew);
        c.insert(ChangeKind::Disposed, k(1), None, entry(1, false), now);
        let all = c.take(usize::MAX);
        assert_eq!(all.len(), 2);
        assert!(!all[1].info.valid_data);
        assert_eq!(all[1].data, Some(7), "dispose without payload carries the instance's key holder");
        assert_eq!(all[1].info.instance_state, InstanceState::NotAliveDisposed);
        assert_eq!(c.instances.len(), 1, "its writer still has it registered: remembered");
        c.insert(ChangeKind::DisposedUnregistered, k(1), None, entry(1, false), now);
        assert!(c.take(usize::MAX).is_empty(), "disposing a disposed instance again tells nothing new");
        assert!(c.instances.is_empty(), "taken, disposed and unregistered by its only writer: forgotten");
    }

    #[test]
    fn time_based_filter_thins_per_instance() {
        let mut c = Cache::new(CachePolicies {
            depth: None,
            min_separation: Some(Duration::from_millis(100)),
            ..CachePolicies::default()
        });
        let t0 = Instant::now();
        for i in 0..20u32 {
            let now = t0 + Duration::from_millis(u64::from(i) * 10);
            c.insert(ChangeKind::Alive, k(1), Some(i), entry(1, true), now);
            c.insert(ChangeKind::Alive, k(2), Some(100 + i), entry(2, true), now);
        }
        assert_eq!(values(&mut c), vec![0, 100, 10, 110]);
    }

    #[test]
    fn destination_order_by_source_timestamp() {
        let mut c = Cache::new(CachePolicies { depth: None, by_source_timestamp: true, ..CachePolicies::default() });
        let now = Instant::now();
        for (v, ts) in [(1, 100), (2, 300), (3, 200), (4, 300), (5, 400)] {
            c.insert(ChangeKind::Alive, k(1), Some(v), entry_from(1, true, W1, Some(ts)), now);
        }
        // Another instance has its own order.
        c.insert(ChangeKind::Alive, k(2), Some(9), entry_from(2, true, W1, Some(50)), now);
        assert_eq!(values(&mut c), vec![1, 2, 4, 5, 9]);
    }

    #[test]
    fn exclusive_ownership_and_failover() {
        let mut c = Cache::new(CachePolicies { depth: None, exclusive: true, ..CachePolicies::default() });
        c.add_writer(W1, WriterInfo { strength: 10, lifespan: None });
        c.add_writer(W2, WriterInfo { strength: 20, lifespan: None });
        let now = Instant::now();
        c.insert(ChangeKind::Alive, k(1), Some(1), entry_from(1, true, W1, None), now);
        c.insert(ChangeKind::Alive, k(1), Some(2), entry_from(1, true, W2, None), now);
        c.insert(ChangeKind::Alive, k(1), Some(3), entry_from(1, true, W1, None), now);
        c.insert(ChangeKind::Alive, k(1), Some(4), entry_from(1, true, W2, None), now);
        assert_eq!(values(&mut c), vec![1, 2, 4], "the stronger writer takes over");
        assert!(!c.remove_writer(W2, now, Time::ZERO).0, "W1 still writes the instance: it stays alive");
        c.insert(ChangeKind::Alive, k(1), Some(5), entry_from(1, true, W1, None), now);
        assert_eq!(values(&mut c), vec![5], "ownership failed over to W1");
        // Equal strengths: the lower GUID wins.
        c.add_writer(W2, WriterInfo { strength: 10, lifespan: None });
        c.insert(ChangeKind::Alive, k(1), Some(6), entry_from(1, true, W2, None), now);
        assert_eq!(values(&mut c), Vec::<u32>::new());
    }

    #[test]
    fn liveliness_loss_fails_over_and_revival_takes_back() {
        let mut c = Cache::new(CachePolicies { depth: None, exclusive: true, ..CachePolicies::default() });
        c.add_writer(W1, WriterInfo { strength: 10, lifespan: None });
        c.add_writer(W2, WriterInfo { strength: 20, lifespan: None });
        let now = Instant::now();
        c.insert(ChangeKind::Alive, k(1), Some(1), entry_from(1, true, W2, None), now);
        c.insert(ChangeKind::Alive, k(1), Some(2), entry_from(1, true, W1, None), now);
        c.insert(ChangeKind::Alive, k(2), Some(3), entry_from(2, true, W2, None), now);
        assert_eq!(values(&mut c), vec![1, 3], "W2 owns both");
        // W2 loses liveliness: W1 owns instance 1 at once; instance 2 has no alive writer left.
        assert_eq!(c.set_writer_liveliness(W2, false, now, Time::ZERO), (true, true));
        assert_eq!(c.set_writer_liveliness(W2, false, now, Time::ZERO), (false, false), "reported once");
        assert_eq!(c.instance_state(&k(1)), Some(InstanceState::Alive));
        assert_eq!(c.instance_state(&k(2)), Some(InstanceState::NotAliveNoWriters));
        c.insert(ChangeKind::Alive, k(1), Some(4), entry_from(1, true, W1, None), now);
        let taken = c.take(10);
        assert_eq!(taken.iter().filter(|s| s.info.valid_data).map(|s| s.data).collect::<Vec<_>>(), vec![Some(4)]);
        assert!(taken.iter().any(|s| !s.info.valid_data && s.info.instance_state == InstanceState::NotAliveNoWriters));
        // W2 asserts again: its next samples take the instances back.
        assert_eq!(c.set_writer_liveliness(W2, true, now, Time::ZERO), (true, false));
        c.insert(ChangeKind::Alive, k(1), Some(5), entry_from(1, true, W2, None), now);
        c.insert(ChangeKind::Alive, k(1), Some(6), entry_from(1, true, W1, None), now);
        c.insert(ChangeKind::Alive, k(2), Some(7), entry_from(2, true, W2, None), now);
        assert_eq!(values(&mut c), vec![5, 7]);
        assert_eq!(c.instance_state(&k(2)), Some(InstanceState::Alive));
        // Unmatching a writer that is not alive says so.
        c.set_writer_liveliness(W1, false, now, Time::ZERO);
        assert!(!c.remove_writer(W1, now, Time::ZERO).1);
        assert!(c.remove_writer(W2, now, Time::ZERO).1);
    }

    #[test]
    fn no_writers_after_unregister_and_unmatch() {
        let mut c = cache(Some(5));
        let now = Instant::now();
        c.insert(ChangeKind::Alive, k(1), Some(1), entry_from(1, true, W1, None), now);
        c.insert(ChangeKind::Alive, k(1), Some(2), entry_from(1, true, W2, None), now);
        c.insert(ChangeKind::Alive, k(2), Some(3), entry_from(2, true, W1, None), now);
        c.insert(ChangeKind::Unregistered, k(1), None, entry_from(1, false, W1, None), now);
        assert_eq!(c.instance_state(&k(1)), Some(InstanceState::Alive), "W2 still writes instance 1");
        assert!(c.remove_writer(W1, now, Time::ZERO).0);
        assert_eq!(c.instance_state(&k(2)), Some(InstanceState::NotAliveNoWriters));
        c.insert(ChangeKind::Unregistered, k(1), None, entry_from(1, false, W2, None), now);
        assert_eq!(c.instance_state(&k(1)), Some(InstanceState::NotAliveNoWriters));
        let s = c.read();
        assert_eq!(s.iter().filter(|s| !s.info.valid_data).count(), 2, "one notification per instance");
        // A new sample makes the instance alive and NEW again.
        c.insert(ChangeKind::Alive, k(2), Some(4), entry_from(2, true, W2, None), now);
        let s = c.read();
        let last = s.last().expect("sample");
        assert_eq!((last.info.instance_state, last.info.view_state), (InstanceState::Alive, ViewState::New));
    }

    #[test]
    fn resource_limits_keep_all_rejects_keep_last_evicts() {
        let mut c = Cache::new(CachePolicies {
            depth: None,
            max_samples: Some(4),
            max_instances: Some(2),
            max_per_instance: Some(3),
            ..CachePolicies::default()
        });
        let now = Instant::now();
        let mut outcomes = Vec::new();
        for v in 0..4 {
            outcomes.push(c.insert(ChangeKind::Alive, k(1), Some(v), entry(1, true), now));
        }
        outcomes.push(c.insert(ChangeKind::Alive, k(2), Some(10), entry(2, true), now));
        outcomes.push(c.insert(ChangeKind::Alive, k(3), Some(20), entry(3, true), now));
        outcomes.push(c.insert(ChangeKind::Alive, k(2), Some(11), entry(2, true), now));
        assert_eq!(
            outcomes,
            vec![
                Outcome::Stored,
                Outcome::Stored,
                Outcome::Stored,
                Outcome::Rejected(SampleRejectedReason::SamplesPerInstanceLimit),
                Outcome::Stored,
                Outcome::Rejected(SampleRejectedReason::InstancesLimit),
                Outcome::Rejected(SampleRejectedReason::SamplesLimit),
            ]
        );
        assert_eq!(c.len(), 4);

        let mut c = Cache::new(CachePolicies { depth: Some(2), max_samples: Some(3), ..CachePolicies::default() });
        for v in 0..3 {
            c.insert(ChangeKind::Alive, k(1), Some(v), entry(1, true), now);
        }
        c.insert(ChangeKind::Alive, k(2), Some(10), entry(2, true), now);
        c.insert(ChangeKind::Alive, k(3), Some(20), entry(3, true), now);
        assert_eq!(values(&mut c), vec![2, 10, 20], "KEEP_LAST evicts the oldest");
    }

    #[test]
    fn deadline_and_autopurge_ticks() {
        let mut c = Cache::new(CachePolicies {
            depth: Some(1),
            deadline: Some(Duration::from_millis(100)),
            purge_nowriter: Some(Duration::from_millis(500)),
            ..CachePolicies::default()
        });
        let t0 = Instant::now();
        c.insert(ChangeKind::Alive, k(1), Some(1), entry(1, true), t0);
        let r = c.tick(t0 + Duration::from_millis(50));
        assert!(r.deadline_missed.is_empty());
        assert_eq!(r.next, Some(t0 + Duration::from_millis(100)));
        let r = c.tick(t0 + Duration::from_millis(120));
        assert_eq!(r.deadline_missed, vec![k(1)]);
        let r = c.tick(t0 + Duration::from_millis(150));
        assert!(r.deadline_missed.is_empty(), "one miss per period");
        c.remove_writer(W1, t0 + Duration::from_millis(200), Time::ZERO);
        let r = c.tick(t0 + Duration::from_millis(600));
        assert!(!r.purged && r.deadline_missed.is_empty(), "not alive: no deadline; purge not yet due");
        let r = c.tick(t0 + Duration::from_millis(700));
        assert!(r.purged);
        assert_eq!(c.len(), 0);
        assert_eq!(c.instance_count(), 0);
    }

    #[test]
    fn sequence_gaps() {
        let mut c = cache(None);
        assert_eq!(c.note_sequence(W1, 5), 0, "the first sets the baseline");
        assert_eq!(c.note_sequence(W1, 6), 0);
        assert_eq!(c.note_sequence(W1, 9), 2);
        assert_eq!(c.note_sequence(W1, 8), 0, "late: not counted, baseline kept");
        assert_eq!(c.note_sequence(W1, 10), 0);
        assert_eq!(c.note_sequence(W2, 3), 0, "per writer");
    }

    #[test]
    fn lifespan_expiry() {
        let mut c = cache(None);
        let now = Instant::now();
        c.insert(ChangeKind::Alive, k(1), Some(1), Entry { expires: Some(1000), ..entry(1, true) }, now);
        c.insert(ChangeKind::Alive, k(1), Some(2), Entry { expires: Some(2000), ..entry(1, true) }, now);
        c.insert(ChangeKind::Alive, k(1), Some(3), entry(1, true), now);
        c.expire(1500);
        assert_eq!(values(&mut c), vec![2, 3]);
    }

    #[test]
    fn payload_versions() {
        assert_eq!(payload_version(&[0, 1, 0, 0]), XcdrVersion::V1);
        assert_eq!(payload_version(&[0, 7, 0, 0]), XcdrVersion::V2);
        assert_eq!(payload_version(&[0, 9, 0, 0]), XcdrVersion::V2);
        assert_eq!(payload_version(&[]), XcdrVersion::V1);
    }
}
