//! What happened to one request, as data: the [`Outcome`] enum, counts keyed by
//! it, and the one table that turns a status or a client error into an outcome.

use serde::{Deserialize, Serialize};

/// The fate of one logical request (after any client retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A status the request class expects (2xx/3xx by default).
    Ok,
    /// An expected 401/403/429: the gateway said no, as it should have.
    Rejected,
    /// A status outside the class's expectations that is not a 5xx.
    UnexpectedStatus,
    /// A correct status, but the class's `check` failed on the answer (a wrong
    /// status for the check, a body without the text, a JSONPath that does not
    /// hold), or a value its `extract` names is not in it.
    CheckFailed,
    /// A 5xx the class does not expect.
    ServerError,
    /// No complete response within the per-request timeout.
    Timeout,
    /// No connection could be opened to any target.
    ConnectError,
    /// A target accepted the connection but the TLS handshake failed (a certificate
    /// not trusted, a client certificate refused, no common protocol), or timed out.
    TlsError,
    /// The connection failed mid-request (reset, EOF, bad HTTP).
    IoError,
    /// Never sent: the in-flight cap was reached (the generator was overrun).
    Dropped,
    /// HTTP/2: the server reset the request's stream (RST_STREAM, any error code,
    /// REFUSED_STREAM included); not retried.
    H2Reset,
    /// HTTP/2: the server sent GOAWAY with a last stream id below the request's
    /// stream: the server did not process it. The connection is opened again.
    H2Goaway,
    /// Never sent: the tenant's OAuth2 token could not be fetched from its token
    /// endpoint (a failure of the credentials, not of the system under test).
    AuthFetchFailed,
}

impl Outcome {
    /// Every outcome, in the order counts are kept.
    pub const ALL: [Outcome; 13] = [
        Outcome::Ok,
        Outcome::Rejected,
        Outcome::UnexpectedStatus,
        Outcome::CheckFailed,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::ConnectError,
        Outcome::TlsError,
        Outcome::IoError,
        Outcome::Dropped,
        Outcome::H2Reset,
        Outcome::H2Goaway,
        Outcome::AuthFetchFailed,
    ];

    /// The name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::UnexpectedStatus => "unexpected_status",
            Outcome::CheckFailed => "check_failed",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::ConnectError => "connect_error",
            Outcome::TlsError => "tls_error",
            Outcome::IoError => "io_error",
            Outcome::Dropped => "dropped",
            Outcome::H2Reset => "h2_reset",
            Outcome::H2Goaway => "h2_goaway",
            Outcome::AuthFetchFailed => "auth_fetch_failed",
        }
    }

    /// Outcomes only TLS, HTTP/2, OAuth2 or checked traffic can have (`tls_error`,
    /// `h2_reset`, `h2_goaway`, `auth_fetch_failed`, `check_failed`): listed in
    /// counts and summaries only when a request had one, so the outputs of runs
    /// without them stay as they were.
    pub fn listed_when_zero(self) -> bool {
        !matches!(
            self,
            Outcome::TlsError
                | Outcome::H2Reset
                | Outcome::H2Goaway
                | Outcome::AuthFetchFailed
                | Outcome::CheckFailed
        )
    }

    /// Whether a count of `n` is listed in results and summaries.
    pub fn listed(self, n: u64) -> bool {
        n > 0 || self.listed_when_zero()
    }

    /// Whether a request with this outcome went out at all.
    pub fn was_sent(self) -> bool {
        !matches!(self, Outcome::Dropped | Outcome::AuthFetchFailed)
    }

    /// Availability counts `ok` and expected rejections as good; everything else is bad.
    pub fn is_good(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Rejected)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A client-side failure before a status line arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFailure {
    Timeout,
    Connect,
    /// The TLS handshake failed.
    Tls,
    Io,
    /// HTTP/2 RST_STREAM from the server, with its error code (RFC 9113 §7).
    H2Reset(u32),
    /// HTTP/2 GOAWAY whose last stream id is below the request's stream.
    H2Goaway,
    /// The tenant's OAuth2 token could not be fetched: nothing was sent.
    AuthFetch,
}

/// The one table: what a response (or its absence) means for a request class.
///
/// `expect` is the class's list of correct statuses (empty = any 2xx/3xx).
/// An expected 401/403/429 is a [`Outcome::Rejected`]: correct, but not served.
pub fn classify(result: Result<u16, ClientFailure>, expect: &[u16]) -> Outcome {
    let status = match result {
        Ok(status) => status,
        Err(ClientFailure::Timeout) => return Outcome::Timeout,
        Err(ClientFailure::Connect) => return Outcome::ConnectError,
        Err(ClientFailure::Tls) => return Outcome::TlsError,
        Err(ClientFailure::Io) => return Outcome::IoError,
        Err(ClientFailure::H2Reset(_)) => return Outcome::H2Reset,
        Err(ClientFailure::H2Goaway) => return Outcome::H2Goaway,
        Err(ClientFailure::AuthFetch) => return Outcome::AuthFetchFailed,
    };
    let expected = if expect.is_empty() {
        (200..400).contains(&status)
    } else {
        expect.contains(&status)
    };
    match (expected, status) {
        (true, 401 | 403 | 429) => Outcome::Rejected,
        (true, _) => Outcome::Ok,
        (false, 500..) => Outcome::ServerError,
        (false, _) => Outcome::UnexpectedStatus,
    }
}

