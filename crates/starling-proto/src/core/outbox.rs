//! Batches submessages into datagrams per destination set.
//!
//! Everything the participant sends during one call goes through here:
//! submessages for the same destinations (and the same INFO_DST) share a
//! datagram until it would exceed the maximum message size.

use super::event::Transmit;
use crate::wire::header::Header;
use crate::wire::message::MessageBuilder;
use crate::wire::types::{GuidPrefix, Locator, Time};
use std::collections::VecDeque;

struct Pending {
    dests: Vec<Locator>,
    dst: Option<GuidPrefix>,
    builder: MessageBuilder,
    last_ts: Option<Option<Time>>,
}

/// Outgoing datagrams under construction and ready to send.
pub(crate) struct Outbox {
    header: Header,
    max_size: usize,
    pending: Vec<Pending>,
    ready: VecDeque<Transmit>,
    spare: Vec<Vec<u8>>,
    /// Destination lists handed back with [`Outbox::recycle_transmit`], reused by [`Outbox::start`].
    spare_dests: Vec<Vec<Locator>>,
}

/// How many sent buffers (and destination lists) the outbox keeps for reuse.
const SPARE: usize = 16;

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("pending", &self.pending.len()).field("ready", &self.ready.len()).finish()
    }
}

impl Outbox {
    pub fn new(header: Header, max_size: usize) -> Self {
        Outbox {
            header,
            max_size,
            pending: Vec::new(),
            ready: VecDeque::new(),
            spare: Vec::new(),
            spare_dests: Vec::new(),
        }
    }

    /// A message builder for `dests` (with INFO_DST `dst` when given) that has
    /// room for `need` more bytes. `ts` is the source timestamp the next DATA
    /// needs: an INFO_TS is added when it differs from the message's current one.
    pub fn message(
        &mut self,
        dests: &[Locator],
        dst: Option<GuidPrefix>,
        ts: Option<Option<Time>>,
        need: usize,
    ) -> &mut MessageBuilder {
        let ts_len = if ts.is_some() { 12 } else { 0 };
        let idx = self.pending.iter().position(|p| p.dst == dst && p.dests == dests);
        let idx = match idx {
            Some(i) if self.pending[i].builder.len() + need + ts_len <= self.max_size => i,
            Some(i) => {
                let p = self.pending.swap_remove(i);
                self.ship(p);
                self.start(dests, dst)
            }
            None => self.start(dests, dst),
        };
        let p = &mut self.pending[idx];
        if let Some(t) = ts {
            if p.last_ts != Some(t) {
                p.builder.info_ts(t);
                p.last_ts = Some(t);
            }
        }
        &mut p.builder
    }

    fn start(&mut self, dests: &[Locator], dst: Option<GuidPrefix>) -> usize {
        let buf = self.spare.pop().unwrap_or_default();
        let mut builder = MessageBuilder::with_buffer(buf, self.header);
        if let Some(p) = dst {
            builder.info_dst(p);
        }
        // A recycled destination list keeps its capacity: no allocation in the steady state.
        let mut list = self.spare_dests.pop().unwrap_or_default();
        list.clear();
        list.extend_from_slice(dests);
        self.pending.push(Pending { dests: list, dst, builder, last_ts: None });
        self.pending.len() - 1
    }

    fn ship(&mut self, p: Pending) {
        if p.builder.has_submessages() && !p.dests.is_empty() {
            self.ready.push_back(Transmit { destinations: p.dests, payload: p.builder.finish() });
        } else {
            // Nothing to send: keep both buffers for the next message.
            self.recycle(p.builder.finish());
            self.recycle_dests(p.dests);
        }
    }

    /// Closes every message under construction.
    pub fn flush(&mut self) {
        // Drained rather than taken, so that the list keeps its capacity.
        let mut pending = std::mem::take(&mut self.pending);
        for p in pending.drain(..) {
            self.ship(p);
        }
        self.pending = pending;
    }

    /// The next finished datagram (closing pending ones first).
    pub fn poll(&mut self) -> Option<Transmit> {
        if self.ready.is_empty() {
            self.flush();
        }
        self.ready.pop_front()
    }

    /// The next datagram that is already complete, leaving the ones under
    /// construction open for more submessages.
    pub fn poll_full(&mut self) -> Option<Transmit> {
        self.ready.pop_front()
    }

    /// True when a finished datagram waits to be polled (see [`Outbox::poll_full`]).
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// True when a datagram under construction holds submessages.
    pub fn has_pending(&self) -> bool {
        self.pending.iter().any(|p| p.builder.has_submessages() && !p.dests.is_empty())
    }

    /// Returns a sent datagram's buffer for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE && buf.capacity() > 0 {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Returns a sent datagram's destination list for reuse.
    pub fn recycle_dests(&mut self, mut dests: Vec<Locator>) {
        if self.spare_dests.len() < SPARE && dests.capacity() > 0 {
            dests.clear();
            self.spare_dests.push(dests);
        }
    }

    /// Returns a sent datagram's buffer and destination list for reuse.
    pub fn recycle_transmit(&mut self, t: Transmit) {
        self.recycle(t.payload);
        self.recycle_dests(t.destinations);
    }
}
