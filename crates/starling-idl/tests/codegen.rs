//! Generator output compared as syntax trees, member-id hashing, and robustness against arbitrary input.

use proptest::prelude::*;
use starling_idl::{compile_str, GenOptions, Options};

fn gen(idl: &str) -> syn::File {
    let code = compile_str("t.idl", idl, Options::default(), &GenOptions::default()).expect("compiles");
    syn::parse_file(&code).expect("generated code parses")
}

/// Parses `code` and normalizes layout-only syntax (trailing commas, which the formatter adds to long lists)
/// by a round trip through the formatter.
fn canonical(code: &str) -> syn::File {
    let f = syn::parse_file(code).expect("parses");
    syn::parse_file(&prettyplease::unparse(&f)).expect("formatted code parses")
}

fn expect(idl: &str, want: &str) {
    let got = canonical(&prettyplease::unparse(&gen(idl)));
    let want = canonical(want);
    assert!(got == want, "generated:\n{}\nexpected:\n{}", prettyplease::unparse(&got), prettyplease::unparse(&want));
}

#[test]
fn typedef_and_const() {
    expect(
        "typedef sequence<long, 2> Ls; const short K = (2 + 1) << 2; const string S = \"a\"; typedef long M[2][3];",
        r#"
        /// IDL `typedef Ls`.
        #[allow(non_camel_case_types)]
        pub type Ls = ::std::vec::Vec<i32>;
        /// IDL `const K`.
        #[allow(non_upper_case_globals, clippy::approx_constant, clippy::excessive_precision)]
        pub const K: i16 = 12i16;
        /// IDL `const S`.
        #[allow(non_upper_case_globals, clippy::approx_constant, clippy::excessive_precision)]
        pub const S: &str = "a";
        /// IDL `typedef M`.
        #[allow(non_camel_case_types)]
        pub type M = [[i32; 3]; 2];
        "#,
    );
}

