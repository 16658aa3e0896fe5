//! Store + rules: effects applied with the event, recorded, replayed, erased.

use super::ruled::Ruled;
use std::sync::Arc;

use super::*;
use crate::{event::Event, ids::CustomerId, rules::RuleSet};

const PACK: &str = r#"
    fn on_event(event, customer) {
        if event.type == "purchase" {
            award_points(event.amount / 100, "purchase");
            send("email", "thanks", #{ amount: event.amount });
            schedule("repurchase", event.at + days(30));
            alert("order from " + customer.id);
        }
        if event.type == "redeem" { redeem_points(event.points, "redeem"); tag("redeemed"); }
        if event.type == "cancel_timer" { cancel("repurchase"); }
    }
"#;

fn rules(extra: &[(&str, &str)]) -> Arc<RuleSet> {
    let mut sources = vec![("loyalty.rhai".to_owned(), PACK.to_owned())];
    sources.extend(
        extra
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned())),
    );
    Arc::new(RuleSet::compile(sources, None).unwrap())
}

fn ev(json: &str) -> Event {
    Event::from_json_str(json).unwrap()
}

fn open(dir: &tempfile::TempDir, rules: Option<Arc<RuleSet>>) -> Ruled {
    let store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    Ruled::new(store, rules.unwrap_or_else(|| Arc::new(RuleSet::empty())))
}

/// A rule set of one script.
fn one_script(file: &str, source: &str) -> Arc<RuleSet> {
    Arc::new(RuleSet::compile(vec![(file.into(), source.into())], None).unwrap())
}

fn c1() -> CustomerId {
    CustomerId::new("c-1").unwrap()
}

const BUY: &str = r#"{"id":"p1","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":4800}"#;

#[test]
fn effects_are_applied_recorded_and_acted_on_with_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(
        &dir,
        Some(rules(&[(
            "broken.rhai",
            "fn on_event(e, c) { tag(\"x\"); throw \"boom\"; }",
        )])),
    );
    let report = store.append(&[ev(BUY)]).unwrap();
    assert_eq!((report.appended, report.rule_errors), (1, 1));
    store.flush().unwrap();
    let c = store.customer(&c1()).unwrap().unwrap();
    assert_eq!(c.loyalty.balance(ev(BUY).at.instant()), 48);
    assert!(
        !c.tags.contains("x"),
        "the failing script's effects were dropped"
    );

    let history = store.history_with_effects(&c1(), 10).unwrap();
    let recorded = history[0].1.as_ref().unwrap();
    assert_eq!(recorded.rules, store.rules.version());
    assert_eq!(recorded.effects.len(), 4);
    assert!(recorded.effects.iter().all(|e| e.script == "loyalty.rhai"));

    assert_eq!(store.outbox().unwrap()[0].template, "thanks");
    assert_eq!(
        store.timers().unwrap()[0].due.to_string(),
        "2026-03-31T01:00:00Z"
    );
    assert_eq!(store.alerts().unwrap()[0].text, "order from c-1");
    let errors = store.rule_errors().unwrap();
    assert_eq!(
        (errors[0].pos.file.as_str(), errors[0].event.as_str()),
        ("broken.rhai", "p1")
    );
    assert!(errors[0].message.contains("boom"), "{}", errors[0].message);

    store
        .append(&[ev(
            r#"{"customer":"c-1","type":"cancel_timer","at":"2026-03-02T00:00:00Z"}"#,
        )])
        .unwrap();
    assert!(
        store.timers().unwrap().is_empty(),
        "cancel removes the timer"
    );
}

