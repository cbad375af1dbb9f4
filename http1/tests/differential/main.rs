//! Differential test: generated request and response messages, valid ones and near-valid
//! mutations, are read by this crate and by independent implementations: `httparse`'s
//! plain parser for head syntax, and hyper's HTTP/1 client and server (over an in-memory
//! duplex) for framing. Both must accept or refuse alike; when both accept, they must
//! see the same method, target, version, status, header fields and body.
//!
//! Where this crate is deliberately stricter than hyper (the classes in the crate docs,
//! "Stricter than hyper"), the test requires "we refuse where hyper accepts" for that
//! class, decided from the message as generated, never from our parser's answer.

mod generate;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;
use ninefold_http1::{BodyDecoder, Decoded, Framing, RequestError, RequestLimits};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use generate::{Message, request, response};

/// What a reader made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused(String),
    Accepted(Seen),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// Method and target (a request) or status (a response).
    start: String,
    version: u8,
    /// Header fields other than the framing ones, lower-case names, sorted.
    fields: Vec<(String, Vec<u8>)>,
    /// The body's length when the framing announces it (`Some(0)` for none).
    length: Option<u64>,
    /// The body as decoded, or `None` when it could not be read to its end.
    body: Option<Vec<u8>>,
}

fn sorted_fields<'a>(fields: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fields
        .map(|(n, v)| (String::from_utf8_lossy(n).to_ascii_lowercase(), v.to_vec()))
        .filter(|(n, _)| n != "content-length" && n != "transfer-encoding")
        .collect();
    out.sort();
    out
}

/// Decodes the body that follows a head with our decoder, up to the end of `rest`.
fn our_body(framing: Framing, rest: &[u8]) -> Option<Vec<u8>> {
    let mut buf = BytesMut::from(rest);
    let mut decoder = BodyDecoder::new(framing);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf).ok()? {
            Decoded::Data(n) => body.extend_from_slice(&buf.split_to(n)),
            Decoded::Done => return Some(body),
            Decoded::NeedMore => {
                decoder.end_of_input().ok()?;
                return Some(body);
            }
        }
    }
}

fn announced(framing: Framing) -> Option<u64> {
    match framing {
        Framing::Empty => Some(0),
        Framing::Length(n) => Some(n),
        Framing::Chunked | Framing::Eof => None,
    }
}

fn ours_response(wire: &[u8], head_request: bool) -> Outcome {
    let head = match ninefold_http1::parse_head(wire) {
        Ok(Some(head)) => head,
        Ok(None) => return Outcome::Refused("incomplete".into()),
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let fields = head
        .headers
        .iter()
        .map(|(n, v)| (&wire[n.clone()], &wire[v.clone()]));
    Outcome::Accepted(Seen {
        start: head.status.to_string(),
        version: head.version,
        fields: sorted_fields(fields),
        length: announced(head.framing_for(head_request)),
        body: our_body(head.framing_for(head_request), &wire[head.len..]),
    })
}

fn ours_request(wire: &[u8], _: bool) -> Outcome {
    let limits = RequestLimits {
        max_bytes: 64 * 1024,
        max_headers: 100,
    };
    let mut fields = Vec::new();
    let parsed = ninefold_http1::parse_request_head(wire, limits, |n, v| {
        fields.push((n, v));
        Ok::<(), RequestError>(())
    });
    let head = match parsed {
        Ok(Some(head)) => head,
        Ok(None) => return Outcome::Refused("incomplete".into()),
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    // The target's syntax is checked by whoever routes on it (the gateway parses it
    // with `http::Uri`, as hyper does).
    let target = &wire[head.target.clone()];
    if http::Uri::try_from(target).is_err() {
        return Outcome::Refused("invalid target".into());
    }
    let method = String::from_utf8_lossy(&wire[head.method.clone()]);
    Outcome::Accepted(Seen {
        start: format!("{method} {}", String::from_utf8_lossy(target)),
        version: head.version,
        fields: sorted_fields(fields.into_iter()),
        length: announced(head.framing),
        body: our_body(head.framing, &wire[head.len..]),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn version_of(v: http::Version) -> u8 {
    if v == http::Version::HTTP_10 { 0 } else { 1 }
}

/// hyper's client sends `GET /` (or `HEAD /`) and reads `wire` as the answer, then the
/// end of the connection.
fn hyper_response(wire: &[u8], head_request: bool) -> Outcome {
    let wire = wire.to_vec();
    runtime().block_on(async move {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(client))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n")
                && server.read(&mut byte).await.is_ok_and(|n| n == 1)
            {
                request.push(byte[0]);
            }
            let _ = server.write_all(&wire).await;
            let _ = server.shutdown().await;
            // Hold the stream until the client is done.
            let _ = server.read_to_end(&mut request).await;
        });
        let method = if head_request {
            http::Method::HEAD
        } else {
            http::Method::GET
        };
        let request = http::Request::builder()
            .method(method)
            .uri("/")
            .header("host", "t")
            .body(Empty::new())
            .expect("a request");
        let read = async {
            match sender.send_request(request).await {
                Err(e) => Outcome::Refused(e.to_string()),
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let length = body.size_hint().exact();
                    let fields = parts
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                    Outcome::Accepted(Seen {
                        start: parts.status.as_u16().to_string(),
                        version: version_of(parts.version),
                        fields: sorted_fields(fields),
                        length,
                        body: body.collect().await.ok().map(|c| c.to_bytes().to_vec()),
                    })
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("hyper's client answered within 10 s")
    })
}

/// hyper's server reads `wire` as a request (then the end of the connection); its
/// service reads the body to its end.
fn hyper_request(wire: &[u8], _: bool) -> Outcome {
    let wire = wire.to_vec();
    runtime().block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
        let kept = seen.clone();
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let kept = kept.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let length = body.size_hint().exact();
                    let body = body.collect().await.ok().map(|c| c.to_bytes().to_vec());
                    let fields = parts
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                    *kept.lock().expect("not poisoned") = Some(Seen {
                        start: format!("{} {}", parts.method, parts.uri),
                        version: version_of(parts.version),
                        fields: sorted_fields(fields),
                        length,
                        body,
                    });
                    Ok::<_, Infallible>(http::Response::new(Empty::<Bytes>::new()))
                }
            });
        let conn = tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(server), service),
        );
        let talk = async {
            let _ = client.write_all(&wire).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            let _ = conn.await;
            answer
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), talk)
            .await
            .expect("hyper's server finished within 10 s");
        match seen.lock().expect("not poisoned").take() {
            Some(seen) => Outcome::Accepted(seen),
            None => Outcome::Refused(
                String::from_utf8_lossy(&answer)
                    .lines()
                    .next()
                    .unwrap_or("closed")
                    .to_owned(),
            ),
        }
    })
}

