//! The IDL lexer: identifiers, literals, punctuation, with spans; comments are skipped.

use crate::diag::Span;

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier (keywords are identifiers too; the parser tells them apart).
    Ident(String),
    /// An integer literal.
    Int(u128),
    /// A floating-point literal.
    Float(f64),
    /// A character literal (`'a'`).
    Char(u32),
    /// A wide character literal (`L'a'`).
    WChar(u32),
    /// A string literal (adjacent literals are concatenated by the parser).
    Str(String),
    /// A wide string literal.
    WStr(String),
    /// Punctuation or an operator.
    Punct(&'static str),
    /// `#` (preprocessor directive start).
    Hash,
}

impl Tok {
    /// How the token is shown in "found X" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(v) => format!("integer literal `{v}`"),
            Tok::Float(v) => format!("floating-point literal `{v}`"),
            Tok::Char(_) | Tok::WChar(_) => "character literal".to_string(),
            Tok::Str(_) | Tok::WStr(_) => "string literal".to_string(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Hash => "`#`".to_string(),
        }
    }
}

/// A token with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The kind.
    pub tok: Tok,
    /// Where it starts.
    pub span: Span,
    /// True if it is the first token on its line.
    pub line_start: bool,
}

const PUNCTS: &[&str] = &[
    "::", "<<", ">>", "&&", "||", "==", "!=", "<=", ">=", "{", "}", "(", ")", "[", "]", "<", ">", ";", ",", ":", "=",
    "+", "-", "*", "/", "%", "~", "|", "^", "&", "@", "!",
];

/// A lexing error: location and message.
pub type LexError = (Span, String);

/// Splits `src` (file index `file`) into tokens.
pub fn lex(src: &str, file: u32) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let mut line_start = true;
    macro_rules! bump {
        () => {{
            if chars[i] == '\n' {
                line += 1;
                col = 1;
                line_start = true;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        let span = Span { file, line, col };
        if c == '\\' && chars.get(i + 1) == Some(&'\n') {
            i += 2;
            line += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            bump!();
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                bump!();
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            bump!();
            bump!();
            loop {
                if i >= chars.len() {
                    return Err((span, "unterminated comment".into()));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    bump!();
                    bump!();
                    break;
                }
                bump!();
            }
            continue;
        }
        let start_line = line_start;
        line_start = false;
        let push = |out: &mut Vec<Token>, tok: Tok| out.push(Token { tok, span, line_start: start_line });
        // Wide literals.
        if c == 'L' && matches!(chars.get(i + 1), Some('\'') | Some('"')) {
            bump!();
            let (tok, n) = lex_quoted(&chars[i..], span)?;
            for _ in 0..n {
                bump!();
            }
            push(
                &mut out,
                match tok {
                    Tok::Char(c) => Tok::WChar(c),
                    Tok::Str(s) => Tok::WStr(s),
                    t => t,
                },
            );
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                bump!();
            }
            let word: String = chars[s..i].iter().collect();
            let after_hash = out.last().is_some_and(|t: &Token| t.tok == Tok::Hash && t.span.line == line);
            push(&mut out, Tok::Ident(word.clone()));
            // `#include <path>`: the path is one token, `<` Str `>`.
            if word == "include" && after_hash {
                while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                    bump!();
                }
                if i < chars.len() && chars[i] == '<' {
                    let lt = Span { file, line, col };
                    let p = i + 1;
                    let Some(len) = chars[p..].iter().position(|c| *c == '>' || *c == '\n') else {
                        return Err((lt, "expected `>` after include path".into()));
                    };
                    if chars[p + len] != '>' {
                        return Err((lt, "expected `>` after include path".into()));
                    }
                    out.push(Token { tok: Tok::Punct("<"), span: lt, line_start: false });
                    let path: String = chars[p..p + len].iter().collect();
                    out.push(Token { tok: Tok::Str(path), span: Span { file, line, col: col + 1 }, line_start: false });
                    for _ in 0..len + 2 {
                        bump!();
                    }
                    out.push(Token {
                        tok: Tok::Punct(">"),
                        span: Span { file, line, col: col - 1 },
                        line_start: false,
                    });
                }
            }
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let (tok, n) = lex_number(&chars[i..], span)?;
            for _ in 0..n {
                bump!();
            }
            push(&mut out, tok);
            continue;
        }
        if c == '\'' || c == '"' {
            let (tok, n) = lex_quoted(&chars[i..], span)?;
            for _ in 0..n {
                bump!();
            }
            push(&mut out, tok);
            continue;
        }
        if c == '.' && chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
            // `...` (variadic macro parameters).
            bump!();
            bump!();
            bump!();
            push(&mut out, Tok::Punct("..."));
            continue;
        }
        if c == '#' {
            bump!();
            push(&mut out, Tok::Hash);
            continue;
        }
        let rest: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        match PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            Some(p) => {
                for _ in 0..p.len() {
                    bump!();
                }
                push(&mut out, Tok::Punct(p));
            }
            None => return Err((span, format!("unexpected character `{}`", c.escape_default()))),
        }
    }
    Ok(out)
}

