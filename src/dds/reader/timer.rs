//! The timer task of an endpoint, shared by readers and writers (deadlines, autopurge, lifespan).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

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
