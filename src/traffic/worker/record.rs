//! What a worker keeps of each request once it has its outcome: the recorder's sample,
//! the tenant's throttle verdict against the `RateLimit-*` headers, the acknowledged
//! write for the integrity ledger, and the live counters the progress line reads.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Method};

use crate::metrics::{
    AckedWrite, Admission, ClientFailure, LimitHeaders, Outcome, Recorder, Sample,
};

use super::{Attempt, Job, Worker};
use crate::traffic::client::Answer;

/// Counters the progress line reads while the run goes (one writer each).
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub answered: AtomicU64,
    pub bad: AtomicU64,
    pub dropped: AtomicU64,
    pub in_flight: AtomicU64,
    pub p99_us: AtomicU64,
    /// The largest dispatch lag since the last [`LiveCounters::take_dispatch_lag`], in
    /// µs plus one (0: nothing dispatched since): raised by the producer, reset by the reader.
    dispatch_lag: AtomicU64,
    /// What the last take found (same encoding), for a reader that does not take.
    dispatch_lag_taken: AtomicU64,
}

impl LiveCounters {
    /// An arrival was dispatched `lag_us` late (the hot path's one relaxed atomic op).
    #[inline]
    pub fn dispatched(&self, lag_us: u64) {
        self.dispatch_lag
            .fetch_max(lag_us.saturating_add(1), Ordering::Relaxed);
    }

    /// The largest dispatch lag since the last take, µs (`None`: nothing was
    /// dispatched since), and start the next interval. One reader takes.
    pub fn take_dispatch_lag(&self) -> Option<u64> {
        let v = self.dispatch_lag.swap(0, Ordering::Relaxed);
        self.dispatch_lag_taken.store(v, Ordering::Relaxed);
        v.checked_sub(1)
    }

    /// What the last [`LiveCounters::take_dispatch_lag`] returned (for other readers).
    pub fn last_dispatch_lag(&self) -> Option<u64> {
        self.dispatch_lag_taken
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }
}

impl Worker {
    /// One answer handed to each of its consumers in order: the keep-awake loop,
    /// the recorder, the throttle judge, the integrity ledger and the live counters.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        p: usize,
        job: &Job,
        attempt: &Attempt,
        outcome: Outcome,
        retries: u32,
        key: Option<HeaderValue>,
        reason: Option<&str>,
    ) {
        let answered = attempt.result.is_ok();
        if answered {
            self.awake.answered(attempt.done);
        }
        let mut rec = self.recorder.borrow_mut();
        record_sample(&mut rec, p, job, attempt, outcome, retries, reason);
        if let (Some(t), Some(v)) = (job.tenant, &attempt.verdict) {
            judge_throttle(&mut rec, t, v, attempt, true);
        }
        self.ledger_write(&mut rec, p, job, attempt, key);
        self.count_live(&mut rec, answered, outcome);
    }

    /// The integrity ledger: a successful write (a keyed request, or an unkeyed
    /// POST) with the id it was given, its second, and the fields it sent.
    #[inline]
    fn ledger_write(
        &self,
        rec: &mut Recorder,
        p: usize,
        job: &Job,
        attempt: &Attempt,
        key: Option<HeaderValue>,
    ) {
        let answer = attempt.result.as_ref().ok();
        // An unkeyed POST is a write too: ledgered with an empty key, so that
        // the integrity check can tell which stored orders nobody acknowledged.
        let key = match key {
            Some(k) => Some(k.to_str().unwrap_or_default().to_owned()),
            None => (self.phase(p).classes[job.class].method == Method::POST).then(String::new),
        };
        if let (Some(key), Some(a)) = (key, answer)
            && a.is_success()
        {
            let second = rec.run_seconds(attempt.done) as u32;
            let integrity = self.phase(p).classes[job.class].integrity.as_deref();
            rec.acked_write(AckedWrite {
                key,
                order_id: match integrity {
                    Some(i) if i.id.is_some() => json_body(a).and_then(|v| i.id_in(&v)),
                    _ => order_id(a),
                },
                status: a.status,
                phase: self.phase(p).name.clone(),
                tenant: job.tenant.map(|t| self.plan.tenants[t].id.clone()),
                second,
                class: integrity.map(|_| job.class as u32),
                sent: integrity
                    .filter(|i| !i.compare.is_empty())
                    .and_then(|i| i.sent_fields(attempt.sent_body.as_deref()?)),
            });
        }
    }

    /// The counters the progress line reads: answered, bad, and last second's p99
    /// (published once per second, not per request).
    #[inline]
    fn count_live(&self, rec: &mut Recorder, answered: bool, outcome: Outcome) {
        if answered {
            self.live.answered.fetch_add(1, Ordering::Relaxed);
        }
        if !outcome.is_good() {
            self.live.bad.fetch_add(1, Ordering::Relaxed);
        }
        let second = u64::from(rec.live_second());
        if second != self.current_second.get() {
            self.current_second.set(second);
            self.live
                .p99_us
                .store(rec.current_p99_us(), Ordering::Relaxed);
        }
    }
}

