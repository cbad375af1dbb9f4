//! The shared limiter store: the same GCRA bucket and fixed-window quota as
//! [`super::LocalStore`], kept in Redis and decided by one Lua script, so the decision is
//! atomic across every gateway instance that shares the server. Time is Redis's own
//! (`TIME`), so gateway clocks need not agree; quota windows are aligned to the Unix epoch
//! (a `day` quota resets at 00:00 UTC).

use futures::future::BoxFuture;
use redis::aio::ConnectionManager;
use std::time::Duration;

use super::{Decision, RateLimitStore};
use crate::config::Plan;
use crate::error::{Error, GatewayError, LimitInfo};

/// Returns `{kind, remaining, reset_us, retry_us, limit}`; kind 0 allowed, 1 throttled, 2 quota.
const SCRIPT: &str = r#"
local now
if ARGV[5] ~= nil and ARGV[5] ~= '' then
  now = tonumber(ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tau = T * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + T
if new - now > tau then
  return {1, 0, tat - now, new - now - tau, burst}
end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil(tau / 1000) + 1000)
local qlimit = tonumber(ARGV[3])
if qlimit > 0 then
  local period = tonumber(ARGV[4])
  local window = math.floor(now / period)
  local qkey = KEYS[2] .. ':' .. string.format('%.0f', window)
  local used = tonumber(redis.call('GET', qkey) or 0)
  local left = (window + 1) * period - now
  if used >= qlimit then
    return {2, 0, left, left, qlimit}
  end
  redis.call('INCR', qkey)
  redis.call('PEXPIRE', qkey, math.ceil(left / 1000) + 1000)
end
return {0, math.floor((tau - (new - now)) / T), new - now, 0, burst}
"#;

/// How long one limiter check may wait for Redis.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);

/// A clock in microseconds, for [`RedisStore::with_clock`].
pub type ClockUs = std::sync::Arc<dyn Fn() -> u64 + Send + Sync>;

/// Limiter state in Redis (`rate_limit.store = "redis://…"`).
pub struct RedisStore {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    /// `None`: Redis's own `TIME` (what gateways use: one clock for all).
    clock: Option<ClockUs>,
}

impl RedisStore {
    /// Connects (the connection manager reconnects by itself later).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let err = |e: redis::RedisError| {
            Error::Unsupported(format!("gateway.rate_limit.store: {url:?}: {e}"))
        };
        let client = redis::Client::open(url).map_err(err)?;
        let conn = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
            .await
            .map_err(|_| {
                Error::Unsupported(format!(
                    "gateway.rate_limit.store: {url:?}: connect timed out"
                ))
            })?
            .map_err(err)?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: "ninefold:rl:".into(),
            clock: None,
        })
    }

    /// Decide on `clock` (µs) instead of Redis's `TIME`: for tests that need
    /// exact arithmetic at chosen instants. Every store sharing keys must
    /// then use the same clock.
    pub fn with_clock(mut self, clock: ClockUs) -> Self {
        self.clock = Some(clock);
        self
    }
}

impl RateLimitStore for RedisStore {
    fn check<'a>(
        &'a self,
        key: &'a str,
        plan: &'a Plan,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let t_us = ((1e6 / plan.rate).round() as u64).max(1);
            let (qlimit, period_us) = match &plan.quota {
                Some(q) => (q.limit.get(), q.period.duration().as_micros().max(1) as u64),
                None => (0, 1),
            };
            let mut conn = self.conn.clone();
            let mut invocation = self.script.prepare_invoke();
            invocation
                .key(format!("{}b:{key}", self.prefix))
                .key(format!("{}q:{key}", self.prefix))
                .arg(t_us)
                .arg(plan.burst.get())
                .arg(qlimit)
                .arg(period_us)
                .arg(
                    self.clock
                        .as_ref()
                        .map_or(String::new(), |c| c().to_string()),
                );
            // A dead or hung (SIGSTOPped) Redis must not stall requests: past
            // the timeout the check fails and `fail_open` decides.
            let r: Vec<i64> =
                tokio::time::timeout(CHECK_TIMEOUT, invocation.invoke_async(&mut conn))
                    .await
                    .map_err(|_| {
                        GatewayError::Store(format!("no answer within {CHECK_TIMEOUT:?}"))
                    })?
                    .map_err(|e| GatewayError::Store(e.to_string()))?;
            let [kind, remaining, reset, retry, limit] = r[..] else {
                return Err(GatewayError::Store(format!(
                    "unexpected script reply {r:?}"
                )));
            };
            let us = |v: i64| Duration::from_micros(v.max(0) as u64);
            let info = LimitInfo {
                limit: limit.max(0) as u64,
                remaining: remaining.max(0) as u64,
                reset: us(reset),
                retry_after: us(retry),
            };
            Ok(match kind {
                0 => Decision::Allowed(info),
                1 => Decision::Throttled(info),
                _ => Decision::QuotaExhausted(info),
            })
        })
    }
}
