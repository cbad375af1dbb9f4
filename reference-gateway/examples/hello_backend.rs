//! A tiny hyper hello server for benchmarks: answers every request `200 ok` with an
//! `X-Backend-Instance` header, on one current-thread runtime. Prints
//! `{"event":"ready","role":"backend","addr":…}` once it accepts connections.
//!
//! `cargo run --release -p reference-gateway --example hello_backend -- 127.0.0.1:0 name`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let name = args.next().unwrap_or_else(|| "hello".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!(
            "{{\"event\":\"ready\",\"role\":\"backend\",\"addr\":\"{}\"}}",
            listener.local_addr()?
        );
        let name = hyper::header::HeaderValue::from_str(&name).map_err(std::io::Error::other)?;
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => r?,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let name = name.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let name = name.clone();
                    async move {
                        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
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