/// `httparse` with its default configuration: the head's syntax alone.
fn httparse_accepts_head(wire: &[u8], is_request: bool) -> bool {
    let mut fields = [httparse::EMPTY_HEADER; 100];
    let status = if is_request {
        httparse::Request::new(&mut fields).parse(wire)
    } else {
        httparse::Response::new(&mut fields).parse(wire)
    };
    matches!(status, Ok(httparse::Status::Complete(_)))
}

/// One message to all readers: `ours` and `theirs` agree, or differ only as a named
/// stricter class allows (`we refuse where hyper accepts`).
fn compare(
    message: &Message,
    wire: &[u8],
    ours: Outcome,
    theirs: Outcome,
    is_request: bool,
    tally: &mut Tally,
) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(wire);
    if !httparse_accepts_head(wire, is_request) {
        prop_assert!(
            matches!(ours, Outcome::Refused(_)),
            "httparse refuses the head's syntax, we accept: {text:?}"
        );
    }
    let stricter = message.stricter_than_hyper(is_request);
    let hyper_stricter = message.hyper_stricter();
    match (&ours, &theirs) {
        (Outcome::Refused(_), Outcome::Refused(_)) => tally.both_refuse += 1,
        (Outcome::Accepted(a), Outcome::Accepted(b)) => {
            tally.both_accept += 1;
            if a.body.is_some() && a.length.is_none() {
                tally.unannounced_bodies += 1;
            }
            prop_assert!(
                !stricter.is_some_and(|(_, on_head)| on_head),
                "class {stricter:?}, yet we accept: {text:?}"
            );
            if stricter.is_some() && a.body.is_none() && b.body.is_some() {
                // A chunked body's class: we refuse the body hyper reads.
                prop_assert_eq!(
                    &Seen {
                        body: None,
                        ..b.clone()
                    },
                    a,
                    "{:?}",
                    text
                );
            } else {
                prop_assert_eq!(a, b, "{:?}", text);
            }
        }
        (Outcome::Refused(why), Outcome::Accepted(_)) => {
            prop_assert!(
                stricter.is_some(),
                "we refuse ({why}) where hyper accepts, in no named class: {text:?}"
            );
            tally.we_are_stricter += 1;
        }
        (Outcome::Accepted(_), Outcome::Refused(why)) => {
            prop_assert!(
                hyper_stricter.is_some(),
                "we accept where hyper refuses ({why}): {text:?}"
            );
            tally.hyper_is_stricter += 1;
        }
    }
    Ok(())
}

/// How the cases of one run fell: each kind must occur, or the generator has drifted
/// away from what it is meant to cover.
#[derive(Debug, Default)]
struct Tally {
    both_accept: usize,
    both_refuse: usize,
    we_are_stricter: usize,
    hyper_is_stricter: usize,
    /// Accepted by both, read to their end without an announced length (chunked or
    /// close-delimited).
    unannounced_bodies: usize,
}

/// Runs `cases` generated messages through `check`, then requires every kind of case to
/// have occurred.
fn run<S: Strategy<Value = Message>>(
    strategy: S,
    is_request: bool,
    read_ours: fn(&[u8], bool) -> Outcome,
    read_theirs: fn(&[u8], bool) -> Outcome,
) {
    let config = ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    // A fixed seed: the same cases every run (a failure reproduces as it is).
    let rng = proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(config, rng);
    let tally = std::cell::RefCell::new(Tally::default());
    let result = runner.run(&strategy, |message| {
        let wire = message.render();
        let head_request = message.head_request;
        let (ours, theirs) = (
            read_ours(&wire, head_request),
            read_theirs(&wire, head_request),
        );
        compare(
            &message,
            &wire,
            ours,
            theirs,
            is_request,
            &mut tally.borrow_mut(),
        )
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let tally = tally.into_inner();
    eprintln!("{tally:?}");
    assert!(tally.both_accept >= 100, "{tally:?}");
    assert!(tally.both_refuse >= 100, "{tally:?}");
    assert!(tally.we_are_stricter >= 10, "{tally:?}");
    assert!(tally.unannounced_bodies >= 10, "{tally:?}");
}

/// Answers (status line, fields, body) read by `parse_head` + `BodyDecoder` and by
/// hyper's client frame alike.
#[test]
fn responses_frame_as_hyper_frames_them() {
    run(response(), false, ours_response, hyper_response);
}

/// Requests read by `parse_request_head` + `BodyDecoder` and by hyper's server frame
/// alike.
#[test]
fn requests_frame_as_hyper_frames_them() {
    run(request(), true, ours_request, hyper_request);
}
