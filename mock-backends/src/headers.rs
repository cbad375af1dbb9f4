//! The headers every response carries: `X-Backend-Instance: NAME`, and the
//! `X-Request-Id` and `X-Tenant-Id` the request came with, echoed back so the
//! harness can see load balancing and the gateway's transforms.
//!
//! A hand-written tower layer rather than `middleware::from_fn`: it sits on the
//! hot path of every request and costs one boxed future, nothing more.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use http::header::HeaderName;
use tower::{Layer, Service};

/// `x-backend-instance`.
pub const X_BACKEND_INSTANCE: HeaderName = HeaderName::from_static("x-backend-instance");
/// `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-tenant-id`.
pub const X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");
/// `x-ninefold-hostile`: the harness marks requests carrying a hostile token
/// with it. A gateway must refuse those, so an instance counts every one that
/// reaches it (`GET /admin/stats`): any count above zero is an auth bypass.
pub const X_NINEFOLD_HOSTILE: HeaderName = HeaderName::from_static("x-ninefold-hostile");

/// Adds the instance header and echoes the request and tenant ids.
#[derive(Debug, Clone)]
pub struct InstanceHeadersLayer {
    instance: HeaderValue,
    hostile: Option<Arc<AtomicU64>>,
}

impl InstanceHeadersLayer {
    /// Every response will name `instance`.
    pub fn new(instance: HeaderValue) -> Self {
        Self {
            instance,
            hostile: None,
        }
    }

    /// Also count requests marked [`X_NINEFOLD_HOSTILE`] into `counter`.
    pub fn counting_hostile(mut self, counter: Arc<AtomicU64>) -> Self {
        self.hostile = Some(counter);
        self
    }
}

impl<S> Layer<S> for InstanceHeadersLayer {
    type Service = InstanceHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InstanceHeaders {
            inner,
            instance: self.instance.clone(),
            hostile: self.hostile.clone(),
        }
    }
}

/// The service made by [`InstanceHeadersLayer`].
#[derive(Debug, Clone)]
pub struct InstanceHeaders<S> {
    inner: S,
    instance: HeaderValue,
    hostile: Option<Arc<AtomicU64>>,
}

impl<S> Service<Request> for InstanceHeaders<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if let Some(counter) = &self.hostile
            && req.headers().contains_key(&X_NINEFOLD_HOSTILE)
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let request_id = req.headers().get(&X_REQUEST_ID).cloned();
        let tenant = req.headers().get(&X_TENANT_ID).cloned();
        let instance = self.instance.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            let h = resp.headers_mut();
            h.insert(X_BACKEND_INSTANCE, instance);
            if let Some(v) = request_id {
                h.insert(X_REQUEST_ID, v);
            }
            if let Some(v) = tenant {
                h.insert(X_TENANT_ID, v);
            }
            Ok(resp)
        })
    }
}
