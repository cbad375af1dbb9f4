//! What a request class renders once per tenant: the class's `{tenant}` /
//! `{tenant.api_key}` headers and the tenant's own headers, so a request of a
//! tenant copies bytes instead of rendering.

use http::HeaderName;
use http::header::AUTHORIZATION;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::{PreparedClass, put_header};
use crate::scenario::Tenant;
use crate::scenario::template::{Template, Vars};

/// What one tenant's requests of a class carry that depends on the tenant only.
#[derive(Debug, Clone, Default)]
pub(super) struct TenantParts {
    /// `name: value\r\n` of each per-tenant class header, by slot.
    pub(super) class_headers: Vec<Vec<u8>>,
    /// `name: value\r\n` of the tenant's own headers that render once.
    pub(super) own_headers: Vec<u8>,
    /// The tenant's own headers with per-request variables.
    pub(super) own_dynamic: Vec<(HeaderName, Template)>,
    /// What `{tenant.api_key}` renders.
    pub(super) api_key: String,
    /// The tenant's own headers set `Authorization` (and the class does not).
    pub(super) authorization: bool,
}

impl PreparedClass {
    /// Render, once per tenant of `tenants` (the plan's, by index), what depends on
    /// the tenant only: the class's `{tenant}` / `{tenant.api_key}` headers and the
    /// tenant's own headers (a class header of the same name wins). A request of
    /// tenant `i` then copies bytes instead of rendering.
    pub fn with_tenants(mut self, tenants: &[Tenant]) -> Self {
        let mut rng = SmallRng::seed_from_u64(0);
        self.tenants = tenants
            .iter()
            .map(|t| self.tenant_parts(t, &mut rng))
            .collect();
        self
    }

    /// The parts of tenant `t`'s requests of this class that depend on `t` only.
    fn tenant_parts(&self, t: &Tenant, rng: &mut SmallRng) -> TenantParts {
        let api_key = t
            .credentials
            .api_key
            .as_ref()
            .map(Template::render_static)
            .unwrap_or_default();
        let mut vars = Vars {
            seq: 0,
            tenant: &t.id,
            api_key: &api_key,
            flow: &[],
            rng,
        };
        let class_headers = self.per_tenant_class_headers(&mut vars);
        let (own_headers, own_dynamic) = self.tenant_own_headers(t, &mut vars);
        let authorization = !self.sets_authorization
            && t.credentials
                .headers
                .iter()
                .any(|(n, _)| n == AUTHORIZATION);
        TenantParts {
            class_headers,
            own_headers,
            own_dynamic,
            api_key,
            authorization,
        }
    }

    /// The class's per-tenant headers rendered for the tenant of `vars`, by slot.
    fn per_tenant_class_headers(&self, vars: &mut Vars<'_, SmallRng>) -> Vec<Vec<u8>> {
        let mut class_headers = Vec::new();
        for (name, d) in &self.dynamic_headers {
            if d.per_tenant.is_some() {
                let mut line = Vec::new();
                put_header(&mut line, name.as_str(), d.template.render(vars).as_bytes());
                class_headers.push(line);
            }
        }
        class_headers
    }

    /// Tenant `t`'s own headers the class does not set: those that render once
    /// (as wire bytes), and those with per-request variables.
    fn tenant_own_headers(
        &self,
        t: &Tenant,
        vars: &mut Vars<'_, SmallRng>,
    ) -> (Vec<u8>, Vec<(HeaderName, Template)>) {
        let mut own_headers = Vec::new();
        let mut own_dynamic = Vec::new();
        for (name, v) in &t.credentials.headers {
            if self.sets_header(name) {
                continue;
            }
            if v.is_per_tenant() {
                put_header(&mut own_headers, name.as_str(), v.render(vars).as_bytes());
            } else {
                own_dynamic.push((name.clone(), v.clone()));
            }
        }
        (own_headers, own_dynamic)
    }

    /// Whether the class itself sets header `name`.
    fn sets_header(&self, name: &HeaderName) -> bool {
        self.dynamic_headers.iter().any(|(n, _)| n == name)
            || self.static_names.iter().any(|n| n == name)
    }
}
