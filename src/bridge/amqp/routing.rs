//! Exchange matching rules: topic patterns and headers-exchange bindings.

use amq_protocol::types::{AMQPValue, FieldTable};

/// Does the topic binding key `pattern` match `key`? Words are separated by `.`; `*` matches
/// exactly one word and `#` zero or more words.
#[must_use]
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if key.is_empty() { Vec::new() } else { key.split('.').collect() };
    let p: Vec<&str> = if pattern.is_empty() { Vec::new() } else { p };
    // reach[j]: the first i pattern words can match the first j key words.
    let mut reach = vec![false; k.len() + 1];
    reach[0] = true;
    for w in &p {
        let mut next = vec![false; k.len() + 1];
        match *w {
            "#" => {
                let mut any = false;
                for j in 0..=k.len() {
                    any |= reach[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 0..k.len() {
                    if reach[j] && (*w == "*" || *w == k[j]) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[k.len()]
}

/// A comparable form of a header value: integers of every width compare equal by value and
/// short/long strings compare by bytes, as RabbitMQ does.
#[derive(PartialEq)]
enum Norm<'a> {
    Int(i128),
    Bytes(&'a [u8]),
    Other(&'a AMQPValue),
}

fn norm(v: &AMQPValue) -> Norm<'_> {
    match v {
        AMQPValue::ShortShortInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::ShortShortUInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::ShortInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::ShortUInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::LongInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::LongUInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::LongLongInt(x) => Norm::Int(i128::from(*x)),
        AMQPValue::ShortString(s) => Norm::Bytes(s.as_str().as_bytes()),
        AMQPValue::LongString(s) => Norm::Bytes(s.as_bytes()),
        other => Norm::Other(other),
    }
}

/// The `x-match` mode of a headers binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XMatch {
    /// Every binding header must match (the default).
    All,
    /// At least one binding header must match.
    Any,
    /// Like `All`, counting `x-` headers too.
    AllWithX,
    /// Like `Any`, counting `x-` headers too.
    AnyWithX,
}

/// Reads `x-match` from binding arguments; `Err` for an unknown value.
pub fn x_match(args: &FieldTable) -> Result<XMatch, String> {
    match args.inner().get("x-match") {
        None => Ok(XMatch::All),
        Some(v) => match norm(v) {
            Norm::Bytes(b"all") => Ok(XMatch::All),
            Norm::Bytes(b"any") => Ok(XMatch::Any),
            Norm::Bytes(b"all-with-x") => Ok(XMatch::AllWithX),
            Norm::Bytes(b"any-with-x") => Ok(XMatch::AnyWithX),
            _ => Err(format!("invalid x-match field value {v:?}; expected all, any, all-with-x, or any-with-x")),
        },
    }
}

/// Does a message with `headers` match a headers-exchange binding with `args`? A binding value
/// of void matches any value of that header.
#[must_use]
pub fn headers_match(args: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let mode = x_match(args).unwrap_or(XMatch::All);
    let with_x = matches!(mode, XMatch::AllWithX | XMatch::AnyWithX);
    let empty = FieldTable::default();
    let headers = headers.unwrap_or(&empty).inner();
    let mut considered = args.inner().iter().filter(|(k, _)| k.as_str() != "x-match");
    let hit = |(k, v): (&amq_protocol::types::ShortString, &AMQPValue)| {
        if !with_x && k.as_str().starts_with("x-") {
            return None;
        }
        Some(match headers.get(k) {
            None => false,
            Some(h) => matches!(v, AMQPValue::Void) || norm(v) == norm(h),
        })
    };
    match mode {
        XMatch::All | XMatch::AllWithX => considered.all(|kv| hit(kv).unwrap_or(true)),
        XMatch::Any | XMatch::AnyWithX => considered.any(|kv| hit(kv).unwrap_or(false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic() {
        let cases = [
            ("a.b.c", "a.b.c", true),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.c", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("#", "", true),
            ("#", "x.y", true),
            ("#.c", "c", true),
            ("#.c", "a.b.c", true),
            ("#.c", "a.b.d", false),
            ("*", "", false),
            ("*", "a", true),
            ("*.*", "a", false),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.x.y.c", true),
            ("a.#.#.c", "a.c", true),
            ("*.#", "a", true),
            ("*.#", "", false),
            ("", "", true),
            ("", "a", false),
            ("a..b", "a..b", true),
            ("a.*.b", "a..b", true),
            ("dds.#", "dds.DemoTopic", true),
        ];
        for (p, k, want) in cases {
            assert_eq!(topic_matches(p, k), want, "{p} vs {k}");
        }
        // Many '#' stay linear-ish, no blow-up.
        let p = "#.".repeat(50) + "z";
        let k = "a.".repeat(200) + "b";
        assert!(!topic_matches(&p, &k));
    }

    fn table(kv: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in kv {
            t.insert((*k).into(), v.clone());
        }
        t
    }

    #[test]
    fn headers() {
        let s = |x: &str| AMQPValue::LongString(x.into());
        let msg = table(&[("format", s("pdf")), ("type", s("report")), ("n", AMQPValue::ShortShortInt(5))]);
        let all = table(&[("x-match", s("all")), ("format", s("pdf")), ("type", s("report"))]);
        let all_miss = table(&[("format", s("pdf")), ("type", s("log"))]);
        let any = table(&[("x-match", s("any")), ("format", s("zip")), ("type", s("report"))]);
        let any_miss = table(&[("x-match", s("any")), ("format", s("zip"))]);
        let int_wide = table(&[("n", AMQPValue::LongLongInt(5))]);
        let void = table(&[("type", AMQPValue::Void)]);
        let xkey = table(&[("x-foo", s("1")), ("format", s("pdf"))]);
        assert!(headers_match(&all, Some(&msg)));
        assert!(!headers_match(&all_miss, Some(&msg)));
        assert!(headers_match(&any, Some(&msg)));
        assert!(!headers_match(&any_miss, Some(&msg)));
        assert!(headers_match(&int_wide, Some(&msg)));
        assert!(headers_match(&void, Some(&msg)));
        assert!(headers_match(&xkey, Some(&msg)));
        assert!(!headers_match(&all, None));
        assert!(headers_match(&FieldTable::default(), None));
        assert!(x_match(&table(&[("x-match", s("some"))])).is_err());
    }
}
