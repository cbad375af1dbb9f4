//! The run's process table: every child by name, its lifecycle events, and
//! replacement of dead instances after a launch delay (as an Auto Scaling
//! group would). A death nobody asked for is recorded, never waited on.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::child::{ChildError, ChildSpec, ReadySignal, RunningChild};
use super::ready::ReadyLine;

/// Something that happened to a process, on the run clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub instance: String,
    pub event: Lifecycle,
    /// Seconds since the run clock's zero (negative during start-up).
    pub at_s: f64,
    pub detail: String,
}

/// Kinds of lifecycle events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Ready,
    /// Exited after a signal ninefold sent.
    Exited,
    /// Exited when nothing asked it to.
    DiedUnexpectedly,
    /// A replacement was started.
    Replaced,
    ReplaceFailed,
}

/// Builds the arguments of a (re)start.
pub type ArgsFn = Arc<dyn Fn() -> Vec<OsString> + Send + Sync>;

/// Called with (name, ready line) when a replacement is up.
pub type ReplacedFn = Arc<dyn Fn(String, ReadyLine) + Send + Sync>;

/// How a slot's process is started and replaced.
pub struct SlotSpec {
    pub name: String,
    pub args: ArgsFn,
    pub program: Option<std::path::PathBuf>,
    pub log: std::path::PathBuf,
    pub ready_timeout: Duration,
    /// Replace the process this long after it dies (any death).
    pub replace_after: Option<Duration>,
    /// How the process says it is ready.
    pub ready: ReadySignal,
    /// Variables set on top of the harness's environment.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (default: the harness's).
    pub cwd: Option<std::path::PathBuf>,
}

struct Slot {
    spec: SlotSpec,
    child: Option<Arc<RunningChild>>,
    /// Set when ninefold sent the signal that ends the process.
    expected_exit: bool,
    /// Bumped on every start, so a stale watcher does nothing.
    generation: u64,
}

/// Shared state of the process table.
struct Inner {
    slots: Mutex<BTreeMap<String, Slot>>,
    /// Events with the instant they happened; `at_s` is computed when read,
    /// so events from before the run clock starts get their true negative time.
    events: Mutex<Vec<(Instant, LifecycleEvent)>>,
    /// Bumped on every event, so waiters need no polling.
    event_count: tokio::sync::watch::Sender<usize>,
    run_start: Mutex<Option<Instant>>,
    created: Instant,
    tasks: TaskTracker,
    cancel: CancellationToken,
    /// Called with (name, new ready line) when a replacement is up, so links follow it.
    on_replaced: Mutex<Option<ReplacedFn>>,
}

