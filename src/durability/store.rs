//! The PERSISTENT store: one append-only log per topic in the service's `--store` directory.
//!
//! The AMQP bridge's durable store keeps AMQP messages with their properties; the access pattern here is the
//! same (append as samples arrive, read everything back once at start, compact by rewriting the live records),
//! so this log follows its record format with records of its own.
//!
//! # Files
//! `t-<16 hex digits>.log` per topic (the digits hash the topic, type and partitions). Records are
//! `[len u32 LE][fnv1a-32 u32 LE][kind u8][body]`, `len` counting kind and body, the checksum covering them:
//! - kind 1, header (first record): `[u32 n][n bytes: the writer's SEDP publication data][u32 m][m bytes: the
//!   type as IDL]`;
//! - kind 2, sample: `[16 bytes key hash][u64 source timestamp, ns][u8 flags: 1 = dispose, 2 = key payload]
//!   [encapsulated payload]`;
//! - kind 3, instance removed: `[16 bytes key hash]`;
//! - kind 4, sample with its origin: `[16 bytes original writer GUID][i64 LE original sequence number]` then a
//!   kind 2 body. Written for every change whose original writer is known (all changes since services record
//!   it), so that a restarted service does not take a change again from a writer or from another service;
//!   logs with kind 2 records (written before) are read as they are.
//!
//! Replaying a log feeds its samples through the topic's [`TopicHistory`] again, which applies the same limits,
//! so evictions need no record. A torn or corrupt tail (a crash mid-write) ends the replay; the file is then
//! rewritten with what was read. Every record goes to the OS with one `write_all` (it survives a process crash);
//! `fsync` runs on [`TopicLog::sync`] (the service calls it about once a second), so a power loss can lose the
//! most recent second.

use super::history::{HeldSample, TopicHistory};
use bytes::Bytes;
use starling_proto::discovery::EndpointData;
use starling_proto::wire::types::{Guid, GuidPrefix, SampleIdentity, SequenceNumber, VendorId};
use starling_proto::wire::KeyHash;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const HEADER: u8 = 1;
const SAMPLE: u8 = 2;
const REMOVE: u8 = 3;
const SAMPLE_ORIGIN: u8 = 4;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("store I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A log's header record is missing or unreadable.
    #[error("store file {0} has no valid header")]
    BadHeader(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

fn fnv1a32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// 64-bit FNV-1a, for file names.
pub(crate) fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(9 + body.len());
    let len = u32::try_from(1 + body.len()).unwrap_or(u32::MAX);
    rec.extend_from_slice(&len.to_le_bytes());
    rec.extend_from_slice(&[0; 4]);
    rec.push(kind);
    rec.extend_from_slice(body);
    let sum = fnv1a32(&rec[8..]);
    rec[4..8].copy_from_slice(&sum.to_le_bytes());
    rec
}

/// Splits `bytes` into valid records; the bool is true when a torn or corrupt tail was cut off.
fn records(bytes: &[u8]) -> (Vec<(u8, &[u8])>, bool) {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((head, tail)) = rest.split_first_chunk::<8>() else { return (out, true) };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let sum = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || tail.len() < len || fnv1a32(&tail[..len]) != sum {
            return (out, true);
        }
        out.push((tail[0], &tail[1..len]));
        rest = &tail[len..];
    }
    (out, false)
}

fn header_body(endpoint: &EndpointData, idl: &str) -> Vec<u8> {
    let mut ep = endpoint.clone();
    ep.vendor_id = VendorId::STARLING;
    let mut sedp = Vec::new();
    ep.encode(&mut sedp);
    let mut body = Vec::with_capacity(8 + sedp.len() + idl.len());
    body.extend_from_slice(&u32::try_from(sedp.len()).unwrap_or(u32::MAX).to_le_bytes());
    body.extend_from_slice(&sedp);
    body.extend_from_slice(&u32::try_from(idl.len()).unwrap_or(u32::MAX).to_le_bytes());
    body.extend_from_slice(idl.as_bytes());
    body
}

