//! LIVELINESS on the wire: the ParticipantMessageData (PMD) type of the
//! built-in ParticipantMessage endpoints, and the liveliness state of local
//! and remote writers.
//!
//! # What asserts liveliness
//! Locally (what this participant sends):
//! - AUTOMATIC writers with a finite lease: the participant writes an
//!   `AUTOMATIC_LIVELINESS_UPDATE` PMD periodically, at a period derived from
//!   the smallest such lease ([`auto_pmd_period`]), and at once when such a
//!   writer is created.
//! - MANUAL_BY_PARTICIPANT: `assert_liveliness` on the participant or on such a
//!   writer, or any write on any writer of the participant, asserts every
//!   MANUAL_BY_PARTICIPANT writer and sends a `MANUAL_LIVELINESS_UPDATE` PMD
//!   (at most one per a tenth of the smallest such lease; one asked for sooner
//!   is sent when that interval has passed).
//! - MANUAL_BY_TOPIC: a write (its DATA), or `assert_liveliness` on the writer,
//!   which sends a HEARTBEAT with the liveliness flag.
//!
//! Remotely (what renews a matched remote writer), as Cyclone DDS does it:
//! - AUTOMATIC: any datagram from the writer's participant (PMDs included);
//! - MANUAL_BY_PARTICIPANT: a manual PMD from the participant, user data from
//!   any of its writers, or a liveliness HEARTBEAT from any of its manual writers;
//! - MANUAL_BY_TOPIC: the writer's own data or liveliness HEARTBEAT.
//!
//! A writer is alive while less than its lease has passed since the last of
//! these (or since it was discovered). Writers with an infinite lease are not
//! tracked at all: they are alive while matched.
//!
//! # Wire format
//! `struct ParticipantMessageData { GuidPrefix_t participantGuidPrefix; octet kind[4]; sequence<octet> data; }`
//! in plain CDR. The key is the prefix and the kind (16 octets, also the key
//! hash), and the writer keeps the last sample per key. Cyclone DDS
//! (`ddsi_pmd.c`) sends a one-octet `data` of zero; so does Starling.

use super::FastHashMap;
use crate::qos::{Liveliness, LivelinessKind};
use crate::wire::cursor::{ByteReader, ByteWriter, Endian};
use crate::wire::types::{EntityId, Guid, GuidPrefix, KeyHash};
use crate::wire::DecodeError;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `kind` of a PMD asserting the participant's AUTOMATIC writers.
pub const AUTOMATIC_LIVELINESS_UPDATE: u32 = 0x0000_0001;
/// `kind` of a PMD asserting the participant's MANUAL_BY_PARTICIPANT writers.
pub const MANUAL_LIVELINESS_UPDATE: u32 = 0x0000_0002;

/// A ParticipantMessageData sample (RTPS 2.5 §9.6.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantMessageData {
    /// The participant whose liveliness is asserted.
    pub participant_guid_prefix: GuidPrefix,
    /// [`AUTOMATIC_LIVELINESS_UPDATE`], [`MANUAL_LIVELINESS_UPDATE`] or a vendor kind
    /// (the four `kind` octets read as a big-endian number).
    pub kind: u32,
    /// Opaque data.
    pub data: Vec<u8>,
}

impl ParticipantMessageData {
    /// A liveliness update of `kind` with the one-octet data other vendors send.
    pub fn new(prefix: GuidPrefix, kind: u32) -> Self {
        ParticipantMessageData { participant_guid_prefix: prefix, kind, data: vec![0] }
    }

    /// The key hash: the prefix followed by the kind octets.
    pub fn key_hash(&self) -> KeyHash {
        let mut k = [0u8; 16];
        k[..12].copy_from_slice(&self.participant_guid_prefix.0);
        k[12..].copy_from_slice(&self.kind.to_be_bytes());
        KeyHash(k)
    }

