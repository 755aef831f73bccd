//! A durability service for TRANSIENT and PERSISTENT data (DDS 1.4 §2.2.3.5, DURABILITY and
//! DURABILITY_SERVICE).
//!
//! Writers with TRANSIENT or PERSISTENT durability serve their own history to late-joining readers while they
//! live, like TRANSIENT_LOCAL writers (that is all the core does). [`DurabilityService`], run by
//! `starling durability`, keeps their samples beyond them:
//!
//! - It watches discovery for remote TRANSIENT and PERSISTENT writers (of the topics it is told to serve) and
//!   reads each topic with a TRANSIENT_LOCAL, KEEP_ALL reader in the writer's partitions, as raw CDR
//!   ([`RawSample`]): the type comes from the writer's TypeInformation (TypeLookup) or a built-in type, so the
//!   service needs no compiled types.
//! - It holds the samples per the writer's DURABILITY_SERVICE policy: history kind and depth per instance,
//!   max_samples, max_instances, max_samples_per_instance ([`TopicHistory`]), each with its original identity
//!   (writer GUID and sequence number). A dispose is held after the instance's samples; once the instance is
//!   disposed and no source writer is alive, it is dropped after service_cleanup_delay. Unregistrations are
//!   not held.
//! - PERSISTENT topics are also written to an append-only log per topic in the `--store` directory
//!   ([`store`]), and are served again after the service restarts.
//!
//! # Serving: relayed samples and duplicates
//! Like OpenSplice's durability service or RTI Persistence Service, the service serves the history to every
//! late-joining TRANSIENT or PERSISTENT reader itself, whether or not the original writer still looks alive: a
//! writer that crashed (kill -9) stays "alive" in discovery until its lease runs out, and a reader that joins in
//! that window would otherwise get nothing. As soon as it holds something for a topic, the service has a writer
//! of the same topic, type, partitions and QoS (the durability kind included) whose history is the held
//! samples, each with its original source timestamp and, as inline QoS `PID_ORIGINAL_WRITER_INFO` (0x0061,
//! RTPS 2.5 §9.6.4.8), the writer GUID and sequence number it had originally.
//!
//! A reader can then get the same sample from its writer and from one or more services. Starling readers
//! deliver each original change once: they keep the highest sequence number delivered per original writer
//! (from the writer itself, or from `PID_ORIGINAL_WRITER_INFO` of a relayed change) and drop anything at or
//! below it (`SampleInfo::original_writer` tells a relayed sample). Changes of one writer arrive in order from
//! each source, so what a reader gets stays in the writer's order; when the writer and a service both serve a
//! late joiner, whichever is first wins (a service with a shorter DURABILITY_SERVICE history than the writer
//! may thus make the reader miss the writer's older samples).
//!
//! Readers of other vendors do not drop relayed duplicates (Cyclone DDS ignores `PID_ORIGINAL_WRITER_INFO`).
//! The service writer's history reaches them (`Participant::set_relay_history` in the core) only when no
//! source writer is alive, only if they were not seen while one was (they got the samples from it), and only
//! from one service per topic: the one with the smallest GUID prefix among those serving it.
//!
//! # Several services
//! Services ignore each other's writers as sources, but align: a service reads the other services' writers
//! (they carry [`SERVICE_USER_DATA`] in USER_DATA) like a late-joining reader and holds what they relay, by
//! original identity, so that a duplicate (from a writer and a service, or two services) is held once
//! ([`Rejected::Duplicate`]). A service started (or restarted) while another runs thus gets everything the
//! other holds, and data survives the restart of either.
//!
//! The service writer's history is made when it is created; when the held samples changed since, it is made
//! again before a new reader gets it (at once when no source writer is alive, else when a new Starling reader
//! appears). Limits: a non-Starling reader that joins after a writer crashed but before its lease ran out
//! counts as having the samples; a topic whose writers differ in partitions is held once per partition set;
//! a Starling reader remembers one sequence number per original writer it got samples from.

pub mod history;
pub mod raw;
pub mod store;

pub use history::{HeldSample, Rejected, TopicHistory};
pub use raw::{RawSample, RawSupport};
pub use store::StoreError;

