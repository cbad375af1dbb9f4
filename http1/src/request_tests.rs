use super::*;

const LIMITS: RequestLimits = RequestLimits {
    max_bytes: 8192,
    max_headers: 100,
};

type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

fn parse(wire: &[u8]) -> Result<Option<(RequestHead, Fields<'_>)>, RequestError> {
    let mut fields = Vec::new();
    let head = parse_request_head(wire, LIMITS, |n, v| {
        fields.push((n, v));
        Ok::<(), RequestError>(())
    })?;
    Ok(head.map(|h| (h, fields)))
}

fn framing(wire: &str) -> Result<Framing, RequestError> {
    Ok(parse(wire.as_bytes())?.expect("complete").0.framing)
}

#[test]
fn a_request_head_gives_its_method_target_version_and_fields_in_order() {
    let wire = b"GET /a?b HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\nx-a: 2\r\n\r\nGET /next";
    let (head, fields) = parse(wire).unwrap().unwrap();
    assert_eq!(&wire[head.method.clone()], b"GET");
    assert_eq!(&wire[head.target.clone()], b"/a?b");
    assert_eq!(head.version, 1);
    assert_eq!(head.len, wire.len() - b"GET /next".len());
    assert_eq!(head.framing, Framing::Empty);
    assert!(head.keep_alive);
    let fields: Vec<_> = fields.iter().map(|(n, v)| (*n, *v)).collect();
    assert_eq!(
        fields,
        [(&b"Host"[..], &b"gw"[..]), (b"X-A", b"1"), (b"x-a", b"2")]
    );
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: gw\r\n").unwrap(),
        None,
        "incomplete"
    );
}

#[test]
fn request_framing_follows_rfc_9112() {
    let h = "POST / HTTP/1.1\r\nHost: gw\r\n";
    assert_eq!(
        framing(&format!("{h}Content-Length: 5\r\n\r\n")),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        framing(&format!("{h}Content-Length: 0\r\n\r\n")),
        Ok(Framing::Empty)
    );
    assert_eq!(
        framing(&format!(
            "{h}Content-Length: 5\r\nContent-Length: 5\r\n\r\n"
        )),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        framing(&format!("{h}Transfer-Encoding: Chunked\r\n\r\n")),
        Ok(Framing::Chunked)
    );
    for refused in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 99999999999999999999\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ] {
        assert!(
            matches!(
                framing(&format!("{h}{refused}\r\n")),
                Err(RequestError::Malformed(_))
            ),
            "{refused}"
        );
    }
    for unsupported in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    ] {
        assert_eq!(
            framing(&format!("{h}{unsupported}\r\n")),
            Err(RequestError::UnsupportedCoding),
            "{unsupported}"
        );
    }
    assert_eq!(
        framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(RequestError::Malformed("transfer-encoding in HTTP/1.0"))
    );
}

#[test]
fn host_rules_and_connection_persistence() {
    assert_eq!(
        framing("GET / HTTP/1.1\r\n\r\n"),
        Err(RequestError::Malformed("no host header"))
    );
    assert_eq!(
        framing("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
        Err(RequestError::Malformed("more than one host header"))
    );
    assert_eq!(framing("GET / HTTP/1.0\r\n\r\n"), Ok(Framing::Empty));
    let keep = |wire: &str| parse(wire.as_bytes()).unwrap().unwrap().0.keep_alive;
    assert!(!keep(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n"
    ));
    assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
    assert!(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
}

#[test]
fn request_heads_past_the_limits_are_too_large() {
    let long = format!(
        "GET / HTTP/1.1\r\nHost: gw\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert!(matches!(
        parse(long.as_bytes()),
        Err(RequestError::TooLarge(_))
    ));
    let endless = format!("GET / HTTP/1.1\r\nHost: gw\r\nX: {}", "a".repeat(9000));
    assert!(matches!(
        parse(endless.as_bytes()),
        Err(RequestError::TooLarge(_))
    ));
    let mut many = String::from("GET / HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..100 {
        many.push_str(&format!("x-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        parse(many.as_bytes()),
        Err(RequestError::TooLarge("too many headers"))
    );
    for wire in [
        &b"GET  / HTTP/1.1\r\nHost: gw\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: gw\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
    ] {
        assert!(matches!(parse(wire), Err(RequestError::Malformed(_))));
    }
}

#[test]
fn the_callbacks_error_ends_the_parse() {
    #[derive(Debug, PartialEq)]
    enum Mine {
        Theirs(RequestError),
        Refused,
    }
    impl From<RequestError> for Mine {
        fn from(e: RequestError) -> Self {
            Mine::Theirs(e)
        }
    }
    let r = parse_request_head(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n",
        LIMITS,
        |n, _| {
            if n == b"X" {
                Err(Mine::Refused)
            } else {
                Ok(())
            }
        },
    );
    assert_eq!(r, Err(Mine::Refused));
}

/// The one leniency kept (crate docs, "Leniencies kept"): a bare LF ends a line.
#[test]
fn a_bare_lf_ends_a_request_line_as_rfc_9112_2_2_allows() {
    let wire = b"POST / HTTP/1.1\nHost: gw\nContent-Length: 3\n\nabc";
    let (head, _) = parse(wire).unwrap().unwrap();
    assert_eq!(head.framing, Framing::Length(3));
    assert_eq!(&wire[head.len..], b"abc");
}
