//! Publishes and subscribes `sensors::Reading` samples, a type generated from `idl/sensors.idl` by `build.rs`.
//!
//! ```sh
//! cargo run -p starling-example-sensors -- sub --interface lo &   # prints what arrives
//! cargo run -p starling-example-sensors -- pub --interface lo     # writes 10 readings of 2 sensors
//! cargo run -p starling-example-sensors -- both --interface lo    # both in one process
//! ```
//!
//! `starling sub SensorReadings --idl idl/sensors.idl --type sensors::Reading` reads the same topic as JSON,
//! and a Cyclone DDS application with the same IDL interoperates.

use starling::dds::DomainParticipant;
use starling_example_sensors::sensors::{Reading, Unit};
use std::time::Duration;

const TOPIC: &str = "SensorReadings";
const COUNT: i64 = 10;

fn usage() -> ! {
    eprintln!("usage: starling-example-sensors pub|sub|both [--interface NAME|ADDR] [--domain N]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let (mut interface, mut domain) = ("lo".to_string(), 0u32);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--interface" => interface = args.next().unwrap_or_else(|| usage()),
            "--domain" => domain = args.next().and_then(|d| d.parse().ok()).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let (publish, subscribe) = match mode.as_str() {
        "pub" => (true, false),
        "sub" => (false, true),
        "both" => (true, true),
        _ => usage(),
    };
    let dp = DomainParticipant::builder(domain).interface(interface).build()?;
    let topic = dp.create_topic::<Reading>(TOPIC);
    // Reliable, KEEP_ALL readers and writers so that every reading arrives.
    let mut rq = starling::qos::EndpointQos::reader_any_representation();
    rq.reliability = starling::qos::Reliability::reliable();
    rq.history = starling::qos::History::KeepAll;
    let reader = if subscribe { Some(dp.create_datareader(&topic, Some(rq))?) } else { None };
    if publish {
        let mut wq = starling::qos::EndpointQos::writer_default();
        wq.history = starling::qos::History::KeepAll;
        let writer = dp.create_datawriter(&topic, Some(wq))?;
        writer.wait_for_subscribers(1, Duration::from_secs(30)).await?;
        for i in 0..COUNT {
            let r = Reading {
                sensor_id: format!("sensor-{}", i % 2),
                timestamp_ns: 1_700_000_000_000_000_000 + i * 1_000_000,
                value: 20.0 + i as f64 / 4.0,
                unit: Unit::CELSIUS,
                note: (i == 0).then(|| "first".to_string()),
            };
            writer.write(&r)?;
        }
        writer.wait_for_acknowledgments(Duration::from_secs(10)).await?;
        println!("wrote {COUNT} readings");
    }
    if let Some(reader) = reader {
        let mut got = 0;
        while got < COUNT {
            let s = tokio::time::timeout(Duration::from_secs(60), reader.take_next()).await??;
            if let (true, Some(r)) = (s.info.valid_data, s.data) {
                println!("{} {:>6.2} {:?} {}", r.sensor_id, r.value, r.unit, r.note.as_deref().unwrap_or(""));
                got += 1;
            }
        }
    }
    Ok(())
}
