//! Toxiproxy's stage-level toxics cases (a toxic between two channels, its
//! `ToxicStub`): `limit_data_test.go`, `slicer_test.go` and
//! `TestToxicStub_WriteOutput` of `toxic_test.go`, ported to our toxic's
//! stage on paused tokio time. The proxy-level cases are in
//! `toxiproxy_port_toxics.rs`.

use std::sync::Arc;
use std::time::Duration;

use ninefold::faults::proxy::stage::{Chunk, PipeEnd, StageCtx, StageIo, StageState};
use ninefold::faults::toxics::Toxic;
use ninefold::faults::wire::Attributes;
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

// ------------------------------------------------- stage-level: the ToxicStub

fn toxic(kind: &str, attrs: Value) -> Toxic {
    Toxic::from(&Attributes::decode(kind, Some(&attrs)).unwrap().unwrap())
}

/// A stage between two channels: the input's sender, the output's receiver,
/// the interrupt, and the running stage (which hands its ends back).
struct Stub {
    tx: Option<mpsc::Sender<Chunk>>,
    rx: mpsc::Receiver<Chunk>,
    interrupt: CancellationToken,
    run: Run,
}

/// The running stage: its ends come back only when it was interrupted (as
/// the link's controller gets them); otherwise they are dropped, which ends
/// the output as the link does.
type Run = tokio::task::JoinHandle<(Option<StageIo>, StageCtx, PipeEnd)>;

fn start(toxic: &Toxic, io: StageIo, ctx: StageCtx) -> Run {
    let toxic = toxic.clone();
    tokio::spawn(async move {
        let (mut io, mut ctx) = (io, ctx);
        let end = toxic.pipe(&mut io, &mut ctx).await;
        ((end == PipeEnd::Interrupted).then_some(io), ctx, end)
    })
}

fn stub(toxic: &Toxic) -> Stub {
    let (tx, input) = mpsc::channel(1);
    let (output, rx) = mpsc::channel(100);
    let interrupt = CancellationToken::new();
    let io = StageIo {
        input,
        output,
        interrupt: interrupt.clone(),
    };
    let ctx = StageCtx {
        rng: rand::rngs::StdRng::seed_from_u64(7),
        state: Arc::new(StageState::default()),
    };
    Stub {
        tx: Some(tx),
        rx,
        interrupt,
        run: start(toxic, io, ctx),
    }
}

