//! The participant driver: per participant, one tokio task per receive socket
//! and one timer task; API calls drive the same core through a mutex.
//!
//! Order of work, wherever the core is touched: call the core with
//! `Instant::now()`, take the `poll_transmit` datagrams into the send queue
//! and the `poll_event` events, release the core, hand the events to the
//! endpoints, then send the datagrams from the calling thread. Events are
//! dispatched while holding the endpoint table, which is locked before the
//! core lock is released, so deliveries keep the core's order; the send queue
//! is locked from taking to sending, so datagrams keep it too, and no thread
//! waits for the core while another one is inside a send. The core mutex is a
//! `std::sync::Mutex` and is never held across an `.await`.
//!
//! The hot path has no task hop: `DataWriter::write` sends its datagrams with
//! non-blocking `sendto` on the calling thread, and a received datagram is
//! handled by its socket's task, which wakes the waiting reader directly.
//!
//! The send socket is deliberately not registered with the tokio reactor:
//! a registered UDP socket reports EPOLLOUT after every send (edge-triggered,
//! when the kernel frees the sent buffer), which wakes the reactor thread for
//! nothing once per datagram. Only when a send would block are the datagrams
//! queued (in order; later sends queue behind them) and a flusher task
//! registers a duplicate of the socket's descriptor until the queue is empty.
//! The timer task is woken by an API call only when that call moved the
//! core's next deadline earlier than the one the task sleeps on.

use super::transport::BoundTransport;
use starling_proto::core::{Event, FastHashMap, Participant, PayloadPool, ReceivedSample, Transmit};
use starling_proto::discovery::{EndpointData, ParticipantData};
use starling_proto::qos::{EndpointQos, QosPolicyId};
use starling_proto::wire::types::{Guid, GuidPrefix};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, watch, Notify};

/// Receive buffer size: the largest UDP payload.
const RECV_BUF: usize = 64 * 1024;
/// Datagrams read from one socket before the output is flushed.
const RECV_BATCH: usize = 32;
/// Most bytes queued behind a send that would block; beyond that datagrams
/// are dropped (reliable writers repair them, as for any loss).
const BACKLOG_BYTES: usize = 32 * 1024 * 1024;
/// "No deadline" in [`Inner::armed`].
const NO_DEADLINE: u64 = u64::MAX;
/// How long a batching writer's partly filled datagram stays open after the
/// last write before the timer task sends it.
const LINGER: Duration = Duration::from_micros(200);
/// Longest a batching writer's datagram stays open while writes keep coming
/// (counted from when the writer started leaving partly filled datagrams).
const LINGER_MAX: Duration = Duration::from_millis(1);
/// Datagrams handed to one `sendmmsg` call.
const MMSG_BATCH: usize = 32;

/// Datagrams waiting for the send socket to accept them, oldest first.
#[derive(Default)]
struct Backlog {
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
    bytes: usize,
    dropped: u64,
}

/// Work an endpoint asks the driver to run once it has released its locks:
/// the endpoint's listener callbacks. See [`listener_scope`].
pub(crate) trait Deferred: Send + Sync {
    /// Runs the callbacks that became due.
    fn run_deferred(&self);
}

/// Per-thread queue of endpoints whose listeners are due.
#[derive(Default)]
struct DeferredQueue {
    /// Nesting of [`ListenerScope`]s on this thread.
    depth: u32,
    /// True while this thread runs queued callbacks (a callback's own writes queue behind it instead of
    /// recursing).
    running: bool,
    queue: VecDeque<Arc<dyn Deferred>>,
}

thread_local! {
    static DEFERRED: std::cell::RefCell<DeferredQueue> = std::cell::RefCell::new(DeferredQueue::default());
}

/// While a [`ListenerScope`] is open on this thread, listener callbacks are queued; they run when the
/// outermost scope closes, after the driver released the core and endpoint-table locks. Returns false outside
/// a scope, where the caller runs the callbacks itself.
pub(crate) fn defer_listener(d: Arc<dyn Deferred>) -> bool {
    DEFERRED.with(|q| {
        let mut q = q.borrow_mut();
        if q.depth == 0 {
            return false;
        }
        q.queue.push_back(d);
        true
    })
}

/// Opens a scope in which listener callbacks are queued (see [`defer_listener`]).
pub(crate) fn listener_scope() -> ListenerScope {
    DEFERRED.with(|q| q.borrow_mut().depth += 1);
    ListenerScope(())
}

/// Closing the outermost scope on a thread runs the queued callbacks, in order, on this thread.
pub(crate) struct ListenerScope(());

