//! Rust code generation from a resolved [`Model`].
//!
//! Mapping:
//! - module → `pub mod snake_case` (reopened modules merge), struct → `pub struct` (base members flattened in),
//!   enum → `#[repr]` enum (default = first enumerator), union → enum with one variant per branch,
//!   bitmask → integer newtype with associated consts, bitset → struct of fields packed into one integer,
//!   typedef → `pub type`, const → `pub const`.
//! - `boolean` → `bool`, `char`/`octet`/`uint8` → `u8`, `wchar` → `u16`, integers → `i8`…`u64`, `float` → `f32`,
//!   `double` and `long double` → `f64` (`long double` is 16 bytes on the wire), `string`/`wstring` → `String`,
//!   `fixed<D, S>` → `starling_proto::cdr::Fixed<D, S>`, `sequence<T>` → `Vec<T>`, `T a[N][M]` → `[[T; M]; N]` (any size; `Default` is implemented by hand so large
//!   arrays work), `map<K, V>` → `BTreeMap<K, V>`, `@optional` → `Option<T>`, `@external` → `Box<T>`.
//! - Union variants: `Branch(T)` for a branch with exactly one `case` label, `Branch(D, T)` (discriminator value
//!   first) for several labels or `default`; plus `Unselected(D)` when some discriminator values select no
//!   branch.

use std::collections::BTreeMap;

use proc_macro2::{Ident, Literal, Span as PSpan, TokenStream};
use quote::{format_ident, quote};

use crate::ast::Prim;
use crate::model::{Ext, Field, ItemKind, Model, StructDef, Type, UnionDef, Value};

/// Errors from code generation (the generator produced tokens that are not valid Rust — a compiler bug).
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The generated tokens did not parse as a Rust file.
    #[error("generated code does not parse: {0}")]
    Syntax(String),
}

/// Code generation settings.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Path of the `starling-proto` crate in the generated code (default `::starling_proto`).
    pub runtime: String,
    /// Test support: path of a module providing `Rng` (methods `next_u64`, `below(n)`, `len(max)`,
    /// `string(bound, wide)`), a `Random` trait (`fn random(g: &mut Rng) -> Self`, implemented there for the
    /// primitive types) and a `Visitor` trait (`fn visit<T>(&mut self, name: &str)` for topic types). When set,
    /// every generated type implements `Random` with values that respect its bounds, and the file gets a
    /// `pub fn visit_types(v: &mut impl Visitor)` listing its structs.
    pub test_support: Option<String>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions { runtime: "::starling_proto".into(), test_support: None }
    }
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let",
    "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type",
    "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// A Rust identifier for an IDL name: keywords become raw identifiers; `self`, `super`, `crate` and `Self` get a
/// trailing underscore.
pub fn rust_ident(name: &str) -> Ident {
    if matches!(name, "self" | "super" | "crate" | "Self" | "_") {
        return format_ident!("{}_", name);
    }
    if RUST_KEYWORDS.contains(&name) {
        return Ident::new_raw(name, PSpan::call_site());
    }
    Ident::new(name, PSpan::call_site())
}

/// snake_case for module names (`Fixed_String_Module` → `fixed_string_module`, `MyModule` → `my_module`).
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// UpperCamelCase for union variants (`case_zero` → `CaseZero`, `longValue` → `LongValue`).
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut cs = part.chars();
        if let Some(f) = cs.next() {
            out.extend(f.to_uppercase());
            out.extend(cs);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Full encoding.
    Normal,
    /// Key-hash encoding: nested types write key members only, no DHEADERs.
    Plain,
    /// KeyHolder encoding: nested types write their KeyHolder form.
    Holder,
}

#[derive(Default)]
struct ModNode {
    items: Vec<TokenStream>,
    children: BTreeMap<String, ModNode>,
}

