//! The reader's history cache: samples by instance, with the QoS policies that decide what it keeps.

use super::sample::{InstanceState, Sample, SampleInfo, SampleState, ViewState};
use crate::dds::status::SampleRejectedReason;
use crate::runtime::wall_clock;
use starling_proto::core::ChangeKind;
use starling_proto::core::{FastHashMap, FastHashSet};
use starling_proto::qos::{AccessScope, DestinationOrderKind, EndpointQos, History, OwnershipKind};
use starling_proto::wire::types::{Guid, KeyHash, SampleIdentity, Time};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub(super) struct Entry<T> {
    pub(super) data: Option<T>,
    pub(super) key: KeyHash,
    pub(super) read: bool,
    pub(super) valid: bool,
    pub(super) source_timestamp: Option<Time>,
    pub(super) reception_timestamp: Time,
    pub(super) writer: Guid,
    /// Wall-clock nanoseconds after which the sample is dropped (LIFESPAN).
    pub(super) expires: Option<u64>,
    /// The writer's sequence number (0 if none).
    pub(super) seq: i64,
    /// The sample this one answers (request/reply), if the writer sent one.
    pub(super) related: Option<SampleIdentity>,
    /// The group sequence number (writers with GROUP access scope).
    pub(super) group_seq: Option<i64>,
    /// The original writer and sequence number of a relayed sample.
    pub(super) original: Option<SampleIdentity>,
}

struct Instance<T> {
    state: InstanceState,
    view: ViewState,
    key_holder: Option<T>,
    count: usize,
    /// Writers that wrote the instance and have not unregistered it (nor unmatched).
    writers: FastHashSet<Guid>,
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
    pub(super) entries: VecDeque<Entry<T>>,
    instances: FastHashMap<KeyHash, Instance<T>>,
    pub(crate) policies: CachePolicies,
    /// Matched writers.
    pub(super) writers: FastHashMap<Guid, WriterInfo>,
    /// Matched writers whose liveliness lease ran out (LIVELINESS).
    not_alive: FastHashSet<Guid>,
    /// The last sequence number received from each writer (gap detection).
    last_sn: FastHashMap<Guid, i64>,
    /// The highest sequence number delivered per original writer (directly or relayed by a durability service).
    pub(super) delivered: FastHashMap<Guid, i64>,
}

impl<T: Clone> Cache<T> {
    pub(crate) fn new(policies: CachePolicies) -> Self {
        Cache {
            entries: VecDeque::new(),
            instances: FastHashMap::default(),
            policies,
            writers: FastHashMap::default(),
            not_alive: FastHashSet::default(),
            last_sn: FastHashMap::default(),
            delivered: FastHashMap::default(),
        }
    }

    /// Notes a sequence number from `writer`; returns how many were skipped
    /// since the previous one (none for the first, or for one out of order).
    pub(super) fn note_sequence(&mut self, writer: Guid, sn: i64) -> u64 {
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
    pub(super) fn insert(
        &mut self,
        kind: ChangeKind,
        key: KeyHash,
        data: Option<T>,
        entry: Entry<T>,
        now: Instant,
    ) -> Outcome {
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
            writers: FastHashSet::default(),
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
    pub(super) fn remove_writer(&mut self, writer: Guid, now: Instant, wall: Time) -> (bool, bool) {
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
    pub(super) fn tick(&mut self, now: Instant) -> TickResult {
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
    pub(super) fn expire(&mut self, wall: u64) {
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
    /// number and reception time (for [`Subscriber::get_datareaders`](crate::dds::Subscriber::get_datareaders)).
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
            let mut rank: FastHashMap<KeyHash, usize> = FastHashMap::default();
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
        self.forget_empty_instances();
        out
    }

    /// Instances that hold nothing, are not alive and that no writer still has registered are forgotten (a
    /// registered one must be remembered, or its writer's later unregister would look new).
    fn forget_empty_instances(&mut self) {
        self.instances.retain(|_, i| i.count > 0 || i.state == InstanceState::Alive || !i.writers.is_empty());
    }

    pub(crate) fn take(&mut self, max: usize) -> Vec<Sample<T>> {
        self.take_where(max, &|_, _| true)
    }

    /// The first sample [`Cache::take`] would return, without building a list (a reader's per-sample take
    /// then allocates nothing).
    pub(crate) fn take_next(&mut self) -> Option<Sample<T>> {
        if self.policies.by_instance {
            return self.take(1).pop();
        }
        let info = self.info(self.entries.front()?);
        let e = self.remove_at(0)?;
        self.mark_seen(std::iter::once(info.instance_handle));
        self.forget_empty_instances();
        Some(Sample { data: e.data, info })
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

    /// `take_next` hands out what repeated `take(1)` would, with the same sample infos, instance states
    /// and instance forgetting, in arrival order and instance by instance.
    #[test]
    fn take_next_is_take_one() {
        for by_instance in [false, true] {
            let fill = || {
                let mut c = Cache::new(CachePolicies { depth: Some(3), by_instance, ..CachePolicies::default() });
                let now = Instant::now();
                for v in 0..6u32 {
                    c.insert(ChangeKind::Alive, k((v % 3) as u8), Some(v), entry((v % 3) as u8, true), now);
                }
                c.insert(ChangeKind::Disposed, k(1), None, entry(1, false), now);
                c
            };
            let (mut a, mut b) = (fill(), fill());
            loop {
                let (x, y) = (a.take(1).pop(), b.take_next());
                assert_eq!(x.as_ref().map(|s| (s.data, s.info)), y.as_ref().map(|s| (s.data, s.info)));
                assert_eq!(a.instances.len(), b.instances.len());
                if x.is_none() {
                    break;
                }
            }
        }
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
}
