//! Broken scenarios: each is rejected with exit 2, its exact location and a
//! message that says what would be accepted. Never a panic.

use std::path::PathBuf;
use std::process::Command;

const BASE: &str = r#"name = "t"
duration = "10s"

[upstreams.api]
instances = 2
zones = ["a", "b"]

[[tenants]]
id = "acme"
plan = { rate = 10 }

[[traffic]]
executor = "constant-arrival-rate"
rate = 5
requests = [{ path = "/items/1" }]
"#;

// Long: the table of bad scenario files and the located message each must give.
/// (case name, file text, expected "LINE:COL: message fragment").
fn cases() -> Vec<(&'static str, String, &'static str)> {
    let with = |extra: &str| format!("{BASE}{extra}");
    let replace = |from: &str, to: &str| {
        assert!(BASE.contains(from), "{from}");
        BASE.replacen(from, to, 1)
    };
    vec![
        (
            "unknown top-level key",
            replace("duration", "durration"),
            "2:1: unknown key `durration` at the top level; did you mean `duration`? Expected one of: client, confidence, description, duration,",
        ),
        (
            "unknown key in a phase",
            with("vuz = 3\n"),
            "16:1: unknown key `vuz` in [traffic[0]]; did you mean `vus`? Expected one of: arrivals,",
        ),
        (
            "a flow variable no earlier step extracts",
            replace(
                "requests = [{ path = \"/items/1\" }]",
                "flow = true\nrequests = [{ path = \"/o\", extract = { item_id = \"$.id\" } }, { path = \"/items/{itemid}\" }]",
            ),
            "16:71: traffic[0].requests[1].path: no earlier step of the flow extracts `itemid`; did you mean `item_id`?",
        ),
        (
            "a JSONPath that does not parse",
            replace(
                "requests = [{ path = \"/items/1\" }]",
                "requests = [{ path = \"/items/1\", check = { json = { \"$..[\" = \"exists\" } } }]",
            ),
            "15:53: traffic[0].requests[0].check.json.\"$..[\": `$..[` is not a JSONPath expression",
        ),
        (
            "unknown protocol",
            with("protocol = \"h3\"\n"),
            "16:12: traffic[0].protocol: `h3`: accepted \"h1\" or \"h2\"",
        ),
        (
            "max_streams on an HTTP/1 phase",
            with("protocol = \"h1\"\nmax_streams = 8\n"),
            "17:15: traffic[0].max_streams: applies to HTTP/2 only",
        ),
        (
            "wrong type",
            replace("rate = 5", "rate = \"fast\""),
            "14:8: wrong type: found string \"fast\", expected f64",
        ),
        (
            "unparsable duration",
            replace("\"10s\"", "\"10 parsecs\""),
            "2:12: duration: `10 parsecs`: unknown unit `parsecs`",
        ),
        (
            "duration without unit",
            replace("\"10s\"", "\"10\""),
            "2:12: duration: `10` has no unit",
        ),
        (
            "negative duration",
            replace("\"10s\"", "\"-5s\""),
            "2:12: duration: `-5s` is negative",
        ),
        (
            "zero duration",
            replace("\"10s\"", "\"0s\""),
            "2:12: duration: must be longer than 0",
        ),
        (
            "fault after the end",
            with("\n[[faults]]\nat = \"12s\"\naction = \"kill\"\ntarget = \"api[0]\"\n"),
            "18:6: faults[0].at: `12s` is at or after the end of the run (10s)",
        ),
        (
            "fault reverting after the end",
            with(
                "\n[[faults]]\nat = \"8s\"\nduration = \"5s\"\naction = \"stop\"\ntarget = \"api[0]\"\n",
            ),
            "19:12: faults[0].duration: the fault would revert at 13s, after the run ends at 10s",
        ),
        (
            "unknown target pool",
            with("\n[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"apj[0]\"\n"),
            "20:10: faults[0].target: no pool `apj`; did you mean `api`?",
        ),
        (
            "index out of range",
            with("\n[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"api[2]\"\n"),
            "20:10: faults[0].target: `api[2]`: pool `api` has 2 instance(s)",
        ),
        (
            "unknown zone",
            with("\n[[faults]]\nat = \"1s\"\naction = \"down\"\ntarget = \"zone:c\"\n"),
            "20:10: faults[0].target: no instance is in zone `c`",
        ),
        (
            "unknown action",
            with("\n[[faults]]\nat = \"1s\"\naction = \"kil\"\ntarget = \"api[0]\"\n"),
            "19:10: faults[0].action: unknown action `kil`; did you mean `kill`?",
        ),
        (
            "parameter of another action",
            with(
                "\n[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"api[0]\"\nlatency = \"5ms\"\n",
            ),
            "21:1: faults[0].latency: does not apply to action `kill`",
        ),
        (
            "unknown tenant in a mix",
            with("tenants = { acme = 1, globex = 1 }\n"),
            "16:23: traffic[0].tenants.globex: no tenant `globex`",
        ),
        (
            "mix summing to 0",
            with("tenants = { acme = 0 }\n"),
            "16:11: traffic[0].tenants: the tenant weights sum to 0",
        ),
        (
            "bad percentage",
            with("\n[slo]\navailability = \">= 120%\"\n"),
            "18:16: slo.availability: objective `>= 120%`: a ratio must be between 0% and 100%",
        ),
        (
            "unknown metric",
            with("\n[slo]\n\"latency.p99x\" = \"< 1s\"\n"),
            "18:1: slo.\"latency.p99x\": `p99x` is not a percentile",
        ),
        (
            "unknown SLO filter",
            with("\n[slo]\n\"latency.p99{tenat=acme}\" = \"< 1s\"\n"),
            "18:1: slo.\"latency.p99{tenat=acme}\": unknown filter `tenat`; did you mean `tenant`?",
        ),
        (
            "missing required key",
            BASE.replacen("name = \"t\"\n", "", 1),
            "1:1: missing required key `name`",
        ),
        (
            "TOML syntax error",
            with("[[traffic]\n"),
            "16:11: TOML syntax error: unclosed array table, expected `]`",
        ),
        (
            "empty file",
            String::new(),
            "1:1: missing required key `name`",
        ),
        (
            "duplicate tenant id",
            with("\n[[tenants]]\nid = \"acme\"\nplan = { rate = 1 }\n"),
            "18:6: tenants[1].id: duplicate tenant id `acme`",
        ),
        (
            "zero rate",
            replace("rate = 5", "rate = 0"),
            "14:8: traffic[0].rate: must be > 0, got 0",
        ),
        (
            "confidence out of range",
            replace("name = \"t\"", "name = \"t\"\nconfidence = 1.5"),
            "2:14: confidence: must be strictly between 0 and 1",
        ),
        (
            "url with instances",
            with("\n[gateway]\nurl = \"http://127.0.0.1:8080\"\ninstances = 2\n"),
            "19:13: gateway.instances: an external gateway (`url`) is not started by ninefold",
        ),
        (
            "route to an unknown pool",
            with("\n[[gateway.routes]]\npath = \"/x\"\nupstream = \"ap\"\n"),
            "19:12: gateway.routes[0].upstream: no upstream pool `ap`; did you mean `api`?",
        ),
        (
            "unknown template variable",
            replace("/items/1", "/items/{rnd:1..5}"),
            "15:22: traffic[0].requests[0].path: unknown variable `{rnd}`; known: {seq}, {rand:A..B}, {uuid}, {tenant}",
        ),
        (
            "wrong-audience tokens against a gateway that checks no audience",
            format!(
                "{}\n[gateway.auth]\nalgorithm = \"HS256\"\nsecret = \"s\"\n",
                replace(
                    "{ path = \"/items/1\" }",
                    "{ path = \"/items/1\", token = \"wrong-audience\" }"
                )
            ),
            "15:42: traffic[0].requests[0].token: `wrong-audience` tokens need `[gateway.auth] audience`",
        ),
        (
            "executor key of another executor",
            replace("rate = 5", "rate = 5\nvus = 3"),
            "15:1: traffic[0].vus: does not apply to executor `constant-arrival-rate`",
        ),
        (
            "unknown executor",
            replace("\"constant-arrival-rate\"", "\"constant-rate\""),
            "13:12: traffic[0].executor: unknown executor `constant-rate`; did you mean `constant-vus`?",
        ),
        (
            "phase after the run",
            replace("rate = 5", "rate = 5\nstart = \"10s\""),
            "15:9: traffic[0].start: starts at or after the end of the run",
        ),
        (
            "array of tables written as a table",
            with("\n[faults]\nat = \"1s\"\n"),
            "17:1: `faults` must be an array of tables (write `[[faults]]` sections)",
        ),
    ]
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ninefold-scenario-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn validate(path: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .arg("validate")
        .arg(path)
        .output()
        .expect("run ninefold");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_broken_case_is_located_and_explained() {
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (i, (name, text, expected)) in cases.iter().enumerate() {
        let path = temp_file(&format!("case{i}.toml"), text.as_bytes());
        let (code, stderr) = validate(&path);
        let want = format!("{}:{expected}", path.display());
        if code != Some(2) || !stderr.contains(&want) || stderr.contains("panicked") {
            failures.push(format!(
                "[{name}] exit {code:?}\n  want: {want}\n  got:  {stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn binary_garbage_is_rejected_not_panicked_on() {
    let path = temp_file("garbage.toml", b"name = \"x\"\n\xff\xfe\x00\x01garbage");
    let (code, stderr) = validate(&path);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(":2:1: not a UTF-8 text file (invalid byte 0xff)"),
        "{stderr}"
    );
}

#[test]
fn several_problems_are_reported_at_once() {
    let text = BASE.replacen("rate = 5", "rate = 0", 1)
        + "\n[[faults]]\nat = \"30s\"\naction = \"kill\"\ntarget = \"api[9]\"\n";
    let path = temp_file("many.toml", text.as_bytes());
    let (code, stderr) = validate(&path);
    assert_eq!(code, Some(2));
    for needle in [
        "traffic[0].rate: must be > 0",
        "faults[0].at: `30s` is at or after",
        "faults[0].target: `api[9]`",
    ] {
        assert!(stderr.contains(needle), "missing {needle} in\n{stderr}");
    }
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
}

#[test]
fn missing_file_is_bad_input() {
    let (code, stderr) = validate(std::path::Path::new("/nonexistent/ninefold.toml"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read"), "{stderr}");
}

/// Case 10 of issue 18: an unknown key used to abort its section's parse, so
/// every other problem of the file stayed hidden until the typo was fixed.
#[test]
fn validate_does_not_stop_at_the_first_unknown_key() {
    let text = BASE
        .replacen("instances = 2", "instancez = 2\ninstances = 2", 1)
        .replacen("rate = 5", "rate = -5\nvuz = 3", 1);
    let path = temp_file("unknown-and-invalid.toml", text.as_bytes());
    let (code, stderr) = validate(&path);
    assert_eq!(code, Some(2), "{stderr}");
    let file = path.display();
    for want in [
        format!(
            "{file}:5:1: unknown key `instancez` in [upstreams.api]; did you mean `instances`? Expected one of: balance, command, cwd, env, errors,"
        ),
        format!("{file}:15:8: traffic[0].rate: must be > 0, got -5"),
        format!(
            "{file}:16:1: unknown key `vuz` in [traffic[0]]; did you mean `vus`? Expected one of: arrivals,"
        ),
    ] {
        assert!(stderr.contains(&want), "missing {want} in\n{stderr}");
    }
    assert!(stderr.contains(": 3 problem(s)"), "{stderr}");
}

/// Issue 18, case 9: instances no request passes through (mock backends behind
/// an external gateway, a pool no route names) and faults on them are warned
/// about, `FILE:LINE:COL: warning: ...`, and the file stays valid (exit 0).
#[test]
fn validate_warns_about_instances_no_request_passes_through() {
    // The old starter with `url` in place of `instances`: mocks started, one killed.
    let text = ninefold::cli::init::starter("ext").replacen(
        "instances = 1             # reference-gateway processes; or url = \"http://127.0.0.1:8080\" for your own",
        "url = \"http://127.0.0.1:8080\"",
        1,
    );
    assert!(text.contains("url = \"http://127.0.0.1:8080\"\n"));
    let path = temp_file("external-with-mocks.toml", text.as_bytes());
    let (code, stderr) = validate(&path);
    assert_eq!(code, Some(0), "{stderr}");
    let file = path.display();
    for want in [
        format!(
            "{file}:26:13: warning: upstreams.api.instances: `[gateway] url` is set: the gateway at http://127.0.0.1:8080 does not know the mock backends ninefold starts for `api`, so no request passes through them"
        ),
        format!(
            "{file}:48:10: warning: faults[0].target: `api[1]` carries no traffic (`[gateway] url` is set"
        ),
    ] {
        assert!(stderr.contains(&want), "missing {want} in\n{stderr}");
    }
    // A pool no route names, and a fault on it.
    let text = format!(
        "{BASE}\n[upstreams.spare]\ninstances = 1\n\n[[gateway.routes]]\npath = \"/items\"\nupstream = \"api\"\n\n[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"spare[0]\"\n"
    );
    let path = temp_file("unrouted.toml", text.as_bytes());
    let (code, stderr) = validate(&path);
    assert_eq!(code, Some(0), "{stderr}");
    let file = path.display();
    for want in [
        format!(
            "{file}:18:13: warning: upstreams.spare.instances: no `[[gateway.routes]]` entry names pool `spare`, so no request reaches its instances"
        ),
        format!(
            "{file}:27:10: warning: faults[0].target: `spare[0]` carries no traffic (no `[[gateway.routes]]` entry names pool `spare`"
        ),
    ] {
        assert!(stderr.contains(&want), "missing {want} in\n{stderr}");
    }
    assert_eq!(stderr.matches("warning:").count(), 2, "{stderr}");
}
