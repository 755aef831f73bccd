//! `starling durability`: runs the durability service ([`crate::durability`]) until SIGINT or SIGTERM.
//!
//! Prints `durability service ready` once it runs, then one JSON line per topic whenever what it holds changes:
//! `{"topic":"Square","type":"ShapeType","durability":"transient","samples":5,"instances":1,"writers":0,"serving":true,"peers":0}` (`peers`: other services' writers of the topic it aligns with).

use super::{CliError, DurabilityArgs};
use crate::dds::DomainParticipant;
use crate::durability::{DurabilityError, DurabilityService, ServiceConfig, TopicStatus};
use starling_proto::qos::DurabilityKind;
use std::collections::BTreeMap;
use std::io::Write;

fn line(topic: &str, s: &TopicStatus) -> String {
    let durability = match s.durability {
        Some(DurabilityKind::Persistent) => "persistent",
        Some(DurabilityKind::Transient) => "transient",
        _ => "other",
    };
    serde_json::json!({
        "topic": topic, "type": s.type_name, "durability": durability, "samples": s.samples,
        "instances": s.instances, "writers": s.writers, "serving": s.serving, "peers": s.peers,
    })
    .to_string()
}

fn print_changes(last: &BTreeMap<String, TopicStatus>, now: &BTreeMap<String, TopicStatus>) {
    let mut out = std::io::stdout().lock();
    for (topic, s) in now {
        if last.get(topic) != Some(s) {
            let _ = writeln!(out, "{}", line(topic, s));
        }
    }
    let _ = out.flush();
}

/// Runs the service on `p` until a shutdown signal.
pub(crate) async fn run(p: DomainParticipant, args: &DurabilityArgs) -> Result<(), CliError> {
    let config = ServiceConfig { store: args.store.clone(), topics: args.topics.clone() };
    let svc = DurabilityService::new(p, config).map_err(service_err)?;
    let mut status = svc.status();
    let printer = tokio::spawn(async move {
        let mut last: BTreeMap<String, TopicStatus> = BTreeMap::new();
        loop {
            let now = status.borrow_and_update().clone();
            print_changes(&last, &now);
            last = now;
            if status.changed().await.is_err() {
                return;
            }
        }
    });
    println!("durability service ready");
    let _ = std::io::stdout().flush();
    let r = svc.run(super::bridge::shutdown_signal()).await.map_err(service_err);
    printer.abort();
    r
}

fn service_err(e: DurabilityError) -> CliError {
    match e {
        DurabilityError::Dds(d) => CliError::Dds(d),
        other => CliError::Durability(other.to_string()),
    }
}
