//! The read-back's lookups: each a GET rendered like the write it checks (the
//! write class's headers, the tenant's headers and credentials, the run's
//! targets and TLS), retried on transport errors, 5xx and 429, with its
//! timeout; what it found, or why it found nothing, goes into a [`Lookup`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::CONTENT_TYPE;
use http::{HeaderName, Method};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::Value;

use super::{ApiReadback, Lookup, ReadbackClass, Record, WriteReadback};
use crate::metrics::{AckedWrite, ClientFailure};
use crate::scenario::template::Template;
use crate::scenario::{
    Auth, IntegritySpec, RequestTemplate, Tenant, TokenKind, fill_path, scalar_text,
};
use crate::traffic::client::{Conn, Target, Targets};
use crate::traffic::oauth::OAuthTokens;
use crate::traffic::plan::TrafficPlan;
use crate::traffic::request::{IDEMPOTENCY_KEY, PreparedClass};
use crate::traffic::tokens::{Minter, TokenCache};

/// The longest wait between two tries of one lookup.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A class whose writes are read back, ready to render lookups.
struct ClassWork {
    meta: ReadbackClass,
    spec: Arc<IntegritySpec>,
    /// The write's headers but its `Content-Type` and `Idempotency-Key`.
    headers: Vec<(HeaderName, Template)>,
}

/// Everything the read-back thread needs: owned, so it can move there.
pub(super) struct Work {
    classes: Vec<ClassWork>,
    writes: Vec<WriteReadback>,
    /// Per write, its tenant's index in `tenants`.
    tenant_of: Vec<Option<usize>>,
    tenants: Vec<Tenant>,
    auth: Option<Auth>,
    base_path: String,
    seed: u64,
}

/// What one GET came to.
enum Got {
    Json(Value),
    /// 404 or 410: no such record.
    Absent,
    Failed(String),
}

impl Work {
    /// The writes of `ledger` whose class declares `integrity`; `None` when no class does.
    pub(super) fn new(plan: &TrafficPlan, ledger: &[AckedWrite], base_path: &str) -> Option<Self> {
        let mut classes = Vec::new();
        let mut index = Vec::new();
        for phase in &plan.phases {
            for (c, r) in phase.requests.iter().enumerate() {
                let Some(spec) = &r.integrity else { continue };
                index.push((phase.name.as_str(), c, classes.len()));
                classes.push(ClassWork {
                    meta: ReadbackClass {
                        phase: phase.name.clone(),
                        write: format!("{} {}", r.method, r.path),
                        read: spec.read.clone(),
                        list: spec.list.as_ref().map(|l| l.path.clone()),
                        compare: spec.compare.iter().map(|f| f.text.clone()).collect(),
                    },
                    spec: Arc::clone(spec),
                    headers: r
                        .headers
                        .iter()
                        .filter(|(n, _)| *n != CONTENT_TYPE && *n != IDEMPOTENCY_KEY)
                        .cloned()
                        .collect(),
                });
            }
        }
        if classes.is_empty() {
            return None;
        }
        let mut writes = Vec::new();
        let mut tenant_of = Vec::new();
        for w in ledger {
            let Some(&(_, _, class)) = index
                .iter()
                .find(|(p, c, _)| *p == w.phase && Some(*c as u32) == w.class)
            else {
                continue;
            };
            tenant_of.push(
                w.tenant
                    .as_deref()
                    .and_then(|id| plan.tenants.iter().position(|t| t.id == id)),
            );
            writes.push(WriteReadback {
                class,
                key: w.key.clone(),
                id: w.order_id.clone(),
                tenant: w.tenant.clone(),
                sent: w.sent.clone(),
                read: None,
                list: None,
            });
        }
        Some(Work {
            classes,
            writes,
            tenant_of,
            tenants: plan.tenants.clone(),
            auth: plan.auth.clone(),
            base_path: base_path.to_owned(),
            seed: plan.seed,
        })
    }

    /// Every write not read back, for `why`.
    pub(super) fn unread(&self, why: &str) -> ApiReadback {
        let failed = |path: &Option<String>| {
            path.as_ref().map(|p| Lookup {
                path: p.clone(),
                records: None,
                error: Some(why.to_owned()),
                tries: 0,
            })
        };
        ApiReadback {
            classes: self.classes.iter().map(|c| c.meta.clone()).collect(),
            writes: self
                .writes
                .iter()
                .map(|w| WriteReadback {
                    read: failed(&self.classes[w.class].meta.read),
                    list: failed(&self.classes[w.class].meta.list),
                    ..w.clone()
                })
                .collect(),
        }
    }

