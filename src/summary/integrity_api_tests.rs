//! Unit tests of the through-API integrity figures: a read-back built by hand,
//! one write of each fate, and the figures and verdicts counted by hand.

use serde_json::json;

use super::*;
use crate::analysis::Verdict;
use crate::results::{ReadbackClass, Record};

fn rec(id: &str, qty: u64) -> Record {
    Record {
        id: Some(id.into()),
        fields: BTreeMap::from([("$.qty".to_string(), json!(qty))]),
    }
}

fn found(records: Vec<Record>) -> Option<Lookup> {
    Some(Lookup {
        path: "/x".into(),
        records: Some(records),
        error: None,
        tries: 1,
    })
}

fn failed(why: &str) -> Option<Lookup> {
    Some(Lookup {
        path: "/x".into(),
        records: None,
        error: Some(why.into()),
        tries: 4,
    })
}

fn write(key: &str, qty: u64, read: Option<Lookup>, list: Option<Lookup>) -> WriteReadback {
    WriteReadback {
        class: 0,
        key: key.into(),
        id: Some(format!("o-{key}")),
        tenant: None,
        sent: Some(BTreeMap::from([("$.qty".to_string(), json!(qty))])),
        read,
        list,
    }
}

/// Six writes: intact, lost, duplicated, changed, not read at all, and read
/// by id with its list unreadable.
pub(crate) fn one_of_each() -> ApiReadback {
    ApiReadback {
        classes: vec![ReadbackClass {
            phase: "p".into(),
            write: "POST /orders".into(),
            read: Some("/orders/{id}".into()),
            list: Some("/orders?key={key}".into()),
            compare: vec!["$.qty".into()],
        }],
        writes: vec![
            write(
                "k0",
                1,
                found(vec![rec("o-k0", 1)]),
                found(vec![rec("o-k0", 1)]),
            ),
            write("k1", 1, found(vec![]), found(vec![])),
            write(
                "k2",
                2,
                found(vec![rec("o-k2", 2)]),
                found(vec![rec("o-k2", 2), rec("o-k2-b", 2)]),
            ),
            write(
                "k3",
                3,
                found(vec![rec("o-k3", 9)]),
                found(vec![rec("o-k3", 9)]),
            ),
            write(
                "k4",
                4,
                failed("GET /orders/o-k4 answered 500 (4 tries, every time)"),
                failed("GET /orders?key=k4 answered 500 (4 tries, every time)"),
            ),
            write(
                "k5",
                5,
                found(vec![rec("o-k5", 5)]),
                failed("no answer within 5s"),
            ),
        ],
    }
}

#[test]
fn each_write_has_one_fate_and_each_figure_counts_its_own() {
    let a = api_integrity(&one_of_each());
    assert_eq!((a.acknowledged, a.read_back), (6, 5));
    assert_eq!(a.lost, Some(1));
    assert_eq!(a.duplicated, Some(1));
    assert_eq!(a.mismatched, Some(1));
    assert_eq!((a.not_read, a.not_listed), (1, 1));
    assert!(a.not_measured.is_empty(), "{:?}", a.not_measured);
    assert_eq!(
        a.lost_examples,
        vec![ApiWrite {
            key: "k1".into(),
            id: Some("o-k1".into())
        }]
    );
    assert_eq!(a.duplicated_examples[0].key, "k2");
    assert_eq!(a.duplicated_examples[0].ids, vec!["o-k2", "o-k2-b"]);
    let m = &a.mismatched_examples[0];
    assert_eq!((m.key.as_str(), m.field.as_str()), ("k3", "$.qty"));
    assert_eq!(
        (m.sent.clone(), m.stored.clone()),
        (Some(json!(3)), Some(json!(9)))
    );
    assert_eq!(a.not_read_examples[0].key, "k4");
    assert!(a.not_read_examples[0].why.contains("answered 500"));
}

#[test]
fn nothing_read_back_is_null_with_why_never_zero() {
    let mut r = one_of_each();
    r.writes.truncate(0);
    let a = api_integrity(&r);
    assert_eq!((a.lost, a.duplicated, a.mismatched), (None, None, None));
    assert!(a.not_measured["lost"].contains("no write"));
    let mut r = one_of_each();
    r.writes.retain(|w| w.key == "k4");
    let a = api_integrity(&r);
    assert_eq!((a.lost, a.not_read), (None, 1));
    assert_eq!(
        a.not_measured["lost"],
        "none of the 1 acknowledged writes could be read back"
    );
    // Read by id only: lost is measured, duplicates cannot be.
    let mut r = one_of_each();
    r.classes[0].list = None;
    r.classes[0].compare.clear();
    for w in &mut r.writes {
        w.list = None;
    }
    let a = api_integrity(&r);
    assert_eq!((a.lost, a.duplicated, a.mismatched), (Some(1), None, None));
    assert!(a.not_measured["duplicated"].contains("no class declares `list`"));
    assert_eq!(a.not_measured["mismatched"], "no class declares `compare`");
}

#[test]
fn slos_judge_the_range_the_unread_writes_leave() {
    let s = crate::summary::build::tests::scenario(
        "targets = [\"127.0.0.1:9\"]",
        "\"integrity.lost_writes\" = \"== 0\"\n\"integrity.duplicates\" = \"<= 1\"\n\"integrity.mismatched\" = \"<= 2\"",
    );
    let mut results = crate::summary::build::tests::results_with(Default::default(), Vec::new());
    results.api_readback = Some(one_of_each());
    let summary = crate::summary::summarize(&s, &results, 1.0, false);
    let by = |name: &str| {
        summary
            .slos
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    // 1 lost, 1 not read: lost ∈ [1, 2], so `== 0` fails whatever the unread one is.
    assert_eq!(by("integrity.lost_writes").verdict, Verdict::Fail);
    // 1 duplicated, 1 not listed: [1, 2] against `<= 1` cannot be settled.
    let dup = by("integrity.duplicates");
    assert_eq!(dup.verdict, Verdict::Inconclusive, "{dup:?}");
    assert!(
        dup.detail.contains("1 acknowledged writes had no list"),
        "{}",
        dup.detail
    );
    // 1 mismatched, 1 not read: [1, 2] meets `<= 2` at both ends.
    assert_eq!(by("integrity.mismatched").verdict, Verdict::Pass);
}

#[test]
fn shards_read_backs_add_up() {
    let mut a = one_of_each();
    let mut b = one_of_each();
    b.classes.insert(
        0,
        ReadbackClass {
            phase: "other".into(),
            ..ReadbackClass::default()
        },
    );
    for w in &mut b.writes {
        w.class = 1;
    }
    a.merge(b);
    assert_eq!(a.classes.len(), 2);
    assert_eq!(a.writes.len(), 12);
    assert!(
        a.writes.iter().all(|w| w.class == 0),
        "the same class is one class"
    );
    assert_eq!(api_integrity(&a).lost, Some(2));
}
