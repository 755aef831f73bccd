//! The XTypes TypeLookup service's state: TypeObjects this participant knows
//! (its own types and those learned from peers), the requests it has sent,
//! and how it answers peers' requests.

use crate::discovery::EndpointData;
use crate::wire::types::Guid;
use crate::wire::Endian;
use crate::xtypes::typelookup::{
    GetTypeDependenciesOut, GetTypesOut, ReplyHeader, RequestHeader, SampleIdentity, TypeLookupCall, TypeLookupReply,
    TypeLookupRequest, TypeLookupReturn,
};
use crate::xtypes::typeobject::{resolve_type, TypeIdentifier, TypeIdentifierWithSize, TypeInformation, TypeObject};
use crate::xtypes::{DynamicError, DynamicType};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The most TypeObjects kept from peers; more are ignored.
const MAX_LEARNED_TYPES: usize = 4096;
/// The most type ids asked for in one request.
const MAX_REQUEST_IDS: usize = 64;
/// How long to wait for a reply before asking again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often to ask for one type before giving up.
const MAX_TRIES: u32 = 5;

/// Known TypeObjects and outstanding requests.
#[derive(Debug, Default)]
pub(crate) struct TypeRegistry {
    objects: HashMap<TypeIdentifier, TypeObject>,
    deps: HashMap<TypeIdentifier, Vec<TypeIdentifierWithSize>>,
    /// Outstanding requests: when last asked, and how often.
    requested: HashMap<TypeIdentifier, (Instant, u32)>,
}

/// The TypeInformation a discovered endpoint announced, if it decodes.
pub(crate) fn type_information(ep: &EndpointData) -> Option<TypeInformation> {
    let raw = ep.type_information.as_deref()?;
    TypeInformation::from_bytes(raw, Endian::Little).or_else(|_| TypeInformation::from_bytes(raw, Endian::Big)).ok()
}

impl TypeRegistry {
    /// Registers a local type: its TypeInformation and the TypeObjects of the
    /// type and everything it depends on.
    pub fn register(&mut self, info: &TypeInformation, objects: Vec<(TypeIdentifier, TypeObject)>) {
        for (id, obj) in objects {
            self.objects.insert(id, obj);
        }
        for t in [&info.minimal, &info.complete] {
            self.deps.insert(t.typeid_with_size.type_id.clone(), t.dependent_typeids.clone());
        }
    }

    /// True when the TypeObject for `id` is known (or `id` needs none).
    pub fn knows(&self, id: &TypeIdentifier) -> bool {
        !id.is_hash() || self.objects.contains_key(id)
    }

    /// True while a TypeObject that `info` needs (its COMPLETE type or a dependency) has been requested from a
    /// peer and neither arrived nor was given up.
    pub fn outstanding(&self, info: &TypeInformation) -> bool {
        std::iter::once(&info.complete.typeid_with_size.type_id)
            .chain(info.complete.dependent_typeids.iter().map(|d| &d.type_id))
            .any(|id| self.requested.contains_key(id))
    }

    /// The COMPLETE type ids an endpoint's TypeInformation names that are not
    /// known yet nor already requested; marks them requested.
    pub fn missing_for(&mut self, now: Instant, info: &TypeInformation) -> Vec<TypeIdentifier> {
        let top = &info.complete.typeid_with_size.type_id;
        if !top.is_hash() {
            return Vec::new();
        }
        let mut ids: Vec<TypeIdentifier> = std::iter::once(top)
            .chain(info.complete.dependent_typeids.iter().map(|d| &d.type_id))
            .filter(|id| id.is_hash() && !self.objects.contains_key(id) && !self.requested.contains_key(id))
            .take(MAX_REQUEST_IDS)
            .cloned()
            .collect();
        ids.dedup();
        for id in &ids {
            self.requested.insert(id.clone(), (now, 1));
        }
        ids
    }

    /// Requests that got no reply in time, to be sent again (each at most
    /// `MAX_TRIES` times).
    pub fn retries_due(&mut self, now: Instant) -> Vec<TypeIdentifier> {
        let mut due = Vec::new();
        self.requested.retain(|id, (at, tries)| {
            if now < *at + RETRY_AFTER {
                return true;
            }
            if *tries >= MAX_TRIES {
                return false;
            }
            *at = now;
            *tries += 1;
            due.push(id.clone());
            true
        });
        due.truncate(MAX_REQUEST_IDS);
        due
    }

