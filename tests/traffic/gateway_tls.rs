//! The bundled reference gateway terminating TLS (`[gateway.tls]`), on loopback: an
//! rcgen CA and a leaf for 127.0.0.1, a `ninefold run` whose traffic then speaks https
//! to the gateway. Expected figures come from the scenario (its rate and duration) and
//! the certificates given, never from ninefold's code.

use std::path::{Path, PathBuf};

use super::tls::{Pki, ninefold, path, pki};

/// The gateway's certificate and key as files beside the CA.
fn gateway_files(pki: &Pki) -> (PathBuf, PathBuf) {
    let cert = pki.dir.join("gateway.pem");
    let key = pki.dir.join("gateway.key");
    std::fs::write(&cert, &pki.server_cert).unwrap();
    std::fs::write(&key, &pki.server_key).unwrap();
    (cert, key)
}

/// A bundled gateway with `[gateway.tls]` in front of one mock backend, 30 requests/s
/// for 2 s; `client` is the `[client]` table (or nothing).
fn scenario(dir: &Path, cert: &Path, key: &Path, client: &str) -> PathBuf {
    scenario_with(dir, cert, key, "", client)
}

/// [`scenario`] with more `[gateway.tls]` keys (`tls_extra`, TOML lines).
fn scenario_with(dir: &Path, cert: &Path, key: &Path, tls_extra: &str, client: &str) -> PathBuf {
    let text = format!(
        r#"name = "gateway-tls"
duration = "2s"
seed = 7

[gateway]
instances = 1

[gateway.tls]
cert_file = "{}"
key_file = "{}"
{tls_extra}

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1

{client}

[[traffic]]
name = "steady"
executor = "constant-arrival-rate"
rate = 30
requests = [{{ path = "/items/1" }}]

[slo]
availability = ">= 90%"
"#,
        path(cert),
        path(key)
    );
    let p = dir.join("s.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn summary(out_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_bundled_gateway_with_tls_is_spoken_to_over_https_and_every_answer_is_ok() {
    let pki = pki("gw-tls-ok");
    let (cert, key) = gateway_files(&pki);
    let client = format!("[client]\ntls = {{ ca_file = \"{}\" }}", path(&pki.ca));
    let s = scenario(&pki.dir, &cert, &key, &client);
    let out_dir = pki.dir.join("run");
    let out = ninefold(&["run", path(&s), "--out", path(&out_dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v = summary(&out_dir);
    let sent = v["requests"]["sent"].as_u64().unwrap();
    // 30/s for 2 s: 60 scheduled.
    assert!(sent >= 55, "{v}");
    assert_eq!(v["requests"]["ok"], sent, "{v}");
    assert_eq!(v["outcomes"]["tls_error"].as_u64().unwrap_or(0), 0, "{v}");
    let setup = &v["connection_setup_ms"];
    assert!(
        setup["tls_handshake"]["count"].as_u64().unwrap() >= 1,
        "{v}"
    );
}

#[test]
fn a_client_that_does_not_trust_the_gateways_ca_gets_tls_errors() {
    let pki_gw = pki("gw-tls-other");
    let other = pki("gw-tls-other-ca");
    let (cert, key) = gateway_files(&pki_gw);
    let client = format!("[client]\ntls = {{ ca_file = \"{}\" }}", path(&other.ca));
    let s = scenario(&pki_gw.dir, &cert, &key, &client);
    let out_dir = pki_gw.dir.join("run");
    let out = ninefold(&["run", path(&s), "--out", path(&out_dir)]);
    assert_ne!(out.status.code(), Some(0));
    let v = summary(&out_dir);
    let sent = v["requests"]["sent"].as_u64().unwrap();
    assert!(sent >= 55, "{v}");
    assert_eq!(v["outcomes"]["tls_error"], sent, "{v}");
    assert_eq!(v["requests"]["ok"], 0, "{v}");
}

#[test]
fn bad_gateway_certificate_or_key_files_are_refused_at_validate_time() {
    let pki = pki("gw-tls-bad");
    let (cert, key) = gateway_files(&pki);
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let missing = pki.dir.join("missing.pem");
    let cases = [
        (not_pem.clone(), key.clone(), "gateway.tls.cert_file"),
        (cert.clone(), not_pem.clone(), "gateway.tls.key_file"),
        (missing.clone(), key.clone(), "gateway.tls.cert_file"),
        // A key that is not the certificate's: the CA's certificate with the leaf's key.
        (pki.ca.clone(), key.clone(), "gateway.tls.key_file"),
    ];
    for (c, k, locus) in cases {
        let s = scenario(&pki.dir, &c, &k, "");
        let out = ninefold(&["validate", path(&s)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{c:?} {k:?}: {stderr}");
        assert!(stderr.contains(locus), "{locus}: {stderr}");
    }
}

/// The gateway's fault-proxy link moves TCP bytes, below TLS: a latency fault on
/// `gateway[0]` still delays every answer, and every answer is still ok.
#[test]
fn a_latency_fault_on_the_tls_gateways_link_still_applies() {
    let pki = pki("gw-tls-fault");
    let (cert, key) = gateway_files(&pki);
    let client = format!(
        "[client]\ntls = {{ ca_file = \"{}\" }}\n\n[[faults]]\nat = \"0s\"\nduration = \"2s\"\naction = \"latency\"\ntarget = \"gateway[0]\"\nlatency = \"300ms\"",
        path(&pki.ca)
    );
    let s = scenario(&pki.dir, &cert, &key, &client);
    let out_dir = pki.dir.join("run");
    let out = ninefold(&["run", path(&s), "--out", path(&out_dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out_dir.join("summary.json").is_file(), "{stderr}");
    let v = summary(&out_dir);
    let sent = v["requests"]["sent"].as_u64().unwrap();
    assert!(sent >= 55, "{v}");
    assert_eq!(v["requests"]["ok"], sent, "{v}");
    // The fault's 300 ms, on every answer.
    assert!(v["latency_ms"]["p50"].as_f64().unwrap() >= 300.0, "{v}");
}

/// `[upstreams.NAME] tls`: only for `targets`, and with a CA file or `insecure`.
#[test]
fn upstream_tls_is_checked_at_validate_time() {
    let pki = pki("gw-up-tls");
    let write = |upstream: &str| {
        let text = format!(
            "name = \"u\"\nduration = \"1s\"\n[gateway]\ninstances = 1\n[upstreams.api]\n{upstream}\n[[traffic]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{{ path = \"/\" }}]\n"
        );
        let p = pki.dir.join("u.toml");
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        (
            "instances = 1\ntls = { insecure = true }".to_owned(),
            "upstreams.api.tls",
        ),
        (
            "targets = [\"localhost:9\"]\ntls = { ca_file = \"x.pem\", insecure = true }"
                .to_owned(),
            "upstreams.api.tls.insecure",
        ),
        (
            "targets = [\"localhost:9\"]\ntls = { ca_file = \"nope.pem\" }".to_owned(),
            "upstreams.api.tls.ca_file",
        ),
    ];
    for (upstream, expected) in cases {
        let out = ninefold(&["validate", path(&write(&upstream))]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{upstream}: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    let ok = format!(
        "targets = [\"localhost:9\"]\ntls = {{ ca_file = \"{}\" }}",
        path(&pki.ca)
    );
    let out = ninefold(&["validate", path(&write(&ok))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{ok}: {stderr}");
    // Neither `ca_file` nor `insecure`: the system's trust store, read at validate
    // time; refused, saying so, only on a machine whose store holds nothing.
    let system = "targets = [\"localhost:9\"]\ntls = {}".to_owned();
    let out = ninefold(&["validate", path(&write(&system))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if rustls_native_certs::load_native_certs().certs.is_empty() {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("holds no usable certificate"), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
}

/// `[gateway.tls] client_ca_file`: mutual TLS on the bundled gateway, through the
/// scenario's `[gateway]` (raw → checked → the gateway file its process reads). The
/// client with the certificate the CA signed gets every answer; one without any gets
/// `tls_error` for every request.
#[test]
fn a_bundled_gateway_asking_client_certificates_serves_only_a_client_with_one() {
    let pki = pki("gw-mtls");
    let (cert, key) = gateway_files(&pki);
    let extra = format!("client_ca_file = \"{}\"", path(&pki.ca));
    let with = format!(
        "[client]\ntls = {{ ca_file = \"{}\", cert_file = \"{}\", key_file = \"{}\" }}",
        path(&pki.ca),
        path(&pki.client_cert),
        path(&pki.client_key)
    );
    let without = format!("[client]\ntls = {{ ca_file = \"{}\" }}", path(&pki.ca));
    for (client, good) in [(with, true), (without, false)] {
        let s = scenario_with(&pki.dir, &cert, &key, &extra, &client);
        let out_dir = pki.dir.join(if good { "run-with" } else { "run-without" });
        let out = ninefold(&["run", path(&s), "--out", path(&out_dir)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out_dir.join("summary.json").is_file(), "{stderr}");
        let v = summary(&out_dir);
        let sent = v["requests"]["sent"].as_u64().unwrap();
        assert!(sent >= 55, "{v}");
        if good {
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            assert_eq!(v["requests"]["ok"], sent, "{v}");
        } else {
            assert_ne!(out.status.code(), Some(0), "{stderr}");
            assert_eq!(v["outcomes"]["tls_error"], sent, "{v}");
        }
    }
    // A `client_auth` word that is not one, and `client_auth` without a CA.
    for (extra, expected) in [
        (
            format!(
                "client_ca_file = \"{}\"\nclient_auth = \"requierd\"",
                path(&pki.ca)
            ),
            "did you mean `required`?",
        ),
        (
            "client_auth = \"optional\"".to_owned(),
            "give `client_ca_file`",
        ),
    ] {
        let s = scenario_with(&pki.dir, &cert, &key, &extra, "");
        let out = ninefold(&["validate", path(&s)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("gateway.tls.client_auth"), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

/// `[client] protocol = "h2"` against the bundled gateway over TLS (ALPN `h2`; the
/// load engine refuses a server that does not agree on it) and plain (h2c, prior
/// knowledge): the load engine's HTTP/2 through the gateway to a mock backend, every
/// answer ok.
#[test]
fn the_load_engine_speaks_http2_through_the_bundled_gateway() {
    let pki = pki("gw-h2");
    let (cert, key) = gateway_files(&pki);
    let client = format!(
        "[client]\nprotocol = \"h2\"\ntls = {{ ca_file = \"{}\" }}",
        path(&pki.ca)
    );
    let tls = scenario(&pki.dir, &cert, &key, &client);
    // The same scenario without `[gateway.tls]`: h2c to the plain listener.
    let text = std::fs::read_to_string(&tls).unwrap();
    let plain_text = text
        .replace("[gateway.tls]\n", "")
        .replace(&format!("cert_file = \"{}\"\n", path(&cert)), "")
        .replace(&format!("key_file = \"{}\"\n", path(&key)), "")
        .replace(&format!("tls = {{ ca_file = \"{}\" }}", path(&pki.ca)), "");
    assert!(
        !plain_text.contains("[gateway.tls]") && !plain_text.contains("_file"),
        "{plain_text}"
    );
    let plain = pki.dir.join("plain.toml");
    std::fs::write(&plain, plain_text).unwrap();
    for (s, name) in [(tls, "run-tls"), (plain, "run-h2c")] {
        let out_dir = pki.dir.join(name);
        let out = ninefold(&["run", path(&s), "--out", path(&out_dir)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        let v = summary(&out_dir);
        let sent = v["requests"]["sent"].as_u64().unwrap();
        assert!(sent >= 55, "{name}: {v}");
        assert_eq!(v["requests"]["ok"], sent, "{name}: {v}");
    }
}

/// `ninefold gateway --config FILE` checks `[gateway.tls]` as a scenario does.
#[test]
fn a_gateway_file_with_a_bad_tls_key_is_refused_with_its_location() {
    let pki = pki("gw-file-tls");
    let (cert, _) = gateway_files(&pki);
    let bad_key = pki.dir.join("bad.key");
    std::fs::write(&bad_key, "not a key").unwrap();
    let file = pki.dir.join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "[gateway.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[upstreams.api]\ntargets = [\"127.0.0.1:9\"]\n",
            path(&cert),
            path(&bad_key)
        ),
    )
    .unwrap();
    let out = ninefold(&[
        "gateway",
        "--config",
        path(&file),
        "--listen",
        "127.0.0.1:0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gateway.tls.key_file"), "{stderr}");
    assert!(stderr.contains("gateway.toml:3:"), "{stderr}");
}
