//! `ninefold toxiproxy` as a process: ready line, `--config`, `--seed`, and a
//! clean exit on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ninefold::topology::ready::ReadyLine;

const WAIT: Duration = Duration::from_secs(20);

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[test]
fn serves_config_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("ninefold-toxiproxy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("proxies.json");
    std::fs::write(&config, r#"[{"name":"redis","listen":"127.0.0.1:0","upstream":"127.0.0.1:6379"},{"name":"off","upstream":"x:1","enabled":false,"toxics":[{"type":"latency","stream":"upstream","attributes":{"latency":5}},{"type":"bogus"}]}]"#).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args(["toxiproxy", "--port", "0", "--seed", "7", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(ready) = ReadyLine::parse(&line) {
                let _ = tx.send(ready);
            }
        }
    });
    let ready = rx.recv_timeout(WAIT).expect("ready line");
    assert_eq!(ready.role, "toxiproxy");
    assert_eq!(get(ready.addr, "/version"), "{\"version\": \"2.12.0\"}\n");
    let proxies: serde_json::Value = serde_json::from_str(&get(ready.addr, "/proxies")).unwrap();
    assert_eq!(proxies["redis"]["enabled"], true);
    assert_eq!(proxies["off"]["enabled"], false);
    // Our extension: toxics in the config file (a bad one is reported, the rest kept).
    assert_eq!(proxies["off"]["toxics"][0]["name"], "latency_upstream");
    assert_eq!(proxies["off"]["toxics"].as_array().unwrap().len(), 1);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Bounded wait for the exit: `wait` on a helper thread, a timeout here.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = done_rx
        .recv_timeout(WAIT)
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_config_is_bad_input() {
    let dir = std::env::temp_dir().join(format!("ninefold-toxiproxy-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.json");
    std::fs::write(&config, r#"{"not":"an array"}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args(["toxiproxy", "--port", "0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("JSON array"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
