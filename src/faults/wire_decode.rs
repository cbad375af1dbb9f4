//! Request bodies as Toxiproxy's Go decoder reads them: its EOF texts, and
//! object keys matched case-insensitively (part of [`super`]).

use serde::de::DeserializeOwned;

/// Decode a request body as Go's `json.NewDecoder(r).Decode(&v)` would: the
/// first JSON value only (trailing bytes ignored), with its error texts for
/// the cases clients meet (`EOF` for an empty body, `unexpected EOF` for a
/// truncated one). Other decoder messages are serde's. Object keys match
/// case-insensitively, as Go's `encoding/json` matches field names
/// (`{"Enabled": false}` is `enabled`); two keys equal but for case are a
/// duplicate, refused.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("EOF".to_owned());
    }
    let body = lowercase_keys(body);
    let mut values = serde_json::Deserializer::from_slice(&body).into_iter::<T>();
    match values.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) if e.is_eof() => Err("unexpected EOF".to_owned()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("EOF".to_owned()),
    }
}

/// `body` with every object key ASCII-lowercased (values untouched; same
/// length, so decoder positions stay right). Every field name of the API is
/// lowercase, so this is Go's case-insensitive field matching.
fn lowercase_keys(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !body.iter().any(u8::is_ascii_uppercase) {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = body.to_vec();
    let mut i = 0;
    while i < out.len() {
        if out[i] != b'"' {
            i += 1;
            continue;
        }
        // A string from `start` (after the quote) to its closing quote.
        let start = i + 1;
        let mut j = start;
        while j < out.len() && out[j] != b'"' {
            j += if out[j] == b'\\' { 2 } else { 1 };
        }
        let end = j.min(out.len());
        let next = out[(end + 1).min(out.len())..]
            .iter()
            .find(|b| !b.is_ascii_whitespace());
        if next == Some(&b':') {
            out[start..end].make_ascii_lowercase();
        }
        i = end + 1;
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::super::ProxyInput;
    use super::*;

    #[test]
    fn keys_are_lowercased_values_are_not() {
        let got = lowercase_keys(br#"{"Enabled" : false, "Name":"My\"Key:", "A":{"LaTency":1}}"#);
        assert_eq!(
            &*got,
            br#"{"enabled" : false, "name":"My\"Key:", "a":{"latency":1}}"#
        );
    }

    #[test]
    fn decode_errors_use_go_texts_for_eof() {
        assert_eq!(decode_body::<ProxyInput>(b"").unwrap_err(), "EOF");
        assert_eq!(decode_body::<ProxyInput>(b"  \n").unwrap_err(), "EOF");
        assert_eq!(
            decode_body::<ProxyInput>(br#"{"name":"#).unwrap_err(),
            "unexpected EOF"
        );
        let ok: ProxyInput = decode_body(br#"{"name":"a","upstream":"b"} trailing"#).unwrap();
        assert_eq!(ok.name, "a");
    }
}
