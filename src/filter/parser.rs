//! Lexer and recursive-descent parser for the DDS SQL filter grammar
//! (DDS 1.4 Annex B), extended with `!=`, `NOT LIKE`, and comparisons in
//! either order.

use super::{FilterError, PathSegment, Value};

/// An operand of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    /// A member path; a single plain name that names no field is an enum literal.
    Field(Vec<PathSegment>),
    /// A literal.
    Literal(Value),
    /// `%n`.
    Param(usize),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
}

/// The expression tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, CmpOp, Operand),
    Between { value: Operand, low: Operand, high: Operand, negated: bool },
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Param(usize),
    Op(&'static str),
    LParen,
    RParen,
    Dot,
    LBracket,
    RBracket,
    End,
}

/// A token and its 1-based column.
#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    col: usize,
    text: String,
}

fn err(col: usize, message: impl Into<String>) -> FilterError {
    FilterError::Parse { col, message: message.into() }
}

fn number(text: &str, col: usize) -> Result<Tok, FilterError> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let bad = || err(col, format!("invalid number '{text}'"));
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
        return signed(neg, v).ok_or_else(bad);
    }
    if body.contains(['.', 'e', 'E']) {
        let v: f64 = body.parse().map_err(|_| bad())?;
        return Ok(Tok::Float(if neg { -v } else { v }));
    }
    let v: u64 = body.parse().map_err(|_| bad())?;
    signed(neg, v).ok_or_else(bad)
}

fn signed(neg: bool, v: u64) -> Option<Tok> {
    if neg {
        if v <= i64::MAX as u64 + 1 {
            Some(Tok::Int((v as i128).wrapping_neg() as i64))
        } else {
            None
        }
    } else if let Ok(i) = i64::try_from(v) {
        Some(Tok::Int(i))
    } else {
        Some(Tok::UInt(v))
    }
}

fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let prev_is_value = matches!(
            out.last(),
            Some(Token {
                tok: Tok::Ident(_)
                    | Tok::Int(_)
                    | Tok::UInt(_)
                    | Tok::Float(_)
                    | Tok::Str(_)
                    | Tok::Param(_)
                    | Tok::RParen
                    | Tok::RBracket,
                ..
            })
        );
        let starts_number = c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit) && !prev_is_value)
            || ((c == '-' || c == '+')
                && !prev_is_value
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit() || *n == '.'));
        if starts_number {
            let start = i;
            i += 1;
            let hex = chars.get(start..start + 2).is_some_and(|p| p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                || chars.get(start + 1..start + 3).is_some_and(|p| p[0] == '0' && (p[1] == 'x' || p[1] == 'X'));
            while i < chars.len() {
                let d = chars[i];
                let exp_sign = (d == '-' || d == '+') && !hex && matches!(chars[i - 1], 'e' | 'E');
                if d.is_ascii_alphanumeric() || d == '.' || exp_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token { tok: number(&text, col)?, col, text });
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token { tok: Tok::Ident(text.clone()), col, text });
            continue;
        }
        if c == '\'' || c == '`' {
            // A string literal; '' inside a '...' literal is one quote. `...' is accepted too.
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(err(col, "unterminated string literal")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            let text: String = chars[col - 1..i].iter().collect();
            out.push(Token { tok: Tok::Str(s), col, text });
            continue;
        }
        if c == '%' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let n = digits.parse::<usize>().map_err(|_| err(col, "expected a parameter number after '%'"))?;
            if n > 99 {
                return Err(err(col, format!("parameter %{n} out of range (%0..%99)")));
            }
            out.push(Token { tok: Tok::Param(n), col, text: format!("%{digits}") });
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let (tok, len) = match (two.as_str(), c) {
            ("<=", _) => (Tok::Op("<="), 2),
            (">=", _) => (Tok::Op(">="), 2),
            ("<>", _) => (Tok::Op("<>"), 2),
            ("!=", _) => (Tok::Op("!="), 2),
            ("==", _) => (Tok::Op("="), 2),
            (_, '=') => (Tok::Op("="), 1),
            (_, '<') => (Tok::Op("<"), 1),
            (_, '>') => (Tok::Op(">"), 1),
            (_, '(') => (Tok::LParen, 1),
            (_, ')') => (Tok::RParen, 1),
            (_, '.') => (Tok::Dot, 1),
            (_, '[') => (Tok::LBracket, 1),
            (_, ']') => (Tok::RBracket, 1),
            _ => return Err(err(col, format!("unexpected character '{c}'"))),
        };
        out.push(Token { tok, col, text: chars[i..i + len].iter().collect() });
        i += len;
    }
    out.push(Token { tok: Tok::End, col: chars.len() + 1, text: String::new() });
    Ok(out)
}

