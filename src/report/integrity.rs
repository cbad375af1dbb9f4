//! Integrity through the API in words, shared by the terminal, Markdown,
//! JUnit and HTML renderers: the headline of figures and the example lists
//! (lost writes by key and id, duplicated keys with their records, mismatched
//! fields sent vs stored, writes not read with why). Plain text: each
//! renderer escapes it its own way.

use crate::format::group_digits;
use crate::summary::ApiIntegrity;

/// A figure, or `—` with why it is absent.
fn figure(api: &ApiIntegrity, name: &str, value: Option<u64>) -> String {
    match value {
        Some(n) => format!("{} {name}", group_digits(n)),
        None => match api.not_measured.get(name) {
            Some(why) => format!("{name} — (not measured: {why})"),
            None => format!("{name} —"),
        },
    }
}

/// One sentence of figures: `1,000 acknowledged writes, 995 read back: 10 lost, …`.
pub fn headline(api: &ApiIntegrity) -> String {
    let mut line = format!(
        "{} acknowledged writes, {} read back: {}, {}, {}",
        group_digits(api.acknowledged),
        group_digits(api.read_back),
        figure(api, "lost", api.lost),
        figure(api, "duplicated", api.duplicated),
        figure(api, "mismatched", api.mismatched),
    );
    if api.not_read > 0 {
        line.push_str(&format!(", {} not read", group_digits(api.not_read)));
    }
    if api.not_listed > 0 {
        line.push_str(&format!(
            ", {} without a list read (their duplicates unknown)",
            group_digits(api.not_listed)
        ));
    }
    line
}

fn write(key: &str, id: Option<&str>) -> String {
    let key = if key.is_empty() { "(no key)" } else { key };
    match id {
        Some(id) => format!("key {key} (id {id})"),
        None => format!("key {key} (no id)"),
    }
}

fn json(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "nothing".to_string(), ToString::to_string)
}

/// The example lists, each as (label, items), at most `max` items each (the
/// count says how many there are in all); empty lists are left out.
pub fn examples(api: &ApiIntegrity, max: usize) -> Vec<(String, Vec<String>)> {
    let lists = [
        (
            "lost",
            api.lost.unwrap_or(0),
            api.lost_examples
                .iter()
                .map(|w| write(&w.key, w.id.as_deref()))
                .collect::<Vec<_>>(),
        ),
        (
            "duplicated",
            api.duplicated.unwrap_or(0),
            api.duplicated_examples
                .iter()
                .map(|d| {
                    format!(
                        "key {}: {} records ({})",
                        d.key,
                        d.records,
                        if d.ids.is_empty() {
                            "no ids".to_string()
                        } else {
                            d.ids.join(", ")
                        }
                    )
                })
                .collect(),
        ),
        (
            "mismatched",
            api.mismatched.unwrap_or(0),
            api.mismatched_examples
                .iter()
                .map(|m| {
                    format!(
                        "{}: {} sent {}, stored {}",
                        write(&m.key, m.id.as_deref()),
                        m.field,
                        json(m.sent.as_ref()),
                        json(m.stored.as_ref())
                    )
                })
                .collect(),
        ),
        (
            "not read",
            api.not_read,
            api.not_read_examples
                .iter()
                .map(|u| format!("{}: {}", write(&u.key, u.id.as_deref()), u.why))
                .collect(),
        ),
    ];
    lists
        .into_iter()
        .filter(|(_, _, items)| !items.is_empty())
        .map(|(label, total, mut items)| {
            let shown = items.len().min(max);
            items.truncate(shown);
            let label = if (shown as u64) < total {
                format!("{label} ({} of {})", shown, group_digits(total))
            } else {
                label.to_string()
            };
            (label, items)
        })
        .collect()
}
