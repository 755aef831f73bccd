//! `pub` and `sub`, generic over the registered type.

use super::registry::JsonSample;
use super::{seconds, CliError, PubArgs, QosArgs, SubArgs};
use crate::dds::{DataWriter, DdsError, DomainParticipant};
use crate::qos::{DurabilityKind, EndpointQos, History, Reliability, XCDR1, XCDR2};
use serde_json::Value;
use std::io::Write;
use tokio::io::AsyncBufReadExt;

fn apply_qos(mut q: EndpointQos, args: &QosArgs) -> EndpointQos {
    q.reliability = if args.best_effort { Reliability::best_effort() } else { Reliability::reliable() };
    if args.transient_local {
        q.durability = DurabilityKind::TransientLocal;
    }
    // The CLI streams every sample, so it keeps all by default rather than the KEEP_LAST(1) default.
    q.history = match i32::try_from(args.depth) {
        Ok(0) => History::KeepAll,
        Ok(d) => History::KeepLast(d),
        Err(_) => History::KeepAll,
    };
    q
}

/// A parsed input line.
#[derive(Debug, PartialEq)]
pub(crate) enum Action<T> {
    Write(T),
    Dispose(T),
    Unregister(T),
}

pub(crate) fn parse_action<T: JsonSample>(text: &str, location: &str) -> Result<Action<T>, CliError> {
    let bad = |message: String| CliError::BadInput { location: location.to_string(), message };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if let Value::Object(m) = &v {
        if m.len() == 1 {
            if let Some(inner) = m.get("dispose") {
                return T::from_json(inner.clone()).map(Action::Dispose).map_err(bad);
            }
            if let Some(inner) = m.get("unregister") {
                return T::from_json(inner.clone()).map(Action::Unregister).map_err(bad);
            }
        }
    }
    T::from_json(v).map(Action::Write).map_err(bad)
}

fn print_line(v: &Value) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Runs `sub`: one JSON line per sample until `--count` data samples or `--timeout`.
pub(crate) async fn subscribe<T: JsonSample>(p: DomainParticipant, args: &SubArgs) -> Result<(), CliError> {
    let topic = p.create_topic::<T>(&args.topic);
    let mut qos = apply_qos(EndpointQos::reader_default(), &args.qos);
    qos.data_representation = vec![XCDR1, XCDR2];
    let reader = p.create_datareader(&topic, Some(qos))?;
    let deadline = args.timeout.map(|t| tokio::time::Instant::now() + seconds(t));
    let mut received = 0u64;
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
            () = sleep => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let line = if sample.info.valid_data {
            received += 1;
            sample.data.as_ref().map(T::to_json)
        } else {
            let key = sample.data.as_ref().map_or(Value::Null, T::key_json);
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

fn do_action<T: JsonSample>(w: &DataWriter<T>, a: &Action<T>) -> Result<(), DdsError> {
    match a {
        Action::Write(s) => w.write(s),
        Action::Dispose(s) => w.dispose(s),
        Action::Unregister(s) => w.unregister_instance(s),
    }
    .map(|_| ())
}

/// Runs `pub`.
pub(crate) async fn publish<T: JsonSample>(p: DomainParticipant, args: &PubArgs) -> Result<(), CliError> {
    // Parse the arguments first so bad input fails before anything is sent.
    let given = args
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| parse_action::<T>(s, &format!("argument {}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let topic = p.create_topic::<T>(&args.topic);
    let qos = apply_qos(EndpointQos::writer_default(), &args.qos);
    let reliable = !args.qos.best_effort;
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
            let action = parse_action::<T>(&line, &format!("line {line_no}"))?;
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            do_action(&writer, &action)?;
            written += 1;
        }
    } else {
        let total = limit.unwrap_or(given.len() as u64);
        for action in given.iter().cycle().take(usize::try_from(total).unwrap_or(usize::MAX)) {
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            do_action(&writer, action)?;
            written += 1;
        }
    }
    tracing::debug!(written, "done writing");
    if reliable {
        if let Err(e) = writer.wait_for_acknowledgments(seconds(args.linger)).await {
            tracing::warn!("not every subscriber acknowledged within {} s: {e}", args.linger);
        }
    }
    drop(writer);
    drop(p);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ShapeType;

    #[test]
    fn parses_samples_and_lifecycle_lines() {
        let a = parse_action::<ShapeType>(r#"{"color":"BLUE","x":10,"y":20,"shapesize":30}"#, "line 1").unwrap();
        let Action::Write(s) = a else { panic!("expected a write") };
        assert_eq!((s.color.as_str(), s.x, s.y, s.shapesize), ("BLUE", 10, 20, 30));
        let d = parse_action::<ShapeType>(r#"{"dispose":{"color":"RED"}}"#, "line 2").unwrap();
        assert!(matches!(d, Action::Dispose(s) if s.color == "RED"));
        let u = parse_action::<ShapeType>(r#"{"unregister":{"color":"RED"}}"#, "line 3").unwrap();
        assert!(matches!(u, Action::Unregister(s) if s.color == "RED"));
    }

    #[test]
    fn bad_input_names_the_line() {
        let e = parse_action::<ShapeType>("{not json", "line 7").unwrap_err();
        assert!(e.to_string().starts_with("invalid sample on line 7:"), "{e}");
        let e = parse_action::<ShapeType>(r#"{"color":5}"#, "argument 2").unwrap_err();
        assert!(e.to_string().contains("argument 2"), "{e}");
        assert!(parse_action::<ShapeType>("[1,2]", "line 1").is_err());
    }

    #[test]
    fn key_json_has_only_the_key() {
        let s = ShapeType::from_json(serde_json::json!({"color":"GREEN","x":3})).unwrap();
        assert_eq!(s.key_json(), serde_json::json!({"color":"GREEN"}));
    }
}
