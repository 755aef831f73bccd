//! The durable store: definitions of durable exchanges, queues and bindings, and persistent
//! messages (delivery-mode 2) of durable queues, in a directory given with `--amqp-data`.
//!
//! Written here as a plain append-only log per queue rather than on sled or redb: the access
//! pattern is a FIFO (append at the tail, delete near the head, read everything back once at
//! start), which a log serves with one sequential write per operation and no extra dependency,
//! and compaction is a rewrite of the live records.
//!
//! # Files
//! - `definitions.json`: durable exchanges, queues (with arguments) and bindings; rewritten
//!   whole (to a temporary file, then renamed) when one of them changes.
//! - `q-<hex of queue name>.log`: records `[len u32][fnv1a-32 u32][kind u8][id u64][data]`,
//!   kind 1 = message (exchange, routing key, encoded properties, body), kind 2 = deletion.
//!   A torn or corrupt tail (a crash mid-write) ends the replay; the file is then rewritten.
//!
//! Writes go to the OS with `write_all` per operation (they survive a process crash); `fsync`
//! is not called per message, so a power loss can lose the most recent messages.

use super::frames::{decode_properties, encode_properties};
use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::FieldTable;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A durable exchange definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExchangeDef {
    /// Name.
    pub name: String,
    /// Type: direct, topic, fanout or headers.
    pub kind: String,
    /// Auto-delete flag.
    pub auto_delete: bool,
    /// Internal flag.
    pub internal: bool,
    /// Declare arguments.
    pub arguments: FieldTable,
}

/// A durable queue definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueDef {
    /// Name.
    pub name: String,
    /// Auto-delete flag.
    pub auto_delete: bool,
    /// Declare arguments.
    pub arguments: FieldTable,
}

/// A binding between durable entities.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BindingDef {
    /// Source exchange.
    pub source: String,
    /// Destination queue or exchange.
    pub destination: String,
    /// Whether the destination is an exchange.
    pub to_exchange: bool,
    /// Binding key.
    pub routing_key: String,
    /// Binding arguments.
    pub arguments: FieldTable,
}

/// Everything durable except messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Definitions {
    /// Durable exchanges declared by clients.
    pub exchanges: Vec<ExchangeDef>,
    /// Durable queues.
    pub queues: Vec<QueueDef>,
    /// Bindings whose source and destination are durable.
    pub bindings: Vec<BindingDef>,
}

/// Messages read back at start, by queue name.
pub type StoredQueues = HashMap<String, Vec<StoredMessage>>;

/// A persistent message read back from a queue log.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Broker-wide message id.
    pub id: u64,
    /// Exchange it was published to.
    pub exchange: String,
    /// Routing key it was published with.
    pub routing_key: String,
    /// Basic properties.
    pub properties: AMQPProperties,
    /// Body.
    pub body: Bytes,
}

/// Store errors.
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
    /// `definitions.json` did not parse.
    #[error("corrupt definitions file {path}: {source}")]
    Definitions {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

const KIND_PUT: u8 = 1;
const KIND_DEL: u8 = 2;
/// Compact a log when it holds more than this many deleted records and more dead than live.
const COMPACT_MIN_DEAD: u64 = 4096;

fn fnv1a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

struct QueueLog {
    file: File,
    path: PathBuf,
    live: HashSet<u64>,
    dead: u64,
}

/// The on-disk store (see the module docs for the format).
pub struct Store {
    dir: PathBuf,
    logs: HashMap<String, QueueLog>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("queues", &self.logs.len()).finish()
    }
}

fn queue_file(dir: &Path, queue: &str) -> PathBuf {
    let hex: String = queue.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("q-{hex}.log"))
}

fn put_record(id: u64, exchange: &str, routing_key: &str, properties: &AMQPProperties, body: &[u8]) -> Vec<u8> {
    let props = encode_properties(properties);
    let mut data = Vec::with_capacity(32 + exchange.len() + routing_key.len() + props.len() + body.len());
    data.push(KIND_PUT);
    data.extend_from_slice(&id.to_be_bytes());
    for s in [exchange.as_bytes(), routing_key.as_bytes()] {
        data.extend_from_slice(&(s.len() as u16).to_be_bytes());
        data.extend_from_slice(s);
    }
    data.extend_from_slice(&(props.len() as u32).to_be_bytes());
    data.extend_from_slice(&props);
    data.extend_from_slice(body);
    frame_record(&data)
}

