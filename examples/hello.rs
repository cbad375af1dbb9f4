//! The hello-world peer of every benchmark (`bench/load`, `bench/backend`,
//! `bench/gateway`): a bare hyper HTTP/1.1 server answering `ok`, on one
//! current-thread runtime so `taskset` gives it exactly one core.
//!
//! Usage: `hello [ADDR] [NAME]` (default `127.0.0.1:0`). It prints
//! `listening ADDR` and then a ready line
//! `{"event":"ready","role":"backend","instance":NAME,"addr":ADDR}` on stdout,
//! and answers with `X-Backend-Instance: NAME` so balancing is visible.

// println! is right here: an example that prints where it listens.
#![allow(clippy::disallowed_macros)]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let name = args.next().unwrap_or_else(|| "hello".to_owned());
    let name = HeaderValue::from_str(&name).map_err(std::io::Error::other)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        let local = listener.local_addr()?;
        println!("listening {local}");
        let mut ready = ninefold::topology::ready::ReadyLine::new("backend", local);
        ready.instance = name.to_str().ok().map(str::to_owned);
        ready.announce()?;
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => r?,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let name = name.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_: Request<hyper::body::Incoming>| {
                    let name = name.clone();
                    async move {
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
                        resp.headers_mut().insert("x-backend-instance", name);
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
