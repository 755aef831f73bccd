//! A participant's pool of sample payload buffers, so that the steady-state write and read paths do not
//! allocate a buffer per sample.
//!
//! A payload is a [`Bytes`] made from a `Vec<u8>` whose length equals its capacity: `Bytes::from` then keeps
//! the `Vec`'s allocation as it is (no shared header is allocated), and once the last handle is given back,
//! [`Bytes::try_into_mut`] and `Vec::from` turn it back into the same `Vec` without allocating. Buffers are
//! kept by exact capacity, so a topic of a fixed-size type reuses the same few buffers for ever; samples of
//! varying sizes find a buffer of their size when one is free, and otherwise allocate as they would without
//! the pool.
//!
//! Where payloads go back: the DDS reader gives each received payload back once it is decoded, and a
//! writer's history gives back what it drops (acknowledged, replaced under KEEP_LAST, or with the writer). A
//! payload that is still shared when given back (a sample delivered to several local readers, a write also
//! delivered to a local reader) is simply dropped: `try_into_mut` refuses it, so a buffer never returns to
//! the pool while anything else can read it.

use bytes::Bytes;
use std::sync::{Mutex, MutexGuard};

/// Bounds on what a [`PayloadPool`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// Total capacity of the buffers kept, in bytes (default 4 MiB).
    pub max_bytes: usize,
    /// Buffers kept of any one capacity (default 4096: a writer's whole window of small samples in flight
    /// comes back; `max_bytes` bounds the large ones).
    pub max_per_size: usize,
    /// Distinct capacities kept at once (default 16).
    pub max_sizes: usize,
    /// Largest buffer kept, in bytes (default 64 KiB); larger ones are freed when given back.
    pub max_buffer: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits { max_bytes: 4 << 20, max_per_size: 4096, max_sizes: 16, max_buffer: 64 << 10 }
    }
}

/// Free buffers of one capacity.
#[derive(Debug)]
struct SizeClass {
    capacity: usize,
    free: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
struct Free {
    classes: Vec<SizeClass>,
    /// Total capacity of the buffers in `classes`.
    bytes: usize,
    /// Counters, kept under the lock that the operations they count take anyway.
    reused: u64,
    allocated: u64,
    kept: u64,
    refused: u64,
}

/// Counters of a [`PayloadPool`] (since it was made).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers handed out from the pool.
    pub reused: u64,
    /// Buffers handed out freshly allocated (none of that capacity was free).
    pub allocated: u64,
    /// Buffers given back and kept.
    pub kept: u64,
    /// Buffers given back and not kept because the limits were reached (payloads that are still shared, empty
    /// or larger than [`PoolLimits::max_buffer`] are dropped without being counted).
    pub dropped: u64,
    /// Buffers held now.
    pub held: usize,
    /// Their total capacity, in bytes.
    pub held_bytes: usize,
}

/// Released sample payload buffers of one participant, by exact capacity, within [`PoolLimits`].
///
/// Shared (as `Arc<PayloadPool>`) by the participant's core, its runtime and its DDS entities; every
/// method takes `&self` and holds the inner lock only to push or pop one buffer.
#[derive(Debug)]
pub struct PayloadPool {
    limits: PoolLimits,
    free: Mutex<Free>,
}

impl Default for PayloadPool {
    fn default() -> Self {
        PayloadPool::new(PoolLimits::default())
    }
}

impl PayloadPool {
    /// An empty pool that keeps at most what `limits` allow.
    pub fn new(limits: PoolLimits) -> Self {
        PayloadPool { limits, free: Mutex::new(Free::default()) }
    }

