//! The one table that maps fault-proxy errors to Toxiproxy's messages and
//! HTTP statuses (its `ApiError` list); `api.rs` renders them, the embedded
//! handle returns them as they are.

/// An error of the fault proxy, with the exact message Toxiproxy 2.12 sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultProxyError {
    /// 400: the body is not the JSON expected (decoder message attached).
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// 400: `name` / `upstream` missing (`name at proxy 2` for `/populate`).
    #[error("missing required field: {0}")]
    MissingField(String),
    /// 404.
    #[error("proxy not found")]
    ProxyNotFound,
    /// 409.
    #[error("proxy already exists")]
    ProxyAlreadyExists,
    /// 400.
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    /// 400.
    #[error("invalid toxic type")]
    InvalidToxicType,
    /// 409.
    #[error("toxic already exists")]
    ToxicAlreadyExists,
    /// 404.
    #[error("toxic not found")]
    ToxicNotFound,
    /// 400: a proxy name with a `/` (it could never be addressed by a path;
    /// the reference accepts it: a deliberate difference).
    #[error("invalid proxy name: must not contain '/'")]
    InvalidProxyName,
    /// 413: the request body is over the API's size limit (the reference has
    /// no limit: a deliberate difference).
    #[error("request body too large")]
    BodyTooLarge,
    /// 500: the listener could not be opened, e.g.
    /// `listen tcp 127.0.0.1:3310: bind: address already in use`.
    #[error("{0}")]
    Listen(String),
}

impl FaultProxyError {
    /// The HTTP status Toxiproxy answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            FaultProxyError::BadRequestBody(_)
            | FaultProxyError::MissingField(_)
            | FaultProxyError::InvalidStream
            | FaultProxyError::InvalidToxicType
            | FaultProxyError::InvalidProxyName => 400,
            FaultProxyError::BodyTooLarge => 413,
            FaultProxyError::ProxyNotFound | FaultProxyError::ToxicNotFound => 404,
            FaultProxyError::ProxyAlreadyExists | FaultProxyError::ToxicAlreadyExists => 409,
            FaultProxyError::Listen(_) => 500,
        }
    }
}

/// Go's text for a failed `net.Listen("tcp", addr)`.
pub(crate) fn listen_error(addr: &str, err: &std::io::Error) -> FaultProxyError {
    use std::io::ErrorKind;
    let detail = match err.kind() {
        ErrorKind::AddrInUse => "bind: address already in use".to_owned(),
        ErrorKind::AddrNotAvailable => "bind: cannot assign requested address".to_owned(),
        ErrorKind::PermissionDenied => "bind: permission denied".to_owned(),
        _ => {
            // Drop Rust's " (os error N)" suffix and lower the first letter, as Go prints.
            let text = err.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
            let mut chars = text.chars();
            chars
                .next()
                .map_or(String::new(), |c| c.to_lowercase().chain(chars).collect())
        }
    };
    FaultProxyError::Listen(format!("listen tcp {addr}: {detail}"))
}
