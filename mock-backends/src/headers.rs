//! The headers every response carries: `X-Backend-Instance: NAME`, and the
//! `X-Request-Id` and `X-Tenant-Id` the request came with, echoed back so the
//! harness can see load balancing and the gateway's transforms.
//!
//! A hand-written tower layer rather than `middleware::from_fn`: it sits on the
//! hot path of every request and costs one boxed future, nothing more.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
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

/// Adds the instance header and echoes the request and tenant ids.
#[derive(Debug, Clone)]
pub struct InstanceHeadersLayer {
    instance: HeaderValue,
}

impl InstanceHeadersLayer {
    /// Every response will name `instance`.
    pub fn new(instance: HeaderValue) -> Self {
        Self { instance }
    }
}

impl<S> Layer<S> for InstanceHeadersLayer {
    type Service = InstanceHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InstanceHeaders {
            inner,
            instance: self.instance.clone(),
        }
    }
}

/// The service made by [`InstanceHeadersLayer`].
#[derive(Debug, Clone)]
pub struct InstanceHeaders<S> {
    inner: S,
    instance: HeaderValue,
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
