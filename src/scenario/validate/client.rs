//! `[client]`: TLS settings (each file read and parsed as a run would) and the
//! HTTP version.

use super::Checker;
use crate::scenario::diagnostics::Path;
use crate::scenario::model::{Client, ClientTls, HttpProtocol};
use crate::scenario::raw::RawClient;

pub(super) fn client(cx: &mut Checker<'_>, raw: Option<&RawClient>) -> Client {
    let Some(raw) = raw else {
        return Client::default();
    };
    let path = Path::root().key("client");
    let protocol = match raw.protocol.as_deref() {
        None | Some("h1") => HttpProtocol::H1,
        Some("h2") => HttpProtocol::H2,
        Some(other) => {
            cx.err(
                &path.key("protocol"),
                format!("unknown protocol `{other}`; accepted: \"h1\" (HTTP/1.1), \"h2\" (HTTP/2)"),
            );
            HttpProtocol::H1
        }
    };
    let tls = match &raw.tls {
        None => ClientTls::default(),
        Some(t) => {
            let tp = path.key("tls");
            let file = |cx: &mut Checker<'_>, key: &str, v: &Option<String>| {
                v.as_deref().map(|f| cx.existing_file(&tp.key(key), f))
            };
            let tls = ClientTls {
                ca_file: file(cx, "ca_file", &t.ca_file),
                cert_file: file(cx, "cert_file", &t.cert_file),
                key_file: file(cx, "key_file", &t.key_file),
                insecure: t.insecure.unwrap_or(false),
            };
            let missing = [&tls.ca_file, &tls.cert_file, &tls.key_file]
                .into_iter()
                .flatten()
                .any(|p| !p.is_file());
            // Files that exist are read and parsed now; a missing one was reported.
            if !missing {
                for (key, message) in crate::scenario::tls_files::check(&tls) {
                    cx.err(&tp.key(key), message);
                }
            }
            if tls.insecure && tls.ca_file.is_some() {
                cx.err(
                    &tp.key("insecure"),
                    "`insecure = true` verifies no certificate, so `ca_file` would be ignored: keep one of them",
                );
            }
            tls
        }
    };
    let mut connect_to = Vec::new();
    for (i, text) in raw.connect_to.iter().flatten().enumerate() {
        match crate::scenario::model::ConnectTo::parse(text) {
            Ok(c) => connect_to.push(c),
            Err(message) => cx.err(&path.key("connect_to").index(i), message),
        }
    }
    let resolve_every = cx.duration(
        &path.key("resolve_every"),
        raw.resolve_every.as_deref(),
        crate::scenario::model::DEFAULT_RESOLVE_EVERY,
        true,
    );
    Client {
        tls,
        protocol,
        connect_to,
        resolve_every,
    }
}

/// The warning a scenario with `insecure = true` gets (validate and run start).
pub const INSECURE_WARNING: &str = "INSECURE: the server's TLS certificate is NOT verified (`insecure = true`); anyone on the path could answer in its place; summary.json (`tls_insecure`) and the reports say so";

#[cfg(test)]
mod tests {
    use crate::scenario::load::parse_str;
    use crate::scenario::model::HttpProtocol;
    use crate::scenario::unparse::to_raw;

    const BASE: &str = "name = \"x\"\nduration = \"1s\"\n[gateway]\nurl = \"https://127.0.0.1:9\"\n[[traffic]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{ path = \"/\" }]\n";

    #[test]
    fn client_settings_survive_the_round_trip_and_the_default_is_absent() {
        let dir = std::path::Path::new("/");
        let text = format!("{BASE}[client]\nprotocol = \"h2\"\ntls = {{ insecure = true }}\n");
        let loaded = parse_str("t", &text, dir).unwrap();
        assert_eq!(loaded.scenario.client.protocol, HttpProtocol::H2);
        assert!(loaded.scenario.client.tls.insecure);
        assert!(loaded.warnings.to_string().contains("NOT verified"));
        let again = toml::to_string(&to_raw(&loaded.scenario)).unwrap();
        let reloaded = parse_str("t", &again, dir).unwrap();
        assert_eq!(reloaded.scenario.client, loaded.scenario.client);
        // No [client]: nothing written back, so saved scenarios keep their text.
        let plain = parse_str("t", BASE, dir).unwrap();
        assert!(to_raw(&plain.scenario).client.is_none());
    }
}
