//! The client against independent HTTP/2 servers on 127.0.0.1:0: the `h2` crate's
//! server (settings of our choosing, resets, graceful GOAWAY, bodies both ways past
//! every window), hyper's HTTP/2 server, and nghttpd (nghttp2) when it is installed.
//! Every expected value comes from what the servers were told to do and saw.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ninefold_http2::{Client, Config, OpenError, StreamError, handshake};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::LocalSet;

/// Every wait in these tests is bounded by this.
const DEADLINE: Duration = Duration::from_secs(20);

/// Await every future, keeping their order.
async fn join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut fs: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..fs.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in fs.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

/// A request's method, path, authority and `x-test` field.
type SeenHead = (String, String, String, Option<String>);

/// What the h2 server saw.
#[derive(Default)]
struct Seen {
    open: AtomicUsize,
    most_open: AtomicUsize,
    requests: AtomicUsize,
    /// `(method, path, authority, x-test header)` of each request.
    heads: Mutex<Vec<SeenHead>>,
}

/// The h2 crate's server: `/echo` answers with the request's body, `/big/N` with N
/// bytes, `/reset` resets with REFUSED_STREAM, `/hold` answers after 20 ms (streams
/// then overlap), `/goaway` starts a graceful shutdown and answers.
async fn h2_server(builder: h2::server::Builder) -> (std::net::SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = Arc::clone(&seen2);
            let builder = builder.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = builder.handshake::<_, Bytes>(tcp).await else {
                    return;
                };
                let goaway = Arc::new(tokio::sync::Notify::new());
                loop {
                    let next = tokio::select! {
                        n = conn.accept() => n,
                        () = goaway.notified() => {
                            conn.graceful_shutdown();
                            continue;
                        }
                    };
                    let Some(Ok((req, respond))) = next else {
                        break;
                    };
                    let seen = Arc::clone(&seen);
                    let goaway = Arc::clone(&goaway);
                    tokio::spawn(answer(req, respond, seen, goaway));
                }
            });
        }
    });
    (addr, seen)
}

async fn answer(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    seen: Arc<Seen>,
    goaway: Arc<tokio::sync::Notify>,
) {
    let now = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most_open.fetch_max(now, Ordering::SeqCst);
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let (parts, mut body) = req.into_parts();
    seen.heads.lock().unwrap().push((
        parts.method.to_string(),
        parts.uri.path().to_string(),
        parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        parts
            .headers
            .get("x-test")
            .map(|v| v.to_str().unwrap().to_string()),
    ));
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    let path = parts.uri.path().to_string();
    let reply = match path.as_str() {
        "/echo" => Bytes::from(received),
        "/reset" => {
            seen.open.fetch_sub(1, Ordering::SeqCst);
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            return;
        }
        "/hold" => {
            // Holding the answer is what makes streams overlap (the case under test).
            tokio::time::sleep(Duration::from_millis(20)).await;
            Bytes::from_static(b"held")
        }
        "/goaway" => {
            goaway.notify_one();
            Bytes::from_static(b"bye")
        }
        p => match p.strip_prefix("/big/") {
            Some(n) => Bytes::from(vec![b'b'; n.parse().unwrap()]),
            None => Bytes::from_static(b"hello"),
        },
    };
    seen.open.fetch_sub(1, Ordering::SeqCst);
    let response = http::Response::builder()
        .status(if path == "/missing" { 404 } else { 200 })
        .header("content-length", reply.len())
        .header("x-server", "h2")
        .body(())
        .unwrap();
    let mut send = respond.send_response(response, reply.is_empty()).unwrap();
    if reply.is_empty() {
        return;
    }
    // Send as the client's window allows.
    let mut rest = reply;
    while !rest.is_empty() {
        send.reserve_capacity(rest.len());
        let Some(Ok(n)) = std::future::poll_fn(|cx| send.poll_capacity(cx)).await else {
            return;
        };
        let chunk = rest.split_to(n.min(rest.len()));
        send.send_data(chunk, rest.is_empty()).unwrap();
    }
}

