//! Starling's IDL compiler: OMG IDL 4.2 (the subset DDS-XTypes 1.3 uses) to Rust types that implement
//! `starling_proto::cdr::TopicType` and `starling_proto::cdr::CdrSerialize`.
//!
//! # Use from `build.rs`
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     starling_idl::Builder::new()
//!         .file("idl/shapes.idl")
//!         .include_dir("idl")
//!         .out_dir(std::env::var("OUT_DIR")?)
//!         .compile()?;
//!     Ok(())
//! }
//! ```
//!
//! Each IDL file becomes `OUT_DIR/<stem>.rs`; include it in a module of your crate:
//!
//! ```ignore
//! pub mod shapes {
//!     include!(concat!(env!("OUT_DIR"), "/shapes.rs"));
//! }
//! ```
//!
//! Every output file is self-contained: it also holds the types of the files the IDL file `#include`s, so
//! include each output file in its own module. The generated code refers to the runtime as `::starling_proto`
//! (the crate must depend on `starling-proto`); [`Builder::runtime_crate`] changes that path.
//!
//! # Checking only
//!
//! [`check`] preprocesses, parses and resolves files and returns the [`Model`] or the [`Diagnostic`]s, each
//! rendered as `file:line:col: error: message` with the source line and a caret.
//!
//! # Language support
//!
//! Preprocessor: `#include "x"` / `<x>` (the including file's directory first for `"x"`, then the include
//! directories), object-like and function-like `#define` (`#` stringizing, `##` pasting, `...` with
//! `__VA_ARGS__`; directives continue over backslash-newlines), `#undef`, `#ifdef`/`#ifndef`/`#if`/`#elif`/`#else`/`#endif` (with
//! `defined`), `#pragma once`; other pragmas are ignored. Include cycles are errors.
//!
//! Declarations: modules (nested, reopened), structs (single inheritance), unions (integer, char, boolean and
//! enum discriminators; `default`; several labels per branch), enums (`@value`), bitmasks (`@bit_bound`,
//! `@position`), bitsets (`bitfield<N[, type]>`, inheritance), typedefs (including arrays), constants with
//! full integer/float expressions, sequences, arrays, bounded and unbounded strings and wide strings, maps,
//! every primitive type, `fixed<digits, scale>` (as `starling_proto::cdr::Fixed`, packed BCD on the wire),
//! forward declarations. Valuetypes map as XTypes maps them: a struct whose members are the state members
//! (`public` and `private` alike) and whose base is the concrete base valuetype; factories are skipped.
//! Interfaces, exceptions, `native` and `@annotation` declarations are parsed and skipped. Identifiers that
//! differ only in case collide within a scope.
//!
//! Refused, each with a located error that says why: `any` (XTypes defines no TypeKind and no XCDR encoding
//! for it), `Object`/`ValueBase` (object references), fixed-point constants, abstract and custom valuetypes,
//! value boxes, `truncatable`, `supports`, several bases, and operations, attributes or nested declarations
//! inside a valuetype.
//!
//! Annotations: `@key`, `@id`, `@autoid(SEQUENTIAL|HASH)`, `@hashid`, `@optional`, `@external`, `@final`,
//! `@appendable`, `@mutable`, `@extensibility(…)`, `@default`, `@range`/`@min`/`@max` (checked when writing),
//! `@must_understand`, `@nested`, `@topic`, `@unit`, `@bit_bound`, `@position`, `@value`, `@verbatim`,
//! `@default_literal`. Unknown annotations produce a warning and are ignored. Types without an extensibility
//! annotation are `@final`, as in Cyclone's idlc ([`Options::default_extensibility`] changes that).
//!
//! See [`codegen`] for the IDL → Rust type mapping.
//!
//! # Generated code
//!
//! Every struct, union, enum, bitmask and bitset implements `starling_proto::cdr::CdrSerialize`; every struct
//! also implements `TopicType` (type name = the scoped IDL name, `Module::Type`) and, through
//! `TopicType::dynamic_type`, describes itself as an XTypes `DynamicType` (so endpoints announce
//! TypeInformation). Encoding choices, all shared with Starling's dynamic codec (`starling_proto::xtypes`):
//!
//! - final: members in order; appendable: XCDR2 DHEADER; mutable: XCDR2 EMHEADERs (length code chosen by the
//!   member type) or XCDR1 PL_CDR with PID_EXTENDED headers, ended by PID_LIST_END.
//! - `@optional` in final/appendable types: XCDR2 boolean flag; XCDR1 parameter header (empty when absent).
//! - XCDR2 collections of non-primitive elements get a DHEADER; enums are 4 bytes in XCDR1 and sized by
//!   `@bit_bound` in XCDR2; `wstring` is a byte count plus UTF-16 code units; `long double` is 16 bytes.
//! - Bounds (`string<N>`, `sequence<T, N>`, `map<K, V, N>`) are checked on write and read
//!   (`CdrError::BoundExceeded`); `@range`/`@min`/`@max` on write (`CdrError::Invalid`).
//! - Key hash input: key members (nested keys recursively; a nested type without keys contributes all its
//!   members), plain, in declaration order. A union used as a key makes the key unbounded (MD5).
//! - Member ids: sequential from 0 (continuing after the base struct's), `@id`, `@hashid`, `@autoid(HASH)`;
//!   union branches count from 1 (0 is the discriminator's id in mutable unions).
//! - Bitsets are the smallest unsigned integer (8, 16, 32 or 64 bits) holding all their bits, anonymous
//!   padding included; as a member of a mutable type their EMHEADER length code is 4 (NEXTINT), and
//!   collections of bitsets carry a DHEADER in XCDR2 (a bitset is not a primitive type).
//! - `fixed<d, s>`: `d / 2 + 1` octets of packed BCD, no alignment, sign half-octet `0xC`/`0xD` (CORBA CDR);
//!   EMHEADER length code 4 and a DHEADER on collections of them in XCDR2. XTypes has no TypeKind for it, so
//!   a type holding one has no TypeObject (it announces no TypeInformation; peers match it by name).
//! - Typedefs are expanded (dynamic types carry no aliases); recursive types have no dynamic type.

