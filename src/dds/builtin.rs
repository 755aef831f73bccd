//! Built-in topics: what discovery learned about remote participants,
//! writers, readers and topics, readable like samples.

use super::participant::Shared;
use super::reader::{Cache, CachePolicies, InstanceState, Sample};
use super::DdsError;
use crate::runtime::driver::{BuiltinEvent, BuiltinSink};
use starling_proto::core::ChangeKind;
use starling_proto::discovery::{EndpointData, ParticipantData};
use starling_proto::qos::{EndpointQos, History};
use starling_proto::wire::types::{EntityId, Guid, GuidPrefix, KeyHash, VendorId};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// A sample of the DCPSParticipant built-in topic.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantBuiltinTopicData {
    /// The participant's GUID (prefix + the participant entity id).
    pub key: Guid,
    /// USER_DATA.
    pub user_data: Vec<u8>,
    /// ENTITY_NAME, if announced.
    pub entity_name: Option<String>,
    /// VENDORID.
    pub vendor_id: VendorId,
    /// DOMAIN_ID, if announced.
    pub domain_id: Option<u32>,
    /// The lease duration (`None`: infinite).
    pub lease_duration: Option<Duration>,
}

/// A sample of the DCPSPublication built-in topic (a remote writer).
#[derive(Clone, Debug, PartialEq)]
pub struct PublicationBuiltinTopicData {
    /// The writer's GUID.
    pub key: Guid,
    /// Its participant's GUID.
    pub participant_key: Guid,
    /// TOPIC_NAME.
    pub topic_name: String,
    /// TYPE_NAME.
    pub type_name: String,
    /// Every QoS policy (durability, deadline, latency budget, liveliness,
    /// reliability, lifespan, user data, ownership and strength, destination
    /// order, presentation, partition, topic data, group data, representation).
    pub qos: EndpointQos,
}

/// A sample of the DCPSSubscription built-in topic (a remote reader).
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionBuiltinTopicData {
    /// The reader's GUID.
    pub key: Guid,
    /// Its participant's GUID.
    pub participant_key: Guid,
    /// TOPIC_NAME.
    pub topic_name: String,
    /// TYPE_NAME.
    pub type_name: String,
    /// Every QoS policy (as for publications, with time-based filter and type consistency).
    pub qos: EndpointQos,
}

/// A sample of the DCPSTopic built-in topic, derived from remote endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicBuiltinTopicData {
    /// A hash of the topic name.
    pub key: KeyHash,
    /// The topic name.
    pub name: String,
    /// The type name of the first endpoint seen on it.
    pub type_name: String,
    /// The QoS of that endpoint (topic-level policies: durability, deadline, reliability, …).
    pub qos: EndpointQos,
}

fn guid_key(g: &Guid) -> KeyHash {
    let mut k = [0u8; 16];
    k[..12].copy_from_slice(&g.prefix.0);
    k[12..].copy_from_slice(&g.entity_id.0);
    KeyHash(k)
}

fn participant_guid(p: GuidPrefix) -> Guid {
    Guid::new(p, EntityId::PARTICIPANT)
}

fn topic_key(name: &str) -> KeyHash {
    let mut k = [0u8; 16];
    for (i, chunk) in k.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (i as u8, name).hash(&mut h);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    KeyHash(k)
}

fn participant_data(p: &ParticipantData) -> ParticipantBuiltinTopicData {
    ParticipantBuiltinTopicData {
        key: participant_guid(p.guid_prefix),
        user_data: p.user_data.clone(),
        entity_name: p.entity_name.clone(),
        vendor_id: p.vendor_id,
        domain_id: p.domain_id,
        lease_duration: p.lease_duration.to_std(),
    }
}

fn publication_data(e: &EndpointData) -> PublicationBuiltinTopicData {
    PublicationBuiltinTopicData {
        key: e.guid,
        participant_key: e.participant_guid,
        topic_name: e.topic_name.clone(),
        type_name: e.type_name.clone(),
        qos: e.qos.clone(),
    }
}