/// The recorder's sample of one request: its times, outcome, status, instance,
/// retries, and an example body (an HTTP/2 reset's error code where it has none).
#[inline]
fn record_sample(
    rec: &mut Recorder,
    p: usize,
    job: &Job,
    attempt: &Attempt,
    outcome: Outcome,
    retries: u32,
    reason: Option<&str>,
) {
    let answer = attempt.result.as_ref().ok();
    // An HTTP/2 reset has no body but an error code: that is its example.
    let reset = match attempt.result {
        Err(ClientFailure::H2Reset(code)) => Some(crate::traffic::http2::reset_text(code)),
        _ => None,
    };
    rec.record(&Sample {
        phase: p,
        tenant: job.tenant,
        class: job.class,
        outcome,
        status: answer.map(|a| a.status),
        intended: job.intended,
        sent: attempt.sent,
        done: attempt.done,
        instance: answer.and_then(Answer::instance),
        retries,
        body: answer
            .and_then(|a| a.body.as_deref())
            .or(reset.as_deref().map(str::as_bytes)),
        reason,
    });
}

/// The throttle judge: tenant `t`'s verdict `v` against what the gateway answered
/// (a 429, the `RateLimit-*` headers); `counted` is false for a retried attempt.
#[inline]
fn judge_throttle(rec: &mut Recorder, t: usize, v: &Admission, attempt: &Attempt, counted: bool) {
    let judged = attempt
        .result
        .as_ref()
        .ok()
        .map(|a| (a.status == 429, limit_headers(a)));
    rec.throttle(t, v, (attempt.sent, attempt.done), judged, counted);
}

impl Worker {
    /// An attempt that is retried: the gateway may have let it through (or taken a
    /// token for it), so the throttle judgement keeps it; the tallies do not count it.
    pub(super) fn record_retried_attempt(&self, job: &Job, attempt: &Attempt) {
        if let (Some(t), Some(v)) = (job.tenant, &attempt.verdict) {
            judge_throttle(&mut self.recorder.borrow_mut(), t, v, attempt, false);
        }
    }
}

fn header_f64(a: &Answer, name: &str) -> Option<f64> {
    a.header_str(name)?.trim().parse().ok()
}

fn limit_headers(h: &Answer) -> LimitHeaders {
    LimitHeaders {
        retry_after_s: header_f64(h, "retry-after"),
        remaining: header_f64(h, "ratelimit-remaining")
            .or_else(|| header_f64(h, "x-ratelimit-remaining")),
    }
}

/// The body of a rendered HTTP/1.1 request: what follows its head.
pub(super) fn body_of(request: &[u8]) -> Vec<u8> {
    request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |i| request[i + 4..].to_vec())
}

/// The answer's body as JSON, if it is.
fn json_body(a: &Answer) -> Option<serde_json::Value> {
    serde_json::from_slice(a.body.as_ref()?).ok()
}

/// The id a write was given: `id`/`order_id` in a JSON body, else `Location`'s last segment.
fn order_id(a: &Answer) -> Option<String> {
    let from_body = json_body(a).and_then(|v| {
        ["id", "order_id"]
            .iter()
            .find_map(|k| crate::scenario::scalar_text(&v[*k]))
    });
    from_body.or_else(|| {
        let loc = a.header_str("location")?;
        loc.rsplit('/').find(|s| !s.is_empty()).map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatch_lag_is_the_interval_maximum_and_absent_when_nothing_was_sent() {
        let c = LiveCounters::default();
        assert_eq!(c.take_dispatch_lag(), None);
        c.dispatched(40);
        c.dispatched(1_500);
        c.dispatched(7);
        assert_eq!(c.take_dispatch_lag(), Some(1_500));
        assert_eq!(c.last_dispatch_lag(), Some(1_500));
        // A new interval: nothing yet, then an on-time arrival is a lag of 0, not "none".
        assert_eq!(c.take_dispatch_lag(), None);
        assert_eq!(c.last_dispatch_lag(), None);
        c.dispatched(0);
        assert_eq!(c.take_dispatch_lag(), Some(0));
    }

    #[test]
    fn order_ids_come_from_body_or_location() {
        let a = Answer::from_head(
            b"HTTP/1.1 201 Created\r\ncontent-length: 13\r\n\r\n",
            Some(bytes::Bytes::from_static(br#"{"id": "o-1"}"#)),
        )
        .unwrap();
        assert_eq!(order_id(&a).as_deref(), Some("o-1"));
        let a = Answer::from_head(
            b"HTTP/1.1 201 Created\r\nLocation: /orders/42/\r\n\r\n",
            Some(bytes::Bytes::from_static(b"created")),
        )
        .unwrap();
        assert_eq!(order_id(&a).as_deref(), Some("42"));
    }

    #[test]
    fn the_sent_body_is_what_follows_the_head() {
        assert_eq!(
            body_of(b"POST /o HTTP/1.1\r\nhost: h\r\ncontent-length: 2\r\n\r\n{}"),
            b"{}"
        );
        assert_eq!(body_of(b"GET / HTTP/1.1\r\nhost: h\r\n\r\n"), b"");
    }

    #[test]
    fn limit_headers_parse() {
        let a = Answer::from_head(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nRateLimit-Remaining:  7 \r\n\r\n",
            None,
        )
        .unwrap();
        let l = limit_headers(&a);
        assert_eq!((l.retry_after_s, l.remaining), (Some(2.0), Some(7.0)));
    }
}