#![warn(missing_docs)]

pub mod ast;
pub mod codegen;
pub mod diag;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod pp;

use std::path::{Path, PathBuf};

pub use codegen::GenOptions;
pub use diag::{Diagnostic, Severity, Span};
pub use model::{Ext, Model, Options};

/// Preprocesses, parses and resolves `files` (in order, as one specification).
pub fn check_with(files: &[PathBuf], include_dirs: &[PathBuf], opts: Options) -> Result<Model, Vec<Diagnostic>> {
    let mut sources = diag::SourceMap::default();
    let mut toks = Vec::new();
    {
        let mut pp = pp::Preprocessor::new(&mut sources, include_dirs);
        for f in files {
            pp.file(f, None, &mut toks).map_err(|e| vec![e])?;
        }
    }
    let defs = parser::Parser::new(toks).specification().map_err(|(sp, m)| vec![sources.error(sp, m)])?;
    model::resolve(&sources, &defs, opts)
}

/// Checks IDL files: preprocess, parse and resolve. Returns the model (with warnings) or the errors.
pub fn check<P: AsRef<Path>, Q: AsRef<Path>>(files: &[P], include_dirs: &[Q]) -> Result<Model, Vec<Diagnostic>> {
    let files: Vec<PathBuf> = files.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let dirs: Vec<PathBuf> = include_dirs.iter().map(|p| p.as_ref().to_path_buf()).collect();
    check_with(&files, &dirs, Options::default())
}

