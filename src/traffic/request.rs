//! Request classes prepared for the hot path: static parts rendered once,
//! variables filled in per request into a reused buffer.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::scenario::template::{Template, Vars};
use crate::scenario::{Extraction, RequestTemplate, ResponseCheck, TokenKind};

mod tenant;

use tenant::TenantParts;

/// The header that carries a logical request's idempotency key.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Marks a request with a hostile token. The gateway must refuse it, so no
/// backend may ever see this header; the mock backends count the ones that do
/// (`mock_backends::X_NINEFOLD_HOSTILE`, the same name).
pub static HOSTILE_MARK: HeaderName = HeaderName::from_static("x-ninefold-hostile");

/// The independent random streams of one request. Each is a generator of its own,
/// seeded from (run seed, phase, sequence number, stream) alone, so request `k` of a
/// phase is the same whichever worker or shard sends it, in whatever order, and a
/// retry renders the very request it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Which class and which tenant.
    Pick = 1,
    /// The idempotency key.
    Key = 2,
    /// Template variables (`{rand:A..B}`, `{uuid}`): path, then headers, then body.
    Render = 3,
}

/// The generator of `stream` for request `seq` of phase `phase` under `seed`.
pub fn request_rng(seed: u64, phase: usize, seq: u64, stream: Stream) -> SmallRng {
    SmallRng::seed_from_u64(stream_seed(seed, phase, seq, stream))
}

/// The generator of `stream` for step `step` of flow `seq` (a flow phase's request
/// `seq`): step 0's is [`request_rng`]'s, each later step's its own.
pub fn step_rng(seed: u64, phase: usize, seq: u64, step: usize, stream: Stream) -> SmallRng {
    let x = stream_seed(seed, phase, seq, stream);
    SmallRng::seed_from_u64(if step == 0 {
        x
    } else {
        splitmix(x ^ step as u64)
    })
}

fn stream_seed(seed: u64, phase: usize, seq: u64, stream: Stream) -> u64 {
    // SplitMix64 over the inputs in turn. Each step is a bijection of the state, so
    // two requests that differ in one input only never share a seed, and its
    // avalanche makes neighbouring sequence numbers' streams unrelated.
    let mut x = splitmix(seed ^ 0x6E69_6E65_666F_6C64); // "ninefold"
    x = splitmix(x ^ phase as u64);
    x = splitmix(x ^ seq);
    splitmix(x ^ stream as u64)
}

/// One SplitMix64 step (Steele, Lea & Flood 2014).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The idempotency key of request `seq` of phase `phase`: a v4 UUID drawn from its
/// own stream, so a run with the same seed sends the same keys.
pub fn idempotency_key(seed: u64, phase: usize, seq: u64) -> HeaderValue {
    step_idempotency_key(seed, phase, seq, 0)
}

/// The idempotency key of step `step` of flow `seq` (step 0's is [`idempotency_key`]'s).
pub fn step_idempotency_key(seed: u64, phase: usize, seq: u64, step: usize) -> HeaderValue {
    let bytes: [u8; 16] = step_rng(seed, phase, seq, step, Stream::Key).random();
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    HeaderValue::try_from(id.hyphenated().to_string())
        .unwrap_or(HeaderValue::from_static("invalid"))
}

/// Why a rendered request is not valid HTTP.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `path` is the template as written: the rendering may hold a secret.
    #[error("path `{path}` does not render to a valid request target")]
    Path { path: String },
    #[error("rendered header {name} is not a valid header value")]
    Header { name: HeaderName },
}