fn keyword(t: &Token, kw: &str) -> bool {
    matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "LIKE"];

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    max_param: Option<usize>,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn describe(t: &Token) -> String {
        match t.tok {
            Tok::End => "the end of the expression".into(),
            _ => format!("'{}'", t.text),
        }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while keyword(self.peek(), "OR") {
            self.next();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.not()?;
        while keyword(self.peek(), "AND") {
            self.next();
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if keyword(self.peek(), "NOT") {
            self.next();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        if self.peek().tok == Tok::LParen {
            let open = self.next();
            let e = self.or()?;
            let t = self.peek().clone();
            if t.tok != Tok::RParen {
                return Err(err(
                    t.col,
                    format!("expected ')' to close the '(' at col {}, found {}", open.col, Self::describe(&t)),
                ));
            }
            self.next();
            return Ok(e);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, FilterError> {
        let t = self.peek().clone();
        let left = self.operand("a field name or a value", None)?;
        let op_tok = self.next();
        let negated = keyword(&op_tok, "NOT");
        let op_tok = if negated { self.next() } else { op_tok };
        if keyword(&op_tok, "BETWEEN") {
            let after = format!("after '{}'", op_tok.text);
            let low = self.operand("a value", Some(&after))?;
            let and = self.next();
            if !keyword(&and, "AND") {
                return Err(err(and.col, format!("expected AND in BETWEEN, found {}", Self::describe(&and))));
            }
            let high = self.operand("a value", Some("after AND"))?;
            return Ok(Expr::Between { value: left, low, high, negated });
        }
        let op = match (&op_tok.tok, negated) {
            (Tok::Ident(s), _) if s.eq_ignore_ascii_case("LIKE") => {
                if negated {
                    CmpOp::NotLike
                } else {
                    CmpOp::Like
                }
            }
            (_, true) => {
                return Err(err(
                    op_tok.col,
                    format!("expected BETWEEN or LIKE after NOT, found {}", Self::describe(&op_tok)),
                ))
            }
            (Tok::Op("="), _) => CmpOp::Eq,
            (Tok::Op("<>" | "!="), _) => CmpOp::Ne,
            (Tok::Op("<"), _) => CmpOp::Lt,
            (Tok::Op("<="), _) => CmpOp::Le,
            (Tok::Op(">"), _) => CmpOp::Gt,
            (Tok::Op(">="), _) => CmpOp::Ge,
            _ => {
                return Err(err(
                    op_tok.col,
                    format!(
                        "expected a comparison operator (=, <>, <, <=, >, >=, LIKE, BETWEEN) after {}, found {}",
                        Self::describe(&t),
                        Self::describe(&op_tok)
                    ),
                ))
            }
        };
        let after = format!("after '{}'", op_tok.text);
        let right = self.operand("a value", Some(&after))?;
        Ok(Expr::Cmp(left, op, right))
    }

    fn operand(&mut self, what: &str, after: Option<&str>) -> Result<Operand, FilterError> {
        let t = self.next();
        let expected = || match after {
            Some(a) => format!("expected {what} {a}"),
            None => format!("expected {what}, found {}", Self::describe(&t)),
        };
        Ok(match t.tok {
            Tok::Int(i) => Operand::Literal(Value::Int(i)),
            Tok::UInt(u) => Operand::Literal(Value::UInt(u)),
            Tok::Float(f) => Operand::Literal(Value::Float(f)),
            Tok::Str(ref s) => Operand::Literal(Value::String(s.clone())),
            Tok::Param(n) => {
                self.max_param = Some(self.max_param.map_or(n, |m| m.max(n)));
                Operand::Param(n)
            }
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("TRUE") => Operand::Literal(Value::Bool(true)),
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("FALSE") => Operand::Literal(Value::Bool(false)),
            Tok::Ident(ref s) if KEYWORDS.iter().any(|k| s.eq_ignore_ascii_case(k)) => {
                return Err(err(t.col, expected()))
            }
            Tok::Ident(s) => Operand::Field(self.path(s)?),
            _ => return Err(err(t.col, expected())),
        })
    }

    fn path(&mut self, first: String) -> Result<Vec<PathSegment>, FilterError> {
        let mut path = vec![PathSegment::Member(first)];
        loop {
            match self.peek().tok {
                Tok::Dot => {
                    self.next();
                    let t = self.next();
                    match t.tok {
                        Tok::Ident(s) => path.push(PathSegment::Member(s)),
                        _ => return Err(err(t.col, "expected a member name after '.'")),
                    }
                }
                Tok::LBracket => {
                    self.next();
                    let t = self.next();
                    let idx = match t.tok {
                        Tok::Int(i) if i >= 0 => i as usize,
                        _ => return Err(err(t.col, "expected a non-negative array index after '['")),
                    };
                    let close = self.next();
                    if close.tok != Tok::RBracket {
                        return Err(err(close.col, "expected ']' after the array index"));
                    }
                    path.push(PathSegment::Index(idx));
                }
                _ => return Ok(path),
            }
        }
    }
}

/// Parses an expression; also returns the highest `%n` used.
pub(crate) fn parse(src: &str) -> Result<(Expr, Option<usize>), FilterError> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0, max_param: None };
    if p.peek().tok == Tok::End {
        return Err(err(1, "empty filter expression"));
    }
    let e = p.or()?;
    let t = p.peek().clone();
    if t.tok != Tok::End {
        return Err(err(
            t.col,
            format!("expected AND, OR or the end of the expression, found {}", Parser::describe(&t)),
        ));
    }
    Ok((e, p.max_param))
}

/// Parses a parameter value: a literal (number, quoted string, TRUE/FALSE);
/// any other text is taken as a string (or an enum name).
pub(crate) fn parse_parameter(text: &str) -> Value {
    let t = text.trim();
    if let Ok(toks) = lex(t) {
        if toks.len() == 2 {
            match &toks[0].tok {
                Tok::Int(i) => return Value::Int(*i),
                Tok::UInt(u) => return Value::UInt(*u),
                Tok::Float(f) => return Value::Float(*f),
                Tok::Str(s) => return Value::String(s.clone()),
                Tok::Ident(s) if s.eq_ignore_ascii_case("TRUE") => return Value::Bool(true),
                Tok::Ident(s) if s.eq_ignore_ascii_case("FALSE") => return Value::Bool(false),
                _ => {}
            }
        }
    }
    Value::String(text.to_string())
}
