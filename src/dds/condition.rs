//! Conditions and wait-sets: [`GuardCondition`], [`StatusCondition`],
//! [`ReadCondition`] / [`QueryCondition`], and [`WaitSet`].

use super::reader::{InstanceState, ReaderState, SampleInfo, SampleState, ViewState};
use super::status::{StatusFlags, StatusMask};
use super::DdsError;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Something a [`WaitSet`] can wait for.
pub trait Condition: Send + Sync {
    /// True while the condition holds.
    fn trigger_value(&self) -> bool;
    /// Identifies this condition (clones share it).
    fn id(&self) -> u64;
    /// A receiver that sees a change whenever the trigger value may have changed.
    fn changes(&self) -> watch::Receiver<u64>;
}

/// A condition whose trigger value the application sets.
#[derive(Clone)]
pub struct GuardCondition {
    inner: Arc<GuardInner>,
}

struct GuardInner {
    id: u64,
    value: AtomicBool,
    bump: watch::Sender<u64>,
}

impl std::fmt::Debug for GuardCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardCondition").field("trigger_value", &self.trigger_value()).finish()
    }
}

impl Default for GuardCondition {
    fn default() -> Self {
        Self::new()
    }
}

impl GuardCondition {
    /// A guard condition, not triggered.
    pub fn new() -> Self {
        GuardCondition {
            inner: Arc::new(GuardInner { id: next_id(), value: AtomicBool::new(false), bump: watch::channel(0).0 }),
        }
    }

    /// Sets the trigger value, waking wait-sets.
    pub fn set_trigger_value(&self, value: bool) {
        self.inner.value.store(value, Ordering::Release);
        self.inner.bump.send_modify(|v| *v = v.wrapping_add(1));
    }
}

impl Condition for GuardCondition {
    fn trigger_value(&self) -> bool {
        self.inner.value.load(Ordering::Acquire)
    }
    fn id(&self) -> u64 {
        self.inner.id
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.bump.subscribe()
    }
}

/// Triggers while an enabled status of its entity has changed since it was
/// last read (DATA_AVAILABLE: while unread samples are cached).
#[derive(Clone)]
pub struct StatusCondition {
    id: u64,
    flags: Arc<StatusFlags>,
    enabled: Arc<AtomicU32>,
}

impl std::fmt::Debug for StatusCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusCondition").field("enabled", &self.enabled_statuses()).finish()
    }
}

impl StatusCondition {
    pub(crate) fn new(flags: Arc<StatusFlags>) -> Self {
        StatusCondition { id: next_id(), flags, enabled: Arc::new(AtomicU32::new(StatusMask::ALL.0)) }
    }

    /// Chooses the statuses that trigger the condition.
    pub fn set_enabled_statuses(&self, mask: StatusMask) {
        self.enabled.store(mask.0, Ordering::Release);
        self.flags.notify();
    }

    /// The statuses that trigger the condition.
    pub fn enabled_statuses(&self) -> StatusMask {
        StatusMask(self.enabled.load(Ordering::Acquire))
    }

    /// The enabled statuses that changed.
    pub fn triggered_statuses(&self) -> StatusMask {
        StatusMask(self.flags.changes().0 & self.enabled_statuses().0)
    }
}

impl Condition for StatusCondition {
    fn trigger_value(&self) -> bool {
        self.triggered_statuses() != StatusMask::NONE
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.flags.subscribe()
    }
}

/// Sample, view and instance states a [`ReadCondition`] selects (bit sets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateMask {
    /// Bits of [`StateMask::sample_bit`].
    pub sample: u8,
    /// Bits of [`StateMask::view_bit`].
    pub view: u8,
    /// Bits of [`StateMask::instance_bit`].
    pub instance: u8,
}

impl StateMask {
    /// Every state.
    pub const ANY: StateMask = StateMask { sample: 0xff, view: 0xff, instance: 0xff };

    /// Selects the listed states; an empty list selects every state of that kind.
    pub fn new(samples: &[SampleState], views: &[ViewState], instances: &[InstanceState]) -> Self {
        let or = |bits: u8| if bits == 0 { 0xff } else { bits };
        StateMask {
            sample: or(samples.iter().fold(0, |m, s| m | Self::sample_bit(*s))),
            view: or(views.iter().fold(0, |m, s| m | Self::view_bit(*s))),
            instance: or(instances.iter().fold(0, |m, s| m | Self::instance_bit(*s))),
        }
    }

    /// Unread samples of any instance.
    pub fn not_read() -> Self {
        Self::new(&[SampleState::NotRead], &[], &[])
    }

    /// The bit of a sample state.
    pub fn sample_bit(s: SampleState) -> u8 {
        match s {
            SampleState::Read => 1,
            SampleState::NotRead => 2,
        }
    }

    /// The bit of a view state.
    pub fn view_bit(s: ViewState) -> u8 {
        match s {
            ViewState::New => 1,
            ViewState::NotNew => 2,
        }
    }

    /// The bit of an instance state.
    pub fn instance_bit(s: InstanceState) -> u8 {
        match s {
            InstanceState::Alive => 1,
            InstanceState::NotAliveDisposed => 2,
            InstanceState::NotAliveNoWriters => 4,
        }
    }

