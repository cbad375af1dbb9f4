//! The gateway's steps, one concern per file, listed outermost first in [`crate::stack`].
//! Each file holds the step as plain functions, which [`crate::stack::Pipeline`] calls in
//! order, and as a tower layer over them for composing in tests. Steps after `limits` see
//! `Request<Bytes>` (the body is buffered so that retries can replay it) and answer
//! [`crate::body::Response`] or a boxed [`crate::error::GatewayError`] that `rescue` turns
//! into a status.

pub mod auth;
pub mod balance;
pub mod cache;
pub mod limits;
pub mod ratelimit;
pub mod rescue;
pub mod retry;
pub mod route;
pub mod timeout;
pub mod trace;
pub mod transform;

use std::sync::Arc;

use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};

/// Takes the service that was driven to readiness, leaving a fresh clone behind
/// (tower's documented pattern for services called from a `'static` future).
pub(crate) fn take<S: Clone>(s: &mut S) -> S {
    let clone = s.clone();
    std::mem::replace(s, clone)
}

/// The request context, which the trace layer always inserts.
pub(crate) fn ctx_of<B>(req: &http::Request<B>) -> Result<Arc<Ctx>, BoxError> {
    crate::context::ctx(req)
        .cloned()
        .ok_or_else(|| BoxError::from("request context missing: the trace layer must be outermost"))
}

/// Boxes a gateway error for the stack's error type.
pub(crate) fn fail(e: GatewayError) -> BoxError {
    Box::new(e)
}

#[cfg(test)]
mod tests;
