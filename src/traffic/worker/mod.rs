//! The worker loop: one thread, one current-thread runtime, its own
//! connections and recorder: nothing on the hot path is shared but the
//! per-tenant throttle model. Every random choice of a request comes from
//! generators seeded by (seed, phase, sequence number) alone
//! ([`super::request::request_rng`]), so request `k` is the same whichever
//! worker or shard sends it.
//!
//! Per phase, a producer puts jobs in a local queue: the open-loop producer at
//! the schedule's absolute instants, closed-loop users one at a time. The
//! phase's connection tasks take jobs in order. A job waiting for a free
//! connection is late, not lost: its latency runs from its intended instant.
//! Only beyond the in-flight cap (waiting + sent) is it dropped, and counted.
//!
//! ```text
//!  producer ──► queue (≤ cap) ──► connection task × C ──► recorder
//!  (schedule or VUs)                (send, await, classify)
//! ```
//!
//! A closed loop with no more users than connections skips the queue: each
//! user owns its connection and sends itself (one task switch less per request).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Admission, ClientFailure, Outcome, Recorder, Recording, classify};
use crate::scenario::TokenKind;

use super::client::{Answer, Targets};
use super::http2::H2Phase;
use super::hyper_client::{ClientKind, HyperPools, Link};
use super::plan::{Load, LoadPlan, PhasePlan};
use super::request::{PreparedClass, Stream, step_idempotency_key, step_rng};
use super::schedule::{ArrivalGen, rng_for, vus_at};
use super::tokens::TokenCache;

mod awake;
mod clock;
mod credentials;
mod flow;
mod producers;
mod record;

use clock::wait_until;
pub use record::LiveCounters;

/// How often an idle virtual user checks whether the ramp wants it.
const VU_IDLE_POLL: Duration = Duration::from_millis(20);

struct Job {
    intended: Instant,
    seq: u64,
    class: usize,
    tenant: Option<usize>,
    /// Closed loop: the user waiting for this job.
    done: Option<Rc<Notify>>,
}

struct Queue {
    jobs: RefCell<VecDeque<Job>>,
    notify: Notify,
    in_flight: Cell<usize>,
    cap: usize,
    closed: Cell<bool>,
    next_seq: Cell<u64>,
}

impl Queue {
    async fn next(&self) -> Option<Job> {
        loop {
            if let Some(job) = self.jobs.borrow_mut().pop_front() {
                return Some(job);
            }
            if self.closed.get() {
                return None;
            }
            self.notify.notified().await;
        }
    }
}

struct Attempt {
    sent: Instant,
    done: Instant,
    result: Result<Answer, ClientFailure>,
    verdict: Option<Admission>,
    /// The body sent, kept for a class that compares it with its read-back.
    sent_body: Option<Vec<u8>>,
}

/// One worker's state; lives on its thread only.
struct Worker {
    plan: Arc<LoadPlan>,
    recorder: RefCell<Recorder>,
    tokens: RefCell<TokenCache>,
    targets: Targets,
    buf: RefCell<String>,
    live: Arc<LiveCounters>,
    in_flight: Cell<u64>,
    current_second: Cell<u64>,
    /// `--client hyper`: the phases' hyper pools (`None`: the own client).
    hyper: Option<HyperPools>,
    /// Per phase, its HTTP/2 connections (`None`: the phase speaks HTTP/1.1).
    h2: Vec<Option<H2Phase>>,
    /// The thread kept awake while a flat-out closed loop's answers are due.
    awake: awake::Awake,
}

/// Run worker `index` on its own thread; the receiver yields its recording.
pub(crate) fn spawn(
    plan: Arc<LoadPlan>,
    index: usize,
    live: Arc<LiveCounters>,
    stop: CancellationToken,
) -> std::io::Result<tokio::sync::oneshot::Receiver<Recording>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("ninefold-load-{index}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a worker runtime");
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            let recording = local.block_on(&rt, run(plan, index, live, stop));
            let _ = tx.send(recording);
        })?;
    Ok(rx)
}

/// A worker's tasks: the producers and connection tasks of its phases, and
/// the phases' queues between them.
#[derive(Default)]
struct Tasks {
    producers: Vec<tokio::task::JoinHandle<()>>,
    connections: Vec<tokio::task::JoinHandle<()>>,
    queues: Vec<(usize, Rc<Queue>)>,
}

