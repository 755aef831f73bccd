//! The preprocessor: `#include`, object-like `#define`, conditionals; `#pragma` is ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, SourceMap, Span};
use crate::lexer::{lex, Tok, Token};

/// Conditional state of one `#if…#endif` group.
struct Cond {
    /// Tokens in the current branch are kept.
    active: bool,
    /// Some branch of the group was already taken.
    taken: bool,
    /// The enclosing group was active.
    parent: bool,
    /// Where the group started (for "unterminated" errors).
    span: Span,
}

/// Preprocesses files into one token stream.
pub struct Preprocessor<'a> {
    /// Files read so far.
    pub sources: &'a mut SourceMap,
    include_dirs: Vec<PathBuf>,
    macros: HashMap<String, Vec<Token>>,
    stack: Vec<PathBuf>,
    once: Vec<PathBuf>,
}

impl<'a> Preprocessor<'a> {
    /// A preprocessor searching `include_dirs` (after the including file's own directory).
    pub fn new(sources: &'a mut SourceMap, include_dirs: &[PathBuf]) -> Self {
        Preprocessor {
            sources,
            include_dirs: include_dirs.to_vec(),
            macros: HashMap::new(),
            stack: Vec::new(),
            once: Vec::new(),
        }
    }

    /// Reads and preprocesses `path`; `from` is the location of the `#include` (None for a top-level file).
    pub fn file(&mut self, path: &Path, from: Option<Span>, out: &mut Vec<Token>) -> Result<(), Diagnostic> {
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.once.contains(&canon) {
            return Ok(());
        }
        let here = |s: &SourceMap, msg: String| match from {
            Some(sp) => s.error(sp, msg),
            None => Diagnostic {
                severity: crate::diag::Severity::Error,
                message: msg,
                path: path.to_path_buf(),
                line: 0,
                col: 0,
                source_line: String::new(),
            },
        };
        if self.stack.contains(&canon) {
            return Err(here(self.sources, format!("#include cycle: {} includes itself", path.display())));
        }
        let text = match std::fs::read(path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return Err(here(self.sources, format!("cannot read {}: {e}", path.display()))),
        };
        let file = self.sources.add(path.to_path_buf(), text);
        self.stack.push(canon);
        let r = self.text(file, path, out);
        self.stack.pop();
        r
    }

