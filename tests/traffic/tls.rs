//! TLS end to end, on loopback: a TLS-only HTTP/1.1 server in the test (rcgen CA
//! and a leaf for `localhost` / 127.0.0.1, tokio-rustls acceptor, a keep-alive
//! responder that counts the requests it answers), driven by the `ninefold` binary
//! (`attack` and `run` with `[gateway] url = "https://…"`).
//!
//! Expected figures come from the server's own count and the flags given, never
//! from ninefold's code.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

/// A CA, a server leaf signed by it, and a client leaf signed by it, as PEM files.
pub(super) struct Pki {
    pub(super) dir: PathBuf,
    pub(super) ca: PathBuf,
    pub(super) server_cert: String,
    pub(super) server_key: String,
    pub(super) client_cert: PathBuf,
    pub(super) client_key: PathBuf,
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ninefold-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(super) fn pki(name: &str) -> Pki {
    pki_naming(name, &["localhost", "127.0.0.1"])
}

/// A [`Pki`] whose server certificate names `names` only.
pub(super) fn pki_naming(name: &str, names: &[&str]) -> Pki {
    let dir = dir(name);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ninefold test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(names.iter().map(|n| (*n).to_owned()).collect());
    let (client_cert, client_key) = leaf(vec!["client.test".into()]);
    let write = |n: &str, text: &str| {
        let p = dir.join(n);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", &ca_cert.pem()),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
        server_cert,
        server_key,
        dir,
    }
}

/// A TLS-only HTTP/1.1 server on 127.0.0.1:0, in its own thread; it stops with the
/// test process.
pub(super) struct Server {
    pub(super) addr: SocketAddr,
    pub(super) answered: Arc<AtomicU64>,
}

pub(super) fn server(pki: &Pki, require_client_cert: bool) -> Server {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let answered = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&answered);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, count) = (acceptor.clone(), Arc::clone(&count));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            count.fetch_add(1, Ordering::SeqCst);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if tls.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
    });
    Server { addr, answered }
}

pub(super) fn ninefold(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

pub(super) fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub(super) fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

const N: u64 = 40;

#[test]
fn attack_over_https_with_the_ca_file_passes_and_times_the_handshake() {
    let pki = pki("attack-ca");
    let s = server(&pki, false);
    let url = format!("https://localhost:{}/items/1", s.addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        &N.to_string(),
        "-c",
        "2",
        "--workers",
        "1",
        "--json",
        "--ca-file",
        path(&pki.ca),
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], N, "{v}");
    assert_eq!(
        s.answered.load(Ordering::SeqCst),
        N,
        "the TLS server answered each"
    );
    let setup = &v["connection_setup_ms"];
    assert!(setup["tcp_connect"]["p50"].as_f64().unwrap() > 0.0, "{v}");
    assert!(setup["tls_handshake"]["p50"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v.get("tls_insecure").is_none(), "absent when verified: {v}");
}

#[test]
fn without_the_ca_the_certificate_is_refused_as_a_tls_error_not_an_io_error() {
    let pki = pki("attack-noca");
    let s = server(&pki, false);
    let url = format!("https://127.0.0.1:{}/", s.addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        "10",
        "-c",
        "1",
        "--workers",
        "1",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(3), "no answer at all: {v}");
    assert_eq!(v["outcomes"]["tls_error"], 10, "{v}");
    assert_eq!(v["outcomes"]["io_error"], 0, "{v}");
    assert_eq!(s.answered.load(Ordering::SeqCst), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate") && stderr.contains("--ca-file"),
        "the reason and the remedy are printed: {stderr}"
    );
}

#[test]
fn insecure_skips_verification_and_says_so() {
    let pki = pki("attack-insecure");
    let s = server(&pki, false);
    let url = format!("https://localhost:{}/", s.addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        "10",
        "-c",
        "1",
        "--json",
        "--insecure",
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], 10);
    assert_eq!(v["tls_insecure"], true, "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NOT verified"), "{stderr}");
    // And the human summary says it too.
    let out = ninefold(&["attack", &url, "-n", "5", "-c", "1", "--insecure"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("INSECURE"));
}

#[test]
fn mutual_tls_works_with_the_client_certificate_and_fails_without() {
    let pki = pki("attack-mtls");
    let s = server(&pki, true);
    let url = format!("https://localhost:{}/", s.addr.port());
    let ca = path(&pki.ca);
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        "10",
        "-c",
        "1",
        "--json",
        "--ca-file",
        ca,
        "--cert",
        path(&pki.client_cert),
        "--key",
        path(&pki.client_key),
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], 10);
    assert_eq!(s.answered.load(Ordering::SeqCst), 10);
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        "10",
        "-c",
        "1",
        "--json",
        "--ca-file",
        ca,
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(3), "{v}");
    assert_eq!(
        v["outcomes"]["tls_error"], 10,
        "refused by the server's TLS, not io: {v}"
    );
    assert_eq!(
        s.answered.load(Ordering::SeqCst),
        10,
        "nothing more answered"
    );
}