async fn run(
    plan: Arc<LoadPlan>,
    index: usize,
    live: Arc<LiveCounters>,
    stop: CancellationToken,
) -> Recording {
    let worker = Rc::new(Worker::new(plan, index, live));
    let local_stop = stop.child_token();
    let mut tasks = Tasks::default();
    for p in 0..worker.plan.phases.len() {
        start_phase(&worker, p, index, &local_stop, &mut tasks);
    }
    let watcher = abort_on_stop(&tasks, &local_stop);
    let awake = worker.keeps_awake(index).then(|| {
        let w = Rc::clone(&worker);
        tokio::task::spawn_local(async move { w.awake.run(&w.in_flight).await })
    });
    futures::future::join_all(tasks.producers).await;
    for (_, queue) in &tasks.queues {
        queue.closed.set(true);
        queue.notify.notify_waiters();
    }
    // Answers still outstanding get until the drain deadline (timeouts × retries).
    let drain = tokio::time::Instant::from_std(worker.plan.drain_deadline);
    let mut all = futures::future::join_all(tasks.connections);
    if tokio::time::timeout_at(drain, &mut all).await.is_err() {
        local_stop.cancel();
        all.await;
    }
    watcher.abort();
    if let Some(awake) = awake {
        awake.abort();
    }
    worker.finish(&tasks.queues)
}

/// Start phase `p`'s queue, connection tasks and producers on worker `index`
/// (nothing when the worker has no connection of the phase).
fn start_phase(
    worker: &Rc<Worker>,
    p: usize,
    index: usize,
    stop: &CancellationToken,
    tasks: &mut Tasks,
) {
    let phase = worker.phase(p);
    let conns = phase.share(index, phase.connections);
    if conns == 0 {
        return;
    }
    let queue = Rc::new(Queue {
        jobs: RefCell::new(VecDeque::new()),
        notify: Notify::new(),
        in_flight: Cell::new(0),
        cap: phase.share(index, phase.max_in_flight).max(1),
        closed: Cell::new(false),
        next_seq: Cell::new(phase.global_worker(index) as u64),
    });
    // HTTP/2: a sender per stream, `max_streams` per connection.
    let lanes = phase.h2_streams.map_or(conns, |streams| conns * streams);
    // Closed loop with a connection per user: users send themselves.
    let direct =
        matches!(phase.load, Load::Closed { .. }) && user_ids(phase, index).count() <= lanes;
    for _ in 0..if direct { 0 } else { lanes } {
        let (w, q, s) = (Rc::clone(worker), Rc::clone(&queue), stop.clone());
        tasks.connections.push(tokio::task::spawn_local(async move {
            w.connection_task(p, &q, &s).await
        }));
    }
    match &phase.load {
        Load::Open { poisson, .. } => {
            let (first, stride) = (phase.global_worker(index) as u64, phase.stride() as u64);
            let generator = if *poisson {
                // The phase's one generator: every worker draws the same process.
                ArrivalGen::poisson(first, stride, rng_for(worker.plan.seed, p, 0, 1))
            } else {
                ArrivalGen::uniform(first, stride)
            };
            let (w, q, s) = (Rc::clone(worker), Rc::clone(&queue), stop.clone());
            tasks.producers.push(tokio::task::spawn_local(async move {
                w.open_producer(p, &q, generator, &s).await
            }));
        }
        Load::Closed { .. } => {
            for vu in user_ids(phase, index) {
                let (w, q, s) = (Rc::clone(worker), Rc::clone(&queue), stop.clone());
                tasks.producers.push(tokio::task::spawn_local(async move {
                    w.virtual_user(p, &q, vu as u32, direct, &s).await
                }));
            }
        }
    }
    tasks.queues.push((p, queue));
}

/// The virtual users worker `index` runs in a closed-loop phase (none in an open one).
fn user_ids(phase: &PhasePlan, index: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
    let most = match &phase.load {
        Load::Closed {
            start_vus, stages, ..
        } => super::schedule::max_vus(*start_vus, stages) as usize,
        Load::Open { .. } => 0,
    };
    (phase.global_worker(index)..most).step_by(phase.stride())
}

/// Cancellation ends the producers and connection tasks by aborting them (dropping
/// what they were doing, as a `select!` on the token in each would), so that their
/// loops need not poll the token on every request.
fn abort_on_stop(tasks: &Tasks, stop: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let abort: Vec<_> = tasks
        .producers
        .iter()
        .chain(&tasks.connections)
        .map(tokio::task::JoinHandle::abort_handle)
        .collect();
    let s = stop.clone();
    tokio::task::spawn_local(async move {
        s.cancelled().await;
        abort.iter().for_each(tokio::task::AbortHandle::abort);
    })
}