fn subscription_data(e: &EndpointData) -> SubscriptionBuiltinTopicData {
    SubscriptionBuiltinTopicData {
        key: e.guid,
        participant_key: e.participant_guid,
        topic_name: e.topic_name.clone(),
        type_name: e.type_name.clone(),
        qos: e.qos.clone(),
    }
}

/// A change of a built-in topic: kind, instance, value, source.
type Change<T> = (ChangeKind, KeyHash, Option<T>, Guid);

type Mapper<T> = fn(&BuiltinEvent, &mut HashSet<String>) -> Option<Change<T>>;

fn map_participant(e: &BuiltinEvent, _: &mut HashSet<String>) -> Option<Change<ParticipantBuiltinTopicData>> {
    match e {
        BuiltinEvent::Participant(p) => {
            let d = participant_data(p);
            Some((ChangeKind::Alive, guid_key(&d.key), Some(d.clone()), d.key))
        }
        BuiltinEvent::ParticipantLost(p) => {
            let g = participant_guid(*p);
            Some((ChangeKind::Disposed, guid_key(&g), None, g))
        }
        _ => None,
    }
}

fn map_publication(e: &BuiltinEvent, _: &mut HashSet<String>) -> Option<Change<PublicationBuiltinTopicData>> {
    match e {
        BuiltinEvent::Writer(w) => Some((ChangeKind::Alive, guid_key(&w.guid), Some(publication_data(w)), w.guid)),
        BuiltinEvent::WriterLost(g) => Some((ChangeKind::Disposed, guid_key(g), None, *g)),
        _ => None,
    }
}

fn map_subscription(e: &BuiltinEvent, _: &mut HashSet<String>) -> Option<Change<SubscriptionBuiltinTopicData>> {
    match e {
        BuiltinEvent::Reader(r) => Some((ChangeKind::Alive, guid_key(&r.guid), Some(subscription_data(r)), r.guid)),
        BuiltinEvent::ReaderLost(g) => Some((ChangeKind::Disposed, guid_key(g), None, *g)),
        _ => None,
    }
}

fn map_topic(e: &BuiltinEvent, seen: &mut HashSet<String>) -> Option<Change<TopicBuiltinTopicData>> {
    let ep = match e {
        BuiltinEvent::Writer(d) | BuiltinEvent::Reader(d) => d,
        _ => return None,
    };
    if !seen.insert(ep.topic_name.clone()) {
        return None;
    }
    let key = topic_key(&ep.topic_name);
    let d = TopicBuiltinTopicData {
        key,
        name: ep.topic_name.clone(),
        type_name: ep.type_name.clone(),
        qos: ep.qos.clone(),
    };
    Some((ChangeKind::Alive, key, Some(d), ep.participant_guid))
}

struct BuiltinState<T> {
    cache: Mutex<Cache<T>>,
    seen: Mutex<HashSet<String>>,
    data: watch::Sender<u64>,
    map: Mapper<T>,
}

impl<T: Clone> BuiltinState<T> {
    fn lock(&self) -> MutexGuard<'_, Cache<T>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, e: &BuiltinEvent) -> bool {
        let change = (self.map)(e, &mut self.seen.lock().unwrap_or_else(|e| e.into_inner()));
        let Some((kind, key, data, source)) = change else { return false };
        self.lock().push(kind, key, data, source)
    }
}

impl<T: Clone + Send + Sync> BuiltinSink for BuiltinState<T> {
    fn on_builtin(&self, event: &BuiltinEvent) {
        if self.apply(event) {
            self.data.send_modify(|v| *v = v.wrapping_add(1));
        }
    }
}

/// A reader of a built-in topic (KEEP_LAST 1 per instance). Instances of
/// entities that went away are NOT_ALIVE_DISPOSED.
pub struct BuiltinReader<T> {
    shared: Arc<Shared>,
    state: Arc<BuiltinState<T>>,
}

