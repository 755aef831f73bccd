//! The preprocessor: function-like macros (arguments, `#`, `##`, `...`), continued directive lines, macros in
//! `#if`, and the errors of malformed macros with their locations.

use std::path::PathBuf;

use starling_idl::ast::Prim;
use starling_idl::model::{ItemKind, Type, Value};
use starling_idl::Model;

fn check(tag: &str, src: &str) -> Result<Model, String> {
    let dir = std::env::temp_dir().join(format!("starling-idl-pp-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file: PathBuf = dir.join("t.idl");
    std::fs::write(&file, src).expect("write idl");
    starling_idl::check(&[&file], &[&dir]).map_err(|errs| {
        let e = &errs[0];
        format!("{}:{}: {}", e.line, e.col, e.message)
    })
}

fn fields(model: &Model, name: &str) -> Vec<(String, Type)> {
    match model.get(name).map(|i| &i.kind) {
        Some(ItemKind::Struct(s)) => s.fields.iter().map(|f| (f.name.clone(), f.ty.clone())).collect(),
        other => panic!("{name} is not a struct: {other:?}"),
    }
}

#[test]
fn function_like_macros_expand() {
    let src = "\
#define DIM(a, b) ((a) * (b))
#define ARRAY(T, name, n) T name[n]
#define FIELD(T, n) T field_##n;
#define NAME(x) #x
#define LONG_MACRO(T, \\
                   n) \\
    T n;
#define STRUCT(name, ...) struct name { __VA_ARGS__ };
#define EMPTY() short
#define id(x) x
struct S {
  ARRAY(long, values, DIM(2, 3));
  FIELD(short, 1)
  FIELD(octet, 2)
  LONG_MACRO(double,
             spread)
  EMPTY() e;
  long id;
};
STRUCT(V, long a, b; string<DIM(4, 2)> s;)
const string TEXT = NAME(hello   world::x);
const long ID = id(7);
";
    let model = check("fn", src).expect("accepted");
    let s = fields(&model, "S");
    let want = vec![
        ("values".to_string(), Type::Array(Box::new(Type::Prim(Prim::I32)), vec![6])),
        ("field_1".to_string(), Type::Prim(Prim::I16)),
        ("field_2".to_string(), Type::Prim(Prim::Octet)),
        ("spread".to_string(), Type::Prim(Prim::F64)),
        ("e".to_string(), Type::Prim(Prim::I16)),
        // A function-like macro's name without `(` is an ordinary identifier.
        ("id".to_string(), Type::Prim(Prim::I32)),
    ];
    assert_eq!(s, want);
    let v = fields(&model, "V");
    assert_eq!(
        v,
        vec![
            ("a".to_string(), Type::Prim(Prim::I32)),
            ("b".to_string(), Type::Prim(Prim::I32)),
            ("s".to_string(), Type::String { wide: false, bound: Some(8) }),
        ]
    );
    let cons = |n: &str| match model.get(n).map(|i| &i.kind) {
        Some(ItemKind::Const(_, v)) => v.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(cons("TEXT"), Value::Str("hello world::x".into()));
    assert_eq!(cons("ID"), Value::Int(7));
}

#[test]
fn macros_in_conditionals_and_nested_arguments() {
    let src = "\
#define ADD(a, b) ((a) + (b))
#define TWICE(x) ADD(x, x)
#define SEL(c) HAVE_##c
#define HAVE_X 1
#if TWICE(ADD(1, 2)) == 6 && SEL(X)
struct Yes { long a[TWICE(2)]; };
#else
#error arithmetic
#endif
#if defined(ADD) && !defined(SUB)
struct Also { long b; };
#endif
#undef ADD
#ifdef ADD
#error undef
#endif
";
    let model = check("cond", src).expect("accepted");
    assert_eq!(fields(&model, "Yes"), vec![("a".into(), Type::Array(Box::new(Type::Prim(Prim::I32)), vec![4]))]);
    assert!(model.get("Also").is_some());
}

#[test]
fn recursive_macros_stop() {
    // A macro's name inside its own expansion is left alone (no endless expansion).
    let src = "#define long long\n#define F(x) F(x) x\nstruct S { long F(a); };\n";
    // `F(a)` becomes `F(a) a`: the inner `F` is not expanded again, so the parser sees `F(` and stops there.
    let got = check("rec", src).expect_err("rejected");
    assert_eq!(got, "3:17: expected `;`, found `(`");
}

#[test]
fn malformed_macros_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        ("argc", "#define F(a, b) a b\nstruct S {\n  F(long) x;\n};", "3:3: macro `F` takes 2 arguments, 1 given"),
        ("argc0", "#define F() long\nstruct S { F(1) x; };", "2:12: macro `F` takes 0 arguments, 1 given"),
        (
            "variadic_few",
            "#define F(a, b, ...) a b\nstruct S { F(long) x; };",
            "2:12: macro `F` takes at least 2 arguments, 1 given",
        ),
        (
            "unterminated",
            "#define F(a) a\nstruct S { F(long x; };\n",
            "2:12: unterminated argument list invoking macro `F`",
        ),
        (
            "bad_param",
            "#define F(a, 2) a\n",
            "1:14: expected a parameter name in the parameters of macro `F`, found integer literal `2`",
        ),
        ("dup_param", "#define F(a, a) a\n", "1:14: duplicate macro parameter `a`"),
        ("unclosed_params", "#define F(a b\n", "1:13: expected `,` or `)` in the parameters of macro `F`, found `b`"),
        ("paste_end", "#define F(a) a ##\n", "1:17: `##` cannot end a macro's replacement list"),
        (
            "stringize",
            "#define F(a) # 1\nconst string s = F(x);",
            "2:18: `#` in a macro must be followed by a parameter",
        ),
        (
            "bad_paste",
            "#define P(a, b) a ## b\nconst long x = P(1, +);",
            "2:16: pasting gives `1+`, which is not a single token",
        ),
    ];
    let mut failures = Vec::new();
    for (tag, src, want) in cases {
        let got = match check(tag, src) {
            Ok(_) => "accepted".to_string(),
            Err(e) => e,
        };
        if got != *want {
            failures.push(format!("{tag}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
