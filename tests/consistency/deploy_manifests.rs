//! The Kubernetes manifests and the Dockerfile stay consistent with each other
//! and with the CLI: the shard Job is Indexed with completions = parallelism =
//! `--shards`, takes its index from JOB_COMPLETION_INDEX and its run id from
//! the Job's name through the downward API, starts at a barrier on the
//! results volume, writes where the merge Job reads, mounts the ConfigMap that holds a
//! valid scenario aimed at an external target, and every command line parses
//! with our own clap definition. kubectl (when on PATH) builds the
//! kustomization offline, and dry-runs the objects when it can reach a server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every document of every YAML file, as JSON values keyed by `Kind/name`.
fn documents() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if v.is_null() || v["kind"] == "Kustomization" {
                continue;
            }
            let key = format!(
                "{}/{}",
                v["kind"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            );
            assert!(out.insert(key.clone(), v).is_none(), "{key} twice");
        }
    }
    out
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// `ninefold ARGS` parses with the real CLI definition.
fn parses(args: &[String]) -> ninefold::cli::Cli {
    let argv = std::iter::once("ninefold".to_owned()).chain(args.iter().cloned());
    ninefold::cli::Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("`ninefold {}` does not parse: {e}", args.join(" ")))
}

fn mounts(container: &Value) -> BTreeMap<String, String> {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["mountPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn volumes(pod: &Value) -> BTreeMap<String, Value> {
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

// Long: one manifest checked key by key against the CLI, in the order a reader of the YAML meets them.
#[test]
fn shard_job_is_indexed_and_matches_the_cli() {
    let docs = documents();
    let job = &docs["Job/ninefold-shards"];
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert!(n >= 2, "a sharded run has at least two shards");
    assert_eq!(
        spec["parallelism"], spec["completions"],
        "every shard must run at once for the load to add up"
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // The index comes from the downward API (the Job controller's annotation).
    let env = c["env"].as_array().unwrap();
    let index = env
        .iter()
        .find(|e| e["name"] == "JOB_COMPLETION_INDEX")
        .expect("JOB_COMPLETION_INDEX in env");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );

    // One run id for all shards: the Job's name, from the label the Job
    // controller sets on its pods (it seeds a scenario without `seed`).
    let run_id = env
        .iter()
        .find(|e| e["name"] == "NINEFOLD_RUN_ID")
        .expect("NINEFOLD_RUN_ID in env");
    assert_eq!(
        run_id["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['batch.kubernetes.io/job-name']"
    );

    // `ninefold run SCENARIO --shards N --out /results/shard-$(JOB_COMPLETION_INDEX)`.
    let args = strs(&c["args"]);
    let cli = parses(
        &args
            .iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "3"))
            .collect::<Vec<_>>(),
    );
    let ninefold::cli::Commands::Run(run) = cli.command else {
        panic!("the shard Job runs `ninefold run`: {args:?}");
    };
    assert_eq!(run.shards, Some(n as u32), "--shards equals completions");
    assert_eq!(run.shard, None);
    let out = args[args.iter().position(|a| a == "--out").unwrap() + 1].clone();
    assert_eq!(out, "/results/shard-$(JOB_COMPLETION_INDEX)");
    // The shards meet at a barrier on the results volume, outside the
    // folders the merge Job's glob (`/results/shard-*`) takes.
    let barrier = run
        .barrier
        .as_deref()
        .expect("the shards start at a barrier");
    assert!(barrier.starts_with("/results/"), "{}", barrier.display());
    assert!(
        !barrier.to_string_lossy().starts_with("/results/shard-"),
        "the merge glob must not match the barrier"
    );
    assert!(run.barrier_timeout >= std::time::Duration::from_secs(60));

    // The scenario file is the ConfigMap's key, mounted where the args say.
    let m = mounts(c);
    let vols = volumes(pod);
    let scenario_mount = &m["scenario"];
    assert_eq!(
        run.file,
        Path::new(scenario_mount).join("scenario.toml"),
        "the scenario path is inside the ConfigMap mount"
    );
    let cm_name = vols["scenario"]["configMap"]["name"].as_str().unwrap();
    let cm = &docs[&format!("ConfigMap/{cm_name}")];
    let text = cm["data"]["scenario.toml"].as_str().unwrap();
    let loaded = ninefold::scenario::load::parse_str("configmap", text, Path::new("."))
        .unwrap_or_else(|e| panic!("the ConfigMap's scenario is invalid:\n{e}"));
    // No `seed`: the run id gives the shards theirs, so the example shows how
    // a user's own seedless scenario runs sharded.
    assert_eq!(loaded.scenario.seed, None);
    assert!(
        matches!(
            loaded.scenario.gateway.target,
            ninefold::scenario::model::GatewayTarget::External { .. }
        ),
        "shards share one system under test: the scenario sets [gateway] url"
    );

    // Results on the shared claim, mounted at /results; the claim is RWX.
    assert_eq!(m["results"], "/results");
    let claim = vols["results"]["persistentVolumeClaim"]["claimName"]
        .as_str()
        .unwrap();
    let pvc = &docs[&format!("PersistentVolumeClaim/{claim}")];
    assert!(strs(&pvc["spec"]["accessModes"]).contains(&"ReadWriteMany".to_owned()));
}

#[test]
fn merge_job_reads_what_the_shards_write() {
    let docs = documents();
    let shards = &docs["Job/ninefold-shards"]["spec"];
    let n = shards["completions"].as_u64().unwrap();
    let merge = &docs["Job/ninefold-merge"]["spec"]["template"]["spec"];
    assert_eq!(merge["restartPolicy"], "Never");
    let c = &merge["containers"].as_array().unwrap()[0];
    assert_eq!(strs(&c["command"]), ["/bin/sh", "-c"]);
    let script = strs(&c["args"]).join(" ");
    let words: Vec<&str> = script.split_whitespace().collect();
    assert_eq!(words[..2], ["exec", "ninefold"], "{script}");
    // The shell expands the glob to the N shard folders; check the result parses.
    let expanded: Vec<String> = words[2..]
        .iter()
        .flat_map(|w| {
            if *w == "/results/shard-*" {
                (0..n).map(|i| format!("/results/shard-{i}")).collect()
            } else {
                vec![(*w).to_owned()]
            }
        })
        .collect();
    let ninefold::cli::Commands::Merge(args) = parses(&expanded).command else {
        panic!("the merge Job runs `ninefold merge`: {script}");
    };
    assert_eq!(args.dirs.len() as u64, n);
    assert_eq!(args.out, Path::new("/results/merged"));
    assert!(
        !args.out.starts_with("/results/shard-"),
        "the glob must not match the output"
    );

    // Same claim, same mount point as the shards.
    let shard_pod = &shards["template"]["spec"];
    let claim = |pod: &Value| {
        volumes(pod)["results"]["persistentVolumeClaim"]["claimName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(claim(merge), claim(shard_pod));
    assert_eq!(mounts(c)["results"], "/results");
    // The init container waits for all N shard folders.
    let init = &merge["initContainers"].as_array().unwrap()[0];
    let wait = strs(&init["args"]).join(" ");
    assert!(wait.contains(&format!("-ge {n} ]")), "{wait}");
    assert_eq!(mounts(init)["results"], "/results");
    assert!(docs["Job/ninefold-merge"]["spec"]["activeDeadlineSeconds"].is_u64());
}

#[test]
fn images_are_one_and_the_dockerfile_builds_it_non_root() {
    let docs = documents();
    let mut images = std::collections::BTreeSet::new();
    for (key, doc) in &docs {
        let pod = match doc["kind"].as_str().unwrap() {
            "Job" | "Deployment" => &doc["spec"]["template"]["spec"],
            _ => continue,
        };
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"], true,
            "{key} runs as non-root"
        );
        for list in ["initContainers", "containers"] {
            for c in pod[list].as_array().into_iter().flatten() {
                images.insert(c["image"].as_str().unwrap().to_owned());
                // Containers that run ninefold by its entrypoint have parseable args.
                if c["command"].is_null() {
                    parses(
                        &strs(&c["args"])
                            .iter()
                            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "0"))
                            .collect::<Vec<_>>(),
                    );
                }
            }
        }
    }
    assert_eq!(images.len(), 1, "one image everywhere: {images:?}");
    let image = images.into_iter().next().unwrap();

    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a builder stage and a runtime stage");
    assert!(froms[0].contains(" AS builder"));
    assert!(froms[1].contains("debian:") && froms[1].contains("slim"));
    assert!(dockerfile.contains("COPY --from=builder"));
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert!(dockerfile.contains(r#"ENTRYPOINT ["ninefold"]"#));
    assert!(
        dockerfile.contains("redis-server"),
        "redis-server is in the image (optional)"
    );
    // The docs build the image under the name the manifests use.
    let docs_page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/kubernetes.md"))
            .unwrap();
    assert!(
        docs_page.contains(&format!("docker build -t {image} .")),
        "docs/kubernetes.md builds {image}"
    );
}

/// kubectl itself: `kubectl kustomize` (offline) must build the set from
/// kustomization.yaml, which must list every manifest; a client dry-run checks
/// the objects too, but kubectl needs a server's API list even for that, so it
/// is skipped (with the reason printed) when none is reachable. Skipped
/// entirely when kubectl is not on PATH.
#[test]
fn kubectl_builds_and_accepts_the_manifests() {
    let dir = deploy_dir();
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .args(args)
            .arg(&dir)
            .env("KUBECONFIG", "/dev/null")
            .output()
    };
    let Ok(built) = kubectl(&["kustomize"]) else {
        eprintln!("SKIPPED: kubectl is not on PATH");
        return;
    };
    assert!(
        built.status.success(),
        "kubectl kustomize failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let text = String::from_utf8_lossy(&built.stdout);
    let mut built_names = std::collections::BTreeSet::new();
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).unwrap();
        built_names.insert(format!(
            "{}/{}",
            v["kind"].as_str().unwrap(),
            v["metadata"]["name"].as_str().unwrap()
        ));
    }
    let files: std::collections::BTreeSet<String> = documents().into_keys().collect();
    assert_eq!(
        built_names, files,
        "kustomization.yaml lists every manifest"
    );

    let out = kubectl(&[
        "create",
        "--dry-run=client",
        "--validate=false",
        "-o",
        "name",
        "-k",
    ])
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success()
        && (stderr.contains("connection refused") || stderr.contains("unable to recognize"))
    {
        eprintln!("SKIPPED the client dry-run: this kubectl needs an API server to map kinds");
        return;
    }
    assert!(
        out.status.success(),
        "kubectl rejected the manifests:\n{stderr}"
    );
    let names = String::from_utf8_lossy(&out.stdout);
    for want in [
        "job.batch/ninefold-shards",
        "job.batch/ninefold-merge",
        "configmap/ninefold-scenario",
        "persistentvolumeclaim/ninefold-results",
    ] {
        assert!(
            names.lines().any(|l| l == want),
            "{want} missing from {names}"
        );
    }
}