fn lex_number(c: &[char], span: Span) -> Result<(Tok, usize), LexError> {
    let mut i = 0;
    if c[0] == '0' && matches!(c.get(1), Some('x') | Some('X')) {
        i = 2;
        while i < c.len() && c[i].is_ascii_hexdigit() {
            i += 1;
        }
        let s: String = c[2..i].iter().collect();
        let v = u128::from_str_radix(&s, 16).map_err(|_| (span, "invalid hexadecimal literal".to_string()))?;
        return Ok((Tok::Int(v), i));
    }
    while i < c.len() && c[i].is_ascii_digit() {
        i += 1;
    }
    let mut is_float = false;
    if c.get(i) == Some(&'.') {
        is_float = true;
        i += 1;
        while i < c.len() && c[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(c.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        if matches!(c.get(j), Some('+') | Some('-')) {
            j += 1;
        }
        if c.get(j).is_some_and(|d| d.is_ascii_digit()) {
            is_float = true;
            i = j;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = c[..i].iter().collect();
    // Suffixes: d/D (fixed-point) and f/F/l/L are accepted and ignored.
    if matches!(c.get(i), Some('d') | Some('D') | Some('f') | Some('F')) && is_float {
        i += 1;
    }
    if is_float {
        let v: f64 = text.parse().map_err(|_| (span, "invalid floating-point literal".to_string()))?;
        return Ok((Tok::Float(v), i));
    }
    let v = if text.len() > 1 && text.starts_with('0') {
        u128::from_str_radix(&text[1..], 8).map_err(|_| (span, "invalid octal literal".to_string()))?
    } else {
        text.parse::<u128>().map_err(|_| (span, "integer literal too large".to_string()))?
    };
    Ok((Tok::Int(v), i))
}

fn lex_escape(c: &[char], i: &mut usize, span: Span) -> Result<u32, LexError> {
    // c[*i] is the character after the backslash.
    let e = *c.get(*i).ok_or((span, "unterminated literal".to_string()))?;
    *i += 1;
    let simple = match e {
        'n' => Some(10),
        't' => Some(9),
        'v' => Some(11),
        'b' => Some(8),
        'r' => Some(13),
        'f' => Some(12),
        'a' => Some(7),
        '\\' => Some(92),
        '?' => Some(63),
        '\'' => Some(39),
        '"' => Some(34),
        _ => None,
    };
    if let Some(v) = simple {
        return Ok(v);
    }
    let (radix, max) = match e {
        'x' => (16, 2),
        'u' => (16, 4),
        '0'..='7' => {
            *i -= 1;
            (8, 3)
        }
        _ => return Err((span, format!("unknown escape sequence `\\{}`", e.escape_default()))),
    };
    let s = *i;
    while *i < c.len() && *i - s < max && c[*i].is_digit(radix) {
        *i += 1;
    }
    let digits: String = c[s..*i].iter().collect();
    u32::from_str_radix(&digits, radix).map_err(|_| (span, "invalid escape sequence".to_string()))
}

fn lex_quoted(c: &[char], span: Span) -> Result<(Tok, usize), LexError> {
    let q = c[0];
    let mut i = 1;
    let mut vals = Vec::new();
    loop {
        match c.get(i) {
            None | Some('\n') => return Err((span, "unterminated literal".into())),
            Some(ch) if *ch == q => {
                i += 1;
                break;
            }
            Some('\\') => {
                i += 1;
                vals.push(lex_escape(c, &mut i, span)?);
            }
            Some(ch) => {
                vals.push(*ch as u32);
                i += 1;
            }
        }
    }
    if q == '\'' {
        if vals.len() != 1 {
            return Err((span, "character literal must hold exactly one character".into()));
        }
        Ok((Tok::Char(vals[0]), i))
    } else {
        let s: String = vals.iter().map(|v| char::from_u32(*v).unwrap_or('\u{fffd}')).collect();
        Ok((Tok::Str(s), i))
    }
}
