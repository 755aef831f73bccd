//! `pub` and `sub`, generic over the registered type.

use super::registry::JsonCodec;
use super::{seconds, CliError, PubArgs, QosArgs, SubArgs};
use crate::dds::{DataWriter, DdsError, DomainParticipant, SampleIdentity};
use crate::filter::Filter;
use crate::qos::{DurabilityKind, EndpointQos, History, Reliability, ReliabilityKind, XCDR2};
use serde_json::Value;
use starling_proto::wire::types::SequenceNumber;
use std::io::Write;
use tokio::io::AsyncBufReadExt;

/// The endpoint QoS: the profile's when one is given, else the CLI defaults
/// (reliable, volatile, KEEP_ALL); then the flags that were given.
fn apply_qos(default: EndpointQos, args: &QosArgs) -> EndpointQos {
    let mut q = match &args.profile_qos {
        Some(p) => p.clone(),
        None => EndpointQos {
            reliability: Reliability::reliable(),
            // The CLI streams every sample, so it keeps all rather than the KEEP_LAST(1) default.
            history: History::KeepAll,
            ..default
        },
    };
    if args.best_effort {
        q.reliability = Reliability { kind: ReliabilityKind::BestEffort, ..q.reliability };
    } else if args.reliable {
        q.reliability = Reliability { kind: ReliabilityKind::Reliable, ..q.reliability };
    }
    if args.transient_local {
        q.durability = DurabilityKind::TransientLocal;
    } else if args.transient {
        q.durability = DurabilityKind::Transient;
    } else if args.persistent {
        q.durability = DurabilityKind::Persistent;
    } else if args.volatile {
        q.durability = DurabilityKind::Volatile;
    }
    if let Some(depth) = args.depth {
        q.history = match i32::try_from(depth) {
            Ok(0) | Err(_) => History::KeepAll,
            Ok(d) => History::KeepLast(d),
        };
    }
    if args.xcdr2 {
        q.data_representation = vec![XCDR2];
    }
    if (args.transient || args.persistent) && args.profile_qos.is_none() {
        // Without a profile, a durability service keeps what the writer keeps.
        q.durability_service.history = q.history;
    }
    q
}

/// A parsed input line.
#[derive(Debug, PartialEq)]
pub(crate) enum Action<T> {
    Write(T),
    Dispose(T),
    Unregister(T),
    /// `{"assert_liveliness":true}`: `DataWriter::assert_liveliness`.
    AssertLiveliness,
}

pub(crate) fn parse_action<C: JsonCodec>(codec: &C, text: &str, location: &str) -> Result<Action<C::Sample>, CliError> {
    let bad = |message: String| CliError::BadInput { location: location.to_string(), message };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if let Value::Object(m) = &v {
        if m.len() == 1 {
            if let Some(inner) = m.get("dispose") {
                return codec.parse_json(inner.clone()).map(Action::Dispose).map_err(bad);
            }
            if let Some(inner) = m.get("unregister") {
                return codec.parse_json(inner.clone()).map(Action::Unregister).map_err(bad);
            }
            if m.get("assert_liveliness") == Some(&Value::Bool(true)) {
                return Ok(Action::AssertLiveliness);
            }
        }
    }
    codec.parse_json(v).map(Action::Write).map_err(bad)
}

