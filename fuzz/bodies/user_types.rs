//! Decodes arbitrary bytes as serialized samples of user types (dynamic types compiled from IDL: `idl/sensors.idl`,
//! a set of types below covering every extensibility and collection kind, and the shared IDL corpus when it is
//! next to the repository), in whatever encapsulation the bytes announce (XCDR1/XCDR2, plain, delimited or
//! parameter list, either byte order), as a full sample and as a key payload.
//!
//! The first two input bytes (little endian) pick the type; the rest is the payload with its encapsulation header. Nothing may
//! panic, and what decodes must round-trip: re-encoding the value in the payload's representation and byte
//! order, decoding that and encoding again gives the same bytes (bytes, not values, so that NaNs compare), and
//! the key hash of a decoded value can be computed.
use starling_proto::cdr::split_encapsulation;
use starling_proto::wire::Endian;
use starling_proto::xtypes::{self, DynamicType, DynamicValue};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Types with every shape the codec handles: final/appendable/mutable structs and unions, keys, optionals,
/// bounded and unbounded strings and sequences, arrays, maps, enums with bit bounds, bitmasks, bitsets,
/// `fixed`, inheritance and explicit member ids.
const TYPES_IDL: &str = r#"
module fz {
  enum Color { RED, GREEN, BLUE };
  @bit_bound(8) enum Small { A, B, C };
  @bit_bound(16) bitmask Flags { F0, F1, F2 };
  bitset Bits { bitfield<3> a; bitfield<5> b; bitfield<12, long> c; };
  @final struct Point { int16 x; int64 y; };
  @appendable struct Inner { @key int32 id; string<8> tag; };
  @mutable struct Deep { @id(5) double d; @optional Inner inner; sequence<Point, 3> pts; };
  union U switch (int32) { case 1: int32 a; case 2: case 3: string s; default: Color c; };
  @mutable union MU switch (Small) { case A: int64 a; case B: sequence<octet> b; };
  @final struct F {
    @key uint32 id; boolean b; char c; wchar wc; int8 i8; uint8 u8; octet o; uint16 u16; uint64 u64;
    float f; double dd; long double ld; string s; wstring ws; Color col; Small sm; Flags fl; Bits bits;
    fixed<7, 3> money; Point arr[2][3]; sequence<sequence<int32, 4>> nested; map<string, Point, 4> m;
  };
  @appendable struct Agg {
    @key string<16> name; @key Small sm; @optional int32 o; U u; MU mu; sequence<Inner> inners;
    map<int16, string> m; Deep deep; wstring<4> w; @optional sequence<double, 2> ds;
  };
  @mutable struct M {
    @key @id(10) int64 id; @optional string<32> text; Color col; sequence<U> us; Agg a; @optional Point p;
    @must_understand int32 mu;
  };
  @appendable struct Base { @key int32 k; string s; };
  @appendable struct Derived : Base { double v; @optional Base b; };
};
"#;

fn model_from_str(name: &str, idl: &str) -> Result<starling_idl::Model, String> {
    use starling_idl::{diag, lexer, model, parser};
    let mut sources = diag::SourceMap::default();
    let file = sources.add(PathBuf::from(name), idl.to_string());
    let toks = lexer::lex(sources.text(file), file).map_err(|(sp, m)| format!("{:?}", sources.error(sp, m)))?;
    let defs = parser::Parser::new(toks).specification().map_err(|(sp, m)| format!("{:?}", sources.error(sp, m)))?;
    model::resolve(&sources, &defs, Default::default()).map_err(|e| format!("{e:?}"))
}

fn struct_and_union_types(model: &starling_idl::Model, out: &mut Vec<DynamicType>) {
    for item in &model.items {
        if matches!(item.kind, starling_idl::model::ItemKind::Struct(_) | starling_idl::model::ItemKind::Union(_)) {
            if let Ok(t) = starling::dynamic::from_idl(model, &item.scoped()) {
                out.push(t);
            }
        }
    }
}

/// The IDL corpus next to the repository (`../shared/idl-corpus`), from the root crate or from `fuzz/`.
fn corpus_dir() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [here.join("../shared/idl-corpus/dds-types-test/IDL"), here.join("../../shared/idl-corpus/dds-types-test/IDL")]
        .into_iter()
        .find(|d| d.is_dir())
}

/// Every type the target decodes, compiled once.
pub fn types() -> &'static [DynamicType] {
    static TYPES: OnceLock<Vec<DynamicType>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut out = vec![starling::dynamic::shape_type()];
        for (name, idl) in [("fz.idl", TYPES_IDL), ("sensors.idl", include_str!("../../idl/sensors.idl"))] {
            let model = model_from_str(name, idl).unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
            struct_and_union_types(&model, &mut out);
        }
        if let Some(dir) = corpus_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.retain(|p| p.extension().is_some_and(|e| e == "idl"));
            files.sort();
            for f in files {
                if let Ok(model) = starling_idl::check(&[&f], &[&dir]) {
                    struct_and_union_types(&model, &mut out);
                }
            }
        }
        out
    })
}

