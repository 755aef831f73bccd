use super::*;
use serde_json::json;

/// A sample with an enum field, to test enum resolution.
struct Shape {
    color: &'static str,
    kind: (&'static str, i64),
}

impl FilterValue for Shape {
    fn field(&self, path: &[PathSegment]) -> Option<Value> {
        match path {
            [PathSegment::Member(m)] if m == "color" => Some(Value::String(self.color.into())),
            [PathSegment::Member(m)] if m == "kind" => Some(Value::Enum(self.kind.0.into(), self.kind.1)),
            _ => None,
        }
    }
}

fn sample() -> serde_json::Value {
    json!({
        "color": "RED", "x": 150, "y": -20, "size": 2.5, "on": true, "big": u64::MAX,
        "pos": {"inner": {"z": 7}}, "arr": [10, 20, 30], "pts": [{"x": 1}, {"x": 2}],
        "name": "it's", "empty": ""
    })
}

fn eval(expr: &str) -> bool {
    Filter::new(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .evaluate(&sample())
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn parse_err(expr: &str) -> String {
    Filter::new(expr).expect_err(expr).to_string()
}

#[test]
fn comparisons() {
    for (e, want) in [
        ("x = 150", true),
        ("x == 150", true),
        ("x <> 150", false),
        ("x != 151", true),
        ("x < 151", true),
        ("x <= 150", true),
        ("x > 150", false),
        ("x >= 150", true),
        ("150 = x", true),
        ("100 < x", true),
        ("y = -20", true),
        ("y < -19.5", true),
        ("size > 2", true),
        ("size = 2.5", true),
        ("size < 2.5e0", false),
        ("x = 0x96", true),
        ("big > 0", true),
        ("big = 18446744073709551615", true),
        ("y < big", true),
        ("x > y", true),
        ("color = 'RED'", true),
        ("color <> 'BLUE'", true),
        ("color < 'S'", true),
        ("on = TRUE", true),
        ("on = false", false),
        ("pos.inner.z = 7", true),
        ("arr[1] = 20", true),
        ("arr[2] > arr[0]", true),
        ("pts[1].x = 2", true),
        ("name = 'it''s'", true),
        ("empty = ''", true),
    ] {
        assert_eq!(eval(e), want, "{e}");
    }
}

#[test]
fn logic_and_precedence() {
    for (e, want) in [
        ("x > 100 AND color = 'RED'", true),
        ("x > 100 and color = 'BLUE'", false),
        ("x < 100 OR color = 'RED'", true),
        // AND binds tighter than OR: true OR (false AND false)
        ("color = 'RED' OR x < 0 AND y > 0", true),
        ("(color = 'RED' OR x < 0) AND y > 0", false),
        // NOT binds tighter than AND.
        ("NOT x < 0 AND y < 0", true),
        ("NOT (x > 0 AND y < 0)", false),
        ("NOT NOT x = 150", true),
        ("((x = 150))", true),
    ] {
        assert_eq!(eval(e), want, "{e}");
    }
}

#[test]
fn between_and_like() {
    for (e, want) in [
        ("x BETWEEN 100 AND 200", true),
        ("x BETWEEN 150 AND 150", true),
        ("x BETWEEN 151 AND 200", false),
        ("x NOT BETWEEN 151 AND 200", true),
        ("x BETWEEN 100 AND 200 AND color = 'BLUE'", false),
        ("size BETWEEN 2 AND 3", true),
        ("color LIKE 'R%'", true),
        ("color LIKE 'R_D'", true),
        ("color LIKE 'R_'", false),
        ("color LIKE '%E%'", true),
        ("color LIKE '%'", true),
        ("color LIKE 'red'", false),
        ("color NOT LIKE 'B%'", true),
        ("empty LIKE '%'", true),
        ("empty LIKE '_'", false),
    ] {
        assert_eq!(eval(e), want, "{e}");
    }
    assert!(like("a%b_c", "axxxbyc"));
    assert!(!like("a%b_c", "axxxbc"));
    assert!(like("%%", ""));
}

#[test]
fn parameters() {
    let mut f = Filter::with_parameters("x > %0 AND color = %1", &["100", "'RED'"]).unwrap();
    assert!(f.matches(&sample()));
    f.set_parameters(&["200", "RED"]).unwrap();
    assert!(!f.matches(&sample()));
    f.set_parameters(&["0x10", "RED"]).unwrap();
    assert!(f.matches(&sample()), "an unquoted parameter is a string");
    assert_eq!(f.parameters(), ["0x10", "RED"]);
    let e = f.set_parameters(&["1"]).unwrap_err();
    assert_eq!(e.to_string(), "the expression uses %1 but 1 parameter(s) are set");
    assert_eq!(f.parameters(), ["0x10", "RED"], "a failed set changes nothing");
    let g = Filter::new("x = %0").unwrap();
    assert_eq!(g.evaluate(&sample()), Err(FilterError::MissingParameter { index: 0, given: 0 }));
    let h = Filter::with_parameters("on = %0 AND size < %1", &["TRUE", "3.5"]).unwrap();
    assert!(h.matches(&sample()));
    assert_eq!(h.expression(), "on = %0 AND size < %1");
}

#[test]
fn enums_by_name() {
    let s = Shape { color: "GREEN", kind: ("CIRCLE", 1) };
    let f = |e: &str| Filter::new(e).unwrap().evaluate(&s);
    assert_eq!(f("kind = CIRCLE"), Ok(true));
    assert_eq!(f("CIRCLE = kind"), Ok(true));
    assert_eq!(f("kind <> SQUARE"), Ok(true));
    assert_eq!(f("kind = 'CIRCLE'"), Ok(true));
    assert_eq!(f("kind = 1"), Ok(true));
    assert_eq!(f("kind > 0"), Ok(true));
    assert_eq!(f("kind LIKE 'CIR%'"), Ok(true));
    // A bare name compared with a string field is its text (JSON has no enums).
    assert_eq!(f("color = GREEN"), Ok(true));
    assert!(matches!(f("kind < SQUARE"), Err(FilterError::TypeMismatch { .. })));
    let p = Filter::with_parameters("kind = %0", &["CIRCLE"]).unwrap();
    assert!(p.matches(&s));
}

#[test]
fn missing_fields_are_unknown() {
    assert!(!eval("nope = 1"));
    assert!(!eval("NOT nope = 1"), "unknown stays unknown under NOT");
    assert!(eval("nope = 1 OR x = 150"));
    assert!(!eval("nope = 1 AND x = 150"));
    assert!(!eval("pos.missing = 1"));
    assert!(!eval("NOT pos.missing = 1"));
    assert!(!eval("arr[9] = 1"));
    assert!(!eval("pos = 1"), "objects are not scalars");
    assert!(!eval("nope BETWEEN 1 AND 2"));
}

#[test]
fn type_mismatches() {
    let f = |e: &str| Filter::new(e).unwrap().evaluate(&sample());
    assert_eq!(
        f("color > 5"),
        Err(FilterError::TypeMismatch { left: "string 'RED'".into(), op: ">".into(), right: "integer 5".into() })
    );
    assert_eq!(f("x = 'RED'").unwrap_err().to_string(), "cannot compare integer 150 = string 'RED'");
    assert!(f("on = 1").is_err());
    assert!(f("x LIKE '1%'").is_err());
    assert!(!Filter::new("color > 5").unwrap().matches(&sample()));
}

#[test]
fn error_positions() {
    for (e, msg) in [
        ("x > 100 AND color >", "col 20: expected a value after '>'"),
        ("x >", "col 4: expected a value after '>'"),
        ("", "col 1: empty filter expression"),
        ("x", "col 2: expected a comparison operator (=, <>, <, <=, >, >=, LIKE, BETWEEN) after 'x', found the end of the expression"),
        ("x = 1 y = 2", "col 7: expected AND, OR or the end of the expression, found 'y'"),
        ("(x = 1", "col 7: expected ')' to close the '(' at col 1, found the end of the expression"),
        ("x = 'abc", "col 5: unterminated string literal"),
        ("x = #", "col 5: unexpected character '#'"),
        ("x BETWEEN 1 OR 2", "col 13: expected AND in BETWEEN, found 'OR'"),
        ("x NOT = 1", "col 7: expected BETWEEN or LIKE after NOT, found '='"),
        ("x = 12abc", "col 5: invalid number '12abc'"),
        ("a. = 1", "col 4: expected a member name after '.'"),
        ("a[x] = 1", "col 3: expected a non-negative array index after '['"),
        ("a[1 = 1", "col 5: expected ']' after the array index"),
        ("x = % ", "col 5: expected a parameter number after '%'"),
        ("AND x = 1", "col 1: expected a field name or a value, found 'AND'"),
        ("x = 1 AND", "col 10: expected a field name or a value, found the end of the expression"),
        ("x LIKE", "col 7: expected a value after 'LIKE'"),
    ] {
        assert_eq!(parse_err(e), msg, "{e}");
    }
    assert_eq!(
        Filter::new("x >").unwrap_err(),
        FilterError::Parse { col: 4, message: "expected a value after '>'".into() }
    );
}

#[test]
fn from_str() {
    let f: Filter = "x = 150".parse().unwrap();
    assert!(f.matches(&sample()));
}

mod dynamic_samples {
    use crate::filter::{projection, DynamicSample, Filter};
    use starling_proto::cdr::encode_sample;
    use starling_proto::qos::{XCDR1, XCDR2};
    use starling_proto::wire::Endian;
    use starling_proto::xtypes::{self, DynamicType, DynamicValue, EnumType, Extensibility, StructType};

    fn shape(color: &str, x: i32, size: i32, extra: usize) -> crate::types::ShapeType {
        crate::types::ShapeType {
            color: color.into(),
            x,
            y: 7,
            shapesize: size,
            additional_payload_size: vec![1; extra],
        }
    }

    /// The dynamic form gives the same answers as the JSON form, and a projected decode (only the members the
    /// filter names) the same as a full one, in both XCDR versions.
    #[test]
    fn dynamic_and_projected_agree_with_json() {
        let ty = crate::dynamic::shape_type();
        let exprs = [
            "x > 10 AND color = 'RED'",
            "shapesize BETWEEN 10 AND 20 OR color LIKE 'B%'",
            "NOT (y = 7)",
            "additional_payload_size[0] = 1",
            "color <> 'RED' AND x < %0",
        ];
        let samples = [shape("RED", 11, 5, 0), shape("BLUE", 3, 15, 100), shape("RED", 20, 30, 3)];
        for e in exprs {
            let f = Filter::with_parameters(e, &["5"]).unwrap();
            let proj = projection(&ty, &f);
            for s in &samples {
                let json = serde_json::to_value(s).unwrap();
                for rep in [XCDR1, XCDR2] {
                    let mut payload = Vec::new();
                    encode_sample(s, rep, Endian::Little, &mut payload).unwrap();
                    let full = xtypes::decode(&ty, &payload).unwrap();
                    let projected = xtypes::decode_projected(&ty, &payload, &proj).unwrap();
                    let want = f.matches(&json);
                    assert_eq!(f.matches(&DynamicSample::new(&ty, &full)), want, "{e} on {s:?}");
                    assert_eq!(f.matches(&DynamicSample::new(&ty, &projected)), want, "{e} on {s:?} (projected)");
                }
            }
        }
    }

    /// Nested members, enums by name, and a member after a skipped nested struct.
    #[test]
    fn nested_members_and_enums() {
        let level = EnumType::new("Level").literal("LOW").literal("HIGH").build();
        let point = StructType::new("Point", Extensibility::Final)
            .member("x", DynamicType::int32())
            .member("label", DynamicType::string(0))
            .build();
        let ty = StructType::new("Reading", Extensibility::Appendable)
            .member("origin", point.clone())
            .member("level", level)
            .member("tip", point)
            .member("name", DynamicType::string(0))
            .build();
        let p = |x: i32, l: &str| {
            DynamicValue::Struct(vec![Some(DynamicValue::Int32(x)), Some(DynamicValue::String(l.into()))])
        };
        let v = DynamicValue::Struct(vec![
            Some(p(1, "a")),
            Some(DynamicValue::Enum(1)),
            Some(p(5, "tip")),
            Some(DynamicValue::String("r1".into())),
        ]);
        for (e, want) in [
            ("tip.x = 5 AND name = 'r1'", true),
            ("level = HIGH", true),
            ("level = 'LOW'", false),
            ("origin.label = 'a' AND tip.label LIKE 't%'", true),
            ("origin.x > tip.x", false),
        ] {
            let f = Filter::new(e).unwrap();
            assert_eq!(f.matches(&DynamicSample::new(&ty, &v)), want, "{e}");
            let proj = projection(&ty, &f);
            for rep in [XCDR1, XCDR2] {
                let mut payload = Vec::new();
                xtypes::encode(&ty, &v, rep, Endian::Little, &mut payload).unwrap();
                let projected = xtypes::decode_projected(&ty, &payload, &proj).unwrap();
                assert_eq!(f.matches(&DynamicSample::new(&ty, &projected)), want, "{e} (projected)");
            }
        }
    }
}
