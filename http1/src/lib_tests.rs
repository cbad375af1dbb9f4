use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

fn head(text: &str) -> Head {
    parse_head(text.as_bytes()).unwrap().unwrap()
}

#[test]
fn framing_follows_rfc_9112() {
    let framing = |text: &str| head(text).framing;
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
        Framing::Length(5)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Framing::Empty
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        Framing::Chunked
    );
    // A final coding other than chunked leaves only the end of the connection (an
    // answer with Content-Length too is refused: see
    // `an_answer_with_both_transfer_encoding_and_content_length_is_refused`).
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        Framing::Eof
    );
    assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n"), Framing::Eof);
    for status in ["100 Continue", "204 No Content", "304 Not Modified"] {
        assert_eq!(
            framing(&format!("HTTP/1.1 {status}\r\ncontent-length: 9\r\n\r\n")),
            Framing::Empty,
            "{status}"
        );
    }
    let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
    assert_eq!(h.framing_for(true), Framing::Empty, "an answer to HEAD");
    assert!(head("HTTP/1.1 103 Early Hints\r\n\r\n").is_interim());
    assert!(!head("HTTP/1.1 101 Switching Protocols\r\n\r\n").is_interim());
}

#[test]
fn connection_reuse_follows_version_and_connection_header() {
    let close = |text: &str| head(text).close;
    assert!(!close("HTTP/1.1 200 OK\r\n\r\n"));
    assert!(close(
        "HTTP/1.1 200 OK\r\nConnection: upgrade, Close\r\n\r\n"
    ));
    assert!(close("HTTP/1.0 200 OK\r\n\r\n"));
    assert!(!close("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
    assert!(close("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
}

#[test]
fn heads_are_incomplete_or_refused_never_guessed() {
    assert!(
        parse_head(b"HTTP/1.1 200 OK\r\ncontent-le")
            .unwrap()
            .is_none()
    );
    for bad in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    ] {
        assert!(
            matches!(parse_head(bad), Err(H1Error::Head(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
    let filler = format!("x-filler: {}\r\n", "0".repeat(2000));
    while long.len() <= MAX_HEAD {
        long.extend_from_slice(filler.as_bytes());
    }
    assert_eq!(parse_head(&long).unwrap_err(), H1Error::HeadTooLong);
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
    assert!(matches!(
        parse_head(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()),
        Err(H1Error::Head(_))
    ));
}

#[test]
fn header_spans_point_into_the_buffer() {
    let text = b"HTTP/1.1 200 OK\r\nX-Backend-Instance: b-2\r\ncontent-length: 0\r\n\r\nrest";
    let h = parse_head(text).unwrap().unwrap();
    assert_eq!(h.len, text.len() - 4);
    let pairs: Vec<(&[u8], &[u8])> = h
        .headers
        .iter()
        .map(|(n, v)| (&text[n.clone()], &text[v.clone()]))
        .collect();
    assert_eq!(
        pairs,
        [
            (&b"X-Backend-Instance"[..], &b"b-2"[..]),
            (b"content-length", b"0")
        ]
    );
}

/// Decode `wire` fed in pieces of `step` bytes: the body, and what is left after it.
fn decode_in_pieces(
    framing: Framing,
    wire: &[u8],
    step: usize,
) -> Result<(Vec<u8>, Vec<u8>), H1Error> {
    let mut decoder = BodyDecoder::new(framing);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut pieces = wire.chunks(step.max(1));
    loop {
        match decoder.decode(&mut buf)? {
            Decoded::Data(n) => body.extend_from_slice(&buf.split_to(n)),
            Decoded::Done => {
                // What follows the body, whether read already or not.
                let mut rest = buf.to_vec();
                pieces.for_each(|p| rest.extend_from_slice(p));
                return Ok((body, rest));
            }
            Decoded::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => {
                    decoder.end_of_input()?;
                    return Ok((body, buf.to_vec()));
                }
            },
        }
    }
}

#[test]
fn bodies_decode_in_any_pieces() {
    for step in [1, 2, 3, 7, 1000] {
        let chunked = b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nx-trailer: t\r\n\r\nNEXT";
        assert_eq!(
            decode_in_pieces(Framing::Chunked, chunked, step).unwrap(),
            (b"wikipedia".to_vec(), b"NEXT".to_vec()),
            "step {step}"
        );
        assert_eq!(
            decode_in_pieces(Framing::Length(5), b"helloNEXT", step).unwrap(),
            (b"hello".to_vec(), b"NEXT".to_vec())
        );
        assert_eq!(
            decode_in_pieces(Framing::Eof, b"all of it", step).unwrap(),
            (b"all of it".to_vec(), Vec::new())
        );
        assert_eq!(
            decode_in_pieces(Framing::Empty, b"NEXT", step).unwrap(),
            (Vec::new(), b"NEXT".to_vec())
        );
    }
}

#[test]
fn broken_bodies_are_errors() {
    assert_eq!(
        decode_in_pieces(Framing::Length(10), b"short", 3).unwrap_err(),
        H1Error::Truncated
    );
    assert_eq!(
        decode_in_pieces(Framing::Chunked, b"zz\r\n", 1).unwrap_err(),
        H1Error::Chunk
    );
    assert_eq!(
        decode_in_pieces(Framing::Chunked, b"3\r\nabcX\r\n", 1).unwrap_err(),
        H1Error::Chunk
    );
    assert_eq!(
        decode_in_pieces(Framing::Chunked, b"3\r\nabc\r\n", 1).unwrap_err(),
        H1Error::Truncated
    );
}

proptest! {
    #[test]
    fn chunked_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        sizes in proptest::collection::vec(1usize..300, 1..20),
        step in 1usize..64,
    ) {
        let mut wire = Vec::new();
        let mut rest = &body[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let (decoded, left) = decode_in_pieces(Framing::Chunked, &wire, step).unwrap();
        prop_assert_eq!(decoded, body);
        prop_assert!(left.is_empty());
    }
}

#[test]
fn numbers_render_in_decimal() {
    for n in [0, 9, 10, 4096, u64::MAX] {
        assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        assert_eq!(header_value_u64(n), n.to_string().as_str());
    }
}

#[test]
fn parse_head_with_sees_the_headers_parse_head_lists() {
    let text = b"HTTP/1.1 200 OK\r\nX-Backend-Instance: api-0\r\nContent-Length:  12 \r\ndate: x\r\n\r\nhello world!";
    let mut seen = Vec::new();
    let facts = parse_head_with(text, |n, v| seen.push((n.to_vec(), v.to_vec())))
        .unwrap()
        .unwrap();
    let head = head(std::str::from_utf8(text).unwrap());
    assert_eq!(
        (facts.len, facts.status, facts.framing),
        (head.len, 200, Framing::Length(12))
    );
    let listed: Vec<_> = head
        .headers
        .iter()
        .map(|(n, v)| (text[n.clone()].to_vec(), text[v.clone()].to_vec()))
        .collect();
    assert_eq!(seen, listed);
    assert_eq!(seen[1], (b"Content-Length".to_vec(), b"12".to_vec()));
    // Nothing is reported of an incomplete head, however much of it has arrived.
    for cut in 0..text.len() - 14 {
        let mut calls = 0;
        assert_eq!(parse_head_with(&text[..cut], |_, _| calls += 1), Ok(None));
        assert_eq!(calls, 0, "cut at {cut}");
    }
}

/// The framing `parse_head_with` reads of an answer with `Content-Length: {v}`.
fn length(v: &str) -> Result<Framing, H1Error> {
    parse_head_with(
        format!("HTTP/1.1 200 OK\r\ncontent-length: {v}\r\n\r\n").as_bytes(),
        |_, _| {},
    )
    .map(|h| h.unwrap().framing)
}

#[test]
fn content_length_is_1_digit_or_more_and_nothing_else() {
    assert_eq!(length("007"), Ok(Framing::Length(7)));
    assert_eq!(length("5\t "), Ok(Framing::Length(5)), "trailing OWS");
    assert_eq!(
        length("9999999999999999999"),
        Ok(Framing::Length(9_999_999_999_999_999_999))
    );
    // u64::MAX (2^64 - 1) is the largest length; one more overflows and is refused.
    assert_eq!(
        length("18446744073709551615"),
        Ok(Framing::Length(u64::MAX))
    );
    for bad in [
        "18446744073709551616",
        "99999999999999999999999",
        "5 5",
        "5,5",
        "5, 5",
        "-1",
        "-0",
        "0x5",
        "5x",
        "x5",
        "5.0",
        "1e3",
        "٥",
        "",
    ] {
        assert_eq!(
            length(bad),
            Err(H1Error::Head("invalid content-length")),
            "{bad:?}"
        );
    }
}

/// CVE-2021-32715: hyper read `Content-Length: +5` as 5 (Rust's `u64::from_str` takes a
/// sign) where other parsers refuse it, a request/response smuggling vector. RFC 9110
/// §8.6: `Content-Length = 1*DIGIT`.
#[test]
fn content_length_plus_5_is_refused_cve_2021_32715() {
    assert_eq!(length("+5"), Err(H1Error::Head("invalid content-length")));
    assert_eq!(length("+0"), Err(H1Error::Head("invalid content-length")));
    // The load engine's reader (`parse_head_with`) and the gateway's (`parse_head`) alike.
    assert!(matches!(
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"),
        Err(H1Error::Head(_))
    ));
}

#[test]
fn differing_duplicate_content_lengths_are_refused_equal_ones_read_once() {
    let two = |a: &str, b: &str| {
        parse_head(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {a}\r\nContent-Length: {b}\r\n\r\n")
                .as_bytes(),
        )
        .map(|h| h.unwrap().framing)
    };
    assert_eq!(
        two("5", "6"),
        Err(H1Error::Head("conflicting content-length"))
    );
    assert_eq!(two("5", "+5"), Err(H1Error::Head("invalid content-length")));
    // RFC 9110 §8.6 lets a recipient accept repeated identical values.
    assert_eq!(two("5", "05"), Ok(Framing::Length(5)));
}

#[test]
fn an_answer_with_both_transfer_encoding_and_content_length_is_refused() {
    for text in [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
    ] {
        assert_eq!(
            parse_head(text.as_bytes()).map(|h| h.map(|h| h.framing)),
            Err(H1Error::Head("both transfer-encoding and content-length")),
            "{text:?}"
        );
        assert!(parse_head_with(text.as_bytes(), |_, _| {}).is_err());
    }
}

#[test]
fn the_name_cache_gives_the_names_from_bytes_gives_and_stays_bounded() {
    let mut names = NameCache::default();
    for raw in [
        "Content-Length",
        "content-length",
        "X-Backend-Instance",
        "Content-Length",
    ] {
        let want = http::HeaderName::from_bytes(raw.as_bytes()).unwrap();
        assert_eq!(names.get(raw.as_bytes()).unwrap(), want, "{raw}");
    }
    assert!(names.get(b"bad name").is_err());
    assert!(names.get(b"").is_err());
    // A peer sending ever new names fills the cache once; later names are still right.
    for i in 0..2 * NameCache::CAPACITY {
        let raw = format!("x-{i}");
        assert_eq!(names.get(raw.as_bytes()).unwrap().as_str(), raw);
        assert_eq!(names.get(raw.as_bytes()).unwrap().as_str(), raw);
    }
    assert_eq!(names.seen.len(), NameCache::CAPACITY);
}

#[test]
fn a_recycled_header_map_comes_back_empty_with_room_and_the_spares_stay_bounded() {
    // The spares are the thread's: the last one given back is the next one taken.
    let mut map = header_map(30);
    map.insert("x-one", http::HeaderValue::from_static("1"));
    map.append("x-one", http::HeaderValue::from_static("2"));
    recycle(map);
    let again = header_map(4);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(again.get("x-one"), None);
    // A new map for 4 fields would have room for far fewer than 30.
    assert!(
        again.capacity() >= 30,
        "not the spare one: {}",
        again.capacity()
    );
    // A spare smaller than what is asked for grows to it.
    recycle(again);
    assert!(header_map(40).capacity() >= 40);
    // A map grown past the limit is not kept.
    let mut big = http::HeaderMap::with_capacity(SPARE_MAP_FIELDS + 1);
    big.insert("x-big", http::HeaderValue::from_static("1"));
    recycle(big);
    assert!(header_map(1).capacity() <= SPARE_MAP_FIELDS);
    // At most SPARE_MAPS are kept, however many come back.
    for _ in 0..SPARE_MAPS + 10 {
        recycle(http::HeaderMap::with_capacity(4));
    }
    assert_eq!(SPARE_MAPS_HERE.with(|s| s.borrow().len()), SPARE_MAPS);
}

#[test]
fn a_limited_decoder_refuses_a_chunk_on_its_size_line_and_counts_trailers() {
    let mut d = BodyDecoder::new(Framing::Chunked).with_limit(10);
    let mut buf = BytesMut::from(&b"b\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Err(H1Error::BodyTooLarge(10)));
    // Two chunks of 6: the second's size line crosses the limit.
    let mut d = BodyDecoder::new(Framing::Chunked).with_limit(10);
    let mut buf = BytesMut::from(&b"6\r\nabcdef\r\n6\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(Decoded::Data(6)));
    let _ = buf.split_to(6);
    assert_eq!(d.decode(&mut buf), Err(H1Error::BodyTooLarge(10)));
    // 4 bytes of data and a 9-byte trailer line (with its CRLF): 13 > 10.
    let mut d = BodyDecoder::new(Framing::Chunked).with_limit(10);
    let mut buf = BytesMut::from(&b"4\r\nabcd\r\n0\r\nx-t: 1234\r\n\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(Decoded::Data(4)));
    let _ = buf.split_to(4);
    assert_eq!(d.decode(&mut buf), Err(H1Error::BodyTooLarge(10)));
    // An unterminated trailer past the limit is refused without waiting for its end.
    let mut d = BodyDecoder::new(Framing::Chunked).with_limit(10);
    let mut buf = BytesMut::from(&b"0\r\nx-very-long-trailer"[..]);
    assert_eq!(d.decode(&mut buf), Err(H1Error::BodyTooLarge(10)));
    // Within the limit: decoded as without one.
    let mut d = BodyDecoder::new(Framing::Chunked).with_limit(10);
    let mut buf = BytesMut::from(&b"4\r\nabcd\r\n0\r\nx: 1\r\n\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(Decoded::Data(4)));
    let _ = buf.split_to(4);
    assert_eq!(d.decode(&mut buf), Ok(Decoded::Done));
}

// Found by the differential test against hyper (tests/differential): each was accepted
// here and refused by hyper.

#[test]
fn an_http_1_0_answer_with_transfer_encoding_is_refused() {
    // RFC 9112 §6.1: faulty framing, whatever the coding.
    for te in ["chunked", "gzip"] {
        let text = format!("HTTP/1.0 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(
            parse_head(text.as_bytes()).unwrap_err(),
            H1Error::Head("transfer-encoding in HTTP/1.0"),
            "{te}"
        );
    }
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
        Framing::Chunked
    );
}

#[test]
fn a_status_outside_100_to_599_is_refused() {
    for status in ["099", "000", "600", "999"] {
        let text = format!("HTTP/1.1 {status} X\r\n\r\n");
        assert!(parse_head(text.as_bytes()).is_err(), "{status}");
    }
    assert_eq!(head("HTTP/1.1 100 Continue\r\n\r\n").status, 100);
    assert_eq!(head("HTTP/1.1 599 X\r\n\r\n").status, 599);
}

#[test]
fn a_bare_lf_in_a_chunk_extension_is_refused() {
    // `httparse::parse_chunk_size` skips any byte of an extension up to CRLF; a reader
    // that ends the line at the LF would read "b" as the chunk's data.
    assert_eq!(
        decode_in_pieces(Framing::Chunked, b"3;a\nb\r\nabc\r\n0\r\n\r\n", 64).unwrap_err(),
        H1Error::Chunk
    );
    assert_eq!(
        decode_in_pieces(Framing::Chunked, b"3;a=\"q r\"\r\nabc\r\n0\r\n\r\n", 1)
            .unwrap()
            .0,
        b"abc"
    );
}

#[test]
fn a_trailer_that_is_not_a_field_line_is_refused() {
    for trailer in [
        &b"Bad Trailer"[..],
        b"X-T: a\x01b",
        b"X-T: 1\nX-U: 2",
        b" folded",
        b": v",
    ] {
        let mut body = b"1\r\na\r\n0\r\n".to_vec();
        body.extend_from_slice(trailer);
        body.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            decode_in_pieces(Framing::Chunked, &body, 64).unwrap_err(),
            H1Error::Chunk,
            "{}",
            String::from_utf8_lossy(trailer)
        );
    }
    let body = b"1\r\na\r\n0\r\nX-T: 1\r\nx-u:\r\nX-V: caf\xc3\xa9\r\n\r\n";
    assert_eq!(decode_in_pieces(Framing::Chunked, body, 1).unwrap().0, b"a");
}

/// The one leniency kept (crate docs, "Leniencies kept"): RFC 9112 §2.2 lets a recipient
/// take a bare LF as a line's end; `httparse` does, with no switch to refuse it, and so
/// does hyper. Chunked framing lines still need CRLF.
#[test]
fn a_bare_lf_ends_a_head_line_as_rfc_9112_2_2_allows() {
    let wire = "HTTP/1.1 200 OK\ncontent-length: 2\n\nok";
    let h = head(wire);
    assert_eq!((h.status, h.framing), (200, Framing::Length(2)));
    assert_eq!(&wire[h.len..], "ok", "the head ends at the empty line");
    assert_eq!(
        decode_in_pieces(Framing::Chunked, b"2\nok\r\n0\r\n\r\n", 64).unwrap_err(),
        H1Error::Chunk
    );
}

/// Every token byte string of the names' lengths: `eq_token_lower` answers as
/// `eq_ignore_ascii_case` does (the standard library's comparison is the model).
#[test]
fn token_names_compare_as_eq_ignore_ascii_case() {
    const TCHARS: &[u8] =
        b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for lower in [
        &b"content-length"[..],
        b"transfer-encoding",
        b"connection",
        b"x-backend-instance",
        b"location",
    ] {
        // Each byte replaced by every token byte, in both cases of the rest.
        for upper_rest in [false, true] {
            let base: Vec<u8> = if upper_rest {
                lower.to_ascii_uppercase()
            } else {
                lower.to_vec()
            };
            assert!(eq_token_lower(&base, lower));
            for at in 0..base.len() {
                for &b in TCHARS {
                    let mut name = base.clone();
                    name[at] = b;
                    assert_eq!(
                        eq_token_lower(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{:?} vs {:?}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(lower)
                    );
                }
            }
        }
        // Other lengths never match.
        assert!(!eq_token_lower(&lower[..lower.len() - 1], lower));
        assert!(!eq_token_lower(&[lower, b"x"].concat(), lower));
    }
}

proptest! {
    /// Mixed case anywhere: a match exactly when the standard comparison says so.
    #[test]
    fn token_names_in_any_case_match(mask in any::<u32>(), pick in 0usize..3) {
        let lower = [&b"content-length"[..], b"transfer-encoding", b"connection"][pick];
        let name: Vec<u8> = lower
            .iter()
            .enumerate()
            .map(|(i, &b)| if mask >> (i % 32) & 1 == 1 { b.to_ascii_uppercase() } else { b })
            .collect();
        prop_assert!(eq_token_lower(&name, lower));
    }
}
