//! The `command` keys (a pool's or the gateway's) that cannot work, each refused
//! with its line, column and what would be accepted; and a valid one written back
//! and read again unchanged.

use std::path::Path;

use ninefold::scenario::load::parse_str;
use ninefold::scenario::unparse::to_raw;

const POOL: &str = r#"name = "c"
duration = "10s"

[upstreams.api]
instances = 2
command = ["python3", "service.py", "--port", "{port}"]
cwd = "commands"
ready = { http = "/health" }

[[traffic]]
executor = "constant-arrival-rate"
rate = 5
requests = [{ path = "/items/1" }]
"#;

/// The bundled scenarios' folder: `commands/` is there, and the nginx template.
fn base() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
}

fn problems(text: &str) -> String {
    match parse_str("c.toml", text, base()) {
        Ok(_) => panic!("should not validate:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_valid_command_pool_round_trips() {
    let loaded = parse_str("c.toml", POOL, base()).unwrap();
    let text = toml::to_string(&to_raw(&loaded.scenario)).unwrap();
    let again = parse_str("again.toml", &text, base()).unwrap();
    assert_eq!(again.scenario, loaded.scenario, "{text}");
}

#[test]
fn every_impossible_command_is_located_and_explained() {
    let gateway = |keys: &str| {
        POOL.replace(
            "[upstreams.api]",
            &format!("[gateway]\n{keys}\n\n[upstreams.api]"),
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            POOL.replace("instances = 2", "targets = [\"127.0.0.1:9\"]"),
            "5:11: upstreams.api.targets: give either `command` (ninefold starts your service) or `targets`",
        ),
        (
            POOL.replace("cwd = \"commands\"", "latency = { fixed = \"5ms\" }"),
            "7:1: upstreams.api.latency: `latency` shapes ninefold's mock backend",
        ),
        (
            POOL.replace(
                "ready = { http = \"/health\" }",
                "ready = { line = \"(unclosed\" }",
            ),
            "upstreams.api.ready.line: not a regular expression",
        ),
        (
            POOL.replace(
                "ready = { http = \"/health\" }",
                "ready = { http = \"health\" }",
            ),
            "upstreams.api.ready.http: `health` is not a request path",
        ),
        (
            POOL.replace(
                "command = [\"python3\", \"service.py\", \"--port\", \"{port}\"]\n",
                "",
            ),
            "upstreams.api.cwd: `cwd` belongs to a `command` ninefold starts",
        ),
        (
            format!(
                "{POOL}\n[[faults]]\nat = \"1s\"\naction = \"error_rate\"\nrate = 0.5\ntarget = \"api[0]\"\n"
            ),
            "faults[0].action: `error_rate` uses the admin API of ninefold's mock backend; pool `api[0]` runs your `command`",
        ),
        (
            gateway(
                "command = [\"nginx\"]\nurl = \"http://127.0.0.1:1\"\nready = { http = \"/\" }",
            ),
            "gateway.url: give either `command` (ninefold starts your gateway) or `url`",
        ),
        (
            gateway("command = [\"nginx\", \"-c\", \"{config}\"]\nready = { http = \"/\" }"),
            "gateway.command[2]: unknown placeholder `{config}`",
        ),
        (
            gateway(
                "command = [\"nginx\"]\nready = { http = \"/\" }\n[[gateway.routes]]\npath = \"/\"\nupstream = \"api\"",
            ),
            "gateway.routes: `routes` configures the reference gateway",
        ),
        (
            gateway("config = \"nginx-failover.conf.tmpl\""),
            "gateway.config: `config` belongs to a `command` ninefold starts",
        ),
        (
            gateway("command = []\nready = { http = \"/\" }"),
            "gateway.command: must name the program to run",
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let got = problems(text);
        if !got.contains(expected) {
            failures.push(format!("want: {expected}\ngot:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_template_with_an_unknown_pool_is_refused_with_its_line() {
    let dir = std::env::temp_dir().join(format!("ninefold-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("gw.conf.tmpl"),
        "upstream api {\n    server {upstreams.apu.addr};\n}\nlisten {port};\n",
    )
    .unwrap();
    let text = POOL
        .replace("cwd = \"commands\"\n", "")
        .replace(
            "[upstreams.api]",
            "[gateway]\ncommand = [\"nginx\", \"-c\", \"{config}\"]\nconfig = \"gw.conf.tmpl\"\nready = { http = \"/\" }\n\n[upstreams.api]",
        );
    let got = match parse_str("c.toml", &text, &dir) {
        Ok(_) => panic!("should not validate"),
        Err(e) => e.to_string(),
    };
    assert!(
        got.contains(
            "gw.conf.tmpl: line 2: `{upstreams.apu.addr}`: no pool `apu`; did you mean `api`?"
        ),
        "{got}"
    );
}
