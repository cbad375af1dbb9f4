//! Generated HTTP/1 messages: mostly valid, with near-valid mutations where parsers are
//! known to disagree (RFC 9112 §6.3's framing cases, hyper's CVEs, smuggling write-ups).

use proptest::prelude::*;

/// One header field line.
#[derive(Debug, Clone)]
pub enum Field {
    Plain(&'static str, String),
    Length(&'static str),
    Coding(&'static str),
    Connection(&'static str),
    Host(&'static str),
    /// A line as it is: obs-fold, bad names, control bytes, no colon…
    Raw(&'static str),
}

#[derive(Debug, Clone)]
pub struct Chunk {
    data: String,
    /// Added to the data's length in the size line (a wrong size).
    delta: i8,
    upper: bool,
    /// Leading zeros of the size.
    pad: usize,
    ext: &'static str,
    /// The size line ends with a bare LF.
    lf_only: bool,
}

#[derive(Debug, Clone)]
pub enum Body {
    Raw(String),
    Chunked {
        chunks: Vec<Chunk>,
        last_ext: &'static str,
        trailers: Vec<&'static str>,
    },
}

#[derive(Debug, Clone)]
pub struct Message {
    start: String,
    http10: bool,
    fields: Vec<Field>,
    body: Body,
    /// The head's lines end with a bare LF.
    bare_lf: bool,
    /// An answer to a HEAD request (no body, whatever its fields say).
    pub head_request: bool,
}

const LENGTHS: &[&str] = &[
    "0",
    "3",
    "5",
    "05",
    "+5",
    "-5",
    "5,5",
    "5, 5",
    "5, 6",
    "0x5",
    "5.0",
    "",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "5 ",
    "\t5",
];
const CODINGS: &[&str] = &[
    "chunked",
    "Chunked",
    "CHUNKED",
    "gzip, chunked",
    "chunked, gzip",
    "identity",
    "identity, chunked",
    "gzip",
    "chunked;q=1",
    "chunked,",
    ",chunked",
    "chunked, chunked",
    "x-custom",
];
const RAW: &[&str] = &[
    "Bad Name: v",
    "X@Y: v",
    "X-A : v",
    "X-A\t: v",
    " folded",
    "\tfolded",
    "X-B: a\x01b",
    "X-C: a\x7fb",
    "NoColon",
    ": empty-name",
    "X-D:",
    "X-E: caf\u{e9}",
    "X_F: v",
];
const EXTENSIONS: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    "",
    ";a=b",
    ";a",
    " ;a",
    "\t;a",
    ";a=\"q r\"",
    ";",
    "; a",
    ";a\nb",
    " ",
    "x",
];
const TRAILERS: &[&str] = &[
    "X-T: 1",
    "X-T: 1",
    "X-T: 1",
    "x-t:",
    "Bad Trailer",
    "X-T: a\x01b",
    "X-T: 1\nX-U: 2",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(list)
}

fn field() -> impl Strategy<Value = Field> {
    let names = pick(&[
        "X-A",
        "Server",
        "Content-Type",
        "x-backend-instance",
        "Accept",
    ]);
    prop_oneof![
        6 => (names, "[ -~]{0,12}").prop_map(|(n, v)| Field::Plain(n, v)),
        3 => pick(LENGTHS).prop_map(Field::Length),
        3 => pick(CODINGS).prop_map(Field::Coding),
        1 => pick(&["close", "keep-alive", "Keep-Alive, close", "upgrade", "x-named"]).prop_map(Field::Connection),
        1 => pick(&["gw", "gw:8080", ""]).prop_map(Field::Host),
        1 => pick(RAW).prop_map(Field::Raw),
    ]
}

fn chunk() -> impl Strategy<Value = Chunk> {
    (
        "[a-z]{0,8}",
        prop_oneof![8 => Just(0i8), 1 => Just(1), 1 => Just(-1)],
        any::<bool>(),
        prop_oneof![6 => Just(0usize), 2 => 1..3usize, 1 => Just(17)],
        pick(EXTENSIONS),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(data, delta, upper, pad, ext, lf_only)| Chunk {
            data,
            delta,
            upper,
            pad,
            ext,
            lf_only,
        })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        "[a-z]{0,12}".prop_map(Body::Raw),
        (
            prop::collection::vec(chunk(), 0..4),
            pick(EXTENSIONS),
            prop::collection::vec(pick(TRAILERS), 0..2),
        )
            .prop_map(|(chunks, last_ext, trailers)| Body::Chunked {
                chunks,
                last_ext,
                trailers
            }),
    ]
}

fn version() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => Just("HTTP/1.1"),
        3 => Just("HTTP/1.0"),
        1 => pick(&["HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.1 "]),
    ]
}

/// A third of the messages keep only plain fields and one framing field, valid or
/// nearly so: otherwise few of them would have a body both readers accept.
fn framed() -> impl Strategy<Value = Option<Field>> {
    prop_oneof![
        4 => Just(None),
        2 => Just(Some(Field::Coding("chunked"))),
        1 => pick(&["0", "3", "5", "8"]).prop_map(|v| Some(Field::Length(v))),
    ]
}

fn frame(fields: &mut Vec<Field>, framed: Option<Field>) {
    if let Some(framing) = framed {
        fields.retain(|f| matches!(f, Field::Plain(..)));
        fields.push(framing);
    }
}

/// A response: status line, fields, body.
pub fn response() -> impl Strategy<Value = Message> {
    let status = pick(&[
        "200", "200", "201", "204", "304", "404", "500", "599", "999", "099", "20", "2000",
    ]);
    let reason = pick(&["OK", "", "Not Found", "a\tb"]);
    (
        version(),
        status,
        reason,
        prop::collection::vec(field(), 0..6),
        body(),
        prop::bool::weighted(0.1),
        framed(),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(version, status, reason, mut fields, body, bare_lf, framed, head_request)| {
                frame(&mut fields, framed);
                Message {
                    start: format!("{version} {status} {reason}"),
                    http10: version == "HTTP/1.0",
                    fields,
                    body,
                    bare_lf,
                    head_request,
                }
            },
        )
}

/// A request: request line, (usually) `Host` first, fields, body.
pub fn request() -> impl Strategy<Value = Message> {
    let method = pick(&[
        "GET", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "M-SEARCH", "G(T",
    ]);
    let target = pick(&[
        "/",
        "/",
        "/a/b?c=d",
        "/x%20y",
        "*",
        "http://h:81/x",
        "/a b",
        "//x",
        "/\x7f",
        "/caf\u{e9}",
    ]);
    let sep = prop_oneof![9 => Just(" "), 1 => Just("  ")];
    (
        method,
        target,
        sep,
        version(),
        prop::bool::weighted(0.9),
        prop::collection::vec(field(), 0..6),
        body(),
        prop::bool::weighted(0.1),
        framed(),
    )
        .prop_map(
            |(method, target, sep, version, host_first, mut fields, body, bare_lf, framed)| {
                frame(&mut fields, framed);
                if host_first {
                    fields.insert(0, Field::Host("gw"));
                }
                Message {
                    start: format!("{method}{sep}{target} {version}"),
                    http10: version == "HTTP/1.0",
                    fields,
                    body,
                    bare_lf,
                    head_request: false,
                }
            },
        )
}

impl Message {
    /// The message's bytes.
    pub fn render(&self) -> Vec<u8> {
        let le = if self.bare_lf { "\n" } else { "\r\n" };
        let mut out = String::new();
        out.push_str(&self.start);
        out.push_str(le);
        for f in &self.fields {
            match f {
                Field::Plain(n, v) => out.push_str(&format!("{n}: {v}")),
                Field::Length(v) => out.push_str(&format!("Content-Length: {v}")),
                Field::Coding(v) => out.push_str(&format!("Transfer-Encoding: {v}")),
                Field::Connection(v) => out.push_str(&format!("Connection: {v}")),
                Field::Host(v) => out.push_str(&format!("Host: {v}")),
                Field::Raw(line) => out.push_str(line),
            }
            out.push_str(le);
        }
        out.push_str(le);
        match &self.body {
            Body::Raw(s) => out.push_str(s),
            Body::Chunked {
                chunks,
                last_ext,
                trailers,
            } => {
                for c in chunks {
                    let size = (c.data.len() as i64 + i64::from(c.delta)).max(0);
                    let hex = if c.upper {
                        format!("{size:X}")
                    } else {
                        format!("{size:x}")
                    };
                    out.push_str(&"0".repeat(c.pad));
                    out.push_str(&hex);
                    out.push_str(c.ext);
                    out.push_str(if c.lf_only { "\n" } else { "\r\n" });
                    out.push_str(&c.data);
                    out.push_str("\r\n");
                }
                out.push('0');
                out.push_str(last_ext);
                out.push_str("\r\n");
                for t in trailers {
                    out.push_str(t);
                    out.push_str("\r\n");
                }
                out.push_str("\r\n");
            }
        }
        out.into_bytes()
    }

    /// The named class of messages this crate refuses and hyper accepts, if this is
    /// one (crate docs, "Stricter than hyper"), and whether the class is the head's (we
    /// refuse it whatever the body) or the chunked body's (only when framed chunked).
    pub fn stricter_than_hyper(&self, is_request: bool) -> Option<(&'static str, bool)> {
        let lengths = self.fields.iter().filter(|f| matches!(f, Field::Length(_)));
        let codings: Vec<_> = self
            .fields
            .iter()
            .filter_map(|f| match f {
                Field::Coding(v) => Some(*v),
                _ => None,
            })
            .collect();
        let hosts = self
            .fields
            .iter()
            .filter(|f| matches!(f, Field::Host(_)))
            .count();
        if self
            .fields
            .iter()
            .any(|f| matches!(f, Field::Length(v) if v.contains(',')))
        {
            return Some(("Content-Length as a list", true));
        }
        if !codings.is_empty() && lengths.count() > 0 {
            return Some(("Transfer-Encoding with Content-Length", true));
        }
        if !is_request
            && (self.head_request || self.start.contains(" 204 ") || self.start.contains(" 304 "))
            && self
                .fields
                .iter()
                .any(|f| matches!(f, Field::Length(_) | Field::Coding(_)))
        {
            return Some((
                "framing fields checked on an answer without a body (to HEAD, 204, 304)",
                false,
            ));
        }
        if !is_request && self.start.contains(" 999 ") {
            return Some(("status code 600 to 999", true));
        }
        if is_request {
            if hosts > 1 || (hosts == 0 && !self.http10) {
                return Some(("Host other than exactly one", true));
            }
            if !codings.is_empty()
                && (codings.len() > 1 || !codings[0].trim().eq_ignore_ascii_case("chunked"))
            {
                return Some(("transfer coding other than exactly chunked", true));
            }
        }
        if let Body::Chunked {
            chunks, trailers, ..
        } = &self.body
        {
            if chunks.iter().any(|c| c.pad > 15) {
                return Some(("chunk size of more than 16 hex digits", false));
            }
            if trailers.iter().any(|t| t.contains('\n')) {
                return Some(("bare LF in trailers", false));
            }
        }
        None
    }

    /// The named class of messages hyper refuses and this crate accepts, if this is one
    /// (crate docs, "Where hyper is stricter").
    pub fn hyper_stricter(&self) -> Option<&'static str> {
        self.fields
            .iter()
            .any(|f| matches!(f, Field::Length(v) if v.trim().parse::<u64>().is_ok_and(|n| n > u64::MAX - 2)))
            .then_some("Content-Length of 2^64 - 2 or more")
    }
}
