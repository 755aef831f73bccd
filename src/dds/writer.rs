//! DataWriter.

use super::participant::Shared;
use super::status::{IncompatibleQosStatus, PublicationMatchedStatus};
use super::support::TypeSupport;
use super::DdsError;
use crate::runtime::driver::WriterSink;
use crate::runtime::wall_clock;
use starling_proto::cdr::{version_for_representation, XcdrVersion};
use starling_proto::core::{ChangeKind, EndpointConfig, WriteChange};
use starling_proto::qos::{EndpointQos, QosPolicyId};
use starling_proto::wire::types::{Guid, KeyHash, SequenceNumber, Time};
use starling_proto::wire::Endian;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Status channels of one writer, fed by the driver.
pub(crate) struct WriterState {
    matched: watch::Sender<PublicationMatchedStatus>,
    incompatible: watch::Sender<IncompatibleQosStatus>,
}

impl WriterSink for WriterState {
    fn on_matched(&self, reader: Guid, matched: bool, current_count: u32) {
        self.matched.send_modify(|s| {
            if matched {
                s.total_count += 1;
            }
            s.current_count = current_count;
            s.last_subscription_handle = Some(reader);
        });
    }

    fn on_incompatible(&self, reader: Guid, policy: QosPolicyId) {
        self.incompatible.send_modify(|s| s.record(reader, policy));
    }
}

/// Writes samples of type `T` on one topic.
pub struct DataWriter<T> {
    shared: Arc<Shared>,
    guid: Guid,
    topic: String,
    qos: EndpointQos,
    representation: i16,
    version: XcdrVersion,
    state: Arc<WriterState>,
    size_hint: AtomicUsize,
    support: Arc<dyn TypeSupport<T>>,
}

impl<T> std::fmt::Debug for DataWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataWriter").field("guid", &self.guid).field("topic", &self.topic).finish()
    }
}