use crate::dds::{DataReader, DataWriter, DdsError, DomainParticipant, InstanceState, Topic, TypeSupport};
use crate::runtime::wall_clock;
use bytes::Bytes;
use starling_proto::cdr::version_for_representation;
use starling_proto::core::{ChangeKind, WriteChange};
use starling_proto::discovery::EndpointData;
use starling_proto::qos::{glob_match, DurabilityKind, EndpointQos, History, ResourceLimits};
use starling_proto::wire::types::{Guid, GuidPrefix, SampleIdentity, Time, VendorId};
use starling_proto::wire::{Endian, KeyHash};
use starling_proto::xtypes::DynamicType;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// USER_DATA of the service's writers (and readers): other services ignore them.
pub const SERVICE_USER_DATA: &[u8] = b"starling-durability-service";

/// How often the service looks at discovery and takes what its readers received.
const POLL: Duration = Duration::from_millis(50);

/// Errors of the durability service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurabilityError {
    /// From the DDS layer.
    #[error(transparent)]
    Dds(#[from] DdsError),
    /// From the PERSISTENT store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the service serves and where it stores.
#[derive(Clone, Debug, Default)]
pub struct ServiceConfig {
    /// Directory of the PERSISTENT store; `None` keeps PERSISTENT topics in memory only (like TRANSIENT).
    pub store: Option<PathBuf>,
    /// Topic name patterns (`*`, `?`) to serve; empty serves every topic.
    pub topics: Vec<String>,
}

/// What the service holds for one topic, as [`DurabilityService::status`] reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicStatus {
    /// The topic's type name.
    pub type_name: String,
    /// The durability kind of the writers it came from.
    pub durability: Option<DurabilityKind>,
    /// Samples held.
    pub samples: usize,
    /// Instances held.
    pub instances: usize,
    /// Source writers alive now.
    pub writers: usize,
    /// Whether the service's own writer is serving the topic to every late joiner (no source writer is
    /// alive); Starling readers are served whenever something is held.
    pub serving: bool,
    /// Other services' writers of the topic alive now (the service aligns with them).
    pub peers: usize,
}

/// One held topic: topic, type and partitions.
struct Group {
    endpoint: EndpointData,
    support: Arc<RawSupport>,
    history: TopicHistory,
    reader: Option<DataReader<RawSample>>,
    writer: Option<DataWriter<RawSample>>,
    /// Source writers alive.
    sources: HashSet<Guid>,
    /// Other services' writers of the topic alive (alignment).
    peers: HashSet<Guid>,
    log: Option<store::TopicLog>,
    /// Set when the held set shrank (cleanup): the writer is made again from what is held.
    stale_writer: bool,
    /// Set when something was held since the writer was made.
    dirty: bool,
    /// Remote readers of other vendors seen while a source writer was alive: they got the samples from it, and
    /// get no history from the service's writer.
    present: HashSet<Guid>,
    /// Remote readers of the topic known when the writer was made or since.
    seen_readers: HashSet<Guid>,
    /// What the writer's relay settings were last set to.
    relay: Option<(bool, Vec<Guid>)>,
}

fn group_id(topic: &str, type_name: &str, partitions: &[String]) -> String {
    let mut p = partitions.to_vec();
    p.sort();
    format!("{topic}\u{0}{type_name}\u{0}{}", p.join("\u{0}"))
}

fn nanos_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn now_nanos() -> u64 {
    nanos_of(SystemTime::now())
}

/// A type the service knows without a peer announcing it.
fn builtin_type(type_name: &str) -> Option<DynamicType> {
    (type_name == "ShapeType").then(crate::dynamic::shape_type)
}

/// The type described by `idl` (as the store keeps it), named `type_name`.
fn type_from_idl(idl: &str, type_name: &str, scratch: &Path) -> Option<DynamicType> {
    if idl.is_empty() {
        return None;
    }
    std::fs::write(scratch, idl).ok()?;
    let model = starling_idl::check(&[scratch], &[] as &[PathBuf]).ok();
    let _ = std::fs::remove_file(scratch);
    crate::dynamic::from_idl(&model?, type_name).ok()
}