impl<T> std::fmt::Debug for BuiltinReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinReader").field("type", &std::any::type_name::<T>()).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> BuiltinReader<T> {
    fn create(shared: Arc<Shared>, map: Mapper<T>) -> Self {
        let mut qos = EndpointQos::reader_default();
        qos.history = History::KeepLast(1);
        let state = Arc::new(BuiltinState {
            cache: Mutex::new(Cache::new(CachePolicies::from_qos(&qos))),
            seen: Mutex::new(HashSet::new()),
            data: watch::channel(0).0,
            map,
        });
        let sink: Weak<dyn BuiltinSink> = Arc::downgrade(&(state.clone() as Arc<dyn BuiltinSink>));
        // Seed with what is known now; registering in the same call means no event is missed or doubled.
        let known: Vec<BuiltinEvent> = shared.inner.call(
            |core, _| {
                let mut v: Vec<BuiltinEvent> =
                    core.discovered_participants().map(|p| BuiltinEvent::Participant(Box::new(p.clone()))).collect();
                v.extend(core.discovered_writers().map(|w| BuiltinEvent::Writer(Box::new(w.clone()))));
                v.extend(core.discovered_readers().map(|r| BuiltinEvent::Reader(Box::new(r.clone()))));
                v
            },
            |table, _| table.builtin.push(sink),
        );
        for e in &known {
            state.apply(e);
        }
        BuiltinReader { shared, state }
    }

    /// Returns copies of all samples and marks them read.
    pub fn read(&self) -> Vec<Sample<T>> {
        self.state.lock().read()
    }

    /// Removes and returns all samples.
    pub fn take(&self) -> Vec<Sample<T>> {
        self.state.lock().take(usize::MAX)
    }

    /// Removes and returns the oldest sample, if any.
    pub fn try_take_next(&self) -> Option<Sample<T>> {
        self.state.lock().take(1).pop()
    }

    /// The state of an instance (e.g. the key of a participant, writer or reader).
    pub fn instance_state(&self, instance: &KeyHash) -> Option<InstanceState> {
        self.state.lock().instance_state(instance)
    }

    /// Waits until an unread sample is available.
    pub async fn wait_for_data(&self, timeout: Duration) -> Result<(), DdsError> {
        self.wait_until(timeout, |c| c.has_unread()).await
    }

    /// Waits until `pred` holds for the cached samples (checked on every change).
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Sample<T>]) -> bool) -> Result<(), DdsError> {
        self.wait_until(timeout, |c| {
            let samples = c.read_where(&|_, _| true);
            // Looking must not count as reading: leave the samples as they were.
            pred(&samples)
        })
        .await
    }

    async fn wait_until(&self, timeout: Duration, mut f: impl FnMut(&mut Cache<T>) -> bool) -> Result<(), DdsError> {
        let mut rx = self.state.data.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if f(&mut self.state.lock()) {
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
}

impl BuiltinReader<ParticipantBuiltinTopicData> {
    pub(crate) fn participants(shared: Arc<Shared>) -> Self {
        Self::create(shared, map_participant)
    }
}

impl BuiltinReader<PublicationBuiltinTopicData> {
    pub(crate) fn publications(shared: Arc<Shared>) -> Self {
        Self::create(shared, map_publication)
    }
}

impl BuiltinReader<SubscriptionBuiltinTopicData> {
    pub(crate) fn subscriptions(shared: Arc<Shared>) -> Self {
        Self::create(shared, map_subscription)
    }
}

impl BuiltinReader<TopicBuiltinTopicData> {
    pub(crate) fn topics(shared: Arc<Shared>) -> Self {
        Self::create(shared, map_topic)
    }
}

/// The instance handle of a participant, writer or reader in a built-in topic.
pub fn builtin_instance_handle(guid: &Guid) -> KeyHash {
    guid_key(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let g = Guid::new(GuidPrefix([7; 12]), EntityId::PARTICIPANT);
        assert_eq!(&guid_key(&g).0[..12], &[7; 12]);
        assert_eq!(topic_key("a"), topic_key("a"));
        assert_ne!(topic_key("a"), topic_key("b"));
    }
}
