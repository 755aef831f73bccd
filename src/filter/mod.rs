//! Content-filter expressions in the DDS SQL filter grammar (DDS 1.4, Annex B).
//!
//! ```
//! use starling::filter::Filter;
//! use serde_json::json;
//!
//! let mut f = Filter::with_parameters("x > %0 AND color LIKE 'RE%'", &["100"]).unwrap();
//! assert!(f.matches(&json!({"color": "RED", "x": 150})));
//! f.set_parameters(&["200"]).unwrap();
//! assert!(!f.matches(&json!({"color": "RED", "x": 150})));
//! ```
//!
//! Supported: comparisons `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=` between field
//! paths (`a.b.c`, `a[2]`), literals and `%n` parameters; `AND`, `OR`, `NOT`
//! (precedence NOT > AND > OR) and parentheses; `BETWEEN`/`NOT BETWEEN`;
//! `LIKE`/`NOT LIKE` with `%` and `_`; string literals in single quotes;
//! decimal, hex and floating-point numbers; `TRUE`/`FALSE`; enum literals by
//! name. Keywords are case-insensitive.
//!
//! Samples are seen through [`FilterValue`]: JSON values (`serde_json::Value`) and dynamic-type samples
//! ([`DynamicSample`], what [`ContentFilteredTopic`](crate::dds::ContentFilteredTopic) readers and writers use)
//! implement it.
//!
//! Evaluation uses three-valued logic: a comparison involving a field the
//! sample does not have is "unknown", and a sample matches only when the whole
//! expression is true.

mod dynamic;
mod parser;

pub use dynamic::{merge_projections, projection, DynamicSample};

use parser::{CmpOp, Expr, Operand};
use std::cmp::Ordering;

/// Errors from parsing or evaluating a filter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The expression does not parse; `col` is the 1-based character position.
    #[error("col {col}: {message}")]
    Parse {
        /// 1-based character position.
        col: usize,
        /// What was expected.
        message: String,
    },
    /// The expression uses `%index` but fewer parameters are set.
    #[error("the expression uses %{index} but {given} parameter(s) are set")]
    MissingParameter {
        /// The parameter number.
        index: usize,
        /// How many parameters are set.
        given: usize,
    },
    /// Two values that cannot be compared with this operator.
    #[error("cannot compare {left} {op} {right}")]
    TypeMismatch {
        /// The left value, with its type.
        left: String,
        /// The operator.
        op: String,
        /// The right value, with its type.
        right: String,
    },
}

/// One step of a field path: a member name or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// `.name`
    Member(String),
    /// `[n]`
    Index(usize),
}

/// A scalar value of a sample field, a literal or a parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    UInt(u64),
    /// Floating point.
    Float(f64),
    /// String or char.
    String(String),
    /// Boolean.
    Bool(bool),
    /// Enumerator: its name and its value.
    Enum(String, i64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(i) => write!(f, "integer {i}"),
            Value::UInt(u) => write!(f, "integer {u}"),
            Value::Float(x) => write!(f, "float {x}"),
            Value::String(s) => write!(f, "string '{s}'"),
            Value::Bool(b) => write!(f, "boolean {}", if *b { "TRUE" } else { "FALSE" }),
            Value::Enum(n, v) => write!(f, "enum {n} ({v})"),
        }
    }
}

/// Access to the fields of a sample, by path.
pub trait FilterValue {
    /// The scalar at `path`, or `None` when there is none (or it is not a scalar).
    fn field(&self, path: &[PathSegment]) -> Option<Value>;
}

impl<T: FilterValue + ?Sized> FilterValue for &T {
    fn field(&self, path: &[PathSegment]) -> Option<Value> {
        (**self).field(path)
    }
}

impl FilterValue for serde_json::Value {
    fn field(&self, path: &[PathSegment]) -> Option<Value> {
        let mut v = self;
        for seg in path {
            v = match seg {
                PathSegment::Member(m) => v.as_object()?.get(m)?,
                PathSegment::Index(i) => v.as_array()?.get(*i)?,
            };
        }
        match v {
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            serde_json::Value::String(s) => Some(Value::String(s.clone())),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(Value::Int(i))
                } else if let Some(u) = n.as_u64() {
                    Some(Value::UInt(u))
                } else {
                    n.as_f64().map(Value::Float)
                }
            }
            _ => None,
        }
    }
}

