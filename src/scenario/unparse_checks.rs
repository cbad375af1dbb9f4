//! Domain → raw for what a request class checks of its answers (`check`) and
//! of its acknowledged writes after the run (`integrity`).

use super::super::model::*;
use super::super::raw::*;
use super::d;

pub(super) fn integrity(i: &IntegritySpec) -> RawIntegrity {
    let text = |f: &Option<JsonField>| f.as_ref().map(|f| f.text.clone());
    RawIntegrity {
        id: text(&i.id),
        read: i.read.clone(),
        list: i.list.as_ref().map(|l| l.path.clone()),
        records: i.list.as_ref().and_then(|l| text(&l.records)),
        key_at: i.list.as_ref().and_then(|l| text(&l.key_at)),
        compare: (!i.compare.is_empty())
            .then(|| i.compare.iter().map(|f| f.text.clone()).collect()),
        body_at: text(&i.body_at),
        concurrency: Some(i.concurrency),
        timeout: Some(d(i.timeout)),
        retries: Some(i.retries),
    }
}

pub(super) fn check(c: &ResponseCheck) -> RawCheck {
    RawCheck {
        status: (!c.status.is_empty()).then(|| c.status.clone()),
        body_contains: c.body_contains.clone(),
        json: (!c.json.is_empty()).then(|| {
            c.json
                .iter()
                .map(|(path, want)| {
                    let value = match want {
                        JsonExpect::Exists => serde_json::Value::from("exists"),
                        JsonExpect::Equals(v) => v.clone(),
                    };
                    (path.text.clone(), value)
                })
                .collect()
        }),
    }
}
