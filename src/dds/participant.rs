//! DomainParticipant, Topic, Publisher and Subscriber.

use super::builtin::{
    BuiltinReader, ParticipantBuiltinTopicData, PublicationBuiltinTopicData, SubscriptionBuiltinTopicData,
    TopicBuiltinTopicData,
};
use super::cft::{ContentFilteredTopic, TopicDescription};
use super::presentation::{AccessGate, PublisherSets};
use super::reader::DataReader;
use super::support::{DynamicSupport, StaticSupport, TypeSupport};
use super::writer::DataWriter;
use super::DdsError;
use crate::runtime::driver::{DiscoveryEvent, Inner};
use crate::runtime::{self, NetInterface, TransportConfig};
use starling_proto::cdr::TopicType;
use starling_proto::core::{FlowLimit, ParticipantLimits};
use starling_proto::core::{PoolStats, Stats};
use starling_proto::discovery::{EndpointData, ParticipantData};
use starling_proto::qos::{EndpointQos, XCDR1};
use starling_proto::wire::types::Guid;
use starling_proto::wire::types::GuidPrefix;
use starling_proto::xtypes::{DynamicType, DynamicValue};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::broadcast;

/// What every entity of a participant shares; dropping the last reference
/// shuts the participant down (announces its departure, stops the task).
pub(crate) struct Shared {
    pub(crate) inner: Arc<Inner>,
    pub(crate) handle: Handle,
    runtime: Mutex<Option<Runtime>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    /// Runs `f` to completion from synchronous code.
    ///
    /// Inside a multi-thread tokio runtime this uses `block_in_place`; it must
    /// not be called from a current-thread runtime.
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        match Handle::try_current() {
            Ok(h) => tokio::task::block_in_place(|| h.block_on(f)),
            Err(_) => self.handle.block_on(f),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.inner.shutdown();
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // The task exits on its own once woken; abort covers a runtime being torn down.
            task.abort();
        }
        if let Some(rt) = self.runtime.lock().unwrap_or_else(|e| e.into_inner()).take() {
            rt.shutdown_background();
        }
    }
}

/// Builds a [`DomainParticipant`].
#[derive(Clone, Debug)]
pub struct DomainParticipantBuilder {
    transport: TransportConfig,
    name: Option<String>,
    tuning: runtime::Tuning,
}

impl DomainParticipantBuilder {
    /// Interface name ("lo") or IPv4 address to use; default: the first
    /// up multicast-capable non-loopback interface, else loopback.
    pub fn interface(mut self, spec: impl Into<String>) -> Self {
        self.transport.interface = Some(spec.into());
        self
    }

    /// Adds an initial peer: `ADDR:PORT`, or `ADDR` for its well-known ports.
    pub fn peer(mut self, peer: impl Into<String>) -> Self {
        self.transport.peers.push(peer.into());
        self
    }

    /// Sets the ENTITY_NAME announced in discovery.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// SPDP is also sent to 127.0.0.1 for participant indices `0..n` (default 20).
    pub fn localhost_peers(mut self, n: u32) -> Self {
        self.transport.localhost_peers = n;
        self
    }

    /// Period of reliable writers' HEARTBEATs while data is unacknowledged (default 100 ms).
    pub fn heartbeat_period(mut self, period: std::time::Duration) -> Self {
        self.tuning.heartbeat_period = Some(period);
        self
    }

    /// How long reliable writers collect ACKNACK requests before repairing (default 0: at once). With a delay,
    /// a sample that several readers missed is sent once to all of them.
    pub fn nack_response_delay(mut self, delay: std::time::Duration) -> Self {
        self.tuning.nack_response_delay = Some(delay);
        self
    }

    /// How long reliable readers wait before answering a HEARTBEAT (default 0: at once); answers owed to several
    /// writers, or to several HEARTBEATs of one writer, then go out once.
    pub fn heartbeat_response_delay(mut self, delay: std::time::Duration) -> Self {
        self.tuning.heartbeat_response_delay = Some(delay);
        self
    }