fn frame_record(data: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(data.len() + 8);
    rec.extend_from_slice(&(data.len() as u32).to_be_bytes());
    rec.extend_from_slice(&fnv1a(data).to_be_bytes());
    rec.extend_from_slice(data);
    rec
}

enum Record {
    Put(Box<StoredMessage>),
    Del(u64),
}

fn parse_record(data: &[u8]) -> Option<Record> {
    let (&kind, rest) = data.split_first()?;
    let id = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let mut rest = &rest[8..];
    if kind == KIND_DEL {
        return Some(Record::Del(id));
    }
    if kind != KIND_PUT {
        return None;
    }
    let mut strs = Vec::with_capacity(2);
    for _ in 0..2 {
        let n = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
        strs.push(String::from_utf8(rest.get(2..2 + n)?.to_vec()).ok()?);
        rest = &rest[2 + n..];
    }
    let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let properties = decode_properties(rest.get(4..4 + n)?)?;
    let body = Bytes::copy_from_slice(&rest[4 + n..]);
    let routing_key = strs.pop()?;
    let exchange = strs.pop()?;
    Some(Record::Put(Box::new(StoredMessage { id, exchange, routing_key, properties, body })))
}

/// Replays a log: the live messages in order, the number of dead records, and whether the
/// file ended cleanly.
fn replay(bytes: &[u8]) -> (Vec<StoredMessage>, u64, bool) {
    let mut msgs: Vec<StoredMessage> = Vec::new();
    let mut deleted = HashSet::new();
    let mut pos = 0;
    let mut clean = true;
    while pos < bytes.len() {
        let Some(hdr) = bytes.get(pos..pos + 8) else {
            clean = false;
            break;
        };
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let sum = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let Some(data) = bytes.get(pos + 8..pos + 8 + len) else {
            clean = false;
            break;
        };
        if fnv1a(data) != sum {
            clean = false;
            break;
        }
        match parse_record(data) {
            Some(Record::Put(m)) => msgs.push(*m),
            Some(Record::Del(id)) => {
                deleted.insert(id);
            }
            None => {
                clean = false;
                break;
            }
        }
        pos += 8 + len;
    }
    let total = msgs.len() as u64 + deleted.len() as u64;
    msgs.retain(|m| !deleted.contains(&m.id));
    let dead = total - msgs.len() as u64;
    (msgs, dead, clean)
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and reads back definitions and the
    /// messages of every queue log, by queue name.
    pub fn open(dir: &Path) -> Result<(Self, Definitions, StoredQueues), StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let defs_path = dir.join("definitions.json");
        let defs = match std::fs::read(&defs_path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| StoreError::Definitions { path: defs_path.clone(), source })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Definitions::default(),
            Err(e) => return Err(io_err(&defs_path)(e)),
        };
        let mut store = Self { dir: dir.to_owned(), logs: HashMap::new() };
        let mut messages = HashMap::new();
        for q in &defs.queues {
            let path = queue_file(dir, &q.name);
            let mut bytes = Vec::new();
            match File::open(&path) {
                Ok(mut f) => {
                    f.read_to_end(&mut bytes).map_err(io_err(&path))?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
            let (msgs, dead, clean) = replay(&bytes);
            if !clean || dead > 0 {
                Self::rewrite(&path, &msgs)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
            let live = msgs.iter().map(|m| m.id).collect();
            store.logs.insert(q.name.clone(), QueueLog { file, path, live, dead: 0 });
            messages.insert(q.name.clone(), msgs);
        }
        // Logs of queues that are no longer defined are removed.
        if let Ok(rd) = std::fs::read_dir(dir) {
            let keep: HashSet<PathBuf> = store.logs.values().map(|l| l.path.clone()).collect();
            for e in rd.flatten() {
                let p = e.path();
                let is_log = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("q-"));
                if is_log && !keep.contains(&p) {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        Ok((store, defs, messages))
    }

    fn rewrite(path: &Path, msgs: &[StoredMessage]) -> Result<(), StoreError> {
        let tmp = path.with_extension("tmp");
        let mut out = Vec::new();
        for m in msgs {
            out.extend_from_slice(&put_record(m.id, &m.exchange, &m.routing_key, &m.properties, &m.body));
        }
        std::fs::write(&tmp, &out).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))
    }

    /// Rewrites `definitions.json`.
    pub fn save_definitions(&self, defs: &Definitions) -> Result<(), StoreError> {
        let path = self.dir.join("definitions.json");
        let tmp = self.dir.join("definitions.json.tmp");
        let bytes =
            serde_json::to_vec_pretty(defs).map_err(|source| StoreError::Definitions { path: path.clone(), source })?;
        std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    fn log(&mut self, queue: &str) -> Result<&mut QueueLog, StoreError> {
        if !self.logs.contains_key(queue) {
            let path = queue_file(&self.dir, queue);
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
            self.logs.insert(queue.to_owned(), QueueLog { file, path, live: HashSet::new(), dead: 0 });
        }
        // Inserted just above when missing.
        self.logs.get_mut(queue).ok_or_else(|| StoreError::Io {
            path: queue_file(&self.dir, queue),
            source: io::Error::other("queue log missing"),
        })
    }

    /// Appends a persistent message to `queue`'s log.
    pub fn append(
        &mut self,
        queue: &str,
        id: u64,
        exchange: &str,
        routing_key: &str,
        properties: &AMQPProperties,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let rec = put_record(id, exchange, routing_key, properties, body);
        let log = self.log(queue)?;
        log.file.write_all(&rec).map_err(io_err(&log.path))?;
        log.live.insert(id);
        Ok(())
    }

    /// Records that message `id` left `queue` (acknowledged, dropped or expired).
    pub fn remove(&mut self, queue: &str, id: u64) -> Result<(), StoreError> {
        let Some(log) = self.logs.get_mut(queue) else { return Ok(()) };
        if !log.live.remove(&id) {
            return Ok(());
        }
        let mut data = vec![KIND_DEL];
        data.extend_from_slice(&id.to_be_bytes());
        log.file.write_all(&frame_record(&data)).map_err(io_err(&log.path))?;
        log.dead += 2;
        Ok(())
    }

    /// Deletes `queue`'s log.
    pub fn drop_queue(&mut self, queue: &str) {
        if let Some(log) = self.logs.remove(queue) {
            let _ = std::fs::remove_file(&log.path);
        } else {
            let _ = std::fs::remove_file(queue_file(&self.dir, queue));
        }
    }

    /// Number of live persistent messages of `queue`.
    #[must_use]
    pub fn live(&self, queue: &str) -> usize {
        self.logs.get(queue).map_or(0, |l| l.live.len())
    }

    /// Rewrites logs that hold mostly deleted records. Returns how many were compacted.
    pub fn compact(&mut self) -> Result<usize, StoreError> {
        let mut n = 0;
        for log in self.logs.values_mut() {
            if log.dead < COMPACT_MIN_DEAD || log.dead < log.live.len() as u64 {
                continue;
            }
            let bytes = std::fs::read(&log.path).map_err(io_err(&log.path))?;
            let (msgs, _, _) = replay(&bytes);
            Self::rewrite(&log.path, &msgs)?;
            log.file = OpenOptions::new().append(true).open(&log.path).map_err(io_err(&log.path))?;
            log.dead = 0;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_replay_compaction_and_torn_tail() {
        let dir = std::env::temp_dir().join(format!("starling-amqp-store-{}", rand::random::<u64>()));
        let defs = Definitions {
            queues: vec![QueueDef { name: "q1".into(), auto_delete: false, arguments: FieldTable::default() }],
            ..Definitions::default()
        };
        {
            let (mut s, d, m) = Store::open(&dir).unwrap();
            assert_eq!(d, Definitions::default());
            assert!(m.is_empty());
            s.save_definitions(&defs).unwrap();
            let p = AMQPProperties::default().with_delivery_mode(2).with_message_id("x".into());
            for id in 0..5000u64 {
                s.append("q1", id, "ex", "rk", &p, &id.to_be_bytes()).unwrap();
            }
            for id in 0..4990u64 {
                s.remove("q1", id).unwrap();
            }
            assert_eq!(s.compact().unwrap(), 1);
            assert_eq!(s.live("q1"), 10);
            s.remove("q1", 4990).unwrap();
        }
        // A torn record at the tail is ignored.
        let path = queue_file(&dir, "q1");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 0, 40, 1, 2]).unwrap();
        drop(f);
        let (s, d, m) = Store::open(&dir).unwrap();
        assert_eq!(d, defs);
        let msgs = &m["q1"];
        assert_eq!(msgs.len(), 9);
        assert_eq!(msgs[0].id, 4991);
        assert_eq!(msgs[0].routing_key, "rk");
        assert_eq!(msgs[0].properties.delivery_mode(), &Some(2));
        assert_eq!(&msgs[0].body[..], &4991u64.to_be_bytes());
        assert_eq!(s.live("q1"), 9);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