#[test]
fn redeeming_beyond_the_balance_is_a_rule_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, Some(rules(&[])));
    store.append(&[ev(BUY)]).unwrap();
    let report = store
        .append(&[ev(r#"{"id":"r1","customer":"c-1","type":"redeem","at":"2026-03-02T00:00:00Z","points":49}"#)])
        .unwrap();
    assert_eq!(report.rule_errors, 1);
    let c = store.customer(&c1()).unwrap().unwrap();
    assert_eq!(c.loyalty.balance(ev(BUY).at.instant()), 48);
    assert!(
        !c.tags.contains("redeemed"),
        "the whole script's effects are dropped"
    );
    let err = &store.rule_errors().unwrap()[0];
    assert_eq!(err.function, "apply");
    assert!(err.message.contains("balance is 48"), "{}", err.message);
    store
        .append(&[ev(r#"{"id":"r2","customer":"c-1","type":"redeem","at":"2026-03-02T00:00:00Z","points":40}"#)])
        .unwrap();
    let c = store.customer(&c1()).unwrap().unwrap();
    assert_eq!((c.loyalty.redeemed, c.loyalty.lots[0].remaining), (40, 8));
}

#[test]
fn an_absurd_award_is_a_rule_error_and_the_event_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let bonus = r#"fn on_event(event, customer) {
        if event.type == "bonus" { award_points(event.points, "bonus"); tag("bonus"); }
    }"#;
    let mut store = open(&dir, Some(rules(&[("bonus.rhai", bonus)])));
    store.append(&[ev(BUY)]).unwrap();
    let report = store
        .append(&[ev(&format!(
            r#"{{"id":"b1","customer":"c-1","type":"bonus","at":"2026-03-02T00:00:00Z","points":{}}}"#,
            i64::MAX
        ))])
        .unwrap();
    assert_eq!((report.appended, report.rule_errors), (1, 1));
    let c = store.customer(&c1()).unwrap().unwrap();
    assert_eq!((c.loyalty.issued, c.stats.events), (48, 2));
    assert!(!c.tags.contains("bonus"));
    let err = &store.rule_errors().unwrap()[0];
    assert!(
        err.message.contains("at most 1000000000 points per award"),
        "{}",
        err.message
    );
}

#[test]
fn replay_after_a_crash_uses_recorded_effects_not_the_scripts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(&dir, Some(rules(&[])));
        store.append(&[ev(BUY)]).unwrap();
        store.sync().unwrap(); // log durable, projection never checkpointed
    }
    // Reopened with no rules at all: the points come from the log.
    let store = open(&dir, None);
    let c = store.customer(&c1()).unwrap().unwrap();
    assert_eq!(c.loyalty.issued, 48);
}

#[test]
fn erase_removes_what_the_events_produced() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, Some(rules(&[])));
    store.append(&[ev(BUY)]).unwrap();
    store.erase_customer(&c1()).unwrap().unwrap();
    assert!(store.outbox().unwrap().is_empty());
    assert!(store.alerts().unwrap().is_empty());
    assert!(store.timers().unwrap().is_empty());
}

#[test]
fn rescheduled_timers_fire_once_at_their_new_time() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_event(e, c) {
            if e.type == "visit" { schedule("follow_up", e.at + days(7)); }
            if e.type == "stop" { cancel("follow_up"); }
        }
        fn on_timer(name, c, data) { tag("followed-up"); }
    "#;
    let mut store = open(&dir, Some(one_script("f.rhai", script)));
    let visit = |id: &str, at: &str| {
        ev(&format!(
            r#"{{"id":"{id}","customer":"c-1","type":"visit","at":"{at}"}}"#
        ))
    };
    // Set for 8 March, then reset (same batch) and again (later batch) to 15 March.
    store
        .append(&[
            visit("v1", "2026-03-01T00:00:00Z"),
            visit("v2", "2026-03-05T00:00:00Z"),
        ])
        .unwrap();
    store
        .append(&[visit("v3", "2026-03-08T00:00:00Z")])
        .unwrap();
    let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    assert_eq!(
        store
            .fire_due_timers(t("2026-03-14T23:59:59Z"))
            .unwrap()
            .appended,
        0,
        "the old due times are gone"
    );
    assert_eq!(
        store
            .fire_due_timers(t("2026-03-15T00:00:00Z"))
            .unwrap()
            .appended,
        1
    );
    assert_eq!(
        store
            .fire_due_timers(t("2026-04-01T00:00:00Z"))
            .unwrap()
            .appended,
        0,
        "fired once"
    );
    assert!(
        store
            .customer(&c1())
            .unwrap()
            .unwrap()
            .tags
            .contains("followed-up")
    );
    // A cancelled timer leaves nothing in the due index either.
    store
        .append(&[
            visit("v4", "2026-04-01T00:00:00Z"),
            ev(r#"{"id":"s1","customer":"c-1","type":"stop","at":"2026-04-02T00:00:00Z"}"#),
        ])
        .unwrap();
    assert_eq!(
        store
            .fire_due_timers(t("2027-01-01T00:00:00Z"))
            .unwrap()
            .appended,
        0
    );
    assert!(store.timers().unwrap().is_empty());
}

