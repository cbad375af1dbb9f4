//! Rendering heads: field lines and the `Date` value.

use std::time::{SystemTime, UNIX_EPOCH};

/// Renders one field line, `name: value` and CRLF, into `out`.
pub fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `Date` header's value, formatted once per second.
#[derive(Default)]
pub struct DateCache {
    second: u64,
    value: Vec<u8>,
}

impl DateCache {
    /// The current time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.value.is_empty() {
            self.second = second;
            self.value = httpdate::fmt_http_date(now).into_bytes();
        }
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_an_http_date() {
        let mut d = DateCache::default();
        let v = String::from_utf8(d.now().to_vec()).unwrap();
        assert!(httpdate::parse_http_date(&v).is_ok(), "{v}");
        assert_eq!(
            d.now(),
            v.as_bytes(),
            "the same second gives the cached value"
        );
    }

    #[test]
    fn a_field_renders_as_one_line() {
        let mut out = Vec::new();
        put_field(&mut out, b"x-a", b"1");
        assert_eq!(out, b"x-a: 1\r\n");
    }
}
