//! Recursive-descent parser for the IDL 4.2 subset DDS uses.

use crate::ast::*;
use crate::diag::Span;
use crate::lexer::{Tok, Token};

/// A parse error: location and message.
pub type ParseError = (Span, String);

type PResult<T> = Result<T, ParseError>;

/// The parser state.
pub struct Parser<'t> {
    toks: Vec<Token>,
    pos: usize,
    end: Span,
    _p: std::marker::PhantomData<&'t ()>,
}

const KEYWORDS: &[&str] = &[
    "module",
    "struct",
    "union",
    "enum",
    "bitmask",
    "bitset",
    "bitfield",
    "typedef",
    "const",
    "sequence",
    "string",
    "wstring",
    "map",
    "switch",
    "case",
    "default",
    "boolean",
    "char",
    "wchar",
    "octet",
    "short",
    "long",
    "unsigned",
    "float",
    "double",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "interface",
    "exception",
    "native",
    "TRUE",
    "FALSE",
    "void",
    "in",
    "out",
    "inout",
    "raises",
    "attribute",
    "readonly",
    "any",
    "Object",
    "fixed",
    "abstract",
    "local",
    "valuetype",
    "oneway",
];

impl Parser<'_> {
    /// A parser over preprocessed tokens.
    pub fn new(toks: Vec<Token>) -> Self {
        let end = toks.last().map_or(Span::default(), |t| Span { col: t.span.col + 1, ..t.span });
        Parser { toks, pos: 0, end, _p: std::marker::PhantomData }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    fn span(&self) -> Span {
        self.toks.get(self.pos).map_or(self.end, |t| t.span)
    }

    fn found(&self) -> String {
        self.peek().map_or("end of file".to_string(), Tok::describe)
    }

    fn err<T>(&self, expected: &str) -> PResult<T> {
        Err((self.span(), format!("expected {expected}, found {}", self.found())))
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(q)) if q == k)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        if self.is_kw(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> PResult<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.err(&format!("`{p}`"))
        }
    }

    fn expect_kw(&mut self, k: &str) -> PResult<()> {
        if self.eat_kw(k) {
            Ok(())
        } else {
            self.err(&format!("`{k}`"))
        }
    }

    /// `>`, splitting a `>>` token (nested templates).
    fn expect_gt(&mut self) -> PResult<()> {
        if self.is_punct(">>") {
            let t = &mut self.toks[self.pos];
            t.tok = Tok::Punct(">");
            t.span.col += 1;
            return Ok(());
        }
        self.expect(">")
    }

    fn ident(&mut self) -> PResult<(String, Span)> {
        match self.peek() {
            Some(Tok::Ident(s)) if !KEYWORDS.contains(&s.as_str()) => {
                let s = s.clone();
                let sp = self.span();
                // Identifiers may not differ from a keyword only in case (IDL 4.2 §7.2.3).
                if let Some(k) =
                    KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(&s) && !k.starts_with(char::is_uppercase))
                {
                    return Err((sp, format!("identifier `{s}` collides with keyword `{k}`")));
                }
                self.pos += 1;
                // Escaped identifiers (`_name`) drop the underscore.
                let s = s.strip_prefix('_').filter(|r| !r.is_empty()).map_or(s.clone(), str::to_string);
                Ok((s, sp))
            }
            _ => self.err("identifier"),
        }
    }

    /// Parses a whole specification.
    pub fn specification(&mut self) -> PResult<Vec<Definition>> {
        let mut defs = Vec::new();
        while self.pos < self.toks.len() {
            if let Some(d) = self.definition()? {
                defs.push(d);
            }
        }
        Ok(defs)
    }

    fn annotations(&mut self) -> PResult<Vec<Annotation>> {
        let mut out = Vec::new();
        while self.is_punct("@") {
            if matches!(self.peek_at(1), Some(Tok::Ident(n)) if n == "annotation") {
                break;
            }
            let span = self.span();
            self.pos += 1;
            self.eat_punct("::");
            let mut name = self.any_ident()?.0;
            while self.eat_punct("::") {
                name = self.any_ident()?.0;
            }
            let mut params = Vec::new();
            if self.eat_punct("(") {
                if !self.is_punct(")") {
                    loop {
                        let named = matches!(self.peek(), Some(Tok::Ident(_)))
                            && matches!(self.peek_at(1), Some(Tok::Punct("=")));
                        let pname = if named {
                            let (n, _) = self.any_ident()?;
                            self.pos += 1;
                            Some(n)
                        } else {
                            None
                        };
                        params.push((pname, self.expr()?));
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                }
                self.expect(")")?;
            }
            // `@Key` is the legacy (pre-XTypes) spelling of `@key`.
            if name == "Key" {
                name = "key".into();
            }
            out.push(Annotation { name, params, span });
        }
        Ok(out)
    }

    fn any_ident(&mut self) -> PResult<(String, Span)> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                let sp = self.span();
                self.pos += 1;
                Ok((s, sp))
            }
            _ => self.err("identifier"),
        }
    }

    fn definition(&mut self) -> PResult<Option<Definition>> {
        let annotations = self.annotations()?;
        let span = self.span();
        let Some(Tok::Ident(kw)) = self.peek().cloned() else {
            if self.is_punct("@") {
                // `@annotation Name { … };`
                self.pos += 2;
                let (name, span) = self.ident()?;
                self.skip_braces()?;
                self.expect(";")?;
                // Recorded so that uses of the declared annotation are not warned about.
                return Ok(Some(Definition { annotations, name: format!("@{name}"), span, kind: DefKind::Skipped }));
            }
            if annotations.is_empty() || self.pos < self.toks.len() {
                return self.err("definition");
            }
            return Err((span, "annotations must be followed by a definition".into()));
        };
        let def = match kw.as_str() {
            "module" => {
                self.pos += 1;
                let (name, span) = self.ident()?;
                self.expect("{")?;
                let mut defs = Vec::new();
                while !self.is_punct("}") {
                    if self.pos >= self.toks.len() {
                        return self.err("`}`");
                    }
                    if let Some(d) = self.definition()? {
                        defs.push(d);
                    }
                }
                self.pos += 1;
                Definition { annotations, name, span, kind: DefKind::Module(defs) }
            }
            "struct" => self.struct_def(annotations)?,
            "union" => self.union_def(annotations)?,
            "enum" => {
                self.pos += 1;
                let (name, span) = self.ident()?;
                Definition { annotations, name, span, kind: DefKind::Enum(self.enumerators()?) }
            }
            "bitmask" => {
                self.pos += 1;
                let (name, span) = self.ident()?;
                Definition { annotations, name, span, kind: DefKind::Bitmask(self.enumerators()?) }
            }
            "bitset" => self.bitset_def(annotations)?,
            "typedef" => {
                self.pos += 1;
                let ty = self.type_spec()?;
                let decls = self.declarators()?;
                let (name, span) = (decls[0].name.clone(), decls[0].span);
                Definition { annotations, name, span, kind: DefKind::Typedef(ty, decls) }
            }
            "const" => {
                self.pos += 1;
                let ty = self.type_spec()?;
                let (name, span) = self.ident()?;
                self.expect("=")?;
                let value = self.expr()?;
                Definition { annotations, name, span, kind: DefKind::Const(ty, value) }
            }
            "valuetype" => self.valuetype_def(annotations)?,
            "abstract" if matches!(self.peek_at(1), Some(Tok::Ident(n)) if n == "valuetype") => {
                return Err((
                    span,
                    "abstract valuetypes are not supported: they have no state members, so no DDS data type".into(),
                ))
            }
            "custom" if matches!(self.peek_at(1), Some(Tok::Ident(n)) if n == "valuetype") => {
                return Err((
                    span,
                    "custom valuetypes are not supported: their application-defined marshaling has no XTypes \
                     representation"
                        .into(),
                ))
            }
            "interface" | "exception" | "abstract" | "local" | "native" => {
                self.pos += 1;
                while !self.is_punct("{") && !self.is_punct(";") {
                    if self.pos >= self.toks.len() {
                        return self.err("`{`");
                    }
                    self.pos += 1;
                }
                if self.is_punct("{") {
                    self.skip_braces()?;
                }
                Definition { annotations, name: String::new(), span, kind: DefKind::Skipped }
            }
            _ => return self.err("definition"),
        };
        self.expect(";")?;
        Ok(Some(def))
    }

    fn skip_braces(&mut self) -> PResult<()> {
        self.expect("{")?;
        let mut depth = 1;
        while depth > 0 {
            match self.peek() {
                None => return self.err("`}`"),
                Some(Tok::Punct("{")) => depth += 1,
                Some(Tok::Punct("}")) => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn struct_def(&mut self, annotations: Vec<Annotation>) -> PResult<Definition> {
        self.pos += 1;
        let (name, span) = self.ident()?;
        if self.is_punct(";") {
            return Ok(Definition { annotations, name, span, kind: DefKind::ForwardStruct });
        }
        let base = if self.eat_punct(":") { Some(self.scoped_name()?) } else { None };
        self.expect("{")?;
        let mut members = Vec::new();
        while !self.eat_punct("}") {
            let annotations = self.annotations()?;
            let ty = self.type_spec()?;
            let decls = self.declarators()?;
            self.expect(";")?;
            members.push(Member { annotations, ty, decls });
        }
        Ok(Definition { annotations, name, span, kind: DefKind::Struct { base, members } })
    }

    /// `valuetype V [: Base] { public T a; private T b; factory f(...); };`, mapped as XTypes maps it: a
    /// struct whose members are the state members (public and private alike) and whose base is the concrete
    /// base valuetype. Factories are skipped; operations, attributes, nested declarations, value boxes,
    /// `truncatable`, `supports` and several bases are refused.
    fn valuetype_def(&mut self, annotations: Vec<Annotation>) -> PResult<Definition> {
        self.pos += 1;
        let (name, span) = self.ident()?;
        if self.is_punct(";") {
            return Ok(Definition { annotations, name, span, kind: DefKind::ForwardStruct });
        }
        let base = if self.eat_punct(":") {
            if self.is_kw("truncatable") {
                return Err((
                    self.span(),
                    "truncatable valuetypes are not supported: XTypes has no truncatable inheritance (use \
                     @appendable or @mutable for evolution)"
                        .into(),
                ));
            }
            let b = self.scoped_name()?;
            if self.is_punct(",") {
                return Err((
                    self.span(),
                    "a valuetype may have only one base here: XTypes structs have single inheritance".into(),
                ));
            }
            Some(b)
        } else {
            None
        };
        if self.is_kw("supports") {
            return Err((self.span(), "`supports` is not supported: interfaces are not DDS data".into()));
        }
        if !self.is_punct("{") {
            return Err((
                self.span(),
                format!(
                    "value boxes are not supported (found {} after `valuetype {name}`): use a typedef or an \
                     @optional member",
                    self.found()
                ),
            ));
        }
        self.pos += 1;
        let mut members = Vec::new();
        while !self.eat_punct("}") {
            let mut anns = self.annotations()?;
            match self.peek() {
                Some(Tok::Ident(k)) if k == "public" || k == "private" => {
                    self.pos += 1;
                    anns.extend(self.annotations()?);
                    let ty = self.type_spec()?;
                    let decls = self.declarators()?;
                    self.expect(";")?;
                    members.push(Member { annotations: anns, ty, decls });
                }
                Some(Tok::Ident(k)) if k == "factory" => {
                    // An initializer: no data. Skip `factory name(...) [raises(...)];`.
                    while !self.is_punct(";") {
                        if self.pos >= self.toks.len() {
                            return self.err("`;`");
                        }
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                Some(Tok::Ident(k))
                    if matches!(
                        k.as_str(),
                        "struct" | "union" | "enum" | "typedef" | "const" | "exception" | "bitmask" | "bitset"
                    ) =>
                {
                    return Err((
                        self.span(),
                        format!(
                            "declarations inside a valuetype are not supported (found `{k}`): declare the type in \
                             the enclosing module"
                        ),
                    ));
                }
                None => return self.err("`}`"),
                _ => {
                    return Err((
                        self.span(),
                        format!(
                            "valuetype operations and attributes are not supported (found {}): only state \
                             members (`public`/`private`) are DDS data",
                            self.found()
                        ),
                    ))
                }
            }
        }
        Ok(Definition { annotations, name, span, kind: DefKind::Struct { base, members } })
    }

    fn union_def(&mut self, annotations: Vec<Annotation>) -> PResult<Definition> {
        self.pos += 1;
        let (name, span) = self.ident()?;
        if self.is_punct(";") {
            return Ok(Definition { annotations, name, span, kind: DefKind::ForwardUnion });
        }
        self.expect_kw("switch")?;
        self.expect("(")?;
        let disc_annotations = self.annotations()?;
        let disc_span = self.span();
        let disc = self.type_spec()?;
        self.expect(")")?;
        self.expect("{")?;
        let mut cases = Vec::new();
        while !self.eat_punct("}") {
            let mut labels = Vec::new();
            loop {
                if self.eat_kw("case") {
                    labels.push(Some(self.expr()?));
                    self.expect(":")?;
                } else if self.eat_kw("default") {
                    labels.push(None);
                    self.expect(":")?;
                } else {
                    break;
                }
            }
            if labels.is_empty() {
                return self.err("`case` or `default`");
            }
            let annotations = self.annotations()?;
            let ty = self.type_spec()?;
            let decl = self.declarator()?;
            self.expect(";")?;
            cases.push(Case { labels, annotations, ty, decl });
        }
        Ok(Definition { annotations, name, span, kind: DefKind::Union { disc, disc_span, disc_annotations, cases } })
    }

    fn enumerators(&mut self) -> PResult<Vec<Enumerator>> {
        self.expect("{")?;
        let mut out = Vec::new();
        loop {
            let annotations = self.annotations()?;
            let (name, span) = self.ident()?;
            out.push(Enumerator { annotations, name, span });
            if !self.eat_punct(",") {
                break;
            }
            if self.is_punct("}") {
                break;
            }
        }
        self.expect("}")?;
        Ok(out)
    }

    fn bitset_def(&mut self, annotations: Vec<Annotation>) -> PResult<Definition> {
        self.pos += 1;
        let (name, span) = self.ident()?;
        let base = if self.eat_punct(":") { Some(self.scoped_name()?) } else { None };
        self.expect("{")?;
        let mut fields = Vec::new();
        while !self.eat_punct("}") {
            self.annotations()?;
            let span = self.span();
            self.expect_kw("bitfield")?;
            self.expect("<")?;
            let width = self.expr_no_gt()?;
            let ty = if self.eat_punct(",") { Some(self.type_spec()?) } else { None };
            self.expect_gt()?;
            let mut names = Vec::new();
            if !self.is_punct(";") {
                loop {
                    names.push(self.ident()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
            }
            self.expect(";")?;
            fields.push(Bitfield { width, ty, names, span });
        }
        Ok(Definition { annotations, name, span, kind: DefKind::Bitset { base, fields } })
    }

    fn declarators(&mut self) -> PResult<Vec<Declarator>> {
        let mut out = vec![self.declarator()?];
        while self.eat_punct(",") {
            out.push(self.declarator()?);
        }
        Ok(out)
    }

    fn declarator(&mut self) -> PResult<Declarator> {
        let (name, span) = self.ident()?;
        let mut dims = Vec::new();
        while self.eat_punct("[") {
            dims.push(self.expr()?);
            self.expect("]")?;
        }
        Ok(Declarator { name, span, dims })
    }

    fn scoped_name(&mut self) -> PResult<ScopedName> {
        let span = self.span();
        let absolute = self.eat_punct("::");
        let mut parts = vec![self.ident()?.0];
        while self.is_punct("::") {
            self.pos += 1;
            parts.push(self.ident()?.0);
        }
        Ok(ScopedName { absolute, parts, span })
    }

    fn type_spec(&mut self) -> PResult<TypeSpec> {
        let Some(Tok::Ident(k)) = self.peek().cloned() else {
            if self.is_punct("::") {
                return Ok(TypeSpec::Named(self.scoped_name()?));
            }
            return self.err("type");
        };
        let prim = |p| Ok(TypeSpec::Prim(p));
        match k.as_str() {
            "boolean" => {
                self.pos += 1;
                prim(Prim::Bool)
            }
            "char" => {
                self.pos += 1;
                prim(Prim::Char)
            }
            "wchar" => {
                self.pos += 1;
                prim(Prim::WChar)
            }
            "octet" => {
                self.pos += 1;
                prim(Prim::Octet)
            }
            "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "uint64" => {
                self.pos += 1;
                prim(match k.as_str() {
                    "int8" => Prim::I8,
                    "uint8" => Prim::U8,
                    "int16" => Prim::I16,
                    "uint16" => Prim::U16,
                    "int32" => Prim::I32,
                    "uint32" => Prim::U32,
                    "int64" => Prim::I64,
                    _ => Prim::U64,
                })
            }
            "float" => {
                self.pos += 1;
                prim(Prim::F32)
            }
            "double" => {
                self.pos += 1;
                prim(Prim::F64)
            }
            "short" => {
                self.pos += 1;
                prim(Prim::I16)
            }
            "long" => {
                self.pos += 1;
                if self.eat_kw("long") {
                    prim(Prim::I64)
                } else if self.eat_kw("double") {
                    prim(Prim::F128)
                } else {
                    prim(Prim::I32)
                }
            }
            "unsigned" => {
                self.pos += 1;
                if self.eat_kw("short") {
                    prim(Prim::U16)
                } else if self.eat_kw("long") {
                    if self.eat_kw("long") {
                        prim(Prim::U64)
                    } else {
                        prim(Prim::U32)
                    }
                } else {
                    self.err("`short` or `long`")
                }
            }
            "string" | "wstring" => {
                self.pos += 1;
                let bound = if self.eat_punct("<") {
                    let e = self.expr_no_gt()?;
                    self.expect_gt()?;
                    Some(e)
                } else {
                    None
                };
                Ok(TypeSpec::Str { wide: k == "wstring", bound })
            }
            "sequence" => {
                self.pos += 1;
                self.expect("<")?;
                let t = self.type_spec()?;
                let bound = if self.eat_punct(",") { Some(self.expr_no_gt()?) } else { None };
                self.expect_gt()?;
                Ok(TypeSpec::Seq(Box::new(t), bound))
            }
            "map" => {
                self.pos += 1;
                self.expect("<")?;
                let key = self.type_spec()?;
                self.expect(",")?;
                let value = self.type_spec()?;
                let bound = if self.eat_punct(",") { Some(self.expr_no_gt()?) } else { None };
                self.expect_gt()?;
                Ok(TypeSpec::Map(Box::new(key), Box::new(value), bound))
            }
            "fixed" => {
                let span = self.span();
                self.pos += 1;
                if !self.eat_punct("<") {
                    return Err((
                        span,
                        "`fixed` needs its digits and scale (`fixed<digits, scale>`); fixed-point constants \
                         are not supported"
                            .into(),
                    ));
                }
                let digits = self.expr()?;
                self.expect(",")?;
                let scale = self.expr_no_gt()?;
                self.expect_gt()?;
                Ok(TypeSpec::Fixed(digits, scale))
            }
            "any" => Err((
                self.span(),
                "type `any` cannot be used: DDS-XTypes 1.3 defines no TypeKind and no XCDR encoding for it \
                 (a self-describing CORBA value); use a union or a sequence<octet> instead"
                    .into(),
            )),
            "Object" | "ValueBase" => Err((
                self.span(),
                format!("type `{k}` cannot be used: it is a CORBA object reference, which DDS data cannot carry"),
            )),
            "void" => Err((self.span(), "`void` is only an operation's result type, not a data type".into())),
            _ if KEYWORDS.contains(&k.as_str()) => self.err("type"),
            _ => Ok(TypeSpec::Named(self.scoped_name()?)),
        }
    }

    /// An expression inside `<…>`: `>` and `>>` end it rather than shifting.
    fn expr_no_gt(&mut self) -> PResult<Expr> {
        self.binary(0, true)
    }

    /// A constant expression.
    pub fn expr(&mut self) -> PResult<Expr> {
        self.binary(0, false)
    }

    fn binary(&mut self, min: u8, no_gt: bool) -> PResult<Expr> {
        let mut l = self.unary()?;
        while let Some(Tok::Punct(p)) = self.peek() {
            let prec = match *p {
                "|" => 1,
                "^" => 2,
                "&" => 3,
                ">>" if no_gt => break,
                "<<" | ">>" => 4,
                "+" | "-" => 5,
                "*" | "/" | "%" => 6,
                _ => break,
            };
            if prec <= min {
                break;
            }
            let op = *p;
            let span = l.span;
            self.pos += 1;
            let r = self.binary(prec, no_gt)?;
            l = Expr { kind: ExprKind::Binary(op, Box::new(l), Box::new(r)), span };
        }
        Ok(l)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let span = self.span();
        let kind = match self.peek().cloned() {
            Some(Tok::Punct(op @ ("-" | "+" | "~"))) => {
                self.pos += 1;
                ExprKind::Unary(op, Box::new(self.unary()?))
            }
            Some(Tok::Punct("(")) => {
                self.pos += 1;
                let e = self.binary(0, false)?;
                self.expect(")")?;
                return Ok(e);
            }
            Some(Tok::Int(v)) => {
                self.pos += 1;
                ExprKind::Int(v)
            }
            Some(Tok::Float(v)) => {
                self.pos += 1;
                ExprKind::Float(v)
            }
            Some(Tok::Char(v)) => {
                self.pos += 1;
                ExprKind::Char(v)
            }
            Some(Tok::WChar(v)) => {
                self.pos += 1;
                ExprKind::WChar(v)
            }
            Some(Tok::Str(_)) | Some(Tok::WStr(_)) => {
                let wide = matches!(self.peek(), Some(Tok::WStr(_)));
                let mut s = String::new();
                while let Some(Tok::Str(p) | Tok::WStr(p)) = self.peek() {
                    s.push_str(p);
                    self.pos += 1;
                }
                if wide {
                    ExprKind::WStr(s)
                } else {
                    ExprKind::Str(s)
                }
            }
            Some(Tok::Ident(k)) if k == "TRUE" || k == "FALSE" => {
                self.pos += 1;
                ExprKind::Bool(k == "TRUE")
            }
            Some(Tok::Ident(_)) | Some(Tok::Punct("::")) => ExprKind::Name(self.scoped_name()?),
            _ => return self.err("expression"),
        };
        Ok(Expr { kind, span })
    }
}