#[test]
fn the_outbox_due_index_follows_every_status_change_and_is_rebuilt_for_old_stores() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, Some(rules(&[])));
    store.append(&[ev(BUY)]).unwrap();
    let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    let due = |store: &Store, at: &str| store.due_messages(t(at)).unwrap().len();
    assert_eq!(
        due(&store, "2000-01-01T00:00:00Z"),
        1,
        "pending: due at once"
    );

    let mut m = store.outbox().unwrap().remove(0);
    m.status = MessageStatus::Deferred {
        until: t("2026-03-02T08:00:00Z"),
        guard: "g".into(),
        reason: "night".into(),
    };
    store.update_message(&m).unwrap();
    assert_eq!(due(&store, "2026-03-02T07:59:59Z"), 0);
    assert_eq!(due(&store, "2026-03-02T08:00:00Z"), 1);
    assert_eq!(store.due_count(t("2026-03-02T08:00:00Z")).unwrap(), 1);

    m.status = MessageStatus::Sent {
        at: t("2026-03-02T08:00:00Z"),
        receipt: "r".into(),
    };
    store.update_message(&m).unwrap();
    assert_eq!(due(&store, "2099-01-01T00:00:00Z"), 0, "sent: never again");
    m.status = MessageStatus::Pending;
    store.update_message(&m).unwrap();

    // A store from before the index: no `q` keys, no marker. Opening builds it.
    let stale: Vec<_> = store
        .tree
        .scan_prefix([keys::OUTBOX_DUE])
        .map(|i| i.unwrap().0)
        .collect();
    assert_eq!(stale.len(), 1, "exactly one index entry per due message");
    for k in stale {
        store.tree.remove(k).unwrap();
    }
    store.tree.remove(keys::meta("outbox_due_index")).unwrap();
    store.flush().unwrap();
    assert_eq!(due(&store, "2099-01-01T00:00:00Z"), 0);
    drop(store);
    let store = open(&dir, None);
    assert_eq!(due(&store, "2026-03-01T00:00:00Z"), 1);
}

#[test]
fn a_timer_backlog_fires_in_slices_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_event(e, c) { schedule("remind", e.at + days(1)); }
        fn on_timer(name, c, data) { tag("reminded"); }
    "#;
    let mut store = open(&dir, Some(one_script("r.rhai", script)));
    let events: Vec<_> = (0..5)
        .map(|i| {
            ev(&format!(
                r#"{{"id":"v{i}","customer":"c-{i}","type":"visit","at":"2026-03-0{}T00:00:00Z"}}"#,
                i + 1
            ))
        })
        .collect();
    store.append(&events).unwrap();
    let now: jiff::Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
    assert_eq!(store.timers_due_count(now).unwrap(), 5);
    let first = store.fire_due_timers_at_most(now, 2).unwrap();
    assert_eq!(first.appended, 2);
    assert_eq!(store.timers_due_count(now).unwrap(), 3);
    // The oldest went first: c-0 and c-1 (due 2 and 3 March).
    for (id, tagged) in [("c-0", true), ("c-1", true), ("c-2", false)] {
        let c = store.customer(&id.parse().unwrap()).unwrap().unwrap();
        assert_eq!(c.tags.contains("reminded"), tagged, "{id}");
    }
    assert_eq!(store.fire_due_timers_at_most(now, 10).unwrap().appended, 3);
    assert_eq!(store.timers_due_count(now).unwrap(), 0);
}

