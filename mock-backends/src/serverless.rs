//! Serverless mode: a pool of execution environments, as a Lambda function has.
//!
//! Each environment serves one request at a time. A request takes the most
//! recently used free environment (warm ones are reused first, as Lambda does);
//! if that environment never ran or sat idle longer than `keep_warm`, the
//! request pays a cold start. With every environment busy the request is
//! refused at once (429 or 503), which is how a concurrency limit shows itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The environments of one instance.
#[derive(Debug, Default)]
pub struct Environments {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Free environments, most recently used last; `None` never ran.
    free: Vec<Option<Instant>>,
    busy: usize,
}

/// A request's hold on one environment; released (and kept warm) on drop.
#[derive(Debug)]
pub struct Lease {
    envs: Arc<Environments>,
    /// The request pays a cold start.
    pub cold: bool,
}

impl Environments {
    /// Take an environment, or `None` when `capacity` are busy.
    pub fn acquire(self: &Arc<Self>, capacity: usize, keep_warm: Duration) -> Option<Lease> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // A lowered limit drops spare environments; a raised one adds cold ones.
        while st.free.len() + st.busy > capacity && !st.free.is_empty() {
            st.free.remove(0);
        }
        if st.busy >= capacity {
            return None;
        }
        let last_used = st.free.pop().flatten();
        st.busy += 1;
        let cold = last_used.is_none_or(|at| at.elapsed() > keep_warm);
        Some(Lease {
            envs: Arc::clone(self),
            cold,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut st = self.envs.state.lock().unwrap_or_else(|p| p.into_inner());
        st.busy = st.busy.saturating_sub(1);
        st.free.push(Some(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn first_use_is_cold_reuse_is_warm_until_idle() {
        let envs = Arc::new(Environments::default());
        let keep = Duration::from_secs(60);
        let a = envs.acquire(2, keep).unwrap();
        assert!(a.cold);
        drop(a);
        let b = envs.acquire(2, keep).unwrap();
        assert!(!b.cold, "a just-released environment is warm");
        drop(b);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(
            envs.acquire(2, keep).unwrap().cold,
            "idle past keep_warm is cold again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_capacity_is_refused_and_released_slots_return() {
        let envs = Arc::new(Environments::default());
        let keep = Duration::from_secs(60);
        let a = envs.acquire(2, keep).unwrap();
        let b = envs.acquire(2, keep).unwrap();
        assert!(
            b.cold,
            "the second concurrent request needs a second environment"
        );
        assert!(envs.acquire(2, keep).is_none());
        drop(a);
        assert!(envs.acquire(2, keep).is_some());
        drop(b);
        // Lowering the limit takes effect on the next request.
        let _c = envs.acquire(1, keep).unwrap();
        assert!(envs.acquire(1, keep).is_none());
    }
}
