//! The syntax tree produced by the parser.

use crate::diag::Span;

/// An annotation application such as `@key` or `@range(min = 0, max = 10)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// Name (last component for scoped names).
    pub name: String,
    /// Parameters: `(name, value)`; the name is None for the single positional form.
    pub params: Vec<(Option<String>, Expr)>,
    /// Location of the `@`.
    pub span: Span,
}

/// A possibly scoped name such as `::a::B`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopedName {
    /// Starts with `::`.
    pub absolute: bool,
    /// The components.
    pub parts: Vec<String>,
    /// Location of the first token.
    pub span: Span,
}

impl ScopedName {
    /// The name as written, `a::B`.
    pub fn text(&self) -> String {
        let s = self.parts.join("::");
        if self.absolute {
            format!("::{s}")
        } else {
            s
        }
    }
}

/// Primitive types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prim {
    /// `boolean`
    Bool,
    /// `char`
    Char,
    /// `wchar`
    WChar,
    /// `octet`
    Octet,
    /// `int8`
    I8,
    /// `uint8`
    U8,
    /// `short`, `int16`
    I16,
    /// `unsigned short`, `uint16`
    U16,
    /// `long`, `int32`
    I32,
    /// `unsigned long`, `uint32`
    U32,
    /// `long long`, `int64`
    I64,
    /// `unsigned long long`, `uint64`
    U64,
    /// `float`
    F32,
    /// `double`
    F64,
    /// `long double`
    F128,
}

/// A type as written.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeSpec {
    /// A primitive type.
    Prim(Prim),
    /// `string`/`wstring`, optionally bounded.
    Str {
        /// `wstring`.
        wide: bool,
        /// The bound.
        bound: Option<Expr>,
    },
    /// `sequence<T[, N]>`.
    Seq(Box<TypeSpec>, Option<Expr>),
    /// `map<K, V[, N]>`.
    Map(Box<TypeSpec>, Box<TypeSpec>, Option<Expr>),
    /// `fixed<digits, scale>`.
    Fixed(Expr, Expr),
    /// A reference to a declared type.
    Named(ScopedName),
}

/// A constant expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal.
    Int(u128),
    /// Floating-point literal.
    Float(f64),
    /// `TRUE`/`FALSE`.
    Bool(bool),
    /// Character literal.
    Char(u32),
    /// Wide character literal.
    WChar(u32),
    /// String literal.
    Str(String),
    /// Wide string literal.
    WStr(String),
    /// A constant or enumerator name.
    Name(ScopedName),
    /// Unary operator (`-`, `+`, `~`).
    Unary(&'static str, Box<Expr>),
    /// Binary operator.
    Binary(&'static str, Box<Expr>, Box<Expr>),
}

/// An expression with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it starts.
    pub span: Span,
}

/// A declarator: a name with optional array dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Declarator {
    /// The name.
    pub name: String,
    /// Its location.
    pub span: Span,
    /// Array dimensions, outermost first.
    pub dims: Vec<Expr>,
}

/// A struct member declaration (one type, one or more declarators).
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Annotations applied to the member.
    pub annotations: Vec<Annotation>,
    /// The member type.
    pub ty: TypeSpec,
    /// The declarators.
    pub decls: Vec<Declarator>,
}

/// A union case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Labels; None is `default`.
    pub labels: Vec<Option<Expr>>,
    /// Annotations of the element.
    pub annotations: Vec<Annotation>,
    /// The element type.
    pub ty: TypeSpec,
    /// The element declarator.
    pub decl: Declarator,
}

/// An enumerator or bitmask flag.
#[derive(Clone, Debug, PartialEq)]
pub struct Enumerator {
    /// Annotations (`@value`, `@position`).
    pub annotations: Vec<Annotation>,
    /// Name.
    pub name: String,
    /// Location.
    pub span: Span,
}

/// A bitfield declaration in a bitset.
#[derive(Clone, Debug, PartialEq)]
pub struct Bitfield {
    /// Width in bits.
    pub width: Expr,
    /// Explicit destination type.
    pub ty: Option<TypeSpec>,
    /// Field names (none for padding).
    pub names: Vec<(String, Span)>,
    /// Location.
    pub span: Span,
}

/// A definition.
#[derive(Clone, Debug, PartialEq)]
pub enum DefKind {
    /// `module M { … }`.
    Module(Vec<Definition>),
    /// `struct S [: Base] { … }`.
    Struct {
        /// Base type.
        base: Option<ScopedName>,
        /// Members.
        members: Vec<Member>,
    },
    /// `struct S;`.
    ForwardStruct,
    /// `union U;`.
    ForwardUnion,
    /// `union U switch (D) { … }`.
    Union {
        /// Discriminator type.
        disc: TypeSpec,
        /// Location of the discriminator type.
        disc_span: Span,
        /// Annotations on the discriminator (`@key`).
        disc_annotations: Vec<Annotation>,
        /// Cases.
        cases: Vec<Case>,
    },
    /// `enum E { … }`.
    Enum(Vec<Enumerator>),
    /// `bitmask B { … }`.
    Bitmask(Vec<Enumerator>),
    /// `bitset B [: Base] { … }`.
    Bitset {
        /// Base bitset.
        base: Option<ScopedName>,
        /// Fields.
        fields: Vec<Bitfield>,
    },
    /// `typedef T a, b[3];` (the definition's name is the first declarator).
    Typedef(TypeSpec, Vec<Declarator>),
    /// `const T NAME = expr;`.
    Const(TypeSpec, Expr),
    /// An interface, exception, `@annotation` or `native` declaration: parsed and skipped.
    Skipped,
}

/// A definition with its name, annotations and location.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    /// Annotations applied to the definition.
    pub annotations: Vec<Annotation>,
    /// Its name.
    pub name: String,
    /// The location of the name.
    pub span: Span,
    /// What it is.
    pub kind: DefKind,
}