    /// Lowest latency at the cost of CPU time: after handling user data, the participant's receive thread
    /// keeps polling its socket for up to `spin` (without sleeping) before it blocks for the next datagram.
    /// An answer that comes back within `spin` is then handled without the thread being woken, which on a
    /// virtual machine, or a CPU in a deep idle state, is most of a round trip. Each batch of received
    /// datagrams costs up to `spin` of CPU time more; an idle participant spins not at all. Default zero
    /// (block at once, as other DDS implementations do); tens of microseconds suit request/reply traffic.
    pub fn receive_spin(mut self, spin: std::time::Duration) -> Self {
        self.tuning.receive_spin = Some(spin);
        self
    }

    /// Receive user data on the multicast group 239.255.0.1 (port 7401 + 250·domain) and advertise it, and
    /// send this participant's user data to the group of readers that advertise one: a sample, or a repair
    /// that several readers asked for, then goes out once for all of them. Off by default (unicast only, as
    /// in RTI Connext and Fast DDS); worth it with many readers per writer on one network.
    pub fn data_multicast(mut self, on: bool) -> Self {
        self.transport.data_multicast = on;
        self
    }

    /// Socket buffer sizes in bytes: `receive` for the receiving sockets, `send` for the sending one (default
    /// 4 MiB each). A privileged process gets them in full; otherwise the kernel caps them at
    /// `net.core.rmem_max` / `wmem_max`, and a smaller buffer than asked is logged as a warning. Large samples
    /// and fast writers need large receive buffers.
    pub fn socket_buffers(mut self, receive: usize, send: usize) -> Self {
        self.transport.buffers = runtime::transport::SocketBuffers { receive, send, explicit: true };
        self
    }

    /// Resource limits against hostile or runaway peers: most remote participants, endpoints (in all and per
    /// participant), largest fragmented sample, bytes and samples in reassembly at once. What goes beyond them is
    /// dropped, counted in [`DomainParticipant::stats`] and logged once per kind of limit. The defaults
    /// ([`ParticipantLimits::default`]) suit a LAN of a thousand participants and 100 MB samples.
    pub fn limits(mut self, limits: ParticipantLimits) -> Self {
        self.tuning.limits = Some(limits);
        self
    }

    /// Fragment size in bytes for samples that do not fit one datagram (DATA_FRAG; default 16384, clamped to
    /// 1024..=65000).
    pub fn fragment_size(mut self, bytes: usize) -> Self {
        self.tuning.fragment_size = Some(bytes);
        self
    }

    /// A flow limit (token bucket: sustained bytes per second and largest burst) for every user writer of this
    /// participant, so that a fast writer does not overrun its readers' socket buffers (default: none).
    pub fn writer_flow_limit(mut self, flow: FlowLimit) -> Self {
        self.tuning.writer_flow_limit = Some(flow);
        self
    }

    /// Multicast TTL (default 1).
    pub fn multicast_ttl(mut self, ttl: u32) -> Self {
        self.transport.multicast_ttl = ttl;
        self
    }

    /// Binds the sockets and starts the participant.
    pub fn build(self) -> Result<DomainParticipant, DdsError> {
        runtime::transport::check_domain(self.transport.domain_id)?;
        let (handle, rt) = match Handle::try_current() {
            Ok(h) => (h, None),
            Err(_) => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("starling")
                    .enable_all()
                    .build()
                    .map_err(DdsError::Runtime)?;
                (rt.handle().clone(), Some(rt))
            }
        };
        let started = runtime::start(&self.transport, self.name, self.tuning, &handle)?;
        Ok(DomainParticipant {
            shared: Arc::new(Shared {
                inner: started.inner,
                handle,
                runtime: Mutex::new(rt),
                task: Mutex::new(Some(started.task)),
            }),
            domain_id: self.transport.domain_id,
            participant_id: started.participant_id,
            guid_prefix: started.guid_prefix,
            iface: started.iface,
        })
    }
}

/// A DDS domain participant: one RTPS participant with its sockets and task.
pub struct DomainParticipant {
    shared: Arc<Shared>,
    domain_id: u32,
    participant_id: u32,
    guid_prefix: GuidPrefix,
    iface: NetInterface,
}

impl std::fmt::Debug for DomainParticipant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainParticipant")
            .field("domain_id", &self.domain_id)
            .field("participant_id", &self.participant_id)
            .field("guid_prefix", &self.guid_prefix)
            .field("interface", &self.iface)
            .finish()
    }
}

impl DomainParticipant {
    /// A participant on `domain` with default settings.
    pub fn new(domain: u32) -> Result<Self, DdsError> {
        Self::builder(domain).build()
    }

