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
//!   max_samples, max_instances, max_samples_per_instance ([`TopicHistory`]). A dispose is held after the
//!   instance's samples; once the instance is disposed and no source writer is alive, it is dropped after
//!   service_cleanup_delay. Unregistrations are not held.
//! - When no source writer of a topic is alive, it publishes what it holds with a writer of the same topic,
//!   type, partitions and QoS (the durability kind included), each sample with its original source timestamp;
//!   late-joining TRANSIENT and PERSISTENT readers (and TRANSIENT_LOCAL ones) get them as history. When a source
//!   writer appears again, that writer is deleted, so that readers never get a sample from both.
//! - PERSISTENT topics are also written to an append-only log per topic in the `--store` directory
//!   ([`store`]), and are served again after the service restarts.
//!
//! The service's writers carry [`SERVICE_USER_DATA`] in USER_DATA; services ignore each other's writers.
//!
//! Readers that were there while a source writer lived already have its samples: the service's writer serves
//! its history (the held samples, in its history before it matches anyone) only to readers it discovered after
//! the last source writer left (`Participant::create_writer_preloaded` in the core). Limits: a reader that
//! joined after a source writer crashed but before its lease expired counts as having the samples; a topic whose
//! writers differ in partitions is held once per partition set.

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
use starling_proto::wire::types::{Guid, GuidPrefix, Time};
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
    /// Whether the service's own writer is serving the topic (no source writer is alive).
    pub serving: bool,
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
    log: Option<store::TopicLog>,
    /// Set when the held set shrank (cleanup): the writer is made again from what is held.
    stale_writer: bool,
    /// Remote readers of the topic seen while a source writer was alive: they got the samples from it, and
    /// get no history from the service's writer.
    present: HashSet<Guid>,
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
                        log: Some(t.log),
                        stale_writer: false,
                        present: HashSet::new(),
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

    /// One pass: take on new source writers, take what the readers received, notice writers that left,
    /// clean up, and start or stop the service's writers.
    fn step(&mut self) -> Result<(), DurabilityError> {
        let discovered = self.participant.discovered_writers();
        let now = now_nanos();
        for w in &discovered {
            if self.known.contains_key(&w.guid)
                || w.qos.durability < DurabilityKind::Transient
                || w.guid.prefix == self.own_prefix()
                || w.qos.user_data == SERVICE_USER_DATA
                || !self.serves_topic(&w.topic_name)
            {
                continue;
            }
            self.take_on(w)?;
        }
        let alive: HashSet<Guid> = discovered.iter().map(|w| w.guid).collect();
        let readers = self.participant.discovered_readers();
        for g in self.groups.values_mut() {
            Self::drain(g, &self.known, now)?;
            g.present.retain(|r| readers.iter().any(|d| d.guid == *r));
            if !g.sources.is_empty() {
                let topic = &g.endpoint.topic_name;
                g.present.extend(readers.iter().filter(|r| r.topic_name == *topic).map(|r| r.guid));
            }
        }
        let gone: Vec<(Guid, String)> =
            self.known.iter().filter(|(g, _)| !alive.contains(g)).map(|(g, id)| (*g, id.clone())).collect();
        for (guid, id) in gone {
            self.known.remove(&guid);
            if let Some(g) = self.groups.get_mut(&id) {
                g.sources.remove(&guid);
                if g.sources.is_empty() {
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
        let publisher_parts: Vec<String> = self.groups.keys().cloned().collect();
        for id in publisher_parts {
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
            if !g.sources.is_empty() || g.stale_writer {
                if g.writer.take().is_some() {
                    tracing::info!(topic = %g.endpoint.topic_name, "service writer deleted");
                }
                g.stale_writer = false;
            }
            if g.sources.is_empty() && g.writer.is_none() && !g.history.is_empty() {
                let w = Self::serve(&self.participant, g)?;
                g.writer = Some(w);
            }
        }
        self.publish_status();
        Ok(())
    }

    /// Takes on a new source writer: its group (made if new) reads and holds its samples.
    fn take_on(&mut self, w: &EndpointData) -> Result<(), DurabilityError> {
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
                    log,
                    stale_writer: false,
                    present: HashSet::new(),
                },
            );
        }
        let Some(g) = self.groups.get_mut(&id) else { return Ok(()) };
        if g.reader.is_none() {
            g.reader = Some(Self::read(&self.participant, g)?);
        }
        g.sources.insert(w.guid);
        g.history.writer_alive();
        self.known.insert(w.guid, id);
        tracing::debug!(writer = %w.guid, topic = %w.topic_name, "source writer taken on");
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

    /// Creates the writer that serves a group's held samples, with their source timestamps, as its history:
    /// late joiners get them, readers that were there while a source writer lived do not get them again.
    fn serve(p: &DomainParticipant, g: &Group) -> Result<DataWriter<RawSample>, DdsError> {
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
            });
        }
        let topic = Topic::with_support(&g.endpoint.topic_name, g.support.clone() as Arc<_>);
        let present: Vec<Guid> = g.present.iter().copied().collect();
        let w = p.create_publisher(q.partition.clone()).create_datawriter_preloaded(&topic, q, preload, present)?;
        tracing::info!(topic = %g.endpoint.topic_name, samples = held.len(), "serving held samples");
        Ok(w)
    }

    /// Takes what a group's reader received from its source writers into its history (and log).
    fn drain(g: &mut Group, known: &HashMap<Guid, String>, now: u64) -> Result<(), DurabilityError> {
        let Some(reader) = &g.reader else { return Ok(()) };
        for s in reader.take() {
            // Only samples of source writers: not the service's own writer, nor TRANSIENT_LOCAL writers.
            if !known.contains_key(&s.info.publication_handle) {
                continue;
            }
            let ts = s.info.source_timestamp.filter(|t| *t != starling_proto::wire::types::Time::INVALID);
            let ts = ts.map_or_else(|| wall_clock().to_nanos(), |t| t.to_nanos());
            let key = s.info.instance_handle;
            if s.info.valid_data {
                let Some(data) = s.data else { continue };
                match g.history.add(key, ts, data.payload.clone()) {
                    Ok(()) => {
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
                if g.history.dispose(key, ts, payload.map(|p: Bytes| (p, key_only)), alive, now) {
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
                        serving: g.writer.is_some(),
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