/// A compiled content filter with its parameters.
#[derive(Clone, Debug)]
pub struct Filter {
    expression: String,
    expr: Expr,
    max_param: Option<usize>,
    parameters: Vec<String>,
    values: Vec<Value>,
}

/// An operand after lookup.
enum Resolved {
    Value(Value),
    /// A bare name that names no field: an enum literal.
    Symbol(String),
    Missing,
}

impl Resolved {
    fn describe(&self) -> String {
        match self {
            Resolved::Value(v) => v.to_string(),
            Resolved::Symbol(s) => format!("name {s}"),
            Resolved::Missing => "missing field".into(),
        }
    }
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Like => "LIKE",
        CmpOp::NotLike => "NOT LIKE",
    }
}

/// SQL LIKE: `%` any sequence, `_` one character.
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

fn num_order(a: &Value, b: &Value) -> Option<Option<Ordering>> {
    use Value::*;
    let as_i128 = |v: &Value| match v {
        Int(i) => Some(i128::from(*i)),
        UInt(u) => Some(i128::from(*u)),
        Enum(_, i) => Some(i128::from(*i)),
        _ => None,
    };
    let as_f64 = |v: &Value| match v {
        Int(i) => Some(*i as f64),
        UInt(u) => Some(*u as f64),
        Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (Float(_), _) | (_, Float(_)) => Some(as_f64(a)?.partial_cmp(&as_f64(b)?)),
        _ => Some(Some(as_i128(a)?.cmp(&as_i128(b)?))),
    }
}

impl Filter {
    /// Parses an expression without parameters (`%n` must be set with
    /// [`set_parameters`](Self::set_parameters) before evaluating).
    pub fn new(expression: &str) -> Result<Filter, FilterError> {
        let (expr, max_param) = parser::parse(expression)?;
        Ok(Filter { expression: expression.to_string(), expr, max_param, parameters: Vec::new(), values: Vec::new() })
    }

    /// Parses an expression and sets its parameters.
    pub fn with_parameters<S: AsRef<str>>(expression: &str, parameters: &[S]) -> Result<Filter, FilterError> {
        let mut f = Filter::new(expression)?;
        f.set_parameters(parameters)?;
        Ok(f)
    }

    /// Replaces the parameters (`%0` is the first). Each is read as a literal:
    /// a number, a quoted string, TRUE/FALSE; other text is a string or enum
    /// name. Fails, changing nothing, when the expression uses more.
    pub fn set_parameters<S: AsRef<str>>(&mut self, parameters: &[S]) -> Result<(), FilterError> {
        if let Some(m) = self.max_param {
            if m >= parameters.len() {
                return Err(FilterError::MissingParameter { index: m, given: parameters.len() });
            }
        }
        self.parameters = parameters.iter().map(|p| p.as_ref().to_string()).collect();
        self.values = self.parameters.iter().map(|p| parser::parse_parameter(p)).collect();
        Ok(())
    }

    /// The parameters as given.
    pub fn parameters(&self) -> &[String] {
        &self.parameters
    }

    /// The expression text.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The member paths the expression names (a bare name may also be an enum literal).
    pub fn field_paths(&self) -> Vec<&[PathSegment]> {
        fn walk<'e>(e: &'e Expr, out: &mut Vec<&'e [PathSegment]>) {
            let mut operand = |o: &'e Operand| {
                if let Operand::Field(p) = o {
                    out.push(p.as_slice());
                }
            };
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Not(a) => walk(a, out),
                Expr::Cmp(l, _, r) => {
                    operand(l);
                    operand(r);
                }
                Expr::Between { value, low, high, .. } => {
                    operand(value);
                    operand(low);
                    operand(high);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out
    }

    /// True when the sample passes; evaluation errors (type mismatches) count as not passing.
    pub fn matches(&self, sample: &dyn FilterValue) -> bool {
        self.evaluate(sample).unwrap_or(false)
    }

    /// Evaluates the filter on a sample.
    pub fn evaluate(&self, sample: &dyn FilterValue) -> Result<bool, FilterError> {
        Ok(self.eval(&self.expr, sample)? == Some(true))
    }

