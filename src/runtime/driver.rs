//! The participant driver: one tokio task per participant owns the receive
//! loop and the timers; API calls drive the same core through a mutex.
//!
//! Order of work, wherever the core is touched: call the core with
//! `Instant::now()`, drain `poll_transmit` (sent at once with `try_send_to`),
//! drain `poll_event`, then hand the events to the endpoints. Events are
//! dispatched while holding the endpoint table, which is locked before the
//! core lock is released, so deliveries keep the core's order. The core mutex
//! is a `std::sync::Mutex` and is never held across an `.await`.

use super::transport::BoundTransport;
use starling_proto::core::{Event, Participant, ReceivedSample};
use starling_proto::discovery::{EndpointData, ParticipantData};
use starling_proto::qos::{EndpointQos, QosPolicyId};
use starling_proto::wire::types::{Guid, GuidPrefix};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, watch, Notify};

/// Receive buffer size: the largest UDP payload.
const RECV_BUF: usize = 64 * 1024;
/// Datagrams read from one socket before the output is flushed.
const RECV_BATCH: usize = 32;

/// A local writer's view of the events that concern it.
pub(crate) trait WriterSink: Send + Sync {
    /// A reader matched (`matched`) or unmatched.
    fn on_matched(&self, reader: Guid, matched: bool, current_count: u32);
    /// A reader with incompatible QoS was found.
    fn on_incompatible(&self, reader: Guid, policy: QosPolicyId);
}

/// A local reader's view of the events that concern it.
pub(crate) trait ReaderSink: Send + Sync {
    /// A sample arrived.
    fn on_sample(&self, sample: ReceivedSample);
    /// A writer matched (`matched`, with the writer's QoS when known) or unmatched.
    fn on_matched(&self, writer: Guid, matched: bool, current_count: u32, writer_qos: Option<&EndpointQos>);
    /// A writer with incompatible QoS was found.
    fn on_incompatible(&self, writer: Guid, policy: QosPolicyId);
}

/// What built-in topic readers learn from discovery.
#[derive(Clone, Debug)]
pub(crate) enum BuiltinEvent {
    /// A remote participant appeared (or its data changed).
    Participant(Box<ParticipantData>),
    /// A remote participant left or timed out.
    ParticipantLost(GuidPrefix),
    /// A remote writer appeared.
    Writer(Box<EndpointData>),
    /// A remote writer went away.
    WriterLost(Guid),
    /// A remote reader appeared.
    Reader(Box<EndpointData>),
    /// A remote reader went away.
    ReaderLost(Guid),
}

/// A built-in topic reader's view of discovery.
pub(crate) trait BuiltinSink: Send + Sync {
    /// Something was discovered or lost.
    fn on_builtin(&self, event: &BuiltinEvent);
}

/// Events drained from the core, with what endpoints need to know about them
/// that only the core (locked while draining) can tell.
#[derive(Default)]
struct Drained {
    events: Vec<Event>,
    /// QoS of remote writers that just matched a local reader.
    writer_qos: HashMap<Guid, EndpointQos>,
    builtin: Vec<BuiltinEvent>,
}

/// Discovery notifications for participant-level listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryEvent {
    /// A remote participant appeared.
    ParticipantDiscovered(GuidPrefix),
    /// A remote participant left or timed out.
    ParticipantLost(GuidPrefix),
    /// A remote writer appeared.
    WriterDiscovered(Guid),
    /// A remote writer went away.
    WriterLost(Guid),
    /// A remote reader appeared.
    ReaderDiscovered(Guid),
    /// A remote reader went away.
    ReaderLost(Guid),
}

/// Local endpoints, by GUID.
#[derive(Default)]
pub(crate) struct EndpointTable {
    pub(crate) writers: HashMap<Guid, Arc<dyn WriterSink>>,
    pub(crate) readers: HashMap<Guid, Arc<dyn ReaderSink>>,
    /// QoS of the local writers (local readers match them too).
    pub(crate) writer_qos: HashMap<Guid, EndpointQos>,
    /// Built-in topic readers.
    pub(crate) builtin: Vec<Weak<dyn BuiltinSink>>,
}

/// Shared state of one participant's runtime.
pub(crate) struct Inner {
    core: Mutex<Participant>,
    table: Mutex<EndpointTable>,
    spdp_multicast: Option<UdpSocket>,
    metatraffic: UdpSocket,
    user: UdpSocket,
    send: UdpSocket,
    wake: Notify,
    closed: AtomicBool,
    /// Bumped after every batch of received datagrams and every timer run.
    progress: watch::Sender<u64>,
    discovery: broadcast::Sender<DiscoveryEvent>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the whole participant down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// Registers the bound sockets with tokio (must run inside a runtime).
    pub(crate) fn new(core: Participant, t: BoundTransport) -> io::Result<Arc<Inner>> {
        Ok(Arc::new(Inner {
            core: Mutex::new(core),
            table: Mutex::new(EndpointTable::default()),
            spdp_multicast: t.spdp_multicast.map(UdpSocket::from_std).transpose()?,
            metatraffic: UdpSocket::from_std(t.metatraffic_unicast)?,
            user: UdpSocket::from_std(t.user_unicast)?,
            send: UdpSocket::from_std(t.send)?,
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            progress: watch::channel(0).0,
            discovery: broadcast::channel(256).0,
        }))
    }