    /// A builder for a participant on `domain`.
    pub fn builder(domain: u32) -> DomainParticipantBuilder {
        DomainParticipantBuilder { transport: TransportConfig::new(domain), name: None, tuning: Default::default() }
    }

    /// The domain id.
    pub fn domain_id(&self) -> u32 {
        self.domain_id
    }

    /// The participant index whose well-known ports this participant bound.
    pub fn participant_id(&self) -> u32 {
        self.participant_id
    }

    /// This participant's GUID prefix.
    pub fn guid_prefix(&self) -> GuidPrefix {
        self.guid_prefix
    }

    /// The network interface in use.
    pub fn interface(&self) -> &NetInterface {
        &self.iface
    }

    /// Creates a topic description with default topic QoS.
    pub fn create_topic<T: TopicType>(&self, name: &str) -> Topic<T> {
        Topic::with_support(name, Arc::new(StaticSupport::<T>::default()))
    }

    /// Creates a topic whose type is known only at run time (from IDL parsed at
    /// run time, or learned from a peer through TypeLookup); its samples are
    /// [`DynamicValue`]s.
    pub fn create_dynamic_topic(&self, name: &str, ty: DynamicType) -> Result<Topic<DynamicValue>, DdsError> {
        let support = DynamicSupport::new(ty).map_err(|e| DdsError::Encode(e.into()))?;
        Ok(Topic::with_support(name, Arc::new(support)))
    }