fn parse_header(body: &[u8]) -> Option<(EndpointData, String)> {
    let (n, rest) = body.split_first_chunk::<4>()?;
    let n = u32::from_le_bytes(*n) as usize;
    let sedp = rest.get(..n)?;
    let rest = rest.get(n..)?;
    let (m, rest) = rest.split_first_chunk::<4>()?;
    let idl = std::str::from_utf8(rest.get(..u32::from_le_bytes(*m) as usize)?).ok()?;
    let ep = EndpointData::decode(sedp, VendorId::STARLING, true, None).ok()?;
    Some((ep, idl.to_string()))
}

fn sample_body(s: &HeldSample) -> Vec<u8> {
    let mut body = Vec::with_capacity(25 + s.payload.len());
    body.extend_from_slice(&s.key.0);
    body.extend_from_slice(&s.source_nanos.to_le_bytes());
    body.push(u8::from(s.dispose) | (u8::from(s.key_only) << 1));
    body.extend_from_slice(&s.payload);
    body
}

/// A held change as a record: kind 4 when its origin is known, kind 2 otherwise.
fn sample_record(s: &HeldSample) -> Vec<u8> {
    match &s.origin {
        Some(o) => {
            let mut body = Vec::with_capacity(24 + 25 + s.payload.len());
            body.extend_from_slice(&o.writer_guid.prefix.0);
            body.extend_from_slice(&o.writer_guid.entity_id.0);
            body.extend_from_slice(&o.sequence_number.0.to_le_bytes());
            body.extend_from_slice(&sample_body(s));
            frame(SAMPLE_ORIGIN, &body)
        }
        None => frame(SAMPLE, &sample_body(s)),
    }
}

fn parse_origin(body: &[u8]) -> Option<(SampleIdentity, &[u8])> {
    let (prefix, rest) = body.split_first_chunk::<12>()?;
    let (entity, rest) = rest.split_first_chunk::<4>()?;
    let (sn, rest) = rest.split_first_chunk::<8>()?;
    let guid = Guid::new(GuidPrefix(*prefix), starling_proto::wire::types::EntityId(*entity));
    Some((SampleIdentity::new(guid, SequenceNumber(i64::from_le_bytes(*sn))), rest))
}

fn parse_sample(body: &[u8]) -> Option<(KeyHash, u64, u8, Bytes)> {
    let (key, rest) = body.split_first_chunk::<16>()?;
    let (ts, rest) = rest.split_first_chunk::<8>()?;
    let (flags, payload) = rest.split_first()?;
    Some((KeyHash(*key), u64::from_le_bytes(*ts), *flags, Bytes::copy_from_slice(payload)))
}

/// The log of one topic, open for appending.
pub struct TopicLog {
    path: PathBuf,
    file: File,
    header: Vec<u8>,
    /// Records appended since the last rewrite.
    appended: usize,
    dirty: bool,
}

/// A topic read back from the store.
pub struct RestoredTopic {
    /// The publication the samples came from (topic, type name, QoS, type information).
    pub endpoint: EndpointData,
    /// The type as IDL (empty when it could not be written as IDL).
    pub idl: String,
    /// The samples, as held before the restart (disposed instances start their cleanup delay at `now_nanos`).
    pub history: TopicHistory,
    /// The log, compacted, to append to.
    pub log: TopicLog,
}

/// The file name of a topic's log.
pub fn log_path(dir: &Path, group_id: &str) -> PathBuf {
    dir.join(format!("t-{:016x}.log", fnv1a64(group_id.as_bytes())))
}

impl TopicLog {
    /// Creates (or truncates) the log at `path` with its header.
    pub fn create(path: PathBuf, endpoint: &EndpointData, idl: &str) -> Result<Self, StoreError> {
        let header = frame(HEADER, &header_body(endpoint, idl));
        let mut log =
            TopicLog { file: File::create(&path).map_err(io_err(&path))?, path, header, appended: 0, dirty: true };
        let h = log.header.clone();
        log.file.write_all(&h).map_err(io_err(&log.path))?;
        Ok(log)
    }