#[test]
fn timers_set_and_cancelled_within_one_batch_leave_only_their_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_event(e, c) {
            if e.type == "visit" { schedule("t", e.at + days(1)); }
            if e.type == "stop" { cancel("t"); }
        }
        fn on_timer(name, c, data) { tag("fired"); }
    "#;
    let mut store = open(&dir, Some(one_script("t.rhai", script)));
    let e = |id: &str, kind: &str, customer: &str, at: &str| {
        ev(&format!(
            r#"{{"id":"{id}","customer":"{customer}","type":"{kind}","at":"{at}"}}"#
        ))
    };
    store
        .append(&[
            // c-1: set, cancelled, set again at the same time: one timer.
            e("a1", "visit", "c-1", "2026-03-01T00:00:00Z"),
            e("a2", "stop", "c-1", "2026-03-01T00:00:00Z"),
            e("a3", "visit", "c-1", "2026-03-01T00:00:00Z"),
            // c-2: set and cancelled: nothing.
            e("b1", "visit", "c-2", "2026-03-01T00:00:00Z"),
            e("b2", "stop", "c-2", "2026-03-01T01:00:00Z"),
        ])
        .unwrap();
    let timers = store.timers().unwrap();
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].customer.as_str(), "c-1");
    // The same due time again in a later batch: still one index entry, fires once.
    store
        .append(&[e("a4", "visit", "c-1", "2026-03-01T00:00:00Z")])
        .unwrap();
    let now: jiff::Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
    assert_eq!(store.timers_due_count(now).unwrap(), 1);
    assert_eq!(store.fire_due_timers(now).unwrap().appended, 1);
    assert!(store.timers().unwrap().is_empty());
    assert_eq!(store.timers_due_count(now).unwrap(), 0);
}

/// A backup is the database of one moment: it opens without recovery, holds every event
/// and projection, and passes a check; a damaged store is described, not raised.
#[test]
fn a_backup_opens_whole_and_a_check_finds_what_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, Some(rules(&[])));
    let events: Vec<Event> = (0..40)
        .map(|i| {
            ev(&format!(
                r#"{{"id":"p{i}","customer":"c-{}","type":"purchase","at":"2026-03-{:02}T10:00:00+09:00","amount":{}}}"#,
                i % 7,
                i % 28 + 1,
                100 * (i + 1)
            ))
        })
        .collect();
    store.append(&events).unwrap();
    // Not flushed: the backup flushes first, so what was appended is in it.
    let dest = dir.path().join("backup-db");
    let report = store.backup_to(&dest).unwrap();
    assert_eq!((report.events, report.customers), (40, 7));
    assert!(
        store.backup_to(&dest).is_err(),
        "an existing directory is refused"
    );
    let healthy = store.check(100).unwrap();
    assert_eq!(healthy.problems, Vec::<String>::new());
    assert_eq!(
        (healthy.events, healthy.customers, healthy.refolded),
        (40, 7, 7)
    );
    let live: Vec<_> = store.customers().map(Result::unwrap).collect();
    drop(store);
    let copy = Store::open(&dest, StoreOptions::default()).unwrap();
    assert_eq!(
        copy.customers().map(Result::unwrap).collect::<Vec<_>>(),
        live
    );
    assert_eq!(copy.check(100).unwrap().problems, Vec::<String>::new());
    // Damage: a lost record, a wrong counter.
    copy.remove_raw_for_test(&keys::customer(&c1()));
    copy.set_meta_for_test("events", 41);
    let problems = copy.check(100).unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("c-1: 6 event(s) in the log but no record")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("the event counter says 41, the log holds 40")),
        "{problems:?}"
    );
}

