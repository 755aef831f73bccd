//! The resolved model: scoped names resolved, typedefs expanded, constants evaluated, member ids assigned.

use std::collections::{HashMap, HashSet};

use md5::{Digest, Md5};

use crate::ast::{Annotation, DefKind, Definition, Expr, ExprKind, Prim, ScopedName, TypeSpec};
use crate::diag::{Diagnostic, Severity, SourceMap, Span};

/// Extensibility kind of a constructed type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Ext {
    /// `@final` (the default, as in Cyclone's idlc).
    #[default]
    Final,
    /// `@appendable`.
    Appendable,
    /// `@mutable`.
    Mutable,
}

/// A resolved type. Typedefs are expanded; named constructed types are referenced by their scoped name.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    /// A primitive.
    Prim(Prim),
    /// `string` / `wstring`.
    String {
        /// `wstring`.
        wide: bool,
        /// Bound in characters.
        bound: Option<u64>,
    },
    /// `sequence<T, N>`.
    Seq(Box<Type>, Option<u64>),
    /// `T name[a][b]`: dimensions outermost first.
    Array(Box<Type>, Vec<u64>),
    /// `map<K, V, N>`.
    Map(Box<Type>, Box<Type>, Option<u64>),
    /// `fixed<digits, scale>`: 1..=31 digits, `scale` of them after the decimal point.
    Fixed {
        /// Total digits.
        digits: u32,
        /// Digits after the point.
        scale: u32,
    },
    /// A struct, union, enum, bitmask or bitset, by scoped name (`a::b::T`).
    Named(String),
}

/// A constant value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Integer (any integer type, octet, or an enumerator's value).
    Int(i128),
    /// Floating point.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Character (code point).
    Char(u32),
    /// String.
    Str(String),
    /// An enumerator: enum scoped name, enumerator name, value.
    Enum(String, String, i128),
}

/// A struct member (base-type members come first).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// IDL name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Member id.
    pub id: u32,
    /// `@key`.
    pub key: bool,
    /// `@optional`.
    pub optional: bool,
    /// `@external`.
    pub external: bool,
    /// `@must_understand`.
    pub must_understand: bool,
    /// `@range(min=…)` / `@min`.
    pub min: Option<Value>,
    /// `@range(max=…)` / `@max`.
    pub max: Option<Value>,
    /// `@default`.
    pub default: Option<Value>,
}

/// A struct.
#[derive(Clone, Debug, PartialEq)]
pub struct StructDef {
    /// Extensibility.
    pub ext: Ext,
    /// Base type, if any.
    pub base: Option<String>,
    /// Members, base members first.
    pub fields: Vec<Field>,
    /// `@nested`.
    pub nested: bool,
    /// `@autoid(HASH)`.
    pub autoid_hash: bool,
}

impl StructDef {
    /// True if some member is a key.
    pub fn keyed(&self) -> bool {
        self.fields.iter().any(|f| f.key)
    }
}

/// A union branch.
#[derive(Clone, Debug, PartialEq)]
pub struct UnionCase {
    /// IDL name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Member id.
    pub id: u32,
    /// Label values (discriminator values as integers; enumerators by value, booleans 0/1).
    pub labels: Vec<i128>,
    /// Has the `default` label.
    pub is_default: bool,
    /// `@external`.
    pub external: bool,
}

/// A union.
#[derive(Clone, Debug, PartialEq)]
pub struct UnionDef {
    /// Extensibility.
    pub ext: Ext,
    /// Discriminator type (integer, char, boolean or enum).
    pub disc: Type,
    /// Discriminator is `@key`.
    pub disc_key: bool,
    /// Branches.
    pub cases: Vec<UnionCase>,
    /// `@nested`.
    pub nested: bool,
    /// `@autoid(HASH)`.
    pub autoid_hash: bool,
}

/// A resolved definition.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// Struct.
    Struct(StructDef),
    /// Union.
    Union(UnionDef),
    /// Enum: bit bound and enumerators with values.
    Enum {
        /// `@bit_bound` (default 32).
        bit_bound: u32,
        /// Enumerators.
        values: Vec<(String, i128)>,
    },
    /// Bitmask: bit bound and flags with positions.
    Bitmask {
        /// `@bit_bound` (default 32).
        bit_bound: u32,
        /// Flags.
        flags: Vec<(String, u32)>,
    },
    /// Bitset: fields (None name = padding) with width, offset and holder type.
    Bitset {
        /// Fields.
        fields: Vec<BitField>,
        /// Total bits.
        bits: u32,
    },
    /// Typedef (expanded target).
    Typedef(Type),
    /// Constant.
    Const(Type, Value),
}

/// A bitset field.
#[derive(Clone, Debug, PartialEq)]
pub struct BitField {
    /// Name; None for anonymous padding.
    pub name: Option<String>,
    /// Width in bits.
    pub width: u32,
    /// Offset from the least significant bit.
    pub offset: u32,
    /// The type the field is exposed as.
    pub ty: Prim,
}

/// A resolved top-level item.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Enclosing modules.
    pub scope: Vec<String>,
    /// Name.
    pub name: String,
    /// Definition.
    pub kind: ItemKind,
    /// Index of the file that declared it.
    pub file: u32,
}

impl Item {
    /// Fully scoped name, `a::b::T`.
    pub fn scoped(&self) -> String {
        join(&self.scope, &self.name)
    }
}

/// The compilation result: items in declaration order plus warnings.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Items in declaration order.
    pub items: Vec<Item>,
    /// Warnings (unknown annotations and the like).
    pub warnings: Vec<Diagnostic>,
    index: HashMap<String, usize>,
}

