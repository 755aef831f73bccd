//! The DDS side: one participant per domain, a dynamic reader and/or writer per route, routes
//! created at run time for default-mapped topics, and the loop guard.

use super::config::{BridgeConfig, Format, LoopGuardConfig, RouteConfig};
use super::mapping::{apply_key_levels_at, default_name, key_levels, key_paths};
use super::{
    hex, props, BridgeError, Hub, Inbound, InboundReceiver, Outbound, ParticipantFactory, RequestReply,
    BRIDGE_USER_DATA,
};
use crate::dds::{DataReader, DataWriter, DdsError, DomainParticipant, InstanceState, Sample, SampleIdentity};
use crate::dynamic::{from_json, to_json};
use crate::qos::{History, ReliabilityKind};
use bytes::Bytes;
use starling_proto::core::WriteErrorKind;
use starling_proto::discovery::data::EndpointData;
use starling_proto::wire::types::{Guid, GuidPrefix};
use starling_proto::xtypes::{DynamicType, DynamicValue};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The MQTT filters whose messages the DDS side wants.
pub(super) fn inbound_filters(cfg: &BridgeConfig) -> Vec<String> {
    let mut out = Vec::new();
    for r in cfg.routes.iter().filter(|r| r.direction.to_dds()) {
        out.push(r.broker_name.clone());
        out.push(format!("{}/#", r.broker_name));
    }
    let d = &cfg.default_mapping;
    if d.enabled && d.direction.to_dds() {
        out.push(if d.prefix.is_empty() { "#".to_string() } else { format!("{}/#", d.prefix) });
    }
    out.sort();
    out.dedup();
    out
}

/// Decides whether a DDS sample may go out to clients.
#[derive(Debug, Clone)]
pub(crate) struct LoopGuard {
    own: HashSet<GuidPrefix>,
    forward_other_bridges: bool,
}

impl LoopGuard {
    pub(crate) fn new(own: impl IntoIterator<Item = GuidPrefix>, cfg: LoopGuardConfig) -> Self {
        Self { own: own.into_iter().collect(), forward_other_bridges: cfg.forward_other_bridges }
    }

    /// `writer_user_data`: the writer's USER_DATA, if discovery knows it.
    pub(crate) fn forward(&self, writer: &Guid, writer_user_data: Option<&[u8]>) -> bool {
        if self.own.contains(&writer.prefix) {
            return false;
        }
        self.forward_other_bridges || writer_user_data != Some(BRIDGE_USER_DATA)
    }
}

/// A route in service.
struct Active {
    cfg: RouteConfig,
    ty: DynamicType,
    keyed: bool,
    /// The key members of `ty` ([`key_paths`]; empty when unkeyed): a broker name carries one level
    /// per key after `broker_name`.
    key_paths: Vec<Vec<String>>,
    writer: Option<DataWriter<DynamicValue>>,
    // Kept alive while the route runs.
    _reader: Option<Arc<DataReader<DynamicValue>>>,
}

struct Shared {
    routes: Mutex<Vec<Arc<Active>>>,
    hub: Hub,
    guard: LoopGuard,
    writers: Mutex<HashMap<Guid, WriterMeta>>,
    requests: Mutex<PendingRequests>,
}

/// Requests (MQTT, STOMP, AMQP) written to DDS, awaiting DDS replies: the written sample's
/// identity → the requester's reply address and correlation data. Bounded: the oldest entry goes first when full,
/// and an entry expires [`PendingRequests::TTL`] after the request (several replies to one request
/// are all forwarded until then).
#[derive(Debug, Default)]
pub(crate) struct PendingRequests {
    by_id: HashMap<SampleIdentity, (RequestReply, Instant)>,
    order: VecDeque<(Instant, SampleIdentity)>,
}

impl PendingRequests {
    /// Entries kept at most.
    pub(crate) const CAPACITY: usize = 4096;
    /// How long a request waits for replies.
    pub(crate) const TTL: Duration = Duration::from_secs(60);

    /// Remembers a request.
    pub(crate) fn insert(&mut self, now: Instant, id: SampleIdentity, reply: RequestReply) {
        self.expire(now);
        while self.by_id.len() >= Self::CAPACITY {
            let Some((_, old)) = self.order.pop_front() else { break };
            self.by_id.remove(&old);
        }
        self.by_id.insert(id, (reply, now));
        self.order.push_back((now, id));
    }

