//! Prometheus remote-write 1.0: the protobuf messages (declared by hand, as
//! in prometheus/prompb's `remote.proto` and `types.proto`: only the fields
//! ninefold sends), snappy block compression, the POST, and a small queue so
//! a failed push is retried on the next one, in order, and counted.

use std::collections::VecDeque;
use std::time::Duration;

use super::series::Family;

/// `prometheus.WriteRequest` (field 3, metadata, is not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, `__name__` among them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: the timestamp in ms since the Unix epoch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Every point of `families` as one sample at `timestamp_ms`.
pub fn write_request(families: &[Family], timestamp_ms: i64) -> WriteRequest {
    let mut timeseries = Vec::new();
    for f in families {
        for p in &f.points {
            let mut labels: Vec<Label> = p
                .labels
                .iter()
                .map(|(k, v)| Label {
                    name: (*k).to_owned(),
                    value: v.clone(),
                })
                .collect();
            labels.push(Label {
                name: "__name__".into(),
                value: p.name.clone(),
            });
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            timeseries.push(TimeSeries {
                labels,
                samples: vec![Sample {
                    value: p.value,
                    timestamp: timestamp_ms,
                }],
            });
        }
    }
    WriteRequest { timeseries }
}

/// The body of a push: the protobuf, snappy-compressed (the block format, not framed).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    use prost::Message;
    // Compressing a buffer in memory fails only past snappy's 4 GiB limit.
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap_or_default()
}

/// Pushes kept for a retry while the receiver fails: a minute of one a second.
pub const QUEUE: usize = 60;

/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// What the pushes of a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Pushes the receiver accepted.
    pub sent: u64,
    /// Attempts that failed (each retried later, until dropped).
    pub failed_attempts: u64,
    /// Pushes given up: refused by the receiver (4xx other than 429: a retry
    /// cannot help), or the oldest when the queue was full.
    pub dropped: u64,
    /// Still queued at the end (never accepted).
    pub unsent: u64,
    /// The last failure's reason.
    pub last_error: Option<String>,
}

/// The sending end: a client, the URL, the queue of pushes not yet accepted.
#[derive(Debug)]
pub struct Pusher {
    client: reqwest::Client,
    url: reqwest::Url,
    queue: VecDeque<Vec<u8>>,
    pub stats: PushStats,
}

impl Pusher {
    pub fn new(url: reqwest::Url) -> Self {
        Pusher {
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .unwrap_or_default(),
            url,
            queue: VecDeque::new(),
            stats: PushStats::default(),
        }
    }

    /// Queue one push (dropping the oldest when full) and send what is queued.
    pub async fn push(&mut self, body: Vec<u8>) -> bool {
        self.queue.push_back(body);
        while self.queue.len() > QUEUE {
            self.queue.pop_front();
            self.stats.dropped += 1;
        }
        self.flush().await
    }

    /// Send the queue in order; stop at the first failure (kept for later).
    /// `true` when the queue is empty.
    pub async fn flush(&mut self) -> bool {
        while let Some(body) = self.queue.front() {
            match self.send(body.clone()).await {
                Ok(()) => {
                    self.queue.pop_front();
                    self.stats.sent += 1;
                }
                Err((e, retry)) => {
                    self.stats.failed_attempts += 1;
                    self.stats.last_error = Some(e);
                    if retry {
                        return false;
                    }
                    self.queue.pop_front();
                    self.stats.dropped += 1;
                }
            }
        }
        true
    }

    /// What is left unsent, counted in the stats.
    pub fn close(mut self) -> PushStats {
        self.stats.unsent = self.queue.len() as u64;
        self.stats
    }

    /// One POST; the error says whether a retry may help.
    async fn send(&self, body: Vec<u8>) -> Result<(), (String, bool)> {
        let resp = self
            .client
            .post(self.url.clone())
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header(
                "User-Agent",
                concat!("ninefold/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .map_err(|e| (format!("{}: {e}", self.url), true))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let retry = status.is_server_error() || status.as_u16() == 429;
        Err((format!("{}: {status}: {}", self.url, text.trim()), retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The bytes of a WriteRequest as protoc would write them, by hand from
    /// the protobuf wire format: field 1 (timeseries, length-delimited) holding
    /// field 1 (label: name, value) and field 2 (sample: double, int64).
    #[test]
    fn the_wire_bytes_are_the_protobuf_of_remote_proto() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
            }],
        };
        let bytes = req.encode_to_vec();
        let label = [0x0a, 0x01, b'a', 0x12, 0x01, b'b'];
        let mut sample = vec![0x09];
        sample.extend_from_slice(&1.0f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x02]);
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.push(0x12);
        series.push(sample.len() as u8);
        series.extend_from_slice(&sample);
        let mut want = vec![0x0a, series.len() as u8];
        want.extend_from_slice(&series);
        assert_eq!(bytes, want);
        // Snappy's block format round-trips (no stream framing).
        let body = encode(&req);
        let back = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(&back[..]).unwrap(), req);
    }

    #[tokio::test]
    async fn a_receiver_that_is_not_there_is_counted_not_fatal() {
        // A port nobody listens on: bind :0, then release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/api/v1/write")).unwrap();
        let mut p = Pusher::new(url);
        assert!(!p.push(vec![1, 2, 3]).await);
        assert!(!p.push(vec![4]).await);
        let stats = p.close();
        assert_eq!(stats.sent, 0);
        assert_eq!(stats.failed_attempts, 2);
        assert_eq!(stats.unsent, 2, "both kept, in order, for a retry");
        assert!(stats.last_error.is_some());
    }
}