    /// Make every lookup, `concurrency` at a time.
    pub(super) async fn run(self, targets: Vec<Target>) -> ApiReadback {
        let minter = match &self.auth {
            Some(a) => Minter::new(a).ok().map(Arc::new),
            None => None,
        };
        let client = Client {
            targets: Targets::new(targets, 0),
            tokens: RefCell::new(TokenCache::new(minter, &self.tenants)),
            oauth: OAuthTokens::new(&self.tenants),
            work: &self,
        };
        // A list of every record (no `{key}`) is fetched once per class and
        // tenant (as each tenant's writes went, with its credentials).
        let mut everything = HashMap::new();
        let mut conn = None;
        for (i, w) in self.writes.iter().enumerate() {
            let c = &self.classes[w.class];
            let tenant = self.tenant_of[i];
            if let Some(l) = c.spec.list.as_ref().filter(|l| !l.per_key())
                && !everything.contains_key(&(w.class, tenant))
            {
                let listed = client.list(&mut conn, c, tenant, &l.path).await;
                everything.insert((w.class, tenant), listed);
            }
        }
        let next = Cell::new(0);
        let found = RefCell::new(vec![(None, None); self.writes.len()]);
        let lanes = self
            .classes
            .iter()
            .map(|c| c.spec.concurrency)
            .max()
            .unwrap_or(1);
        let lane = || async {
            let mut conn = None;
            loop {
                let i = next.get();
                if i >= self.writes.len() {
                    break;
                }
                next.set(i + 1);
                let got = client.write(&mut conn, i, &everything).await;
                found.borrow_mut()[i] = got;
            }
        };
        futures::future::join_all((0..lanes.max(1)).map(|_| lane())).await;
        let found = found.into_inner();
        ApiReadback {
            classes: self.classes.iter().map(|c| c.meta.clone()).collect(),
            writes: self
                .writes
                .iter()
                .zip(found)
                .map(|(w, (read, list))| WriteReadback {
                    read,
                    list,
                    ..w.clone()
                })
                .collect(),
        }
    }
}

/// The read-back's client: one round robin over the run's targets, the
/// tenants' tokens.
struct Client<'a> {
    targets: Targets,
    tokens: RefCell<TokenCache>,
    oauth: Option<Arc<OAuthTokens>>,
    work: &'a Work,
}

/// A list's records, or why there are none to give: (records, error, tries).
type Listed = (Option<Vec<Value>>, Option<String>, u32);