fn print_line(v: &Value) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Runs `sub`: one JSON line per sample until `--count` data samples or `--timeout`.
pub(crate) async fn subscribe<C: JsonCodec>(p: DomainParticipant, args: &SubArgs, codec: C) -> Result<(), CliError> {
    let topic = codec.topic(&p, &args.topic)?;
    let mut qos = apply_qos(EndpointQos::reader_default(), &args.qos);
    qos.accept_any_representation();
    // `--filter`: a ContentFilteredTopic, so that Starling writers filter at the source. A type without an
    // XTypes description cannot have one: its samples are filtered here, on their JSON form.
    let cft = match &args.filter {
        Some(expr) => {
            match p.create_contentfilteredtopic(&format!("{}_filtered", args.topic), &topic, expr, &args.filter_params)
            {
                Ok(cft) => Some(cft),
                Err(DdsError::FilterUnsupported(_)) => None,
                Err(e) => return Err(e.into()),
            }
        }
        None => None,
    };
    let reader = match &cft {
        Some(cft) => p.create_datareader(cft, Some(qos))?,
        None => p.create_datareader(&topic, Some(qos))?,
    };
    let filter = match (&args.filter, &cft) {
        (Some(expr), None) => Some(Filter::with_parameters(expr, &args.filter_params)?),
        _ => None,
    };
    let mut filter_error_shown = false;
    let deadline = args.timeout.map(|t| tokio::time::Instant::now() + seconds(t));
    let mut received = 0u64;
    let mut matched = reader.subscription_matched_watch();
    let mut matched_open = true;
    let mut liveliness = reader.liveliness_changed_watch();
    let mut liveliness_open = true;
    loop {
        if args.count.is_some_and(|n| received >= n) {
            return Ok(());
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let sample = tokio::select! {
            s = reader.take_next() => s?,
            changed = matched.changed(), if matched_open => {
                if changed.is_err() {
                    matched_open = false;
                } else {
                    let st = *matched.borrow_and_update();
                    tracing::info!(current = st.current_count, total = st.total_count, "publications matched");
                }
                continue;
            }
            changed = liveliness.changed(), if liveliness_open => {
                if changed.is_err() {
                    liveliness_open = false;
                } else {
                    let st = *liveliness.borrow_and_update();
                    let writer = st.last_publication_handle.map(|g| g.to_string()).unwrap_or_default();
                    tracing::info!(
                        alive_count = st.alive_count,
                        not_alive_count = st.not_alive_count,
                        %writer,
                        "LIVELINESS_CHANGED"
                    );
                }
                continue;
            }
            () = sleep => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let line = if sample.info.valid_data {
            let json = sample.data.as_ref().map(|d| codec.to_json(d));
            if let (Some(f), Some(v)) = (&filter, &json) {
                match f.evaluate(v) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        if !filter_error_shown {
                            tracing::warn!("--filter: {e}; such samples are skipped");
                            filter_error_shown = true;
                        }
                        continue;
                    }
                }
            }
            received += 1;
            if args.identity {
                let mut m = serde_json::Map::new();
                m.insert("data".into(), json.unwrap_or(Value::Null));
                m.insert("sample_identity".into(), Value::String(identity_hex(&sample.info.sample_identity())));
                let rel = sample.info.related_sample_identity.map_or(Value::Null, |r| Value::String(identity_hex(&r)));
                m.insert("related_sample_identity".into(), rel);
                Some(Value::Object(m))
            } else {
                json
            }
        } else {
            let key = sample.data.as_ref().map_or(Value::Null, |d| codec.key_json(d));
            let what = match sample.info.instance_state {
                crate::dds::InstanceState::NotAliveDisposed => "dispose",
                _ => "unregister",
            };
            let mut m = serde_json::Map::new();
            m.insert(what.to_string(), key);
            Some(Value::Object(m))
        };
        if let Some(line) = line {
            print_line(&line)?;
        }
    }
}

/// A sample identity as 48 hex digits (the 24-byte form of [`SampleIdentity::to_bytes`]).
pub(crate) fn identity_hex(id: &SampleIdentity) -> String {
    id.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`identity_hex`]'s form (for `pub --related`).
pub(crate) fn parse_identity(s: &str) -> Result<SampleIdentity, String> {
    let s = s.trim();
    if s.len() != 48 || !s.is_ascii() {
        return Err("a sample identity is 48 hex digits".into());
    }
    let bytes = (0..24)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect::<Result<Vec<u8>, String>>()?;
    SampleIdentity::from_bytes(&bytes).ok_or_else(|| "a sample identity is 48 hex digits".into())
}

fn do_action<T: Send + Sync + 'static>(
    w: &DataWriter<T>,
    a: &Action<T>,
    related: Option<SampleIdentity>,
) -> Result<(), DdsError> {
    match (a, related) {
        (Action::Write(s), Some(rel)) => w.write_w_related(s, rel).map(|_| SequenceNumber(0)),
        (a, _) => do_plain(w, a),
    }
    .map(|_| ())
}

