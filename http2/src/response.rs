//! An answer's header blocks checked as RFC 9113 §8.1–8.3 says (a malformed answer
//! is a stream error, PROTOCOL_ERROR) and rendered as HTTP/1.1 text for the caller.

/// Lowercase token characters (RFC 9110 §5.6.2 without `A-Z`): what a field name may
/// hold in HTTP/2 (RFC 9113 §8.2.1).
const fn name_bytes() -> [bool; 256] {
    let mut t = [false; 256];
    let extra = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = true;
        c += 1;
    }
    t
}
static NAME: [bool; 256] = name_bytes();

/// Where an answer's stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the (final) response head.
    Head,
    /// Head read; DATA or trailers to come.
    Body,
}

/// One header block's check.
#[derive(Debug, Default)]
pub(crate) struct Block {
    status: Option<u16>,
    regular: bool,
    list_size: usize,
    pub error: Option<&'static str>,
}

/// An answer being received.
#[derive(Debug)]
pub(crate) struct Answer {
    pub phase: Phase,
    pub status: u16,
    /// The head as HTTP/1.1 text: status line, field lines, empty line.
    pub head: Vec<u8>,
    pub content_length: Option<u64>,
    pub received: u64,
}

impl Answer {
    pub fn new() -> Self {
        Answer {
            phase: Phase::Head,
            status: 0,
            head: Vec::new(),
            content_length: None,
            received: 0,
        }
    }

    /// Take one field of a block (`trailers`: the block after the head).
    pub fn field(
        &mut self,
        block: &mut Block,
        max_list: usize,
        name: &[u8],
        value: &[u8],
    ) -> Result<(), &'static str> {
        block.list_size += name.len() + value.len() + 32;
        if block.list_size > max_list {
            return Err("header list larger than SETTINGS_MAX_HEADER_LIST_SIZE");
        }
        if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
            || value
                .first()
                .into_iter()
                .chain(value.last())
                .any(|&b| b == b' ' || b == b'\t')
        {
            return Err("field value with NUL, CR, LF or surrounding blanks");
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            if pseudo != b"status" {
                return Err("pseudo-header other than :status in an answer");
            }
            if self.phase == Phase::Body {
                return Err("pseudo-header in trailers");
            }
            if block.regular {
                return Err("pseudo-header after a regular field");
            }
            if block.status.is_some() {
                return Err("two :status pseudo-headers");
            }
            let status = match value {
                [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
                    u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
                }
                _ => return Err(":status not three digits from 100 to 599"),
            };
            block.status = Some(status);
            self.head.clear();
            self.head.extend_from_slice(b"HTTP/1.1 ");
            self.head.extend_from_slice(value);
            self.head.extend_from_slice(b" \r\n");
            return Ok(());
        }
        if name.is_empty() || !name.iter().all(|&b| NAME[b as usize]) {
            return Err("field name empty, uppercase or not a token");
        }
        if matches!(
            name,
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
        ) {
            return Err("connection-specific field in an answer");
        }
        if self.phase == Phase::Body {
            // Trailers: checked, not kept.
            return Ok(());
        }
        if block.status.is_none() {
            return Err("field before :status");
        }
        block.regular = true;
        if name == b"content-length" {
            let n = decimal(value).ok_or("content-length not a number")?;
            if self.content_length.is_some_and(|m| m != n) {
                return Err("differing content-length values");
            }
            self.content_length = Some(n);
        }
        self.head.extend_from_slice(name);
        self.head.extend_from_slice(b": ");
        self.head.extend_from_slice(value);
        self.head.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The block ended. `Ok(true)` when the answer is complete, `Ok(false)` when more
    /// is to come (an informational head, or a body).
    pub fn end_block(&mut self, block: &Block, end_stream: bool) -> Result<bool, &'static str> {
        if let Some(e) = block.error {
            return Err(e);
        }
        if self.phase == Phase::Body {
            if !end_stream {
                return Err("trailers without END_STREAM");
            }
            return Ok(true);
        }
        let status = block.status.ok_or("answer without :status")?;
        if status < 200 {
            if status == 101 || end_stream {
                return Err("101, or an informational head ending the stream");
            }
            // 1xx: the final head is still to come.
            self.head.clear();
            self.content_length = None;
            return Ok(false);
        }
        self.status = status;
        self.head.extend_from_slice(b"\r\n");
        self.phase = Phase::Body;
        Ok(end_stream)
    }
}

fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fields: &[(&[u8], &[u8])], end: bool) -> Result<(bool, Answer), &'static str> {
        let mut a = Answer::new();
        let mut b = Block::default();
        for (n, v) in fields {
            if let Err(e) = a.field(&mut b, 1 << 16, n, v) {
                b.error.get_or_insert(e);
            }
        }
        let done = a.end_block(&b, end)?;
        Ok((done, a))
    }

    #[test]
    fn a_head_renders_as_http1_text() {
        let (done, a) = run(
            &[
                (b":status", b"200"),
                (b"server", b"x"),
                (b"content-length", b"5"),
            ],
            false,
        )
        .unwrap();
        assert!(!done);
        assert_eq!(a.status, 200);
        assert_eq!(
            a.head,
            b"HTTP/1.1 200 \r\nserver: x\r\ncontent-length: 5\r\n\r\n"
        );
        assert_eq!(a.content_length, Some(5));
    }

    #[test]
    fn malformed_heads_are_refused() {
        let bad: &[&[(&[u8], &[u8])]] = &[
            &[(b"server", b"x")],
            &[(b":status", b"20")],
            &[(b":status", b"600")],
            &[(b":status", b"200"), (b":status", b"200")],
            &[(b":status", b"200"), (b":path", b"/")],
            &[(b"server", b"x"), (b":status", b"200")],
            &[(b":status", b"200"), (b"Server", b"x")],
            &[(b":status", b"200"), (b"connection", b"close")],
            &[(b":status", b"200"), (b"x", b"a\nb")],
            &[(b":status", b"200"), (b"x", b" a")],
            &[
                (b":status", b"200"),
                (b"content-length", b"1"),
                (b"content-length", b"2"),
            ],
            &[(b":status", b"200"), (b"content-length", b"-1")],
            &[(b":status", b"101")],
        ];
        for fields in bad {
            assert!(run(fields, false).is_err(), "{fields:?}");
        }
        // An informational head that ends the stream.
        assert!(run(&[(b":status", b"103")], true).is_err());
    }

    #[test]
    fn an_informational_head_is_skipped() {
        let mut a = Answer::new();
        let mut b = Block::default();
        a.field(&mut b, 1 << 16, b":status", b"103").unwrap();
        a.field(&mut b, 1 << 16, b"link", b"</a>").unwrap();
        assert_eq!(a.end_block(&b, false), Ok(false));
        assert_eq!(a.phase, Phase::Head);
        let mut b = Block::default();
        a.field(&mut b, 1 << 16, b":status", b"204").unwrap();
        assert_eq!(a.end_block(&b, true), Ok(true));
        assert_eq!(a.head, b"HTTP/1.1 204 \r\n\r\n");
    }
}
