//! The proxy and toxic objects the API emits, built from a proxy's state
//! (part of [`super`]): a toxic's `type` is its attributes' kind, its
//! `stream` is echoed as the creator spelled it, and every proxy carries the
//! `Logger` member 2.12.0 leaks.

use super::{Attributes, EmptyObject, WireProxy, WireToxic};

impl WireToxic {
    /// Toxic `name` as the API shows it; `stream_label` is the stream as sent
    /// (e.g. `UPSTREAM`), `attributes` as given (negative values included).
    pub fn render(name: &str, stream_label: &str, toxicity: f32, attributes: Attributes) -> Self {
        WireToxic {
            attributes,
            name: name.to_owned(),
            kind: attributes.kind().to_owned(),
            stream: stream_label.to_owned(),
            toxicity,
        }
    }
}

impl WireProxy {
    /// Proxy `name` as the API shows it, with its toxics in the order given
    /// (upstream ones first, each stream in insertion order).
    pub fn render(
        name: &str,
        listen: &str,
        upstream: &str,
        enabled: bool,
        toxics: impl IntoIterator<Item = WireToxic>,
    ) -> Self {
        WireProxy {
            name: name.to_owned(),
            listen: listen.to_owned(),
            upstream: upstream.to_owned(),
            enabled,
            logger: EmptyObject {},
            toxics: toxics.into_iter().collect(),
        }
    }
}