fn do_plain<T: Send + Sync + 'static>(w: &DataWriter<T>, a: &Action<T>) -> Result<SequenceNumber, DdsError> {
    match a {
        Action::Write(s) => w.write(s),
        Action::Dispose(s) => w.dispose(s),
        Action::Unregister(s) => w.unregister_instance(s),
        Action::AssertLiveliness => {
            w.assert_liveliness();
            Ok(SequenceNumber(0))
        }
    }
}

/// Runs `pub`.
pub(crate) async fn publish<C: JsonCodec>(p: DomainParticipant, args: &PubArgs, codec: C) -> Result<(), CliError> {
    // Parse the arguments first so bad input fails before anything is sent.
    let given = args
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| parse_action(&codec, s, &format!("argument {}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let topic = codec.topic(&p, &args.topic)?;
    let qos = apply_qos(EndpointQos::writer_default(), &args.qos);
    let reliable = qos.reliability.kind == ReliabilityKind::Reliable;
    let writer = p.create_datawriter(&topic, Some(qos))?;
    if let Some(n) = args.wait_subscribers {
        writer.wait_for_subscribers(n, seconds(args.wait_timeout)).await.map_err(|e| match e {
            DdsError::Timeout => {
                CliError::Wait(format!("fewer than {n} subscribers matched within {} s", args.wait_timeout))
            }
            other => other.into(),
        })?;
    }
    let mut ticker = args.rate.filter(|r| *r > 0.0).map(|r| {
        let mut t = tokio::time::interval(seconds(1.0 / r));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut written = 0u64;
    let limit = args.count;
    if given.is_empty() {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut line_no = 0u64;
        while limit.is_none_or(|n| written < n) {
            let Some(line) = lines.next_line().await? else { break };
            line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            let action = parse_action(&codec, &line, &format!("line {line_no}"))?;
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            do_action(&writer, &action, args.related)?;
            written += 1;
        }
    } else {
        let total = limit.unwrap_or(given.len() as u64);
        for action in given.iter().cycle().take(usize::try_from(total).unwrap_or(usize::MAX)) {
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            do_action(&writer, action, args.related)?;
            written += 1;
        }
    }
    tracing::debug!(written, "done writing");
    if reliable {
        if let Err(e) = writer.wait_for_acknowledgments(seconds(args.linger)).await {
            tracing::warn!("not every subscriber acknowledged within {} s: {e}", args.linger);
        }
    } else {
        // Best effort has no acknowledgement to wait for. Readers may handle the writer's removal (sent
        // on the discovery channel) before the last data still in their receive queues, and would then
        // drop it; a short pause lets that data be taken first.
        tokio::time::sleep(seconds(args.linger.min(0.25))).await;
    }
    if args.stay > 0.0 {
        tracing::warn!(written, "done writing; staying {} s", args.stay);
        tokio::time::sleep(seconds(args.stay)).await;
    }
    drop(writer);
    drop(p);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::registry::{JsonSample, StaticCodec};
    use crate::types::ShapeType;

    #[test]
    fn parses_samples_and_lifecycle_lines() {
        let a = parse_action(
            &StaticCodec::<ShapeType>::default(),
            r#"{"color":"BLUE","x":10,"y":20,"shapesize":30}"#,
            "line 1",
        )
        .unwrap();
        let Action::Write(s) = a else { panic!("expected a write") };
        assert_eq!((s.color.as_str(), s.x, s.y, s.shapesize), ("BLUE", 10, 20, 30));
        let d = parse_action(&StaticCodec::<ShapeType>::default(), r#"{"dispose":{"color":"RED"}}"#, "line 2").unwrap();
        assert!(matches!(d, Action::Dispose(s) if s.color == "RED"));
        let u =
            parse_action(&StaticCodec::<ShapeType>::default(), r#"{"unregister":{"color":"RED"}}"#, "line 3").unwrap();
        assert!(matches!(u, Action::Unregister(s) if s.color == "RED"));
        let l = parse_action(&StaticCodec::<ShapeType>::default(), r#"{"assert_liveliness":true}"#, "line 4").unwrap();
        assert!(matches!(l, Action::AssertLiveliness));
    }

    #[test]
    fn bad_input_names_the_line() {
        let e = parse_action(&StaticCodec::<ShapeType>::default(), "{not json", "line 7").unwrap_err();
        assert!(e.to_string().starts_with("invalid sample on line 7:"), "{e}");
        let e = parse_action(&StaticCodec::<ShapeType>::default(), r#"{"color":5}"#, "argument 2").unwrap_err();
        assert!(e.to_string().contains("argument 2"), "{e}");
        assert!(parse_action(&StaticCodec::<ShapeType>::default(), "[1,2]", "line 1").is_err());
    }

    fn qos_args(profile: Option<EndpointQos>) -> QosArgs {
        QosArgs {
            reliable: false,
            best_effort: false,
            transient_local: false,
            volatile: false,
            transient: false,
            persistent: false,
            depth: None,
            xcdr2: false,
            profile_qos: profile,
        }
    }

    #[test]
    fn cli_qos_defaults_and_overrides() {
        let q = apply_qos(EndpointQos::reader_default(), &qos_args(None));
        assert_eq!(
            (q.reliability.kind, q.durability, q.history),
            (ReliabilityKind::Reliable, DurabilityKind::Volatile, History::KeepAll)
        );
        let profile = EndpointQos {
            reliability: Reliability::best_effort(),
            durability: DurabilityKind::TransientLocal,
            history: History::KeepLast(3),
            ..EndpointQos::writer_default()
        };
        let q = apply_qos(EndpointQos::writer_default(), &qos_args(Some(profile.clone())));
        assert_eq!(q, profile, "the profile applies as is when no flag is given");
        let args = QosArgs { reliable: true, volatile: true, depth: Some(0), ..qos_args(Some(profile)) };
        let q = apply_qos(EndpointQos::writer_default(), &args);
        assert_eq!(
            (q.reliability.kind, q.durability, q.history),
            (ReliabilityKind::Reliable, DurabilityKind::Volatile, History::KeepAll)
        );
        let q = apply_qos(EndpointQos::writer_default(), &QosArgs { depth: Some(5), ..qos_args(None) });
        assert_eq!(q.history, History::KeepLast(5));
        let q =
            apply_qos(EndpointQos::writer_default(), &QosArgs { depth: Some(3), transient: true, ..qos_args(None) });
        assert_eq!((q.durability, q.durability_service.history), (DurabilityKind::Transient, History::KeepLast(3)));
        let q = apply_qos(EndpointQos::writer_default(), &QosArgs { persistent: true, ..qos_args(None) });
        assert_eq!((q.durability, q.durability_service.history), (DurabilityKind::Persistent, History::KeepAll));
    }

    #[test]
    fn profile_and_filter_flags() {
        use crate::cli::{load_profile, run, Cli};
        use clap::Parser;
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/qos-profiles/starling-patterns.xml");
        let cli = Cli::try_parse_from([
            "starling",
            "sub",
            "T",
            "--type",
            "ShapeType",
            "--qos-file",
            file,
            "--profile",
            "StarlingPatterns::State",
        ])
        .unwrap();
        let (provider, name) = load_profile(&cli).unwrap().unwrap();
        let q = provider.profile(&name).unwrap().datareader_qos("T");
        assert_eq!((q.durability, q.history), (DurabilityKind::TransientLocal, History::KeepLast(1)));
        let cli = Cli::try_parse_from([
            "starling",
            "--qos-file",
            file,
            "--profile",
            "Nope::X",
            "pub",
            "T",
            "--type",
            "ShapeType",
        ])
        .unwrap();
        assert!(load_profile(&cli).unwrap_err().to_string().starts_with("no QoS profile 'Nope::X'"));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let cli =
            Cli::try_parse_from(["starling", "sub", "T", "--type", "ShapeType", "--filter", "x > 100 AND color ="])
                .unwrap();
        let e = rt.block_on(run(cli)).unwrap_err();
        assert_eq!(e.to_string(), "invalid --filter expression: col 20: expected a value after '='");
        let cli = Cli::try_parse_from(["starling", "sub", "T", "--type", "ShapeType", "--filter", "x > %0"]).unwrap();
        let e = rt.block_on(run(cli)).unwrap_err();
        assert_eq!(e.to_string(), "invalid --filter expression: the expression uses %0 but 0 parameter(s) are set");
    }

    #[test]
    fn key_json_has_only_the_key() {
        let s = ShapeType::from_json(serde_json::json!({"color":"GREEN","x":3})).unwrap();
        assert_eq!(s.key_json(), serde_json::json!({"color":"GREEN"}));
    }
}
