//! Starling's IDL compiler: OMG IDL 4.2 (the subset DDS-XTypes 1.3 uses) to Rust types implementing
//! [`starling_proto::cdr::TopicType`](https://docs.rs/starling-proto).
//!
//! Placeholder docs; see the end of this file.

pub mod ast;
pub mod codegen;
pub mod diag;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod pp;

use std::path::{Path, PathBuf};

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
