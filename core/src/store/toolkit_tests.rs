//! Store + the rule authors' toolkit: script state and cross-customer events.

use super::ruled::Ruled;
use std::sync::Arc;

use super::*;
use crate::{event::Event, ids::CustomerId, rules::RuleSet};

fn ev(json: &str) -> Event {
    Event::from_json_str(json).unwrap()
}

fn scripts(files: &[(&str, &str)]) -> Arc<RuleSet> {
    let sources = files
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    Arc::new(RuleSet::compile(sources, None).unwrap())
}

fn store_with(rules: Arc<RuleSet>) -> (tempfile::TempDir, Ruled) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    (dir, Ruled::new(store, rules))
}

/// What `script` keeps under `key` for `c` (null if nothing).
fn kept(c: &crate::Customer, script: &str, key: &str) -> serde_json::Value {
    c.state
        .get(script)
        .and_then(|m| m.get(key))
        .cloned()
        .unwrap_or_default()
}

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn purchase(n: u32, customer: &str) -> Event {
    ev(&format!(
        r#"{{"id":"p{n}-{customer}","customer":"{customer}","type":"purchase","at":"2026-03-{:02}T10:00:00+09:00","amount":500}}"#,
        n.min(28)
    ))
}

/// A stamp card: a stamp per purchase, 300 points and a fresh card at the tenth.
const STAMPS: &str = r#"
    const EVENT_TYPES = ["purchase"];
    fn on_event(event, customer) {
        let n = state.get("stamps", 0) + 1;
        if n == 10 { award_points(300, "stamp card full"); n = 0; }
        state.set("stamps", n);
        state.set("last", event.at);
    }
"#;

#[test]
fn a_stamp_card_counts_in_state_apart_from_other_scripts_and_survives_reopening() {
    // Another script uses the same key for something else: each has its own.
    let other = r#"
        fn on_event(event, customer) {
            if event.type == "purchase" { state.set("stamps", "not yours"); }
        }
    "#;
    let (dir, mut store) = store_with(scripts(&[("stamps.rhai", STAMPS), ("other.rhai", other)]));
    let events: Vec<Event> = (1..=12).map(|n| purchase(n, "c-1")).collect();
    store.append(&events).unwrap();
    store.flush().unwrap();
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    assert_eq!(kept(&c, "stamps.rhai", "stamps"), 2, "{:?}", c.state);
    assert_eq!(kept(&c, "other.rhai", "stamps"), "not yours");
    assert_eq!(c.loyalty.issued, 300);
    assert!(
        kept(&c, "stamps.rhai", "last")
            .as_str()
            .unwrap()
            .starts_with("2026-03-12")
    );
    drop(store);
    let mut store = Ruled::new(
        Store::open(dir.path().join("db"), StoreOptions::default()).unwrap(),
        scripts(&[("stamps.rhai", STAMPS)]),
    );
    store.append(&[purchase(13, "c-1")]).unwrap();
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    assert_eq!(kept(&c, "stamps.rhai", "stamps"), 3);
}

#[test]
fn a_failing_script_keeps_no_state_and_limits_are_rule_errors() {
    let failing = r#"
        fn on_event(event, customer) {
            state.set("seen", true);
            if event.amount > 100 { throw "boom"; }
        }
    "#;
    let big = r#"
        fn on_event(event, customer) {
            let s = "";
            s.pad(2000, "x");
            state.set("big", s);
        }
    "#;
    let guarded = r#"
        fn on_event(event, customer) { state.set("view", customer); }
    "#;
    let (_dir, mut store) = store_with(scripts(&[
        ("a_failing.rhai", failing),
        ("b_big.rhai", big),
        ("c_view.rhai", guarded),
    ]));
    let report = store.append(&[purchase(1, "c-1")]).unwrap();
    assert_eq!(report.rule_errors, 3);
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    assert!(c.state.is_empty(), "{:?}", c.state);
    let errors: Vec<String> = store
        .rule_errors()
        .unwrap()
        .iter()
        .map(|e| e.message.clone())
        .collect();
    assert!(
        errors.iter().any(|m| m.contains("at most 1024")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|m| m.contains("cannot be kept")),
        "{errors:?}"
    );
}