    /// The pool's bounds.
    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Free> {
        // The state is a set of free buffers: whatever a panicking holder left is still consistent.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counters, and what the pool holds now.
    pub fn stats(&self) -> PoolStats {
        let free = self.lock();
        PoolStats {
            reused: free.reused,
            allocated: free.allocated,
            kept: free.kept,
            dropped: free.refused,
            held: free.classes.iter().map(|c| c.free.len()).sum(),
            held_bytes: free.bytes,
        }
    }

    /// An empty buffer of capacity exactly `capacity`: a free one, or a new one. Once filled, `Bytes::from`
    /// makes it a payload (with no shared header when filled to its capacity; otherwise `Bytes` allocates a
    /// small one, and the buffer still comes back whole).
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        if capacity == 0 {
            return Vec::new();
        }
        let found = {
            let mut free = self.lock();
            let free = &mut *free;
            match free.classes.iter_mut().find(|c| c.capacity == capacity).and_then(|c| c.free.pop()) {
                Some(v) => {
                    free.bytes -= capacity;
                    free.reused += 1;
                    Some(v)
                }
                None => {
                    free.allocated += 1;
                    None
                }
            }
        };
        // Kept buffers are empty (see `give`).
        found.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// A payload holding a copy of `data`, in a buffer from the pool when one of that size is free.
    pub fn copy(&self, data: &[u8]) -> Bytes {
        let mut v = self.take(data.len());
        v.extend_from_slice(data);
        Bytes::from(v)
    }

    /// Takes back a payload no longer needed. It is kept when nothing else shares it, it owns its whole
    /// buffer, and the limits allow; otherwise it is dropped (freeing the buffer when it was the last handle).
    pub fn give(&self, payload: Bytes) {
        // Empty payloads are static (no buffer); large ones are not kept. Neither is counted, nor a shared one:
        // this path takes no lock.
        if payload.is_empty() || payload.len() > self.limits.max_buffer {
            return;
        }
        if let Ok(mut m) = payload.try_into_mut() {
            // Emptied first, so that turning it into a `Vec` moves no bytes.
            m.clear();
            self.keep(Vec::from(m));
        }
    }

    /// Keeps `v` (empty) if the limits allow.
    fn keep(&self, v: Vec<u8>) {
        let capacity = v.capacity();
        if capacity == 0 || capacity > self.limits.max_buffer {
            return;
        }
        let mut free = self.lock();
        let free = &mut *free;
        let class = if free.bytes + capacity > self.limits.max_bytes {
            None
        } else if let Some(i) = free.classes.iter().position(|c| c.capacity == capacity) {
            free.classes.get_mut(i).filter(|c| c.free.len() < self.limits.max_per_size)
        } else if self.limits.max_per_size == 0 {
            None
        } else if free.classes.len() < self.limits.max_sizes {
            // A new size: in a class of its own.
            free.classes.push(SizeClass { capacity, free: Vec::new() });
            free.classes.last_mut()
        } else {
            // All classes taken: an emptied one changes size.
            let emptied = free.classes.iter_mut().find(|c| c.free.is_empty());
            if let Some(c) = emptied {
                c.capacity = capacity;
                Some(c)
            } else {
                None
            }
        };
        match class {
            Some(c) => {
                c.free.push(v);
                free.bytes += capacity;
                free.kept += 1;
            }
            None => free.refused += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    #[test]
    fn a_given_back_payload_is_reused_for_the_same_size() {
        let pool = PayloadPool::default();
        let a = pool.copy(&data(100));
        assert_eq!(&a[..], &data(100)[..]);
        let addr = a.as_ptr();
        pool.give(a);
        assert_eq!(pool.stats().held, 1);
        let b = pool.copy(&data(100));
        assert_eq!(b.as_ptr(), addr, "the same buffer");
        assert_eq!(&b[..], &data(100)[..]);
        // Another size gets another buffer.
        let c = pool.copy(&data(50));
        assert_ne!(c.as_ptr(), addr);
        let s = pool.stats();
        assert_eq!((s.reused, s.allocated, s.kept, s.held), (1, 2, 1, 0));
    }

    #[test]
    fn a_taken_buffer_comes_back_for_encoding() {
        let pool = PayloadPool::default();
        let mut v = pool.take(64);
        assert_eq!(v.capacity(), 64);
        v.extend_from_slice(&data(64));
        let p = Bytes::from(v);
        let addr = p.as_ptr();
        pool.give(p);
        let v = pool.take(64);
        assert!(v.is_empty());
        assert_eq!((v.as_ptr(), v.capacity()), (addr, 64));
        // A buffer that was not filled to its capacity still comes back whole.
        let mut v = v;
        v.extend_from_slice(&data(10));
        pool.give(Bytes::from(v));
        let again = pool.take(64);
        assert_eq!(again.as_ptr(), addr);
    }

    #[test]
    fn a_shared_payload_is_not_reused_while_shared() {
        let pool = PayloadPool::default();
        let a = pool.copy(&data(100));
        let other = a.clone();
        let addr = a.as_ptr();
        pool.give(a);
        assert_eq!(pool.stats().held, 0, "still read through `other`");
        let b = pool.copy(&data(100));
        assert_ne!(b.as_ptr(), addr);
        assert_eq!(&other[..], &data(100)[..]);
        // The last handle can come back.
        pool.give(other);
        assert_eq!(pool.stats().held, 1);
        let again = pool.take(100);
        assert_eq!(again.as_ptr(), addr);
        // A slice does not own its whole buffer's view from the start, but a unique one still comes back.
        let s = pool.copy(&data(100)).slice(10..);
        pool.give(s);
        assert_eq!(pool.stats().held, 1, "the last handle of a slice brings the whole buffer back");
        assert_eq!(pool.take(100).capacity(), 100);
        let slices = pool.copy(&data(100));
        let half = slices.slice(..50);
        pool.give(slices);
        assert_eq!(&half[..], &data(50)[..], "a live slice keeps its bytes");
    }

    #[test]
    fn static_and_large_payloads_are_not_kept() {
        let pool = PayloadPool::default();
        pool.give(Bytes::from_static(b"abc"));
        pool.give(Bytes::new());
        pool.give(Bytes::from(vec![0u8; (64 << 10) + 1]));
        let s = pool.stats();
        assert_eq!((s.held, s.kept), (0, 0));
    }

    #[test]
    fn the_limits_bound_what_is_kept() {
        let pool = PayloadPool::new(PoolLimits { max_bytes: 1000, max_per_size: 3, max_sizes: 2, max_buffer: 400 });
        // At most 3 of one size.
        let four: Vec<Bytes> = (0..4).map(|_| pool.copy(&data(10))).collect();
        four.into_iter().for_each(|p| pool.give(p));
        assert_eq!(pool.stats().held, 3);
        // A second size fits; a third does not while both classes hold buffers.
        pool.give(pool.copy(&data(20)));
        pool.give(pool.copy(&data(30)));
        let s = pool.stats();
        assert_eq!((s.held, s.held_bytes), (4, 50));
        // Too large for one buffer.
        pool.give(pool.copy(&data(401)));
        assert_eq!(pool.stats().held, 4);
        // Emptying the size-20 class lets a new size take its place.
        assert_eq!(pool.take(20).capacity(), 20);
        pool.give(pool.copy(&data(30)));
        assert_eq!(pool.take(30).capacity(), 30);
        assert_eq!(pool.stats().reused, 2);
    }

    #[test]
    fn the_byte_budget_bounds_what_is_kept() {
        let pool = PayloadPool::new(PoolLimits { max_bytes: 1000, max_per_size: 10, max_sizes: 4, max_buffer: 400 });
        let four: Vec<Bytes> = (0..4).map(|_| pool.copy(&data(300))).collect();
        four.into_iter().for_each(|p| pool.give(p));
        let s = pool.stats();
        assert_eq!((s.held, s.held_bytes, s.kept, s.dropped), (3, 900, 3, 1));
        // Taking one out makes room again.
        assert_eq!(pool.take(300).capacity(), 300);
        pool.give(pool.copy(&data(100)));
        assert_eq!(pool.stats().held_bytes, 700);
    }

    #[test]
    fn concurrent_use_keeps_the_books_straight() {
        let pool = std::sync::Arc::new(PayloadPool::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for i in 0..1000usize {
                        let n = 1 + (i + t) % 7;
                        let p = pool.copy(&data(n));
                        assert_eq!(&p[..], &data(n)[..]);
                        pool.give(p);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let s = pool.stats();
        assert_eq!(s.reused + s.allocated, 4000);
        assert_eq!(s.kept + s.dropped, 4000, "each payload was unique when given back");
        assert!(s.held <= 7 * 4, "{} held", s.held);
        let counted: usize = pool.lock().classes.iter().map(|c| c.capacity * c.free.len()).sum();
        assert_eq!(s.held_bytes, counted);
    }
}
