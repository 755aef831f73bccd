//! Malformed IDL: each input is rejected with an exact location and message.

use std::path::PathBuf;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("starling-idl-malformed-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Checks `src` (as `t.idl`, plus extra files) and returns the first error as `line:col: message`.
fn first_error(tag: &str, src: &str, extra: &[(&str, &str)]) -> String {
    let dir = temp_dir(tag);
    for (name, text) in extra {
        std::fs::write(dir.join(name), text).expect("write include");
    }
    let file = dir.join("t.idl");
    std::fs::write(&file, src).expect("write idl");
    let errs = match starling_idl::check(&[&file], &[&dir]) {
        Ok(_) => return "accepted".into(),
        Err(e) => e,
    };
    let e = &errs[0];
    // The rendered form carries the path, location, message, source line and caret.
    let rendered = e.to_string();
    assert!(rendered.starts_with(&format!("{}:{}:{}: error: ", e.path.display(), e.line, e.col)), "{rendered}");
    format!("{}:{}: {}", e.line, e.col, e.message)
}

#[test]
fn malformed_inputs() {
    let cases: &[(&str, &str, &str)] = &[
        ("missing_semicolon", "struct A { long x; }\nstruct B { long y; };", "2:1: expected `;`, found `struct`"),
        ("missing_member_name", "struct A {\n  long ;\n};", "2:8: expected identifier, found `;`"),
        ("bad_type", "struct A {\n  lng x;\n};", "2:3: unknown identifier `lng`"),
        ("unterminated_struct", "struct A {\n  long x;\n", "2:10: expected type, found end of file"),
        (
            "case_collision",
            "struct A { long x; };\nstruct a { long y; };",
            "2:8: identifier collides with `A` (declared at 1:8)",
        ),
        (
            "member_collision",
            "struct A {\n  long value;\n  short Value;\n};",
            "3:9: member `Value` collides with `value` (declared at 2:8)",
        ),
        ("redefinition", "enum E { X };\nstruct E { long y; };", "2:8: `E` redefines `E` (declared at 1:6)"),
        ("bad_bound", "struct A {\n  string<0> s;\n};", "2:10: string bound must be positive, found 0"),
        ("negative_dim", "struct A {\n  long a[-2];\n};", "2:10: array dimension must be positive, found -2"),
        ("const_overflow", "const octet O = 256;", "1:17: value 256 out of range for octet"),
        ("const_div_zero", "const long X = 1 / (2 - 2);", "1:16: overflow or division by zero in `/`"),
        ("const_type_mismatch", "const long X = \"text\";", "1:16: constant value string does not match type long"),
        ("const_cycle", "const long A = B;\nconst long B = A;", "2:16: constant `A` depends on itself"),
        (
            "float_disc",
            "union U switch (float) {\n  case 1: long a;\n};",
            "1:17: union discriminator must be an integer, char, boolean or enum type",
        ),
        (
            "duplicate_label",
            "union U switch (long) {\n  case 1: long a;\n  case 1: short b;\n};",
            "3:8: duplicate case label (also used by `a`)",
        ),
        (
            "two_defaults",
            "union U switch (long) {\n  default: long a;\n  default: short b;\n};",
            "3:18: union has more than one default label",
        ),
        (
            "duplicate_id",
            "@mutable struct A {\n  @id(1) long a;\n  @id(1) long b;\n};",
            "3:15: member id 1 of `b` already used by `a`",
        ),
        ("optional_key", "struct A {\n  @key @optional long a;\n};", "2:23: a key member cannot be @optional"),
        (
            "bad_extensibility",
            "@extensibility(SOMETIMES) struct A { long a; };",
            "1:16: expected FINAL, APPENDABLE or MUTABLE",
        ),
        ("bad_char", "struct A { long a$; };", "1:18: unexpected character `$`"),
        ("unterminated_string", "const string S = \"abc;\n", "1:18: unterminated literal"),
        ("unterminated_comment", "struct A { long a; };\n/* never closed", "2:1: unterminated comment"),
        ("missing_include", "#include \"nothere.idl\"\n", "1:10: cannot find include file `nothere.idl`"),
        ("unterminated_if", "#ifdef X\nstruct A { long a; };\n", "1:1: unterminated conditional directive"),
        ("unknown_directive", "#frobnicate\n", "1:2: unknown preprocessor directive `#frobnicate`"),
        (
            "enum_duplicate_value",
            "enum E {\n  @value(1) A,\n  @value(1) B\n};",
            "3:13: enumerator `B` has the same value as `A`",
        ),
        (
            "bitfield_too_wide",
            "bitset B {\n  bitfield<9, octet> f;\n};",
            "2:12: bitfield of 9 bits does not fit its type",
        ),
        ("not_a_type", "const long C = 1;\nstruct A { C x; };", "2:12: `C` is not a type"),
        ("base_not_struct", "enum E { X };\nstruct A : E { long a; };", "2:12: base `E` is not a defined struct"),
        (
            "wrong_enum_label",
            "enum E { X, Y };\nenum F { Z };\nunion U switch (E) {\n  case Z: long a;\n};",
            "4:8: label is not an enumerator of `E`",
        ),
        ("enumerator_collision", "enum E { A, B };\nenum F { A };", "2:10: `A` redefines `A` (declared at 1:10)"),
        ("keyword_case", "struct A {\n  long Struct;\n};", "2:8: identifier `Struct` collides with keyword `struct`"),
        (
            "any_type",
            "struct A {\n  any a;\n};",
            "2:3: type `any` cannot be used: DDS-XTypes 1.3 defines no TypeKind and no XCDR encoding for it (a \
             self-describing CORBA value); use a union or a sequence<octet> instead",
        ),
        (
            "object_type",
            "struct A { Object o; };",
            "1:12: type `Object` cannot be used: it is a CORBA object reference, which DDS data cannot carry",
        ),
        (
            "fixed_digits",
            "struct A {\n  fixed<32, 2> f;\n};",
            "2:9: fixed-point types have at most 31 digits, found 32",
        ),
        ("fixed_scale", "struct A {\n  fixed<5, 6> f;\n};", "2:12: fixed-point scale must be between 0 and 5, found 6"),
        ("fixed_zero", "struct A {\n  fixed<0, 0> f;\n};", "2:9: fixed-point digit count must be positive, found 0"),
        (
            "fixed_const",
            "const fixed F = 1.5d;",
            "1:7: `fixed` needs its digits and scale (`fixed<digits, scale>`); fixed-point constants are not \
             supported",
        ),
        (
            "abstract_value",
            "abstract valuetype V { };",
            "1:1: abstract valuetypes are not supported: they have no state members, so no DDS data type",
        ),
        (
            "custom_value",
            "custom valuetype V { public long a; };",
            "1:1: custom valuetypes are not supported: their application-defined marshaling has no XTypes \
             representation",
        ),
        (
            "value_operation",
            "valuetype V {\n  public long a;\n  long get();\n};",
            "3:3: valuetype operations and attributes are not supported (found `long`): only state members \
             (`public`/`private`) are DDS data",
        ),
        (
            "value_attribute",
            "valuetype V {\n  attribute long a;\n};",
            "2:3: valuetype operations and attributes are not supported (found `attribute`): only state members \
             (`public`/`private`) are DDS data",
        ),
        (
            "value_box",
            "valuetype B long;",
            "1:13: value boxes are not supported (found `long` after `valuetype B`): use a typedef or an @optional \
             member",
        ),
        (
            "truncatable",
            "valuetype A { public long a; };\nvaluetype B : truncatable A { public long b; };",
            "2:15: truncatable valuetypes are not supported: XTypes has no truncatable inheritance (use @appendable \
             or @mutable for evolution)",
        ),
        (
            "value_supports",
            "interface I { };\nvaluetype V supports I { public long a; };",
            "2:13: `supports` is not supported: interfaces are not DDS data",
        ),
        (
            "value_two_bases",
            "valuetype A { public long a; };\nvaluetype B { public long b; };\nvaluetype C : A, B { public long c; };",
            "3:16: a valuetype may have only one base here: XTypes structs have single inheritance",
        ),
        (
            "value_nested",
            "valuetype V {\n  struct S { long a; };\n};",
            "2:3: declarations inside a valuetype are not supported (found `struct`): declare the type in the \
             enclosing module",
        ),
        (
            "value_member_collision",
            "valuetype A { public long a; };\nvaluetype B : A {\n  private short A;\n};",
            "3:17: member `A` collides with a base member",
        ),
    ];
    let mut failures = Vec::new();
    for (tag, src, want) in cases {
        let got = first_error(tag, src, &[]);
        if got != *want {
            failures.push(format!("{tag}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn include_cycle_is_detected() {
    let got = first_error(
        "cycle",
        "#include \"a.idl\"\n",
        &[("a.idl", "#include \"b.idl\"\n"), ("b.idl", "#include \"a.idl\"\n")],
    );
    assert!(got.starts_with("1:10: #include cycle: "), "{got}");
}

#[test]
fn include_guards_and_defines_work() {
    let guard = "#ifndef G\n#define G\n#define N 4\nstruct S { long a[N]; };\n#endif\n";
    let src = "#include \"g.idl\"\n#include \"g.idl\"\n#if defined(G) && N == 4\nstruct T { S s; };\n#else\n#error no\n#endif\n";
    assert_eq!(first_error("guard", src, &[("g.idl", guard)]), "accepted");
}

#[test]
fn unknown_annotations_warn() {
    let dir = temp_dir("warn");
    let file = dir.join("w.idl");
    std::fs::write(&file, "struct A {\n  @frobnicate long a;\n};\n").expect("write");
    let model = starling_idl::check(&[&file], &[&dir]).expect("accepted");
    assert_eq!(model.warnings.len(), 1);
    let w = &model.warnings[0];
    assert_eq!((w.line, w.col, w.message.as_str()), (2, 3, "unknown annotation @frobnicate ignored"));
    assert!(w.to_string().contains("warning: unknown annotation"));
    assert!(w.to_string().ends_with("  @frobnicate long a;\n  ^"), "{w}");
}