    /// Encodes the sample with its encapsulation header (CDR little-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(28 + self.data.len());
        buf.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]);
        let mut w = ByteWriter::new(&mut buf, Endian::Little);
        w.bytes(&self.participant_guid_prefix.0);
        w.bytes(&self.kind.to_be_bytes());
        w.u32(self.data.len() as u32);
        w.bytes(&self.data);
        w.align(4);
        buf
    }

    /// Decodes an encapsulated sample (CDR or PL_CDR-less plain CDR, either byte order).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        if payload.len() < 4 {
            return Err(DecodeError::Truncated { needed: 4, available: payload.len() });
        }
        let endian = match [payload[0], payload[1]] {
            [0x00, 0x00] => Endian::Big,
            [0x00, 0x01] => Endian::Little,
            _ => return Err(DecodeError::Invalid("ParticipantMessageData encapsulation")),
        };
        let mut r = ByteReader::new(&payload[4..], endian);
        let prefix = GuidPrefix(r.array::<12>()?);
        let kind = u32::from_be_bytes(r.array::<4>()?);
        let len = r.u32()? as usize;
        if len > r.remaining() {
            return Err(DecodeError::Truncated { needed: len, available: r.remaining() });
        }
        let data = r.take(len)?.to_vec();
        Ok(ParticipantMessageData { participant_guid_prefix: prefix, kind, data })
    }
}

/// The automatic PMD period for the smallest AUTOMATIC lease: half of it, or
/// two seconds less than it when that is longer (Cyclone sends at 80 % or
/// lease − 2 s; half leaves room for one lost datagram and its repair).
pub fn auto_pmd_period(lease: Duration) -> Duration {
    (lease / 2).max(lease.saturating_sub(Duration::from_secs(2)))
}

/// The shortest interval between two manual PMDs for the smallest
/// MANUAL_BY_PARTICIPANT lease.
fn manual_pmd_interval(lease: Duration) -> Duration {
    lease / 10
}

/// One local writer with a finite lease.
#[derive(Debug)]
struct LocalWriter {
    kind: LivelinessKind,
    lease: Duration,
    last_assert: Instant,
    alive: bool,
}

/// One remote writer with a finite lease.
#[derive(Debug)]
struct RemoteWriter {
    kind: LivelinessKind,
    lease: Duration,
    /// Discovery time, or its own last assertion (MANUAL_BY_TOPIC).
    last_assert: Instant,
    alive: bool,
}

/// What this participant last heard from a remote participant.
#[derive(Debug)]
struct RemoteParticipant {
    /// Any datagram.
    last_any: Instant,
    /// A manual assertion (manual PMD, user data, liveliness heartbeat).
    last_manual: Option<Instant>,
    /// How many of its tracked writers are not alive.
    not_alive: usize,
    /// How many of its tracked writers are MANUAL_BY_PARTICIPANT or MANUAL_BY_TOPIC.
    manual: usize,
}

/// A writer whose liveliness changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub writer: Guid,
    pub alive: bool,
}

/// What a timer run or an assertion asks the participant to do.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Local and remote writers whose liveliness changed (their matched readers are told).
    pub changes: Vec<Change>,
    /// Local writers that missed their lease (LIVELINESS_LOST).
    pub lost: Vec<Guid>,
    /// PMD kinds to write now.
    pub pmd: Vec<u32>,
}