impl ModNode {
    fn render(self) -> TokenStream {
        let items = self.items;
        let children = self.children.into_iter().map(|(name, node)| {
            let ident = rust_ident(&name);
            let body = node.render();
            quote! {
                #[allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
                pub mod #ident { #body }
            }
        });
        quote! { #(#items)* #(#children)* }
    }
}

/// Generates formatted Rust source for every item of `model`.
pub fn generate(model: &Model, opts: &GenOptions) -> Result<String, GenError> {
    let tokens = generate_tokens(model, opts)?;
    let file: syn::File = syn::parse2(tokens).map_err(|e| GenError::Syntax(e.to_string()))?;
    let body = prettyplease::unparse(&file);
    Ok(format!("// Generated by starling-idl. Do not edit.\n\n{body}"))
}

/// Generates the token stream for every item of `model` (unformatted).
pub fn generate_tokens(model: &Model, opts: &GenOptions) -> Result<TokenStream, GenError> {
    let rt: TokenStream = opts.runtime.parse().map_err(|e: proc_macro2::LexError| GenError::Syntax(e.to_string()))?;
    let ts = match &opts.test_support {
        Some(p) => Some(p.parse().map_err(|e: proc_macro2::LexError| GenError::Syntax(e.to_string()))?),
        None => None,
    };
    let g = Gen { model, rt, scope: Vec::new(), ts };
    let mut root = ModNode::default();
    let mut visits = Vec::new();
    for item in &model.items {
        let g = Gen { scope: item.scope.clone(), ..g.clone() };
        let mut tokens = g.item(&item.name, &item.scoped(), &item.kind);
        tokens.extend(g.xtypes_impl(&rust_ident(&item.name), &item.scoped(), &item.kind));
        if let Some(ts) = &g.ts {
            tokens.extend(g.random_impl(&rust_ident(&item.name), &item.kind, ts));
            if matches!(item.kind, ItemKind::Struct(_)) {
                let root = Gen { scope: Vec::new(), ..g.clone() };
                let p = root.path(&item.scoped());
                let name = item.scoped();
                visits.push(quote!(v.visit::<#p>(#name);));
            }
        }
        let mut node = &mut root;
        for m in &item.scope {
            node = node.children.entry(snake_case(m)).or_default();
        }
        node.items.push(tokens);
    }
    if let Some(ts) = &g.ts {
        root.items.push(quote! {
            /// Calls `v.visit::<T>(name)` for every struct of this file.
            pub fn visit_types(v: &mut impl #ts::Visitor) {
                #(#visits)*
            }
        });
    }
    Ok(root.render())
}

#[derive(Clone)]
struct Gen<'m> {
    model: &'m Model,
    rt: TokenStream,
    scope: Vec<String>,
    ts: Option<TokenStream>,
}

/// Packing expressions (each a `u64`) and unpacking field initializers (reading `bits: u64`) of a bitset.
fn bitset_code(fields: &[crate::model::BitField]) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let named: Vec<&crate::model::BitField> = fields.iter().filter(|f| f.name.is_some()).collect();
    let names: Vec<Ident> = named.iter().map(|f| rust_ident(f.name.as_deref().unwrap_or("_"))).collect();
    let signed = |p: Prim| matches!(p, Prim::I8 | Prim::I16 | Prim::I32 | Prim::I64);
    let full = |p: Prim| prim_size(p) * 8;
    let mut packs: Vec<TokenStream> = Vec::new();
    let mut unpacks = Vec::new();
    for (f, n) in named.iter().zip(&names) {
        let w = f.width;
        let mask_v: u64 = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
        let mask = Literal::u64_unsuffixed(mask_v);
        let off = Literal::u32_unsuffixed(f.offset);
        let as_u64 = match f.ty {
            Prim::Bool => quote!(u64::from(self.#n)),
            Prim::U64 => quote!(self.#n),
            p if signed(p) => quote!((self.#n as u64)),
            _ => quote!(u64::from(self.#n)),
        };
        let masked = if f.ty == Prim::Bool || (!signed(f.ty) && w as usize == full(f.ty)) {
            as_u64
        } else {
            quote!(#as_u64 & #mask)
        };
        packs.push(if f.offset == 0 { masked } else { quote!((#masked) << #off) });
        let shifted = if f.offset == 0 { quote!(bits) } else { quote!((bits >> #off)) };
        let ty = prim_rust(f.ty);
        let un = match f.ty {
            Prim::Bool => quote!(#shifted & 1 != 0),
            p if signed(p) => {
                let s = Literal::u32_unsuffixed(64 - w);
                let v =
                    if w == 64 { quote!((#shifted as i64)) } else { quote!((((#shifted & #mask) << #s) as i64 >> #s)) };
                if p == Prim::I64 {
                    v
                } else {
                    quote!(#v as #ty)
                }
            }
            Prim::U64 if w == 64 => shifted,
            Prim::U64 => quote!(#shifted & #mask),
            _ => quote!((#shifted & #mask) as #ty),
        };
        unpacks.push(quote!(#n: #un,));
    }
    (packs, unpacks)
}

/// XCDR2 size of an enum with this bit bound (XCDR1 always uses 4 bytes).
fn enum_size(bit_bound: u32) -> usize {
    match bit_bound {
        0..=8 => 1,
        9..=16 => 2,
        _ => 4,
    }
}

/// Size of a bitmask with this bit bound.
fn bitmask_size(bit_bound: u32) -> usize {
    match bit_bound {
        0..=8 => 1,
        9..=16 => 2,
        17..=32 => 4,
        _ => 8,
    }
}

/// The value behind a reference expression: `&place` → `place`, `r` → `*r`.
fn deref(val: TokenStream) -> TokenStream {
    let mut it = val.clone().into_iter();
    match it.next() {
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '&' => it.collect(),
        _ => quote!(*#val),
    }
}

/// True if the type is an array with a dimension over 32 (no derived `Default`).
fn big_array(t: &Type) -> bool {
    matches!(t, Type::Array(el, dims) if dims.iter().any(|d| *d > 32) || big_array(el))
}

fn lit_usize(v: u64) -> Literal {
    Literal::usize_unsuffixed(v as usize)
}

fn prim_size(p: Prim) -> usize {
    match p {
        Prim::Bool | Prim::Char | Prim::Octet | Prim::I8 | Prim::U8 => 1,
        Prim::WChar | Prim::I16 | Prim::U16 => 2,
        Prim::I32 | Prim::U32 | Prim::F32 => 4,
        Prim::I64 | Prim::U64 | Prim::F64 => 8,
        Prim::F128 => 16,
    }
}

/// The `starling_proto::xtypes::PrimitiveKind` variant of a primitive.
fn prim_kind(p: Prim) -> &'static str {
    match p {
        Prim::Bool => "Bool",
        Prim::Octet => "Byte",
        Prim::Char => "Char8",
        Prim::WChar => "Char16",
        Prim::I8 => "Int8",
        Prim::U8 => "UInt8",
        Prim::I16 => "Int16",
        Prim::U16 => "UInt16",
        Prim::I32 => "Int32",
        Prim::U32 => "UInt32",
        Prim::I64 => "Int64",
        Prim::U64 => "UInt64",
        Prim::F32 => "Float32",
        Prim::F64 => "Float64",
        Prim::F128 => "Float128",
    }
}

fn prim_rust(p: Prim) -> TokenStream {
    match p {
        Prim::Bool => quote!(bool),
        Prim::Char | Prim::Octet | Prim::U8 => quote!(u8),
        Prim::WChar | Prim::U16 => quote!(u16),
        Prim::I8 => quote!(i8),
        Prim::I16 => quote!(i16),
        Prim::I32 => quote!(i32),
        Prim::U32 => quote!(u32),
        Prim::I64 => quote!(i64),
        Prim::U64 => quote!(u64),
        Prim::F32 => quote!(f32),
        Prim::F64 | Prim::F128 => quote!(f64),
    }
}

/// The CdrWriter/CdrReader method for a primitive (None for `long double`).
fn prim_method(p: Prim) -> Option<Ident> {
    let n = match p {
        Prim::Bool => "bool",
        Prim::Char | Prim::Octet | Prim::U8 => "u8",
        Prim::WChar | Prim::U16 => "u16",
        Prim::I8 => "i8",
        Prim::I16 => "i16",
        Prim::I32 => "i32",
        Prim::U32 => "u32",
        Prim::I64 => "i64",
        Prim::U64 => "u64",
        Prim::F32 => "f32",
        Prim::F64 => "f64",
        Prim::F128 => return None,
    };
    Some(format_ident!("{}", n))
}

fn int_lit(p: Prim, v: i128) -> TokenStream {
    let suffix = match p {
        Prim::Bool => return if v != 0 { quote!(true) } else { quote!(false) },
        Prim::I8 => "i8",
        Prim::U8 | Prim::Octet | Prim::Char => "u8",
        Prim::I16 => "i16",
        Prim::U16 | Prim::WChar => "u16",
        Prim::I32 => "i32",
        Prim::U32 => "u32",
        Prim::I64 => "i64",
        Prim::U64 => "u64",
        Prim::F32 => "f32",
        Prim::F64 | Prim::F128 => "f64",
    };
    let text = if suffix.starts_with('f') {
        format!("{}.0{suffix}", v.unsigned_abs())
    } else {
        format!("{}{suffix}", v.unsigned_abs())
    };
    let lit: Literal = text.parse().unwrap_or_else(|_| Literal::u64_unsuffixed(0));
    if v < 0 {
        quote!(-#lit)
    } else {
        quote!(#lit)
    }
}

impl Gen<'_> {
    /// Path from the current module to the item `scoped` (`a::b::T`).
    fn path(&self, scoped: &str) -> TokenStream {
        let parts: Vec<&str> = scoped.split("::").collect();
        let (name, mods) = parts.split_last().map_or(("", &[][..]), |(n, m)| (*n, m));
        let supers = self.scope.iter().map(|_| quote!(super::));
        let mods = mods.iter().map(|m| rust_ident(&snake_case(m)));
        let name = rust_ident(name);
        quote!(#(#supers)* #(#mods::)* #name)
    }

    fn kind_of(&self, scoped: &str) -> Option<&ItemKind> {
        self.model.get(scoped).map(|i| &i.kind)
    }

    /// True for types XCDR2 treats as primitive in collections.
    fn is_primitive(&self, t: &Type) -> bool {
        match t {
            Type::Prim(_) => true,
            Type::Named(n) => matches!(self.kind_of(n), Some(ItemKind::Enum { .. } | ItemKind::Bitmask { .. })),
            _ => false,
        }
    }

    fn rust_type(&self, t: &Type) -> TokenStream {
        match t {
            Type::Prim(p) => prim_rust(*p),
            Type::String { .. } => quote!(::std::string::String),
            Type::Fixed { digits, scale } => {
                let rt = &self.rt;
                let (d, s) = (Literal::u32_unsuffixed(*digits), Literal::u32_unsuffixed(*scale));
                quote!(#rt::cdr::Fixed<#d, #s>)
            }
            Type::Seq(el, _) => {
                let el = self.rust_type(el);
                quote!(::std::vec::Vec<#el>)
            }
            Type::Array(el, dims) => {
                let mut ty = self.rust_type(el);
                for d in dims.iter().rev() {
                    let d = lit_usize(*d);
                    ty = quote!([#ty; #d]);
                }
                ty
            }
            Type::Map(k, v, _) => {
                let k = self.rust_type(k);
                let v = self.rust_type(v);
                quote!(::std::collections::BTreeMap<#k, #v>)
            }
            Type::Named(n) => self.path(n),
        }
    }

    fn default_expr(&self, t: &Type) -> TokenStream {
        match t {
            Type::Array(el, dims) => {
                let mut e = self.default_expr(el);
                for _ in dims {
                    e = quote!(::core::array::from_fn(|_| #e));
                }
                e
            }
            _ => quote!(::core::default::Default::default()),
        }
    }

    fn value_expr(&self, t: &Type, v: &Value) -> TokenStream {
        match (t, v) {
            (Type::Prim(p), Value::Int(i)) => int_lit(*p, *i),
            (Type::Prim(p), Value::Char(c)) => int_lit(*p, i128::from(*c)),
            (Type::Prim(Prim::F32), Value::Float(f)) => {
                let l = Literal::f32_suffixed(*f as f32);
                quote!(#l)
            }
            (Type::Prim(_), Value::Float(f)) => {
                let l = Literal::f64_suffixed(*f);
                quote!(#l)
            }
            (_, Value::Bool(b)) => quote!(#b),
            (Type::String { .. }, Value::Str(s)) => quote!(::std::string::String::from(#s)),
            (_, Value::Str(s)) => quote!(#s),
            (_, Value::Enum(e, n, _)) => {
                let p = self.path(e);
                let n = rust_ident(n);
                quote!(#p::#n)
            }
            _ => quote!(::core::default::Default::default()),
        }
    }

    fn item(&self, name: &str, scoped: &str, kind: &ItemKind) -> TokenStream {
        let ident = rust_ident(name);
        match kind {
            ItemKind::Struct(s) => self.struct_item(&ident, scoped, s),
            ItemKind::Union(u) => self.union_item(&ident, scoped, u),
            ItemKind::Enum { bit_bound, values } => self.enum_item(&ident, scoped, *bit_bound, values),
            ItemKind::Bitmask { bit_bound, flags } => self.bitmask_item(&ident, scoped, *bit_bound, flags),
            ItemKind::Bitset { fields, bits } => self.bitset_item(&ident, scoped, fields, *bits),
            ItemKind::Typedef(t) => {
                let ty = self.rust_type(t);
                let doc = format!(" IDL `typedef {scoped}`.");
                quote! {
                    #[doc = #doc]
                    #[allow(non_camel_case_types)]
                    pub type #ident = #ty;
                }
            }
            ItemKind::Const(t, v) => {
                let doc = format!(" IDL `const {scoped}`.");
                let (ty, val) = match (t, v) {
                    (Type::String { .. }, Value::Str(s)) => (quote!(&str), quote!(#s)),
                    _ => (self.rust_type(t), self.value_expr(t, v)),
                };
                quote! {
                    #[doc = #doc]
                    #[allow(non_upper_case_globals, clippy::approx_constant, clippy::excessive_precision)]
                    pub const #ident: #ty = #val;
                }
            }
        }
    }

    // ---------------------------------------------------------------- values

    /// Statements writing the value `val` (an expression of type `&T`).
    fn write(&self, t: &Type, val: TokenStream, mode: Mode) -> TokenStream {
        let rt = &self.rt;
        match t {
            Type::Prim(Prim::F128) => {
                let v = deref(val);
                quote!(#rt::cdr::traits::write_long_double(w, #v);)
            }
            Type::Prim(p) => {
                let m = prim_method(*p);
                let v = deref(val);
                quote!(w.#m(#v);)
            }
            Type::String { wide: false, bound: None } => quote!(w.string(#val);),
            Type::String { wide: false, bound: Some(b) } => {
                let b = lit_usize(*b);
                quote!(w.bounded_string(#val, #b)?;)
            }
            Type::String { wide: true, bound } => {
                let b = match bound {
                    Some(b) => {
                        let b = lit_usize(*b);
                        quote!(::core::option::Option::Some(#b))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote!(#rt::cdr::traits::write_wstring(w, #val, #b)?;)
            }
            Type::Fixed { .. } => quote!(#rt::cdr::CdrSerialize::write_cdr(#val, w)?;),
            Type::Seq(el, bound) => {
                let check = bound.map(|b| {
                    let b = lit_usize(b);
                    quote!(#rt::cdr::traits::check_bound(s.len(), #b)?;)
                });
                let body = if matches!(**el, Type::Prim(Prim::Octet | Prim::U8 | Prim::Char)) {
                    quote!(w.bytes(s);)
                } else {
                    let inner = self.write(el, quote!(e), mode);
                    quote!(for e in s.iter() { #inner })
                };
                let (d0, d1) = self.dheader(el, mode);
                quote!({ let s = #val; #check #d0 w.seq_len(s.len()); #body #d1 })
            }
            Type::Array(el, dims) => {
                let names: Vec<Ident> = (0..dims.len()).map(|i| format_ident!("a{}", i)).collect();
                let mut body = self.write(
                    el,
                    {
                        let last = &names[names.len() - 1];
                        quote!(#last)
                    },
                    mode,
                );
                for i in (0..dims.len()).rev() {
                    let n = &names[i];
                    let src = if i == 0 {
                        quote!(s)
                    } else {
                        let p = &names[i - 1];
                        quote!(#p)
                    };
                    body = quote!(for #n in #src.iter() { #body });
                }
                let (d0, d1) = self.dheader(el, mode);
                quote!({ let s = #val; #d0 #body #d1 })
            }
            Type::Map(k, v, bound) => {
                let check = bound.map(|b| {
                    let b = lit_usize(b);
                    quote!(#rt::cdr::traits::check_bound(s.len(), #b)?;)
                });
                let wk = self.write(k, quote!(k), mode);
                let wv = self.write(v, quote!(v), mode);
                let (d0, d1) = if self.is_primitive(k) && self.is_primitive(v) || mode == Mode::Plain {
                    (quote!(), quote!())
                } else {
                    (quote!(let d = w.begin_dheader();), quote!(w.end_dheader(d);))
                };
                quote!({ let s = #val; #check #d0 w.seq_len(s.len()); for (k, v) in s.iter() { #wk #wv } #d1 })
            }
            Type::Named(n) => {
                let f = match (mode, self.kind_of(n)) {
                    (Mode::Plain, Some(ItemKind::Struct(_))) => quote!(write_cdr_key),
                    (Mode::Holder, Some(ItemKind::Struct(_))) => quote!(write_cdr_key_holder),
                    _ => quote!(write_cdr),
                };
                quote!(#rt::cdr::CdrSerialize::#f(#val, w)?;)
            }
        }
    }

    fn dheader(&self, el: &Type, mode: Mode) -> (TokenStream, TokenStream) {
        if self.is_primitive(el) || mode == Mode::Plain {
            (quote!(), quote!())
        } else {
            (quote!(let d = w.begin_dheader();), quote!(w.end_dheader(d);))
        }
    }

    /// An expression reading a `T` from `r`.
    fn read(&self, t: &Type, mode: Mode) -> TokenStream {
        let rt = &self.rt;
        match t {
            Type::Prim(Prim::F128) => quote!(#rt::cdr::traits::read_long_double(r)?),
            Type::Prim(p) => {
                let m = prim_method(*p);
                quote!(r.#m()?)
            }
            Type::String { wide: false, bound: None } => quote!(r.string()?),
            Type::String { wide: false, bound: Some(b) } => {
                let b = lit_usize(*b);
                quote!(r.bounded_string(#b)?)
            }
            Type::String { wide: true, bound } => {
                let b = match bound {
                    Some(b) => {
                        let b = lit_usize(*b);
                        quote!(::core::option::Option::Some(#b))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote!(#rt::cdr::traits::read_wstring(r, #b)?)
            }
            Type::Fixed { .. } => {
                let ty = self.rust_type(t);
                quote!(<#ty as #rt::cdr::CdrSerialize>::read_cdr(r)?)
            }
            Type::Seq(el, bound) => {
                let check = bound.map(|b| {
                    let b = lit_usize(b);
                    quote!(#rt::cdr::traits::check_bound(n, #b)?;)
                });
                let min = match &**el {
                    Type::Prim(p) => prim_size(*p),
                    _ => 1,
                };
                let body = if matches!(**el, Type::Prim(Prim::Octet | Prim::U8 | Prim::Char)) {
                    quote!({ let n = r.seq_len(1)?; #check r.bytes(n)?.to_vec() })
                } else {
                    let inner = self.read(el, mode);
                    quote!({
                        let n = r.seq_len(#min)?;
                        #check
                        let mut v = ::std::vec::Vec::with_capacity(n.min(4096));
                        for _ in 0..n { v.push(#inner); }
                        v
                    })
                };
                self.delimited(el, mode, body)
            }
            Type::Array(el, dims) => {
                let mut body = self.read(el, mode);
                for d in dims.iter().rev() {
                    let d = lit_usize(*d);
                    body = quote!({
                        let mut v = ::std::vec::Vec::with_capacity(#d);
                        for _ in 0..#d { v.push(#body); }
                        <[_; #d]>::try_from(v).map_err(|_| #rt::cdr::CdrError::Invalid("array length"))?
                    });
                }
                self.delimited(el, mode, body)
            }
            Type::Map(k, v, bound) => {
                let check = bound.map(|b| {
                    let b = lit_usize(b);
                    quote!(#rt::cdr::traits::check_bound(n, #b)?;)
                });
                let rk = self.read(k, mode);
                let rv = self.read(v, mode);
                let body = quote!({
                    let n = r.seq_len(1)?;
                    #check
                    let mut m = ::std::collections::BTreeMap::new();
                    for _ in 0..n {
                        let k = #rk;
                        let v = #rv;
                        m.insert(k, v);
                    }
                    m
                });
                if self.is_primitive(k) && self.is_primitive(v) || mode == Mode::Plain {
                    body
                } else {
                    quote!(#rt::cdr::traits::read_delimited(r, |r| ::core::result::Result::Ok(#body))?)
                }
            }
            Type::Named(n) => {
                let p = self.path(n);
                let f = match (mode, self.kind_of(n)) {
                    (Mode::Holder, Some(ItemKind::Struct(_))) => quote!(read_cdr_key_holder),
                    _ => quote!(read_cdr),
                };
                quote!(<#p as #rt::cdr::CdrSerialize>::#f(r)?)
            }
        }
    }

    fn delimited(&self, el: &Type, mode: Mode, body: TokenStream) -> TokenStream {
        let rt = &self.rt;
        if self.is_primitive(el) || mode == Mode::Plain {
            body
        } else {
            quote!(#rt::cdr::traits::read_delimited(r, |r| ::core::result::Result::Ok(#body))?)
        }
    }

    /// Statements advancing `o` (the offset) past the largest plain (key) encoding of `t`.
    fn max_end(&self, t: &Type) -> TokenStream {
        let rt = &self.rt;
        let align = |size: usize| quote!(o = #rt::cdr::traits::align_offset(version, o, #size) + #size;);
        match t {
            Type::Prim(Prim::F128) => quote!(o = #rt::cdr::traits::align_offset(version, o, 8) + 16;),
            Type::Prim(p) => align(prim_size(*p)),
            Type::String { wide, bound: Some(b) } => {
                let n = if *wide { (*b as usize) * 2 } else { *b as usize + 1 };
                quote!(o = #rt::cdr::traits::align_offset(version, o, 4) + 4 + #n;)
            }
            Type::Fixed { digits, .. } => {
                let n = lit_usize(u64::from(*digits / 2 + 1));
                quote!(o += #n;)
            }
            Type::Seq(el, Some(b)) => {
                let inner = self.max_end(el);
                let b = lit_usize(*b);
                quote!(o = #rt::cdr::traits::align_offset(version, o, 4) + 4; for _ in 0..#b { #inner })
            }
            Type::Array(el, dims) => {
                let inner = self.max_end(el);
                let n: u64 = dims.iter().product();
                let n = lit_usize(n);
                quote!(for _ in 0..#n { #inner })
            }
            Type::Named(n) => {
                let p = self.path(n);
                quote!(o = <#p as #rt::cdr::CdrSerialize>::cdr_key_max_end(version, o)?;)
            }
            _ => quote!(o = #rt::cdr::traits::unbounded_key()?.max(o);),
        }
    }

    // ---------------------------------------------------------------- structs

    fn field_type(&self, f: &Field) -> TokenStream {
        let mut ty = self.rust_type(&f.ty);
        if f.external {
            ty = quote!(::std::boxed::Box<#ty>);
        }
        if f.optional {
            ty = quote!(::core::option::Option<#ty>);
        }
        ty
    }

    fn field_default(&self, f: &Field) -> TokenStream {
        if f.optional {
            return quote!(::core::option::Option::None);
        }
        let e = match &f.default {
            Some(v) if !matches!(f.ty, Type::Array(..)) => self.value_expr(&f.ty, v),
            _ => self.default_expr(&f.ty),
        };
        if f.external {
            if big_array(&f.ty) || f.default.is_some() {
                quote!(::std::boxed::Box::new(#e))
            } else {
                quote!(::std::boxed::Box::default())
            }
        } else {
            e
        }
    }

    /// Reads the field's value (not the optional wrapper).
    fn read_field_value(&self, f: &Field, mode: Mode) -> TokenStream {
        let e = self.read(&f.ty, mode);
        if f.external {
            quote!(::std::boxed::Box::new(#e))
        } else {
            e
        }
    }

    fn range_check(&self, f: &Field, v: &TokenStream) -> TokenStream {
        let rt = &self.rt;
        let mut conds = Vec::new();
        let val = deref(v.clone());
        if let Some(min) = &f.min {
            let m = self.value_expr(&f.ty, min);
            conds.push(quote!(#val < #m));
        }
        if let Some(max) = &f.max {
            let m = self.value_expr(&f.ty, max);
            conds.push(quote!(#val > #m));
        }
        if conds.is_empty() || !matches!(f.ty, Type::Prim(_)) {
            return quote!();
        }
        quote!(if #(#conds)||* { return ::core::result::Result::Err(#rt::cdr::CdrError::Invalid("value outside its @range")); })
    }

    /// Statements writing field `f` of `self` in a final/appendable body.
    fn write_field_plain_ext(&self, f: &Field, mode: Mode) -> TokenStream {
        let rt = &self.rt;
        let id = rust_ident(&f.name);
        let fid = f.id;
        if f.optional {
            let check = self.range_check(f, &quote!(x));
            let inner = self.write(&f.ty, quote!(x), mode);
            let deref = if f.external { quote!(let x = x.as_ref();) } else { quote!() };
            quote! {
                if w.version() == #rt::cdr::XcdrVersion::V2 {
                    w.bool(self.#id.is_some());
                    if let ::core::option::Option::Some(x) = &self.#id { #deref #check #inner }
                } else {
                    let m = w.begin_member_extended(#fid, false);
                    if let ::core::option::Option::Some(x) = &self.#id { #deref #check #inner }
                    w.end_member(m);
                }
            }
        } else {
            let val = if f.external { quote!(self.#id.as_ref()) } else { quote!(&self.#id) };
            let check = self.range_check(f, &val);
            let inner = self.write(&f.ty, val, mode);
            quote!(#check #inner)
        }
    }

    fn read_field_plain_ext(&self, f: &Field, mode: Mode) -> TokenStream {
        let rt = &self.rt;
        let e = self.read_field_value(f, mode);
        if f.optional {
            quote! {
                if r.version() == #rt::cdr::XcdrVersion::V2 {
                    if r.bool()? { ::core::option::Option::Some(#e) } else { ::core::option::Option::None }
                } else {
                    match r.next_member()? {
                        ::core::option::Option::Some((_, _, mut m)) if m.remaining() > 0 => {
                            let r = &mut m;
                            ::core::option::Option::Some(#e)
                        }
                        _ => ::core::option::Option::None,
                    }
                }
            }
        } else {
            e
        }
    }

    /// `write_cdr`-style body for `fields` under `ext`.
    fn write_body(&self, ext: Ext, fields: &[&Field], mode: Mode) -> TokenStream {
        let rt = &self.rt;
        match ext {
            Ext::Final | Ext::Appendable => {
                let ws = fields.iter().map(|f| self.write_field_plain_ext(f, mode));
                let (d0, d1) = if ext == Ext::Appendable {
                    (quote!(let d = w.begin_dheader();), quote!(w.end_dheader(d);))
                } else {
                    (quote!(), quote!())
                };
                let unused = if fields.is_empty() && ext == Ext::Final { quote!(let _ = w;) } else { quote!() };
                quote!(#unused #d0 #(#ws)* #d1 ::core::result::Result::Ok(()))
            }
            Ext::Mutable => {
                let ws = fields.iter().map(|f| {
                    let id = rust_ident(&f.name);
                    let fid = f.id;
                    let mu = f.must_understand;
                    let lc = self.length_code(&f.ty);
                    if f.optional {
                        let check = self.range_check(f, &quote!(x));
                        let inner = self.write(&f.ty, quote!(x), mode);
                        let deref = if f.external { quote!(let x = x.as_ref();) } else { quote!() };
                        quote! {
                            if let ::core::option::Option::Some(x) = &self.#id {
                                #deref
                                #check
                                let m = w.begin_member_extended(#fid, #mu);
                                #inner
                                w.end_member_lc(m, #lc);
                            }
                        }
                    } else {
                        let val = if f.external { quote!(self.#id.as_ref()) } else { quote!(&self.#id) };
                        let check = self.range_check(f, &val);
                        let inner = self.write(&f.ty, val, mode);
                        quote!(#check let m = w.begin_member_extended(#fid, #mu); #inner w.end_member_lc(m, #lc);)
                    }
                });
                quote! {
                    let d = w.begin_dheader();
                    #(#ws)*
                    #rt::cdr::traits::end_parameter_list(w);
                    w.end_dheader(d);
                    ::core::result::Result::Ok(())
                }
            }
        }
    }

    /// `read_cdr`-style body for `fields` under `ext`; `all` says whether `fields` are all the struct's fields.
    fn read_body(&self, ext: Ext, fields: &[&Field], all: bool, mode: Mode) -> TokenStream {
        let rt = &self.rt;
        let rest = if all { quote!() } else { quote!(..::core::default::Default::default()) };
        match ext {
            Ext::Final => {
                let fs = fields.iter().map(|f| {
                    let id = rust_ident(&f.name);
                    let e = self.read_field_plain_ext(f, mode);
                    quote!(#id: #e,)
                });
                let unused = if fields.is_empty() { quote!(let _ = r;) } else { quote!() };
                quote!(#unused ::core::result::Result::Ok(Self { #(#fs)* #rest }))
            }
            Ext::Appendable => {
                let fs = fields.iter().map(|f| {
                    let id = rust_ident(&f.name);
                    let e = self.read_field_plain_ext(f, mode);
                    let d = self.field_default(f);
                    quote!(#id: if r.version() == #rt::cdr::XcdrVersion::V2 && r.remaining() == 0 { #d } else { #e },)
                });
                let param = if fields.is_empty() { quote!(_) } else { quote!(r) };
                quote!(#rt::cdr::traits::read_delimited(r, |#param| ::core::result::Result::Ok(Self { #(#fs)* #rest })))
            }
            Ext::Mutable => {
                if fields.is_empty() {
                    return quote! {
                        #rt::cdr::traits::read_mutable_members(r, |_, _| ::core::result::Result::Ok(false))?;
                        ::core::result::Result::Ok(::core::default::Default::default())
                    };
                }
                let arms = fields.iter().map(|f| {
                    let id = rust_ident(&f.name);
                    let fid = f.id;
                    let e = self.read_field_value(f, mode);
                    if f.optional {
                        quote!(#fid => out.#id = ::core::option::Option::Some(#e),)
                    } else if f.external {
                        let e = self.read(&f.ty, mode);
                        quote!(#fid => *out.#id = #e,)
                    } else {
                        quote!(#fid => out.#id = #e,)
                    }
                });
                quote! {
                    let mut out = Self::default();
                    #rt::cdr::traits::read_mutable_members(r, |id, r| {
                        match id {
                            #(#arms)*
                            _ => return ::core::result::Result::Ok(false),
                        }
                        ::core::result::Result::Ok(true)
                    })?;
                    ::core::result::Result::Ok(out)
                }
            }
        }
    }

    fn struct_item(&self, ident: &Ident, scoped: &str, s: &StructDef) -> TokenStream {
        let rt = &self.rt;
        let names: Vec<Ident> = s.fields.iter().map(|f| rust_ident(&f.name)).collect();
        let types = s.fields.iter().map(|f| self.field_type(f));
        let defaults = s.fields.iter().map(|f| self.field_default(f));
        let docs = s.fields.iter().map(|f| {
            let mut d = format!(" IDL member `{}` (id {}", f.name, f.id);
            if f.key {
                d.push_str(", key");
            }
            d.push(')');
            d
        });
        let all: Vec<&Field> = s.fields.iter().collect();
        let keys: Vec<&Field> = s.fields.iter().filter(|f| f.key).collect();
        let keyed = !keys.is_empty();
        let write = self.write_body(s.ext, &all, Mode::Normal);
        let read = self.read_body(s.ext, &all, true, Mode::Normal);
        // Key-hash input: the key members, or every non-optional member of an unkeyed type.
        let key_fields: Vec<&Field> =
            if keyed { keys.clone() } else { s.fields.iter().filter(|f| !f.optional).collect() };
        let write_key = key_fields.iter().map(|f| {
            let id = rust_ident(&f.name);
            let val = if f.external { quote!(self.#id.as_ref()) } else { quote!(&self.#id) };
            self.write(&f.ty, val, Mode::Plain)
        });
        let unused_key = if key_fields.is_empty() { quote!(let _ = w;) } else { quote!() };
        let max_ends: Vec<TokenStream> = key_fields.iter().map(|f| self.max_end(&f.ty)).collect();
        let max_body = if max_ends.is_empty() {
            quote!(let _ = version; ::core::option::Option::Some(offset))
        } else {
            quote!(let _ = version; let mut o = offset; #(#max_ends)* ::core::option::Option::Some(o))
        };
        let holder = if keyed {
            let wb = self.write_body(s.ext, &keys, Mode::Holder);
            let rb = self.read_body(s.ext, &keys, keys.len() == s.fields.len(), Mode::Holder);
            quote! {
                fn write_cdr_key_holder(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #wb
                }
                fn read_cdr_key_holder(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    #rb
                }
            }
        } else {
            quote!()
        };
        let ext = match s.ext {
            Ext::Final => quote!(Final),
            Ext::Appendable => quote!(Appendable),
            Ext::Mutable => quote!(Mutable),
        };
        let (ser_key, key_max) = if keyed {
            (
                quote!(#rt::cdr::CdrSerialize::write_cdr_key(self, w)),
                quote!(<Self as #rt::cdr::CdrSerialize>::cdr_key_max_end(version, 0)),
            )
        } else {
            (
                quote!(let _ = w; ::core::result::Result::Ok(())),
                quote!(let _ = version; ::core::option::Option::Some(0)),
            )
        };
        let doc = format!(" IDL `struct {scoped}` ({}).", format!("{:?}", s.ext).to_lowercase());
        let derivable = s.fields.iter().all(|f| f.default.is_none() && (f.optional || !big_array(&f.ty)));
        let (derive_default, default_impl) = if derivable {
            (quote!(Default,), quote!())
        } else {
            (
                quote!(),
                quote! {
                    impl ::core::default::Default for #ident {
                        fn default() -> Self {
                            Self { #( #names: #defaults, )* }
                        }
                    }
                },
            )
        };
        quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, PartialEq, #derive_default)]
            #[allow(non_camel_case_types, non_snake_case)]
            pub struct #ident {
                #( #[doc = #docs] pub #names: #types, )*
            }

            #default_impl

            impl #rt::cdr::CdrSerialize for #ident {
                fn write_cdr(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #write
                }
                fn read_cdr(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    #read
                }
                fn write_cdr_key(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #unused_key
                    #(#write_key)*
                    ::core::result::Result::Ok(())
                }
                fn cdr_key_max_end(version: #rt::cdr::XcdrVersion, offset: usize) -> ::core::option::Option<usize> {
                    #max_body
                }
                #holder
            }

            impl #rt::cdr::TopicType for #ident {
                fn type_name() -> &'static str { #scoped }
                fn extensibility() -> #rt::cdr::Extensibility { #rt::cdr::Extensibility::#ext }
                fn is_keyed() -> bool { #keyed }
                fn serialize(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #rt::cdr::CdrSerialize::write_cdr(self, w)
                }
                fn deserialize(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    <Self as #rt::cdr::CdrSerialize>::read_cdr(r)
                }
                fn serialize_key(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #ser_key
                }
                fn key_max_size(version: #rt::cdr::XcdrVersion) -> ::core::option::Option<usize> {
                    #key_max
                }
                fn serialize_key_payload(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #rt::cdr::CdrSerialize::write_cdr_key_holder(self, w)
                }
                fn deserialize_key_payload(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    <Self as #rt::cdr::CdrSerialize>::read_cdr_key_holder(r)
                }
                fn dynamic_type() -> ::core::option::Option<#rt::xtypes::DynamicType> {
                    Self::xtypes_type()
                }
            }
        }
    }

    // ---------------------------------------------------------------- unions

    /// A discriminator value as a Rust expression/pattern.
    fn disc_value(&self, disc: &Type, v: i128) -> TokenStream {
        match disc {
            Type::Prim(p) => int_lit(*p, v),
            Type::Named(n) => {
                let p = self.path(n);
                let name = match self.kind_of(n) {
                    Some(ItemKind::Enum { values, .. }) => values.iter().find(|e| e.1 == v).map(|e| e.0.clone()),
                    _ => None,
                };
                match name {
                    Some(name) => {
                        let name = rust_ident(&name);
                        quote!(#p::#name)
                    }
                    None => quote!(<#p as ::core::default::Default>::default()),
                }
            }
            _ => quote!(0),
        }
    }

    /// All discriminator values, when the type is small enough to enumerate (boolean, enum).
    fn disc_domain(&self, disc: &Type) -> Option<Vec<i128>> {
        match disc {
            Type::Prim(Prim::Bool) => Some(vec![0, 1]),
            Type::Named(n) => match self.kind_of(n) {
                Some(ItemKind::Enum { values, .. }) => Some(values.iter().map(|v| v.1).collect()),
                _ => None,
            },
            _ => None,
        }
    }

    fn write_disc(&self, disc: &Type, v: TokenStream) -> TokenStream {
        let rt = &self.rt;
        match disc {
            Type::Prim(p) => {
                let m = prim_method(*p);
                quote!(w.#m(#v);)
            }
            _ => {
                // `*d` → `d`; an enumerator path → `&Path`.
                let mut it = v.clone().into_iter();
                let r = match it.next() {
                    Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '*' => it.collect(),
                    _ => quote!(&#v),
                };
                quote!(#rt::cdr::CdrSerialize::write_cdr(#r, w)?;)
            }
        }
    }

    fn union_item(&self, ident: &Ident, scoped: &str, u: &UnionDef) -> TokenStream {
        let rt = &self.rt;
        let dty = self.rust_type(&u.disc);
        let used: Vec<i128> = u.cases.iter().flat_map(|c| c.labels.iter().copied()).collect();
        let domain = self.disc_domain(&u.disc);
        let covered = domain.as_ref().is_some_and(|d| d.iter().all(|v| used.contains(v)));
        let has_default = u.cases.iter().any(|c| c.is_default);
        let unselected = !has_default && !covered;
        // A value no label uses, for the default branch.
        let free = match &domain {
            Some(d) => d.iter().copied().find(|v| !used.contains(v)),
            None => (0..).find(|v| !used.contains(v)),
        };
        let mut vnames: Vec<String> = u.cases.iter().map(|c| camel_case(&c.name)).collect();
        let distinct = {
            let mut s = vnames.clone();
            s.sort();
            s.dedup();
            s.len() == vnames.len() && !vnames.iter().any(|n| n == "Unselected")
        };
        if !distinct {
            vnames = u.cases.iter().map(|c| c.name.clone()).collect();
        }
        let single = |c: &crate::model::UnionCase| c.labels.len() == 1 && !c.is_default;
        let mut variants = Vec::new();
        let mut write_arms = Vec::new();
        let mut read_arms = Vec::new();
        let mut disc_arms = Vec::new();
        let lit = |v: i128| self.disc_value(&u.disc, v);
        for (c, vn) in u.cases.iter().zip(&vnames) {
            let v = rust_ident(vn);
            let mut ty = self.rust_type(&c.ty);
            if c.external {
                ty = quote!(::std::boxed::Box<#ty>);
            }
            let doc = format!(" IDL branch `{}` (id {}).", c.name, c.id);
            let val = if c.external { quote!(v.as_ref()) } else { quote!(v) };
            let wv = self.write(&c.ty, val, Mode::Normal);
            let mut rv = self.read(&c.ty, Mode::Normal);
            if c.external {
                rv = quote!(::std::boxed::Box::new(#rv));
            }
            let cid = c.id;
            let clc = self.length_code(&c.ty);
            let wrap_member = |body: TokenStream| {
                if u.ext == Ext::Mutable {
                    quote!(let m = w.begin_member_extended(#cid, false); #body w.end_member_lc(m, #clc);)
                } else {
                    body
                }
            };
            if single(c) {
                variants.push(quote!(#[doc = #doc] #v(#ty),));
                let l = lit(c.labels[0]);
                let wd = self.write_disc(&u.disc, l.clone());
                let wd = self.wrap_disc(u, wd);
                let wv = wrap_member(wv);
                write_arms.push(quote!(Self::#v(v) => { #wd #wv }));
                read_arms.push(quote!(#l => Self::#v(#rv),));
                disc_arms.push(quote!(Self::#v(_) => #l,));
            } else {
                variants.push(quote!(#[doc = #doc] #v(#dty, #ty),));
                let wd = self.write_disc(&u.disc, quote!(*d));
                let wd = self.wrap_disc(u, wd);
                let wv = wrap_member(wv);
                let labels: Vec<TokenStream> = c.labels.iter().map(|l| lit(*l)).collect();
                let check = if c.is_default {
                    let others: Vec<TokenStream> =
                        used.iter().filter(|l| !c.labels.contains(l)).map(|l| lit(*l)).collect();
                    if others.is_empty() {
                        quote!()
                    } else {
                        let cond = self.disc_in(
                            &u.disc,
                            &used.iter().copied().filter(|l| !c.labels.contains(l)).collect::<Vec<_>>(),
                            &others,
                        );
                        quote!(if #cond {
                            return ::core::result::Result::Err(#rt::cdr::CdrError::Invalid("union discriminator selects another branch"));
                        })
                    }
                } else {
                    let cond = self.disc_in(&u.disc, &c.labels, &labels);
                    quote!(if !(#cond) {
                        return ::core::result::Result::Err(#rt::cdr::CdrError::Invalid("union discriminator selects another branch"));
                    })
                };
                write_arms.push(quote!(Self::#v(d, v) => { #check #wd #wv }));
                if c.is_default {
                    if !covered {
                        read_arms.push(quote!(_ => Self::#v(d, #rv),));
                    }
                } else {
                    read_arms.push(quote!(#(#labels)|* => Self::#v(d, #rv),));
                }
                disc_arms.push(quote!(Self::#v(d, _) => *d,));
            }
        }
        if unselected {
            variants.push(quote!(#[doc = " A discriminator value that selects no branch."] Unselected(#dty),));
            let wd = self.write_disc(&u.disc, quote!(*d));
            let wd = self.wrap_disc(u, wd);
            let check = if used.is_empty() {
                quote!()
            } else {
                let all: Vec<TokenStream> = used.iter().map(|l| lit(*l)).collect();
                let cond = self.disc_in(&u.disc, &used, &all);
                quote!(if #cond {
                    return ::core::result::Result::Err(#rt::cdr::CdrError::Invalid("union discriminator selects a branch"));
                })
            };
            write_arms.push(quote!(Self::Unselected(d) => { #check #wd }));
            read_arms.push(quote!(_ => Self::Unselected(d),));
            disc_arms.push(quote!(Self::Unselected(d) => *d,));
        }
        // Default: the first branch with its first label (or the free value for `default`).
        let default = match u.cases.first().zip(vnames.first()) {
            Some((c, vn)) => {
                let v = rust_ident(vn);
                let mut dv = self.default_expr(&c.ty);
                if c.external {
                    dv = quote!(::std::boxed::Box::new(#dv));
                }
                if single(c) {
                    quote!(Self::#v(#dv))
                } else {
                    let d = c.labels.first().copied().or(free).map_or(quote!(::core::default::Default::default()), lit);
                    quote!(Self::#v(#d, #dv))
                }
            }
            None => quote!(Self::Unselected(::core::default::Default::default())),
        };
        let read_disc = self.read(&u.disc, Mode::Normal);
        let ext = u.ext;
        let write_body = match ext {
            Ext::Final => quote!(match self { #(#write_arms)* } ::core::result::Result::Ok(())),
            Ext::Appendable => {
                quote!(let d0 = w.begin_dheader(); match self { #(#write_arms)* } w.end_dheader(d0); ::core::result::Result::Ok(()))
            }
            Ext::Mutable => {
                quote!(let d0 = w.begin_dheader(); match self { #(#write_arms)* } #rt::cdr::traits::end_parameter_list(w); w.end_dheader(d0); ::core::result::Result::Ok(()))
            }
        };
        let read_body = match ext {
            Ext::Final => quote!(let d = #read_disc; ::core::result::Result::Ok(match d { #(#read_arms)* })),
            Ext::Appendable => quote!(#rt::cdr::traits::read_delimited(r, |r| {
                let d = #read_disc;
                ::core::result::Result::Ok(match d { #(#read_arms)* })
            })),
            Ext::Mutable => {
                let missing = if unselected {
                    quote!((::core::option::Option::None, ::core::option::Option::Some(d)) => ::core::result::Result::Ok(Self::Unselected(d)),)
                } else {
                    quote!()
                };
                quote! {
                    let mut disc: ::core::option::Option<#dty> = ::core::option::Option::None;
                    let mut out: ::core::option::Option<Self> = ::core::option::Option::None;
                    #rt::cdr::traits::read_mutable_members(r, |id, r| {
                        if id == 0 {
                            disc = ::core::option::Option::Some(#read_disc);
                        } else {
                            let d = disc.ok_or(#rt::cdr::CdrError::Invalid("union member before its discriminator"))?;
                            out = ::core::option::Option::Some(match d { #(#read_arms)* });
                        }
                        ::core::result::Result::Ok(true)
                    })?;
                    match (out, disc) {
                        (::core::option::Option::Some(v), _) => ::core::result::Result::Ok(v),
                        #missing
                        _ => ::core::result::Result::Err(#rt::cdr::CdrError::Invalid("union value missing")),
                    }
                }
            }
        };
        let doc = format!(" IDL `union {scoped}`.");
        let derives = quote!(#[derive(Clone, Debug, PartialEq)]);
        quote! {
            #[doc = #doc]
            #derives
            #[allow(non_camel_case_types, clippy::large_enum_variant)]
            pub enum #ident {
                #(#variants)*
            }

            impl #ident {
                /// The discriminator value.
                pub fn discriminator(&self) -> #dty {
                    match self { #(#disc_arms)* }
                }
            }

            impl ::core::default::Default for #ident {
                fn default() -> Self {
                    #default
                }
            }

            // Label lists are written as in the IDL, not folded into ranges.
            #[allow(clippy::manual_range_patterns)]
            impl #rt::cdr::CdrSerialize for #ident {
                fn write_cdr(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #write_body
                }
                fn read_cdr(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    #read_body
                }
                fn cdr_key_max_end(_version: #rt::cdr::XcdrVersion, _offset: usize) -> ::core::option::Option<usize> {
                    // Unions as keys are hashed with MD5.
                    ::core::option::Option::None
                }
            }
        }
    }

    /// The XCDR2 EMHEADER length code used for a member of type `t` (the dynamic codec's choice, so both
    /// produce the same bytes): 0–3 for 1/2/4/8-byte primitive-like values, 5 for strings and sequences or
    /// arrays of non-primitive elements, 5/6/7 for sequences of 1/4/8-byte primitives, 4 otherwise.
    fn length_code(&self, t: &Type) -> u32 {
        let size_lc = |n: usize| match n {
            1 => 0,
            2 => 1,
            4 => 2,
            8 => 3,
            _ => 4,
        };
        let prim_like_size = |t: &Type| -> Option<usize> {
            match t {
                Type::Prim(p) => Some(prim_size(*p)),
                Type::Named(n) => match self.kind_of(n) {
                    Some(ItemKind::Enum { bit_bound, .. }) => Some(enum_size(*bit_bound)),
                    Some(ItemKind::Bitmask { bit_bound, .. }) => Some(bitmask_size(*bit_bound)),
                    _ => None,
                },
                _ => None,
            }
        };
        match t {
            Type::String { .. } => 5,
            Type::Fixed { .. } => 4,
            Type::Seq(el, _) => match prim_like_size(el) {
                Some(1) => 5,
                Some(4) => 6,
                Some(8) => 7,
                Some(_) => 4,
                None => 5,
            },
            Type::Array(el, _) if prim_like_size(el).is_none() => 5,
            Type::Array(..) | Type::Map(..) => 4,
            other => prim_like_size(other).map_or(4, size_lc),
        }
    }

    /// A condition: `*d` is one of `values` (`pats` are their patterns).
    fn disc_in(&self, disc: &Type, values: &[i128], pats: &[TokenStream]) -> TokenStream {
        if matches!(disc, Type::Prim(Prim::Bool)) {
            let t = values.contains(&1);
            let f = values.contains(&0);
            return match (t, f) {
                (true, true) => quote!(d == d),
                (true, false) => quote!(*d),
                (false, true) => quote!(!*d),
                (false, false) => quote!(d != d),
            };
        }
        quote!(matches!(*d, #(#pats)|*))
    }

    fn wrap_disc(&self, u: &UnionDef, wd: TokenStream) -> TokenStream {
        if u.ext == Ext::Mutable {
            let lc = self.length_code(&u.disc);
            quote!(let m = w.begin_member_extended(0, true); #wd w.end_member_lc(m, #lc);)
        } else {
            wd
        }
    }

    // ---------------------------------------------------------------- XTypes dynamic types

    /// True if the named type can be described as a `DynamicType`: no recursion (a recursive description
    /// would never end).
    fn describable(&self, name: &str, stack: &mut Vec<String>) -> bool {
        if stack.iter().any(|s| s == name) {
            return false;
        }
        stack.push(name.to_string());
        let ok = match self.kind_of(name) {
            Some(ItemKind::Struct(s)) => s.fields.iter().all(|f| self.describable_type(&f.ty, stack)),
            Some(ItemKind::Union(u)) => {
                self.describable_type(&u.disc, stack) && u.cases.iter().all(|c| self.describable_type(&c.ty, stack))
            }
            Some(ItemKind::Enum { .. } | ItemKind::Bitmask { .. } | ItemKind::Bitset { .. }) => true,
            _ => false,
        };
        stack.pop();
        ok
    }

    fn describable_type(&self, t: &Type, stack: &mut Vec<String>) -> bool {
        match t {
            Type::Prim(_) | Type::String { .. } | Type::Fixed { .. } => true,
            Type::Seq(el, _) | Type::Array(el, _) => self.describable_type(el, stack),
            Type::Map(k, v, _) => self.describable_type(k, stack) && self.describable_type(v, stack),
            Type::Named(n) => self.describable(n, stack),
        }
    }

    /// An expression of type `DynamicType` describing `t` (inside a function returning `Option`).
    fn dyn_expr(&self, t: &Type) -> TokenStream {
        let rt = &self.rt;
        let x = quote!(#rt::xtypes);
        let bound = |b: &Option<u64>| Literal::u32_unsuffixed(b.map_or(0, |b| b as u32));
        match t {
            Type::Prim(p) => {
                let k = format_ident!("{}", prim_kind(*p));
                quote!(#x::DynamicType::primitive(#x::PrimitiveKind::#k))
            }
            Type::String { wide: false, bound: b } => {
                let b = bound(b);
                quote!(#x::DynamicType::string(#b))
            }
            Type::String { wide: true, bound: b } => {
                let b = bound(b);
                quote!(#x::DynamicType::wstring(#b))
            }
            Type::Fixed { digits, scale } => {
                let (d, s) = (Literal::u8_unsuffixed(*digits as u8), Literal::u8_unsuffixed(*scale as u8));
                quote!(#x::DynamicType::fixed(#d, #s))
            }
            Type::Seq(el, b) => {
                let e = self.dyn_expr(el);
                let b = bound(b);
                quote!(#x::DynamicType::sequence(#e, #b))
            }
            Type::Array(el, dims) => {
                let e = self.dyn_expr(el);
                let dims = dims.iter().map(|d| Literal::u32_unsuffixed(*d as u32));
                quote!(#x::DynamicType::array(#e, &[#(#dims),*]))
            }
            Type::Map(k, v, b) => {
                let k = self.dyn_expr(k);
                let v = self.dyn_expr(v);
                let b = bound(b);
                quote!(#x::DynamicType::map(#k, #v, #b))
            }
            Type::Named(n) => {
                let p = self.path(n);
                quote!(#p::xtypes_type()?)
            }
        }
    }

    fn ext_tokens(&self, ext: Ext) -> TokenStream {
        let rt = &self.rt;
        match ext {
            Ext::Final => quote!(#rt::xtypes::Extensibility::Final),
            Ext::Appendable => quote!(#rt::xtypes::Extensibility::Appendable),
            Ext::Mutable => quote!(#rt::xtypes::Extensibility::Mutable),
        }
    }

    /// `impl T { pub fn xtypes_type() -> Option<DynamicType> }` for structs, unions, enums and bitmasks.
    fn xtypes_impl(&self, ident: &Ident, scoped: &str, kind: &ItemKind) -> TokenStream {
        let rt = &self.rt;
        let x = quote!(#rt::xtypes);
        if matches!(kind, ItemKind::Typedef(_) | ItemKind::Const(..)) {
            return quote!();
        }
        let body = if !self.describable(scoped, &mut Vec::new()) {
            quote!(::core::option::Option::None)
        } else {
            match kind {
                ItemKind::Struct(s) => {
                    let ext = self.ext_tokens(s.ext);
                    let nested = s.nested;
                    let (base, skip) = match &s.base {
                        Some(b) => {
                            let p = self.path(b);
                            let n = match self.kind_of(b) {
                                Some(ItemKind::Struct(bs)) => bs.fields.len(),
                                _ => 0,
                            };
                            (
                                quote!(.base(match #p::xtypes_type()? {
                                    #x::DynamicType::Struct(b) => b,
                                    _ => return ::core::option::Option::None,
                                })),
                                n,
                            )
                        }
                        None => (quote!(), 0),
                    };
                    let autoid = if s.autoid_hash { quote!(.autoid(#x::AutoId::Hash)) } else { quote!() };
                    let members = s.fields.iter().skip(skip).map(|f| {
                        let name = &f.name;
                        let ty = self.dyn_expr(&f.ty);
                        let id = f.id;
                        let mut m = quote!(#x::StructMember::new(#name, #ty));
                        if f.key {
                            m = quote!(#m.key());
                        }
                        if f.optional {
                            m = quote!(#m.optional());
                        }
                        if f.must_understand {
                            m = quote!(#m.must_understand());
                        }
                        if f.external {
                            m = quote!(#m.external());
                        }
                        quote!(.with_member(#m.id(#id)))
                    });
                    quote! {
                        ::core::option::Option::Some(
                            #x::StructType::new(#scoped, #ext)
                                .nested(#nested)
                                #autoid
                                #base
                                #(#members)*
                                .build()
                        )
                    }
                }
                ItemKind::Union(u) => {
                    let ext = self.ext_tokens(u.ext);
                    let disc = self.dyn_expr(&u.disc);
                    let nested = u.nested;
                    let autoid = if u.autoid_hash { quote!(#x::AutoId::Hash) } else { quote!(#x::AutoId::Sequential) };
                    let cases = u.cases.iter().map(|c| {
                        let name = &c.name;
                        let ty = self.dyn_expr(&c.ty);
                        let id = c.id;
                        let labels = c.labels.iter().map(|l| Literal::i64_unsuffixed(*l as i64));
                        let is_default = c.is_default;
                        let external = c.external;
                        quote!(.with_case(#x::UnionCase {
                            id: #id,
                            name: #name.into(),
                            ty: #ty,
                            labels: ::std::vec![#(#labels),*],
                            is_default: #is_default,
                            external: #external,
                        }))
                    });
                    quote! {
                        let mut u = #x::UnionType::new(#scoped, #ext, #disc);
                        u.nested = #nested;
                        u.autoid = #autoid;
                        ::core::option::Option::Some(u #(#cases)* .build())
                    }
                }
                ItemKind::Enum { bit_bound, values } => {
                    let bb = Literal::u16_unsuffixed(*bit_bound as u16);
                    let lits = values.iter().map(|(n, v)| {
                        let v = Literal::i32_unsuffixed(*v as i32);
                        quote!(.literal_value(#n, #v))
                    });
                    quote!(::core::option::Option::Some(#x::EnumType::new(#scoped).bit_bound(#bb) #(#lits)* .build()))
                }
                ItemKind::Bitmask { bit_bound, flags } => {
                    let bb = Literal::u16_unsuffixed(*bit_bound as u16);
                    let fs = flags.iter().map(|(n, p)| {
                        let p = Literal::u16_unsuffixed(*p as u16);
                        quote!(.flag_at(#n, #p))
                    });
                    quote!(::core::option::Option::Some(#x::BitmaskType::new(#scoped).bit_bound(#bb) #(#fs)* .build()))
                }
                ItemKind::Bitset { fields, bits } => {
                    let bb = Literal::u16_unsuffixed(*bits as u16);
                    let fs = fields.iter().filter_map(|f| {
                        let n = f.name.as_ref()?;
                        let p = Literal::u16_unsuffixed(f.offset as u16);
                        let w = Literal::u8_unsuffixed(f.width as u8);
                        let k = format_ident!("{}", prim_kind(f.ty));
                        Some(quote!(.field(#n, #p, #w, #x::PrimitiveKind::#k)))
                    });
                    quote!(::core::option::Option::Some(#x::BitsetType::new(#scoped) #(#fs)* .bit_bound(#bb).build()))
                }
                _ => return quote!(),
            }
        };
        quote! {
            impl #ident {
                /// This type as an XTypes dynamic type (`None` if it is recursive).
                pub fn xtypes_type() -> ::core::option::Option<#x::DynamicType> {
                    #body
                }
            }
        }
    }

    // ---------------------------------------------------------------- test support

    /// An expression producing a random value of `t` from `g` (within its bounds).
    fn rand(&self, t: &Type, ts: &TokenStream) -> TokenStream {
        match t {
            Type::String { wide, bound } => {
                let b = match bound {
                    Some(b) => {
                        let b = lit_usize(*b);
                        quote!(::core::option::Option::Some(#b))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote!(g.string(#b, #wide))
            }
            Type::Fixed { digits, .. } => {
                let ty = self.rust_type(t);
                let m = Literal::u128_unsuffixed(10u128.pow(*digits));
                quote!({
                    let v = ((u128::from(g.next_u64()) << 64 | u128::from(g.next_u64())) % #m) as i128;
                    <#ty>::from_unscaled(if g.below(2) == 0 { v } else { -v }).unwrap_or_default()
                })
            }
            Type::Seq(el, bound) | Type::Map(_, el, bound) => {
                let max = lit_usize(bound.unwrap_or(4).min(4));
                let e = self.rand(el, ts);
                let item = match t {
                    Type::Map(k, _, _) => {
                        let k = self.rand(k, ts);
                        quote!((#k, #e))
                    }
                    _ => e,
                };
                quote!({ let n = g.len(#max); (0..n).map(|_| #item).collect() })
            }
            Type::Array(el, dims) => {
                let mut e = self.rand(el, ts);
                for _ in dims {
                    e = quote!(::core::array::from_fn(|_| #e));
                }
                e
            }
            _ => {
                let ty = self.rust_type(t);
                quote!(<#ty as #ts::Random>::random(g))
            }
        }
    }

    fn random_impl(&self, ident: &Ident, kind: &ItemKind, ts: &TokenStream) -> TokenStream {
        let body = match kind {
            ItemKind::Struct(s) => {
                let fs = s.fields.iter().map(|f| {
                    let n = rust_ident(&f.name);
                    let mut e = match f.min.as_ref().or(f.max.as_ref()) {
                        Some(v) if matches!(f.ty, Type::Prim(_)) => self.value_expr(&f.ty, v),
                        _ => self.rand(&f.ty, ts),
                    };
                    if f.external {
                        e = quote!(::std::boxed::Box::new(#e));
                    }
                    if f.optional {
                        e = quote!(if g.below(2) == 0 { ::core::option::Option::None } else { ::core::option::Option::Some(#e) });
                    }
                    quote!(#n: #e,)
                });
                let unused = if s.fields.is_empty() { quote!(let _ = g;) } else { quote!() };
                quote!(#unused Self { #(#fs)* })
            }
            ItemKind::Union(u) => {
                let used: Vec<i128> = u.cases.iter().flat_map(|c| c.labels.iter().copied()).collect();
                let domain = self.disc_domain(&u.disc);
                let free = match &domain {
                    Some(d) => d.iter().copied().find(|v| !used.contains(v)),
                    None => (0..).find(|v| !used.contains(v)),
                };
                let covered = domain.as_ref().is_some_and(|d| d.iter().all(|v| used.contains(v)));
                let unselected = !u.cases.iter().any(|c| c.is_default) && !covered;
                let mut arms = Vec::new();
                let mut vnames: Vec<String> = u.cases.iter().map(|c| camel_case(&c.name)).collect();
                let mut sorted = vnames.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != vnames.len() || vnames.iter().any(|n| n == "Unselected") {
                    vnames = u.cases.iter().map(|c| c.name.clone()).collect();
                }
                for (i, (c, vn)) in u.cases.iter().zip(&vnames).enumerate() {
                    let v = rust_ident(vn);
                    let mut e = self.rand(&c.ty, ts);
                    if c.external {
                        e = quote!(::std::boxed::Box::new(#e));
                    }
                    if c.labels.len() == 1 && !c.is_default {
                        arms.push(quote!(#i => Self::#v(#e),));
                    } else {
                        let mut ls: Vec<TokenStream> = c.labels.iter().map(|l| self.disc_value(&u.disc, *l)).collect();
                        if c.is_default {
                            match free {
                                Some(f) => ls.push(self.disc_value(&u.disc, f)),
                                None if ls.is_empty() => continue,
                                None => {}
                            }
                        }
                        let n = ls.len();
                        arms.push(quote!(#i => Self::#v([#(#ls),*][g.below(#n)], #e),));
                    }
                }
                if unselected {
                    if let Some(f) = free {
                        let d = self.disc_value(&u.disc, f);
                        arms.push(quote!(_ => Self::Unselected(#d),));
                    }
                }
                if !arms.iter().any(|a| a.to_string().starts_with('_')) {
                    arms.push(quote!(_ => ::core::default::Default::default(),));
                }
                let n = u.cases.len() + 1;
                quote!(match g.below(#n) { #(#arms)* })
            }
            ItemKind::Enum { values, .. } => {
                let vs = values.iter().map(|(n, _)| rust_ident(n));
                let n = values.len();
                quote!([#(Self::#vs),*][g.below(#n)])
            }
            ItemKind::Bitmask { .. } => quote!(Self(#ts::Random::random(g))),
            ItemKind::Bitset { fields, .. } => {
                // Random bits through the decoder's unpacking: every field gets an in-range value.
                let (_, unpacks) = bitset_code(fields);
                if unpacks.is_empty() {
                    quote!(let _ = g; Self {})
                } else {
                    quote!(let bits = g.next_u64(); Self { #(#unpacks)* })
                }
            }
            ItemKind::Typedef(_) | ItemKind::Const(..) => return quote!(),
        };
        quote! {
            impl #ts::Random for #ident {
                fn random(g: &mut #ts::Rng) -> Self {
                    #body
                }
            }
        }
    }

    // ---------------------------------------------------------------- enums, bitmasks, bitsets

    fn enum_item(&self, ident: &Ident, scoped: &str, bit_bound: u32, values: &[(String, i128)]) -> TokenStream {
        let rt = &self.rt;
        let (repr, m, size) = match bit_bound {
            0..=8 => (quote!(u8), quote!(u8), 1usize),
            9..=16 => (quote!(u16), quote!(u16), 2),
            _ => (quote!(i32), quote!(i32), 4),
        };
        let prim = match bit_bound {
            0..=8 => Prim::U8,
            9..=16 => Prim::U16,
            _ => Prim::I32,
        };
        let variants = values.iter().enumerate().map(|(i, (n, v))| {
            let n = rust_ident(n);
            let l = int_lit(prim, *v);
            let d = if i == 0 { quote!(#[default]) } else { quote!() };
            quote!(#d #n = #l,)
        });
        let arms = values.iter().map(|(n, v)| {
            let n = rust_ident(n);
            let l = int_lit(prim, *v);
            quote!(#l => ::core::result::Result::Ok(Self::#n),)
        });
        // XCDR1 writes every enum as a 4-byte integer; XCDR2 uses the size the bit bound selects.
        let (write, read, max) = if size == 4 {
            (
                quote!(w.i32(*self as i32);),
                quote!(r.i32()?),
                quote!(::core::option::Option::Some(#rt::cdr::traits::align_offset(version, offset, 4) + 4)),
            )
        } else {
            (
                quote! {
                    if w.version() == #rt::cdr::XcdrVersion::V1 {
                        w.i32(i32::from(*self as #repr));
                    } else {
                        w.#m(*self as #repr);
                    }
                },
                quote! {
                    if r.version() == #rt::cdr::XcdrVersion::V1 {
                        let v = r.i32()?;
                        #repr::try_from(v).map_err(|_| #rt::cdr::CdrError::InvalidEnum(v as u32))?
                    } else {
                        r.#m()?
                    }
                },
                quote! {
                    let size = if version == #rt::cdr::XcdrVersion::V1 { 4 } else { #size };
                    ::core::option::Option::Some(#rt::cdr::traits::align_offset(version, offset, size) + size)
                },
            )
        };
        let doc = format!(" IDL `enum {scoped}`.");
        quote! {
            #[doc = #doc]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
            #[repr(#repr)]
            #[allow(non_camel_case_types)]
            pub enum #ident {
                #(#variants)*
            }

            impl #rt::cdr::CdrSerialize for #ident {
                const CDR_PRIMITIVE: bool = true;
                fn write_cdr(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    #write
                    ::core::result::Result::Ok(())
                }
                fn read_cdr(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    let v = #read;
                    match v {
                        #(#arms)*
                        other => ::core::result::Result::Err(#rt::cdr::CdrError::InvalidEnum(other as u32)),
                    }
                }
                fn cdr_key_max_end(version: #rt::cdr::XcdrVersion, offset: usize) -> ::core::option::Option<usize> {
                    #max
                }
            }
        }
    }

    fn bitmask_item(&self, ident: &Ident, scoped: &str, bit_bound: u32, flags: &[(String, u32)]) -> TokenStream {
        let rt = &self.rt;
        let (ty, size) = match bit_bound {
            0..=8 => (quote!(u8), 1usize),
            9..=16 => (quote!(u16), 2),
            17..=32 => (quote!(u32), 4),
            _ => (quote!(u64), 8),
        };
        let consts = flags.iter().map(|(n, p)| {
            let n = rust_ident(n);
            let doc = format!(" Flag at bit position {p}.");
            let p = Literal::u32_unsuffixed(*p);
            quote!(#[doc = #doc] pub const #n: Self = Self(1 << #p);)
        });
        let doc = format!(" IDL `bitmask {scoped}`.");
        quote! {
            #[doc = #doc]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
            #[allow(non_camel_case_types)]
            pub struct #ident(pub #ty);

            #[allow(non_upper_case_globals)]
            impl #ident {
                #(#consts)*
                /// True if every bit of `other` is set in `self`.
                pub fn contains(self, other: Self) -> bool {
                    self.0 & other.0 == other.0
                }
            }

            impl ::core::ops::BitOr for #ident {
                type Output = Self;
                fn bitor(self, rhs: Self) -> Self {
                    Self(self.0 | rhs.0)
                }
            }

            impl #rt::cdr::CdrSerialize for #ident {
                const CDR_PRIMITIVE: bool = true;
                fn write_cdr(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    w.#ty(self.0);
                    ::core::result::Result::Ok(())
                }
                fn read_cdr(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    ::core::result::Result::Ok(Self(r.#ty()?))
                }
                fn cdr_key_max_end(version: #rt::cdr::XcdrVersion, offset: usize) -> ::core::option::Option<usize> {
                    ::core::option::Option::Some(#rt::cdr::traits::align_offset(version, offset, #size) + #size)
                }
            }
        }
    }

    fn bitset_item(&self, ident: &Ident, scoped: &str, fields: &[crate::model::BitField], bits: u32) -> TokenStream {
        let rt = &self.rt;
        let (holder, size) = match bits {
            0..=8 => (quote!(u8), 1usize),
            9..=16 => (quote!(u16), 2),
            17..=32 => (quote!(u32), 4),
            _ => (quote!(u64), 8),
        };
        let named: Vec<&crate::model::BitField> = fields.iter().filter(|f| f.name.is_some()).collect();
        let names: Vec<Ident> = named.iter().map(|f| rust_ident(f.name.as_deref().unwrap_or("_"))).collect();
        let types: Vec<TokenStream> = named.iter().map(|f| prim_rust(f.ty)).collect();
        let (mut packs, unpacks) = bitset_code(fields);
        let pack = match packs.len() {
            0 => quote!(0),
            1 => packs.remove(0),
            _ => quote!(#((#packs))|*),
        };
        let (write, read) = if bits > 32 {
            (quote!(w.u64(bits);), quote!(let bits = r.u64()?;))
        } else {
            (quote!(w.#holder(bits as #holder);), quote!(let bits = u64::from(r.#holder()?);))
        };
        let read = if names.is_empty() {
            quote!(let _ = r.#holder()?; ::core::result::Result::Ok(Self {}))
        } else {
            quote!(#read ::core::result::Result::Ok(Self { #(#unpacks)* }))
        };
        let docs = named.iter().map(|f| format!(" Bits {}..{}.", f.offset, f.offset + f.width));
        let doc = format!(" IDL `bitset {scoped}` ({bits} bits).");
        quote! {
            #[doc = #doc]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
            #[allow(non_camel_case_types, non_snake_case)]
            pub struct #ident {
                #( #[doc = #docs] pub #names: #types, )*
            }

            impl #rt::cdr::CdrSerialize for #ident {
                #[allow(clippy::identity_op)]
                fn write_cdr(&self, w: &mut #rt::cdr::CdrWriter<'_>) -> ::core::result::Result<(), #rt::cdr::CdrError> {
                    let bits: u64 = #pack;
                    #write
                    ::core::result::Result::Ok(())
                }
                fn read_cdr(r: &mut #rt::cdr::CdrReader<'_>) -> ::core::result::Result<Self, #rt::cdr::CdrError> {
                    #read
                }
                fn cdr_key_max_end(version: #rt::cdr::XcdrVersion, offset: usize) -> ::core::option::Option<usize> {
                    ::core::option::Option::Some(#rt::cdr::traits::align_offset(version, offset, #size) + #size)
                }
            }
        }
    }
}
