//! Accept/reject agreement with Cyclone DDS's `idlc` 0.10.2 (Debian `cyclonedds-tools`), when it is installed.
//! Without `idlc` on PATH the test passes after printing a note.

use std::process::Command;

/// (name, IDL, idlc accepts). Only inputs within idlc 0.10.2's feature set (no bitsets, maps, wstring,
/// long double, interfaces) are listed.
const CASES: &[(&str, &str, bool)] = &[
    ("missing_semicolon", "struct A { long x; }\nstruct B { long y; };", false),
    ("bad_type", "struct A { lng x; };", false),
    ("case_collision", "struct A { long x; };\nstruct a { long y; };", false),
    ("member_collision", "struct A { long value; short Value; };", false),
    ("enumerator_collision", "enum E { A, B };\nenum F { A };", false),
    ("keyword_case", "struct A { long Struct; };", false),
    ("const_overflow", "const octet O = 256;", false),
    ("const_div_zero", "const long X = 1 / (2 - 2);", false),
    ("float_disc", "union U switch (float) { case 1: long a; };", false),
    ("duplicate_label", "union U switch (long) { case 1: long a; case 1: short b; };", false),
    ("duplicate_id", "@mutable struct A { @id(1) long a; @id(1) long b; };", false),
    ("optional_key", "struct A { @key @optional long a; };", false),
    ("wrong_enum_label", "enum E { X, Y };\nenum F { Z };\nunion U switch (E) { case Z: long a; };", false),
    ("shape", "@appendable struct ShapeType { @key string<128> color; int32 x; int32 y; int32 shapesize; sequence<uint8> additional_payload_size; };", true),
    ("union", "enum C { R, G };\nunion U switch (C) { case R: long a; case G: string<5> b; };\nstruct S { U u; @optional long o; };", true),
    ("consts", "const long A = (1 << 4) | 3;\nconst long B = A % 5 * 2 - ~0;\nstruct S { long arr[B]; };", true),
    ("inherit", "struct B { @key long id; };\n@final struct D : B { double v; };", true),
    ("modules", "module m { struct S { long a; }; };\nmodule m { struct T { m::S s; }; };", true),
    ("ids", "@mutable struct M { @id(3) long a; @hashid long b; long c; };", true),
    ("bitmask", "@bit_bound(16) bitmask F { A, @position(9) B };\nstruct S { F f; };", true),
    ("bool_union", "union U switch (boolean) { case TRUE: long a; default: short b; };", true),
];

#[test]
fn agrees_with_idlc() {
    if Command::new("idlc").arg("-v").output().is_err() {
        eprintln!("idlc not installed (apt-get install -y cyclonedds-tools); skipping the comparison");
        return;
    }
    let dir = std::env::temp_dir().join(format!("starling-idl-idlc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut disagreements = Vec::new();
    for (name, src, accepted) in CASES {
        let f = dir.join(format!("{name}.idl"));
        std::fs::write(&f, format!("{src}\n")).expect("write");
        let idlc = Command::new("idlc").args(["-l", "c", "-o"]).arg(&dir).arg(&f).output().expect("run idlc");
        let ours = starling_idl::check(&[&f], &[&dir]).is_ok();
        assert_eq!(idlc.status.success(), *accepted, "{name}: idlc's verdict changed");
        if ours != *accepted {
            disagreements.push(*name);
        }
    }
    assert!(disagreements.is_empty(), "starling-idl disagrees with idlc on {disagreements:?}");
}
