//! Parses an arbitrary datagram, iterates over all submessages and walks the inline QoS of every DATA and
//! DATA_FRAG. Nothing may panic and the iteration must end.
use starling_proto::wire::{parse, Submessage};

/// Runs one input; panics on a bug.
pub fn run(datagram: &[u8]) {
    let Ok((_header, submessages)) = parse(datagram) else {
        return;
    };
    let mut count = 0usize;
    for sub in submessages {
        count += 1;
        // Every submessage takes at least its 4-byte header, plus one final error.
        assert!(count <= datagram.len() / 4 + 1);
        let qos = match sub {
            Ok(Submessage::Data(d)) => {
                if let Some(p) = d.serialized_payload {
                    std::hint::black_box(p.len());
                }
                d.inline_qos
            }
            Ok(Submessage::DataFrag(d)) => {
                std::hint::black_box(d.data.len());
                d.inline_qos
            }
            _ => None,
        };
        if let Some(list) = qos {
            for param in list.iter() {
                std::hint::black_box(&param);
            }
        }
    }
}
