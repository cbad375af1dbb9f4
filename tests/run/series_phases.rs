//! `series.csv` of a run of two phases (`warm`, then `main` overlapping it for a
//! second) against the mock backends: one row per second and phase, every row's
//! phase a phase of the scenario, and each phase's rows summed equal to that
//! phase's counts in `summary.json` (each phase has its own request class, so the
//! summary's breakdown by class is the breakdown by phase).

use std::collections::BTreeMap;

use crate::support;

const TWO_PHASES: &str = r#"
name = "series-phases"
duration = "3s"
seed = 24

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]

[upstreams.api]
instances = 1

[[traffic]]
name = "warm"
duration = "2s"
executor = "constant-arrival-rate"
rate = 40
requests = [{ path = "/items/1" }]

[[traffic]]
name = "main"
start = "1s"
duration = "2s"
executor = "constant-arrival-rate"
rate = 60
requests = [{ path = "/items/{rand:1..100}" }]

[slo]
availability = ">= 50%"
"#;

/// Outcome counts by name of one request class of `summary.json`'s breakdown.
fn class_counts(summary: &serde_json::Value, path: &str) -> BTreeMap<String, u64> {
    let class = summary["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no class {path} in {}", summary["breakdown"]));
    let mut out = BTreeMap::new();
    for row in class["rows"].as_array().unwrap() {
        let outcome = row["outcome"].as_str().unwrap().to_owned();
        *out.entry(outcome).or_default() += row["count"].as_u64().unwrap();
    }
    out
}

#[test]
fn series_csv_rows_per_phase_sum_to_the_summary_by_phase() {
    let d = support::dir("series-phases", "two");
    let (out, stderr) = support::run_in(&d, TWO_PHASES);
    let summary = support::read_json(&out.join("summary.json"));
    let csv = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == header.len()), "{csv}");
    let phase = col("phase");
    assert!(
        rows.iter().all(|r| ["warm", "main"].contains(&r[phase])),
        "every row's phase is a phase of the scenario:\n{csv}"
    );
    // At most one row per (second, phase); and the phases overlap in a second.
    let mut seen = BTreeMap::<(u32, &str), u32>::new();
    for r in &rows {
        *seen
            .entry((r[col("second")].parse().unwrap(), r[phase]))
            .or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "{csv}");
    let both = seen
        .keys()
        .any(|(s, p)| *p == "warm" && seen.contains_key(&(*s, "main")));
    assert!(both, "a second with rows of both phases:\n{csv}");
    let outcomes: Vec<&str> = header[col("requests") + 1..col("answered")].to_vec();
    for (name, path) in [("warm", "/items/1"), ("main", "/items/{rand:1..100}")] {
        let want = class_counts(&summary, path);
        let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[phase] == name).collect();
        let total = |name: &str| -> u64 {
            mine.iter()
                .map(|r| r[col(name)].parse::<u64>().unwrap())
                .sum()
        };
        let all: u64 = want.values().sum();
        assert!(all > 0, "{name} sent nothing\n{stderr}");
        assert_eq!(total("requests"), all, "{name}: requests\n{csv}");
        for o in &outcomes {
            assert_eq!(
                total(o),
                want.get(*o).copied().unwrap_or(0),
                "{name}: {o}\n{csv}"
            );
        }
    }
    // The per-phase rows of a second add up to the second of results.json.
    let results = support::read_json(&out.join("results.json"));
    assert_eq!(results["recording"]["seconds_by_phase"], true);
    for s in results["recording"]["seconds"].as_array().unwrap() {
        let second = s["second"].as_u64().unwrap().to_string();
        let of_second = rows.iter().filter(|r| r[col("second")] == second);
        let requests: u64 = of_second
            .map(|r| r[col("requests")].parse::<u64>().unwrap())
            .sum();
        let counted: u64 = s["outcomes"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(requests, counted, "second {second}\n{csv}");
    }
}