fn buffer(size: usize, salt: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// check(): send `chunks`, end the input, and the output is exactly `expected`.
async fn limit_check(bytes: u64, chunks: &[Vec<u8>], expected: &[Vec<u8>]) {
    let mut s = stub(&toxic("limit_data", json!({"bytes": bytes})));
    let tx = s.tx.take().unwrap();
    let feeder = {
        let chunks = chunks.to_vec();
        tokio::spawn(async move {
            for c in chunks {
                if tx.send(Chunk::now(c)).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut out = Vec::new();
    while let Some(c) = s.rx.recv().await {
        out.push(c.data.to_vec());
    }
    assert_eq!(out, expected);
    feeder.await.unwrap();
    assert_eq!(s.run.await.unwrap().2, PipeEnd::Closed);
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_may_be_restarted() {
    let t = toxic("limit_data", json!({"bytes": 100}));
    let mut s = stub(&t);
    let (buf, buf2) = (buffer(90, 1), buffer(20, 2));
    let tx = s.tx.take().unwrap();
    tx.send(Chunk::now(buf.clone())).await.unwrap();
    assert_eq!(s.rx.recv().await.unwrap().data.as_ref(), buf.as_slice());
    s.interrupt.cancel();
    let (io, ctx, end) = s.run.await.unwrap();
    assert_eq!(end, PipeEnd::Interrupted);
    let mut io = io.unwrap();
    // Restarted with the same state (bytes already sent are remembered).
    io.interrupt = CancellationToken::new();
    let run = start(&t, io, ctx);
    tx.send(Chunk::now(buf2.clone())).await.unwrap();
    assert_eq!(s.rx.recv().await.unwrap().data.as_ref(), &buf2[..10]);
    let (_io, _ctx, end) = run.await.unwrap();
    assert_eq!(end, PipeEnd::Closed);
    assert!(s.rx.try_recv().is_err(), "no chunk left in the output");
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_may_be_interrupted() {
    let s = stub(&toxic("limit_data", json!({"bytes": 100})));
    s.interrupt.cancel();
    assert_eq!(s.run.await.unwrap().2, PipeEnd::Interrupted);
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_nil_should_close_pipe() {
    let mut s = stub(&toxic("limit_data", json!({"bytes": 100})));
    s.tx = None; // Go's nil chunk: the input ended.
    assert_eq!(s.run.await.unwrap().2, PipeEnd::Closed);
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_chunk_smaller_than_limit() {
    let buf = buffer(50, 3);
    let one = [buf];
    limit_check(100, &one, &one).await;
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_chunk_length_matches_limit() {
    let buf = buffer(100, 4);
    let one = [buf];
    limit_check(100, &one, &one).await;
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_chunk_bigger_than_limit() {
    let buf = buffer(150, 5);
    limit_check(100, std::slice::from_ref(&buf), &[buf[..100].to_vec()]).await;
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_multiple_chunks_match_than_limit() {
    let buf = buffer(25, 6);
    let four = vec![buf.clone(), buf.clone(), buf.clone(), buf];
    limit_check(100, &four, &four).await;
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_second_chunk_would_overflow_limit() {
    let (buf, buf2) = (buffer(90, 7), buffer(20, 8));
    limit_check(
        100,
        &[buf.clone(), buf2.clone()],
        &[buf, buf2[..10].to_vec()],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn test_limit_data_toxic_limit_is_set_to_zero() {
    limit_check(0, &[buffer(100, 9)], &[]).await;
}

/// The original collects slices until 10 ms pass without one; on paused
/// time that window ties with the 10 ms slice delay, so the input is ended
/// instead and slices are collected until the stage closes its output.
async fn slicer_case(attrs: Value, data: &[u8]) -> usize {
    let mut s = stub(&toxic("slicer", attrs));
    let tx = s.tx.take().unwrap();
    tx.send(Chunk::now(data.to_vec())).await.unwrap();
    drop(tx);
    let (mut buf, mut reads) = (Vec::new(), 0);
    while let Some(c) = s.rx.recv().await {
        reads += 1;
        buf.extend_from_slice(&c.data);
    }
    assert!(buf == data, "slices do not add up to the input");
    reads
}

#[tokio::test(start_paused = true)]
async fn test_slicer_toxic() {
    let data = "hello world ".repeat(40_000).into_bytes(); // 480 KB
    let reads = slicer_case(
        json!({"average_size": 1024, "size_variation": 512, "delay": 10}),
        &data,
    )
    .await;
    assert!(
        (480 / 2..=480 / 2 + 480).contains(&reads),
        "expected about 480 reads, got {reads}"
    );
}

#[tokio::test(start_paused = true)]
async fn test_slicer_toxic_zero_size_variation() {
    let data = "hello world ".repeat(2).into_bytes(); // 24 bytes
    let reads = slicer_case(json!({"average_size": 1, "delay": 10}), &data).await;
    assert_eq!(reads, 24);
}

/// Original: `ToxicStub.WriteOutput` fails after its timeout when nobody
/// reads, succeeds when a reader is there. Ours: a stage's send to an output
/// nobody reads does not complete (the link's controller bounds it, see
/// LINK_EDIT_TIMEOUT); with a reader it delivers the same bytes. Paused time.
#[tokio::test(start_paused = true)]
async fn test_toxic_stub_write_output() {
    let buf: Vec<u8> = (0..42u8).map(|i| i.wrapping_mul(37)).collect();
    // "when no read in 1 second": the output is full and never read.
    let (output, mut rx) = mpsc::channel(1);
    output.send(Chunk::now(vec![0u8])).await.unwrap();
    let (_tx, input) = mpsc::channel(1);
    let io = StageIo {
        input,
        output,
        interrupt: CancellationToken::new(),
    };
    let r = tokio::time::timeout(Duration::from_secs(1), io.send(Chunk::now(buf.clone()))).await;
    assert!(r.is_err(), "a write nobody reads must not complete");
    // "when read is available": the same write completes and carries the bytes.
    assert_eq!(rx.recv().await.unwrap().data.as_ref(), &[0u8]);
    let reader = tokio::spawn(async move { rx.recv().await.map(|c| c.data) });
    let sent = tokio::time::timeout(Duration::from_secs(5), io.send(Chunk::now(buf.clone()))).await;
    assert_eq!(sent, Ok(true));
    assert_eq!(reader.await.unwrap().unwrap().as_ref(), buf.as_slice());
}