async fn connect(addr: std::net::SocketAddr) -> Client {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (client, driver) = tokio::time::timeout(DEADLINE, handshake(tcp, Config::default()))
        .await
        .expect("handshake in time")
        .expect("handshake");
    tokio::task::spawn_local(async move {
        let _ = driver.await;
    });
    client
}

fn get(c: &Client, path: &str, keep: bool) -> ninefold_http2::ResponseFuture {
    c.send(
        b"GET",
        b"http",
        b"test.local",
        path.as_bytes(),
        [
            (&b"x-test"[..], &b"yes"[..]),
            (b"Connection", b"keep-alive"),
        ],
        Bytes::new(),
        keep,
    )
    .unwrap()
}

fn local<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = LocalSet::new().block_on(&rt, async { tokio::time::timeout(DEADLINE, f).await });
    out.expect("within the deadline")
}

#[test]
fn many_streams_within_the_servers_limit_all_answered() {
    local(async {
        let mut b = h2::server::Builder::new();
        b.max_concurrent_streams(5);
        let (addr, seen) = h2_server(b).await;
        let c = connect(addr).await;
        assert_eq!(c.max_concurrent(), 5);
        let fs: Vec<_> = (0..50).map(|_| get(&c, "/hold", false)).collect();
        let answers = join_all(fs).await;
        for a in &answers {
            let r = a.as_ref().expect("answered");
            assert_eq!(r.status, 200);
        }
        assert_eq!(seen.requests.load(Ordering::SeqCst), 50);
        let most = seen.most_open.load(Ordering::SeqCst);
        assert!(
            (2..=5).contains(&most),
            "at most the server's 5 at once, some overlap: {most}"
        );
        // Pseudo-headers and fields as sent; `connection` dropped (RFC 9113 §8.2.2).
        let heads = seen.heads.lock().unwrap();
        assert!(heads.iter().all(|h| h
            == &(
                "GET".to_string(),
                "/hold".to_string(),
                "test.local".to_string(),
                Some("yes".to_string())
            )));
    });
}