impl Client<'_> {
    /// The lookups of write `i`: by id, by key.
    async fn write(
        &self,
        conn: &mut Option<Conn>,
        i: usize,
        everything: &HashMap<(usize, Option<usize>), Listed>,
    ) -> (Option<Lookup>, Option<Lookup>) {
        let w = &self.work.writes[i];
        let c = &self.work.classes[w.class];
        let tenant = self.work.tenant_of[i];
        let read = match &c.spec.read {
            Some(tpl) => Some(match &w.id {
                None => unread(tpl, "the acknowledged answer gave the write no id".into()),
                Some(id) => {
                    let path = fill_path(tpl, id, &w.key);
                    let (got, tries) = self.get(conn, c, tenant, &path).await;
                    let (records, error) = match got {
                        Got::Json(v) => (Some(vec![record(&c.spec, &v)]), None),
                        Got::Absent => (Some(Vec::new()), None),
                        Got::Failed(why) => (None, Some(why)),
                    };
                    Lookup {
                        path,
                        records,
                        error,
                        tries,
                    }
                }
            }),
            None => None,
        };
        let list = match &c.spec.list {
            None => None,
            Some(_) if w.key.is_empty() => Some(unread(
                c.meta.list.as_deref().unwrap_or_default(),
                "the write was sent without an idempotency key, so no list finds its records"
                    .into(),
            )),
            Some(l) => {
                let (path, (values, error, tries)) = if l.per_key() {
                    let path = fill_path(&l.path, w.id.as_deref().unwrap_or_default(), &w.key);
                    let listed = self.list(conn, c, tenant, &path).await;
                    (path, listed)
                } else {
                    let listed = everything.get(&(w.class, tenant)).cloned();
                    let listed = listed.unwrap_or((None, None, 0));
                    (l.path.clone(), listed)
                };
                let records = values.map(|vs| {
                    vs.iter()
                        .filter(|v| match &l.key_at {
                            Some(k) => k.first(v).and_then(scalar_text).as_deref() == Some(&w.key),
                            None => true,
                        })
                        .map(|v| record(&c.spec, v))
                        .collect()
                });
                Some(Lookup {
                    path,
                    records,
                    error,
                    tries,
                })
            }
        };
        (read, list)
    }

    /// GET a list and select its records.
    async fn list(
        &self,
        conn: &mut Option<Conn>,
        c: &ClassWork,
        tenant: Option<usize>,
        path: &str,
    ) -> Listed {
        let (got, tries) = self.get(conn, c, tenant, path).await;
        let selected = match got {
            Got::Json(v) => match c.spec.list.as_ref().and_then(|l| l.records.as_ref()) {
                Some(records) => Ok(records.path.query(&v).all().into_iter().cloned().collect()),
                None => match v {
                    Value::Array(items) => Ok(items),
                    _ => Err("the list answer is not a JSON array: say where its records are with `records`".to_string()),
                },
            },
            Got::Absent => Err(format!(
                "GET {path} answered 404: a list answers 200 with its records, even none"
            )),
            Got::Failed(why) => Err(why),
        };
        match selected {
            Ok(v) => (Some(v), None, tries),
            Err(why) => (None, Some(why), tries),
        }
    }

    /// GET `path` as tenant `tenant` would, retried on transport errors, 5xx and 429.
    async fn get(
        &self,
        conn: &mut Option<Conn>,
        c: &ClassWork,
        tenant: Option<usize>,
        path: &str,
    ) -> (Got, u32) {
        let target = format!("{}{path}", self.work.base_path);
        let prepared = match Template::parse(&target.replace('{', "{{")) {
            Ok(t) => PreparedClass::new(
                &RequestTemplate {
                    method: Method::GET,
                    path: t,
                    headers: c.headers.clone(),
                    body: None,
                    idempotency_key: false,
                    weight: NonZeroU32::MIN,
                    expect: Vec::new(),
                    token: TokenKind::Valid,
                    integrity: None,
                    check: None,
                    extract: Vec::new(),
                },
                &[],
            )
            .with_tenants(&self.work.tenants),
            Err(e) => return (Got::Failed(format!("GET {target}: {e}")), 0),
        };
        let tries = c.spec.retries + 1;
        let mut last = String::new();
        for n in 0..tries {
            if n > 0 {
                // A pause between tries (the waiting is the point: the service recovers).
                let backoff = Duration::from_millis(100 << n.min(5)).min(MAX_BACKOFF);
                tokio::time::sleep(backoff).await;
            }
            match self.once(conn, &prepared, tenant, c.spec.timeout).await {
                Ok((status, body)) if (200..300).contains(&status) => {
                    let body = body.unwrap_or_default();
                    let got = if body.is_empty() {
                        Got::Failed(format!(
                            "GET {target} answered {status} with no body (or one over the 1 MiB the client keeps)"
                        ))
                    } else {
                        match serde_json::from_slice(&body) {
                            Ok(v) => Got::Json(v),
                            Err(e) => Got::Failed(format!(
                                "GET {target} answered {status} with a body that is not JSON: {e}"
                            )),
                        }
                    };
                    return (got, n + 1);
                }
                Ok((404 | 410, _)) => return (Got::Absent, n + 1),
                Ok((status, _)) if status >= 500 || status == 429 => {
                    last = format!("GET {target} answered {status}");
                }
                Ok((status, _)) => {
                    return (
                        Got::Failed(format!("GET {target} answered {status}")),
                        n + 1,
                    );
                }
                Err(failure) => {
                    *conn = None;
                    last = format!("GET {target}: {}", failure_text(failure, c.spec.timeout));
                }
            }
        }
        let times = if tries == 1 { "once" } else { "every time" };
        (
            Got::Failed(format!("{last} ({tries} tries, {times})")),
            tries,
        )
    }

    /// One request on the lane's connection (opened again when it cannot carry one).
    async fn once(
        &self,
        conn: &mut Option<Conn>,
        prepared: &PreparedClass,
        tenant: Option<usize>,
        timeout: Duration,
    ) -> Result<(u16, Option<bytes::Bytes>), ClientFailure> {
        let auth = match (tenant, &self.oauth) {
            (Some(t), Some(o)) if o.covers(t) => {
                Some(o.header(t).await.map_err(|_| ClientFailure::AuthFetch)?)
            }
            _ => self
                .tokens
                .borrow_mut()
                .header(tenant, TokenKind::Valid, Instant::now())
                .ok()
                .flatten(),
        };
        if !conn.as_mut().is_some_and(Conn::is_usable) {
            *conn = Some(self.targets.connect(timeout).await?);
        }
        let Some(c) = conn.as_mut() else {
            return Err(ClientFailure::Connect);
        };
        let mut scratch = String::new();
        let mut rng = SmallRng::seed_from_u64(self.work.seed);
        let t = tenant.map(|t| (t, self.work.tenants[t].id.as_str()));
        let (out, host) = c.request_buf();
        let host = host.clone();
        prepared
            .build(
                out,
                &mut scratch,
                &mut rng,
                0,
                t,
                &host,
                auth.as_ref(),
                None,
                &[],
            )
            .map_err(|_| ClientFailure::Io)?;
        let answer = c.exchange(false, true, timeout).await?;
        Ok((answer.status, answer.body))
    }
}

/// A lookup that was not made, and why.
fn unread(path: &str, why: String) -> Lookup {
    Lookup {
        path: path.to_owned(),
        records: None,
        error: Some(why),
        tries: 0,
    }
}

/// A record read back: its id and compared fields.
fn record(spec: &IntegritySpec, v: &Value) -> Record {
    Record {
        id: spec.id_in(v),
        fields: spec.stored_fields(v),
    }
}

/// What a failed request met, for people.
fn failure_text(f: ClientFailure, timeout: Duration) -> String {
    match f {
        ClientFailure::Timeout => {
            format!("no answer within {}", humantime::format_duration(timeout))
        }
        ClientFailure::Connect => "could not connect".into(),
        ClientFailure::Tls => "the TLS handshake failed".into(),
        ClientFailure::AuthFetch => "the tenant's OAuth2 token could not be fetched".into(),
        ClientFailure::Io | ClientFailure::H2Reset(_) | ClientFailure::H2Goaway => {
            "the connection failed mid-answer".into()
        }
    }
}
