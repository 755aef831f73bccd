//! PRESENTATION on the publishing and subscribing side: the writers of a [`Publisher`](super::Publisher)
//! that a coherent set spans, and the [`Subscriber`](super::Subscriber)'s access gate that holds complete
//! coherent sets back while the application is between `begin_access` and `end_access`.
//!
//! The protocol work (marking changes, reassembling sets, dropping incomplete ones) is done by the core
//! (`starling_proto::core`, module `coherent`).

use starling_proto::wire::types::Guid;
use std::sync::Mutex;

/// The writers a publisher created, and whether a coherent set is open on them.
#[derive(Debug, Default)]
pub(crate) struct PublisherSets {
    state: Mutex<SetsState>,
}

#[derive(Debug, Default)]
struct SetsState {
    /// Writers (with coherent access) created by the publisher.
    writers: Vec<Guid>,
    /// Nesting depth of begin_coherent_changes.
    depth: u32,
}

impl PublisherSets {
    fn lock(&self) -> std::sync::MutexGuard<'_, SetsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a writer with coherent access; returns true when a set is open (the writer joins it).
    pub(crate) fn add_writer(&self, writer: Guid) -> bool {
        let mut s = self.lock();
        s.writers.push(writer);
        s.depth > 0
    }

    /// Forgets a deleted writer.
    pub(crate) fn remove_writer(&self, writer: Guid) {
        self.lock().writers.retain(|w| *w != writer);
    }

    /// Enters a (possibly nested) set; returns the writers to open a set on when this is the outermost one.
    pub(crate) fn begin(&self) -> Option<Vec<Guid>> {
        let mut s = self.lock();
        s.depth += 1;
        (s.depth == 1).then(|| s.writers.clone())
    }

    /// Leaves a set; returns the writers to close it on when this was the outermost one, `Err` when no set
    /// is open.
    pub(crate) fn end(&self) -> Result<Option<Vec<Guid>>, ()> {
        let mut s = self.lock();
        if s.depth == 0 {
            return Err(());
        }
        s.depth -= 1;
        Ok((s.depth == 0).then(|| s.writers.clone()))
    }

    /// True when the publisher has writers with coherent access.
    pub(crate) fn has_writers(&self) -> bool {
        !self.lock().writers.is_empty()
    }
}

/// Work deferred until the subscriber's access ends.
type Deferred = Box<dyn FnOnce() + Send>;

/// A subscriber's access gate (DDS `begin_access` / `end_access`).
#[derive(Default)]
pub(crate) struct AccessGate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    depth: u32,
    deferred: Vec<Deferred>,
}

impl std::fmt::Debug for AccessGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("AccessGate").field("depth", &s.depth).field("deferred", &s.deferred.len()).finish()
    }
}

impl AccessGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `f` for the end of the access if one is in progress; otherwise hands it back to run now.
    pub(crate) fn defer(&self, f: Deferred) -> Option<Deferred> {
        let mut s = self.lock();
        if s.depth == 0 {
            return Some(f);
        }
        s.deferred.push(f);
        None
    }

    /// Enters a (possibly nested) access.
    pub(crate) fn begin(&self) {
        self.lock().depth += 1;
    }

    /// Leaves an access; the outermost end applies what arrived meanwhile, in arrival order. `Err` when no
    /// access is in progress.
    pub(crate) fn end(&self) -> Result<(), ()> {
        let deferred = {
            let mut s = self.lock();
            if s.depth == 0 {
                return Err(());
            }
            s.depth -= 1;
            if s.depth > 0 {
                return Ok(());
            }
            std::mem::take(&mut s.deferred)
        };
        for f in deferred {
            f();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn gate_defers_until_the_outermost_end() {
        let gate = AccessGate::default();
        let n = Arc::new(AtomicU32::new(0));
        let bump = |n: &Arc<AtomicU32>| -> Deferred {
            let n = n.clone();
            Box::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
            })
        };
        if let Some(f) = gate.defer(bump(&n)) {
            f();
        }
        assert_eq!(n.load(Ordering::SeqCst), 1, "no access: runs at once");
        gate.begin();
        gate.begin();
        assert!(gate.defer(bump(&n)).is_none());
        assert_eq!(gate.end(), Ok(()));
        assert_eq!(n.load(Ordering::SeqCst), 1, "still inside the outer access");
        assert_eq!(gate.end(), Ok(()));
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert_eq!(gate.end(), Err(()));
    }

    #[test]
    fn publisher_sets_nest() {
        let p = PublisherSets::default();
        let g = Guid::UNKNOWN;
        assert!(!p.add_writer(g));
        assert_eq!(p.begin(), Some(vec![g]));
        assert_eq!(p.begin(), None);
        assert_eq!(p.end(), Ok(None));
        assert_eq!(p.end(), Ok(Some(vec![g])));
        assert_eq!(p.end(), Err(()));
    }
}