#[test]
fn bodies_cross_every_window_both_ways() {
    local(async {
        // The server grants 16 KiB per stream and connection at first (a request body
        // must wait for its WINDOW_UPDATEs); its answers (3 MiB) pass our 1 MiB
        // stream window.
        let mut b = h2::server::Builder::new();
        b.initial_window_size(16_384).header_table_size(0);
        let (addr, _) = h2_server(b).await;
        let c = connect(addr).await;
        let body: Bytes = (0..300_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let echo = c
            .send(b"POST", b"http", b"t", b"/echo", [], body.clone(), true)
            .unwrap()
            .await
            .expect("echoed");
        assert_eq!(echo.body.as_deref(), Some(&body[..]));
        let big = 3 << 20;
        let r = get(&c, &format!("/big/{big}"), false)
            .await
            .expect("big answer");
        assert_eq!(r.status, 200);
        assert!(r.body.is_none(), "read, not kept");
        let head = String::from_utf8(r.head).unwrap();
        assert!(
            head.contains(&format!("content-length: {big}\r\n")),
            "{head}"
        );
        assert!(head.contains("x-server: h2\r\n"));
        // Kept when asked, up to the limit (1 MiB): 2 MiB is read and dropped.
        let r = get(&c, "/big/2097152", true).await.unwrap();
        assert!(r.body.is_none());
        let r = get(&c, "/big/1000", true).await.unwrap();
        assert_eq!(r.body.map(|b| b.len()), Some(1000));
        // A second round on the same connection with the table size 0 encoder.
        for _ in 0..3 {
            assert_eq!(
                get(&c, "/", true).await.unwrap().body.as_deref(),
                Some(&b"hello"[..])
            );
        }
    });
}

#[test]
fn resets_and_goaway_are_what_the_server_did() {
    local(async {
        let (addr, seen) = h2_server(h2::server::Builder::new()).await;
        let c = connect(addr).await;
        assert!(matches!(
            get(&c, "/reset", false).await,
            Err(StreamError::Reset(7))
        ));
        let r = get(&c, "/missing", false).await.unwrap();
        assert_eq!((r.status, r.body.as_deref()), (404, Some(&b"hello"[..])));
        // A graceful shutdown: the stream that asked for it is answered; once the
        // GOAWAY has arrived, new streams are refused before anything is sent.
        let r = get(&c, "/goaway", false).await.unwrap();
        assert_eq!(r.status, 200);
        let start = tokio::time::Instant::now();
        while c.is_open() {
            assert!(start.elapsed() < DEADLINE, "GOAWAY arrives");
            tokio::task::yield_now().await;
            // Poll interval of a wait bounded by DEADLINE: the handle has no close event.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let before = seen.requests.load(Ordering::SeqCst);
        assert!(matches!(
            c.send(b"GET", b"http", b"t", b"/", [], Bytes::new(), false),
            Err(OpenError::GoingAway | OpenError::Closed(_))
        ));
        assert_eq!(seen.requests.load(Ordering::SeqCst), before);
    });
}

#[test]
fn a_cancelled_stream_leaves_the_connection_usable() {
    local(async {
        let (addr, _) = h2_server(h2::server::Builder::new()).await;
        let c = connect(addr).await;
        let f = get(&c, "/hold", false);
        drop(f);
        let r = get(&c, "/", false).await.unwrap();
        assert_eq!(r.status, 200);
    });
}

#[test]
fn hyper_http2_server_answers() {
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    local(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let text = format!("{} {}", req.method(), req.uri().path());
                    Ok::<_, hyper::Error>(
                        http::Response::builder()
                            .header("x-echo", text.clone())
                            .body(Full::new(Bytes::from(text)))
                            .unwrap(),
                    )
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .max_concurrent_streams(3)
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        let c = Rc::new(connect(addr).await);
        let fs: Vec<_> = (0..20).map(|i| get(&c, &format!("/n/{i}"), true)).collect();
        for (i, a) in join_all(fs).await.into_iter().enumerate() {
            let r = a.expect("answered");
            assert_eq!(r.status, 200);
            let want = format!("GET /n/{i}");
            assert_eq!(r.body.as_deref(), Some(want.as_bytes()));
            let head = String::from_utf8(r.head).unwrap();
            assert!(head.contains(&format!("x-echo: {want}\r\n")), "{head}");
        }
    });
}

#[test]
fn nghttpd_serves_the_client_when_installed() {
    let Some(nghttpd) = ["/usr/sbin/nghttpd", "/usr/bin/nghttpd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("nghttpd not installed (apt-get install -y nghttp2-server): skipped");
        return;
    };
    let dir = std::env::temp_dir().join(format!("nf-h2-nghttpd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "hello from nghttpd\n").unwrap();
    // nghttpd takes a port number: a free one, found by binding :0 and letting go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(nghttpd)
        .args(["--no-tls", "-a", "127.0.0.1", "-d"])
        .arg(&dir)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    local(async move {
        // Ready when it accepts a connection.
        let start = tokio::time::Instant::now();
        while TcpStream::connect(addr).await.is_err() {
            assert!(start.elapsed() < DEADLINE, "nghttpd listens");
            // Poll interval between connection attempts (nghttpd prints no ready line).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let c = connect(addr).await;
        let fs: Vec<_> = (0..200).map(|_| get(&c, "/", true)).collect();
        for a in join_all(fs).await {
            let r = a.expect("answered");
            assert_eq!(r.status, 200);
            assert_eq!(r.body.as_deref(), Some(&b"hello from nghttpd\n"[..]));
        }
        let r = get(&c, "/nothing-here", false).await.unwrap();
        assert_eq!(r.status, 404);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