    /// When the next retry is due.
    pub fn next_retry(&self) -> Option<Instant> {
        self.requested.values().map(|(at, _)| *at + RETRY_AFTER).min()
    }

    /// Builds a getTypes request payload.
    pub fn request(&self, writer: Guid, sn: i64, type_ids: Vec<TypeIdentifier>) -> Option<Vec<u8>> {
        let req = TypeLookupRequest {
            header: RequestHeader {
                request_id: SampleIdentity { writer_guid: writer.to_bytes(), sequence_number: sn },
                instance_name: format!("dds.builtin.TOS.{}", hex(&writer.to_bytes())),
            },
            call: TypeLookupCall::GetTypes { type_ids },
        };
        req.encode(Endian::Little).ok()
    }

    /// Answers a request payload; `None` when it does not decode or is not a
    /// call this service answers.
    pub fn answer(&self, payload: &[u8], request_writer: Guid, sn: i64) -> Option<Vec<u8>> {
        let req = TypeLookupRequest::decode(payload).ok()?;
        // The request id names the requesting writer and the request's sequence number; peers fill it
        // in themselves, but fall back to the sample's own identity when it is zero.
        let mut related = req.header.request_id;
        if related.writer_guid == [0; 16] {
            related = SampleIdentity { writer_guid: request_writer.to_bytes(), sequence_number: sn };
        }
        let return_data = match req.call {
            TypeLookupCall::GetTypes { type_ids } => {
                let types =
                    type_ids.iter().filter_map(|id| self.objects.get(id).map(|o| (id.clone(), o.clone()))).collect();
                TypeLookupReturn::GetTypes(Ok(GetTypesOut { types, complete_to_minimal: Vec::new() }))
            }
            TypeLookupCall::GetTypeDependencies { type_ids, .. } => {
                let mut dependent_typeids: Vec<TypeIdentifierWithSize> = Vec::new();
                for id in &type_ids {
                    for d in self.deps.get(id).into_iter().flatten() {
                        if !dependent_typeids.iter().any(|x| x.type_id == d.type_id) {
                            dependent_typeids.push(d.clone());
                        }
                    }
                }
                TypeLookupReturn::GetTypeDependencies(Ok(GetTypeDependenciesOut {
                    dependent_typeids,
                    continuation_point: Vec::new(),
                }))
            }
            TypeLookupCall::Unknown(_) => return None,
        };
        let reply = TypeLookupReply { header: ReplyHeader { related_request_id: related, remote_ex: 0 }, return_data };
        reply.encode(Endian::Little).ok()
    }

    /// Takes in a reply payload addressed to `our_writer`; returns the ids of
    /// the TypeObjects learned.
    pub fn take_reply(&mut self, payload: &[u8], our_writer: Guid) -> Vec<TypeIdentifier> {
        let Ok(reply) = TypeLookupReply::decode(payload) else { return Vec::new() };
        if reply.header.related_request_id.writer_guid != our_writer.to_bytes() {
            return Vec::new();
        }
        let TypeLookupReturn::GetTypes(Ok(out)) = reply.return_data else { return Vec::new() };
        let mut learned = Vec::new();
        for (id, obj) in out.types {
            if self.objects.len() >= MAX_LEARNED_TYPES {
                break;
            }
            // Keep only objects whose hash matches the id they were sent under.
            if obj.type_identifier().as_ref() == Some(&id) && !self.objects.contains_key(&id) {
                self.requested.remove(&id);
                self.objects.insert(id.clone(), obj);
                learned.push(id);
            }
        }
        learned
    }

    /// The dynamic type an endpoint announced, once its TypeObjects are known.
    pub fn resolve(&self, ep: &EndpointData) -> Option<Result<DynamicType, DynamicError>> {
        let info = type_information(ep)?;
        let top = info.complete.typeid_with_size.type_id;
        if !self.knows(&top) {
            return None;
        }
        let objects: Vec<(TypeIdentifier, TypeObject)> =
            self.objects.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Some(resolve_type(&top, &objects))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