impl Drop for ListenerScope {
    fn drop(&mut self) {
        let start = DEFERRED.with(|q| {
            let mut q = q.borrow_mut();
            q.depth -= 1;
            if q.depth > 0 || q.running || q.queue.is_empty() {
                return false;
            }
            q.running = true;
            true
        });
        if !start {
            return;
        }
        loop {
            let Some(next) = DEFERRED.with(|q| q.borrow_mut().queue.pop_front()) else { break };
            // A panicking listener must not take the receive thread (and the participant's data path) with it.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| next.run_deferred()));
            if r.is_err() {
                tracing::error!("a listener callback panicked");
            }
        }
        DEFERRED.with(|q| q.borrow_mut().running = false);
    }
}

/// A local writer's view of the events that concern it.
pub(crate) trait WriterSink: Send + Sync {
    /// A reader matched (`matched`) or unmatched.
    fn on_matched(&self, reader: Guid, matched: bool, current_count: u32);
    /// A reader with incompatible QoS was found.
    fn on_incompatible(&self, reader: Guid, policy: QosPolicyId);
    /// The writer did not assert its liveliness within its lease (LIVELINESS_LOST).
    fn on_liveliness_lost(&self);
}

/// A local reader's view of the events that concern it.
pub(crate) trait ReaderSink: Send + Sync {
    /// A sample arrived.
    fn on_sample(&self, sample: ReceivedSample);
    /// A complete coherent set arrived: its samples must become visible together.
    fn on_coherent_set(&self, samples: Vec<ReceivedSample>) {
        for s in samples {
            self.on_sample(s);
        }
    }
    /// This reader's share of a complete group coherent set (GROUP access scope): returns the work that puts
    /// it into the cache, to be run together with the other readers' shares; `None` when nothing of it stays.
    fn prepare_group_part(&self, samples: Vec<ReceivedSample>) -> Option<Box<dyn FnOnce() + Send>> {
        for s in samples {
            self.on_sample(s);
        }
        None
    }
    /// The subscriber's access gate, if the reader has one (group coherent sets wait behind it).
    fn access_gate(&self) -> Option<Arc<crate::dds::presentation::AccessGate>> {
        None
    }
    /// A writer matched (`matched`, with the writer's QoS when known) or unmatched.
    fn on_matched(&self, writer: Guid, matched: bool, current_count: u32, writer_qos: Option<&EndpointQos>);
    /// A writer with incompatible QoS was found.
    fn on_incompatible(&self, writer: Guid, policy: QosPolicyId);
    /// A matched writer's liveliness changed (LIVELINESS_CHANGED).
    fn on_liveliness_changed(&self, writer: Guid, alive: bool);
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

/// Datagrams taken from the core and not yet sent: the send queue, locked from the moment they are taken
/// (with the core locked) until [`Inner::send_out`] sent them (with the core released).
struct Outgoing<'a>(MutexGuard<'a, Vec<Transmit>>);

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
    pub(crate) writers: FastHashMap<Guid, Arc<dyn WriterSink>>,
    pub(crate) readers: FastHashMap<Guid, Arc<dyn ReaderSink>>,
    /// QoS of the local writers (local readers match them too).
    pub(crate) writer_qos: HashMap<Guid, EndpointQos>,
    /// Built-in topic readers.
    pub(crate) builtin: Vec<Weak<dyn BuiltinSink>>,
}

