//! The open-alert index against the definition: after every step of a mixed history —
//! inquiries that raise alerts, replies and contacts (some dated before the alert), staff
//! resolving alerts, an erasure, a late inquiry that opens an answered alert again — the
//! index lists exactly the alerts [`Store::is_open`] says are open, ranked as a sort would
//! rank them, and a store opened afresh builds the same index from disk.

use std::sync::Arc;

use super::super::{Store, StoreOptions, ruled::Ruled};
use crate::{event::Event, ids::CustomerId, internal::AlertHandled, rules::RuleSet};

/// Raises an alert on every inquiry, with the inquiry's priority.
const RULES: &str = r#"
    fn on_event(event, customer) {
        if event.type == "inquiry" {
            alert("waiting: " + customer.id, event.priority);
        }
    }
"#;

fn open(dir: &tempfile::TempDir) -> Ruled {
    let store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    let rules = RuleSet::compile(vec![("inbox.rhai".into(), RULES.into())], None).unwrap();
    Ruled::new(store, Arc::new(rules))
}

fn ev(json: String) -> Event {
    Event::from_json_str(&json).unwrap()
}

/// What the index says, and what the definition says: open alerts oldest first, and the
/// five most pressing.
/// Open alert ids oldest first, and the five most pressing.
type Lists = (Vec<String>, Vec<String>);

fn both(store: &mut Store) -> (Lists, Lists) {
    let ids = |alerts: Vec<super::Alert>| -> Vec<String> {
        alerts.iter().map(|a| a.id.to_string()).collect()
    };
    let indexed = (
        ids(store.open_alerts().unwrap()),
        ids(store.open_alerts_ranked(5).unwrap()),
    );
    let mut defined: Vec<super::Alert> = store
        .alerts()
        .unwrap()
        .into_iter()
        .filter(|a| store.is_open(a).unwrap())
        .collect();
    let oldest_first = ids(defined.clone());
    defined.sort_by_key(|a| std::cmp::Reverse(a.priority));
    defined.truncate(5);
    assert_eq!(store.open_alert_count().unwrap(), indexed.0.len());
    (indexed, (oldest_first, ids(defined)))
}

#[test]
fn the_index_lists_exactly_the_open_alerts_through_a_mixed_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let mut seed: u64 = 7;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    // Built before anything is stored: every later change reaches it as it happens.
    assert!(store.open_alerts().unwrap().is_empty());
    let mut seen_open = 0;
    let mut seen_closed = 0;
    for step in 0..300u64 {
        let customer = format!("c-{}", next(6));
        let minute = step * 10;
        let at = format!(
            "2026-03-{:02}T{:02}:{:02}:00Z",
            1 + minute / 1440,
            minute / 60 % 24,
            minute % 60
        );
        let event = match next(10) {
            0..=3 => ev(format!(
                r#"{{"id":"q{step}","customer":"{customer}","type":"inquiry","at":"{at}","priority":{}}}"#,
                next(4)
            )),
            4..=5 => ev(format!(
                r#"{{"id":"r{step}","customer":"{customer}","type":"reply","at":"{at}"}}"#
            )),
            // A contact dated a day back: before some of the customer's alerts.
            6 => ev(format!(
                r#"{{"id":"k{step}","customer":"{customer}","type":"contact","at":"2026-03-01T00:00:00Z"}}"#
            )),
            7 => {
                let theirs: Vec<_> = store
                    .alerts()
                    .unwrap()
                    .into_iter()
                    .filter(|a| a.customer.as_str() == customer)
                    .collect();
                let Some(alert) = theirs.get(next(theirs.len().max(1) as u64) as usize) else {
                    continue;
                };
                AlertHandled {
                    alert: alert.id,
                    customer: alert.customer.clone(),
                    at: at.parse().unwrap(),
                    by: None,
                    note: None,
                    resolved: next(2) == 0,
                }
                .to_event()
                .unwrap()
            }
            // An inquiry that arrives late, dated before everything: it opens the
            // customer's answered alerts again.
            8 => ev(format!(
                r#"{{"id":"l{step}","customer":"{customer}","type":"inquiry","at":"2026-02-01T00:00:00Z","priority":0}}"#
            )),
            _ => ev(format!(
                r#"{{"id":"p{step}","customer":"{customer}","type":"purchase","at":"{at}","amount":100}}"#
            )),
        };
        store.append(&[event]).unwrap();
        if step == 150 {
            store
                .erase_customer(&CustomerId::new("c-3").unwrap())
                .unwrap();
        }
        let (indexed, defined) = both(&mut store);
        assert_eq!(indexed, defined, "step {step}");
        let all = store.alert_count().unwrap();
        seen_open = seen_open.max(indexed.0.len());
        seen_closed = seen_closed.max(all - indexed.0.len());
    }
    assert!(
        seen_open > 5 && seen_closed > 5,
        "{seen_open} {seen_closed}"
    );
    store.flush().unwrap();
    let before = both(&mut store).0;
    drop(store);
    let mut again = open(&dir);
    let (indexed, defined) = both(&mut again);
    assert_eq!(indexed, defined);
    assert_eq!(indexed, before, "rebuilt from disk, the same");
}