impl Model {
    /// Looks up an item by scoped name (`a::b::T`).
    pub fn get(&self, scoped: &str) -> Option<&Item> {
        self.index.get(scoped).and_then(|i| self.items.get(*i))
    }
}

/// Options for resolution.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Extensibility of types with no annotation.
    pub default_extensibility: Ext,
}

fn join(scope: &[String], name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{}::{name}", scope.join("::"))
    }
}

/// XTypes member-id hash: first 4 bytes of MD5(name), little-endian, masked to 28 bits.
pub fn hash_member_id(name: &str) -> u32 {
    let d = Md5::digest(name.as_bytes());
    u32::from_le_bytes([d[0], d[1], d[2], d[3]]) & 0x0fff_ffff
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Module,
    Struct,
    Union,
    ForwardStruct,
    ForwardUnion,
    Enum,
    Bitmask,
    Bitset,
    Typedef,
    Const,
    Enumerator,
}

const KNOWN_ANNOTATIONS: &[&str] = &[
    "key",
    "id",
    "autoid",
    "hashid",
    "optional",
    "external",
    "final",
    "appendable",
    "mutable",
    "extensibility",
    "default",
    "default_literal",
    "range",
    "min",
    "max",
    "unit",
    "topic",
    "nested",
    "must_understand",
    "bit_bound",
    "position",
    "value",
    "verbatim",
    "ignore_literal_names",
    "try_construct",
    "data_representation",
    "non_serialized",
    "service",
    "oneway",
    "ami",
];

struct Resolver<'a> {
    src: &'a SourceMap,
    opts: Options,
    syms: HashMap<String, (Sym, Span)>,
    /// Case-folded names per scope, for collision checks.
    folded: HashMap<(String, String), (String, Sym, Span)>,
    typedefs: HashMap<String, (Vec<String>, TypeSpec, Vec<Expr>)>,
    typedef_done: HashMap<String, Type>,
    consts: HashMap<String, (Vec<String>, TypeSpec, Expr)>,
    const_done: HashMap<String, (Type, Value)>,
    enumerators: HashMap<String, (String, String, i128)>,
    in_progress: HashSet<String>,
    user_annotations: HashSet<String>,
    model: Model,
    file_of: HashMap<String, u32>,
}

type R<T> = Result<T, Diagnostic>;

