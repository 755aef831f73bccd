//! `ls`: what is on the domain.

use super::{seconds, CliError, LsArgs};
use crate::dds::DomainParticipant;
use crate::qos::{DurabilityKind, ReliabilityKind};
use serde::Serialize;
use starling_proto::discovery::EndpointData;
use std::collections::BTreeSet;

#[derive(Serialize)]
struct ParticipantRow {
    guid_prefix: String,
    vendor: &'static str,
    name: Option<String>,
    locators: Vec<String>,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct TopicRow {
    name: String,
    type_name: String,
}

#[derive(Serialize)]
struct EndpointRow {
    kind: &'static str,
    guid: String,
    participant: String,
    topic: String,
    type_name: String,
    reliability: &'static str,
    durability: &'static str,
}

#[derive(Serialize)]
struct Listing {
    participants: Vec<ParticipantRow>,
    topics: Vec<TopicRow>,
    endpoints: Vec<EndpointRow>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    types: std::collections::BTreeMap<String, String>,
}

fn endpoint_row(kind: &'static str, e: &EndpointData) -> EndpointRow {
    EndpointRow {
        kind,
        guid: e.guid.to_string(),
        participant: e.guid.prefix.to_string(),
        topic: e.topic_name.clone(),
        type_name: e.type_name.clone(),
        reliability: match e.qos.reliability.kind {
            ReliabilityKind::Reliable => "reliable",
            ReliabilityKind::BestEffort => "best-effort",
        },
        durability: match e.qos.durability {
            DurabilityKind::Volatile => "volatile",
            DurabilityKind::TransientLocal => "transient-local",
            DurabilityKind::Transient => "transient",
            DurabilityKind::Persistent => "persistent",
        },
    }
}

fn listing(p: &DomainParticipant, with_types: bool) -> Listing {
    let participants = p
        .discovered_participants()
        .into_iter()
        .map(|d| ParticipantRow {
            guid_prefix: d.guid_prefix.to_string(),
            vendor: d.vendor_id.name(),
            name: d.entity_name.clone(),
            locators: d
                .metatraffic_unicast_locators
                .iter()
                .chain(&d.default_unicast_locators)
                .map(|l| l.to_string())
                .collect(),
        })
        .collect();
    let writers = p.discovered_writers();
    let readers = p.discovered_readers();
    let topics: BTreeSet<TopicRow> = writers
        .iter()
        .chain(&readers)
        .map(|e| TopicRow { name: e.topic_name.clone(), type_name: e.type_name.clone() })
        .collect();
    let endpoints = writers
        .iter()
        .map(|e| endpoint_row("writer", e))
        .chain(readers.iter().map(|e| endpoint_row("reader", e)))
        .collect();
    let mut types = std::collections::BTreeMap::new();
    if with_types {
        for e in writers.iter().chain(&readers) {
            if types.contains_key(&e.type_name) {
                continue;
            }
            if let Some(Ok(t)) = p.remote_type(&e.guid) {
                types.insert(e.type_name.clone(), crate::dynamic::to_idl(&t));
            }
        }
    }
    Listing { participants, topics: topics.into_iter().collect(), endpoints, types }
}

pub(crate) async fn run(p: DomainParticipant, args: &LsArgs) -> Result<(), CliError> {
    tokio::time::sleep(seconds(args.wait)).await;
    let l = listing(&p, args.types);
    let mut out = String::new();
    if args.json {
        out = serde_json::to_string_pretty(&l).map_err(std::io::Error::from)?;
        out.push('\n');
    } else {
        use std::fmt::Write;
        let _ = writeln!(out, "PARTICIPANTS ({})", l.participants.len());
        for r in &l.participants {
            let _ = writeln!(
                out,
                "  {}  {:<18} {:<20} {}",
                r.guid_prefix,
                r.vendor,
                r.name.as_deref().unwrap_or("-"),
                r.locators.join(" ")
            );
        }
        let _ = writeln!(out, "TOPICS ({})", l.topics.len());
        for t in &l.topics {
            let _ = writeln!(out, "  {:<32} {}", t.name, t.type_name);
        }
        let _ = writeln!(out, "ENDPOINTS ({})", l.endpoints.len());
        for e in &l.endpoints {
            let _ = writeln!(
                out,
                "  {:<6} {}  {:<24} {:<20} {:<11} {}",
                e.kind, e.guid, e.topic, e.type_name, e.reliability, e.durability
            );
        }
        if args.types {
            let _ = writeln!(out, "TYPES ({})", l.types.len());
            for (name, idl) in &l.types {
                let _ = writeln!(out, "// {name}");
                out.push_str(idl);
            }
        }
    }
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
