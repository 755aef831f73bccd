//! Source locations and diagnostics.

use std::fmt;
use std::path::PathBuf;

/// A position in a source file: file index (into the compiler's file table), 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// Index of the file in the [`SourceMap`].
    pub file: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The input is rejected.
    Error,
    /// The input is accepted; something was ignored.
    Warning,
}

/// A located message, rendered as `file:line:col: error: message` followed by the source line and a caret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The message, e.g. "expected `;`, found `}`".
    pub message: String,
    /// The file (as given or as found on the include path).
    pub path: PathBuf,
    /// 1-based line (0 when the diagnostic has no location).
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// The text of the source line, for the caret display.
    pub source_line: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            return write!(f, "{}: {sev}: {}", self.path.display(), self.message);
        }
        write!(f, "{}:{}:{}: {sev}: {}", self.path.display(), self.line, self.col, self.message)?;
        if !self.source_line.is_empty() {
            let pad: String = self
                .source_line
                .chars()
                .take(self.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{}\n{pad}^", self.source_line)?;
        }
        Ok(())
    }
}

/// The files read during one compilation.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<(PathBuf, String)>,
}

impl SourceMap {
    /// Adds a file and returns its index.
    pub fn add(&mut self, path: PathBuf, text: String) -> u32 {
        self.files.push((path, text));
        (self.files.len() - 1) as u32
    }

    /// The text of file `i`.
    pub fn text(&self, i: u32) -> &str {
        self.files.get(i as usize).map_or("", |f| f.1.as_str())
    }

    /// The path of file `i`.
    pub fn path(&self, i: u32) -> PathBuf {
        self.files.get(i as usize).map(|f| f.0.clone()).unwrap_or_default()
    }

    /// Builds a diagnostic located at `span`.
    pub fn diag(&self, severity: Severity, span: Span, message: impl Into<String>) -> Diagnostic {
        let source_line = self
            .text(span.file)
            .lines()
            .nth(span.line.saturating_sub(1) as usize)
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        Diagnostic {
            severity,
            message: message.into(),
            path: self.path(span.file),
            line: span.line,
            col: span.col,
            source_line,
        }
    }

    /// An error at `span`.
    pub fn error(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.diag(Severity::Error, span, message)
    }
}
