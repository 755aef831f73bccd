//! A small element tree built with quick-xml, with line/column positions so
//! that warnings and errors can name the place in the file.

use super::QosError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;

/// A 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One attribute.
#[derive(Clone, Debug)]
pub(crate) struct Attr {
    pub name: String,
    pub value: String,
    pub pos: Pos,
}

/// One element: local name, attributes, text content and children.
#[derive(Clone, Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<Attr>,
    /// The concatenated character data directly inside the element.
    pub text: String,
    /// Where the first non-blank character of `text` is (else the element's position).
    pub text_pos: Pos,
    pub children: Vec<Element>,
    pub pos: Pos,
}

impl Element {
    /// The trimmed text content.
    pub fn value(&self) -> &str {
        self.text.trim()
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Maps byte offsets to line/column.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.char_indices().filter(|&(_, c)| c == '\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        Pos { line, col }
    }
}

fn local(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn element(file: &str, idx: &LineIndex<'_>, start: &BytesStart<'_>, offset: usize) -> Result<Element, QosError> {
    let pos = idx.pos(offset);
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| QosError::Xml {
            file: file.to_string(),
            line: pos.line,
            col: pos.col,
            message: e.to_string(),
        })?;
        let value = a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| QosError::Xml {
            file: file.to_string(),
            line: pos.line,
            col: pos.col,
            message: e.to_string(),
        })?;
        let key = a.key.local_name();
        let name = local(key.as_ref());
        // Attribute positions: find the attribute name inside the start tag.
        let raw = String::from_utf8_lossy(start.attributes_raw()).into_owned();
        let tag_name_len = start.name().as_ref().len();
        let apos = raw
            .find(&format!("{}=", String::from_utf8_lossy(a.key.as_ref())))
            .map_or(pos, |i| idx.pos(offset + 1 + tag_name_len + i));
        // Skip namespace declarations.
        if a.key.as_ref().starts_with(b"xmlns") {
            continue;
        }
        attrs.push(Attr { name, value: value.into_owned(), pos: apos });
    }
    Ok(Element { name: local(start.local_name().as_ref()), attrs, text_pos: pos, pos, ..Default::default() })
}

fn append_text(el: &mut Element, text: &str, offset: usize, idx: &LineIndex<'_>) {
    if el.text.trim().is_empty() {
        if let Some(i) = text.find(|c: char| !c.is_whitespace()) {
            el.text_pos = idx.pos(offset + i);
        }
    }
    el.text.push_str(text);
}

/// Parses a whole document into its root element.
pub(crate) fn parse(file: &str, text: &str) -> Result<Element, QosError> {
    let idx = LineIndex::new(text);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let xml_err = |offset: u64, message: String| {
        let p = idx.pos(usize::try_from(offset).unwrap_or(usize::MAX));
        QosError::Xml { file: file.to_string(), line: p.line, col: p.col, message }
    };
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = reader.read_event().map_err(|e| xml_err(reader.error_position(), e.to_string()))?;
        match ev {
            Event::Start(s) => {
                let el = element(file, &idx, &s, before)?;
                stack.push(el);
            }
            Event::Empty(s) => {
                let el = element(file, &idx, &s, before)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(xml_err(before as u64, "more than one root element".into())),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(xml_err(before as u64, "unexpected end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(xml_err(before as u64, "more than one root element".into())),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| xml_err(before as u64, e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => append_text(el, &s, before, &idx),
                    None if s.trim().is_empty() => {}
                    None => return Err(xml_err(before as u64, "text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| xml_err(before as u64, e.to_string()))?;
                if let Some(el) = stack.last_mut() {
                    append_text(el, &s, before + "<![CDATA[".len(), &idx);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match r.decode().map_err(|e| xml_err(before as u64, e.to_string()))?.as_ref() {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "apos" => Some('\''),
                        "quot" => Some('"'),
                        _ => None,
                    },
                    Err(e) => return Err(xml_err(before as u64, e.to_string())),
                };
                let Some(ch) = ch else {
                    return Err(xml_err(before as u64, "unknown entity reference".into()));
                };
                if let Some(el) = stack.last_mut() {
                    append_text(el, ch.encode_utf8(&mut [0u8; 4]), before, &idx);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(QosError::Xml {
            file: file.to_string(),
            line: open.pos.line,
            col: open.pos.col,
            message: format!("element <{}> is not closed", open.name),
        });
    }
    root.ok_or_else(|| xml_err(0, "no root element".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let doc = "<a>\n  <b x=\"1\">  hi &amp; <![CDATA[yo]]></b>\n  <c/>\n</a>";
        let root = parse("t.xml", doc).unwrap();
        assert_eq!(root.pos, Pos { line: 1, col: 1 });
        let b = &root.children[0];
        assert_eq!(b.pos, Pos { line: 2, col: 3 });
        assert_eq!(b.value(), "hi & yo");
        assert_eq!(b.text_pos, Pos { line: 2, col: 14 });
        assert_eq!(b.attr("x").unwrap().pos, Pos { line: 2, col: 6 });
        assert_eq!(root.children[1].pos, Pos { line: 3, col: 3 });
    }

    #[test]
    fn malformed() {
        let e = parse("t.xml", "<a>\n<b></c></a>").unwrap_err();
        assert!(e.to_string().starts_with("t.xml:2:"), "{e}");
    }
}
