//! The Redis limiter store, against a real `redis-server` (Debian package `redis-server`)
//! listening on a unix socket in a temp dir. Run with `--features redis-store`.
#![cfg(feature = "redis-store")]

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reference_gateway::ratelimit::{ClockUs, Decision, RateLimitStore, RedisStore};
use reference_gateway::{Plan, Quota, QuotaPeriod};

struct Redis {
    _child: tokio::process::Child,
    dir: std::path::PathBuf,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn spawn_redis() -> Redis {
    let dir = std::env::temp_dir().join(format!(
        "rg-redis-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("redis.sock");
    let mut child = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--unixsocket",
        ])
        .arg(&sock)
        .arg("--dir")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (apt-get install -y redis-server)");
    let url = format!("redis+unix://{}", sock.display());
    // Readiness: redis-server logs "…ready to accept connections…" on stdout
    // once it listens; wait for that line (bounded), never a sleep.
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line
                .to_ascii_lowercase()
                .contains("ready to accept connections")
            {
                return;
            }
        }
        panic!("redis-server exited before it was ready");
    })
    .await
    .expect("redis-server did not become ready");
    // Keep draining its log so a full pipe never blocks it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Redis {
        _child: child,
        dir,
        url,
    }
}

fn plan(rate: f64, burst: u32, quota: Option<u64>) -> Plan {
    Plan {
        rate,
        burst: NonZeroU32::new(burst).unwrap(),
        quota: quota.map(|q| Quota {
            limit: NonZeroU64::new(q).unwrap(),
            period: QuotaPeriod::Every(Duration::from_secs(3600)),
        }),
    }
}

#[tokio::test]
async fn two_gateways_share_one_bucket_and_one_quota() {
    let redis = spawn_redis().await;
    let a = RedisStore::connect(&redis.url).await.unwrap();
    let b = RedisStore::connect(&redis.url).await.unwrap();
    // A rate so slow that no token refills during the test: exactly `burst` admitted.
    let p = plan(0.001, 6, None);
    let mut admitted = 0;
    for i in 0..20 {
        let store = if i % 2 == 0 { &a } else { &b };
        match store.check("t1", &p).await.unwrap() {
            Decision::Allowed(_) => admitted += 1,
            Decision::Throttled(info) => assert!(info.retry_after > Duration::from_secs(900)),
            Decision::QuotaExhausted(_) => panic!("no quota configured"),
        }
    }
    assert_eq!(admitted, 6);
    assert!(
        matches!(a.check("t2", &p).await.unwrap(), Decision::Allowed(_)),
        "keys are independent"
    );

    let q = plan(1e6, 1000, Some(7));
    let mut ok = 0;
    for i in 0..10 {
        let store = if i % 2 == 0 { &a } else { &b };
        match store.check("t3", &q).await.unwrap() {
            Decision::Allowed(_) => ok += 1,
            Decision::QuotaExhausted(info) => {
                assert!(info.retry_after <= Duration::from_secs(3600))
            }
            Decision::Throttled(_) => panic!("bucket is large"),
        }
    }
    assert_eq!(
        ok, 7,
        "limit admitted, limit + 1 refused, across both gateways"
    );
}

/// The shared bucket's arithmetic is exact at chosen instants: two stores
/// (two gateways' connections) on one fake clock, rate 10/s (T = 100 ms),
/// burst 5, worked by hand in GCRA terms.
#[tokio::test]
async fn exact_on_a_fake_clock_across_two_connections() {
    let redis = spawn_redis().await;
    let now = Arc::new(AtomicU64::new(1_700_000_000_000_000));
    let clock: ClockUs = {
        let now = Arc::clone(&now);
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let a = RedisStore::connect(&redis.url)
        .await
        .unwrap()
        .with_clock(Arc::clone(&clock));
    let b = RedisStore::connect(&redis.url)
        .await
        .unwrap()
        .with_clock(clock);
    let p = plan(10.0, 5, None);
    // Offers `n` requests alternately through both stores; (admitted, last refusal).
    let offer = |n: usize| {
        let (a, b, p) = (&a, &b, &p);
        async move {
            let mut admitted = 0;
            let mut refusal = None;
            for i in 0..n {
                let store = if i % 2 == 0 { a } else { b };
                match store.check("exact", p).await.unwrap() {
                    Decision::Allowed(_) => admitted += 1,
                    Decision::Throttled(info) => refusal = Some(info.retry_after),
                    Decision::QuotaExhausted(_) => panic!("no quota configured"),
                }
            }
            (admitted, refusal)
        }
    };
    let advance = |us: u64| now.fetch_add(us, Ordering::SeqCst);
    // t0: a full bucket, exactly the burst; the next token is T away.
    assert_eq!(offer(12).await, (5, Some(Duration::from_millis(100))));
    // +300 ms: exactly 3 tokens refilled.
    advance(300_000);
    assert_eq!(offer(12).await.0, 3);
    // +50 ms: half a token: nothing, and Retry-After is the other half.
    advance(50_000);
    assert_eq!(offer(4).await, (0, Some(Duration::from_millis(50))));
    // +50 ms: that token is whole.
    advance(50_000);
    assert_eq!(offer(4).await.0, 1);
    // A long pause refills only up to the burst.
    advance(100_000_000);
    assert_eq!(offer(12).await.0, 5);
}

#[tokio::test]
async fn gateway_starts_with_a_redis_store() {
    let redis = spawn_redis().await;
    let mut cfg = reference_gateway::Config::new(
        BTreeMap::from([(
            "api".to_string(),
            reference_gateway::UpstreamConfig::new(vec!["127.0.0.1:9".parse().unwrap()]),
        )]),
        vec![],
    );
    cfg.rate_limit.store = reference_gateway::RateLimitStoreConfig::Redis {
        url: redis.url.clone(),
    };
    let token = tokio_util::sync::CancellationToken::new();
    let gw = reference_gateway::Gateway::start(cfg.clone(), token.clone()).await;
    assert!(gw.is_ok());
    let mut local = cfg.clone();
    local.rate_limit.store = reference_gateway::RateLimitStoreConfig::Local;
    assert!(
        gw.unwrap().handle().reload(local).is_err(),
        "the store is fixed until restart"
    );
    token.cancel();
}
