//! The OAuth2 step of an attempt: the tenant's token, or an attempt that was never sent.

use std::time::Instant;

use http::HeaderValue;

use super::{Attempt, Job, Worker};
use crate::metrics::ClientFailure;
use crate::scenario::TokenKind;
use crate::traffic::request::PreparedClass;

impl Worker {
    /// `Authorization` for a valid-token request of an OAuth2 tenant (`None` for
    /// anything else), or the attempt that failed for want of one.
    pub(super) async fn oauth_header(
        &self,
        job: &Job,
        class: &PreparedClass,
    ) -> Result<Option<HeaderValue>, Attempt> {
        let (Some(t), Some(oauth), TokenKind::Valid) = (job.tenant, &self.plan.oauth, class.token)
        else {
            return Ok(None);
        };
        if !oauth.covers(t) {
            return Ok(None);
        }
        match oauth.header(t).await {
            Ok(h) => Ok(Some(h)),
            Err(_) => {
                let now = Instant::now();
                Err(Attempt {
                    sent: now,
                    done: now,
                    result: Err(ClientFailure::AuthFetch),
                    verdict: None,
                    sent_body: None,
                })
            }
        }
    }
}