    /// Runs `f` on the core with the current time, sends its output, then
    /// calls `register` on the endpoint table before dispatching the events
    /// (so an endpoint created by `f` sees its own first events), and wakes
    /// the driver task so it re-arms its timer.
    pub(crate) fn call<R>(
        &self,
        f: impl FnOnce(&mut Participant, Instant) -> R,
        register: impl FnOnce(&mut EndpointTable, &R),
    ) -> R {
        let mut core = lock(&self.core);
        let r = f(&mut core, Instant::now());
        let events = self.drain(&mut core);
        let mut table = lock(&self.table);
        drop(core);
        register(&mut table, &r);
        table.builtin.retain(|w| w.strong_count() > 0);
        self.dispatch(&table, events);
        drop(table);
        self.wake.notify_one();
        r
    }

    /// Reads from the core without driving it.
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&Participant) -> R) -> R {
        f(&lock(&self.core))
    }

    /// Watch bumped whenever received datagrams were processed.
    pub(crate) fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// Applies TRANSPORT_PRIORITY to the send socket: the DSCP (IP_TOS bits
    /// 7..2) becomes the highest priority of any writer so far, clamped to
    /// 0..=63. All of the participant's traffic leaves through that one socket.
    pub(crate) fn raise_transport_priority(&self, priority: i32) {
        let dscp = priority.clamp(0, 63) as u32;
        if dscp == 0 {
            return;
        }
        let sock = socket2::SockRef::from(&self.send);
        let current = sock.tos().unwrap_or(0) >> 2;
        if dscp > current {
            if let Err(e) = sock.set_tos(dscp << 2) {
                tracing::debug!("cannot set IP_TOS for transport priority {priority}: {e}");
            }
        }
    }

    /// The send socket's IP_TOS byte.
    pub(crate) fn send_tos(&self) -> Option<u32> {
        socket2::SockRef::from(&self.send).tos().ok()
    }

    /// Discovery notifications.
    pub(crate) fn discovery_events(&self) -> broadcast::Receiver<DiscoveryEvent> {
        self.discovery.subscribe()
    }

    /// True once [`Inner::shutdown`] ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Announces departure, sends it, and stops the driver task.
    pub(crate) fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let mut core = lock(&self.core);
            core.shutdown(Instant::now());
            let _ = self.drain(&mut core);
        }
        let mut table = lock(&self.table);
        table.writers.clear();
        table.readers.clear();
        table.builtin.clear();
        self.wake.notify_one();
    }

    /// Sends every pending datagram and collects the pending events.
    fn drain(&self, core: &mut Participant) -> Drained {
        while let Some(t) = core.poll_transmit() {
            for dest in &t.destinations {
                let Some(addr) = dest.to_socket_addr() else { continue };
                if !addr.is_ipv4() {
                    continue;
                }
                if let Err(e) = self.send.try_send_to(&t.payload, addr) {
                    tracing::debug!(%addr, "send failed: {e}");
                }
            }
        }
        let mut d = Drained::default();
        while let Some(e) = core.poll_event() {
            match &e {
                Event::SubscriptionMatched { writer, matched: true, .. } => {
                    if let Some(w) = core.discovered_writers().find(|w| w.guid == *writer) {
                        d.writer_qos.insert(*writer, w.qos.clone());
                    }
                }
                Event::ParticipantDiscovered(p) => {
                    if let Some(data) = core.discovered_participants().find(|x| x.guid_prefix == *p) {
                        d.builtin.push(BuiltinEvent::Participant(Box::new(data.clone())));
                    }
                }
                Event::ParticipantLost(p) => d.builtin.push(BuiltinEvent::ParticipantLost(*p)),
                Event::WriterDiscovered(g) => {
                    if let Some(data) = core.discovered_writers().find(|x| x.guid == *g) {
                        d.builtin.push(BuiltinEvent::Writer(Box::new(data.clone())));
                    }
                }
                Event::WriterLost(g) => d.builtin.push(BuiltinEvent::WriterLost(*g)),
                Event::ReaderDiscovered(g) => {
                    if let Some(data) = core.discovered_readers().find(|x| x.guid == *g) {
                        d.builtin.push(BuiltinEvent::Reader(Box::new(data.clone())));
                    }
                }
                Event::ReaderLost(g) => d.builtin.push(BuiltinEvent::ReaderLost(*g)),
                _ => {}
            }
            d.events.push(e);
        }
        d
    }

    fn dispatch(&self, table: &EndpointTable, drained: Drained) {
        if !drained.builtin.is_empty() {
            for sink in table.builtin.iter().filter_map(Weak::upgrade) {
                for b in &drained.builtin {
                    sink.on_builtin(b);
                }
            }
        }
        let Drained { events, writer_qos, .. } = drained;
        for event in events {
            match event {
                Event::Sample { reader, sample } => {
                    if let Some(r) = table.readers.get(&reader) {
                        r.on_sample(sample);
                    }
                }
                Event::PublicationMatched { writer, reader, matched, current_count } => {
                    if let Some(w) = table.writers.get(&writer) {
                        w.on_matched(reader, matched, current_count);
                    }
                }
                Event::SubscriptionMatched { reader, writer, matched, current_count } => {
                    if let Some(r) = table.readers.get(&reader) {
                        let qos = if matched {
                            table.writer_qos.get(&writer).or_else(|| writer_qos.get(&writer))
                        } else {
                            None
                        };
                        r.on_matched(writer, matched, current_count, qos);
                    }
                }
                Event::OfferedIncompatibleQos { writer, reader, policy } => {
                    if let Some(w) = table.writers.get(&writer) {
                        w.on_incompatible(reader, policy);
                    }
                }
                Event::RequestedIncompatibleQos { reader, writer, policy } => {
                    if let Some(r) = table.readers.get(&reader) {
                        r.on_incompatible(writer, policy);
                    }
                }
                other => {
                    let d = match other {
                        Event::ParticipantDiscovered(p) => DiscoveryEvent::ParticipantDiscovered(p),
                        Event::ParticipantLost(p) => DiscoveryEvent::ParticipantLost(p),
                        Event::WriterDiscovered(g) => DiscoveryEvent::WriterDiscovered(g),
                        Event::WriterLost(g) => DiscoveryEvent::WriterLost(g),
                        Event::ReaderDiscovered(g) => DiscoveryEvent::ReaderDiscovered(g),
                        Event::ReaderLost(g) => DiscoveryEvent::ReaderLost(g),
                        _ => continue,
                    };
                    tracing::debug!(event = ?d, "discovery");
                    let _ = self.discovery.send(d);
                }
            }
        }
    }

    /// Feeds the datagram in `buf`, then any more already queued on `socket`.
    fn receive(&self, socket: &UdpSocket, buf: &mut [u8], first: usize) {
        let mut core = lock(&self.core);
        let now = Instant::now();
        guarded(&mut core, now, &buf[..first]);
        for _ in 1..RECV_BATCH {
            match socket.try_recv_from(buf) {
                Ok((n, _)) => guarded(&mut core, now, &buf[..n]),
                Err(_) => break,
            }
        }
        self.finish(core);
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn on_timer(&self) {
        let mut core = lock(&self.core);
        core.handle_timeout(Instant::now());
        self.finish(core);
        // Timers can change what waiters look at too (lease expiry unmatches readers).
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn finish(&self, mut core: MutexGuard<'_, Participant>) {
        let events = self.drain(&mut core);
        if events.events.is_empty() {
            return;
        }
        let table = lock(&self.table);
        drop(core);
        self.dispatch(&table, events);
    }

    fn next_deadline(&self) -> Option<Instant> {
        lock(&self.core).poll_timeout()
    }
}

async fn recv_opt(socket: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<usize> {
    match socket {
        Some(s) => s.recv_from(buf).await.map(|(n, _)| n),
        None => std::future::pending().await,
    }
}

/// The participant's task: receives, runs timers, and sleeps until the core's
/// next deadline or an API call wakes it. Returns after shutdown.
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut spdp_buf = vec![0u8; RECV_BUF];
    let mut meta_buf = vec![0u8; RECV_BUF];
    let mut user_buf = vec![0u8; RECV_BUF];
    // Send the first announcements.
    inner.on_timer();
    loop {
        if inner.is_closed() {
            break;
        }
        let deadline = inner.next_deadline();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = recv_opt(inner.spdp_multicast.as_ref(), &mut spdp_buf) => match r {
                Ok(n) => inner.receive(inner.spdp_multicast.as_ref().unwrap_or(&inner.metatraffic), &mut spdp_buf, n),
                Err(e) => tracing::debug!("spdp receive: {e}"),
            },
            r = inner.metatraffic.recv_from(&mut meta_buf) => match r {
                Ok((n, _)) => inner.receive(&inner.metatraffic, &mut meta_buf, n),
                Err(e) => tracing::debug!("metatraffic receive: {e}"),
            },
            r = inner.user.recv_from(&mut user_buf) => match r {
                Ok((n, _)) => inner.receive(&inner.user, &mut user_buf, n),
                Err(e) => tracing::debug!("user receive: {e}"),
            },
            () = sleep => inner.on_timer(),
            () = inner.wake.notified() => {}
        }
    }
    tracing::debug!("participant task stopped");
}

/// Feeds one datagram to the core. The core is written never to panic on
/// input; should a bug make it panic anyway, the datagram is dropped, the
/// fault is logged with the datagram's size, and the participant keeps
/// running instead of its task dying silently.
fn guarded(core: &mut Participant, now: Instant, datagram: &[u8]) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| core.handle_datagram(now, datagram)));
    if r.is_err() {
        tracing::error!(len = datagram.len(), "internal error while handling a datagram; the datagram was dropped");
    }
}