    /// A content-filtered topic named `name` on `topic`: readers created on it see only the samples that pass
    /// the DDS SQL `expression` with its `%n` `parameters` (see [`crate::filter`] for the grammar). A bad
    /// expression gives [`DdsError::Filter`] with the column; a type without an XTypes description
    /// ([`TypeSupport::dynamic_type`] is `None`) gives [`DdsError::FilterUnsupported`].
    pub fn create_contentfilteredtopic<T: 'static, S: AsRef<str>>(
        &self,
        name: &str,
        topic: &Topic<T>,
        expression: &str,
        parameters: &[S],
    ) -> Result<ContentFilteredTopic<T>, DdsError> {
        ContentFilteredTopic::new(name, topic, expression, parameters)
    }

    /// A publisher with the given partitions (empty: the default partition).
    pub fn create_publisher(&self, partition: Vec<String>) -> Publisher {
        Publisher { shared: self.shared.clone(), partition, group_data: Vec::new(), sets: Arc::default() }
    }

    /// A subscriber with the given partitions (empty: the default partition).
    pub fn create_subscriber(&self, partition: Vec<String>) -> Subscriber {
        Subscriber { shared: self.shared.clone(), partition, group_data: Vec::new(), access: Arc::default() }
    }

    /// A writer in the default partition (`None`: the default writer QoS).
    pub fn create_datawriter<T: Send + Sync + 'static>(
        &self,
        topic: &Topic<T>,
        qos: Option<EndpointQos>,
    ) -> Result<DataWriter<T>, DdsError> {
        self.create_publisher(Vec::new()).create_datawriter(topic, qos)
    }

    /// A reader in the default partition (`None`: the default reader QoS), on a [`Topic`] or a
    /// [`ContentFilteredTopic`].
    pub fn create_datareader<T: Clone + Send + Sync + 'static>(
        &self,
        topic: &(impl TopicDescription<T> + ?Sized),
        qos: Option<EndpointQos>,
    ) -> Result<DataReader<T>, DdsError> {
        self.create_subscriber(Vec::new()).create_datareader(topic, qos)
    }

    /// Remote participants currently alive.
    pub fn discovered_participants(&self) -> Vec<ParticipantData> {
        self.shared.inner.inspect(|c| c.discovered_participants().cloned().collect())
    }

    /// Remote writers currently known.
    pub fn discovered_writers(&self) -> Vec<EndpointData> {
        self.shared.inner.inspect(|c| c.discovered_writers().cloned().collect())
    }

    /// Remote readers currently known.
    pub fn discovered_readers(&self) -> Vec<EndpointData> {
        self.shared.inner.inspect(|c| c.discovered_readers().cloned().collect())
    }

    /// Discovery notifications from now on (lagging receivers lose the oldest).
    pub fn discovery_events(&self) -> broadcast::Receiver<DiscoveryEvent> {
        self.shared.inner.discovery_events()
    }

    /// Receive/send counters, including malformed datagrams dropped.
    pub fn stats(&self) -> Stats {
        self.shared.inner.inspect(|c| c.stats())
    }

    /// Counters of the participant's payload buffer pool: how many sample payloads (written or received)
    /// reused a released buffer and how many were freshly allocated, and what the pool holds now.
    pub fn payload_pool_stats(&self) -> PoolStats {
        self.shared.inner.pool().stats()
    }

    /// Waits until at least `n` remote participants are known.
    pub async fn wait_for_participants(&self, n: usize, timeout: std::time::Duration) -> Result<(), DdsError> {
        let mut progress = self.shared.inner.progress();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.shared.inner.inspect(|c| c.discovered_participants().count()) >= n {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(DdsError::Closed),
                Err(_) => return Err(DdsError::Timeout),
            }
        }
    }

    /// Blocking form of [`DomainParticipant::wait_for_participants`].
    pub fn wait_for_participants_blocking(&self, n: usize, timeout: std::time::Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_participants(n, timeout))
    }

    /// The type a remote writer or reader announced, once its TypeObjects are
    /// known (learned through TypeLookup, or identical to a local type).
    pub fn remote_type(&self, endpoint: &Guid) -> Option<Result<DynamicType, DdsError>> {
        self.shared
            .inner
            .inspect(|c| c.resolve_remote_type(endpoint))
            .map(|r| r.map_err(|e| DdsError::Encode(e.into())))
    }

    /// Waits until some remote writer on `topic` has announced a type that
    /// can be resolved, and returns its type name and type. Peers that send no
    /// TypeInformation (older DDS implementations) never satisfy this wait.
    pub async fn wait_for_writer_type(
        &self,
        topic: &str,
        timeout: std::time::Duration,
    ) -> Result<(String, DynamicType), DdsError> {
        let mut progress = self.shared.inner.progress();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.shared.inner.inspect(|c| {
                c.discovered_writers()
                    .filter(|w| w.topic_name == topic)
                    .find_map(|w| c.resolve_remote_type(&w.guid).and_then(Result::ok).map(|t| (w.type_name.clone(), t)))
            });
            if let Some(f) = found {
                return Ok(f);
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(DdsError::Closed),
                Err(_) => return Err(DdsError::Timeout),
            }
        }
    }

    /// The IP_TOS byte of the send socket: TRANSPORT_PRIORITY of the writers
    /// (the highest, clamped to a 6-bit DSCP) shifted into bits 7..2.
    pub fn send_tos(&self) -> Option<u32> {
        self.shared.inner.send_tos()
    }

    /// Asserts the liveliness of this participant's MANUAL_BY_PARTICIPANT writers:
    /// their LIVELINESS_LOST status restarts its lease, and remote readers hear it as a
    /// ParticipantMessageData of kind MANUAL_LIVELINESS_UPDATE.
    pub fn assert_liveliness(&self) {
        if !self.shared.inner.is_closed() {
            self.shared.inner.call(|core, now| core.assert_participant_liveliness(now), |_, _| {});
        }
    }

    /// A reader of the DCPSParticipant built-in topic: remote participants
    /// (lost ones become NOT_ALIVE_DISPOSED).
    pub fn builtin_participant_reader(&self) -> BuiltinReader<ParticipantBuiltinTopicData> {
        BuiltinReader::participants(self.shared.clone())
    }

    /// A reader of the DCPSPublication built-in topic: remote writers.
    pub fn builtin_publication_reader(&self) -> BuiltinReader<PublicationBuiltinTopicData> {
        BuiltinReader::publications(self.shared.clone())
    }

    /// A reader of the DCPSSubscription built-in topic: remote readers.
    pub fn builtin_subscription_reader(&self) -> BuiltinReader<SubscriptionBuiltinTopicData> {
        BuiltinReader::subscriptions(self.shared.clone())
    }

    /// A reader of the DCPSTopic built-in topic: topics remote endpoints use.
    pub fn builtin_topic_reader(&self) -> BuiltinReader<TopicBuiltinTopicData> {
        BuiltinReader::topics(self.shared.clone())
    }

    /// Runs a future on the participant's runtime from synchronous code.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.shared.block_on(f)
    }
}

/// A topic: name, type name, the type's codec and topic-level QoS.
pub struct Topic<T> {
    name: String,
    type_name: String,
    topic_data: Vec<u8>,
    support: Arc<dyn TypeSupport<T>>,
}

