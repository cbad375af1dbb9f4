//! The one escaping function of the HTML report.
//!
//! Every piece of text that did not come from this module's own string
//! literals (scenario names, descriptions, tenant ids, instance names taken
//! from response headers, error messages, the scenario file itself) goes
//! through [`escape`] before it lands in `report.html`. It escapes for both
//! element content and double- or single-quoted attribute values, so one
//! function is enough everywhere.

/// Escape `raw` for HTML text and quoted attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + raw.len() / 8);
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn plain_text_and_unicode_pass_through() {
        assert_eq!(escape("api-1 ✓ 99.9%"), "api-1 ✓ 99.9%");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn already_escaped_text_is_escaped_again() {
        // The input is text, not markup: an entity in it must show as typed.
        assert_eq!(escape("&lt;"), "&amp;lt;");
    }
}