/// One customer's history finds exactly the effects each of their events recorded, in a
/// block shared with other customers, events without effects among them, and a script
/// whose message variables spell out a record's opening.
#[test]
fn history_finds_each_events_own_effects_in_a_shared_block() {
    let dir = tempfile::tempdir().unwrap();
    let decoy = r#"
        fn on_event(event, customer) {
            if event.type == "purchase" {
                send("email", "decoy", #{ seq: 1, rules: "x", effects: [], text: "{\"seq\":1,\"rules\":" });
            }
        }
    "#;
    let mut store = open(&dir, Some(rules(&[("decoy.rhai", decoy)])));
    let mut events = Vec::new();
    for i in 0..40 {
        let customer = format!("c-{}", i % 3 + 1);
        let kind = if i % 4 == 3 { "visit" } else { "purchase" };
        events.push(ev(&format!(
            r#"{{"id":"e{i}","customer":"{customer}","type":"{kind}","at":"2026-03-01T10:{i:02}:00Z","amount":{}}}"#,
            100 * (i + 1)
        )));
    }
    store.append(&events).unwrap();
    let all = store.block_effects(0).unwrap();
    for customer in ["c-1", "c-2", "c-3"] {
        let id = CustomerId::new(customer).unwrap();
        let history = store.history_with_effects(&id, 100).unwrap();
        assert!(history.len() > 10);
        for (event, recorded) in history {
            let seq = events.iter().position(|e| e.id == event.id).unwrap() as u64;
            let expected = all.iter().find(|r| r.seq == seq);
            assert_eq!(recorded.as_ref(), expected, "{}", event.id);
            assert_eq!(recorded.is_some(), event.kind.as_str() == "purchase");
        }
    }
}

/// Staff acknowledge and resolve an alert with events: each is recorded on the alert in the
/// event's own write (two in one batch both count), a resolved alert is not open, and an
/// event naming another customer's alert or none changes no alert.
#[test]
fn alerts_are_acknowledged_and_resolved_by_events() {
    use crate::internal::AlertHandled;
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, Some(rules(&[])));
    store.append(&[ev(BUY)]).unwrap();
    let alert = store.alerts().unwrap().remove(0);
    assert_eq!(
        alert.id.to_string(),
        "a-0-3",
        "the first event, the fourth effect"
    );
    assert!(alert.acked.is_none() && alert.resolved.is_none());
    let handled = |resolved: bool, customer: &str, by: &str| {
        AlertHandled {
            alert: alert.id,
            customer: CustomerId::new(customer).unwrap(),
            at: "2026-03-02T09:00:00Z".parse().unwrap(),
            by: Some(by.into()),
            note: resolved.then(|| "called back".into()),
            resolved,
        }
        .to_event()
        .unwrap()
    };
    // Another customer's event names this alert: it is kept as history, the alert untouched.
    store.append(&[handled(true, "c-2", "Mallory")]).unwrap();
    assert!(store.alert(alert.id).unwrap().unwrap().resolved.is_none());
    store
        .append(&[handled(false, "c-1", "Ken"), handled(true, "c-1", "Yui")])
        .unwrap();
    store.flush().unwrap();
    let now = store.alert(alert.id).unwrap().unwrap();
    assert_eq!(now.acked.as_ref().unwrap().by.as_deref(), Some("Ken"));
    let resolved = now.resolved.as_ref().unwrap();
    assert_eq!(
        (resolved.by.as_deref(), resolved.note.as_deref()),
        (Some("Yui"), Some("called back"))
    );
    assert!(
        store.open_alerts().unwrap().is_empty(),
        "resolved: not open"
    );
    assert_eq!(store.alerts().unwrap().len(), 1);
    let unknown = AlertHandled {
        alert: crate::store::AlertId { seq: 99, n: 0 },
        ..AlertHandled::from_event(&handled(false, "c-1", "Ken")).unwrap()
    };
    store.append(&[unknown.to_event().unwrap()]).unwrap();
    assert!(
        store
            .alert(crate::store::AlertId { seq: 99, n: 0 })
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_alert_event_without_a_valid_alert_id_is_refused_at_the_door() {
    let missing = Event::from_json_str(
        r#"{"customer":"c-1","type":"alert_acked","at":"2026-03-02T09:00:00Z"}"#,
    )
    .unwrap_err();
    assert_eq!(missing[0].field, "alert");
    let bad = Event::from_json_str(
        r#"{"customer":"c-1","type":"alert_resolved","at":"2026-03-02T09:00:00Z","alert":"m-1-0","by":7}"#,
    )
    .unwrap_err();
    let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["alert", "by"]);
}