/// A request class ready to send: the parts that never change rendered once, as
/// wire bytes.
#[derive(Debug, Clone)]
pub struct PreparedClass {
    pub method: Method,
    path: Template,
    /// `METHOD SP` (and the whole request line when the path is static).
    line_start: Vec<u8>,
    static_path: bool,
    /// `name: value\r\n` for every static header.
    static_headers: Vec<u8>,
    static_names: Vec<HeaderName>,
    /// The class writes `Authorization` itself (no token is added then).
    sets_authorization: bool,
    /// The other headers, in declaration order.
    dynamic_headers: Vec<(HeaderName, Dynamic)>,
    /// Per tenant (by index in the plan's tenants), what depends on the tenant
    /// only, rendered once; empty until [`PreparedClass::with_tenants`].
    tenants: Vec<TenantParts>,
    body: Option<Template>,
    static_body: Bytes,
    /// Whether `Content-Length` is sent even for an empty body (methods that carry one).
    length_always: bool,
    pub idempotency_key: bool,
    /// Correct statuses, resolved: the class's, else the phase's, else 401 for
    /// hostile tokens (empty = any 2xx/3xx).
    pub expect: Vec<u16>,
    pub token: TokenKind,
    /// `integrity = { … }`: its writes are read back after the run.
    pub integrity: Option<std::sync::Arc<crate::scenario::IntegritySpec>>,
    /// `check = { … }`: applied to the class's `ok` answers.
    pub check: Option<ResponseCheck>,
    /// `extract = { … }`: values for the later steps of the flow.
    pub extract: Vec<Extraction>,
    /// The flow slots the class's templates read: it is sent only when each has a value.
    pub needs: Vec<usize>,
}

/// A class header that is not the same for every request.
#[derive(Debug, Clone)]
struct Dynamic {
    template: Template,
    /// Its slot in [`TenantParts::class_headers`] when it depends on the tenant only.
    per_tenant: Option<usize>,
}

/// A class's headers, split into what renders once and what does not.
#[derive(Default)]
struct ClassHeaders {
    /// `name: value\r\n` for every static header.
    static_bytes: Vec<u8>,
    static_names: Vec<HeaderName>,
    has_content_type: bool,
    /// The other headers, in declaration order.
    dynamic: Vec<(HeaderName, Dynamic)>,
}

impl PreparedClass {
    /// Prepare `t`, a class of a phase whose `expect` is `phase_expect`.
    pub fn new(t: &RequestTemplate, phase_expect: &[u16]) -> Self {
        let (line_start, static_path) = line_start(&t.method, &t.path);
        let mut headers = ClassHeaders::split(&t.headers);
        if let Some(body) = &t.body
            && !headers.has_content_type
        {
            let ct = default_content_type(body);
            put_header(
                &mut headers.static_bytes,
                CONTENT_TYPE.as_str(),
                ct.as_bytes(),
            );
        }
        if t.token.is_hostile() {
            put_header(&mut headers.static_bytes, HOSTILE_MARK.as_str(), b"1");
        }
        let static_body = match &t.body {
            Some(b) if b.is_static() => Bytes::from(Template::render_static(b)),
            _ => Bytes::new(),
        };
        PreparedClass {
            method: t.method.clone(),
            path: t.path.clone(),
            line_start,
            static_path,
            static_headers: headers.static_bytes,
            sets_authorization: t.headers.iter().any(|(n, _)| n == AUTHORIZATION),
            static_names: headers.static_names,
            dynamic_headers: headers.dynamic,
            tenants: Vec::new(),
            body: t.body.clone().filter(|b| !b.is_static()),
            static_body,
            length_always: matches!(t.method, Method::POST | Method::PUT | Method::PATCH),
            idempotency_key: t.idempotency_key,
            expect: resolve_expect(t, phase_expect),
            token: t.token,
            integrity: t.integrity.clone(),
            check: t.check.clone(),
            extract: t.extract.clone(),
            needs: needs(t),
        }
    }

    /// Whether the body each request sends is kept until its answer: the class
    /// compares sent fields with the record read back after the run.
    pub fn keeps_sent_body(&self) -> bool {
        self.integrity
            .as_ref()
            .is_some_and(|i| !i.compare.is_empty())
    }

    /// Whether the class looks at its answers (a `check` or an `extract`): only then
    /// is an answer evaluated past its status.
    #[inline]
    pub fn reads_answer(&self) -> bool {
        self.check.is_some() || !self.extract.is_empty()
    }

    /// Whether the class's answers' bodies must be kept to evaluate them.
    #[inline]
    pub fn reads_body(&self) -> bool {
        self.check.as_ref().is_some_and(ResponseCheck::reads_body) || !self.extract.is_empty()
    }