    /// Appends a held sample or dispose.
    pub fn append(&mut self, s: &HeldSample) -> Result<(), StoreError> {
        self.write(&sample_record(s))
    }

    /// Records that an instance was dropped (disposed and cleaned up).
    pub fn remove(&mut self, key: &KeyHash) -> Result<(), StoreError> {
        self.write(&frame(REMOVE, &key.0))
    }

    fn write(&mut self, rec: &[u8]) -> Result<(), StoreError> {
        self.file.write_all(rec).map_err(io_err(&self.path))?;
        self.appended += 1;
        self.dirty = true;
        Ok(())
    }

    /// Flushes what was appended to the disk (fsync), if anything was.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.dirty {
            self.file.sync_data().map_err(io_err(&self.path))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Rewrites the log with only what `history` holds when appended records outnumber the live ones (by
    /// more than 1024).
    pub fn maybe_compact(&mut self, history: &TopicHistory) -> Result<(), StoreError> {
        if self.appended > 2 * history.len() + 1024 {
            self.rewrite(history)?;
        }
        Ok(())
    }

    /// Rewrites the log (to a temporary file, then renamed over it) with the header and `history`.
    pub fn rewrite(&mut self, history: &TopicHistory) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("log.tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut buf = self.header.clone();
        for s in history.snapshot() {
            buf.extend_from_slice(&sample_record(&s));
        }
        f.write_all(&buf).map_err(io_err(&tmp))?;
        f.sync_data().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        self.file = OpenOptions::new().append(true).open(&self.path).map_err(io_err(&self.path))?;
        self.appended = 0;
        self.dirty = false;
        Ok(())
    }

    /// Reads the log at `path` back into a history (built with the header's DURABILITY_SERVICE policy), then
    /// compacts it.
    pub fn restore(path: PathBuf, now_nanos: u64) -> Result<RestoredTopic, StoreError> {
        let mut bytes = Vec::new();
        File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io_err(&path))?;
        let (recs, torn) = records(&bytes);
        let Some(((HEADER, hbody), rest)) = recs.split_first().map(|(h, r)| (*h, r)) else {
            return Err(StoreError::BadHeader(path));
        };
        let Some((endpoint, idl)) = parse_header(hbody) else { return Err(StoreError::BadHeader(path)) };
        if torn {
            tracing::warn!(file = %path.display(), "store log has a torn or corrupt tail; it is cut off");
        }
        let mut history = TopicHistory::new(endpoint.qos.durability_service);
        // Kind 2 records (written before origins were recorded) get an origin of their own, made up from the
        // file name and their place in it: the rewrite below stores them as kind 4, so that they keep it and
        // other services can hold them once (migration).
        let h = fnv1a64(path.to_string_lossy().as_bytes()).to_le_bytes();
        let mut legacy_prefix = [0u8; 12];
        legacy_prefix[..8].copy_from_slice(&h);
        legacy_prefix[8..].copy_from_slice(b"SLDG");
        let legacy_writer =
            Guid::new(GuidPrefix(legacy_prefix), starling_proto::wire::types::EntityId([0, 0, 0, 0xc2]));
        let mut legacy_sn = 0i64;
        for (kind, body) in rest {
            match *kind {
                SAMPLE | SAMPLE_ORIGIN => {
                    let (origin, body) = if *kind == SAMPLE_ORIGIN {
                        let Some((o, b)) = parse_origin(body) else { continue };
                        (Some(o), b)
                    } else {
                        legacy_sn += 1;
                        (Some(SampleIdentity::new(legacy_writer, SequenceNumber(legacy_sn))), *body)
                    };
                    let Some((key, ts, flags, payload)) = parse_sample(body) else { continue };
                    if flags & 1 != 0 {
                        history.dispose_from(key, ts, Some((payload, flags & 2 != 0)), false, now_nanos, origin);
                    } else if let Err(r) = history.add_from(key, ts, payload, origin) {
                        tracing::debug!(file = %path.display(), "stored sample not kept again: {r:?}");
                    }
                }
                REMOVE => {
                    if let Some(key) = body.first_chunk::<16>() {
                        history.remove(&KeyHash(*key));
                    }
                }
                _ => {}
            }
        }
        let header = frame(HEADER, hbody);
        let file = OpenOptions::new().append(true).open(&path).map_err(io_err(&path))?;
        let mut log = TopicLog { path, file, header, appended: 0, dirty: false };
        log.rewrite(&history)?;
        Ok(RestoredTopic { endpoint, idl, history, log })
    }
}