impl<T> std::fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic").field("name", &self.name).field("type_name", &self.type_name).finish()
    }
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Topic {
            name: self.name.clone(),
            type_name: self.type_name.clone(),
            topic_data: self.topic_data.clone(),
            support: self.support.clone(),
        }
    }
}

impl<T: 'static> Topic<T> {
    /// A topic whose samples `support` encodes and decodes.
    pub fn with_support(name: &str, support: Arc<dyn TypeSupport<T>>) -> Self {
        Topic { name: name.to_string(), type_name: support.type_name().to_string(), topic_data: Vec::new(), support }
    }
}

impl<T> Topic<T> {
    /// The type support.
    pub(crate) fn support(&self) -> &Arc<dyn TypeSupport<T>> {
        &self.support
    }

    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The registered type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Overrides the registered type name (e.g. `module::Name`).
    pub fn with_type_name(mut self, type_name: impl Into<String>) -> Self {
        self.type_name = type_name.into();
        self
    }

    /// Sets TOPIC_DATA, copied into every endpoint on this topic.
    pub fn with_topic_data(mut self, data: Vec<u8>) -> Self {
        self.topic_data = data;
        self
    }
}

/// Groups writers: carries PARTITION and GROUP_DATA, and makes coherent sets
/// ([`Publisher::begin_coherent_changes`]).
pub struct Publisher {
    shared: Arc<Shared>,
    partition: Vec<String>,
    group_data: Vec<u8>,
    sets: Arc<PublisherSets>,
}

impl Publisher {
    /// Sets GROUP_DATA for writers created afterwards.
    pub fn set_group_data(&mut self, data: Vec<u8>) {
        self.group_data = data;
    }

    /// Creates a writer (`None`: the default writer QoS, XCDR1, reliable).
    ///
    /// The publisher's partition and group data and the topic's data replace
    /// those fields of `qos`.
    pub fn create_datawriter<T: Send + Sync + 'static>(
        &self,
        topic: &Topic<T>,
        qos: Option<EndpointQos>,
    ) -> Result<DataWriter<T>, DdsError> {
        let qos = qos.unwrap_or_else(EndpointQos::writer_default);
        self.create_datawriter_preloaded(topic, qos, Vec::new(), Vec::new(), None)
    }

    /// [`Publisher::create_datawriter`] for a writer whose history starts with `preload` and is served to no
    /// reader of `no_history_for` (the durability service's writers).
    pub(crate) fn create_datawriter_preloaded<T: Send + Sync + 'static>(
        &self,
        topic: &Topic<T>,
        mut qos: EndpointQos,
        preload: Vec<starling_proto::core::WriteChange>,
        no_history_for: Vec<Guid>,
        relay_for_others: Option<bool>,
    ) -> Result<DataWriter<T>, DdsError> {
        qos.partition = self.partition.clone();
        qos.group_data = self.group_data.clone();
        qos.topic_data = topic.topic_data.clone();
        if qos.data_representation.is_empty() {
            qos.data_representation = vec![XCDR1];
        }
        if !self.shared.inner.is_closed() {
            self.sets.group.get_or_init(|| self.shared.inner.call(|core, _| core.create_group(true), |_, _| {}));
        }
        DataWriter::create_preloaded(
            self.shared.clone(),
            &topic.name,
            &topic.type_name,
            qos,
            topic.support.clone(),
            super::writer::Preload { changes: preload, no_history_for, relay_for_others },
            &self.sets,
        )
    }

    /// Begins a coherent set (PRESENTATION coherent_access): what this publisher's writers with coherent
    /// access write until [`Publisher::end_coherent_changes`] reaches each reader with coherent access whole or
    /// not at all. Calls nest; the outermost pair delimits the set.
    ///
    /// Each writer's share of the set is one RTPS coherent set (`PID_COHERENT_SET`), so readers see every
    /// writer's part atomically (INSTANCE and TOPIC access scope). Writers with GROUP access scope also tie
    /// their shares together (`PID_GROUP_COHERENT_SET`, `PID_GROUP_SEQ_NUM`, and end markers naming the
    /// set's writers): a subscriber with GROUP scope delivers the whole set across its readers or none of it.
    ///
    /// Fails with [`DdsError::PreconditionNotMet`] when no writer of this publisher has coherent access.
    pub fn begin_coherent_changes(&self) -> Result<(), DdsError> {
        if !self.sets.has_writers() {
            return Err(DdsError::PreconditionNotMet("no writer of this publisher has PRESENTATION coherent_access"));
        }
        if let Some(writers) = self.sets.begin() {
            self.shared.inner.call(
                |core, _| {
                    for w in writers {
                        core.begin_coherent_set(w);
                    }
                },
                |_, _| {},
            );
        }
        Ok(())
    }

    /// Ends the coherent set begun by [`Publisher::begin_coherent_changes`]: every writer that wrote in it
    /// sends the set's end, and readers then deliver it. Fails with [`DdsError::PreconditionNotMet`] when no
    /// set is open.
    pub fn end_coherent_changes(&self) -> Result<(), DdsError> {
        let writers = self.sets.end().map_err(|()| DdsError::PreconditionNotMet("no coherent set is open"))?;
        if let Some(writers) = writers {
            if self.shared.inner.is_closed() {
                return Err(DdsError::Closed);
            }
            self.shared.inner.call(
                |core, now| {
                    for w in writers {
                        core.end_coherent_set(now, w);
                    }
                },
                |_, _| {},
            );
        }
        Ok(())
    }
}