/// The durability service: see the [module docs](self).
pub struct DurabilityService {
    participant: DomainParticipant,
    config: ServiceConfig,
    groups: BTreeMap<String, Group>,
    /// Remote source writers taken on, by GUID, with their group.
    known: HashMap<Guid, String>,
    /// Remote writers whose type could not be resolved yet (logged once).
    unresolved: HashSet<Guid>,
    status: watch::Sender<BTreeMap<String, TopicStatus>>,
    last_sync: Instant,
}

impl DurabilityService {
    /// A service on `participant`; restores the PERSISTENT topics of `config.store` (and serves them at once).
    pub fn new(participant: DomainParticipant, config: ServiceConfig) -> Result<Self, DurabilityError> {
        let mut svc = DurabilityService {
            participant,
            config,
            groups: BTreeMap::new(),
            known: HashMap::new(),
            unresolved: HashSet::new(),
            status: watch::channel(BTreeMap::new()).0,
            last_sync: Instant::now(),
        };
        if let Some(dir) = svc.config.store.clone() {
            for t in store::open_dir(&dir, now_nanos())? {
                let name = t.endpoint.type_name.clone();
                let scratch = dir.join(format!("restore-{}.idl", std::process::id()));
                let Some(ty) = type_from_idl(&t.idl, &name, &scratch).or_else(|| builtin_type(&name)) else {
                    tracing::warn!(topic = %t.endpoint.topic_name, type_name = %name, "stored topic's type cannot be rebuilt; skipped");
                    continue;
                };
                let support = match RawSupport::new(ty, &name) {
                    Ok(s) => Arc::new(s),
                    Err(e) => {
                        tracing::warn!(topic = %t.endpoint.topic_name, "stored topic's type is not usable: {e}");
                        continue;
                    }
                };
                let id = group_id(&t.endpoint.topic_name, &name, &t.endpoint.qos.partition);
                tracing::info!(topic = %t.endpoint.topic_name, samples = t.history.len(), "restored from the store");
                svc.groups.insert(
                    id,
                    Group {
                        endpoint: t.endpoint,
                        support,
                        history: t.history,
                        reader: None,
                        writer: None,
                        sources: HashSet::new(),
                        peers: HashSet::new(),
                        log: Some(t.log),
                        stale_writer: false,
                        dirty: false,
                        present: HashSet::new(),
                        seen_readers: HashSet::new(),
                        relay: None,
                    },
                );
            }
        }
        svc.publish_status();
        Ok(svc)
    }

    /// What the service holds, per topic name, updated as it changes.
    pub fn status(&self) -> watch::Receiver<BTreeMap<String, TopicStatus>> {
        self.status.subscribe()
    }

    /// The participant the service runs on.
    pub fn participant(&self) -> &DomainParticipant {
        &self.participant
    }

