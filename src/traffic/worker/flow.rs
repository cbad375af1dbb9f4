//! One job's requests: a single request, or the steps of a flow in order, each
//! sent on the job's connection once the step before it has answered.
//!
//! What a flow's step measures: step 0's latency runs from the flow's intended
//! instant (the schedule's, for an arrival-rate executor; the user's decision, for
//! a VU executor), like any request's. Step k > 0 could be sent the moment step
//! k − 1's answer had arrived, so its latency runs from that answer (its intended
//! instant) to the end of its own response: time spent waiting for a connection
//! again counts, and nothing the flow's earlier steps took is counted twice. Its
//! service time runs from its actual send, as for every request.

use super::*;

/// A flow's extracted values by slot (`None`: not extracted, or not yet).
pub(super) type FlowValues = Vec<Option<String>>;

impl Worker {
    /// One job: its request, or each step of its flow. A step that reads a value
    /// that is missing (the step that should have extracted it failed, and its
    /// outcome says how) is not sent, and counted as skipped.
    pub(super) async fn execute(
        &self,
        p: usize,
        conn: &mut Link,
        job: Job,
        clock: Option<Instant>,
    ) {
        let phase = self.phase(p);
        if !phase.flow {
            self.execute_step(p, conn, &job, clock, &mut []).await;
            return;
        }
        let mut values: FlowValues = vec![None; phase.flow_slots];
        let mut step = Job {
            intended: job.intended,
            seq: job.seq,
            class: 0,
            tenant: job.tenant,
            done: None,
        };
        let mut clock = clock;
        let mut completed = true;
        for (k, class) in phase.classes.iter().enumerate() {
            let missing = class
                .needs
                .iter()
                .any(|s| values.get(*s).is_none_or(Option::is_none));
            if missing {
                self.recorder.borrow_mut().flow_step_skipped(p, k);
                completed = false;
                continue;
            }
            step.class = k;
            let (done, good) = self
                .execute_step(p, conn, &step, clock.take(), &mut values)
                .await;
            completed &= good;
            // The next step could be sent from this answer on: its intended instant.
            step.intended = done;
        }
        if completed {
            self.recorder.borrow_mut().flow_completed(p);
        }
    }

    /// One logical request: attempts (client retries keep the idempotency key),
    /// the class's check, then the record. `clock`: a reading the caller took with
    /// nothing awaited since, which the first attempt may take as its send instant
    /// instead of reading the clock again. Returns when the last attempt ended, and
    /// whether the outcome was good.
    async fn execute_step(
        &self,
        p: usize,
        conn: &mut Link,
        job: &Job,
        clock: Option<Instant>,
        values: &mut [Option<String>],
    ) -> (Instant, bool) {
        let phase = self.phase(p);
        let class = &phase.classes[job.class];
        // Keys of different requests differ by their 122 random bits (shards own
        // disjoint sequence numbers, so their keys differ the same way).
        let key = class
            .idempotency_key
            .then(|| step_idempotency_key(self.plan.seed, p, job.seq, phase.step_of(job.class)));
        // Minting a key takes time of its own: then the clock is read again.
        let mut clock = clock.filter(|_| key.is_none());
        let mut retries = 0;
        loop {
            let attempt = self
                .attempt(p, class, conn, job, key.as_ref(), clock.take(), values)
                .await;
            let status = attempt.result.as_ref().map(|a| a.status);
            let mut outcome = classify(status.map_err(|e| *e), &class.expect);
            let retryable = matches!(
                outcome,
                Outcome::ConnectError
                    | Outcome::TlsError
                    | Outcome::IoError
                    | Outcome::Timeout
                    | Outcome::ServerError
            );
            if retryable && retries < phase.retries {
                self.record_retried_attempt(job, &attempt);
                retries += 1;
                continue;
            }
            let reason = check_answer(class, &attempt, &mut outcome, values);
            self.record(p, job, &attempt, outcome, retries, key, reason.as_deref());
            return (attempt.done, outcome.is_good());
        }
    }

    /// A job never sent: each request it would have sent counts as dropped (a
    /// flow's every step). Returns how many.
    pub(super) fn drop_job(
        &self,
        p: usize,
        tenant: Option<usize>,
        class: usize,
        now: Instant,
    ) -> u64 {
        let phase = self.phase(p);
        let mut rec = self.recorder.borrow_mut();
        if phase.flow {
            for step in 0..phase.classes.len() {
                rec.dropped(p, tenant, step, now);
            }
        } else {
            rec.dropped(p, tenant, class, now);
        }
        phase.steps() as u64
    }
}

/// Apply the class's `check` and `extract` to an answer whose outcome is `ok`
/// (only classes that have them pay for it): a failure makes it `check_failed`,
/// with the reason returned.
#[inline]
fn check_answer(
    class: &PreparedClass,
    attempt: &Attempt,
    outcome: &mut Outcome,
    values: &mut [Option<String>],
) -> Option<String> {
    if *outcome != Outcome::Ok || !class.reads_answer() {
        return None;
    }
    let answer = attempt.result.as_ref().ok()?;
    let body = answer.body.as_deref();
    let verdict = crate::traffic::check::evaluate(
        class.check.as_ref(),
        &class.extract,
        answer.status,
        body,
        values,
    );
    verdict.err().inspect(|_| *outcome = Outcome::CheckFailed)
}