/// The type an input is for and its payload.
pub fn pick(input: &[u8]) -> Option<(&'static DynamicType, &[u8])> {
    let (&[a, b], payload) = input.split_first_chunk::<2>()?;
    let all = types();
    Some((&all[usize::from(u16::from_le_bytes([a, b])) % all.len()], payload))
}

/// The representation (0 XCDR1, 2 XCDR2) and byte order a payload announces.
fn framing(payload: &[u8]) -> Option<(i16, Endian)> {
    let (encap, _, _) = split_encapsulation(payload).ok()?;
    let rep = if encap.version() == starling_proto::cdr::XcdrVersion::V1 { 0 } else { 2 };
    Some((rep, encap.endian()))
}

fn reencode(ty: &DynamicType, v: &DynamicValue, rep: i16, endian: Endian) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = xtypes::encode(ty, v, rep, endian, &mut out) {
        panic!("a decoded value does not encode again ({e}): {v:?}");
    }
    out
}

/// Runs one input; panics on a bug.
pub fn run(input: &[u8]) {
    let Some((ty, payload)) = pick(input) else { return };
    let Some((rep, endian)) = framing(payload) else {
        assert!(xtypes::decode(ty, payload).is_err(), "decoded a payload without a valid encapsulation");
        return;
    };
    if let Ok(v) = xtypes::decode(ty, payload) {
        let once = reencode(ty, &v, rep, endian);
        let again = match xtypes::decode(ty, &once) {
            Ok(v2) => v2,
            Err(e) => panic!("re-encoded value does not decode ({e}): {v:?} as {once:02x?}"),
        };
        assert_eq!(reencode(ty, &again, rep, endian), once, "encode/decode is not stable for {v:?}");
        let version =
            if rep == 0 { starling_proto::cdr::XcdrVersion::V1 } else { starling_proto::cdr::XcdrVersion::V2 };
        if ty.is_keyed() {
            let _ = xtypes::key_hash(ty, &v, version);
        }
    }
    let _ = xtypes::decode_key_payload(ty, payload);
}

#[allow(dead_code)] // used by fuzz_smoke, not by the cargo-fuzz target
/// A value with something in every member (two elements per collection where the bound allows, optional
/// members present, non-zero numbers), to seed the target with richer payloads than the defaults.
pub fn filled(ty: &DynamicType, depth: u32) -> DynamicValue {
    use starling_proto::xtypes::PrimitiveKind as P;
    if depth > 4 {
        return DynamicValue::default_for(ty);
    }
    let two = |bound: u32| if bound == 0 { 2 } else { bound.min(2) as usize };
    match ty.resolve() {
        DynamicType::Primitive(p) => match p {
            P::Bool => DynamicValue::Bool(true),
            P::Int32 => DynamicValue::Int32(-7),
            P::UInt32 => DynamicValue::UInt32(7),
            P::Int64 => DynamicValue::Int64(-1 << 40),
            P::Float64 => DynamicValue::Float64(1.5),
            P::Int16 => DynamicValue::Int16(-3),
            P::UInt8 => DynamicValue::UInt8(200),
            P::Byte => DynamicValue::Byte(0xab),
            P::Char8 => DynamicValue::Char8(b'z'),
            _ => DynamicValue::default_for(ty),
        },
        DynamicType::String { bound } => DynamicValue::String("abcdefgh"[..two(*bound).min(8)].to_string()),
        DynamicType::WString { bound } => DynamicValue::WString("wx"[..two(*bound)].to_string()),
        DynamicType::Struct(s) => {
            DynamicValue::Struct(s.all_members().into_iter().map(|m| Some(filled(&m.ty, depth + 1))).collect())
        }
        DynamicType::Sequence(s) => {
            DynamicValue::Sequence((0..two(s.bound)).map(|_| filled(&s.element, depth + 1)).collect())
        }
        DynamicType::Array(a) => {
            let n = a.dims.iter().map(|d| *d as usize).product::<usize>();
            if n > 64 {
                return DynamicValue::default_for(ty);
            }
            DynamicValue::Array((0..n).map(|_| filled(&a.element, depth + 1)).collect())
        }
        DynamicType::Map(m) => DynamicValue::Map(vec![(filled(&m.key, depth + 1), filled(&m.value, depth + 1))]),
        _ => DynamicValue::default_for(ty),
    }
}

#[allow(dead_code)] // used by fuzz_smoke, not by the cargo-fuzz target
/// Seeds: for every type, its default and a filled value in XCDR1 and XCDR2, both byte orders, prefixed by the
/// type's index (2 bytes, little endian); plus the key payloads of keyed types.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, ty) in types().iter().enumerate().take(usize::from(u16::MAX)) {
        let index = (i as u16).to_le_bytes();
        for v in [DynamicValue::default_for(ty), filled(ty, 0)] {
            for rep in [0i16, 2] {
                for endian in [Endian::Little, Endian::Big] {
                    let mut buf = index.to_vec();
                    if xtypes::encode(ty, &v, rep, endian, &mut buf).is_ok() {
                        out.push(buf);
                    }
                    let mut key = index.to_vec();
                    if ty.is_keyed() && xtypes::encode_key_payload(ty, &v, rep, endian, &mut key).is_ok() {
                        out.push(key);
                    }
                }
            }
        }
    }
    out
}