    fn text(&mut self, file: u32, path: &Path, out: &mut Vec<Token>) -> Result<(), Diagnostic> {
        let toks = lex(self.sources.text(file), file).map_err(|(sp, m)| self.sources.error(sp, m))?;
        let mut conds: Vec<Cond> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let active = conds.last().is_none_or(|c| c.active);
            if toks[i].tok == Tok::Hash && toks[i].line_start {
                let hash = toks[i].span;
                let mut j = i + 1;
                while j < toks.len() && toks[j].span.line == hash.line && !toks[j].line_start {
                    j += 1;
                }
                let line = &toks[i + 1..j];
                i = j;
                self.directive(hash, line, path, active, &mut conds, out)?;
                continue;
            }
            if active {
                self.expand(&toks[i], out, &mut Vec::new());
            }
            i += 1;
        }
        if let Some(c) = conds.last() {
            return Err(self.sources.error(c.span, "unterminated conditional directive"));
        }
        Ok(())
    }

    /// Appends `t`, replacing macro names by their definitions (recursively, except self-references).
    fn expand(&self, t: &Token, out: &mut Vec<Token>, active: &mut Vec<String>) {
        if let Tok::Ident(name) = &t.tok {
            if let Some(body) = self.macros.get(name) {
                if !active.contains(name) {
                    active.push(name.clone());
                    for b in body {
                        // Expanded tokens take the location of the use.
                        self.expand(&Token { tok: b.tok.clone(), span: t.span, line_start: false }, out, active);
                    }
                    active.pop();
                    return;
                }
            }
        }
        out.push(t.clone());
    }

    fn directive(
        &mut self,
        hash: Span,
        line: &[Token],
        path: &Path,
        active: bool,
        conds: &mut Vec<Cond>,
        out: &mut Vec<Token>,
    ) -> Result<(), Diagnostic> {
        let Some(first) = line.first() else { return Ok(()) };
        let name = match &first.tok {
            Tok::Ident(n) => n.as_str(),
            other => {
                return Err(self
                    .sources
                    .error(first.span, format!("expected directive name, found {}", other.describe())))
            }
        };
        let args = &line[1..];
        let ident_arg = |s: &SourceMap| match args.first() {
            Some(Token { tok: Tok::Ident(n), .. }) => Ok(n.clone()),
            Some(t) => Err(s.error(t.span, format!("expected identifier, found {}", t.tok.describe()))),
            None => Err(s.error(first.span, format!("expected identifier after #{name}"))),
        };
        match name {
            "ifdef" | "ifndef" => {
                let n = ident_arg(self.sources)?;
                let defined = self.macros.contains_key(&n);
                let cond = if name == "ifdef" { defined } else { !defined };
                conds.push(Cond { active: active && cond, taken: cond, parent: active, span: hash });
            }
            "if" => {
                let v = self.eval(args, first.span)? != 0;
                conds.push(Cond { active: active && v, taken: v, parent: active, span: hash });
            }
            "elif" => {
                let parent_active = conds.last().map(|c| c.parent);
                let taken = conds.last().map(|c| c.taken);
                let (Some(p), Some(t)) = (parent_active, taken) else {
                    return Err(self.sources.error(first.span, "#elif without #if"));
                };
                let v = !t && self.eval(args, first.span)? != 0;
                if let Some(c) = conds.last_mut() {
                    c.active = p && v;
                    c.taken = t || v;
                }
            }
            "else" => match conds.last_mut() {
                Some(c) => {
                    c.active = c.parent && !c.taken;
                    c.taken = true;
                }
                None => return Err(self.sources.error(first.span, "#else without #if")),
            },
            "endif" => {
                if conds.pop().is_none() {
                    return Err(self.sources.error(first.span, "#endif without #if"));
                }
            }
            _ if !active => {}
            "define" => {
                let n = ident_arg(self.sources)?;
                if let Some(t) = args.get(1) {
                    if t.tok == Tok::Punct("(") && t.span.col == args[0].span.col + n.chars().count() as u32 {
                        return Err(self.sources.error(t.span, "function-like macros are not supported"));
                    }
                }
                self.macros.insert(n, args[1..].to_vec());
            }
            "undef" => {
                let n = ident_arg(self.sources)?;
                self.macros.remove(&n);
            }
            "include" => {
                let (target, system) = match args.first().map(|t| &t.tok) {
                    Some(Tok::Str(s)) => (s.clone(), false),
                    Some(Tok::Punct("<")) => match args.get(1).map(|t| &t.tok) {
                        Some(Tok::Str(s)) => (s.clone(), true),
                        _ => return Err(self.sources.error(args[0].span, "expected `>` after include path")),
                    },
                    _ => {
                        return Err(self.sources.error(
                            args.first().map_or(first.span, |t| t.span),
                            "expected \"FILE\" or <FILE> after #include",
                        ))
                    }
                };
                let mut candidates = Vec::new();
                if !system {
                    if let Some(dir) = path.parent() {
                        candidates.push(dir.join(&target));
                    }
                }
                candidates.extend(self.include_dirs.iter().map(|d| d.join(&target)));
                if system {
                    if let Some(dir) = path.parent() {
                        candidates.push(dir.join(&target));
                    }
                }
                match candidates.into_iter().find(|c| c.is_file()) {
                    Some(found) => self.file(&found, Some(args[0].span), out)?,
                    None => {
                        return Err(self.sources.error(args[0].span, format!("cannot find include file `{target}`")))
                    }
                }
            }
            "pragma" => {
                if matches!(args.first().map(|t| &t.tok), Some(Tok::Ident(n)) if n == "once") {
                    if let Some(top) = self.stack.last() {
                        self.once.push(top.clone());
                    }
                }
            }
            "error" => return Err(self.sources.error(hash, "#error directive")),
            "warning" | "line" | "ident" => {}
            other => return Err(self.sources.error(first.span, format!("unknown preprocessor directive `#{other}`"))),
        }
        Ok(())
    }

    /// Evaluates a `#if` expression: integers, `defined`, macros (undefined names are 0), C operators.
    fn eval(&self, args: &[Token], at: Span) -> Result<i128, Diagnostic> {
        // Replace `defined X` / `defined(X)` first, then expand macros.
        let mut toks: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            if args[i].tok == Tok::Ident("defined".into()) {
                let (name, next) = match (args.get(i + 1).map(|t| &t.tok), args.get(i + 2).map(|t| &t.tok)) {
                    (Some(Tok::Punct("(")), Some(Tok::Ident(n))) => (n.clone(), i + 4),
                    (Some(Tok::Ident(n)), _) => (n.clone(), i + 2),
                    _ => return Err(self.sources.error(args[i].span, "expected identifier after `defined`")),
                };
                let v = u128::from(self.macros.contains_key(&name));
                toks.push(Token { tok: Tok::Int(v), span: args[i].span, line_start: false });
                i = next;
                continue;
            }
            self.expand(&args[i], &mut toks, &mut Vec::new());
            i += 1;
        }
        let mut p = CondParser { toks: &toks, pos: 0 };
        let v = p.expr(0);
        match v {
            Some(v) if p.pos == toks.len() => Ok(v),
            _ => Err(self.sources.error(toks.get(p.pos).map_or(at, |t| t.span), "invalid #if expression")),
        }
    }
}

