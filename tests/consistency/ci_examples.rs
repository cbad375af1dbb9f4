//! The CI examples in `examples/ci/` (shown in docs/ci.md) are real: both parse
//! as YAML, have the structure their CI system needs (a GitHub Actions job whose
//! report steps run `always()`; a GitLab job with `artifacts: when: always` and
//! a JUnit report), keep the files `ninefold run` writes to the folder it is
//! told to write them to, and every `ninefold …` command they run is accepted
//! by the real command line (subcommand, flags, values, files that exist).

use std::path::{Path, PathBuf};

use clap::Parser;
use ninefold::cli::{Cli, Commands};
use yaml_serde::{Mapping, Value};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Value {
    let path = repo().join("examples/ci").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

fn map<'a>(v: &'a Value, what: &str) -> &'a Mapping {
    v.as_mapping()
        .unwrap_or_else(|| panic!("{what} should be a mapping, got {v:?}"))
}

fn seq<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what} should be a list, got {v:?}"))
}

fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} should be a string, got {v:?}"))
}

/// Split a shell line into words, honouring single and double quotes and
/// backslash escapes; operators (`&&`, `||`, `;`, `|`) and redirections become
/// words of their own so that a command can be cut at them.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        q => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' | '|' | '&' | '>' | '<' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                let mut op = c.to_string();
                while let Some(&n) = chars.peek() {
                    if matches!(n, '|' | '&' | '>') {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(op);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn is_operator(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| matches!(c, ';' | '|' | '&' | '>' | '<'))
}

/// Every `ninefold …` command in a shell script, as its argument vector
/// (starting with `ninefold`), cut at the first operator or redirection.
fn ninefold_commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in script.lines() {
        let words = shell_words(line);
        let mut at_command_start = true;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            if is_operator(w) {
                at_command_start = true;
            } else if at_command_start && w.contains('=') && !w.starts_with('-') {
                // An environment assignment before the command: still at its start.
            } else if at_command_start && w == "ninefold" {
                let args: Vec<String> = words[i..]
                    .iter()
                    .take_while(|w| !is_operator(w))
                    .cloned()
                    .collect();
                i += args.len();
                out.push(args);
                at_command_start = false;
                continue;
            } else {
                at_command_start = false;
            }
            i += 1;
        }
    }
    out
}

/// Parse a command with the real CLI and check that the files it names exist
/// in the repository. Returns the parsed command.
fn check_command(args: &[String], origin: &str) -> Commands {
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| {
        panic!(
            "{origin}: `{}` is not a valid ninefold command:\n{e}",
            args.join(" ")
        )
    });
    let must_exist = |p: &PathBuf| {
        assert!(
            repo().join(p).is_file(),
            "{origin}: `{}` names {}, which is not in the repository",
            args.join(" "),
            p.display()
        );
    };
    match &cli.command {
        Commands::Run(a) => must_exist(&a.file),
        Commands::Validate(a) => a.files.iter().for_each(must_exist),
        Commands::Gateway(a) => must_exist(&a.config),
        _ => {}
    }
    cli.command
}

/// The `--out` folder of the one `ninefold run` among `commands`.
fn run_out_dir(commands: &[Vec<String>], origin: &str) -> String {
    let runs: Vec<PathBuf> = commands
        .iter()
        .filter_map(|c| match check_command(c, origin) {
            Commands::Run(a) => Some(a.out.unwrap_or_else(|| {
                panic!(
                    "{origin}: `ninefold run` needs --out so later steps know where the report is"
                )
            })),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1, "{origin}: exactly one `ninefold run`");
    runs[0].display().to_string()
}

fn is_always(step: &Value) -> bool {
    step.get("if")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains("always()"))
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words(r#"ninefold run "a b.toml" --out x && cat x/summary.md >> "$F" # note"#),
        [
            "ninefold",
            "run",
            "a b.toml",
            "--out",
            "x",
            "&&",
            "cat",
            "x/summary.md",
            ">>",
            "$F"
        ]
    );
    let cmds =
        ninefold_commands("FOO=1 ninefold validate s.toml; echo ninefold\ncat ninefold-report/x");
    assert_eq!(cmds, [vec!["ninefold", "validate", "s.toml"]]);
}

#[test]
fn a_bad_command_is_caught() {
    // The checks below would not notice a broken example if parsing accepted anything.
    let bad = [
        "ninefold",
        "run",
        "scenarios/quickstart.toml",
        "--no-such-flag",
    ];
    assert!(Cli::try_parse_from(bad).is_err());
    assert!(Cli::try_parse_from(["ninefold", "launch", "x"]).is_err());
    assert!(Cli::try_parse_from(["ninefold", "run", "x", "--seed", "seven"]).is_err());
}