/// Compiles IDL source text (no includes resolved other than relative to the current directory) to formatted
/// Rust. Handy for tests and tools.
pub fn compile_str(name: &str, idl: &str, opts: Options, gen: &GenOptions) -> Result<String, Error> {
    let mut sources = diag::SourceMap::default();
    let file = sources.add(PathBuf::from(name), idl.to_string());
    let toks = lexer::lex(sources.text(file), file).map_err(|(sp, m)| Error::Idl(vec![sources.error(sp, m)]))?;
    let defs = parser::Parser::new(toks).specification().map_err(|(sp, m)| Error::Idl(vec![sources.error(sp, m)]))?;
    let model = model::resolve(&sources, &defs, opts).map_err(Error::Idl)?;
    Ok(codegen::generate(&model, gen)?)
}

/// Errors of [`Builder::compile`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The IDL was rejected; every diagnostic is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Idl(Vec<Diagnostic>),
    /// Code generation failed.
    #[error(transparent)]
    Gen(#[from] codegen::GenError),
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No output directory was set.
    #[error("no output directory set (Builder::out_dir)")]
    NoOutDir,
}

/// Compiles IDL files to Rust source files; see the crate docs.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    include_dirs: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    opts: Options,
    gen: GenOptions,
    emit_rerun: bool,
}

impl Builder {
    /// A builder with no files.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Adds an IDL file; each produces `<out_dir>/<file stem>.rs`.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Adds a directory to the include search path.
    pub fn include_dir(mut self, path: impl AsRef<Path>) -> Self {
        self.include_dirs.push(path.as_ref().to_path_buf());
        self
    }

    /// Sets the output directory (usually `OUT_DIR`).
    pub fn out_dir(mut self, path: impl AsRef<Path>) -> Self {
        self.out_dir = Some(path.as_ref().to_path_buf());
        self
    }

    /// Extensibility of types without an annotation (default `@final`).
    pub fn default_extensibility(mut self, ext: Ext) -> Self {
        self.opts.default_extensibility = ext;
        self
    }

    /// Path of the starling-proto crate in generated code (default `::starling_proto`).
    pub fn runtime_crate(mut self, path: impl Into<String>) -> Self {
        self.gen.runtime = path.into();
        self
    }

    /// Test support: see [`GenOptions::test_support`].
    pub fn test_support(mut self, module_path: impl Into<String>) -> Self {
        self.gen.test_support = Some(module_path.into());
        self
    }

    /// Prints `cargo:rerun-if-changed` lines for every input (for build scripts).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Self {
        self.emit_rerun = yes;
        self
    }

    /// Compiles every file; returns the paths written. Warnings are printed to stderr (as `cargo:warning`
    /// lines when [`emit_rerun_if_changed`](Self::emit_rerun_if_changed) is on).
    pub fn compile(self) -> Result<Vec<PathBuf>, Error> {
        let out_dir = self.out_dir.clone().ok_or(Error::NoOutDir)?;
        let mut written = Vec::new();
        for f in &self.files {
            if self.emit_rerun {
                println!("cargo:rerun-if-changed={}", f.display());
            }
            let model = check_with(std::slice::from_ref(f), &self.include_dirs, self.opts).map_err(Error::Idl)?;
            for w in &model.warnings {
                if self.emit_rerun {
                    println!("cargo:warning={}", w.to_string().lines().next().unwrap_or(""));
                } else {
                    eprintln!("{w}");
                }
            }
            let code = codegen::generate(&model, &self.gen)?;
            let stem = f.file_stem().map_or_else(|| "out".to_string(), |s| s.to_string_lossy().into_owned());
            let path = out_dir.join(format!("{stem}.rs"));
            std::fs::write(&path, code).map_err(|source| Error::Io { path: path.clone(), source })?;
            written.push(path);
        }
        if self.emit_rerun {
            for d in &self.include_dirs {
                println!("cargo:rerun-if-changed={}", d.display());
            }
        }
        Ok(written)
    }
}