/// Counts by outcome; serialized as `{"ok": n, "rejected": n, …}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts([u64; Outcome::ALL.len()]);

impl OutcomeCounts {
    /// Count one more `outcome`.
    #[inline]
    pub fn add(&mut self, outcome: Outcome) {
        self.0[outcome.index()] += 1;
    }

    /// The count of `outcome`.
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.0[outcome.index()]
    }

    /// Add every count of `other`.
    pub fn merge(&mut self, other: &OutcomeCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// All requests counted, dropped ones included.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Requests that were sent (everything but `dropped` and `auth_fetch_failed`).
    pub fn sent(&self) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|o| o.was_sent())
            .map(|o| self.get(*o))
            .sum()
    }

    /// Requests with a good outcome (availability's numerator).
    pub fn good(&self) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|o| o.is_good())
            .map(|o| self.get(*o))
            .sum()
    }
}

impl Serialize for OutcomeCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let listed = || Outcome::ALL.into_iter().filter(|o| o.listed(self.get(*o)));
        let mut map = s.serialize_map(Some(listed().count()))?;
        for outcome in listed() {
            map.serialize_entry(outcome.name(), &self.get(outcome))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OutcomeCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<Outcome, u64>::deserialize(d)?;
        let mut counts = OutcomeCounts::default();
        for (outcome, n) in map {
            counts.0[outcome.index()] = n;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use ClientFailure as F;
        use Outcome as O;
        let cases: &[(Result<u16, F>, &[u16], Outcome)] = &[
            (Ok(200), &[], O::Ok),
            (Ok(201), &[], O::Ok),
            (Ok(304), &[], O::Ok),
            (Ok(404), &[], O::UnexpectedStatus),
            (Ok(401), &[], O::UnexpectedStatus),
            (Ok(429), &[], O::UnexpectedStatus),
            (Ok(500), &[], O::ServerError),
            (Ok(503), &[], O::ServerError),
            (Ok(200), &[200, 429], O::Ok),
            (Ok(429), &[200, 429], O::Rejected),
            (Ok(401), &[401], O::Rejected),
            (Ok(403), &[403], O::Rejected),
            (Ok(200), &[401], O::UnexpectedStatus),
            (Ok(404), &[404], O::Ok),
            (Ok(503), &[200], O::ServerError),
            (Ok(503), &[503], O::Ok),
            (Ok(302), &[200], O::UnexpectedStatus),
            (Err(F::Timeout), &[], O::Timeout),
            (Err(F::Connect), &[200], O::ConnectError),
            (Err(F::Tls), &[], O::TlsError),
            (Err(F::Io), &[], O::IoError),
            (Err(F::H2Reset(7)), &[], O::H2Reset),
            (Err(F::H2Goaway), &[200], O::H2Goaway),
            (Err(F::AuthFetch), &[], O::AuthFetchFailed),
        ];
        for (result, expect, want) in cases {
            assert_eq!(
                classify(*result, expect),
                *want,
                "{result:?} expect {expect:?}"
            );
        }
    }

    #[test]
    fn counts_round_trip_as_a_map() {
        let mut c = OutcomeCounts::default();
        c.add(Outcome::Ok);
        c.add(Outcome::Ok);
        c.add(Outcome::Dropped);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["ok"], 2);
        assert_eq!(json["dropped"], 1);
        assert_eq!(json["timeout"], 0);
        let back: OutcomeCounts = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        assert_eq!((c.total(), c.sent(), c.good()), (3, 2, 2));
        // The HTTP/2 kinds appear only once counted.
        let json = serde_json::to_value(c).unwrap();
        assert!(json.get("h2_reset").is_none());
        c.add(Outcome::H2Reset);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(
            (json["h2_reset"].as_u64(), json.get("h2_goaway")),
            (Some(1), None)
        );
        assert_eq!(serde_json::from_value::<OutcomeCounts>(json).unwrap(), c);
        assert!(
            serde_json::to_value(c)
                .unwrap()
                .get("auth_fetch_failed")
                .is_none(),
            "absent while never seen"
        );
        c.add(Outcome::AuthFetchFailed);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["auth_fetch_failed"], 1);
        assert_eq!(serde_json::from_value::<OutcomeCounts>(json).unwrap(), c);
        assert_eq!((c.total(), c.sent(), c.good()), (5, 3, 2));
    }
}