struct CondParser<'t> {
    toks: &'t [Token],
    pos: usize,
}

impl CondParser<'_> {
    fn binop(&self) -> Option<(&'static str, u8)> {
        let Tok::Punct(p) = self.toks.get(self.pos)?.tok else { return None };
        let prec = match p {
            "||" => 1,
            "&&" => 2,
            "|" => 3,
            "^" => 4,
            "&" => 5,
            "==" | "!=" => 6,
            "<" | ">" | "<=" | ">=" => 7,
            "<<" | ">>" => 8,
            "+" | "-" => 9,
            "*" | "/" | "%" => 10,
            _ => return None,
        };
        Some((p, prec))
    }

    fn expr(&mut self, min: u8) -> Option<i128> {
        let mut l = self.unary()?;
        while let Some((op, prec)) = self.binop() {
            if prec <= min {
                break;
            }
            self.pos += 1;
            let r = self.expr(prec)?;
            l = match op {
                "||" => i128::from(l != 0 || r != 0),
                "&&" => i128::from(l != 0 && r != 0),
                "|" => l | r,
                "^" => l ^ r,
                "&" => l & r,
                "==" => i128::from(l == r),
                "!=" => i128::from(l != r),
                "<" => i128::from(l < r),
                ">" => i128::from(l > r),
                "<=" => i128::from(l <= r),
                ">=" => i128::from(l >= r),
                "<<" => l.checked_shl(u32::try_from(r).ok()?)?,
                ">>" => l.checked_shr(u32::try_from(r).ok()?)?,
                "+" => l.checked_add(r)?,
                "-" => l.checked_sub(r)?,
                "*" => l.checked_mul(r)?,
                "/" => l.checked_div(r)?,
                _ => l.checked_rem(r)?,
            };
        }
        Some(l)
    }

    fn unary(&mut self) -> Option<i128> {
        let t = self.toks.get(self.pos)?;
        self.pos += 1;
        match &t.tok {
            Tok::Int(v) => i128::try_from(*v).ok(),
            Tok::Ident(_) => Some(0),
            Tok::Punct("!") => Some(i128::from(self.unary()? == 0)),
            Tok::Punct("-") => self.unary()?.checked_neg(),
            Tok::Punct("~") => Some(!self.unary()?),
            Tok::Punct("(") => {
                let v = self.expr(0)?;
                (self.toks.get(self.pos)?.tok == Tok::Punct(")")).then(|| self.pos += 1)?;
                Some(v)
            }
            _ => None,
        }
    }
}