fn new_recorder(plan: &LoadPlan, index: usize) -> Recorder {
    let rec = Recorder::new(Arc::clone(&plan.layout), plan.run_start, plan.tolerance_s);
    match &plan.live {
        Some(tx) => rec.with_live(tx.for_worker(index)),
        None => rec,
    }
}

impl Worker {
    fn new(plan: Arc<LoadPlan>, index: usize, live: Arc<LiveCounters>) -> Self {
        Worker {
            recorder: RefCell::new(new_recorder(&plan, index)),
            tokens: RefCell::new(TokenCache::new(plan.minter.clone(), &plan.tenants)),
            targets: Targets::new(plan.targets.clone(), index),
            buf: RefCell::new(String::with_capacity(256)),
            live,
            in_flight: Cell::new(0),
            current_second: Cell::new(0),
            hyper: (plan.client == ClientKind::Hyper).then(|| {
                let phases = plan.phases.iter().map(|phase| {
                    let conns = phase.share(index, phase.connections);
                    (conns > 0).then_some((conns, phase.timeout))
                });
                HyperPools::new(phases, &plan.targets, index)
            }),
            awake: awake::Awake::default(),
            h2: plan
                .phases
                .iter()
                .map(|phase| {
                    let streams = phase.h2_streams?;
                    Some(H2Phase::new(phase.share(index, phase.connections), streams))
                })
                .collect(),
            plan,
        }
    }

    /// The recording, with every job never sent before the run ended counted
    /// as dropped.
    fn finish(&self, queues: &[(usize, Rc<Queue>)]) -> Recording {
        let now = Instant::now();
        for (p, queue) in queues {
            for job in queue.jobs.borrow_mut().drain(..) {
                self.drop_job(*p, job.tenant, job.class, now);
            }
        }
        let duration = now.saturating_duration_since(self.plan.run_start);
        // Tasks are done, but the runtime may still hold their (finished) futures:
        // take the recorder out rather than unwrapping the Rc.
        let plain = Recorder::new(
            Arc::clone(&self.plan.layout),
            self.plan.run_start,
            self.plan.tolerance_s,
        );
        let recorder = self.recorder.replace(plain);
        let mut recording = recorder.finish(duration.as_secs_f64());
        recording.connection_setup = self.targets.take_setup();
        recording
    }

    fn phase(&self, p: usize) -> &PhasePlan {
        &self.plan.phases[p]
    }

    /// Whether worker `index` runs a closed loop without think time (see [`awake`]).
    fn keeps_awake(&self, index: usize) -> bool {
        self.plan.phases.iter().any(|phase| {
            matches!(phase.load, Load::Closed { think, .. } if think.is_zero())
                && phase.share(index, phase.connections) > 0
        })
    }

    /// Hand an admitted request to the phase's connections.
    fn enqueue(&self, queue: &Queue, job: Job) {
        queue.jobs.borrow_mut().push_back(job);
        queue.notify.notify_one();
    }

    /// Draw a request's class and tenant and count it in flight, or drop it at the cap.
    fn admit(
        &self,
        p: usize,
        queue: &Queue,
        intended: Instant,
        seq: u64,
        now: Instant,
        done: Option<Rc<Notify>>,
    ) -> Option<Job> {
        let (class, tenant) = self.plan.pick(p, seq);
        // A flow asks for each of its steps.
        let steps = self.phase(p).steps() as u64;
        if queue.in_flight.get() >= queue.cap {
            self.recorder.borrow_mut().scheduled(p, steps);
            let dropped = self.drop_job(p, tenant, class, now);
            self.live.dropped.fetch_add(dropped, Ordering::Relaxed);
            return None;
        }
        let mut rec = self.recorder.borrow_mut();
        rec.scheduled(p, steps);
        queue.in_flight.set(queue.in_flight.get() + 1);
        self.set_in_flight(self.in_flight.get() + 1);
        rec.in_flight(now, p, queue.in_flight.get() as u64, self.in_flight.get());
        Some(Job {
            intended,
            seq,
            class,
            tenant,
            done,
        })
    }

    /// A request has its outcome: it no longer counts in flight.
    fn release(&self, queue: &Queue) {
        queue.in_flight.set(queue.in_flight.get() - 1);
        self.set_in_flight(self.in_flight.get().saturating_sub(1));
    }

    fn set_in_flight(&self, n: u64) {
        self.in_flight.set(n);
        self.live.in_flight.store(n, Ordering::Relaxed);
    }

    /// What a connection task (or a user sending itself) of phase `p` sends with.
    fn link(&self, p: usize) -> Link {
        if let Some(Some(h2)) = self.h2.get(p) {
            return Link::H2(h2.stream());
        }
        self.hyper.as_ref().map_or(Link::Own(None), |h| h.link(p))
    }