/// Liveliness state of one participant (see the module docs).
#[derive(Debug)]
pub(crate) struct LivelinessState {
    prefix: GuidPrefix,
    local: BTreeMap<EntityId, LocalWriter>,
    next_auto_pmd: Option<Instant>,
    manual_pmd_pending: bool,
    last_manual_pmd: Option<Instant>,
    remote: BTreeMap<Guid, RemoteWriter>,
    participants: FastHashMap<GuidPrefix, RemoteParticipant>,
    /// No tracked deadline is earlier than this (recomputed by `on_timer`).
    next_check: Option<Instant>,
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl LivelinessState {
    pub fn new(prefix: GuidPrefix) -> Self {
        LivelinessState {
            prefix,
            local: BTreeMap::new(),
            next_auto_pmd: None,
            manual_pmd_pending: false,
            last_manual_pmd: None,
            remote: BTreeMap::new(),
            participants: FastHashMap::default(),
            next_check: None,
        }
    }

    // ----- local writers ----------------------------------------------------------------------

    /// A local writer was created.
    pub fn add_local(&mut self, now: Instant, id: EntityId, policy: &Liveliness) {
        let Some(lease) = policy.lease_duration.to_std() else { return };
        self.local.insert(id, LocalWriter { kind: policy.kind, lease, last_assert: now, alive: true });
        match policy.kind {
            // Announce at once so the first period starts now (Cyclone does the same).
            LivelinessKind::Automatic => self.next_auto_pmd = Some(now),
            _ => self.next_check = earliest(self.next_check, now + lease),
        }
    }

    /// A local writer was deleted.
    pub fn remove_local(&mut self, id: EntityId) {
        self.local.remove(&id);
    }

    /// True when the local writer is alive (always for untracked ones).
    pub fn local_alive(&self, id: EntityId) -> bool {
        self.local.get(&id).is_none_or(|w| w.alive)
    }

    fn smallest_lease(&self, kind: LivelinessKind) -> Option<Duration> {
        self.local.values().filter(|w| w.kind == kind).map(|w| w.lease).min()
    }

    /// Asserts every MANUAL_BY_PARTICIPANT writer and asks for a manual PMD.
    fn assert_participant(&mut self, now: Instant, out: &mut Output) {
        let mut any = false;
        for (id, w) in self.local.iter_mut().filter(|(_, w)| w.kind == LivelinessKind::ManualByParticipant) {
            any = true;
            w.last_assert = now;
            if !w.alive {
                w.alive = true;
                out.changes.push(Change { writer: Guid::new(self.prefix, *id), alive: true });
            }
        }
        if any {
            self.manual_pmd_pending = true;
            self.send_manual_if_due(now, out);
        }
    }

    fn send_manual_if_due(&mut self, now: Instant, out: &mut Output) {
        if !self.manual_pmd_pending {
            return;
        }
        let interval =
            self.smallest_lease(LivelinessKind::ManualByParticipant).map_or(Duration::ZERO, manual_pmd_interval);
        if self.last_manual_pmd.is_none_or(|t| now >= t + interval) {
            self.manual_pmd_pending = false;
            self.last_manual_pmd = Some(now);
            out.pmd.push(MANUAL_LIVELINESS_UPDATE);
        }
    }

    fn assert_own(&mut self, now: Instant, id: EntityId, out: &mut Output) {
        if let Some(w) = self.local.get_mut(&id) {
            w.last_assert = now;
            if !w.alive {
                w.alive = true;
                out.changes.push(Change { writer: Guid::new(self.prefix, id), alive: true });
            }
        }
    }

    /// `DomainParticipant::assert_liveliness`.
    pub fn assert_participant_liveliness(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        self.assert_participant(now, &mut out);
        out
    }

    /// `DataWriter::assert_liveliness`; returns whether a liveliness HEARTBEAT should
    /// go out (MANUAL_BY_TOPIC), and what else to do.
    pub fn assert_writer(&mut self, now: Instant, id: EntityId) -> (bool, Output) {
        let mut out = Output::default();
        let kind = self.local.get(&id).map(|w| w.kind);
        match kind {
            Some(LivelinessKind::ManualByTopic) => {
                self.assert_own(now, id, &mut out);
                (true, out)
            }
            Some(LivelinessKind::ManualByParticipant) => {
                self.assert_participant(now, &mut out);
                (false, out)
            }
            _ => (false, out),
        }
    }

    /// A write on local writer `id`: asserts it, and the participant's manual liveliness.
    pub fn on_write(&mut self, now: Instant, id: EntityId) -> Output {
        let mut out = Output::default();
        if self.local.is_empty() {
            return out;
        }
        self.assert_own(now, id, &mut out);
        self.assert_participant(now, &mut out);
        out
    }

    // ----- remote writers ---------------------------------------------------------------------

    /// A remote writer was discovered.
    pub fn add_remote(&mut self, now: Instant, guid: Guid, policy: &Liveliness) {
        let Some(lease) = policy.lease_duration.to_std() else { return };
        if self.remote.contains_key(&guid) {
            return;
        }
        self.remote.insert(guid, RemoteWriter { kind: policy.kind, lease, last_assert: now, alive: true });
        let p = self.participants.entry(guid.prefix).or_insert(RemoteParticipant {
            last_any: now,
            last_manual: None,
            not_alive: 0,
            manual: 0,
        });
        if policy.kind != LivelinessKind::Automatic {
            p.manual += 1;
        }
        self.next_check = earliest(self.next_check, now + lease);
    }

    /// A remote writer went away.
    pub fn remove_remote(&mut self, guid: &Guid) {
        let Some(w) = self.remote.remove(guid) else { return };
        if let Some(p) = self.participants.get_mut(&guid.prefix) {
            if !w.alive {
                p.not_alive -= 1;
            }
            if w.kind != LivelinessKind::Automatic {
                p.manual -= 1;
            }
            let range = Guid::new(guid.prefix, EntityId::UNKNOWN)..=Guid::new(guid.prefix, EntityId([0xff; 4]));
            if self.remote.range(range).next().is_none() {
                self.participants.remove(&guid.prefix);
            }
        }
    }

    /// True when the remote writer is alive (always for untracked ones).
    pub fn remote_alive(&self, guid: &Guid) -> bool {
        self.remote.get(guid).is_none_or(|w| w.alive)
    }

    /// When the remote writer's lease runs out, by what renewed it last.
    fn remote_expiry(&self, guid: &Guid, w: &RemoteWriter) -> Instant {
        let base = match (w.kind, self.participants.get(&guid.prefix)) {
            (LivelinessKind::Automatic, Some(p)) => w.last_assert.max(p.last_any),
            (LivelinessKind::ManualByParticipant, Some(p)) => {
                p.last_manual.map_or(w.last_assert, |m| m.max(w.last_assert))
            }
            _ => w.last_assert,
        };
        base + w.lease
    }

    /// Writers of `prefix` that came back to life at `now`.
    fn revive(&mut self, now: Instant, prefix: GuidPrefix, out: &mut Vec<Change>) {
        if self.participants.get(&prefix).is_none_or(|p| p.not_alive == 0) {
            return;
        }
        let range = Guid::new(prefix, EntityId::UNKNOWN)..=Guid::new(prefix, EntityId([0xff; 4]));
        let back: Vec<Guid> = self
            .remote
            .range(range)
            .filter(|(g, w)| !w.alive && now < self.remote_expiry(g, w))
            .map(|(g, _)| *g)
            .collect();
        for g in back {
            if let Some(w) = self.remote.get_mut(&g) {
                w.alive = true;
                self.next_check = earliest(self.next_check, now + w.lease);
            }
            if let Some(p) = self.participants.get_mut(&prefix) {
                p.not_alive -= 1;
            }
            out.push(Change { writer: g, alive: true });
        }
    }

    /// Any datagram from `prefix` (AUTOMATIC liveliness).
    pub fn on_datagram(&mut self, now: Instant, prefix: GuidPrefix, out: &mut Vec<Change>) {
        if let Some(p) = self.participants.get_mut(&prefix) {
            p.last_any = now;
            self.revive(now, prefix, out);
        }
    }

    /// True when some tracked remote writer of `prefix` is manual: data and
    /// heartbeats from it are worth looking at.
    pub fn tracks_manual(&self, prefix: &GuidPrefix) -> bool {
        self.participants.get(prefix).is_some_and(|p| p.manual > 0)
    }

    /// A manual assertion of participant `prefix` (manual PMD).
    pub fn on_manual_participant(&mut self, now: Instant, prefix: GuidPrefix, out: &mut Vec<Change>) {
        if let Some(p) = self.participants.get_mut(&prefix) {
            p.last_manual = Some(now);
            self.revive(now, prefix, out);
        }
    }

    /// User data from `writer`, or a liveliness heartbeat (`heartbeat`) from it:
    /// asserts the writer (MANUAL_BY_TOPIC) and its participant (manual).
    pub fn on_writer_asserted(&mut self, now: Instant, writer: Guid, heartbeat: bool, out: &mut Vec<Change>) {
        let kind = self.remote.get(&writer).map(|w| w.kind);
        // A liveliness heartbeat asserts only a manual writer (Cyclone ignores the flag on automatic ones).
        if heartbeat && kind.is_none_or(|k| k == LivelinessKind::Automatic) {
            return;
        }
        if kind == Some(LivelinessKind::ManualByTopic) {
            if let Some(w) = self.remote.get_mut(&writer) {
                w.last_assert = now;
            }
        }
        if let Some(p) = self.participants.get_mut(&writer.prefix) {
            p.last_manual = Some(now);
        }
        self.revive(now, writer.prefix, out);
    }

    /// A remote participant is gone: forget its writers.
    pub fn remove_participant(&mut self, prefix: &GuidPrefix) {
        self.participants.remove(prefix);
        let range = Guid::new(*prefix, EntityId::UNKNOWN)..=Guid::new(*prefix, EntityId([0xff; 4]));
        let gone: Vec<Guid> = self.remote.range(range).map(|(g, _)| *g).collect();
        for g in gone {
            self.remote.remove(&g);
        }
    }

    /// A PMD arrived from `src` (the RTPS source of the datagram).
    pub fn on_pmd(&mut self, now: Instant, src: GuidPrefix, pmd: &ParticipantMessageData, out: &mut Vec<Change>) {
        // As Cyclone: a PMD speaks only for the participant that sent it.
        if pmd.participant_guid_prefix != src {
            return;
        }
        if pmd.kind == MANUAL_LIVELINESS_UPDATE {
            self.on_manual_participant(now, src, out);
        }
    }

    // ----- time -------------------------------------------------------------------------------

    /// Runs the lease checks and PMD schedule due at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        let mut next: Option<Instant> = None;
        for (id, w) in self.local.iter_mut() {
            if w.kind == LivelinessKind::Automatic || !w.alive {
                continue;
            }
            let expiry = w.last_assert + w.lease;
            if now >= expiry {
                w.alive = false;
                let guid = Guid::new(self.prefix, *id);
                out.lost.push(guid);
                out.changes.push(Change { writer: guid, alive: false });
            } else {
                next = earliest(next, expiry);
            }
        }
        let mut dead = Vec::new();
        for (g, w) in &self.remote {
            if !w.alive {
                continue;
            }
            let expiry = self.remote_expiry(g, w);
            if now >= expiry {
                dead.push(*g);
            } else {
                next = earliest(next, expiry);
            }
        }
        for g in dead {
            if let Some(w) = self.remote.get_mut(&g) {
                w.alive = false;
            }
            if let Some(p) = self.participants.get_mut(&g.prefix) {
                p.not_alive += 1;
            }
            out.changes.push(Change { writer: g, alive: false });
        }
        self.next_check = next;
        if self.next_auto_pmd.is_some_and(|t| t <= now) {
            self.next_auto_pmd = match self.smallest_lease(LivelinessKind::Automatic) {
                Some(lease) => {
                    out.pmd.push(AUTOMATIC_LIVELINESS_UPDATE);
                    Some(now + auto_pmd_period(lease))
                }
                None => None,
            };
        }
        self.send_manual_if_due(now, &mut out);
        out
    }