// Long: one workflow file checked step by step, in its own order.
#[test]
fn github_actions_workflow() {
    let wf = load("github-actions.yml");
    let root = map(&wf, "the workflow");
    assert!(root.get("name").is_some(), "a workflow name");
    // YAML 1.1 readers turn the key `on` into `true`; accept either spelling.
    assert!(
        root.get("on")
            .or_else(|| root.get(Value::Bool(true)))
            .is_some(),
        "an `on:` trigger"
    );
    let jobs = map(&wf["jobs"], "jobs");
    assert_eq!(jobs.len(), 1, "one job");
    let (job_id, job) = jobs.iter().next().expect("one job");
    let origin = format!("github-actions.yml job {job_id:?}");
    assert!(job.get("runs-on").is_some(), "{origin}: runs-on");
    let steps = seq(&job["steps"], "steps");

    let mut commands = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let step_map = map(step, "a step");
        let (uses, run) = (step.get("uses"), step.get("run"));
        assert!(
            uses.is_some() != run.is_some(),
            "{origin}: step {i} needs exactly one of `uses` and `run`"
        );
        if let Some(uses) = uses {
            let action = text(uses, "uses");
            assert!(
                action.contains('@'),
                "{origin}: `{action}` should be pinned to a version"
            );
        }
        if let Some(run) = run {
            let script = text(run, "run");
            let found = ninefold_commands(script);
            if found.iter().any(|c| c.get(1).is_some_and(|s| s == "run")) {
                assert!(
                    step_map.get("continue-on-error").is_none() && !is_always(step),
                    "{origin}: the `ninefold run` step is the gate: its exit code must fail the job"
                );
            }
            commands.extend(found);
        }
    }
    assert!(!commands.is_empty(), "{origin}: runs ninefold");
    let out = run_out_dir(&commands, &origin);

    let uses_step = |prefix: &str| {
        steps
            .iter()
            .find(|s| {
                s.get("uses")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("{origin}: a step using {prefix}"))
    };
    uses_step("actions/checkout@");
    let install = steps.iter().any(|s| {
        s.get("run")
            .and_then(Value::as_str)
            .is_some_and(|r| r.contains("cargo install --path .") || r.contains("cargo build"))
    });
    assert!(install, "{origin}: builds or installs ninefold");

    let upload = uses_step("actions/upload-artifact@");
    assert!(
        is_always(upload),
        "{origin}: the report is kept when the gate fails"
    );
    let paths = text(&upload["with"]["path"], "upload-artifact path");
    assert!(
        paths
            .lines()
            .any(|p| p.trim() == format!("{out}/report.html")),
        "{origin}: uploads {out}/report.html, got:\n{paths}"
    );
    assert!(
        !paths.lines().any(|p| p.trim().trim_end_matches('/') == out),
        "{origin}: uploads chosen files, not the whole run folder (config/ holds secrets)"
    );

    let junit = steps
        .iter()
        .find(|s| {
            s.get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.to_ascii_lowercase().contains("junit"))
        })
        .unwrap_or_else(|| panic!("{origin}: a JUnit publishing step"));
    assert!(
        is_always(junit),
        "{origin}: JUnit results are published when the gate fails"
    );
    let junit_with = format!("{:?}", junit["with"]);
    assert!(
        junit_with.contains(&format!("{out}/junit.xml")),
        "{origin}: publishes {out}/junit.xml, got {junit_with}"
    );

    let summary = steps
        .iter()
        .find(|s| {
            s.get("run")
                .and_then(Value::as_str)
                .is_some_and(|r| r.contains("$GITHUB_STEP_SUMMARY"))
        })
        .unwrap_or_else(|| panic!("{origin}: a step appending to $GITHUB_STEP_SUMMARY"));
    assert!(
        is_always(summary),
        "{origin}: the summary is written when the gate fails"
    );
    assert!(
        text(&summary["run"], "run").contains(&format!("{out}/summary.md")),
        "{origin}: appends {out}/summary.md"
    );
}

#[test]
fn gitlab_ci_job() {
    let ci = load("gitlab-ci.yml");
    let root = map(&ci, "the pipeline");
    let jobs: Vec<(&str, &Value)> = root
        .iter()
        .filter(|(_, v)| v.get("script").is_some())
        .map(|(k, v)| (text(k, "job name"), v))
        .collect();
    assert_eq!(jobs.len(), 1, "one job with a script");
    let (name, job) = jobs[0];
    let origin = format!("gitlab-ci.yml job {name:?}");
    if let Some(stage) = job.get("stage") {
        let stages = seq(&ci["stages"], "stages");
        assert!(stages.contains(stage), "{origin}: its stage is declared");
    }
    assert!(
        job.get("allow_failure").is_none(),
        "{origin}: the gate must be able to fail the pipeline"
    );
    let mut commands = Vec::new();
    for line in seq(&job["script"], "script") {
        commands.extend(ninefold_commands(text(line, "a script line")));
    }
    let out = run_out_dir(&commands, &origin);
    for key in ["before_script", "after_script"] {
        if let Some(lines) = job.get(key) {
            for line in seq(lines, key) {
                for c in ninefold_commands(text(line, key)) {
                    check_command(&c, &origin);
                }
            }
        }
    }

    let artifacts = map(&job["artifacts"], "artifacts");
    assert_eq!(
        artifacts.get("when").and_then(Value::as_str),
        Some("always"),
        "{origin}: artifacts are kept when the gate fails"
    );
    let paths: Vec<&str> = seq(&job["artifacts"]["paths"], "artifacts.paths")
        .iter()
        .map(|p| text(p, "a path"))
        .collect();
    assert!(
        paths.contains(&format!("{out}/report.html").as_str()),
        "{origin}: keeps {out}/report.html, got {paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.trim_end_matches('/') == out),
        "{origin}: keeps chosen files, not the whole run folder (config/ holds secrets)"
    );
    let junit = text(
        &job["artifacts"]["reports"]["junit"],
        "artifacts.reports.junit",
    );
    assert_eq!(
        junit,
        format!("{out}/junit.xml"),
        "{origin}: the JUnit report"
    );
}