impl<T: Send + Sync + 'static> DataWriter<T> {
    pub(crate) fn create(
        shared: Arc<Shared>,
        topic: &str,
        type_name: &str,
        qos: EndpointQos,
        support: Arc<dyn TypeSupport<T>>,
    ) -> Result<Self, DdsError> {
        if shared.inner.is_closed() {
            return Err(DdsError::Closed);
        }
        let representation = qos.writer_representation();
        let version = version_for_representation(representation).map_err(|e| DdsError::Encode(e.into()))?;
        let state = Arc::new(WriterState {
            matched: watch::channel(PublicationMatchedStatus::default()).0,
            incompatible: watch::channel(IncompatibleQosStatus::default()).0,
        });
        let desc = EndpointConfig {
            topic_name: topic.to_string(),
            type_name: type_name.to_string(),
            keyed: support.is_keyed(),
            qos: qos.clone(),
            type_information: None,
        };
        let announcement = super::type_announcement(support.dynamic_type(), type_name);
        let mut desc = desc;
        desc.type_information = announcement.as_ref().map(|a| a.bytes.clone());
        let sink: Arc<dyn WriterSink> = state.clone();
        let guid = shared.inner.call(
            |core, now| {
                if let Some(a) = announcement {
                    core.register_type(&a.info, a.objects);
                }
                core.create_writer(now, desc)
            },
            |table, guid| {
                table.writers.insert(*guid, sink);
            },
        );
        Ok(DataWriter {
            shared,
            guid,
            topic: topic.to_string(),
            qos,
            representation,
            version,
            state,
            size_hint: AtomicUsize::new(64),
            support,
        })
    }

    /// This writer's GUID.
    pub fn guid(&self) -> Guid {
        self.guid
    }

    /// The topic name.
    pub fn topic_name(&self) -> &str {
        &self.topic
    }

    /// The QoS in use.
    pub fn qos(&self) -> &EndpointQos {
        &self.qos
    }

    /// Writes a sample, stamped with the current time.
    pub fn write(&self, sample: &T) -> Result<SequenceNumber, DdsError> {
        self.write_change(ChangeKind::Alive, sample, wall_clock())
    }

    /// Writes a sample with an explicit source timestamp.
    pub fn write_w_timestamp(&self, sample: &T, timestamp: SystemTime) -> Result<SequenceNumber, DdsError> {
        let nanos = timestamp.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        self.write_change(ChangeKind::Alive, sample, Time::from_nanos(nanos))
    }

    /// Disposes the instance whose key fields `key_holder` carries.
    pub fn dispose(&self, key_holder: &T) -> Result<SequenceNumber, DdsError> {
        self.write_change(ChangeKind::Disposed, key_holder, wall_clock())
    }

    /// Unregisters the instance whose key fields `key_holder` carries.
    pub fn unregister_instance(&self, key_holder: &T) -> Result<SequenceNumber, DdsError> {
        self.write_change(ChangeKind::Unregistered, key_holder, wall_clock())
    }

    fn write_change(&self, kind: ChangeKind, sample: &T, ts: Time) -> Result<SequenceNumber, DdsError> {
        let key =
            if self.support.is_keyed() { self.support.key_hash(sample, self.version) } else { KeyHash::default() };
        // One allocation per sample: the buffer becomes the change's payload.
        let mut buf = Vec::with_capacity(self.size_hint.load(Ordering::Relaxed));
        let r = if kind == ChangeKind::Alive {
            self.support.encode(sample, self.representation, Endian::Little, &mut buf)
        } else {
            self.support.encode_key(sample, self.representation, Endian::Little, &mut buf)
        };
        r.map_err(DdsError::Encode)?;
        if kind == ChangeKind::Alive {
            self.size_hint.store(buf.len(), Ordering::Relaxed);
        }
        let change = WriteChange { kind, key_hash: key, payload: buf.into(), source_timestamp: Some(ts) };
        if self.shared.inner.is_closed() {
            return Err(DdsError::Closed);
        }
        let guid = self.guid;
        self.shared.inner.call(|core, now| core.write(now, guid, change), |_, _| {}).map_err(|e| Box::new(e).into())
    }

    /// True when every matched reliable reader acknowledged everything written.
    pub fn is_acked_by_all(&self) -> bool {
        self.shared.inner.inspect(|c| c.is_acked_by_all(self.guid))
    }

    /// Waits until every matched reliable reader acknowledged everything written.
    pub async fn wait_for_acknowledgments(&self, timeout: Duration) -> Result<(), DdsError> {
        let mut progress = self.shared.inner.progress();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_acked_by_all() {
                return Ok(());
            }
            if self.shared.inner.is_closed() {
                return Err(DdsError::Closed);
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(DdsError::Closed),
                Err(_) => return Err(DdsError::Timeout),
            }
        }
    }

    /// Blocking form of [`DataWriter::wait_for_acknowledgments`].
    pub fn wait_for_acknowledgments_blocking(&self, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_acknowledgments(timeout))
    }

    /// Waits until at least `n` readers are matched.
    pub async fn wait_for_subscribers(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        let mut rx = self.state.matched.subscribe();
        let r = tokio::time::timeout(timeout, rx.wait_for(|s| s.current_count >= n)).await.map(|r| r.map(|_| ()));
        match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(DdsError::Closed),
            Err(_) => Err(DdsError::Timeout),
        }
    }

    /// Blocking form of [`DataWriter::wait_for_subscribers`].
    pub fn wait_for_subscribers_blocking(&self, n: u32, timeout: Duration) -> Result<(), DdsError> {
        self.shared.block_on(self.wait_for_subscribers(n, timeout))
    }

    /// The current PUBLICATION_MATCHED status.
    pub fn publication_matched_status(&self) -> PublicationMatchedStatus {
        *self.state.matched.borrow()
    }

    /// A watch channel that sees every change of the PUBLICATION_MATCHED status.
    pub fn publication_matched_watch(&self) -> watch::Receiver<PublicationMatchedStatus> {
        self.state.matched.subscribe()
    }

    /// The current OFFERED_INCOMPATIBLE_QOS status.
    pub fn offered_incompatible_qos_status(&self) -> IncompatibleQosStatus {
        *self.state.incompatible.borrow()
    }

    /// A watch channel of OFFERED_INCOMPATIBLE_QOS changes.
    pub fn offered_incompatible_qos_watch(&self) -> watch::Receiver<IncompatibleQosStatus> {
        self.state.incompatible.subscribe()
    }
}

impl<T> Drop for DataWriter<T> {
    fn drop(&mut self) {
        if self.shared.inner.is_closed() {
            return;
        }
        let guid = self.guid;
        self.shared.inner.call(
            |core, now| core.delete_writer(now, guid),
            |table, _| {
                table.writers.remove(&guid);
            },
        );
    }
}