/// The process table. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor(Arc<Inner>);

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            slots: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
            event_count: tokio::sync::watch::Sender::new(0),
            run_start: Mutex::new(None),
            created: Instant::now(),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            on_replaced: Mutex::new(None),
        }))
    }

    /// Set the run clock's zero (events before it have negative times).
    pub fn set_run_start(&self, start: Instant) {
        *self.0.run_start.lock().unwrap_or_else(|e| e.into_inner()) = Some(start);
    }

    /// Be told when a replacement is ready (to repoint its link).
    pub fn on_replaced(&self, f: ReplacedFn) {
        *self.0.on_replaced.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Seconds now on the run clock (the clock of the lifecycle events).
    pub fn now_s(&self) -> f64 {
        self.clock_s(Instant::now())
    }

    /// Seconds of `at` on the run clock (from creation until the clock is set).
    fn clock_s(&self, at: Instant) -> f64 {
        let start = self
            .0
            .run_start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(self.0.created);
        if at >= start {
            (at - start).as_secs_f64()
        } else {
            -(start - at).as_secs_f64()
        }
    }

    fn record(&self, instance: &str, event: Lifecycle, detail: String) {
        let e = LifecycleEvent {
            instance: instance.to_owned(),
            event,
            at_s: 0.0,
            detail,
        };
        self.0
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((Instant::now(), e));
        self.0.event_count.send_modify(|n| *n += 1);
    }

    /// Wait until an event matching `pred` has happened, at most `timeout`.
    pub async fn wait_for_event(
        &self,
        pred: impl Fn(&LifecycleEvent) -> bool,
        timeout: Duration,
    ) -> bool {
        let mut rx = self.0.event_count.subscribe();
        let found = async {
            loop {
                if self.events().iter().any(&pred) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, found).await.unwrap_or(false)
    }

    /// Changes whenever a lifecycle event is recorded (the count so far).
    pub fn subscribe_events(&self) -> tokio::sync::watch::Receiver<usize> {
        self.0.event_count.subscribe()
    }

    /// Every lifecycle event so far.
    pub fn events(&self) -> Vec<LifecycleEvent> {
        let events = self
            .0
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        events
            .into_iter()
            .map(|(at, e)| LifecycleEvent {
                at_s: self.clock_s(at),
                ..e
            })
            .collect()
    }

    /// Start a slot's first process and wait until it is ready.
    pub async fn start(&self, spec: SlotSpec) -> Result<ReadyLine, ChildError> {
        let name = spec.name.clone();
        let child = spawn(&spec).await?;
        let ready = child.ready.clone();
        let child = Arc::new(child);
        let generation = {
            let mut slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(name.clone()).or_insert(Slot {
                spec,
                child: None,
                expected_exit: false,
                generation: 0,
            });
            slot.generation += 1;
            slot.child = Some(Arc::clone(&child));
            slot.generation
        };
        self.record(&name, Lifecycle::Ready, ready.addr.to_string());
        self.watch(name, child, generation);
        Ok(ready)
    }

    fn watch(&self, name: String, child: Arc<RunningChild>, generation: u64) {
        let this = self.clone();
        let cancel = self.0.cancel.clone();
        self.0.tasks.spawn(async move {
            let mut rx = child.exit_watch();
            tokio::select! {
                r = rx.wait_for(Option::is_some) => { if r.is_err() { return; } }
                () = cancel.cancelled() => return,
            }
            let exit = child.exit().map(|e| e.status).unwrap_or_default();
            let (expected, replace_after) = {
                let mut slots = this.0.slots.lock().unwrap_or_else(|e| e.into_inner());
                let Some(slot) = slots.get_mut(&name) else {
                    return;
                };
                if slot.generation != generation {
                    return;
                }
                let expected = std::mem::take(&mut slot.expected_exit);
                slot.child = None;
                (expected, slot.spec.replace_after)
            };
            let kind = if expected {
                Lifecycle::Exited
            } else {
                Lifecycle::DiedUnexpectedly
            };
            this.record(&name, kind, exit);
            if let Some(delay) = replace_after {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = cancel.cancelled() => return,
                }
                this.replace(&name, generation).await;
            }
        });
    }

    /// Start a replacement now unless one started since `generation`.
    async fn replace(&self, name: &str, generation: u64) {
        let spec = {
            let slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            let Some(slot) = slots.get(name) else { return };
            if slot.generation != generation || slot.child.is_some() {
                return;
            }
            let s = &slot.spec;
            SlotSpec {
                name: name.to_owned(),
                args: Arc::clone(&s.args),
                program: s.program.clone(),
                log: s.log.clone(),
                ready_timeout: s.ready_timeout,
                replace_after: None,
                ready: s.ready.clone(),
                env: s.env.clone(),
                cwd: s.cwd.clone(),
            }
        };
        match spawn(&spec).await {
            Ok(child) => {
                let ready = child.ready.clone();
                let child = Arc::new(child);
                let generation = {
                    let mut slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(slot) = slots.get_mut(name) else {
                        return;
                    };
                    slot.generation += 1;
                    slot.child = Some(Arc::clone(&child));
                    slot.generation
                };
                self.record(name, Lifecycle::Replaced, ready.addr.to_string());
                let hook = self
                    .0
                    .on_replaced
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if let Some(hook) = hook {
                    hook(name.to_owned(), ready);
                }
                self.watch(name.to_owned(), child, generation);
            }
            Err(e) => self.record(name, Lifecycle::ReplaceFailed, e.to_string()),
        }
    }

    /// Start a replacement of `name` at once (the `restart` fault, or a kill's revert).
    pub async fn restart_now(&self, name: &str) -> Result<(), String> {
        let generation = {
            let slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots
                .get(name)
                .ok_or_else(|| format!("no process {name}"))?;
            if slot.child.is_some() {
                return Err(format!("{name} is still running"));
            }
            slot.generation
        };
        self.replace(name, generation).await;
        let slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(name).and_then(|s| s.child.as_ref()) {
            Some(_) => Ok(()),
            None => Err(format!("{name} did not come back")),
        }
    }

    /// The running process of a slot.
    pub fn child(&self, name: &str) -> Option<Arc<RunningChild>> {
        self.0
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .and_then(|s| s.child.clone())
    }

    /// Send `signal`; a terminating signal marks the coming exit as expected.
    pub fn signal(&self, name: &str, signal: Signal) -> Result<(), String> {
        let child = {
            let mut slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots
                .get_mut(name)
                .ok_or_else(|| format!("no process {name}"))?;
            let child = slot
                .child
                .clone()
                .ok_or_else(|| format!("{name} is not running"))?;
            if matches!(signal, Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT) {
                slot.expected_exit = true;
            }
            child
        };
        child.signal(signal).map_err(|e| e.to_string())
    }

    /// Kill `name` and wait until it is gone (at most `timeout`).
    pub async fn kill_and_wait(
        &self,
        name: &str,
        signal: Signal,
        timeout: Duration,
    ) -> Result<(), String> {
        let child = self
            .child(name)
            .ok_or_else(|| format!("{name} is not running"))?;
        self.signal(name, signal)?;
        child
            .wait(timeout)
            .await
            .map(|_| ())
            .ok_or_else(|| format!("{name} did not exit within {timeout:?}"))
    }

    /// Stop every watcher and every process: SIGTERM, then SIGKILL after `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.0.cancel.cancel();
        let children: Vec<Arc<RunningChild>> = {
            let mut slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .values_mut()
                .filter_map(|s| {
                    s.expected_exit = true;
                    s.child.take()
                })
                .collect()
        };
        futures::future::join_all(children.iter().map(|c| c.shutdown(grace))).await;
        self.0.tasks.close();
        let _ = tokio::time::timeout(grace, self.0.tasks.wait()).await;
    }
}

async fn spawn(spec: &SlotSpec) -> Result<RunningChild, ChildError> {
    RunningChild::spawn(&ChildSpec {
        name: spec.name.clone(),
        program: spec.program.clone(),
        args: (spec.args)(),
        log: spec.log.clone(),
        ready_timeout: spec.ready_timeout,
        ready: spec.ready.clone(),
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
    })
    .await
}