#[test]
fn tls_flags_are_checked_before_any_traffic() {
    let pki = pki("attack-flags");
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let out = ninefold(&[
        "attack",
        "https://127.0.0.1:9/",
        "--ca-file",
        path(&not_pem),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--ca-file") && stderr.contains("not.pem"),
        "{stderr}"
    );
    // A certificate with another's key.
    let other = pki.dir.join("other.key");
    std::fs::write(&other, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let out = ninefold(&[
        "attack",
        "https://127.0.0.1:9/",
        "--cert",
        path(&pki.client_cert),
        "--key",
        path(&other),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not go together"));
    // TLS flags with a plain URL are a mistake, not ignored.
    let out = ninefold(&["attack", "http://127.0.0.1:9/", "--insecure"]);
    assert_eq!(out.status.code(), Some(2));
    // Another scheme is refused, not spoken to as http.
    let out = ninefold(&["attack", "ftp://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(2));
}

pub(super) fn external_scenario(dir: &Path, url: &str, client: &str) -> PathBuf {
    let text = format!(
        r#"name = "tls-external"
duration = "2s"
seed = 7

[gateway]
url = "{url}"

{client}

[[traffic]]
name = "steady"
executor = "constant-arrival-rate"
rate = 30
requests = [{{ path = "/items/1" }}]

[slo]
availability = ">= 90%"
"#
    );
    let p = dir.join("s.toml");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

/// The regression of issue 22: an https:// `[gateway] url` validated and was then
/// spoken to in plaintext (every request an io_error, verdict FAIL).
#[test]
fn an_https_gateway_url_is_spoken_to_over_tls_not_in_plaintext() {
    let pki = pki("run-https");
    let s = server(&pki, false);
    let url = format!("https://localhost:{}", s.addr.port());
    let client = format!("[client]\ntls = {{ ca_file = \"{}\" }}", path(&pki.ca));
    let scenario = external_scenario(&pki.dir, &url, &client);
    let out_dir = pki.dir.join("run");
    let out = ninefold(&["run", path(&scenario), "--out", path(&out_dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let sent = summary["requests"]["sent"].as_u64().unwrap();
    assert!(sent >= 50, "{summary}");
    assert_eq!(summary["requests"]["ok"], sent, "{summary}");
    assert_eq!(summary["outcomes"]["io_error"], 0);
    assert_eq!(
        s.answered.load(Ordering::SeqCst),
        sent,
        "every request reached the TLS server"
    );
    let setup = &summary["connection_setup_ms"];
    assert!(
        setup["tls_handshake"]["count"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(summary.get("tls_insecure").is_none());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    assert!(results["recording"]["connection_setup"]["tls_handshake"].is_string());
    let md = std::fs::read_to_string(out_dir.join("summary.md")).unwrap();
    assert!(md.contains("connection set-up"), "{md}");
}

#[test]
fn an_insecure_run_is_noted_in_the_summary_and_warned_at_validate_time() {
    let pki = pki("run-insecure");
    let s = server(&pki, false);
    let url = format!("https://127.0.0.1:{}", s.addr.port());
    let scenario = external_scenario(&pki.dir, &url, "[client]\ntls = { insecure = true }");
    let out = ninefold(&["validate", path(&scenario)]);
    assert_eq!(out.status.code(), Some(0));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("NOT verified"), "{text}");
    let out_dir = pki.dir.join("run");
    let out = ninefold(&["run", path(&scenario), "--out", path(&out_dir)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["tls_insecure"], true);
    assert!(
        summary["warnings"].to_string().contains("INSECURE"),
        "{summary}"
    );
    let md = std::fs::read_to_string(out_dir.join("summary.md")).unwrap();
    assert!(md.contains("INSECURE"), "{md}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("INSECURE"));
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<property name=\"tls_insecure\" value=\"true\"/>"),
        "{junit}"
    );
}

#[test]
fn bad_tls_files_are_refused_at_validate_time_where_they_are_named() {
    let pki = pki("validate");
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let cases = [
        (
            format!("[client]\ntls = {{ ca_file = \"{}\" }}", path(&not_pem)),
            "client.tls.ca_file",
        ),
        (
            format!(
                "[client]\ntls = {{ ca_file = \"{}/nope.pem\" }}",
                pki.dir.display()
            ),
            "client.tls.ca_file",
        ),
        (
            format!(
                "[client]\ntls = {{ cert_file = \"{}\" }}",
                path(&pki.client_cert)
            ),
            "client.tls.key_file",
        ),
        ("[client]\nprotocol = \"h3\"".to_owned(), "client.protocol"),
        // A client that speaks plain HTTP only refuses https:// rather than downgrading.
        (
            "[toxiproxy]\nurl = \"https://127.0.0.1:8474\"".to_owned(),
            "toxiproxy.url",
        ),
    ];
    for (client, key) in cases {
        let scenario = external_scenario(&pki.dir, "https://127.0.0.1:9", &client);
        let out = ninefold(&["validate", path(&scenario)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{client}: {stderr}");
        assert!(stderr.contains(key), "{client}: {stderr}");
    }
}

#[test]
fn the_hyper_cross_check_client_speaks_the_same_tls() {
    let pki = pki("attack-hyper");
    let s = server(&pki, false);
    let url = format!("https://localhost:{}/", s.addr.port());
    let out = ninefold(&[
        "attack",
        &url,
        "-n",
        "20",
        "-c",
        "2",
        "--json",
        "--client",
        "hyper",
        "--ca-file",
        path(&pki.ca),
    ]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcomes"]["ok"], 20, "{v}");
    assert_eq!(s.answered.load(Ordering::SeqCst), 20);
    let out = ninefold(&[
        "attack", &url, "-n", "5", "-c", "1", "--json", "--client", "hyper",
    ]);
    let v = json(&out);
    assert_eq!(v["outcomes"]["tls_error"], 5, "{v}");
}
