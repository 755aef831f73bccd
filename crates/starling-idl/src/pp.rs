//! The preprocessor: `#include`, object-like and function-like `#define` (with `#` stringizing, `##` pasting
//! and `...`/`__VA_ARGS__`), conditionals; `#pragma` is ignored. Directives may continue over lines ending in
//! a backslash.

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

/// A `#define`d macro.
#[derive(Clone, Debug)]
struct Macro {
    /// Parameter names of a function-like macro (`__VA_ARGS__` last for a variadic one); None if object-like.
    params: Option<Vec<String>>,
    /// The replacement list.
    body: Vec<Token>,
}

/// Nesting limit of macro expansion (a guard against runaway expansions).
const MAX_EXPANSION_DEPTH: usize = 200;

/// Preprocesses files into one token stream.
pub struct Preprocessor<'a> {
    /// Files read so far.
    pub sources: &'a mut SourceMap,
    include_dirs: Vec<PathBuf>,
    macros: HashMap<String, Macro>,
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
        // Active tokens since the last directive: expanded together, so that a macro's arguments may span
        // lines.
        let mut run: Vec<Token> = Vec::new();
        while i < toks.len() {
            let active = conds.last().is_none_or(|c| c.active);
            if toks[i].tok == Tok::Hash && toks[i].line_start {
                // A directive ends at the next line start (a backslash-newline does not start a line).
                let hash = toks[i].span;
                let mut j = i + 1;
                while j < toks.len() && !toks[j].line_start {
                    j += 1;
                }
                let line = &toks[i + 1..j];
                i = j;
                self.expand_run(&mut run, out)?;
                self.directive(hash, line, path, active, &mut conds, out)?;
                continue;
            }
            if active {
                run.push(toks[i].clone());
            }
            i += 1;
        }
        self.expand_run(&mut run, out)?;
        if let Some(c) = conds.last() {
            return Err(self.sources.error(c.span, "unterminated conditional directive"));
        }
        Ok(())
    }

    /// Expands the pending run of tokens into `out` and empties it.
    fn expand_run(&self, run: &mut Vec<Token>, out: &mut Vec<Token>) -> Result<(), Diagnostic> {
        if !run.is_empty() {
            self.expand_list(run, &mut Vec::new(), out, 0)?;
            run.clear();
        }
        Ok(())
    }

    /// Appends `toks` with macros replaced by their expansions (rescanned, a macro's own name excepted while
    /// it expands). Expanded tokens take the location of the macro's use.
    fn expand_list(
        &self,
        toks: &[Token],
        hide: &mut Vec<String>,
        out: &mut Vec<Token>,
        depth: usize,
    ) -> Result<(), Diagnostic> {
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            let Tok::Ident(name) = &t.tok else {
                out.push(t.clone());
                i += 1;
                continue;
            };
            let Some(m) = self.macros.get(name).filter(|_| !hide.contains(name)) else {
                out.push(t.clone());
                i += 1;
                continue;
            };
            if depth > MAX_EXPANSION_DEPTH {
                return Err(self.sources.error(t.span, format!("macro `{name}` expands too deeply")));
            }
            let at = |b: &Token| Token { tok: b.tok.clone(), span: t.span, line_start: false };
            let replaced: Vec<Token> = match &m.params {
                None => {
                    i += 1;
                    m.body.iter().map(at).collect()
                }
                Some(params) => {
                    // A function-like macro name not followed by `(` is an ordinary identifier.
                    if toks.get(i + 1).map(|n| &n.tok) != Some(&Tok::Punct("(")) {
                        out.push(t.clone());
                        i += 1;
                        continue;
                    }
                    let (args, next) = self.macro_args(toks, i, name, params)?;
                    i = next;
                    self.substitute(m, params, &args, t, hide, depth)?
                }
            };
            hide.push(name.clone());
            let r = self.expand_list(&replaced, hide, out, depth + 1);
            hide.pop();
            r?;
        }
        Ok(())
    }

    /// Collects the arguments of the function-like macro invoked at `toks[at]` (the name; `(` follows).
    /// Returns the arguments and the index after the closing `)`.
    fn macro_args(
        &self,
        toks: &[Token],
        at: usize,
        name: &str,
        params: &[String],
    ) -> Result<(Vec<Vec<Token>>, usize), Diagnostic> {
        let variadic = params.last().is_some_and(|p| p == "__VA_ARGS__");
        let mut args: Vec<Vec<Token>> = vec![Vec::new()];
        let mut depth = 0usize;
        let mut j = at + 2;
        loop {
            let Some(a) = toks.get(j) else {
                return Err(self
                    .sources
                    .error(toks[at].span, format!("unterminated argument list invoking macro `{name}`")));
            };
            j += 1;
            match a.tok {
                Tok::Punct("(") => depth += 1,
                Tok::Punct(")") if depth == 0 => break,
                Tok::Punct(")") => depth -= 1,
                // Commas separate arguments, except inside parentheses and in the variadic part.
                Tok::Punct(",") if depth == 0 && !(variadic && args.len() == params.len()) => {
                    args.push(Vec::new());
                    continue;
                }
                _ => {}
            }
            if let Some(last) = args.last_mut() {
                last.push(a.clone());
            }
        }
        // `F()` passes no argument to a macro without parameters (one empty argument otherwise).
        if params.is_empty() && args.len() == 1 && args[0].is_empty() {
            args.clear();
        }
        if variadic && args.len() + 1 == params.len() {
            args.push(Vec::new());
        }
        if args.len() != params.len() {
            let n = if variadic { params.len() - 1 } else { params.len() };
            let at_least = if variadic { "at least " } else { "" };
            return Err(self.sources.error(
                toks[at].span,
                format!(
                    "macro `{name}` takes {at_least}{n} argument{}, {} given",
                    if n == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        Ok((args, j))
    }

    /// The replacement list of a function-like macro with its parameters replaced: `#p` by the argument as a
    /// string literal, operands of `##` by the argument as written (then pasted), other uses by the fully
    /// expanded argument.
    fn substitute(
        &self,
        m: &Macro,
        params: &[String],
        args: &[Vec<Token>],
        use_tok: &Token,
        hide: &mut Vec<String>,
        depth: usize,
    ) -> Result<Vec<Token>, Diagnostic> {
        let span = use_tok.span;
        let param = |t: &Token| match &t.tok {
            Tok::Ident(n) => params.iter().position(|p| p == n),
            _ => None,
        };
        let is_paste = |k: usize| {
            m.body.get(k).is_some_and(|t| t.tok == Tok::Hash) && m.body.get(k + 1).is_some_and(|t| t.tok == Tok::Hash)
        };
        let relocate = |ts: &[Token]| -> Vec<Token> {
            ts.iter().map(|b| Token { tok: b.tok.clone(), span, line_start: false }).collect()
        };
        // Pieces, each marked "pasted to the previous piece".
        let mut pieces: Vec<(Vec<Token>, bool)> = Vec::new();
        let mut k = 0;
        let mut paste_next = false;
        while k < m.body.len() {
            let b = &m.body[k];
            let pasted = std::mem::take(&mut paste_next);
            let next_pastes = |k: usize| is_paste(k);
            let piece = if b.tok == Tok::Hash && !is_paste(k) && !(k > 0 && is_paste(k - 1)) {
                // `#param`: stringize.
                match m.body.get(k + 1).and_then(param) {
                    Some(p) => {
                        k += 2;
                        let text = spell_tokens(&args[p]);
                        vec![Token { tok: Tok::Str(text), span, line_start: false }]
                    }
                    None => return Err(self.sources.error(span, "`#` in a macro must be followed by a parameter")),
                }
            } else if let Some(p) = param(b) {
                k += 1;
                if pasted || next_pastes(k) {
                    relocate(&args[p])
                } else {
                    let mut e = Vec::new();
                    self.expand_list(&args[p], hide, &mut e, depth + 1)?;
                    relocate(&e)
                }
            } else {
                k += 1;
                relocate(std::slice::from_ref(b))
            };
            if is_paste(k) {
                k += 2;
                paste_next = true;
            }
            pieces.push((piece, pasted));
        }
        let mut out: Vec<Token> = Vec::new();
        for (piece, pasted) in pieces {
            let mut piece = piece.into_iter();
            if pasted {
                match (out.pop(), piece.next()) {
                    (Some(l), Some(r)) => out.push(self.paste(&l, &r, span)?),
                    (Some(l), None) => out.push(l),
                    (None, Some(r)) => out.push(r),
                    (None, None) => {}
                }
            }
            out.extend(piece);
        }
        Ok(out)
    }

    /// `l ## r`: the token spelled by both, which must be a single token.
    fn paste(&self, l: &Token, r: &Token, span: Span) -> Result<Token, Diagnostic> {
        let text = format!("{}{}", spell(&l.tok), spell(&r.tok));
        match lex(&text, span.file) {
            Ok(mut t) if t.len() == 1 => {
                let mut t = t.remove(0);
                t.span = span;
                t.line_start = false;
                Ok(t)
            }
            _ => Err(self.sources.error(span, format!("pasting gives `{text}`, which is not a single token"))),
        }
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
                let function_like = args.get(1).is_some_and(|t| {
                    t.tok == Tok::Punct("(")
                        && t.span.line == args[0].span.line
                        && t.span.col == args[0].span.col + n.chars().count() as u32
                });
                let m = if function_like {
                    self.macro_params(&n, &args[1..])?
                } else {
                    Macro { params: None, body: args[1..].to_vec() }
                };
                self.macros.insert(n, m);
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

    /// Parses `(a, b, ...)` after a function-like macro's name; the rest is the replacement list.
    fn macro_params(&self, name: &str, toks: &[Token]) -> Result<Macro, Diagnostic> {
        let mut params: Vec<String> = Vec::new();
        let mut j = 1;
        let expect = |j: usize, what: &str| {
            let (sp, found) =
                toks.get(j).map_or((toks[0].span, "end of line".to_string()), |t| (t.span, t.tok.describe()));
            Err(self.sources.error(sp, format!("expected {what} in the parameters of macro `{name}`, found {found}")))
        };
        if toks.get(1).map(|t| &t.tok) == Some(&Tok::Punct(")")) {
            j = 2;
        } else {
            loop {
                match toks.get(j).map(|t| &t.tok) {
                    Some(Tok::Ident(p)) => {
                        if params.contains(p) {
                            return Err(self.sources.error(toks[j].span, format!("duplicate macro parameter `{p}`")));
                        }
                        params.push(p.clone());
                    }
                    Some(Tok::Punct("...")) => {
                        params.push("__VA_ARGS__".into());
                        j += 1;
                        if toks.get(j).map(|t| &t.tok) != Some(&Tok::Punct(")")) {
                            return expect(j, "`)`");
                        }
                        j += 1;
                        break;
                    }
                    _ => return expect(j, "a parameter name"),
                }
                j += 1;
                match toks.get(j).map(|t| &t.tok) {
                    Some(Tok::Punct(",")) => j += 1,
                    Some(Tok::Punct(")")) => {
                        j += 1;
                        break;
                    }
                    _ => return expect(j, "`,` or `)`"),
                }
            }
        }
        let body = toks[j..].to_vec();
        if body.first().is_some_and(|t| t.tok == Tok::Hash && toks.get(j + 1).is_some_and(|n| n.tok == Tok::Hash)) {
            return Err(self.sources.error(body[0].span, "`##` cannot start a macro's replacement list"));
        }
        let n = body.len();
        if n >= 2 && body[n - 1].tok == Tok::Hash && body[n - 2].tok == Tok::Hash {
            return Err(self.sources.error(body[n - 1].span, "`##` cannot end a macro's replacement list"));
        }
        Ok(Macro { params: Some(params), body })
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
            toks.push(args[i].clone());
            i += 1;
        }
        let pre = std::mem::take(&mut toks);
        self.expand_list(&pre, &mut Vec::new(), &mut toks, 0)?;
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

/// The source spelling of a token (for `##` and `#`).
fn spell(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => s.clone(),
        Tok::Int(v) => v.to_string(),
        Tok::Float(v) => format!("{v:?}"),
        Tok::Char(c) => format!("'{}'", char::from_u32(*c).unwrap_or('?').escape_default()),
        Tok::WChar(c) => format!("L'{}'", char::from_u32(*c).unwrap_or('?').escape_default()),
        Tok::Str(s) => format!("\"{}\"", s.escape_default()),
        Tok::WStr(s) => format!("L\"{}\"", s.escape_default()),
        Tok::Punct(p) => (*p).to_string(),
        Tok::Hash => "#".to_string(),
    }
}

/// The text `#arg` turns into: the tokens spelled with one space where the source had white space.
fn spell_tokens(toks: &[Token]) -> String {
    let mut s = String::new();
    let mut end: Option<(u32, u32)> = None;
    for t in toks {
        let text = spell(&t.tok);
        if let Some((line, col)) = end {
            if t.span.line != line || t.span.col != col {
                s.push(' ');
            }
        }
        end = Some((t.span.line, t.span.col + text.chars().count() as u32));
        s.push_str(&text);
    }
    s
}