    fn eval(&self, e: &Expr, s: &dyn FilterValue) -> Result<Option<bool>, FilterError> {
        Ok(match e {
            Expr::And(a, b) => match self.eval(a, s)? {
                Some(false) => Some(false),
                x => match (x, self.eval(b, s)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
            },
            Expr::Or(a, b) => match self.eval(a, s)? {
                Some(true) => Some(true),
                x => match (x, self.eval(b, s)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
            },
            Expr::Not(a) => self.eval(a, s)?.map(|b| !b),
            Expr::Cmp(l, op, r) => self.compare(&self.operand(l, s)?, *op, &self.operand(r, s)?)?,
            Expr::Between { value, low, high, negated } => {
                let v = self.operand(value, s)?;
                let lo = self.compare(&v, CmpOp::Ge, &self.operand(low, s)?)?;
                let hi = self.compare(&v, CmpOp::Le, &self.operand(high, s)?)?;
                let inside = match (lo, hi) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                if *negated {
                    inside.map(|b| !b)
                } else {
                    inside
                }
            }
        })
    }

    fn operand(&self, o: &Operand, s: &dyn FilterValue) -> Result<Resolved, FilterError> {
        Ok(match o {
            Operand::Literal(v) => Resolved::Value(v.clone()),
            Operand::Param(n) => match self.values.get(*n) {
                Some(v) => Resolved::Value(v.clone()),
                None => return Err(FilterError::MissingParameter { index: *n, given: self.values.len() }),
            },
            Operand::Field(path) => match s.field(path) {
                Some(v) => Resolved::Value(v),
                None => match path.as_slice() {
                    [PathSegment::Member(name)] => Resolved::Symbol(name.clone()),
                    _ => Resolved::Missing,
                },
            },
        })
    }

    fn compare(&self, a: &Resolved, op: CmpOp, b: &Resolved) -> Result<Option<bool>, FilterError> {
        let mismatch = || FilterError::TypeMismatch { left: a.describe(), op: op_text(op).into(), right: b.describe() };
        let text = |r: &Resolved| -> Option<String> {
            match r {
                Resolved::Value(Value::String(s)) | Resolved::Value(Value::Enum(s, _)) | Resolved::Symbol(s) => {
                    Some(s.clone())
                }
                _ => None,
            }
        };
        if matches!(op, CmpOp::Like | CmpOp::NotLike) {
            if matches!(a, Resolved::Missing) || matches!(b, Resolved::Missing) {
                return Ok(None);
            }
            let (Some(t), Some(p)) = (text(a), text(b)) else { return Err(mismatch()) };
            return Ok(Some(like(&p, &t) == (op == CmpOp::Like)));
        }
        let ord: Option<Ordering> = match (a, b) {
            (Resolved::Missing, _) | (_, Resolved::Missing) => return Ok(None),
            (Resolved::Symbol(_), Resolved::Symbol(_)) => return Ok(None),
            (Resolved::Value(x), Resolved::Value(y)) => match (x, y) {
                (Value::String(p), Value::String(q)) => Some(p.cmp(q)),
                (Value::Bool(p), Value::Bool(q)) => Some(p.cmp(q)),
                (Value::Enum(p, _), Value::String(q)) | (Value::String(q), Value::Enum(p, _))
                    if matches!(op, CmpOp::Eq | CmpOp::Ne) =>
                {
                    return Ok(Some((p == q) == (op == CmpOp::Eq)))
                }
                _ => num_order(x, y).ok_or_else(mismatch)?,
            },
            // A bare name against a value: an enum literal (by name) or a string.
            (Resolved::Symbol(sym), Resolved::Value(v)) | (Resolved::Value(v), Resolved::Symbol(sym)) => match v {
                Value::Enum(name, _) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                    return Ok(Some((name == sym) == (op == CmpOp::Eq)))
                }
                Value::Enum(..) => return Err(mismatch()),
                Value::String(s) => {
                    let o = s.cmp(sym);
                    Some(if matches!(a, Resolved::Symbol(_)) { o.reverse() } else { o })
                }
                // Most likely a field this sample does not have.
                _ => return Ok(None),
            },
        };
        let Some(o) = ord else { return Ok(Some(op == CmpOp::Ne)) };
        Ok(Some(match op {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
            CmpOp::Like | CmpOp::NotLike => false,
        }))
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::new(s)
    }
}

#[cfg(test)]
mod tests;