    /// Render one request, whole, into `out` (cleared first). `scratch` is a buffer
    /// reused across requests. `tenant` is the tenant's id and its index in the
    /// tenants given to [`PreparedClass::with_tenants`] (`None`: anonymous).
    #[allow(clippy::too_many_arguments)]
    pub fn build<R: Rng>(
        &self,
        out: &mut Vec<u8>,
        scratch: &mut String,
        rng: &mut R,
        seq: u64,
        tenant: Option<(usize, &str)>,
        host: &HeaderValue,
        authorization: Option<&HeaderValue>,
        idempotency_key: Option<&HeaderValue>,
        flow: &[Option<String>],
    ) -> Result<(), BuildError> {
        let parts = tenant.and_then(|(i, _)| self.tenants.get(i));
        let mut vars = Vars {
            seq,
            tenant: tenant.map_or("", |(_, id)| id),
            api_key: parts.map_or("", |p| p.api_key.as_str()),
            flow,
            rng,
        };
        out.clear();
        self.put_request_line(out, scratch, &mut vars)?;
        put_header(out, HOST.as_str(), host.as_bytes());
        out.extend_from_slice(&self.static_headers);
        self.put_dynamic_headers(out, scratch, parts, &mut vars)?;
        if let Some(p) = parts {
            put_tenant_headers(out, scratch, p, &mut vars)?;
        }
        // An `Authorization` the class or the tenant writes itself replaces the token.
        if let Some(auth) = authorization
            && !self.sets_authorization
            && !parts.is_some_and(|p| p.authorization)
        {
            put_header(out, AUTHORIZATION.as_str(), auth.as_bytes());
        }
        if let Some(key) = idempotency_key {
            put_header(out, IDEMPOTENCY_KEY.as_str(), key.as_bytes());
        }
        self.put_body(out, scratch, &mut vars);
        Ok(())
    }

    /// The request line: copied when the path is static, else rendered and checked.
    #[inline]
    fn put_request_line<R: Rng>(
        &self,
        out: &mut Vec<u8>,
        scratch: &mut String,
        vars: &mut Vars<'_, R>,
    ) -> Result<(), BuildError> {
        out.extend_from_slice(&self.line_start);
        if !self.static_path {
            scratch.clear();
            self.path.render_into(vars, scratch);
            if !valid_target(scratch) {
                return Err(BuildError::Path {
                    path: self.path.to_string(),
                });
            }
            out.extend_from_slice(scratch.as_bytes());
            out.extend_from_slice(b" HTTP/1.1\r\n");
        }
        Ok(())
    }

    /// The class's headers that are not static: a per-tenant one copied from the
    /// tenant's parts, the others rendered, in declaration order.
    #[inline]
    fn put_dynamic_headers<R: Rng>(
        &self,
        out: &mut Vec<u8>,
        scratch: &mut String,
        parts: Option<&TenantParts>,
        vars: &mut Vars<'_, R>,
    ) -> Result<(), BuildError> {
        for (name, d) in &self.dynamic_headers {
            if let (Some(slot), Some(p)) = (d.per_tenant, parts) {
                out.extend_from_slice(&p.class_headers[slot]);
                continue;
            }
            render_header(out, scratch, name, &d.template, vars)?;
        }
        Ok(())
    }

