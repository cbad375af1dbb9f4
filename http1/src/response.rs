//! Response heads: parsed in place, framed by RFC 9112 §6.3.

use std::ops::Range;

use crate::{Framing, H1Error, MAX_HEAD, MAX_HEADERS, eq_token_lower};

/// A parsed response head: its facts (status, framing… read through `Deref`) and where
/// each header lies.
#[derive(Debug, Clone)]
pub struct Head {
    /// Status, version, framing, length of the head.
    pub facts: HeadFacts,
    /// Where each header's name and value lie in the buffer the head was parsed from.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
}

impl std::ops::Deref for Head {
    type Target = HeadFacts;

    fn deref(&self) -> &HeadFacts {
        &self.facts
    }
}

/// What a response head says besides its header list (see [`parse_head_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadFacts {
    /// Bytes the head took, through the empty line.
    pub len: usize,
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The body's framing for a request other than HEAD.
    pub framing: Framing,
    /// The connection closes after this answer (`Connection: close`, HTTP/1.0 without
    /// keep-alive, 101).
    pub close: bool,
}

impl HeadFacts {
    /// An interim answer (100 Continue, 103 Early Hints): the real one follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// The framing for an answer to a request with method HEAD or not.
    pub fn framing_for(&self, head_request: bool) -> Framing {
        if head_request {
            Framing::Empty
        } else {
            self.framing
        }
    }
}

/// Parse a response head at the start of `buf`: `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, H1Error> {
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let mut headers = Vec::with_capacity(8);
    let facts = parse_head_with(buf, |name, value| headers.push((span(name), span(value))))?;
    Ok(facts.map(|facts| Head { facts, headers }))
}

/// [`parse_head`] without building a header list: `on_header(name, value)` sees each
/// header of a complete head (slices of `buf`, in order), and nothing while the head is
/// incomplete. For a reader that keeps one or two headers of every answer, this spares
/// the list's allocation.
///
/// On an error `on_header` may already have seen some headers: discard what it kept.
pub fn parse_head_with<F>(buf: &[u8], mut on_header: F) -> Result<Option<HeadFacts>, H1Error>
where
    F: FnMut(&[u8], &[u8]),
{
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(H1Error::HeadTooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(H1Error::Head("too many headers")),
        Err(_) => return Err(H1Error::Head("not an HTTP/1 response")),
    };
    if len > MAX_HEAD {
        return Err(H1Error::HeadTooLong);
    }
    let status = response.code.ok_or(H1Error::Head("no status"))?;
    // RFC 9110 §15: "All valid status codes are within the range of 100 to 599".
    if !(100..=599).contains(&status) {
        return Err(H1Error::Head("status code outside 100..=599"));
    }
    let version = response.version.unwrap_or(1);
    let mut seen = FramingHeaders {
        length: None,
        chunked: false,
        transfer_encoding: false,
        close: version == 0,
    };
    for h in response.headers.iter() {
        let name = h.name.as_bytes();
        seen.see(name, h.value, version)?;
        on_header(name, h.value);
    }
    let framing = seen.framing(status, version)?;
    let close = seen.close;
    Ok(Some(HeadFacts {
        len,
        status,
        version,
        framing,
        close: close || status == 101,
    }))
}

/// What the headers that frame a body said, gathered header by header.
struct FramingHeaders {
    length: Option<u64>,
    chunked: bool,
    transfer_encoding: bool,
    close: bool,
}

impl FramingHeaders {
    /// Take one header of an HTTP/1.`version` head into account.
    // Always inlined: it runs for every header of every answer, and out of line (as the
    // compiler chose) it cost the load engine ~45 instructions per answer of three headers.
    #[inline(always)]
    fn see(&mut self, name: &[u8], value: &[u8], version: u8) -> Result<(), H1Error> {
        // The three names framing depends on differ in length: most headers are passed
        // over on their length alone.
        match name.len() {
            14 if eq_token_lower(name, b"content-length") => {
                let n = content_length(value)?;
                // Differing lengths are a framing attack, not an answer.
                if self.length.is_some_and(|l| l != n) {
                    return Err(H1Error::Head("conflicting content-length"));
                }
                self.length = Some(n);
            }
            17 if eq_token_lower(name, b"transfer-encoding") => {
                self.transfer_encoding = true;
                // Chunked counts only as the final coding.
                self.chunked = value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            10 if eq_token_lower(name, b"connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                        self.close = false;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// How the body of a `status` answer is framed, once every header is seen.
    #[inline]
    fn framing(&self, status: u16, version: u8) -> Result<Framing, H1Error> {
        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (hyper
        // refuses it too).
        if self.transfer_encoding && version == 0 {
            return Err(H1Error::Head("transfer-encoding in HTTP/1.0"));
        }
        // Both framings at once (RFC 9112 §6.3 ¶3: "ought to be handled as an error"): the
        // answer is refused, so its connection is closed and never reused.
        if self.transfer_encoding && self.length.is_some() {
            return Err(H1Error::Head("both transfer-encoding and content-length"));
        }
        Ok(
            if (100..200).contains(&status) || status == 204 || status == 304 {
                Framing::Empty
            } else if self.transfer_encoding {
                if self.chunked {
                    Framing::Chunked
                } else {
                    Framing::Eof
                }
            } else {
                match self.length {
                    Some(0) => Framing::Empty,
                    Some(n) => Framing::Length(n),
                    None => Framing::Eof,
                }
            },
        )
    }
}

/// A `Content-Length` value: `1*DIGIT` (RFC 9110 §8.6) between optional blanks, and
/// nothing else. No sign (`+5` is what hyper refused as CVE-2021-32715), no list, no
/// junk before or after the digits, nothing past `u64::MAX`: a length two parsers could
/// read differently is a framing attack, not an answer.
fn content_length(value: &[u8]) -> Result<u64, H1Error> {
    length_digits(value).ok_or(H1Error::Head("invalid content-length"))
}

/// `1*DIGIT` between optional blanks (spaces and tabs, RFC 9110 §5.6.3), as a `u64`.
pub(crate) fn length_digits(value: &[u8]) -> Option<u64> {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    let digits = &value[start..end];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}
