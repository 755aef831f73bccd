//! Topic name and topic filter syntax (MQTT §4.7).

/// Why a topic name or filter is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Zero length.
    #[error("empty topic")]
    Empty,
    /// `+` or `#` in a topic name.
    #[error("wildcard in a topic name")]
    WildcardInName,
    /// `#` not last, or a wildcard sharing a level with other characters.
    #[error("misplaced wildcard in a topic filter")]
    BadWildcard,
    /// `$share/` with an empty or invalid share name, or no filter.
    #[error("invalid shared subscription")]
    BadShare,
}

/// Checks a PUBLISH topic name: non-empty, no wildcards.
pub fn validate_topic_name(t: &str) -> Result<(), TopicError> {
    if t.is_empty() {
        return Err(TopicError::Empty);
    }
    if t.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter: `#` only as the whole last level, `+` only as a whole level; a
/// `$share/{name}/{filter}` needs a non-empty name without wildcards and a valid filter.
pub fn validate_topic_filter(f: &str) -> Result<(), TopicError> {
    if f.is_empty() {
        return Err(TopicError::Empty);
    }
    if let Some(rest) = f.strip_prefix("$share/") {
        let (name, filter) = rest.split_once('/').ok_or(TopicError::BadShare)?;
        if name.is_empty() || name.contains(['+', '#']) || filter.is_empty() {
            return Err(TopicError::BadShare);
        }
        return validate_plain_filter(filter);
    }
    validate_plain_filter(f)
}

fn validate_plain_filter(f: &str) -> Result<(), TopicError> {
    let mut levels = f.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        match level {
            "#" if last => {}
            "+" => {}
            l if l.contains(['+', '#']) => return Err(TopicError::BadWildcard),
            _ => {}
        }
        if level == "#" && !last {
            return Err(TopicError::BadWildcard);
        }
    }
    Ok(())
}

/// Splits `$share/{group}/{filter}` into `(Some(group), filter)`; other filters are `(None, f)`.
#[must_use]
pub fn split_shared(f: &str) -> (Option<&str>, &str) {
    if let Some(rest) = f.strip_prefix("$share/") {
        if let Some((g, filter)) = rest.split_once('/') {
            return (Some(g), filter);
        }
    }
    (None, f)
}

/// Whether topic name `topic` matches `filter` (no `$share/` prefix). Wildcards at the first
/// level do not match topics that start with `$`.
#[must_use]
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