/// Resolves a parsed specification.
pub fn resolve(src: &SourceMap, defs: &[Definition], opts: Options) -> Result<Model, Vec<Diagnostic>> {
    let mut r = Resolver {
        src,
        opts,
        syms: HashMap::new(),
        folded: HashMap::new(),
        typedefs: HashMap::new(),
        typedef_done: HashMap::new(),
        consts: HashMap::new(),
        const_done: HashMap::new(),
        enumerators: HashMap::new(),
        in_progress: HashSet::new(),
        user_annotations: HashSet::new(),
        model: Model::default(),
        file_of: HashMap::new(),
    };
    let mut errors = Vec::new();
    r.register(&[], defs, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    r.enum_values(&[], defs, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    r.items(&[], defs, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(r.model)
}

impl Resolver<'_> {
    fn err(&self, span: Span, msg: impl Into<String>) -> Diagnostic {
        self.src.error(span, msg)
    }

    fn declare(&mut self, scope: &[String], name: &str, sym: Sym, span: Span) -> R<()> {
        let key = (scope.join("::"), name.to_lowercase());
        if let Some((prev, psym, pspan)) = self.folded.get(&key).cloned() {
            let compatible = prev == name
                && matches!(
                    (psym, sym),
                    (Sym::Module, Sym::Module)
                        | (Sym::ForwardStruct, Sym::Struct | Sym::ForwardStruct)
                        | (Sym::ForwardUnion, Sym::Union | Sym::ForwardUnion)
                        | (Sym::Struct, Sym::ForwardStruct)
                        | (Sym::Union, Sym::ForwardUnion)
                );
            if !compatible {
                let what = if prev == name { "redefinition of" } else { "identifier collides with" };
                return Err(self.err(
                    span,
                    format!("{what} `{prev}` (declared at {}:{})", pspan.line, pspan.col)
                        .replace("redefinition of `", &format!("`{name}` redefines `")),
                ));
            }
            if matches!(psym, Sym::Struct | Sym::Union) {
                return Ok(());
            }
        }
        self.folded.insert(key, (name.to_string(), sym, span));
        self.syms.insert(join(scope, name), (sym, span));
        self.file_of.insert(join(scope, name), span.file);
        Ok(())
    }

    fn register(&mut self, scope: &[String], defs: &[Definition], errors: &mut Vec<Diagnostic>) {
        for d in defs {
            let res = (|| -> R<()> {
                let sym = match &d.kind {
                    DefKind::Module(inner) => {
                        self.declare(scope, &d.name, Sym::Module, d.span)?;
                        let mut s = scope.to_vec();
                        s.push(d.name.clone());
                        self.register(&s, inner, errors);
                        return Ok(());
                    }
                    DefKind::Struct { members, .. } => {
                        let mut seen: HashMap<String, (String, Span)> = HashMap::new();
                        for m in members {
                            for decl in &m.decls {
                                if let Some((prev, sp)) = seen.get(&decl.name.to_lowercase()) {
                                    return Err(self.err(
                                        decl.span,
                                        format!(
                                            "member `{}` collides with `{prev}` (declared at {}:{})",
                                            decl.name, sp.line, sp.col
                                        ),
                                    ));
                                }
                                seen.insert(decl.name.to_lowercase(), (decl.name.clone(), decl.span));
                            }
                        }
                        Sym::Struct
                    }
                    DefKind::ForwardStruct => Sym::ForwardStruct,
                    DefKind::ForwardUnion => Sym::ForwardUnion,
                    DefKind::Union { .. } => Sym::Union,
                    DefKind::Enum(es) => {
                        self.declare(scope, &d.name, Sym::Enum, d.span)?;
                        let mut inner = scope.to_vec();
                        inner.push(d.name.clone());
                        for e in es {
                            self.declare(&inner, &e.name, Sym::Enumerator, e.span)?;
                            // Enumerators are declared in the enclosing scope too (IDL 4.2 §7.4.1.4.4.4.2),
                            // so they collide with other names there, as in idlc.
                            self.declare(scope, &e.name, Sym::Enumerator, e.span)?;
                        }
                        return Ok(());
                    }
                    DefKind::Bitmask(_) => Sym::Bitmask,
                    DefKind::Bitset { .. } => Sym::Bitset,
                    DefKind::Typedef(ty, decls) => {
                        for decl in decls {
                            self.declare(scope, &decl.name, Sym::Typedef, decl.span)?;
                            self.typedefs
                                .insert(join(scope, &decl.name), (scope.to_vec(), ty.clone(), decl.dims.clone()));
                        }
                        return Ok(());
                    }
                    DefKind::Const(ty, e) => {
                        self.consts.insert(join(scope, &d.name), (scope.to_vec(), ty.clone(), e.clone()));
                        Sym::Const
                    }
                    DefKind::Skipped => {
                        if let Some(a) = d.name.strip_prefix('@') {
                            self.user_annotations.insert(a.to_string());
                        }
                        return Ok(());
                    }
                };
                self.declare(scope, &d.name, sym, d.span)
            })();
            if let Err(e) = res {
                errors.push(e);
            }
        }
    }

    fn enum_values(&mut self, scope: &[String], defs: &[Definition], errors: &mut Vec<Diagnostic>) {
        for d in defs {
            match &d.kind {
                DefKind::Module(inner) => {
                    let mut s = scope.to_vec();
                    s.push(d.name.clone());
                    self.enum_values(&s, inner, errors);
                }
                DefKind::Enum(es) => {
                    let key = join(scope, &d.name);
                    let mut next = 0i128;
                    let mut used: HashMap<i128, String> = HashMap::new();
                    for e in es {
                        let v = match find(&e.annotations, "value") {
                            Some(a) => match self.int_param(scope, a) {
                                Ok(v) => v,
                                Err(err) => {
                                    errors.push(err);
                                    continue;
                                }
                            },
                            None => next,
                        };
                        if let Some(prev) = used.get(&v) {
                            errors.push(
                                self.err(e.span, format!("enumerator `{}` has the same value as `{prev}`", e.name)),
                            );
                        }
                        if i32::try_from(v).is_err() {
                            errors.push(self.err(e.span, format!("enumerator value {v} out of range")));
                        }
                        used.insert(v, e.name.clone());
                        next = v + 1;
                        let ent = (key.clone(), e.name.clone(), v);
                        self.enumerators.insert(join(std::slice::from_ref(&key), &e.name), ent.clone());
                        self.enumerators.entry(join(scope, &e.name)).or_insert(ent);
                    }
                }
                _ => {}
            }
        }
    }

    fn lookup(&self, scope: &[String], name: &ScopedName) -> R<(String, Sym)> {
        let rel = name.parts.join("::");
        if name.absolute {
            if let Some((s, _)) = self.syms.get(&rel) {
                return Ok((rel, *s));
            }
        } else {
            for i in (0..=scope.len()).rev() {
                let key = join(&scope[..i], &rel);
                if let Some((s, _)) = self.syms.get(&key) {
                    return Ok((key, *s));
                }
            }
        }
        Err(self.err(name.span, format!("unknown identifier `{}`", name.text())))
    }

    fn int_param(&mut self, scope: &[String], a: &Annotation) -> R<i128> {
        match a.params.first() {
            Some((_, e)) => match self.eval(scope, e)? {
                Value::Int(v) | Value::Enum(_, _, v) => Ok(v),
                _ => Err(self.err(e.span, format!("expected integer parameter for @{}", a.name))),
            },
            None => Err(self.err(a.span, format!("@{} needs a parameter", a.name))),
        }
    }

    fn positive(&mut self, scope: &[String], e: &Expr, what: &str) -> R<u64> {
        match self.eval(scope, e)? {
            Value::Int(v) if v > 0 => u64::try_from(v).map_err(|_| self.err(e.span, format!("{what} too large"))),
            Value::Int(v) => Err(self.err(e.span, format!("{what} must be positive, found {v}"))),
            _ => Err(self.err(e.span, format!("{what} must be an integer"))),
        }
    }

    fn resolve_type(&mut self, scope: &[String], t: &TypeSpec) -> R<Type> {
        Ok(match t {
            TypeSpec::Prim(p) => Type::Prim(*p),
            TypeSpec::Str { wide, bound } => {
                let bound = match bound {
                    Some(e) => Some(self.positive(scope, e, "string bound")?),
                    None => None,
                };
                Type::String { wide: *wide, bound }
            }
            TypeSpec::Seq(el, bound) => {
                let el = self.resolve_type(scope, el)?;
                let bound = match bound {
                    Some(e) => Some(self.positive(scope, e, "sequence bound")?),
                    None => None,
                };
                Type::Seq(Box::new(el), bound)
            }
            TypeSpec::Map(k, v, bound) => {
                let key_span = match &**k {
                    TypeSpec::Named(n) => Some(n.span),
                    _ => None,
                };
                let k = self.resolve_type(scope, k)?;
                let ok_key = match &k {
                    Type::Prim(p) => !matches!(p, Prim::F32 | Prim::F64 | Prim::F128),
                    Type::String { .. } => true,
                    Type::Named(n) => self.syms.get(n).is_some_and(|s| matches!(s.0, Sym::Enum)),
                    _ => false,
                };
                if let (false, Some(span)) = (ok_key, key_span) {
                    return Err(self.err(span, "map key must be an integer, string or enum type"));
                }
                let v = self.resolve_type(scope, v)?;
                let bound = match bound {
                    Some(e) => Some(self.positive(scope, e, "map bound")?),
                    None => None,
                };
                Type::Map(Box::new(k), Box::new(v), bound)
            }
            TypeSpec::Fixed(d, s) => {
                let digits = self.positive(scope, d, "fixed-point digit count")?;
                if digits > 31 {
                    return Err(self.err(d.span, format!("fixed-point types have at most 31 digits, found {digits}")));
                }
                let scale = match self.eval(scope, s)? {
                    Value::Int(v) if (0..=i128::from(digits)).contains(&v) => v as u32,
                    Value::Int(v) => {
                        return Err(
                            self.err(s.span, format!("fixed-point scale must be between 0 and {digits}, found {v}"))
                        )
                    }
                    _ => return Err(self.err(s.span, "fixed-point scale must be an integer")),
                };
                Type::Fixed { digits: digits as u32, scale }
            }
            TypeSpec::Named(n) => {
                let (key, sym) = self.lookup(scope, n)?;
                match sym {
                    Sym::Typedef => self.typedef(&key, n.span)?,
                    Sym::Struct
                    | Sym::Union
                    | Sym::ForwardStruct
                    | Sym::ForwardUnion
                    | Sym::Enum
                    | Sym::Bitmask
                    | Sym::Bitset => Type::Named(key),
                    _ => return Err(self.err(n.span, format!("`{}` is not a type", n.text()))),
                }
            }
        })
    }

    fn typedef(&mut self, key: &str, span: Span) -> R<Type> {
        if let Some(t) = self.typedef_done.get(key) {
            return Ok(t.clone());
        }
        if !self.in_progress.insert(key.to_string()) {
            return Err(self.err(span, format!("typedef `{key}` refers to itself")));
        }
        let (scope, ty, dims) = self.typedefs.get(key).cloned().ok_or_else(|| self.err(span, "unknown typedef"))?;
        let r = self.resolve_type(&scope, &ty).and_then(|t| self.with_dims(&scope, t, &dims));
        self.in_progress.remove(key);
        let t = r?;
        self.typedef_done.insert(key.to_string(), t.clone());
        Ok(t)
    }

    fn with_dims(&mut self, scope: &[String], t: Type, dims: &[Expr]) -> R<Type> {
        if dims.is_empty() {
            return Ok(t);
        }
        let mut ds = Vec::new();
        for d in dims {
            ds.push(self.positive(scope, d, "array dimension")?);
        }
        // `typedef long A[2]; A x[3];` is `long x[3][2]`.
        Ok(match t {
            Type::Array(inner, more) => {
                ds.extend(more);
                Type::Array(inner, ds)
            }
            t => Type::Array(Box::new(t), ds),
        })
    }

    fn const_value(&mut self, key: &str, span: Span) -> R<(Type, Value)> {
        if let Some(v) = self.const_done.get(key) {
            return Ok(v.clone());
        }
        if !self.in_progress.insert(key.to_string()) {
            return Err(self.err(span, format!("constant `{key}` depends on itself")));
        }
        let r = (|| {
            let (scope, ty, e) = self.consts.get(key).cloned().ok_or_else(|| self.err(span, "unknown constant"))?;
            let ty = self.resolve_type(&scope, &ty)?;
            let v = self.eval(&scope, &e)?;
            let v = self.coerce(&ty, v, e.span)?;
            Ok((ty, v))
        })();
        self.in_progress.remove(key);
        let v = r?;
        self.const_done.insert(key.to_string(), v.clone());
        Ok(v)
    }

    /// Converts `v` to the type `ty`, checking ranges.
    fn coerce(&self, ty: &Type, v: Value, span: Span) -> R<Value> {
        let range = |p: &Prim| -> Option<(i128, i128)> {
            Some(match p {
                Prim::I8 => (i8::MIN.into(), i8::MAX.into()),
                Prim::U8 | Prim::Octet => (0, u8::MAX.into()),
                Prim::I16 => (i16::MIN.into(), i16::MAX.into()),
                Prim::U16 => (0, u16::MAX.into()),
                Prim::I32 => (i32::MIN.into(), i32::MAX.into()),
                Prim::U32 => (0, u32::MAX.into()),
                Prim::I64 => (i64::MIN.into(), i64::MAX.into()),
                Prim::U64 => (0, u64::MAX.into()),
                _ => return None,
            })
        };
        match (ty, v) {
            (Type::Prim(p), Value::Int(i)) if range(p).is_some() => {
                let (lo, hi) = range(p).unwrap_or((0, 0));
                if i < lo || i > hi {
                    return Err(self.err(span, format!("value {i} out of range for {}", show_ty(ty))));
                }
                Ok(Value::Int(i))
            }
            (Type::Prim(Prim::F32 | Prim::F64 | Prim::F128), Value::Int(i)) => Ok(Value::Float(i as f64)),
            (Type::Prim(Prim::F32 | Prim::F64 | Prim::F128), Value::Float(f)) => Ok(Value::Float(f)),
            (Type::Prim(Prim::Bool), Value::Bool(b)) => Ok(Value::Bool(b)),
            (Type::Prim(Prim::Char), Value::Char(c)) if c <= 0xff => Ok(Value::Char(c)),
            (Type::Prim(Prim::WChar), Value::Char(c)) if c <= 0xffff => Ok(Value::Char(c)),
            (Type::String { bound, .. }, Value::Str(s)) => {
                if bound.is_some_and(|b| s.chars().count() as u64 > b) {
                    return Err(self.err(span, "string constant longer than its bound"));
                }
                Ok(Value::Str(s))
            }
            (Type::Named(n), Value::Enum(e, name, v)) if *n == e => Ok(Value::Enum(e, name, v)),
            (ty, v) => Err(self.err(span, format!("constant value {} does not match type {}", show(&v), show_ty(ty)))),
        }
    }

    fn eval(&mut self, scope: &[String], e: &Expr) -> R<Value> {
        Ok(match &e.kind {
            ExprKind::Int(v) => Value::Int(i128::try_from(*v).map_err(|_| self.err(e.span, "integer too large"))?),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Char(c) | ExprKind::WChar(c) => Value::Char(*c),
            ExprKind::Str(s) | ExprKind::WStr(s) => Value::Str(s.clone()),
            ExprKind::Name(n) => {
                let found = self.lookup(scope, n);
                match found {
                    Ok((key, Sym::Const)) => self.const_value(&key, n.span)?.1,
                    Ok((key, Sym::Enumerator)) => match self.enumerators.get(&key) {
                        Some((en, name, v)) => Value::Enum(en.clone(), name.clone(), *v),
                        None => {
                            return Err(
                                self.err(n.span, format!("enumerator `{}` used before its value is known", n.text()))
                            )
                        }
                    },
                    Ok(_) => return Err(self.err(n.span, format!("`{}` is not a constant", n.text()))),
                    Err(_) if n.parts.len() == 1 && (n.parts[0] == "true" || n.parts[0] == "false") => {
                        Value::Bool(n.parts[0] == "true")
                    }
                    Err(err) => return Err(err),
                }
            }
            ExprKind::Unary(op, x) => {
                let x = self.eval(scope, x)?;
                match (*op, x) {
                    ("-", Value::Int(i)) => Value::Int(-i),
                    ("-", Value::Float(f)) => Value::Float(-f),
                    ("+", v @ (Value::Int(_) | Value::Float(_))) => v,
                    ("~", Value::Int(i)) => Value::Int(!i),
                    (op, v) => return Err(self.err(e.span, format!("operator `{op}` cannot apply to {}", show(&v)))),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.eval(scope, a)?;
                let b = self.eval(scope, b)?;
                let a = if let Value::Enum(_, _, v) = a { Value::Int(v) } else { a };
                let b = if let Value::Enum(_, _, v) = b { Value::Int(v) } else { b };
                let overflow = || self.err(e.span, format!("overflow or division by zero in `{op}`"));
                match (a, b) {
                    (Value::Int(x), Value::Int(y)) => Value::Int(match *op {
                        "|" => x | y,
                        "^" => x ^ y,
                        "&" => x & y,
                        "<<" => u32::try_from(y).ok().filter(|s| *s < 64).map(|s| x << s).ok_or_else(overflow)?,
                        ">>" => u32::try_from(y).ok().filter(|s| *s < 64).map(|s| x >> s).ok_or_else(overflow)?,
                        "+" => x.checked_add(y).ok_or_else(overflow)?,
                        "-" => x.checked_sub(y).ok_or_else(overflow)?,
                        "*" => x.checked_mul(y).ok_or_else(overflow)?,
                        "/" => x.checked_div(y).ok_or_else(overflow)?,
                        _ => x.checked_rem(y).ok_or_else(overflow)?,
                    }),
                    (x @ (Value::Int(_) | Value::Float(_)), y @ (Value::Int(_) | Value::Float(_))) => {
                        let f = |v: Value| match v {
                            Value::Int(i) => i as f64,
                            Value::Float(f) => f,
                            _ => 0.0,
                        };
                        let (x, y) = (f(x), f(y));
                        Value::Float(match *op {
                            "+" => x + y,
                            "-" => x - y,
                            "*" => x * y,
                            "/" => x / y,
                            _ => return Err(self.err(e.span, format!("operator `{op}` needs integer operands"))),
                        })
                    }
                    (x, _) => return Err(self.err(e.span, format!("operator `{op}` cannot apply to {}", show(&x)))),
                }
            }
        })
    }

    fn annotations_check(&mut self, anns: &[Annotation]) {
        for a in anns {
            if !KNOWN_ANNOTATIONS.contains(&a.name.as_str()) && !self.user_annotations.contains(&a.name) {
                let w = self.src.diag(Severity::Warning, a.span, format!("unknown annotation @{} ignored", a.name));
                self.model.warnings.push(w);
            }
        }
    }

    fn ext_of(&mut self, anns: &[Annotation]) -> R<Ext> {
        let mut ext = self.opts.default_extensibility;
        for a in anns {
            ext = match a.name.as_str() {
                "final" => Ext::Final,
                "appendable" => Ext::Appendable,
                "mutable" => Ext::Mutable,
                "extensibility" => match a.params.first().map(|p| &p.1.kind) {
                    Some(ExprKind::Name(n)) if n.parts.len() == 1 => match n.parts[0].as_str() {
                        "FINAL" => Ext::Final,
                        "APPENDABLE" => Ext::Appendable,
                        "MUTABLE" => Ext::Mutable,
                        _ => return Err(self.err(n.span, "expected FINAL, APPENDABLE or MUTABLE")),
                    },
                    _ => return Err(self.err(a.span, "expected FINAL, APPENDABLE or MUTABLE")),
                },
                _ => continue,
            };
        }
        Ok(ext)
    }

    fn push(&mut self, scope: &[String], name: &str, kind: ItemKind, span: Span) {
        let item = Item { scope: scope.to_vec(), name: name.to_string(), kind, file: span.file };
        self.model.index.insert(item.scoped(), self.model.items.len());
        self.model.items.push(item);
    }

    fn items(&mut self, scope: &[String], defs: &[Definition], errors: &mut Vec<Diagnostic>) {
        for d in defs {
            if let DefKind::Module(inner) = &d.kind {
                self.annotations_check(&d.annotations);
                let mut s = scope.to_vec();
                s.push(d.name.clone());
                self.items(&s, inner, errors);
                continue;
            }
            if let Err(e) = self.item(scope, d) {
                errors.push(e);
            }
        }
    }

    fn item(&mut self, scope: &[String], d: &Definition) -> R<()> {
        self.annotations_check(&d.annotations);
        match &d.kind {
            DefKind::Module(_) | DefKind::ForwardStruct | DefKind::ForwardUnion | DefKind::Skipped => {}
            DefKind::Struct { base, members } => {
                let ext = self.ext_of(&d.annotations)?;
                let hash_ids = autoid_hash(&d.annotations);
                let (mut fields, base_key) = match base {
                    Some(b) => {
                        let (key, sym) = self.lookup(scope, b)?;
                        let key = if sym == Sym::Typedef {
                            match self.typedef(&key, b.span)? {
                                Type::Named(k) => k,
                                _ => return Err(self.err(b.span, format!("base `{}` is not a struct", b.text()))),
                            }
                        } else {
                            key
                        };
                        match self.model.get(&key).map(|i| &i.kind) {
                            Some(ItemKind::Struct(s)) => (s.fields.clone(), Some(key)),
                            _ => return Err(self.err(b.span, format!("base `{}` is not a defined struct", b.text()))),
                        }
                    }
                    None => (Vec::new(), None),
                };
                let mut next_id = fields.iter().map(|f| f.id + 1).max().unwrap_or(0);
                let mut ids: HashMap<u32, String> = fields.iter().map(|f| (f.id, f.name.clone())).collect();
                let base_names: HashSet<String> = fields.iter().map(|f| f.name.to_lowercase()).collect();
                for m in members {
                    self.annotations_check(&m.annotations);
                    let ty = self.resolve_type(scope, &m.ty)?;
                    for decl in &m.decls {
                        if base_names.contains(&decl.name.to_lowercase()) {
                            return Err(
                                self.err(decl.span, format!("member `{}` collides with a base member", decl.name))
                            );
                        }
                        let ty = self.with_dims(scope, ty.clone(), &decl.dims)?;
                        let id = if let Some(a) = find(&m.annotations, "id") {
                            let v = self.int_param(scope, a)?;
                            u32::try_from(v)
                                .ok()
                                .filter(|v| *v <= 0x0fff_ffff)
                                .ok_or_else(|| self.err(a.span, "@id out of range"))?
                        } else if let Some(a) = find(&m.annotations, "hashid") {
                            match a.params.first().map(|p| &p.1.kind) {
                                Some(ExprKind::Str(s)) => hash_member_id(s),
                                _ => hash_member_id(&decl.name),
                            }
                        } else if hash_ids {
                            hash_member_id(&decl.name)
                        } else {
                            next_id
                        };
                        if let Some(prev) = ids.get(&id) {
                            return Err(self.err(
                                decl.span,
                                format!("member id {id} of `{}` already used by `{prev}`", decl.name),
                            ));
                        }
                        ids.insert(id, decl.name.clone());
                        next_id = id + 1;
                        let key = has(&m.annotations, "key");
                        let optional = has(&m.annotations, "optional");
                        if key && optional {
                            return Err(self.err(decl.span, "a key member cannot be @optional"));
                        }
                        let (mut min, mut max) = (None, None);
                        for a in &m.annotations {
                            match a.name.as_str() {
                                "range" => {
                                    for (pn, e) in &a.params {
                                        let v = self.eval(scope, e)?;
                                        let v = self.coerce(&ty, v, e.span)?;
                                        match pn.as_deref() {
                                            Some("min") => min = Some(v),
                                            Some("max") => max = Some(v),
                                            _ => return Err(self.err(e.span, "@range takes min = … and max = …")),
                                        }
                                    }
                                }
                                "min" | "max" => {
                                    let e = &a.params.first().ok_or_else(|| self.err(a.span, "missing value"))?.1;
                                    let v = self.eval(scope, e)?;
                                    let v = self.coerce(&ty, v, e.span)?;
                                    if a.name == "min" {
                                        min = Some(v);
                                    } else {
                                        max = Some(v);
                                    }
                                }
                                _ => {}
                            }
                        }
                        let default = match find(&m.annotations, "default") {
                            Some(a) => match a.params.first() {
                                Some((_, e)) => {
                                    let v = self.eval(scope, e)?;
                                    Some(self.coerce(&ty, v, e.span)?)
                                }
                                None => None,
                            },
                            None => None,
                        };
                        fields.push(Field {
                            name: decl.name.clone(),
                            ty,
                            id,
                            key,
                            optional,
                            external: has(&m.annotations, "external"),
                            must_understand: has(&m.annotations, "must_understand"),
                            min,
                            max,
                            default,
                        });
                    }
                }
                let nested = has(&d.annotations, "nested");
                self.push(
                    scope,
                    &d.name,
                    ItemKind::Struct(StructDef { ext, base: base_key, fields, nested, autoid_hash: hash_ids }),
                    d.span,
                );
            }
            DefKind::Union { disc, disc_span, disc_annotations, cases } => {
                let ext = self.ext_of(&d.annotations)?;
                let dt = self.resolve_type(scope, disc)?;
                let disc_span = *disc_span;
                let enum_key =
                    match &dt {
                        Type::Prim(Prim::F32 | Prim::F64 | Prim::F128) => {
                            return Err(self
                                .err(disc_span, "union discriminator must be an integer, char, boolean or enum type"))
                        }
                        Type::Prim(_) => None,
                        Type::Named(n) if self.syms.get(n).is_some_and(|s| s.0 == Sym::Enum) => Some(n.clone()),
                        _ => {
                            return Err(self
                                .err(disc_span, "union discriminator must be an integer, char, boolean or enum type"))
                        }
                    };
                let hash_ids = autoid_hash(&d.annotations);
                let mut out = Vec::new();
                let mut seen: HashMap<i128, String> = HashMap::new();
                let mut names: HashMap<String, String> = HashMap::new();
                let mut has_default = false;
                let mut next_id = 1u32;
                for c in cases {
                    self.annotations_check(&c.annotations);
                    if let Some(prev) = names.get(&c.decl.name.to_lowercase()) {
                        return Err(self.err(c.decl.span, format!("member `{}` collides with `{prev}`", c.decl.name)));
                    }
                    names.insert(c.decl.name.to_lowercase(), c.decl.name.clone());
                    let ty = self.resolve_type(scope, &c.ty)?;
                    let ty = self.with_dims(scope, ty, &c.decl.dims)?;
                    let mut labels = Vec::new();
                    let mut is_default = false;
                    for l in &c.labels {
                        match l {
                            None => {
                                if has_default {
                                    return Err(self.err(c.decl.span, "union has more than one default label"));
                                }
                                has_default = true;
                                is_default = true;
                            }
                            Some(e) => {
                                let v = self.eval(scope, e)?;
                                let v = match (&v, &enum_key) {
                                    (Value::Enum(en, _, _), Some(k)) if en != k => {
                                        return Err(self.err(e.span, format!("label is not an enumerator of `{k}`")))
                                    }
                                    _ => self.coerce(&dt, v, e.span)?,
                                };
                                let iv = match v {
                                    Value::Int(i) | Value::Enum(_, _, i) => i,
                                    Value::Bool(b) => i128::from(b),
                                    Value::Char(c) => i128::from(c),
                                    _ => return Err(self.err(e.span, "invalid case label")),
                                };
                                if let Some(prev) = seen.get(&iv) {
                                    return Err(
                                        self.err(e.span, format!("duplicate case label (also used by `{prev}`)"))
                                    );
                                }
                                seen.insert(iv, c.decl.name.clone());
                                labels.push(iv);
                            }
                        }
                    }
                    let id = if let Some(a) = find(&c.annotations, "id") {
                        u32::try_from(self.int_param(scope, a)?).map_err(|_| self.err(a.span, "@id out of range"))?
                    } else if has(&c.annotations, "hashid") || hash_ids {
                        hash_member_id(&c.decl.name)
                    } else {
                        next_id
                    };
                    next_id = id + 1;
                    out.push(UnionCase {
                        name: c.decl.name.clone(),
                        ty,
                        id,
                        labels,
                        is_default,
                        external: has(&c.annotations, "external"),
                    });
                }
                let disc_key = has(disc_annotations, "key");
                self.push(
                    scope,
                    &d.name,
                    ItemKind::Union(UnionDef {
                        ext,
                        disc: dt,
                        disc_key,
                        cases: out,
                        nested: has(&d.annotations, "nested"),
                        autoid_hash: hash_ids,
                    }),
                    d.span,
                );
            }
            DefKind::Enum(es) => {
                let bit_bound = self.bit_bound(scope, &d.annotations, 32)?;
                let key = join(scope, &d.name);
                let values = es
                    .iter()
                    .map(|e| {
                        (
                            e.name.clone(),
                            self.enumerators.get(&join(std::slice::from_ref(&key), &e.name)).map_or(0, |v| v.2),
                        )
                    })
                    .collect::<Vec<_>>();
                for (n, v) in &values {
                    if bit_bound < 32 && (*v < 0 || *v >= 1i128 << bit_bound) {
                        let sp = es.iter().find(|e| &e.name == n).map_or(d.span, |e| e.span);
                        return Err(self.err(sp, format!("enumerator value {v} does not fit @bit_bound({bit_bound})")));
                    }
                }
                self.push(scope, &d.name, ItemKind::Enum { bit_bound, values }, d.span);
            }
            DefKind::Bitmask(fs) => {
                let bit_bound = self.bit_bound(scope, &d.annotations, 32)?;
                let mut next = 0u32;
                let mut flags = Vec::new();
                for f in fs {
                    let pos = match find(&f.annotations, "position") {
                        Some(a) => u32::try_from(self.int_param(scope, a)?).unwrap_or(u32::MAX),
                        None => next,
                    };
                    if pos >= bit_bound {
                        return Err(self.err(f.span, format!("bit position {pos} exceeds @bit_bound({bit_bound})")));
                    }
                    next = pos + 1;
                    flags.push((f.name.clone(), pos));
                }
                self.push(scope, &d.name, ItemKind::Bitmask { bit_bound, flags }, d.span);
            }
            DefKind::Bitset { base, fields: bfs } => {
                let mut fields = Vec::new();
                if let Some(b) = base {
                    let (key, sym) = self.lookup(scope, b)?;
                    let key = match sym {
                        Sym::Typedef => match self.typedef(&key, b.span)? {
                            Type::Named(k) => k,
                            _ => key,
                        },
                        _ => key,
                    };
                    match self.model.get(&key).map(|i| &i.kind) {
                        Some(ItemKind::Bitset { fields: f, .. }) => fields.clone_from(f),
                        _ => return Err(self.err(b.span, format!("base `{}` is not a defined bitset", b.text()))),
                    }
                }
                let mut offset = fields.last().map_or(0, |f: &BitField| f.offset + f.width);
                for bf in bfs {
                    let width = self.positive(scope, &bf.width, "bitfield width")?;
                    if width > 64 {
                        return Err(self.err(bf.width.span, "bitfield width must be at most 64"));
                    }
                    let width = width as u32;
                    let ty = match &bf.ty {
                        Some(t) => match self.resolve_type(scope, t)? {
                            Type::Prim(
                                p @ (Prim::Bool
                                | Prim::Octet
                                | Prim::Char
                                | Prim::I8
                                | Prim::U8
                                | Prim::I16
                                | Prim::U16
                                | Prim::I32
                                | Prim::U32
                                | Prim::I64
                                | Prim::U64),
                            ) => p,
                            _ => return Err(self.err(bf.span, "bitfield type must be boolean or an integer type")),
                        },
                        None => match width {
                            1 => Prim::Bool,
                            2..=8 => Prim::Octet,
                            9..=16 => Prim::U16,
                            17..=32 => Prim::U32,
                            _ => Prim::U64,
                        },
                    };
                    let cap = match ty {
                        Prim::Bool => 1,
                        Prim::Octet | Prim::Char | Prim::I8 | Prim::U8 => 8,
                        Prim::I16 | Prim::U16 => 16,
                        Prim::I32 | Prim::U32 => 32,
                        _ => 64,
                    };
                    if width > cap {
                        return Err(self.err(bf.width.span, format!("bitfield of {width} bits does not fit its type")));
                    }
                    if bf.names.is_empty() {
                        fields.push(BitField { name: None, width, offset, ty });
                        offset += width;
                    }
                    for (n, _) in &bf.names {
                        fields.push(BitField { name: Some(n.clone()), width, offset, ty });
                        offset += width;
                    }
                    if offset > 64 {
                        return Err(self.err(bf.span, "bitset is wider than 64 bits"));
                    }
                }
                self.push(scope, &d.name, ItemKind::Bitset { fields, bits: offset }, d.span);
            }
            DefKind::Typedef(_, decls) => {
                for decl in decls {
                    let t = self.typedef(&join(scope, &decl.name), decl.span)?;
                    self.push(scope, &decl.name, ItemKind::Typedef(t), decl.span);
                }
            }
            DefKind::Const(..) => {
                let (t, v) = self.const_value(&join(scope, &d.name), d.span)?;
                self.push(scope, &d.name, ItemKind::Const(t, v), d.span);
            }
        }
        Ok(())
    }

    fn bit_bound(&mut self, scope: &[String], anns: &[Annotation], default: u32) -> R<u32> {
        match find(anns, "bit_bound") {
            Some(a) => {
                let v = self.int_param(scope, a)?;
                u32::try_from(v)
                    .ok()
                    .filter(|v| (1..=64).contains(v))
                    .ok_or_else(|| self.err(a.span, "@bit_bound must be 1..=64"))
            }
            None => Ok(default),
        }
    }
}

fn find<'a>(anns: &'a [Annotation], name: &str) -> Option<&'a Annotation> {
    anns.iter().find(|a| a.name == name)
}

fn has(anns: &[Annotation], name: &str) -> bool {
    match find(anns, name) {
        // `@key(FALSE)` / `@optional(false)` turn the property off.
        Some(a) => {
            !matches!(a.params.first().map(|p| &p.1.kind), Some(ExprKind::Bool(false)))
                && !matches!(a.params.first().map(|p| &p.1.kind), Some(ExprKind::Name(n)) if n.parts == ["false"])
        }
        None => false,
    }
}

fn autoid_hash(anns: &[Annotation]) -> bool {
    find(anns, "autoid")
        .is_some_and(|a| matches!(a.params.first().map(|p| &p.1.kind), Some(ExprKind::Name(n)) if n.parts == ["HASH"]))
}

fn show(v: &Value) -> String {
    match v {
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("floating-point {f}"),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Char(_) => "character".into(),
        Value::Str(_) => "string".into(),
        Value::Enum(e, n, _) => format!("enumerator {e}::{n}"),
    }
}

fn show_ty(t: &Type) -> String {
    match t {
        Type::Prim(p) => match p {
            Prim::Bool => "boolean",
            Prim::Char => "char",
            Prim::WChar => "wchar",
            Prim::Octet => "octet",
            Prim::I8 => "int8",
            Prim::U8 => "uint8",
            Prim::I16 => "short",
            Prim::U16 => "unsigned short",
            Prim::I32 => "long",
            Prim::U32 => "unsigned long",
            Prim::I64 => "long long",
            Prim::U64 => "unsigned long long",
            Prim::F32 => "float",
            Prim::F64 => "double",
            Prim::F128 => "long double",
        }
        .to_string(),
        Type::String { wide: false, .. } => "string".into(),
        Type::String { wide: true, .. } => "wstring".into(),
        Type::Fixed { digits, scale } => format!("fixed<{digits}, {scale}>"),
        Type::Named(n) => format!("`{n}`"),
        _ => "a template type".into(),
    }
}
