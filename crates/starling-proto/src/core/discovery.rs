//! What the participant has learned through SPDP and SEDP: remote
//! participants with their leases, remote writers and readers.

use crate::discovery::{EndpointData, ParticipantData};
use crate::wire::types::{locator_kind, Guid, GuidPrefix, Locator};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The longest lease honoured; longer or infinite leases are capped.
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// A remote participant and when its lease ends.
#[derive(Debug)]
pub(crate) struct RemoteParticipant {
    pub data: ParticipantData,
    pub lease: Duration,
    pub expiry: Instant,
}

/// Remote participants and endpoints.
#[derive(Debug, Default)]
pub(crate) struct DiscoveryDb {
    pub participants: BTreeMap<GuidPrefix, RemoteParticipant>,
    pub writers: BTreeMap<Guid, EndpointData>,
    pub readers: BTreeMap<Guid, EndpointData>,
}

impl DiscoveryDb {
    /// Inserts or refreshes a participant; returns true when it is new.
    pub fn upsert_participant(&mut self, now: Instant, data: ParticipantData) -> bool {
        let lease = data.lease_duration.to_std().unwrap_or(MAX_LEASE).min(MAX_LEASE);
        let prefix = data.guid_prefix;
        match self.participants.get_mut(&prefix) {
            Some(p) => {
                p.data = data;
                p.lease = lease;
                p.expiry = now + lease;
                false
            }
            None => {
                self.participants.insert(prefix, RemoteParticipant { data, lease, expiry: now + lease });
                true
            }
        }
    }

    /// Any traffic from a known participant renews its lease.
    pub fn renew(&mut self, prefix: &GuidPrefix, now: Instant) {
        if let Some(p) = self.participants.get_mut(prefix) {
            p.expiry = now + p.lease;
        }
    }

    /// Participants whose lease has ended.
    pub fn expired(&self, now: Instant) -> Vec<GuidPrefix> {
        self.participants.iter().filter(|(_, p)| p.expiry <= now).map(|(k, _)| *k).collect()
    }

    /// The earliest lease expiry.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.participants.values().map(|p| p.expiry).min()
    }

    /// Removes a participant; returns the GUIDs of its writers and readers, also removed.
    pub fn remove_participant(&mut self, prefix: &GuidPrefix) -> (Vec<Guid>, Vec<Guid>) {
        self.participants.remove(prefix);
        let writers: Vec<Guid> = self.writers.keys().filter(|g| g.prefix == *prefix).copied().collect();
        let readers: Vec<Guid> = self.readers.keys().filter(|g| g.prefix == *prefix).copied().collect();
        for g in &writers {
            self.writers.remove(g);
        }
        for g in &readers {
            self.readers.remove(g);
        }
        (writers, readers)
    }

    /// Where to send user traffic for a remote endpoint: its own unicast
    /// locators, else its participant's default unicast locators.
    pub fn endpoint_locators(&self, ep: &EndpointData) -> Vec<Locator> {
        let own = usable(&ep.unicast_locators);
        if !own.is_empty() {
            return own;
        }
        self.participants.get(&ep.guid.prefix).map(|p| usable(&p.data.default_unicast_locators)).unwrap_or_default()
    }

    /// Multicast locators for user data to a remote endpoint: its own, else its participant's default.
    pub fn endpoint_multicast_locators(&self, ep: &EndpointData) -> Vec<Locator> {
        let own = usable_multicast(&ep.multicast_locators);
        if !own.is_empty() {
            return own;
        }
        self.participants
            .get(&ep.guid.prefix)
            .map(|p| usable_multicast(&p.data.default_multicast_locators))
            .unwrap_or_default()
    }

    /// Where to send discovery traffic for a remote participant.
    pub fn metatraffic_locators(&self, prefix: &GuidPrefix) -> Vec<Locator> {
        let Some(p) = self.participants.get(prefix) else { return Vec::new() };
        let uni = usable(&p.data.metatraffic_unicast_locators);
        if !uni.is_empty() {
            return uni;
        }
        usable(&p.data.metatraffic_multicast_locators)
    }
}

/// The UDPv4 multicast locators among `locs`.
fn usable_multicast(locs: &[Locator]) -> Vec<Locator> {
    usable(locs).into_iter().filter(Locator::is_multicast).collect()
}

/// UDPv4 locators with a real address and port, deduplicated.
pub(crate) fn usable(locs: &[Locator]) -> Vec<Locator> {
    let mut v: Vec<Locator> = locs
        .iter()
        .filter(|l| l.kind == locator_kind::UDPV4 && l.port != 0 && l.address[12..] != [0, 0, 0, 0])
        .copied()
        .collect();
    v.sort();
    v.dedup();
    v
}