/// Reads every topic log in `dir` (created if missing). Unreadable logs are skipped with a warning.
pub fn open_dir(dir: &Path, now_nanos: u64) -> Result<Vec<RestoredTopic>, StoreError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("t-") && n.ends_with(".log")))
        .collect();
    paths.sort();
    for p in paths {
        match TopicLog::restore(p.clone(), now_nanos) {
            Ok(t) => out.push(t),
            Err(e) => tracing::warn!(file = %p.display(), "skipping store log: {e}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_proto::qos::{DurabilityKind, EndpointQos, History};
    use starling_proto::wire::types::Guid;

    fn endpoint() -> EndpointData {
        let mut q = EndpointQos::writer_default();
        q.durability = DurabilityKind::Persistent;
        q.durability_service.history = History::KeepLast(2);
        EndpointData::new(Guid::UNKNOWN, "Square", "ShapeType", q)
    }

    #[test]
    fn replay_limits_removal_and_torn_tail() {
        let dir = std::env::temp_dir().join(format!("starling-dstore-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = log_path(&dir, "Square");
        let ep = endpoint();
        let mut h = TopicHistory::new(ep.qos.durability_service);
        let mut log = TopicLog::create(path.clone(), &ep, "struct ShapeType {};").expect("create");
        let k1 = KeyHash([1; 16]);
        let k2 = KeyHash([2; 16]);
        for (k, ts) in [(k1, 1), (k1, 2), (k1, 3), (k2, 4)] {
            h.add(k, ts, Bytes::from(vec![ts as u8; 5])).expect("kept");
            log.append(h.snapshot().iter().find(|s| s.source_nanos == ts).expect("held")).expect("append");
        }
        h.dispose(k2, 5, None, false, 0);
        log.append(h.snapshot().last().expect("dispose")).expect("append");
        log.remove(&k2).expect("remove");
        log.sync().expect("sync");
        drop(log);
        // A torn record at the end.
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&frame(SAMPLE, &[9; 40])[..20]).expect("write");
        drop(f);

        let restored = open_dir(&dir, 0).expect("open");
        assert_eq!(restored.len(), 1);
        let t = &restored[0];
        assert_eq!(t.endpoint.topic_name, "Square");
        assert_eq!(t.endpoint.qos.durability, DurabilityKind::Persistent);
        assert_eq!(t.idl, "struct ShapeType {};");
        let held: Vec<u64> = t.history.snapshot().iter().map(|s| s.source_nanos).collect();
        assert_eq!(held, [2, 3], "KEEP_LAST 2 and the removed instance");
        // Kind 2 records were given origins, kept by the rewrite (kind 4).
        let origins: Vec<_> = t.history.snapshot().iter().map(|s| s.origin).collect();
        assert!(origins.iter().all(Option::is_some), "{origins:?}");
        // The rewritten file has no torn tail and reads back the same.
        let again = open_dir(&dir, 0).expect("open");
        let held2: Vec<u64> = again[0].history.snapshot().iter().map(|s| s.source_nanos).collect();
        assert_eq!(held2, held);
        let origins2: Vec<_> = again[0].history.snapshot().iter().map(|s| s.origin).collect();
        assert_eq!(origins2, origins, "origins survive the rewrite");
        // A change held already (same origin) is not held again after the restart.
        let mut h2 = TopicHistory::new(ep.qos.durability_service);
        std::mem::swap(&mut h2, &mut again.into_iter().next().expect("topic").history);
        let o = origins[1].expect("origin");
        assert_eq!(h2.add_from(k1, 9, Bytes::new(), Some(o)), Err(crate::durability::Rejected::Duplicate));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
