//! Unicode whitespace inside template tags.
//!
//! Python's Jinja2 treats any Unicode whitespace between the tokens of a tag as
//! whitespace (its lexer's `\\s` is Unicode-aware); minijinja only skips ASCII
//! whitespace. Templates typed in a rich-text editor carry U+00A0 NO-BREAK SPACE
//! inside `{{ }}`, so before parsing, non-ASCII whitespace inside `{{ }}` and
//! `{% %}` becomes a plain space. String literals and the text outside tags are
//! left as they are.

use std::borrow::Cow;

/// `template` with every non-ASCII whitespace character inside a tag (outside
/// string literals) replaced by a space; borrowed when there is none.
pub(crate) fn ascii_whitespace_in_tags(template: &str) -> Cow<'_, str> {
    if template.chars().all(|c| c.is_ascii() || !c.is_whitespace()) {
        return Cow::Borrowed(template);
    }
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    // The closing delimiter of the tag being read, and the quote of the string
    // literal being read inside it.
    let mut closing: Option<char> = None;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (closing, quote) {
            (None, _) => {
                if c == '{'
                    && let Some(&next) = chars.peek()
                    && (next == '{' || next == '%')
                {
                    closing = Some(if next == '{' { '}' } else { '%' });
                    out.push(c);
                    out.push(next);
                    chars.next();
                    continue;
                }
                out.push(c);
            }
            (Some(_), Some(open)) => {
                out.push(c);
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                } else if c == open {
                    quote = None;
                }
            }
            (Some(close), None) => {
                if c == close && chars.peek() == Some(&'}') {
                    closing = None;
                    out.push(c);
                } else if c == '\'' || c == '"' {
                    quote = Some(c);
                    out.push(c);
                } else if c.is_whitespace() && !c.is_ascii() {
                    out.push(' ');
                } else {
                    out.push(c);
                }
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::ascii_whitespace_in_tags;

    #[test]
    fn no_break_spaces_inside_tags_become_spaces() {
        assert_eq!(
            ascii_whitespace_in_tags("{{\u{a0}node.1.short_id\u{a0}}}"),
            "{{ node.1.short_id }}"
        );
        assert_eq!(
            ascii_whitespace_in_tags("{%\u{2003}if x\u{202f}%}y{%\u{a0}endif %}"),
            "{% if x %}y{% endif %}"
        );
    }

    #[test]
    fn text_and_string_literals_keep_theirs() {
        let text = "a\u{a0}b {{ 'c\u{a0}d' ~\u{a0}\"e\\\"\u{a0}\" }}\u{a0}f";
        assert_eq!(
            ascii_whitespace_in_tags(text),
            "a\u{a0}b {{ 'c\u{a0}d' ~ \"e\\\"\u{a0}\" }}\u{a0}f"
        );
        assert!(matches!(
            ascii_whitespace_in_tags("{{ x }}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