    /// The reply address and correlation data of the request `related` names, if still pending.
    pub(crate) fn lookup(&mut self, now: Instant, related: &SampleIdentity) -> Option<RequestReply> {
        self.expire(now);
        self.by_id.get(related).map(|(r, _)| r.clone())
    }

    fn expire(&mut self, now: Instant) {
        while let Some((t, id)) = self.order.front().copied() {
            if now.duration_since(t) < Self::TTL {
                break;
            }
            self.order.pop_front();
            if self.by_id.get(&id).is_some_and(|e| e.1 == t) {
                self.by_id.remove(&id);
            }
        }
    }

    /// Number of pending requests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[derive(Clone)]
struct WriterMeta {
    user_data: Vec<u8>,
    lifespan: Option<Duration>,
}

impl Shared {
    fn routes(&self) -> MutexGuard<'_, Vec<Arc<Active>>> {
        self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The running DDS side.
pub(super) struct DdsSide {
    tasks: tokio::task::JoinSet<()>,
    shared: Arc<Shared>,
    /// Tells the inbound loop to write what is still queued and end (see [`DdsSide::stop`]).
    finish: watch::Sender<bool>,
    inbound: tokio::task::JoinHandle<()>,
    _participants: Vec<Arc<DomainParticipant>>,
}

/// How long shutdown waits for the queued client messages to be written, and then for DDS readers to
/// acknowledge them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

impl DdsSide {
    pub(super) fn start(
        cfg: &BridgeConfig,
        factory: &ParticipantFactory,
        hub: Hub,
        inbound: InboundReceiver,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, BridgeError> {
        let mut domains: Vec<u32> = cfg.routes.iter().map(|r| r.domain).collect();
        if cfg.default_mapping.enabled {
            domains.push(cfg.default_mapping.domain);
        }
        domains.sort_unstable();
        domains.dedup();
        let mut parts: HashMap<u32, Arc<DomainParticipant>> = HashMap::new();
        for d in domains {
            parts.insert(d, Arc::new(factory(d)?));
        }
        let guard = LoopGuard::new(parts.values().map(|p| p.guid_prefix()), cfg.loop_guard);
        let shared = Arc::new(Shared {
            routes: Mutex::new(Vec::new()),
            hub,
            guard,
            writers: Mutex::new(HashMap::new()),
            requests: Mutex::new(PendingRequests::default()),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for r in &cfg.routes {
            let Some(p) = parts.get(&r.domain).cloned() else { continue };
            let (shared, r, stop) = (shared.clone(), r.clone(), stop.clone());
            tasks.spawn(async move {
                let ty = match r.ty.clone() {
                    Some(t) => t,
                    None => match learn_type(&p, &r.topic, stop.clone()).await {
                        Some(t) => t,
                        None => return,
                    },
                };
                if let Err(e) = open_route(&shared, &p, r.clone(), ty, stop) {
                    tracing::error!("bridge: route for topic {} (line {}): {e}", r.topic, r.line);
                }
            });
        }
        if cfg.default_mapping.enabled {
            if let Some(p) = parts.get(&cfg.default_mapping.domain).cloned() {
                tasks.spawn(default_mapping(shared.clone(), p, cfg.clone(), stop.clone()));
            }
        }
        let (finish, finish_rx) = watch::channel(false);
        let inbound = tokio::spawn(inbound_loop(shared.clone(), inbound, finish_rx));
        Ok(Self { tasks, shared, finish, inbound, _participants: parts.into_values().collect() })
    }

    /// Graceful stop, called once the endpoints have closed their connections: the client messages
    /// still queued towards DDS are written, reliable DDS readers get the time to acknowledge what the
    /// route writers wrote (both bounded by [`DRAIN_TIMEOUT`]), then everything stops.
    pub(super) async fn stop(mut self) {
        let _ = self.finish.send(true);
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut self.inbound).await.is_err() {
            tracing::warn!("bridge: client messages still queued for DDS at shutdown were dropped");
            self.inbound.abort();
        }
        let writers: Vec<Arc<Active>> = self.shared.routes().iter().filter(|r| r.writer.is_some()).cloned().collect();
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        for r in writers {
            let Some(w) = &r.writer else { continue };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if w.wait_for_acknowledgments(left).await.is_err() {
                tracing::warn!("bridge: DDS readers of {} did not acknowledge everything before shutdown", r.cfg.topic);
            }
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Waits for a remote writer or reader on `topic` whose type can be resolved.
async fn learn_type(p: &DomainParticipant, topic: &str, mut stop: watch::Receiver<bool>) -> Option<DynamicType> {
    let mut events = p.discovery_events();
    loop {
        let found = p
            .discovered_writers()
            .into_iter()
            .chain(p.discovered_readers())
            .filter(|e| e.topic_name == topic && e.guid.prefix != p.guid_prefix())
            .find_map(|e| p.remote_type(&e.guid).and_then(Result::ok));
        if found.is_some() {
            return found;
        }
        tokio::select! {
            _ = events.recv() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => return None,
        }
    }
}

fn open_route(
    shared: &Arc<Shared>,
    p: &Arc<DomainParticipant>,
    cfg: RouteConfig,
    ty: DynamicType,
    stop: watch::Receiver<bool>,
) -> Result<(), BridgeError> {
    let topic = p.create_dynamic_topic(&cfg.topic, ty.clone())?;
    let partition = if cfg.partition.is_empty() { Vec::new() } else { vec![cfg.partition.clone()] };
    let writer = if cfg.direction.to_dds() {
        let mut q = cfg.writer_qos.clone();
        q.user_data = BRIDGE_USER_DATA.to_vec();
        if q.reliability.kind == ReliabilityKind::Reliable
            && q.history == History::KeepAll
            && q.resource_limits.max_samples < 0
        {
            q.resource_limits.max_samples = WRITE_WINDOW;
        }
        let w = p.create_publisher(partition.clone()).create_datawriter(&topic, Some(q))?;
        // The inbound loop writes a round of client messages, then flushes (see `inbound_loop`).
        w.set_batching(true);
        Some(w)
    } else {
        None
    };
    let reader = if cfg.direction.from_dds() {
        let mut q = cfg.reader_qos.clone();
        q.user_data = BRIDGE_USER_DATA.to_vec();
        // Accept both encodings; a profile that names representations explicitly is kept.
        q.accept_any_representation();
        Some(Arc::new(p.create_subscriber(partition).create_datareader(&topic, Some(q))?))
    } else {
        None
    };
    let keyed = ty.is_keyed();
    let key_paths = if keyed { key_paths(&ty) } else { Vec::new() };
    let active = Arc::new(Active { cfg, ty, keyed, key_paths, writer, _reader: reader.clone() });
    shared.routes().push(active.clone());
    tracing::info!(
        "bridge: topic {} ⇄ {} ({:?}, {:?})",
        active.cfg.topic,
        active.cfg.broker_name,
        active.cfg.direction,
        active.cfg.format
    );
    if let Some(reader) = reader {
        tokio::spawn(read_loop(shared.clone(), active, reader, p.clone(), stop));
    }
    Ok(())
}

async fn read_loop(
    shared: Arc<Shared>,
    route: Arc<Active>,
    reader: Arc<DataReader<DynamicValue>>,
    participant: Arc<DomainParticipant>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let s = tokio::select! {
            s = reader.take_next() => s,
            _ = stop.changed() => return,
        };
        let Ok(s) = s else { return };
        let meta = writer_meta(&shared, &participant, &s.info.publication_handle);
        if !shared.guard.forward(&s.info.publication_handle, meta.as_ref().map(|m| m.user_data.as_slice())) {
            continue;
        }
        if let Some(m) = to_outbound(&route, &s, meta.and_then(|m| m.lifespan)) {
            // A reply to a client's request also goes to the requester's reply address.
            let pending = s.info.related_sample_identity.and_then(|rel| {
                shared.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).lookup(Instant::now(), &rel)
            });
            if let Some(RequestReply { response_topic: Some(to), correlation_data, via }) = pending {
                let reply = Outbound {
                    name: to,
                    rpc: RequestReply { response_topic: None, correlation_data, via },
                    reply: true,
                    ..m.clone()
                };
                shared.hub.publish(reply);
            }
            shared.hub.publish(m);
        }
    }
}

fn writer_meta(shared: &Shared, p: &DomainParticipant, g: &Guid) -> Option<WriterMeta> {
    if let Some(m) = shared.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(g) {
        return Some(m.clone());
    }
    let d: EndpointData = p.discovered_writers().into_iter().find(|w| w.guid == *g)?;
    let lifespan = d.qos.lifespan.to_std();
    let m = WriterMeta { user_data: d.qos.user_data.clone(), lifespan };
    shared.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(*g, m.clone());
    Some(m)
}

/// Builds the broker message for a sample (None for samples that carry nothing to forward).
fn to_outbound(route: &Active, s: &Sample<DynamicValue>, lifespan: Option<Duration>) -> Option<Outbound> {
    let data = s.data.as_ref()?;
    let json = match to_json(&route.ty, data) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!("bridge: sample on {} not convertible to JSON: {e}", route.cfg.topic);
            return None;
        }
    };
    let mut name = route.cfg.broker_name.clone();
    if route.keyed {
        for l in key_levels(&route.ty, &json) {
            name.push('/');
            name.push_str(&l);
        }
    }
    let mut properties = Vec::new();
    if let Some(ts) = s.info.source_timestamp {
        properties.push((props::SOURCE_TIMESTAMP.to_string(), ts.to_nanos().to_string()));
    }
    properties.push((props::WRITER_GUID.to_string(), s.info.publication_handle.to_string()));
    if s.info.sequence_number > 0 {
        properties.push((props::SEQUENCE_NUMBER.to_string(), s.info.sequence_number.to_string()));
    }
    properties.push((props::TYPE_NAME.to_string(), route.ty.name().unwrap_or_default().to_string()));
    properties.push((props::TOPIC.to_string(), route.cfg.topic.clone()));
    if let Some(rel) = &s.info.related_sample_identity {
        properties.push((props::RELATED_SAMPLE_IDENTITY.to_string(), hex(&rel.to_bytes())));
    }
    if !s.info.valid_data {
        if s.info.instance_state != InstanceState::NotAliveDisposed || !route.keyed {
            return None;
        }
        properties.push((props::INSTANCE_STATE.to_string(), "disposed".to_string()));
        return Some(Outbound {
            name,
            payload: Bytes::new(),
            disposed: true,
            properties,
            expiry: None,
            content_type: "application/json",
            rpc: RequestReply::default(),
            reply: false,
        });
    }
    let (payload, content_type) = match route.cfg.format {
        Format::Json => (Bytes::from(json.to_string()), "application/json"),
        Format::Cdr => {
            let mut out = Vec::new();
            let rep = route.cfg.writer_qos.writer_representation();
            if let Err(e) =
                starling_proto::xtypes::encode(&route.ty, data, rep, starling_proto::wire::Endian::Little, &mut out)
            {
                tracing::warn!("bridge: sample on {} not encodable: {e}", route.cfg.topic);
                return None;
            }
            (Bytes::from(out), "application/cdr")
        }
    };
    // The sample's own identity, for an MQTT responder to echo (see `RequestReply`).
    let rpc = RequestReply {
        response_topic: None,
        correlation_data: (s.info.sequence_number > 0)
            .then(|| Bytes::copy_from_slice(&s.info.sample_identity().to_bytes())),
        via: super::ReplyVia::default(),
    };
    Some(Outbound { name, payload, disposed: false, properties, expiry: lifespan, content_type, rpc, reply: false })
}

/// Finds the route for a broker name and the key levels after its `broker_name`.
/// The levels borrow from `name`; nothing is allocated for a name without key levels.
fn match_route<'a, 'n>(routes: &'a [Arc<Active>], name: &'n str) -> Option<(&'a Arc<Active>, Vec<&'n str>)> {
    routes.iter().filter(|r| r.cfg.direction.to_dds()).find_map(|r| {
        let rest = if name == r.cfg.broker_name {
            ""
        } else {
            name.strip_prefix(r.cfg.broker_name.as_str())?.strip_prefix('/')?
        };
        if rest.is_empty() {
            return Some((r, Vec::new()));
        }
        if rest.split('/').count() != r.key_paths.len() {
            return None;
        }
        Some((r, rest.split('/').collect()))
    })
}

/// Unacknowledged samples a reliable KEEP_ALL route writer holds at most when its QoS sets no
/// RESOURCE_LIMITS max_samples: a full history makes the inbound loop wait for acknowledgements
/// (and so, through the queue, the clients), instead of growing without bound and sending more
/// than the readers' socket buffers take.
const WRITE_WINDOW: i32 = 256;

/// Messages the inbound loop takes out of the queue per round at most.
const ROUND: usize = 1024;

/// Writes client messages into DDS until `finish` turns true; then writes what is still queued and
/// returns.
///
/// Each round takes every queued message (up to [`ROUND`]), writes them with the route writers in
/// batching mode (the samples of a round share datagrams), then flushes the writers it used.
async fn inbound_loop(shared: Arc<Shared>, mut rx: InboundReceiver, mut finish: watch::Receiver<bool>) {
    let mut finishing = false;
    let mut batch: Vec<Inbound> = Vec::new();
    let mut used: Vec<Arc<Active>> = Vec::new();
    loop {
        let n = if finishing {
            rx.try_recv_many(&mut batch, ROUND)
        } else {
            tokio::select! {
                n = rx.recv_many(&mut batch, ROUND) => n,
                _ = finish.changed() => {
                    finishing = true;
                    continue;
                }
            }
        };
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let routes: Vec<Arc<Active>> = shared.routes().clone();
        for m in batch.drain(..) {
            write_one(&shared, &routes, &m, now, &mut used).await;
        }
        for r in used.drain(..) {
            if let Some(w) = &r.writer {
                w.flush();
            }
        }
    }
}

/// Writes one client message with its route's writer; remembers the route in `used`.
async fn write_one(shared: &Shared, routes: &[Arc<Active>], m: &Inbound, now: Instant, used: &mut Vec<Arc<Active>>) {
    if m.expired(now) {
        tracing::debug!("bridge: message on {} expired before it was written to DDS; dropped", m.name);
        return;
    }
    let Some((route, levels)) = match_route(routes, &m.name) else {
        tracing::debug!("bridge: no DDS route for {}", m.name);
        return;
    };
    if !used.iter().any(|r| Arc::ptr_eq(r, route)) {
        used.push(route.clone());
    }
    match write_inbound(route, &levels, m).await {
        Ok(Some(id)) => {
            if m.rpc.response_topic.is_some() {
                shared.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(
                    Instant::now(),
                    id,
                    m.rpc.clone(),
                );
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("bridge: message on {} not written to DDS topic {}: {e}", m.name, route.cfg.topic),
    }
}

/// Writes a client message into DDS; returns the identity of the sample written (None for a dispose
/// or nothing written). Waits while the writer's history is full.
async fn write_inbound(route: &Active, refs: &[&str], m: &Inbound) -> Result<Option<SampleIdentity>, String> {
    let Some(w) = &route.writer else { return Ok(None) };
    if m.payload.is_empty() {
        // An empty message on an instance's topic disposes the instance.
        if !route.keyed || refs.is_empty() {
            return Ok(None);
        }
        let mut j = serde_json::Value::Object(serde_json::Map::new());
        apply_key_levels_at(&route.ty, &route.key_paths, refs, &mut j).map_err(|e| e.to_string())?;
        let v = from_json(&route.ty, &j).map_err(|e| e.to_string())?;
        write_waiting(w, &v, Op::Dispose).await.map_err(|e| e.to_string())?;
        return Ok(None);
    }
    let v = match route.cfg.format {
        Format::Json => {
            let mut j: serde_json::Value = serde_json::from_slice(&m.payload).map_err(|e| e.to_string())?;
            if !refs.is_empty() {
                apply_key_levels_at(&route.ty, &route.key_paths, refs, &mut j).map_err(|e| e.to_string())?;
            }
            from_json(&route.ty, &j).map_err(|e| e.to_string())?
        }
        Format::Cdr => starling_proto::xtypes::decode(&route.ty, &m.payload).map_err(|e| e.to_string())?,
    };
    // A sample marked `dds-instance-state: disposed` (MQTT user property, STOMP header) disposes
    // the instance its key names.
    if route.keyed && m.properties.iter().any(|(k, v)| k == props::INSTANCE_STATE && v == "disposed") {
        write_waiting(w, &v, Op::Dispose).await.map_err(|e| e.to_string())?;
        return Ok(None);
    }
    // Correlation Data without a Response Topic that holds a sample identity: an answer to that DDS
    // sample, written as a DDS reply.
    let op = match &m.rpc {
        RequestReply { response_topic: None, correlation_data: Some(c), .. } => {
            SampleIdentity::from_bytes(c).map_or(Op::Write, Op::Reply)
        }
        _ => Op::Write,
    };
    write_waiting(w, &v, op).await.map_err(|e| e.to_string())
}

/// What [`write_waiting`] does with a sample.
#[derive(Clone, Copy)]
enum Op {
    Write,
    Reply(SampleIdentity),
    Dispose,
}

/// How long a write waits for acknowledgements between attempts when the history stays full.
const ROOM_POLL: Duration = Duration::from_millis(2);

/// Writes (or disposes) `v`, waiting while the writer's history is full ([`WRITE_WINDOW`]): the
/// batched datagrams go out first, then the write waits for acknowledgements to make room. Returns
/// the identity of the sample written (None for a dispose).
async fn write_waiting(
    w: &DataWriter<DynamicValue>,
    v: &DynamicValue,
    op: Op,
) -> Result<Option<SampleIdentity>, DdsError> {
    loop {
        let r = match op {
            Op::Write => w.write(v).map(|sn| Some(w.sample_identity(sn))),
            Op::Reply(rel) => w.write_w_related(v, rel).map(Some),
            Op::Dispose => w.dispose(v).map(|_| None),
        };
        match r {
            Err(DdsError::Write(e)) if e.kind == WriteErrorKind::HistoryFull => {
                w.flush();
                if let Op::Write = op {
                    // Returns as soon as an acknowledgement frees room (or after the writer's
                    // max_blocking_time, then this tries again).
                    match w.write_async(v).await {
                        Ok(sn) => return Ok(Some(w.sample_identity(sn))),
                        Err(DdsError::WriteTimeout(_)) => {}
                        Err(DdsError::Write(e)) if e.kind == WriteErrorKind::HistoryFull => {}
                        Err(e) => return Err(e),
                    }
                } else {
                    tokio::time::sleep(ROOM_POLL).await;
                }
            }
            r => return r,
        }
    }
}

/// Creates routes for topics found by discovery that the default mapping allows.
async fn default_mapping(
    shared: Arc<Shared>,
    p: Arc<DomainParticipant>,
    cfg: BridgeConfig,
    mut stop: watch::Receiver<bool>,
) {
    let dm = cfg.default_mapping.clone();
    let mut events = p.discovery_events();
    let mut pending: HashSet<(String, String)> = HashSet::new();
    loop {
        let endpoints: Vec<EndpointData> = p
            .discovered_writers()
            .into_iter()
            .chain(p.discovered_readers())
            .filter(|e| e.guid.prefix != p.guid_prefix())
            .collect();
        for e in endpoints {
            if !dm.allows(&e.topic_name) {
                continue;
            }
            let partition = e.qos.partition.first().cloned().unwrap_or_default();
            if partition.contains(['*', '?']) {
                continue;
            }
            let key = (partition.clone(), e.topic_name.clone());
            let known = shared.routes().iter().any(|r| r.cfg.topic == key.1 && r.cfg.partition == key.0)
                || cfg.routes.iter().any(|r| r.domain == dm.domain && r.topic == key.1 && r.partition == key.0);
            if known {
                continue;
            }
            let Some(Ok(ty)) = p.remote_type(&e.guid) else {
                pending.insert(key);
                continue;
            };
            pending.remove(&key);
            let mut route = RouteConfig {
                domain: dm.domain,
                partition: partition.clone(),
                topic: e.topic_name.clone(),
                type_name: Some(e.type_name.clone()),
                ty: Some(ty.clone()),
                broker_name: default_name(&dm.prefix, &partition, &e.topic_name),
                direction: dm.direction,
                format: dm.format,
                writer_qos: crate::qos::EndpointQos::writer_default(),
                reader_qos: crate::qos::EndpointQos::reader_default(),
                line: 0,
            };
            // Match what the remote side offers or asks for.
            route.reader_qos.reliability = e.qos.reliability;
            route.reader_qos.durability = e.qos.durability;
            route.writer_qos.durability = e.qos.durability;
            if !partition.is_empty() {
                route.reader_qos.partition = vec![partition.clone()];
                route.writer_qos.partition = vec![partition];
            }
            if let Err(err) = open_route(&shared, &p, route, ty, stop.clone()) {
                tracing::warn!("bridge: default mapping of {}: {err}", e.topic_name);
            }
        }
        tokio::select! {
            _ = events.recv() => {}
            () = tokio::time::sleep(Duration::from_millis(if pending.is_empty() { 2000 } else { 300 })) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
pub(super) mod test_support {
    pub(crate) use super::{LoopGuard, PendingRequests};
}