/// Shared state of one participant's runtime.
pub(crate) struct Inner {
    core: Mutex<Participant>,
    /// The core's payload pool, reachable without locking the core: writers encode into its buffers and
    /// readers give received payloads back to it.
    pool: Arc<PayloadPool>,
    table: Mutex<EndpointTable>,
    spdp_multicast: Option<UdpSocket>,
    user_multicast: Option<UdpSocket>,
    metatraffic: UdpSocket,
    /// Read by the participant's receive thread (see [`receive_thread`]), not by the reactor.
    user: StdUdpSocket,
    /// Ends when the receive thread exits.
    user_done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// The receive thread's id (so that a shutdown from that thread does not wait for itself).
    user_thread: Mutex<Option<std::thread::ThreadId>>,
    /// Not registered with the reactor (see the module docs).
    send: StdUdpSocket,
    /// Locked only while `scratch` is held, so sends keep the core's order.
    backlog: Mutex<Backlog>,
    /// True while `backlog` is not empty.
    backlogged: AtomicBool,
    /// Wakes the flusher task.
    backlog_wake: Notify,
    /// The send queue: datagrams taken from the core and being sent (see [`Outgoing`]); between sends, the
    /// sent ones, handed back to the core by the next taker. Locked only with `core` held or from
    /// [`Inner::drain_with`] to [`Inner::send_out`] (or by the flusher), so sends keep the core's order.
    scratch: Mutex<Vec<Transmit>>,
    /// `send_many`'s list of (datagram index in `scratch`, address), reused (locked only while `scratch` is
    /// held).
    send_items: Mutex<Vec<(usize, SocketAddr)>>,
    /// An emptied event list kept for the next drain, so that draining events does not allocate.
    spare_events: Mutex<Vec<Event>>,
    /// True while a batching write left a partly filled datagram in the core.
    /// Changed only with `core` locked.
    lingering: AtomicBool,
    /// When `lingering` became true, as nanoseconds after `epoch`.
    linger_opened: AtomicU64,
    /// The last batching write that left a partly filled datagram, as
    /// nanoseconds after `epoch`.
    linger_last: AtomicU64,
    /// Wakes the timer task.
    wake: Notify,
    /// The deadline the timer task sleeps until, as nanoseconds after `epoch`.
    armed: AtomicU64,
    /// Counts [`Inner::rearm`] calls: a caller that changed the core and sees this move afterwards knows the
    /// timer task already looked at the core's deadline since.
    rearms: AtomicU64,
    epoch: Instant,
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
            pool: core.payload_pool().clone(),
            core: Mutex::new(core),
            table: Mutex::new(EndpointTable::default()),
            spdp_multicast: t.spdp_multicast.map(UdpSocket::from_std).transpose()?,
            user_multicast: t.user_multicast.map(UdpSocket::from_std).transpose()?,
            metatraffic: UdpSocket::from_std(t.metatraffic_unicast)?,
            user: t.user_unicast,
            user_done: Mutex::new(None),
            user_thread: Mutex::new(None),
            send: t.send,
            backlog: Mutex::new(Backlog::default()),
            backlogged: AtomicBool::new(false),
            backlog_wake: Notify::new(),
            scratch: Mutex::new(Vec::new()),
            send_items: Mutex::new(Vec::new()),
            spare_events: Mutex::new(Vec::new()),
            lingering: AtomicBool::new(false),
            linger_opened: AtomicU64::new(0),
            linger_last: AtomicU64::new(0),
            wake: Notify::new(),
            armed: AtomicU64::new(NO_DEADLINE),
            rearms: AtomicU64::new(0),
            epoch: Instant::now(),
            closed: AtomicBool::new(false),
            progress: watch::channel(0).0,
            discovery: broadcast::channel(256).0,
        }))
    }

    /// Runs `f` on the core with the current time, sends its output, then
    /// calls `register` on the endpoint table before dispatching the events
    /// (so an endpoint created by `f` sees its own first events), and wakes
    /// the timer task if its deadline moved earlier.
    pub(crate) fn call<R>(
        &self,
        f: impl FnOnce(&mut Participant, Instant) -> R,
        register: impl FnOnce(&mut EndpointTable, &R),
    ) -> R {
        self.call_with(false, f, register)
    }

    /// Like [`Inner::call`]; with `batch`, only complete datagrams are sent
    /// and a partly filled one stays open for the next writes (it goes out
    /// with the next unbatched call, received datagram or timer run, at the
    /// latest after [`LINGER`]).
    pub(crate) fn call_with<R>(
        &self,
        batch: bool,
        f: impl FnOnce(&mut Participant, Instant) -> R,
        register: impl FnOnce(&mut EndpointTable, &R),
    ) -> R {
        self.call_inner(batch, f, register, |me, core, _| me.rearm(core))
    }

    /// [`Inner::call_with`] for a write by `writer`: the timer task is rearmed from what the write can have
    /// changed ([`Participant::deadline_after_write`]) instead of every endpoint's deadline, which on the
    /// write path cost as much as the write's bookkeeping.
    pub(crate) fn call_write<R>(&self, batch: bool, writer: Guid, f: impl FnOnce(&mut Participant, Instant) -> R) -> R {
        self.call_inner(
            batch,
            f,
            |_, _| {},
            |me, core, _| match core.deadline_after_write(writer) {
                Some(next) => me.rearm_to(next),
                None => me.rearm(core),
            },
        )
    }

    fn call_inner<R>(
        &self,
        batch: bool,
        f: impl FnOnce(&mut Participant, Instant) -> R,
        register: impl FnOnce(&mut EndpointTable, &R),
        rearm: impl FnOnce(&Inner, &Participant, &R),
    ) -> R {
        let mut core = lock(&self.core);
        let now = Instant::now();
        let r = f(&mut core, now);
        let (events, out) = self.drain_with(&mut core, batch);
        if batch && core.has_pending_transmit() {
            let t = self.nanos(now);
            self.linger_last.store(t, Ordering::Release);
            if !self.lingering.load(Ordering::Acquire) {
                self.linger_opened.store(t, Ordering::Release);
                self.lingering.store(true, Ordering::Release);
                self.wake.notify_one();
            }
        } else if !batch {
            self.lingering.store(false, Ordering::Release);
        }
        rearm(self, &core, &r);
        let scope = listener_scope();
        let mut table = lock(&self.table);
        drop(core);
        register(&mut table, &r);
        if !events.events.is_empty() || !events.builtin.is_empty() {
            table.builtin.retain(|w| w.strong_count() > 0);
            self.dispatch(&table, events);
        } else {
            self.keep_events(events.events);
        }
        drop(table);
        self.send_out(out);
        // Listeners run here, with no lock of the participant held.
        drop(scope);
        r
    }

    /// Wakes the timer task when the core's next deadline is earlier than
    /// the one it sleeps until.
    fn rearm(&self, core: &Participant) {
        self.rearms.fetch_add(1, Ordering::AcqRel);
        self.rearm_to(core.poll_timeout());
    }

    /// Wakes the timer task when `next` is earlier than the deadline it sleeps until.
    fn rearm_to(&self, next: Option<Instant>) {
        let next = next.map_or(NO_DEADLINE, |t| self.nanos(t));
        if next < self.armed.load(Ordering::Acquire) {
            self.wake.notify_one();
        }
    }

    /// When the timer task sends a batching writer's open datagram: [`LINGER`]
    /// after the last batching write, at most [`LINGER_MAX`] after the first.
    fn linger_deadline(&self) -> Instant {
        let last = self.linger_last.load(Ordering::Acquire);
        let opened = self.linger_opened.load(Ordering::Acquire);
        let at =
            (last.saturating_add(LINGER.as_nanos() as u64)).min(opened.saturating_add(LINGER_MAX.as_nanos() as u64));
        self.epoch + Duration::from_nanos(at)
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(NO_DEADLINE - 1)
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

    /// Sends one datagram now, or queues it behind earlier ones that would
    /// have blocked. Called with the send queue (`scratch`) locked.
    fn send_one(&self, payload: &[u8], addr: SocketAddr) {
        if !self.backlogged.load(Ordering::Acquire) {
            match self.send.send_to(payload, addr) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(%addr, "send failed: {e}");
                    return;
                }
            }
        }
        let mut b = lock(&self.backlog);
        if b.bytes + payload.len() > BACKLOG_BYTES {
            b.dropped += 1;
            if b.dropped.is_power_of_two() {
                tracing::debug!(dropped = b.dropped, "send queue full; dropping datagrams");
            }
            return;
        }
        b.bytes += payload.len();
        b.queue.push_back((payload.to_vec(), addr));
        if !self.backlogged.swap(true, Ordering::AcqRel) {
            self.backlog_wake.notify_one();
        }
    }

    /// Sends several datagrams with as few system calls as possible: Linux's
    /// `sendmmsg` hands up to [`MMSG_BATCH`] datagrams to the kernel at once
    /// (std and socket2 offer no wrapper, hence libc). What would block is
    /// queued like in [`Inner::send_one`]. Called with the send queue (`scratch`) locked.
    #[cfg(target_os = "linux")]
    fn send_many(&self, out: &[Transmit]) {
        use std::os::fd::AsRawFd;
        let mut items = lock(&self.send_items);
        items.clear();
        for (i, t) in out.iter().enumerate() {
            for dest in &t.destinations {
                if let Some(addr) = dest.to_socket_addr().filter(SocketAddr::is_ipv4) {
                    items.push((i, addr));
                }
            }
        }
        let mut rest = &items[..];
        while !rest.is_empty() {
            if self.backlogged.load(Ordering::Acquire) {
                for (i, a) in rest {
                    self.send_one(&out[*i].payload, *a);
                }
                return;
            }
            let n = rest.len().min(MMSG_BATCH);
            // SAFETY: zeroed sockaddr_in, iovec and mmsghdr are valid values (plain C structs).
            let mut addrs: [libc::sockaddr_in; MMSG_BATCH] = unsafe { std::mem::zeroed() };
            let mut iovs: [libc::iovec; MMSG_BATCH] = unsafe { std::mem::zeroed() };
            let mut hdrs: [libc::mmsghdr; MMSG_BATCH] = unsafe { std::mem::zeroed() };
            for (i, (t, addr)) in rest[..n].iter().enumerate() {
                let payload = &out[*t].payload;
                let SocketAddr::V4(v4) = addr else { continue };
                addrs[i].sin_family = libc::AF_INET as libc::sa_family_t;
                addrs[i].sin_port = v4.port().to_be();
                addrs[i].sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
                iovs[i].iov_base = payload.as_ptr() as *mut libc::c_void;
                iovs[i].iov_len = payload.len();
            }
            for i in 0..n {
                hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_in).cast();
                hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: every header points at an address and an iovec in the arrays above, whose
            // buffers (the payloads in `out`) outlive the call; n <= MMSG_BATCH.
            let sent = unsafe {
                libc::sendmmsg(self.send.as_raw_fd(), hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT)
            };
            if sent > 0 {
                rest = &rest[sent as usize..];
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Let the first datagram take the single-send path: it queues on
            // EWOULDBLOCK and logs (and skips) any other error.
            self.send_one(&out[rest[0].0].payload, rest[0].1);
            rest = &rest[1..];
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn send_many(&self, out: &[Transmit]) {
        for t in out {
            for dest in &t.destinations {
                if let Some(addr) = dest.to_socket_addr().filter(SocketAddr::is_ipv4) {
                    self.send_one(&t.payload, addr);
                }
            }
        }
    }

    /// Sends queued datagrams until the socket would block; true when the
    /// queue is empty.
    fn flush_backlog(&self) -> bool {
        let _queue = lock(&self.scratch);
        let mut b = lock(&self.backlog);
        while let Some((payload, addr)) = b.queue.front() {
            match self.send.send_to(payload, *addr) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => tracing::debug!(%addr, "send failed: {e}"),
                Ok(_) => {}
            }
            if let Some((payload, _)) = b.queue.pop_front() {
                b.bytes -= payload.len();
            }
        }
        self.backlogged.store(false, Ordering::Release);
        true
    }

    /// Discovery notifications.
    pub(crate) fn discovery_events(&self) -> broadcast::Receiver<DiscoveryEvent> {
        self.discovery.subscribe()
    }

    /// The participant's payload pool.
    pub(crate) fn pool(&self) -> &Arc<PayloadPool> {
        &self.pool
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
            let (_, out) = self.drain(&mut core);
            self.send_out(out);
        }
        {
            let mut table = lock(&self.table);
            table.writers.clear();
            table.readers.clear();
            table.builtin.clear();
        }
        self.wake.notify_one();
        self.backlog_wake.notify_one();
        self.stop_receive_thread();
    }

    /// Wakes the receive thread out of its blocking receive (shutting a UDP socket's read side down wakes
    /// its readers on Linux; a receive timeout covers other systems) and waits, bounded, for it to exit, so
    /// that the sockets are closed when the participant is gone. Not from the receive thread itself.
    fn stop_receive_thread(&self) {
        if let Err(e) = socket2::SockRef::from(&self.user).shutdown(std::net::Shutdown::Read) {
            // Linux reports ENOTCONN for an unconnected socket, after waking its readers.
            tracing::trace!("shutting the user-data socket down: {e}");
        }
        if *lock(&self.user_thread) == Some(std::thread::current().id()) {
            return;
        }
        if let Some(done) = lock(&self.user_done).take() {
            if done.recv_timeout(RECV_TIMEOUT * 4) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                tracing::debug!("the receive thread did not stop in time");
            }
        }
    }

    /// Takes every pending datagram and collects the pending events (see [`Inner::drain_with`]).
    fn drain(&self, core: &mut Participant) -> (Drained, Option<Outgoing<'_>>) {
        self.drain_with(core, false)
    }

    /// Takes the core's datagrams (with `full_only`, datagrams still being filled stay in the core) and its
    /// events. The datagrams come back in the locked send queue, to be sent with [`Inner::send_out`] once the
    /// caller released the core: a send (the kernel runs the whole loopback receive path inside it, tens of
    /// microseconds for a 64 KB datagram) then never holds up another thread that needs the core, such as the
    /// receive thread handling an acknowledgement while a writer sends. Holding the queue's lock from here to
    /// the send keeps datagrams in the order the core produced them.
    fn drain_with(&self, core: &mut Participant, full_only: bool) -> (Drained, Option<Outgoing<'_>>) {
        let out = if core.has_output(full_only) {
            let mut out = lock(&self.scratch);
            // What the previous holder sent goes back to the core for reuse.
            for t in out.drain(..) {
                core.recycle_transmit(t);
            }
            loop {
                let t = if full_only { core.poll_transmit_full() } else { core.poll_transmit() };
                match t {
                    Some(t) => out.push(t),
                    None => break,
                }
            }
            Some(Outgoing(out))
        } else {
            None
        };
        let mut d = Drained { events: std::mem::take(&mut *lock(&self.spare_events)), ..Drained::default() };
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
        (d, out)
    }

    /// Sends what [`Inner::drain_with`] took from the core; called without the core locked.
    fn send_out(&self, out: Option<Outgoing<'_>>) {
        let Some(Outgoing(out)) = out else { return };
        match out.len() {
            0 => {}
            1 => {
                for dest in &out[0].destinations {
                    if let Some(addr) = dest.to_socket_addr().filter(SocketAddr::is_ipv4) {
                        self.send_one(&out[0].payload, addr);
                    }
                }
            }
            _ => self.send_many(&out),
        }
    }

    fn dispatch(&self, table: &EndpointTable, drained: Drained) {
        if !drained.builtin.is_empty() {
            for sink in table.builtin.iter().filter_map(Weak::upgrade) {
                for b in &drained.builtin {
                    sink.on_builtin(b);
                }
            }
        }
        let Drained { mut events, writer_qos, .. } = drained;
        for event in events.drain(..) {
            match event {
                Event::Sample { reader, sample } => {
                    if let Some(r) = table.readers.get(&reader) {
                        r.on_sample(sample);
                    }
                }
                Event::CoherentSet { reader, samples } => {
                    if let Some(r) = table.readers.get(&reader) {
                        r.on_coherent_set(samples);
                    }
                }
                Event::GroupCoherentSet { parts } => {
                    // All readers' shares go into their caches in one step, or wait together for the end
                    // of the subscriber's access.
                    let mut gate = None;
                    let mut work: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
                    for (reader, samples) in parts {
                        let Some(r) = table.readers.get(&reader) else { continue };
                        gate = gate.or_else(|| r.access_gate());
                        work.extend(r.prepare_group_part(samples));
                    }
                    let all: Box<dyn FnOnce() + Send> = Box::new(move || work.into_iter().for_each(|f| f()));
                    match gate {
                        Some(g) => {
                            if let Some(f) = g.defer(all) {
                                f();
                            }
                        }
                        None => all(),
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
                Event::LivelinessChanged { reader, writer, alive } => {
                    if let Some(r) = table.readers.get(&reader) {
                        r.on_liveliness_changed(writer, alive);
                    }
                }
                Event::LivelinessLost { writer } => {
                    if let Some(w) = table.writers.get(&writer) {
                        w.on_liveliness_lost();
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
        self.keep_events(events);
    }

    /// Keeps an emptied event list for the next drain (the larger one, if another was kept meanwhile).
    fn keep_events(&self, mut events: Vec<Event>) {
        events.clear();
        let mut spare = lock(&self.spare_events);
        if events.capacity() > spare.capacity() {
            *spare = events;
        }
    }

    /// Feeds the datagram in `buf`, then any more already queued on `socket`.
    fn receive(&self, socket: &UdpSocket, buf: &mut [u8], first: usize) {
        self.ingest(|core, now| {
            guarded(core, now, &buf[..first]);
            for _ in 1..RECV_BATCH {
                match socket.try_recv_from(buf) {
                    Ok((n, _)) => guarded(core, now, &buf[..n]),
                    Err(_) => break,
                }
            }
        });
    }

    /// Feeds datagrams already read (by the receive thread) to the core under one lock.
    fn receive_all<'a>(&self, datagrams: impl Iterator<Item = &'a [u8]>) {
        self.ingest(|core, now| datagrams.for_each(|d| guarded(core, now, d)));
    }

    /// Runs `feed` on the core under one lock, then sends its output and dispatches its events.
    fn ingest(&self, feed: impl FnOnce(&mut Participant, Instant)) {
        let mut core = lock(&self.core);
        // A batching writer's partly filled datagram stays open (it leaves when
        // full, with the writer's flush or after the linger): acknowledgements
        // arriving during a burst would otherwise cut it into datagrams of one
        // or two samples. What this call adds to it leaves with it.
        let keep_open = self.lingering.load(Ordering::Acquire);
        feed(&mut core, Instant::now());
        self.finish(core, true, keep_open);
        crate::dds::status_bump(&self.progress);
    }

    fn on_timer(&self) {
        let mut core = lock(&self.core);
        self.lingering.store(false, Ordering::Release);
        core.handle_timeout(Instant::now());
        self.finish(core, false, false);
        // Timers can change what waiters look at too (lease expiry unmatches readers).
        crate::dds::status_bump(&self.progress);
    }

    /// Sends the core's output (with `keep_open`, only complete datagrams), then dispatches its events.
    fn finish(&self, mut core: MutexGuard<'_, Participant>, rearm: bool, keep_open: bool) {
        let (events, out) = self.drain_with(&mut core, keep_open);
        if events.events.is_empty() && events.builtin.is_empty() {
            self.keep_events(events.events);
            if rearm {
                self.rearm(&core);
            }
            drop(core);
            self.send_out(out);
            return;
        }
        let scope = listener_scope();
        let table = lock(&self.table);
        let rearms = self.rearms.load(Ordering::Acquire);
        drop(core);
        // Acknowledgements go out before the samples are delivered (decoding a large batch takes a while and
        // the writer may be waiting for room in its history).
        self.send_out(out);
        self.dispatch(&table, events);
        drop(table);
        // Listeners run here, on the receiving (or timer) thread, with no lock of the participant held.
        drop(scope);
        // After the deliveries (and a listener's reply): a sample reaches its reader without waiting for the
        // core to work out its next deadline. Not needed if a call since (a listener's reply, say) looked at
        // the core's deadline, which includes what this call changed.
        if rearm && self.rearms.load(Ordering::Acquire) == rearms {
            self.rearm(&lock(&self.core));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        lock(&self.core).poll_timeout()
    }
}

/// Aborts the participant's helper tasks when the driver ends (or is aborted).
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Which receive socket a receive task reads.
#[derive(Clone, Copy, Debug)]
enum Sock {
    Spdp,
    Metatraffic,
    UserMulticast,
}

impl Inner {
    fn socket(&self, which: Sock) -> Option<&UdpSocket> {
        match which {
            Sock::Spdp => self.spdp_multicast.as_ref(),
            Sock::Metatraffic => Some(&self.metatraffic),
            Sock::UserMulticast => self.user_multicast.as_ref(),
        }
    }
}

/// One socket's receive task: reads a datagram, hands it (and whatever else
/// is queued) to the core, and dispatches the events from this task, so a
/// waiting reader is woken straight from here. The buffer is reused.
async fn receive_loop(inner: Arc<Inner>, which: Sock) {
    let mut buf = vec![0u8; RECV_BUF];
    let Some(socket) = inner.socket(which) else { return };
    loop {
        if inner.is_closed() {
            break;
        }
        match socket.recv_from(&mut buf).await {
            Ok((n, _)) => inner.receive(socket, &mut buf, n),
            Err(e) => tracing::debug!(?which, "receive: {e}"),
        }
    }
}

/// How long the receive thread blocks before it looks whether the participant closed (a backstop: shutdown
/// wakes it at once on Linux).
const RECV_TIMEOUT: Duration = Duration::from_millis(250);

/// Starts the thread that reads the user-data unicast socket: blocking receives, no reactor between the
/// socket and the core. One `recvmmsg` call waits for the first datagram and returns whatever else is
/// queued with it (no extra call that ends in EAGAIN), the batch goes through the core under one lock, and
/// the events (reader listeners included) are dispatched from this thread, so a listener that answers from
/// `on_data_available` sends its reply without a thread hop. The thread enters `handle`'s runtime, so code
/// it runs may use tokio as anywhere else.
///
/// With a non-zero `spin`, the thread polls without blocking for up to `spin` after each batch before it
/// blocks (see `DomainParticipantBuilder::receive_spin`).
pub(crate) fn spawn_receive_thread(
    inner: &Arc<Inner>,
    handle: tokio::runtime::Handle,
    spin: Duration,
) -> io::Result<()> {
    inner.user.set_nonblocking(false)?;
    inner.user.set_read_timeout(Some(RECV_TIMEOUT))?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    *lock(&inner.user_done) = Some(rx);
    let me = inner.clone();
    let t = std::thread::Builder::new().name("starling-recv".into()).spawn(move || {
        let _entered = handle.enter();
        receive_thread(&me, spin);
        drop(me);
        drop(tx);
    })?;
    *lock(&inner.user_thread) = Some(t.thread().id());
    Ok(())
}

/// The receive thread's loop (see [`spawn_receive_thread`]).
fn receive_thread(inner: &Inner, spin: Duration) {
    let mut batch = RecvBatch::new();
    // Right after a batch, poll for up to `spin` before blocking.
    let mut busy = false;
    loop {
        if inner.is_closed() {
            break;
        }
        let r = if busy && !spin.is_zero() { batch.recv_spinning(&inner.user, spin) } else { batch.recv(&inner.user) };
        busy = matches!(r, Ok(n) if n > 0);
        match r {
            Ok(0) => {}
            Ok(n) => {
                if inner.is_closed() {
                    break;
                }
                inner.receive_all(batch.datagrams(n));
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!("receive: {e}");
                if inner.is_closed() {
                    break;
                }
                // Do not spin on a persistent error.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    tracing::debug!("receive thread stopped");
}

/// Buffers for up to [`RECV_BATCH`] datagrams read with one call. The buffer is one allocation the kernel
/// backs with memory only where datagrams were written. The `recvmmsg` headers are built once and point into
/// it (the kernel only writes their lengths and flags), so a call prepares nothing.
struct RecvBatch {
    buf: Vec<u8>,
    lens: [usize; RECV_BATCH],
    #[cfg(target_os = "linux")]
    iovs: Box<[libc::iovec; RECV_BATCH]>,
    #[cfg(target_os = "linux")]
    hdrs: Box<[libc::mmsghdr; RECV_BATCH]>,
}

impl RecvBatch {
    #[cfg(target_os = "linux")]
    fn new() -> Self {
        let mut buf = vec![0u8; RECV_BUF * RECV_BATCH];
        // SAFETY: zeroed iovec and mmsghdr are valid values (plain C structs).
        let mut iovs: Box<[libc::iovec; RECV_BATCH]> = Box::new(unsafe { std::mem::zeroed() });
        let mut hdrs: Box<[libc::mmsghdr; RECV_BATCH]> = Box::new(unsafe { std::mem::zeroed() });
        // Raw pointers from `as_mut_ptr`, which stay valid beside the slices `datagrams` later takes.
        let base = buf.as_mut_ptr();
        for (i, iov) in iovs.iter_mut().enumerate() {
            iov.iov_base = base.wrapping_add(i * RECV_BUF).cast();
            iov.iov_len = RECV_BUF;
        }
        for (h, iov) in hdrs.iter_mut().zip(iovs.iter_mut()) {
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
        }
        // The heap blocks of `buf` and `iovs` do not move when they are moved into the struct.
        RecvBatch { buf, lens: [0; RECV_BATCH], iovs, hdrs }
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> Self {
        RecvBatch { buf: vec![0u8; RECV_BUF * RECV_BATCH], lens: [0; RECV_BATCH] }
    }

    /// Blocks until at least one datagram arrived (or the timeout, or shutdown); returns how many were read.
    fn recv(&mut self, socket: &StdUdpSocket) -> io::Result<usize> {
        self.recv_with(socket, true)
    }

    /// Polls without blocking for up to `spin`, then blocks like [`RecvBatch::recv`].
    fn recv_spinning(&mut self, socket: &StdUdpSocket, spin: Duration) -> io::Result<usize> {
        let until = Instant::now() + spin;
        loop {
            match self.recv_with(socket, false) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= until {
                        return self.recv(socket);
                    }
                    std::thread::yield_now();
                }
                r => return r,
            }
        }
    }

    /// One receive call: blocking (until the first datagram) or not.
    #[cfg(target_os = "linux")]
    fn recv_with(&mut self, socket: &StdUdpSocket, block: bool) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        debug_assert_eq!(self.iovs[0].iov_base, self.buf.as_mut_ptr().cast::<libc::c_void>());
        // SAFETY: every header points at one iovec of `self.iovs`, each covering a distinct RECV_BUF-sized
        // part of `self.buf`, all of which live as long as `self`; the count is the arrays' length.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                if block { libc::MSG_WAITFORONE } else { libc::MSG_DONTWAIT },
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (len, h) in self.lens.iter_mut().zip(&self.hdrs[..n]) {
            *len = (h.msg_len as usize).min(RECV_BUF);
        }
        Ok(n)
    }

    #[cfg(not(target_os = "linux"))]
    fn recv_with(&mut self, socket: &StdUdpSocket, block: bool) -> io::Result<usize> {
        socket.set_nonblocking(!block)?;
        let (n, _) = socket.recv_from(&mut self.buf[..RECV_BUF])?;
        self.lens[0] = n;
        Ok(1)
    }

    /// The first `n` datagrams read by the last [`RecvBatch::recv`].
    fn datagrams(&self, n: usize) -> impl Iterator<Item = &[u8]> {
        self.lens.iter().take(n).enumerate().map(|(i, len)| &self.buf[i * RECV_BUF..i * RECV_BUF + len])
    }
}

/// Sends the datagrams queued behind a send that would block, waiting for
/// the socket to become writable through a duplicate of its descriptor that
/// is registered with the reactor only while the queue is not empty.
async fn flush_loop(inner: Arc<Inner>) {
    loop {
        inner.backlog_wake.notified().await;
        if inner.is_closed() {
            break;
        }
        let fd = match inner.send.try_clone() {
            // SAFETY: the AsyncFd owns the duplicated socket, so its descriptor stays open and
            // refers to the same file description for the AsyncFd's whole lifetime.
            Ok(dup) => match unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) } {
                Ok(fd) => Some(fd),
                Err(e) => {
                    tracing::debug!("cannot watch the send socket: {e}");
                    None
                }
            },
            Err(e) => {
                tracing::debug!("cannot duplicate the send socket: {e}");
                None
            }
        };
        loop {
            if inner.is_closed() || inner.flush_backlog() {
                break;
            }
            match &fd {
                Some(fd) => match fd.writable().await {
                    Ok(mut guard) => guard.clear_ready(),
                    Err(_) => tokio::time::sleep(Duration::from_micros(200)).await,
                },
                None => tokio::time::sleep(Duration::from_micros(200)).await,
            }
        }
    }
}

/// The participant's task: starts the receive and flusher tasks, runs the
/// timers, and sleeps until the core's next deadline or until an API call
/// moves it earlier. Returns after shutdown (stopping the other tasks).
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut tasks = Tasks(Vec::new());
    for which in [Sock::Spdp, Sock::Metatraffic, Sock::UserMulticast] {
        if inner.socket(which).is_some() {
            tasks.0.push(tokio::spawn(receive_loop(inner.clone(), which)));
        }
    }
    tasks.0.push(tokio::spawn(flush_loop(inner.clone())));
    // Send the first announcements.
    inner.on_timer();
    loop {
        if inner.is_closed() {
            break;
        }
        let notified = inner.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let core_deadline = inner.next_deadline();
        let mut deadline = core_deadline;
        let lingering = inner.lingering.load(Ordering::Acquire);
        if lingering {
            let linger = inner.linger_deadline();
            deadline = Some(deadline.map_or(linger, |d| d.min(linger)));
        }
        inner.armed.store(deadline.map_or(NO_DEADLINE, |d| inner.nanos(d)), Ordering::Release);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {
                inner.armed.store(NO_DEADLINE, Ordering::Release);
                // Woken for the linger while the writer is still writing (and no core timer is due):
                // sleep again rather than send a partly filled datagram.
                let now = Instant::now();
                if lingering
                    && core_deadline.is_none_or(|d| now < d)
                    && inner.lingering.load(Ordering::Acquire)
                    && now < inner.linger_deadline()
                {
                    continue;
                }
                inner.on_timer();
            }
            () = &mut notified => {}
        }
    }
    drop(tasks);
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