    /// `Content-Length` (where there is a body or the method carries one), the
    /// blank line, and the body, static or rendered.
    #[inline]
    fn put_body<R: Rng>(&self, out: &mut Vec<u8>, scratch: &mut String, vars: &mut Vars<'_, R>) {
        let body: &[u8] = match &self.body {
            Some(tpl) => {
                scratch.clear();
                tpl.render_into(vars, scratch);
                scratch.as_bytes()
            }
            None => &self.static_body,
        };
        if !body.is_empty() || self.length_always {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(ninefold_http1::decimal(body.len() as u64, &mut [0; 20]));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }
}

/// The tenant's own headers: those rendered once copied, the others rendered.
#[inline]
fn put_tenant_headers<R: Rng>(
    out: &mut Vec<u8>,
    scratch: &mut String,
    parts: &TenantParts,
    vars: &mut Vars<'_, R>,
) -> Result<(), BuildError> {
    out.extend_from_slice(&parts.own_headers);
    for (name, tpl) in &parts.own_dynamic {
        render_header(out, scratch, name, tpl, vars)?;
    }
    Ok(())
}

/// The flow slots `t`'s path, headers and body read, each once.
fn needs(t: &RequestTemplate) -> Vec<usize> {
    let mut slots: Vec<usize> = std::iter::once(&t.path)
        .chain(t.headers.iter().map(|(_, v)| v))
        .chain(t.body.as_ref())
        .flat_map(Template::flow_slots)
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// Correct statuses of class `t`: its own, else the phase's, else 401 for
/// hostile tokens (empty = any 2xx/3xx).
fn resolve_expect(t: &RequestTemplate, phase_expect: &[u16]) -> Vec<u16> {
    if !t.expect.is_empty() {
        t.expect.clone()
    } else if !phase_expect.is_empty() {
        phase_expect.to_vec()
    } else if t.token.is_hostile() {
        vec![401]
    } else {
        Vec::new()
    }
}

/// `METHOD SP`, and the rest of the request line when `path` is static and a
/// valid target (then `true`).
fn line_start(method: &Method, path: &Template) -> (Vec<u8>, bool) {
    let mut line_start = Vec::with_capacity(64);
    line_start.extend_from_slice(method.as_str().as_bytes());
    line_start.push(b' ');
    let static_path = path.is_static() && {
        let path = Template::render_static(path);
        valid_target(&path) && {
            line_start.extend_from_slice(path.as_bytes());
            line_start.extend_from_slice(b" HTTP/1.1\r\n");
            true
        }
    };
    (line_start, static_path)
}

impl ClassHeaders {
    /// Split `headers`: a static one that is a valid value renders once; the
    /// others are dynamic, with a per-tenant slot when they depend on the tenant only.
    fn split(headers: &[(HeaderName, Template)]) -> Self {
        let mut out = ClassHeaders::default();
        let mut slots = 0;
        for (name, value) in headers {
            match value
                .is_static()
                .then(|| HeaderValue::try_from(Template::render_static(value)).ok())
                .flatten()
            {
                Some(v) => {
                    out.has_content_type |= name == CONTENT_TYPE;
                    put_header(&mut out.static_bytes, name.as_str(), v.as_bytes());
                    out.static_names.push(name.clone());
                }
                None => {
                    let per_tenant = (value.is_per_tenant() && !value.is_static()).then(|| {
                        slots += 1;
                        slots - 1
                    });
                    out.dynamic.push((
                        name.clone(),
                        Dynamic {
                            template: value.clone(),
                            per_tenant,
                        },
                    ))
                }
            }
        }
        out
    }
}

/// The `Content-Type` of a body the class gives none for: JSON when it looks
/// like JSON, else plain text.
fn default_content_type(body: &Template) -> &'static str {
    let text = body.to_string();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Render header `name` from `tpl` and append it, checked.
fn render_header<R: Rng>(
    out: &mut Vec<u8>,
    scratch: &mut String,
    name: &HeaderName,
    tpl: &Template,
    vars: &mut Vars<'_, R>,
) -> Result<(), BuildError> {
    scratch.clear();
    tpl.render_into(vars, scratch);
    if !scratch.bytes().all(valid_value_byte) {
        return Err(BuildError::Header { name: name.clone() });
    }
    put_header(out, name.as_str(), scratch.as_bytes());
    Ok(())
}

/// `name: value\r\n`.
#[inline]
fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A request target that can go on the wire: visible ASCII, no spaces.
#[inline]
fn valid_target(path: &str) -> bool {
    !path.is_empty() && path.bytes().all(|b| b.is_ascii_graphic())
}

/// A byte a header value may hold (as `http::HeaderValue` accepts them): no CR, LF, NUL.
#[inline]
fn valid_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