    /// True when a sample with `info` is selected.
    pub fn matches(&self, info: &SampleInfo) -> bool {
        self.sample & Self::sample_bit(info.sample_state) != 0
            && self.view & Self::view_bit(info.view_state) != 0
            && self.instance & Self::instance_bit(info.instance_state) != 0
    }
}

type Query<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// Triggers while its reader's cache holds a sample in the selected states
/// (and, for a query condition, whose value the query accepts). Use it with
/// [`super::DataReader::read_w_condition`] / `take_w_condition`.
pub struct ReadCondition<T> {
    id: u64,
    state: Arc<ReaderState<T>>,
    mask: StateMask,
    query: Option<Query<T>>,
}

/// A [`ReadCondition`] with a query over the sample values (created by
/// `DataReader::create_querycondition*`).
pub type QueryCondition<T> = ReadCondition<T>;

impl<T> Clone for ReadCondition<T> {
    fn clone(&self) -> Self {
        ReadCondition { id: self.id, state: self.state.clone(), mask: self.mask, query: self.query.clone() }
    }
}

impl<T> std::fmt::Debug for ReadCondition<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCondition").field("mask", &self.mask).field("query", &self.query.is_some()).finish()
    }
}

impl<T> ReadCondition<T> {
    pub(crate) fn new(state: Arc<ReaderState<T>>, mask: StateMask, query: Option<Query<T>>) -> Self {
        ReadCondition { id: next_id(), state, mask, query }
    }

    /// The states selected.
    pub fn state_mask(&self) -> StateMask {
        self.mask
    }

    /// True when a sample with `info` and `data` is selected. Invalid samples
    /// (lifecycle notifications) pass a query condition only on their states.
    pub(crate) fn selects(&self, info: &SampleInfo, data: Option<&T>) -> bool {
        self.mask.matches(info)
            && match (&self.query, data) {
                (Some(q), Some(d)) if info.valid_data => q(d),
                (Some(_), _) => !info.valid_data,
                (None, _) => true,
            }
    }
}

impl<T: Clone + Send + Sync + 'static> Condition for ReadCondition<T> {
    fn trigger_value(&self) -> bool {
        self.state.lock().any(&|i, d| self.selects(i, d))
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.state.flags.subscribe()
    }
}

/// Waits for any of its attached conditions to trigger.
#[derive(Default)]
pub struct WaitSet {
    conditions: Vec<Arc<dyn Condition>>,
}

impl std::fmt::Debug for WaitSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet").field("conditions", &self.conditions.len()).finish()
    }
}

impl WaitSet {
    /// An empty wait-set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches a condition (a clone of the handle).
    pub fn attach_condition<C: Condition + Clone + 'static>(&mut self, condition: &C) {
        if !self.conditions.iter().any(|c| c.id() == condition.id()) {
            self.conditions.push(Arc::new(condition.clone()));
        }
    }

    /// Detaches a condition; returns false when it was not attached.
    pub fn detach_condition(&mut self, condition: &dyn Condition) -> bool {
        let before = self.conditions.len();
        self.conditions.retain(|c| c.id() != condition.id());
        self.conditions.len() != before
    }

    /// The attached conditions.
    pub fn conditions(&self) -> &[Arc<dyn Condition>] {
        &self.conditions
    }

    /// Waits until at least one attached condition triggers and returns the
    /// triggered ones (compare with [`Condition::id`]); [`DdsError::Timeout`]
    /// when none triggers within `timeout`.
    pub async fn wait(&self, timeout: Duration) -> Result<Vec<Arc<dyn Condition>>, DdsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribe before looking, so a change in between is not missed.
            let mut rxs: Vec<watch::Receiver<u64>> = self.conditions.iter().map(|c| c.changes()).collect();
            let triggered: Vec<Arc<dyn Condition>> =
                self.conditions.iter().filter(|c| c.trigger_value()).cloned().collect();
            if !triggered.is_empty() {
                return Ok(triggered);
            }
            if rxs.is_empty() {
                tokio::time::sleep_until(deadline).await;
                return Err(DdsError::Timeout);
            }
            let futs: Vec<_> = rxs.iter_mut().map(|rx| Box::pin(rx.changed())).collect();
            let r = tokio::time::timeout_at(deadline, futures_util::future::select_all(futs)).await;
            match r {
                Ok((Ok(()), _, _)) => {}
                // A condition's source is gone; it cannot change any more.
                Ok((Err(_), _, _)) => return Err(DdsError::Closed),
                Err(_) => return Err(DdsError::Timeout),
            };
        }
    }

    /// Blocking form of [`WaitSet::wait`] (usable inside a multi-thread runtime or outside any).
    pub fn wait_blocking(&self, timeout: Duration) -> Result<Vec<Arc<dyn Condition>>, DdsError> {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => tokio::task::block_in_place(|| h.block_on(self.wait(timeout))),
            Err(_) => {
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(DdsError::Runtime)?;
                rt.block_on(self.wait(timeout))
            }
        }
    }
}