    async fn connection_task(&self, p: usize, queue: &Queue, stop: &CancellationToken) {
        let mut conn = self.link(p);
        let cancelled = stop.cancelled();
        tokio::pin!(cancelled);
        loop {
            conn.idle();
            let job = tokio::select! {
                biased;
                () = &mut cancelled => return,
                job = queue.next() => match job {
                    Some(job) => job,
                    None => return,
                },
            };
            let done = job.done.clone();
            tokio::select! {
                biased;
                () = &mut cancelled => return,
                () = self.execute(p, &mut conn, job, None) => {}
            }
            self.release(queue);
            if let Some(done) = done {
                done.notify_one();
            }
        }
    }

    /// What the throttle model says of an attempt sent at `now` with a valid
    /// token of a tenant (fed in send order); `None` for anything else.
    fn throttle_verdict(
        &self,
        job: &Job,
        class: &PreparedClass,
        now: Instant,
    ) -> Option<Admission> {
        let (Some(t), TokenKind::Valid) = (job.tenant, class.token) else {
            return None;
        };
        let t_s = now
            .saturating_duration_since(self.plan.run_start)
            .as_secs_f64();
        let mut model = self.plan.models[t]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(model.offer(t_s))
    }

    /// The token `job` carries when no OAuth2 token does: minted for its tenant
    /// and kind (none when it cannot be minted).
    #[inline]
    fn minted_token(&self, job: &Job, class: &PreparedClass, now: Instant) -> Option<HeaderValue> {
        self.tokens
            .borrow_mut()
            .header(job.tenant, class.token, now)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot mint a token; sending none");
                None
            })
    }

    /// Render `job`'s request of `class` into the connection's send buffer.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        p: usize,
        class: &PreparedClass,
        conn: &mut Link,
        job: &Job,
        auth: Option<&HeaderValue>,
        key: Option<&HeaderValue>,
        flow: &[Option<String>],
    ) -> Result<Option<Vec<u8>>, ClientFailure> {
        let tenant = job.tenant.map(|t| (t, self.plan.tenants[t].id.as_str()));
        let mut buf = self.buf.borrow_mut();
        // Fresh for every attempt: a retry sends the request it repeats.
        let step = self.phase(p).step_of(job.class);
        let mut rng = step_rng(self.plan.seed, p, job.seq, step, Stream::Render);
        let Some((out, host)) = conn.request_buf() else {
            return Err(ClientFailure::Connect);
        };
        class
            .build(
                out, &mut buf, &mut rng, job.seq, tenant, host, auth, key, flow,
            )
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot build a request");
                ClientFailure::Io
            })?;
        Ok(class.keeps_sent_body().then(|| record::body_of(out)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        p: usize,
        class: &PreparedClass,
        conn: &mut Link,
        job: &Job,
        key: Option<&HeaderValue>,
        clock: Option<Instant>,
        flow: &[Option<String>],
    ) -> Attempt {
        let phase = self.phase(p);
        // No OAuth2 tenant in the run (the common case): no future to make and poll.
        let oauth = match &self.plan.oauth {
            None => None,
            Some(_) => match self.oauth_header(job, class).await {
                Ok(h) => h,
                Err(failed) => return failed,
            },
        };
        let usable = conn.ready(&self.targets, phase.timeout).await;
        // The caller's reading is the send instant only when no connect came between.
        let now = match clock {
            Some(t) if usable == Ok(true) => t,
            _ => Instant::now(),
        };
        let failed = |result| Attempt {
            sent: now,
            done: now,
            result: Err(result),
            verdict: None,
            sent_body: None,
        };
        if let Err(failure) = usable {
            return failed(failure);
        }
        let auth = oauth.or_else(|| self.minted_token(job, class, now));
        let sent_body = match self.render(p, class, conn, job, auth.as_ref(), key, flow) {
            Ok(body) => body,
            Err(failure) => return failed(failure),
        };
        let verdict = self.throttle_verdict(job, class, now);
        // Writes keep the body: the order id in it goes into the integrity ledger; so do
        // classes that check or extract from it. (The client keeps error bodies, 400
        // and above, whatever this says.)
        let keep_body = class.idempotency_key || class.method == Method::POST || class.reads_body();
        // A failed own connection is dropped: it cannot carry another request.
        let result = conn
            .exchange_from(
                &self.targets,
                now,
                class.method == Method::HEAD,
                keep_body,
                phase.timeout,
            )
            .await;
        Attempt {
            sent: now,
            done: Instant::now(),
            result,
            verdict,
            sent_body,
        }
    }
}