#[test]
fn removing_a_key_and_reading_back_within_one_call() {
    let script = r#"
        fn on_event(event, customer) {
            state.set("a", 1);
            state.set("a", state.get("a") + 1);
            state.set("b", [1, #{ x: "y" }]);
            if state.get("a") != 2 { throw "a set is seen by a later get"; }
            if event.type == "clear" { state.set("a", ()); state.set("b", ()); }
        }
    "#;
    let (_dir, mut store) = store_with(scripts(&[("s.rhai", script)]));
    store.append(&[purchase(1, "c-1")]).unwrap();
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    assert_eq!(kept(&c, "s.rhai", "a"), 2);
    assert_eq!(kept(&c, "s.rhai", "b")[1]["x"], "y");
    assert_eq!(store.rule_errors().unwrap().len(), 0);
    store
        .append(&[ev(
            r#"{"id":"x1","customer":"c-1","type":"clear","at":"2026-03-02T10:00:00+09:00"}"#,
        )])
        .unwrap();
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    // The script sets a and b again before clearing them: both gone.
    assert!(!c.state.contains_key("s.rhai"), "{:?}", c.state);
}

/// On a purchase, a `thanks` event for the customer named in `for`.
const THANK: &str = r#"
    fn on_event(event, customer) {
        if event.type == "purchase" && event.amount > 1000 { emit("c-1", "thanks", #{ from: customer.id }); }
        if event.type == "thanks" { award_points(5, "thanked"); }
        if event.type == "ping" { emit(customer.id, "ping"); }
    }
"#;

#[test]
fn an_emitted_event_follows_its_cause_once_and_runs_the_other_customers_rules() {
    let (_dir, mut store) = store_with(scripts(&[("thank.rhai", THANK)]));
    store.append(&[purchase(1, "c-1")]).unwrap(); // c-1 exists (500: no emit)
    let big = ev(
        r#"{"id":"big","customer":"c-2","type":"purchase","at":"2026-03-05T10:00:00+09:00","amount":5000}"#,
    );
    let report = store.append(std::slice::from_ref(&big)).unwrap();
    assert_eq!((report.appended, report.rule_errors), (2, 0), "{report:?}");
    let c1 = store.customer(&id("c-1")).unwrap().unwrap();
    assert_eq!(c1.loyalty.issued, 5);
    let history = store.history_with_effects(&id("c-1"), 10).unwrap();
    let (thanks, _) = history.last().unwrap();
    assert_eq!(thanks.id.as_str(), "emit-big>thank.rhai#0");
    assert_eq!(thanks.attrs["emitted_by"]["event"], "big");
    assert_eq!(thanks.attrs["from"], "c-2");
    assert_eq!(thanks.at, big.at);
    // The cause again (a retry, a re-import): nothing new.
    let again = store.append(std::slice::from_ref(&big)).unwrap();
    assert_eq!((again.appended, again.duplicates), (0, 1));
    // The cause and what it emitted, imported into a fresh store in log order: once each.
    let (_dir2, mut other) = store_with(scripts(&[("thank.rhai", THANK)]));
    let log: Vec<Event> = store.events().map(Result::unwrap).collect();
    let report = other.append(&log).unwrap();
    assert_eq!((report.appended, report.duplicates), (3, 1), "{report:?}");
    assert_eq!(
        other.customer(&id("c-1")).unwrap().unwrap().loyalty.issued,
        5
    );
}

#[test]
fn emits_are_bounded_and_checked_and_one_to_nobody_fails_its_script_not_the_event() {
    let bad = r#"
        fn on_event(event, customer) {
            if event.type == "purchase" {
                award_points(1, "kept");
                emit("c-nobody", "thanks");
            }
            if event.type == "forge" { emit("c-1", "purchase", #{ amount: 100 }); }
        }
    "#;
    let (_dir, mut store) = store_with(scripts(&[("bad.rhai", bad), ("thank.rhai", THANK)]));
    let report = store
        .append(&[
            purchase(1, "c-1"),
            ev(r#"{"id":"f","customer":"c-1","type":"forge","at":"2026-03-02T10:00:00+09:00"}"#),
            ev(r#"{"id":"pi","customer":"c-1","type":"ping","at":"2026-03-03T10:00:00+09:00"}"#),
        ])
        .unwrap();
    let messages: Vec<String> = store
        .rule_errors()
        .unwrap()
        .iter()
        .map(|e| e.message.clone())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("there is no customer c-nobody")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"purchase\" is kizuna's own")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("emits deep")),
        "{messages:?}"
    );
    // purchase + forge + ping + 3 pings emitted (the 4th is refused).
    assert_eq!(report.appended, 6, "{report:?}");
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    assert_eq!(
        c.loyalty.issued, 0,
        "an emit to nobody fails its script: its award goes too"
    );
    assert_eq!(c.stats.orders, 1, "no purchase was forged");
}

#[test]
fn a_script_keeps_at_most_64_keys_and_may_still_change_them() {
    let script = r#"
        fn on_event(event, customer) {
            for i in 0..64 { state.set("k" + i, i); }
            state.set("k0", "changed");
            if event.type == "more" { state.set("k64", 1); }
        }
    "#;
    let (_dir, mut store) = store_with(scripts(&[("s.rhai", script)]));
    store.append(&[purchase(1, "c-1")]).unwrap();
    assert_eq!(store.rule_errors().unwrap().len(), 0);
    let c = store.customer(&id("c-1")).unwrap().unwrap();
    assert_eq!(c.state.get("s.rhai").unwrap().len(), 64);
    assert_eq!(kept(&c, "s.rhai", "k0"), "changed");
    store
        .append(&[ev(
            r#"{"id":"m","customer":"c-1","type":"more","at":"2026-03-02T10:00:00+09:00"}"#,
        )])
        .unwrap();
    let errors = store.rule_errors().unwrap();
    assert!(errors[0].message.contains("at most 64 keys"), "{errors:?}");
}

#[test]
fn an_emit_to_an_erased_customer_is_dropped_quietly() {
    let (_dir, mut store) = store_with(scripts(&[("thank.rhai", THANK)]));
    store.append(&[purchase(1, "c-1")]).unwrap();
    store.erase_customer(&id("c-1")).unwrap();
    let big = ev(
        r#"{"id":"big","customer":"c-2","type":"purchase","at":"2026-03-05T10:00:00+09:00","amount":5000}"#,
    );
    let report = store.append(&[big]).unwrap();
    assert_eq!((report.appended, report.rule_errors), (1, 0), "{report:?}");
    assert!(
        store.customer(&id("c-1")).unwrap().is_none(),
        "nothing of c-1 comes back"
    );
}
