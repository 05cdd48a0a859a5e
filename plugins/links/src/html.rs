//! A small, forgiving HTML scanner: finds the document title and the `href`
//! of every `<a>` element. It owns tokenising only (no URL logic) and never
//! fails: broken markup yields fewer results, not an error.
//!
//! What it understands: tag and attribute names in any case; attribute values
//! in double quotes, single quotes or unquoted; comments (`<!-- -->`) and the
//! contents of `<script>` and `<style>`, which are skipped; the character
//! references `&amp; &lt; &gt; &quot; &apos; &#39;` and numeric ones
//! (`&#NN;`, `&#xHH;`). Everything else is left as written.

/// What the scanner found in one document.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Text of the first `<title>`, with references decoded and whitespace
    /// trimmed and collapsed; `None` when absent or empty.
    pub title: Option<String>,
    /// `href` values of `<a>` elements in document order, decoded, as
    /// written otherwise (not yet resolved or filtered).
    pub hrefs: Vec<String>,
}

/// Scan `html` for the title and anchor hrefs.
pub fn scan(html: &str) -> Scan {
    let mut found = Scan::default();
    let mut position = 0;
    while let Some(offset) = html[position..].find('<') {
        let start = position + offset;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            position = find_after(html, start + 4, "-->");
            continue;
        }
        let Some(tag) = parse_tag(rest) else {
            position = start + 1;
            continue;
        };
        position = start + tag.length;
        if tag.closing {
            continue;
        }
        if tag.name.eq_ignore_ascii_case("a") {
            if let Some(href) = tag.attribute("href") {
                found.hrefs.push(decode_references(href));
            }
        } else if tag.name.eq_ignore_ascii_case("title") {
            let end = find_ignore_case(html, position, "</title").unwrap_or(html.len());
            if found.title.is_none() {
                let text = decode_references(&html[position..end]);
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                found.title = Some(text).filter(|text| !text.is_empty());
            }
            position = end;
        } else if tag.name.eq_ignore_ascii_case("script") || tag.name.eq_ignore_ascii_case("style")
        {
            let closing = format!("</{}", tag.name);
            position = find_ignore_case(html, position, &closing).unwrap_or(html.len());
        }
    }
    found
}

/// One start or end tag.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    /// Attributes as (name, raw value); a bare attribute has an empty value.
    attributes: Vec<(&'a str, &'a str)>,
    /// Bytes from `<` to just past `>` (or to the end of the input).
    length: usize,
}

impl Tag<'_> {
    /// The first attribute called `name` (any case), as written.
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(attribute, _)| attribute.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

/// Parse the tag that starts `input` (which starts with `<`); `None` if the
/// `<` does not open a tag (e.g. `a < b`, `<!DOCTYPE`).
fn parse_tag(input: &str) -> Option<Tag<'_>> {
    let bytes = input.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    if !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        i += 1;
    }
    let name = &input[name_start..i];
    let mut attributes = Vec::new();
    loop {
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
        {
            i += 1;
        }
        match bytes.get(i) {
            None => break,
            Some(b'>') => {
                i += 1;
                break;
            }
            Some(_) => {}
        }
        let attribute_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        let attribute = &input[attribute_start..i];
        if i == attribute_start {
            // A stray `=`: skip it so the loop always advances.
            i += 1;
            continue;
        }
        let mut j = i;
        while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if bytes.get(j) != Some(&b'=') {
            attributes.push((attribute, ""));
            continue;
        }
        j += 1;
        while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        let value = match bytes.get(j) {
            Some(&quote @ (b'"' | b'\'')) => {
                let value_start = j + 1;
                let value_end = input[value_start..]
                    .find(quote as char)
                    .map_or(input.len(), |offset| value_start + offset);
                i = (value_end + 1).min(input.len());
                &input[value_start..value_end]
            }
            _ => {
                let value_start = j;
                while bytes
                    .get(j)
                    .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>')
                {
                    j += 1;
                }
                i = j;
                &input[value_start..j]
            }
        };
        attributes.push((attribute, value));
    }
    Some(Tag {
        name,
        closing,
        attributes,
        length: i,
    })
}

/// Byte index of `needle` in `haystack[from..]` (ASCII case-insensitive).
fn find_ignore_case(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack.as_bytes()[from..]
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
        .map(|offset| from + offset)
}

/// Index just past `needle` in `haystack[from..]`, or the end of `haystack`.
fn find_after(haystack: &str, from: usize, needle: &str) -> usize {
    haystack
        .get(from..)
        .and_then(|rest| rest.find(needle))
        .map_or(haystack.len(), |offset| from + offset + needle.len())
}

/// Decode the character references listed in the module docs.
fn decode_references(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        decoded.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let reference = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| decode_reference(&rest[1..1 + end]).map(|c| (c, end + 2)));
        match reference {
            Some((character, length)) => {
                decoded.push(character);
                rest = &rest[length..];
            }
            None => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// The character for a reference name without `&` and `;`.
fn decode_reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hrefs(html: &str) -> Vec<String> {
        scan(html).hrefs
    }

    #[test]
    fn quoting_styles_and_case() {
        assert_eq!(
            hrefs(
                r#"<a href="/a">x</a><A HREF='/b'>y</A><a class=x href=/c>z</a><a id=q Href = "/d" >"#
            ),
            ["/a", "/b", "/c", "/d"]
        );
    }

    #[test]
    fn quoted_values_may_hold_angle_brackets() {
        assert_eq!(
            hrefs(r#"<a title="a > b" href="/x?a=1&amp;b=2">"#),
            ["/x?a=1&b=2"]
        );
    }

    #[test]
    fn non_anchor_tags_and_anchors_without_href_are_ignored() {
        assert_eq!(
            hrefs(
                r#"<link href="/style.css"><abbr href="/no"><a name="top"><area href="/no"><a href="/yes">"#
            ),
            ["/yes"]
        );
    }

    #[test]
    fn comments_scripts_and_styles_are_skipped() {
        let html = r#"<!-- <a href="/c"> --><script>let s = '<a href="/s">';</script>
            <style>a::after { content: "<a href='/t'>" }</style><a href="/real">"#;
        assert_eq!(hrefs(html), ["/real"]);
    }

    #[test]
    fn title_is_decoded_trimmed_and_first_wins() {
        let found = scan(
            "<html><head><TITLE>\n  Fish &amp; Chips\t &#8212; menu </title><title>two</title>",
        );
        assert_eq!(found.title.as_deref(), Some("Fish & Chips \u{2014} menu"));
        assert_eq!(scan("<title>   </title>").title, None);
        assert_eq!(scan("<p>no title</p>").title, None);
    }

    #[test]
    fn broken_markup_does_not_panic() {
        for html in [
            "<",
            "<a",
            "<a href",
            "<a href=",
            "<a href=\"/x",
            "<!--",
            "<title>x",
            "<a =>",
            "a < b <3 <<a href=/ok>",
        ] {
            let _ = scan(html);
        }
        assert_eq!(hrefs("a < b <3 <<a href=/ok>"), ["/ok"]);
        assert_eq!(hrefs("<a href=\"/unterminated"), ["/unterminated"]);
    }

    #[test]
    fn references() {
        assert_eq!(
            decode_references("a&amp;b&lt;&gt;&quot;&#39;&#x41;&bogus;&"),
            "a&b<>\"'A&bogus;&"
        );
    }
}