    /// The earliest time `on_timer` has work.
    pub fn next_timeout(&self) -> Option<Instant> {
        let manual = if self.manual_pmd_pending {
            let interval =
                self.smallest_lease(LivelinessKind::ManualByParticipant).map_or(Duration::ZERO, manual_pmd_interval);
            self.last_manual_pmd.map(|t| t + interval)
        } else {
            None
        };
        [self.next_check, self.next_auto_pmd, manual].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(b: u8) -> GuidPrefix {
        GuidPrefix([b; 12])
    }

    #[test]
    fn pmd_encoding_matches_cyclone() {
        let pmd =
            ParticipantMessageData::new(GuidPrefix([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), MANUAL_LIVELINESS_UPDATE);
        let bytes = pmd.encode();
        assert_eq!(
            bytes,
            [
                0x00, 0x01, 0x00, 0x00, // CDR_LE
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // participantGuidPrefix
                0, 0, 0, 2, // kind, octets
                1, 0, 0, 0, // data length
                0, 0, 0, 0, // data, padding
            ]
        );
        assert_eq!(ParticipantMessageData::decode(&bytes), Ok(pmd.clone()));
        let mut kh = [0u8; 16];
        kh[..12].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        kh[15] = 2;
        assert_eq!(pmd.key_hash(), KeyHash(kh));
    }

    #[test]
    fn pmd_decodes_big_endian_and_rejects_bad_input() {
        let mut be = vec![0x00, 0x00, 0x00, 0x00];
        be.extend_from_slice(&[7; 12]);
        be.extend_from_slice(&[0, 0, 0, 1]);
        be.extend_from_slice(&[0, 0, 0, 2, 0xaa, 0xbb, 0, 0]);
        let d = ParticipantMessageData::decode(&be).expect("decodes");
        assert_eq!(
            (d.participant_guid_prefix, d.kind, d.data),
            (prefix(7), AUTOMATIC_LIVELINESS_UPDATE, vec![0xaa, 0xbb])
        );
        assert!(ParticipantMessageData::decode(&be[..10]).is_err());
        let mut long = be.clone();
        long[23] = 200;
        assert!(ParticipantMessageData::decode(&long).is_err(), "data length beyond the payload");
        let mut enc = be;
        enc[1] = 0x02;
        assert!(ParticipantMessageData::decode(&enc).is_err(), "PL_CDR_BE is not this type's encoding");
    }

    #[test]
    fn auto_period_leaves_room() {
        assert_eq!(auto_pmd_period(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(auto_pmd_period(Duration::from_secs(10)), Duration::from_secs(8));
    }

    fn policy(kind: LivelinessKind, ms: u64) -> Liveliness {
        Liveliness { kind, lease_duration: crate::wire::types::Duration::from_std(Duration::from_millis(ms)) }
    }

    #[test]
    fn remote_manual_by_topic_expires_and_revives() {
        let t0 = Instant::now();
        let mut s = LivelinessState::new(prefix(1));
        let w = Guid::new(prefix(2), EntityId::new(1, EntityId::KIND_WRITER_WITH_KEY));
        s.add_remote(t0, w, &policy(LivelinessKind::ManualByTopic, 1000));
        assert_eq!(s.next_timeout(), Some(t0 + Duration::from_millis(1000)));
        let mut ch = Vec::new();
        // Other traffic from the participant does not assert a manual-by-topic writer.
        s.on_datagram(t0 + Duration::from_millis(900), prefix(2), &mut ch);
        let out = s.on_timer(t0 + Duration::from_millis(1000));
        assert_eq!(out.changes, vec![Change { writer: w, alive: false }]);
        assert!(!s.remote_alive(&w));
        s.on_writer_asserted(t0 + Duration::from_millis(1500), w, true, &mut ch);
        assert_eq!(ch, vec![Change { writer: w, alive: true }]);
        assert_eq!(s.next_timeout(), Some(t0 + Duration::from_millis(2500)));
    }

    #[test]
    fn remote_automatic_follows_any_traffic() {
        let t0 = Instant::now();
        let mut s = LivelinessState::new(prefix(1));
        let w = Guid::new(prefix(2), EntityId::new(1, EntityId::KIND_WRITER_WITH_KEY));
        s.add_remote(t0, w, &policy(LivelinessKind::Automatic, 1000));
        assert!(!s.tracks_manual(&prefix(2)));
        let mut ch = Vec::new();
        s.on_datagram(t0 + Duration::from_millis(800), prefix(2), &mut ch);
        assert!(s.on_timer(t0 + Duration::from_millis(1000)).changes.is_empty());
        assert_eq!(s.on_timer(t0 + Duration::from_millis(1800)).changes, vec![Change { writer: w, alive: false }]);
        // A heartbeat's liveliness flag does not assert an automatic writer; any datagram does.
        s.on_writer_asserted(t0 + Duration::from_millis(1900), w, true, &mut ch);
        assert!(ch.is_empty());
        s.on_datagram(t0 + Duration::from_millis(1900), prefix(2), &mut ch);
        assert_eq!(ch, vec![Change { writer: w, alive: true }]);
    }

    #[test]
    fn manual_pmd_is_rate_limited_and_sent_later() {
        let t0 = Instant::now();
        let mut s = LivelinessState::new(prefix(1));
        let id = EntityId::new(1, EntityId::KIND_WRITER_WITH_KEY);
        s.add_local(t0, id, &policy(LivelinessKind::ManualByParticipant, 1000));
        assert_eq!(s.on_write(t0, id).pmd, vec![MANUAL_LIVELINESS_UPDATE]);
        assert!(s.on_write(t0 + Duration::from_millis(10), id).pmd.is_empty());
        assert_eq!(s.next_timeout(), Some(t0 + Duration::from_millis(100)));
        assert_eq!(s.on_timer(t0 + Duration::from_millis(100)).pmd, vec![MANUAL_LIVELINESS_UPDATE]);
        let out = s.on_timer(t0 + Duration::from_millis(1010));
        assert_eq!(out.lost, vec![Guid::new(prefix(1), id)]);
        assert!(!s.local_alive(id));
        let out = s.assert_participant_liveliness(t0 + Duration::from_millis(1100));
        assert_eq!(out.changes, vec![Change { writer: Guid::new(prefix(1), id), alive: true }]);
        assert_eq!(out.pmd, vec![MANUAL_LIVELINESS_UPDATE]);
    }
}