#[test]
fn enum_with_values() {
    expect(
        "module m { enum E { A, @value(3) B }; };",
        r#"
        #[allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
        pub mod m {
            /// IDL `enum m::E`.
            #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
            #[repr(i32)]
            #[allow(non_camel_case_types)]
            pub enum E {
                #[default]
                A = 0i32,
                B = 3i32,
            }
            impl ::starling_proto::cdr::CdrSerialize for E {
                const CDR_PRIMITIVE: bool = true;
                fn write_cdr(&self, w: &mut ::starling_proto::cdr::CdrWriter<'_>)
                    -> ::core::result::Result<(), ::starling_proto::cdr::CdrError> {
                    w.i32(*self as i32);
                    ::core::result::Result::Ok(())
                }
                fn read_cdr(r: &mut ::starling_proto::cdr::CdrReader<'_>)
                    -> ::core::result::Result<Self, ::starling_proto::cdr::CdrError> {
                    let v = r.i32()?;
                    match v {
                        0i32 => ::core::result::Result::Ok(Self::A),
                        3i32 => ::core::result::Result::Ok(Self::B),
                        other => ::core::result::Result::Err(::starling_proto::cdr::CdrError::InvalidEnum(other as u32)),
                    }
                }
                fn cdr_key_max_end(version: ::starling_proto::cdr::XcdrVersion, offset: usize)
                    -> ::core::option::Option<usize> {
                    ::core::option::Option::Some(::starling_proto::cdr::traits::align_offset(version, offset, 4) + 4)
                }
            }
            impl E {
                /// This type as an XTypes dynamic type (`None` if it is recursive).
                pub fn xtypes_type() -> ::core::option::Option<::starling_proto::xtypes::DynamicType> {
                    ::core::option::Option::Some(
                        ::starling_proto::xtypes::EnumType::new("m::E")
                            .bit_bound(32)
                            .literal_value("A", 0)
                            .literal_value("B", 3)
                            .build(),
                    )
                }
            }
        }
        "#,
    );
}

#[test]
fn bitmask() {
    expect(
        "@bit_bound(8) bitmask F { A, @position(5) B };",
        r#"
        /// IDL `bitmask F`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[allow(non_camel_case_types)]
        pub struct F(pub u8);
        #[allow(non_upper_case_globals)]
        impl F {
            /// Flag at bit position 0.
            pub const A: Self = Self(1 << 0);
            /// Flag at bit position 5.
            pub const B: Self = Self(1 << 5);
            /// True if every bit of `other` is set in `self`.
            pub fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }
        impl ::core::ops::BitOr for F {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }
        impl ::starling_proto::cdr::CdrSerialize for F {
            const CDR_PRIMITIVE: bool = true;
            fn write_cdr(&self, w: &mut ::starling_proto::cdr::CdrWriter<'_>)
                -> ::core::result::Result<(), ::starling_proto::cdr::CdrError> {
                w.u8(self.0);
                ::core::result::Result::Ok(())
            }
            fn read_cdr(r: &mut ::starling_proto::cdr::CdrReader<'_>)
                -> ::core::result::Result<Self, ::starling_proto::cdr::CdrError> {
                ::core::result::Result::Ok(Self(r.u8()?))
            }
            fn cdr_key_max_end(version: ::starling_proto::cdr::XcdrVersion, offset: usize)
                -> ::core::option::Option<usize> {
                ::core::option::Option::Some(::starling_proto::cdr::traits::align_offset(version, offset, 1usize) + 1usize)
            }
        }
        impl F {
            /// This type as an XTypes dynamic type (`None` if it is recursive).
            pub fn xtypes_type() -> ::core::option::Option<::starling_proto::xtypes::DynamicType> {
                ::core::option::Option::Some(
                    ::starling_proto::xtypes::BitmaskType::new("F").bit_bound(8).flag_at("A", 0).flag_at("B", 5).build(),
                )
            }
        }
        "#,
    );
}

/// The struct declaration itself (first three items) for a final struct with a key.
#[test]
fn struct_declaration() {
    let file = gen("struct S { @key long id; @optional string<4> name; long type; };");
    let decl = &file.items[0];
    let want: syn::Item = syn::parse_str(
        r#"
        /// IDL `struct S` (final).
        #[derive(Clone, Debug, PartialEq, Default)]
        #[allow(non_camel_case_types, non_snake_case)]
        pub struct S {
            /// IDL member `id` (id 0, key)
            pub id: i32,
            /// IDL member `name` (id 1)
            pub name: ::core::option::Option<::std::string::String>,
            /// IDL member `type` (id 2)
            pub r#type: i32,
        }
        "#,
    )
    .expect("parses");
    assert!(*decl == want, "{}", quote::quote!(#decl));
    // Three impls follow: CdrSerialize, TopicType and the inherent `xtypes_type`.
    assert_eq!(file.items.len(), 4);
}

#[test]
fn member_ids_follow_xtypes() {
    assert_eq!(starling_idl::model::hash_member_id("getTypes"), 0x018252d3);
    assert_eq!(starling_idl::model::hash_member_id("getDependencies"), 0x05aafb31);
    let dir = std::env::temp_dir().join(format!("starling-idl-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("ids.idl");
    std::fs::write(
        &f,
        "struct B { long b0; @id(10) long b1; };\n\
         @mutable struct S : B { long a; @id(20) long b; long c; @hashid long d; @hashid(\"x\") long e; };\n\
         @mutable @autoid(HASH) struct H { long a; @id(7) long b; };\n",
    )
    .expect("write");
    let model = starling_idl::check(&[&f], &[&dir]).expect("resolves");
    let ids = |name: &str| match &model.get(name).expect("item").kind {
        starling_idl::model::ItemKind::Struct(s) => s.fields.iter().map(|f| f.id).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    let h = starling_idl::model::hash_member_id;
    assert_eq!(ids("S"), vec![0, 10, 11, 20, 21, h("d"), h("x")]);
    assert_eq!(ids("H"), vec![h("a"), 7]);
}

#[test]
fn naming() {
    use starling_idl::codegen::{camel_case, rust_ident, snake_case};
    assert_eq!(snake_case("Fixed_String_Module"), "fixed_string_module");
    assert_eq!(snake_case("MyModule"), "my_module");
    assert_eq!(snake_case("HTTPServer"), "http_server");
    assert_eq!(camel_case("case_zero"), "CaseZero");
    assert_eq!(camel_case("longValue"), "LongValue");
    assert_eq!(rust_ident("match").to_string(), "r#match");
    assert_eq!(rust_ident("self").to_string(), "self_");
}

fn corpus_texts() -> Vec<String> {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/idl-corpus/dds-types-test/IDL");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
        .unwrap_or_default();
    out.push("module a { struct B { @key long x; sequence<map<string, long>, 3> y; }; };".into());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = compile_str("fuzz.idl", &text, Options::default(), &GenOptions::default());
    }

    #[test]
    fn mutated_corpus_never_panics(which in 0usize..64, cuts in proptest::collection::vec((any::<u16>(), any::<u16>(), any::<u8>()), 1..6)) {
        let texts = corpus_texts();
        let mut text: Vec<u8> = texts[which % texts.len()].clone().into_bytes();
        for (at, len, byte) in cuts {
            if text.is_empty() {
                break;
            }
            let at = usize::from(at) % text.len();
            let end = (at + usize::from(len) % 8).min(text.len());
            // Delete a span, then insert a byte from IDL's punctuation or a letter.
            text.drain(at..end);
            let pool = b"{}()<>;:,=@#'\"[]-+*/%~|^&x0 \n";
            text.insert(at.min(text.len()), pool[usize::from(byte) % pool.len()]);
        }
        let text = String::from_utf8_lossy(&text);
        let _ = compile_str("fuzz.idl", &text, Options::default(), &GenOptions::default());
    }
}