    /// Runs until `shutdown` completes; then syncs the store.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DurabilityError> {
        tokio::pin!(shutdown);
        let mut events = self.participant.discovery_events();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {}
                _ = events.recv() => {}
            }
            self.step()?;
        }
        for g in self.groups.values_mut() {
            if let Some(log) = &mut g.log {
                log.sync()?;
            }
        }
        Ok(())
    }

    fn own_prefix(&self) -> GuidPrefix {
        self.participant.guid_prefix()
    }

    fn serves_topic(&self, topic: &str) -> bool {
        self.config.topics.is_empty() || self.config.topics.iter().any(|p| glob_match(p, topic))
    }

    /// One pass: take on new source writers (and other services' writers), take what the readers received,
    /// notice writers that left, clean up, and make, remake or configure the service's writers.
    fn step(&mut self) -> Result<(), DurabilityError> {
        let discovered = self.participant.discovered_writers();
        let now = now_nanos();
        let own = self.own_prefix();
        for w in &discovered {
            if self.known.contains_key(&w.guid)
                || w.qos.durability < DurabilityKind::Transient
                || w.guid.prefix == own
                || !self.serves_topic(&w.topic_name)
            {
                continue;
            }
            self.take_on(w, w.qos.user_data == SERVICE_USER_DATA)?;
        }
        let alive: HashSet<Guid> = discovered.iter().map(|w| w.guid).collect();
        let readers = self.participant.discovered_readers();
        for g in self.groups.values_mut() {
            Self::drain(g, &self.known, now)?;
        }
        let gone: Vec<(Guid, String)> =
            self.known.iter().filter(|(g, _)| !alive.contains(g)).map(|(g, id)| (*g, id.clone())).collect();
        for (guid, id) in gone {
            self.known.remove(&guid);
            if let Some(g) = self.groups.get_mut(&id) {
                g.peers.remove(&guid);
                if g.sources.remove(&guid) && g.sources.is_empty() {
                    tracing::info!(topic = %g.endpoint.topic_name, "last source writer gone");
                    g.history.writers_gone(now);
                }
            }
        }
        self.unresolved.retain(|g| alive.contains(g));
        let sync = self.last_sync.elapsed() >= Duration::from_secs(1);
        if sync {
            self.last_sync = Instant::now();
        }
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            let Some(g) = self.groups.get_mut(&id) else { continue };
            let removed = g.history.cleanup(now);
            if !removed.is_empty() {
                tracing::debug!(topic = %g.endpoint.topic_name, n = removed.len(), "disposed instances cleaned up");
                if let Some(log) = &mut g.log {
                    for k in &removed {
                        log.remove(k)?;
                    }
                }
                g.stale_writer = true;
            }
            if let Some(log) = &mut g.log {
                log.maybe_compact(&g.history)?;
                if sync {
                    log.sync()?;
                }
            }
            Self::manage_writer(&self.participant, own, g, &readers)?;
        }
        self.publish_status();
        Ok(())
    }

    /// Makes, remakes, drops or configures a group's writer (see "Serving" in the module docs).
    fn manage_writer(
        p: &DomainParticipant,
        own: GuidPrefix,
        g: &mut Group,
        readers: &[EndpointData],
    ) -> Result<(), DurabilityError> {
        let topic = &g.endpoint.topic_name;
        let topic_readers: Vec<&EndpointData> =
            readers.iter().filter(|r| r.topic_name == *topic && r.guid.prefix != own).collect();
        g.present.retain(|r| topic_readers.iter().any(|d| d.guid == *r));
        if !g.sources.is_empty() {
            g.present.extend(topic_readers.iter().filter(|r| r.vendor_id != VendorId::STARLING).map(|r| r.guid));
        }
        // Other vendors' late joiners are served by one service: the one with the smallest GUID prefix.
        let lead = g.peers.iter().all(|p| own.0 < p.prefix.0);
        let for_others = g.sources.is_empty() && lead;
        let new_readers: Vec<&&EndpointData> =
            topic_readers.iter().filter(|r| !g.seen_readers.contains(&r.guid)).collect();
        let new_to_serve = new_readers.iter().any(|r| r.vendor_id == VendorId::STARLING || for_others);
        g.seen_readers = topic_readers.iter().map(|r| r.guid).collect();
        if g.history.is_empty() {
            if g.writer.take().is_some() {
                tracing::info!(topic = %g.endpoint.topic_name, "nothing held: service writer deleted");
            }
            g.relay = None;
            return Ok(());
        }
        let remake = g.writer.is_none() || g.stale_writer || (g.dirty && (g.sources.is_empty() || new_to_serve));
        let mut no_history_for: Vec<Guid> = g.present.iter().copied().collect();
        no_history_for.sort();
        if remake {
            // The old writer goes first, so that no reader gets the stale history from it meanwhile.
            g.writer = None;
            g.writer = Some(Self::serve(p, g, for_others, no_history_for.clone())?);
            g.relay = Some((for_others, no_history_for));
            g.stale_writer = false;
            g.dirty = false;
        } else if g.relay.as_ref() != Some(&(for_others, no_history_for.clone())) {
            if let Some(w) = &g.writer {
                w.set_relay_history(for_others, no_history_for.clone());
            }
            g.relay = Some((for_others, no_history_for));
        }
        Ok(())
    }

    /// Takes on a new source writer (or, with `peer`, another service's writer): its group (made if new) reads
    /// and holds its samples.
    fn take_on(&mut self, w: &EndpointData, peer: bool) -> Result<(), DurabilityError> {
        let id = group_id(&w.topic_name, &w.type_name, &w.qos.partition);
        if !self.groups.contains_key(&id) {
            let ty = match self.participant.remote_type(&w.guid) {
                Some(Ok(t)) => Some(t),
                _ => builtin_type(&w.type_name),
            };
            let Some(ty) = ty else {
                if self.unresolved.insert(w.guid) {
                    tracing::info!(topic = %w.topic_name, type_name = %w.type_name, "waiting for the writer's type");
                }
                return Ok(());
            };
            let support = match RawSupport::new(ty, &w.type_name) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    if self.unresolved.insert(w.guid) {
                        tracing::warn!(topic = %w.topic_name, "writer's type is not usable: {e}");
                    }
                    return Ok(());
                }
            };
            let mut endpoint = w.clone();
            endpoint.type_information = None;
            endpoint.qos.user_data.clear();
            let log = match (&self.config.store, w.qos.durability) {
                (Some(dir), DurabilityKind::Persistent) => {
                    let idl = crate::dynamic::to_idl(support.ty());
                    Some(store::TopicLog::create(store::log_path(dir, &id), &endpoint, &idl)?)
                }
                _ => None,
            };
            tracing::info!(topic = %w.topic_name, type_name = %w.type_name, durability = ?w.qos.durability, "holding topic");
            self.groups.insert(
                id.clone(),
                Group {
                    history: TopicHistory::new(w.qos.durability_service),
                    endpoint,
                    support,
                    reader: None,
                    writer: None,
                    sources: HashSet::new(),
                    peers: HashSet::new(),
                    log,
                    stale_writer: false,
                    dirty: false,
                    present: HashSet::new(),
                    seen_readers: HashSet::new(),
                    relay: None,
                },
            );
        }
        let Some(g) = self.groups.get_mut(&id) else { return Ok(()) };
        if g.reader.is_none() {
            g.reader = Some(Self::read(&self.participant, g)?);
        }
        if peer {
            g.peers.insert(w.guid);
            tracing::debug!(writer = %w.guid, topic = %w.topic_name, "another service's writer: aligning");
        } else {
            g.sources.insert(w.guid);
            g.history.writer_alive();
            tracing::debug!(writer = %w.guid, topic = %w.topic_name, "source writer taken on");
        }
        self.known.insert(w.guid, id);
        Ok(())
    }

    /// The reader of a group: TRANSIENT_LOCAL (so that a writer found late still sends its history), KEEP_ALL,
    /// in the writer's partitions, with the RxO policies any writer of the topic offers at least.
    fn read(p: &DomainParticipant, g: &Group) -> Result<DataReader<RawSample>, DdsError> {
        let wq = &g.endpoint.qos;
        let mut q = EndpointQos::reader_any_representation();
        q.reliability.kind = wq.reliability.kind;
        q.durability = DurabilityKind::TransientLocal;
        q.history = History::KeepAll;
        q.ownership = wq.ownership;
        q.user_data = SERVICE_USER_DATA.to_vec();
        let topic = Topic::with_support(&g.endpoint.topic_name, g.support.clone() as Arc<_>);
        p.create_subscriber(wq.partition.clone()).create_datareader(&topic, Some(q))
    }

    /// Creates the writer that serves a group's held samples, with their source timestamps and original
    /// identities, as its history: to Starling readers that match it, and to others when `for_others` and they
    /// are not in `no_history_for`.
    fn serve(
        p: &DomainParticipant,
        g: &Group,
        for_others: bool,
        no_history_for: Vec<Guid>,
    ) -> Result<DataWriter<RawSample>, DdsError> {
        let mut q = g.endpoint.qos.clone();
        // The history decides what is held; the writer keeps all of it.
        q.history = History::KeepAll;
        q.resource_limits = ResourceLimits::default();
        q.user_data = SERVICE_USER_DATA.to_vec();
        let representation = q.writer_representation();
        let version = version_for_representation(representation).map_err(|e| DdsError::Encode(e.into()))?;
        let support: &RawSupport = &g.support;
        let held = g.history.snapshot();
        let mut preload = Vec::with_capacity(held.len());
        for s in &held {
            let sample = RawSample { payload: s.payload.clone(), key_only: s.key_only };
            let mut buf = Vec::with_capacity(s.payload.len());
            let r = if s.dispose {
                support.encode_key(&sample, representation, Endian::Little, &mut buf)
            } else {
                support.encode(&sample, representation, Endian::Little, &mut buf)
            };
            r.map_err(DdsError::Encode)?;
            let ts = if s.source_nanos == 0 { wall_clock() } else { Time::from_nanos(s.source_nanos) };
            preload.push(WriteChange {
                kind: if s.dispose { ChangeKind::Disposed } else { ChangeKind::Alive },
                key_hash: if support.is_keyed() { support.key_hash(&sample, version) } else { KeyHash::default() },
                payload: buf.into(),
                source_timestamp: Some(ts),
                related_sample_identity: None,
                original_writer: s.origin.map(Box::new),
            });
        }
        let topic = Topic::with_support(&g.endpoint.topic_name, g.support.clone() as Arc<_>);
        let w = p.create_publisher(q.partition.clone()).create_datawriter_preloaded(
            &topic,
            q,
            preload,
            no_history_for,
            Some(for_others),
        )?;
        tracing::info!(topic = %g.endpoint.topic_name, samples = held.len(), "serving held samples");
        Ok(w)
    }

    /// Takes what a group's reader received from its source writers and other services into its history (and
    /// log); a change already held (by original writer and sequence number) is not taken again.
    fn drain(g: &mut Group, known: &HashMap<Guid, String>, now: u64) -> Result<(), DurabilityError> {
        let Some(reader) = &g.reader else { return Ok(()) };
        for s in reader.take() {
            // Only samples of source writers and other services: not the service's own writer, nor
            // TRANSIENT_LOCAL writers.
            if !known.contains_key(&s.info.publication_handle) {
                continue;
            }
            let origin = if g.peers.contains(&s.info.publication_handle) {
                // Relayed: held by its original identity, or not at all.
                let Some(o) = s.info.original_writer else { continue };
                o
            } else {
                SampleIdentity::new(s.info.publication_handle, s.info.sample_identity().sequence_number)
            };
            let ts = s.info.source_timestamp.filter(|t| *t != starling_proto::wire::types::Time::INVALID);
            let ts = ts.map_or_else(|| wall_clock().to_nanos(), |t| t.to_nanos());
            let key = s.info.instance_handle;
            if s.info.valid_data {
                let Some(data) = s.data else { continue };
                match g.history.add_from(key, ts, data.payload.clone(), Some(origin)) {
                    Ok(()) => {
                        g.dirty = true;
                        if let Some(log) = &mut g.log {
                            if let Some(h) = g.history.newest(&key) {
                                log.append(h)?;
                            }
                        }
                    }
                    Err(r) => tracing::debug!(topic = %g.endpoint.topic_name, "sample not held: {r:?}"),
                }
            } else if s.info.instance_state == InstanceState::NotAliveDisposed {
                let (payload, key_only) = match s.data {
                    Some(d) => (Some(d.payload), d.key_only),
                    None => (None, false),
                };
                let alive = !g.sources.is_empty();
                if g.history.dispose_from(key, ts, payload.map(|p: Bytes| (p, key_only)), alive, now, Some(origin)) {
                    g.dirty = true;
                    if let Some(log) = &mut g.log {
                        if let Some(h) = g.history.disposed(&key) {
                            log.append(h)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn publish_status(&self) {
        let map: BTreeMap<String, TopicStatus> = self
            .groups
            .values()
            .map(|g| {
                (
                    g.endpoint.topic_name.clone(),
                    TopicStatus {
                        type_name: g.endpoint.type_name.clone(),
                        durability: Some(g.endpoint.qos.durability),
                        samples: g.history.len(),
                        instances: g.history.instance_count(),
                        writers: g.sources.len(),
                        serving: g.writer.is_some() && g.sources.is_empty(),
                        peers: g.peers.len(),
                    },
                )
            })
            .collect();
        self.status.send_if_modified(|s| {
            if *s == map {
                false
            } else {
                *s = map;
                true
            }
        });
    }
}
