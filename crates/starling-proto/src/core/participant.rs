//! The participant state machine.

use super::config::ParticipantConfig;
use super::event::{EndpointConfig, Event, Stats, Transmit, WriteChange, WriteError};
use crate::discovery::{EndpointData, ParticipantData};
use crate::wire::types::{Guid, GuidPrefix, SequenceNumber};
use std::time::Instant;

/// A DDS domain participant's protocol state (see the module docs for the call order).
#[derive(Debug)]
pub struct Participant {
    config: ParticipantConfig,
    stats: Stats,
}

#[allow(unused_variables)]
impl Participant {
    /// Creates the participant and schedules its first SPDP announcement at `now`.
    pub fn new(config: ParticipantConfig, now: Instant) -> Self {
        Participant { config, stats: Stats::default() }
    }

    /// This participant's GUID prefix.
    pub fn guid_prefix(&self) -> GuidPrefix {
        self.config.guid_prefix
    }

    /// The configuration in use.
    pub fn config(&self) -> &ParticipantConfig {
        &self.config
    }

    /// Creates a user writer and announces it through SEDP.
    pub fn create_writer(&mut self, now: Instant, desc: EndpointConfig) -> Guid {
        unimplemented!()
    }

    /// Creates a user reader and announces it through SEDP.
    pub fn create_reader(&mut self, now: Instant, desc: EndpointConfig) -> Guid {
        unimplemented!()
    }

    /// Deletes a local writer, announcing its removal.
    pub fn delete_writer(&mut self, now: Instant, writer: Guid) {
        unimplemented!()
    }

    /// Deletes a local reader, announcing its removal.
    pub fn delete_reader(&mut self, now: Instant, reader: Guid) {
        unimplemented!()
    }

    /// Writes a change on a local writer; returns its sequence number.
    pub fn write(&mut self, now: Instant, writer: Guid, change: WriteChange) -> Result<SequenceNumber, WriteError> {
        unimplemented!()
    }

    /// True when every matched reliable reader has acknowledged everything `writer` wrote.
    pub fn is_acked_by_all(&self, writer: Guid) -> bool {
        unimplemented!()
    }

    /// Processes one received datagram. Malformed input is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        unimplemented!()
    }

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        unimplemented!()
    }

    /// The earliest time at which `handle_timeout` should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        unimplemented!()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        unimplemented!()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        unimplemented!()
    }

    /// Announces this participant's departure (disposes its SPDP and SEDP data).
    pub fn shutdown(&mut self, now: Instant) {
        unimplemented!()
    }

    /// Remote participants currently alive.
    pub fn discovered_participants(&self) -> impl Iterator<Item = &ParticipantData> + '_ {
        std::iter::empty()
    }

    /// Remote writers currently known.
    pub fn discovered_writers(&self) -> impl Iterator<Item = &EndpointData> + '_ {
        std::iter::empty()
    }

    /// Remote readers currently known.
    pub fn discovered_readers(&self) -> impl Iterator<Item = &EndpointData> + '_ {
        std::iter::empty()
    }

    /// Receive and send counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}