/// Groups readers: carries PARTITION and GROUP_DATA, and the access window of PRESENTATION
/// ([`Subscriber::begin_access`]).
pub struct Subscriber {
    shared: Arc<Shared>,
    partition: Vec<String>,
    group_data: Vec<u8>,
    access: Arc<AccessGate>,
}

impl Subscriber {
    /// Sets GROUP_DATA for readers created afterwards.
    pub fn set_group_data(&mut self, data: Vec<u8>) {
        self.group_data = data;
    }

    /// Creates a reader (`None`: the default reader QoS, accepting XCDR1 and XCDR2) on a [`Topic`] or a
    /// [`ContentFilteredTopic`].
    pub fn create_datareader<T: Clone + Send + Sync + 'static>(
        &self,
        description: &(impl TopicDescription<T> + ?Sized),
        qos: Option<EndpointQos>,
    ) -> Result<DataReader<T>, DdsError> {
        let topic = description.topic();
        let mut qos = qos.unwrap_or_else(EndpointQos::reader_any_representation);
        qos.partition = self.partition.clone();
        qos.group_data = self.group_data.clone();
        qos.topic_data = topic.topic_data.clone();
        let access = Some(self.access.clone());
        let filter = description.content_filter().cloned();
        if !self.shared.inner.is_closed() {
            self.access.group.get_or_init(|| self.shared.inner.call(|core, _| core.create_group(false), |_, _| {}));
        }
        DataReader::create(
            self.shared.clone(),
            &topic.name,
            &topic.type_name,
            qos,
            topic.support.clone(),
            access,
            filter,
        )
    }

    /// The readers of this subscriber that hold unread samples, one entry per sample, in the order the
    /// samples were written (DDS `get_datareaders`, for PRESENTATION ordered_access with GROUP scope): a
    /// reader appears once for each of its unread samples, so that taking one sample from each reader in
    /// turn (e.g. [`DataReader::take_next_blocking`](super::DataReader::take_next_blocking)) visits the
    /// samples in the Publisher's order. Samples of one Publisher follow its group sequence numbers; samples
    /// without one (other publishers, other scopes) keep their arrival order. Call it between
    /// [`Subscriber::begin_access`] and [`Subscriber::end_access`] so that the list stays valid while read.
    pub fn get_datareaders(&self) -> Vec<Guid> {
        self.access.reader_order()
    }

    /// Begins an access to this subscriber's readers (PRESENTATION): until [`Subscriber::end_access`],
    /// coherent sets that complete are held back, so that reads across the readers see one consistent state.
    /// Samples outside coherent sets are not held. Calls nest.
    pub fn begin_access(&self) {
        self.access.begin();
    }

    /// Ends the access begun by [`Subscriber::begin_access`]; the coherent sets that completed meanwhile
    /// become readable. Fails with [`DdsError::PreconditionNotMet`] when no access is in progress.
    pub fn end_access(&self) -> Result<(), DdsError> {
        self.access.end().map_err(|()| DdsError::PreconditionNotMet("no access is in progress"))
    }
}
