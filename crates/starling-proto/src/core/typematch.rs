//! Type matching between a writer and a reader of the same topic and type name (DDS-XTypes 1.3 §7.6.3.7):
//! when both announced a TypeInformation and their types differ, the writer's type must be assignable to the
//! reader's. The TypeObjects needed come from the local registry or through TypeLookup; while they are on their
//! way the pair waits, and when a peer never answers (or a type cannot be resolved) matching falls back to the
//! type names, as it does for endpoints that announce no TypeInformation.

use super::typelookup::{type_information, TypeRegistry};
use crate::discovery::EndpointData;
use crate::wire::types::{EntityId, Guid};
use crate::xtypes::is_assignable;

/// What the types say about a writer/reader pair whose type names are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeMatch {
    /// The types are the same or assignable (or not both known: the names decide).
    Match,
    /// Both types are known and the writer's is not assignable to the reader's.
    NotAssignable,
    /// A TypeObject is still being looked up; decide again when it arrives or the lookup is given up.
    Pending,
}

/// A writer/reader pair whose matching waits for TypeObjects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PendingMatch {
    /// A local writer and a local reader.
    Local { writer: EntityId, reader: EntityId },
    /// A local writer and a remote reader.
    RemoteReader { writer: EntityId, reader: Guid },
    /// A local reader and a remote writer.
    RemoteWriter { reader: EntityId, writer: Guid },
}

/// Decides whether writer `wd`'s type may feed reader `rd` (callers have compared topic and type names).
pub(crate) fn type_match(types: &TypeRegistry, wd: &EndpointData, rd: &EndpointData) -> TypeMatch {
    let (Some(wi), Some(ri)) = (type_information(wd), type_information(rd)) else { return TypeMatch::Match };
    let (wt, rt) = (&wi.complete.typeid_with_size.type_id, &ri.complete.typeid_with_size.type_id);
    if wt == rt || !wt.is_hash() || !rt.is_hash() {
        return TypeMatch::Match;
    }
    if types.outstanding(&wi) || types.outstanding(&ri) {
        return TypeMatch::Pending;
    }
    match (types.resolve(wd), types.resolve(rd)) {
        (Some(Ok(w)), Some(Ok(r))) => {
            if is_assignable(&r, &w) {
                TypeMatch::Match
            } else {
                tracing::debug!(writer = %wd.guid, reader = %rd.guid, writer_type = ?w, reader_type = ?r,
                    "writer's type is not assignable to the reader's");
                TypeMatch::NotAssignable
            }
        }
        // Not resolvable (lookup given up, or a type this implementation cannot represent): the names decide.
        _ => TypeMatch::Match,
    }
}
