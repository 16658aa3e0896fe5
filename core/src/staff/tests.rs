use jiff::{SignedDuration, Timestamp, tz::TimeZone};

use super::*;
use crate::{
    Event, Store, StoreOptions,
    rules::{MessageClass, RuleSet},
    store::{MessageStatus, OutboxMessage},
};

/// An inquiry raises an alert of its `priority`; a `reply` answers it.
const RULES: &str = r#"
    fn on_event(e, c) {
        if e.type == "inquiry" { alert("waiting: " + e.id, e.priority); }
    }
"#;

fn rules() -> RuleSet {
    RuleSet::compile(vec![("silence.rhai".into(), RULES.into())], None).unwrap()
}

fn recipient(name: &str) -> Recipient {
    Recipient {
        name: name.into(),
        channel: "email".into(),
        to: format!("{name}@shop.example"),
        kinds: Vec::new(),
        min_priority: 0,
        new_alerts: true,
        escalations: false,
        digest_at: None,
        quiet: None,
        page_priority: None,
    }
}

fn policy(recipients: Vec<Recipient>) -> StaffPolicy {
    StaffPolicy {
        recipients,
        escalate_after: Some(SignedDuration::from_hours(4)),
        tz: TimeZone::get("Asia/Tokyo").unwrap(),
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn inquiry(store: &mut Store, id: &str, customer: &str, at: &str, priority: i64) {
    let json = format!(
        r#"{{"id":"{id}","customer":"{customer}","type":"inquiry","at":"{at}","priority":{priority}}}"#
    );
    store
        .append(&rules(), &[Event::from_json_str(&json).unwrap()])
        .unwrap();
}

fn staff_messages(store: &Store) -> Vec<OutboxMessage> {
    let mut all: Vec<OutboxMessage> = store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|m| m.class == MessageClass::Staff)
        .collect();
    all.sort_by_key(|m| (m.to.clone(), m.template.clone()));
    all
}

#[test]
fn each_new_alert_is_notified_once_to_whoever_it_is_routed_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    inquiry(&mut store, "q-1", "c-1", "2026-12-07T10:00:00+09:00", 0);
    inquiry(&mut store, "q-2", "c-2", "2026-12-07T10:05:00+09:00", 60);
    let mut urgent_only = recipient("manager");
    urgent_only.min_priority = 50;
    let mut elsewhere = recipient("warehouse");
    elsewhere.kinds = vec!["promises".into()];
    let p = policy(vec![recipient("owner"), urgent_only, elsewhere]);
    let now = t("2026-12-07T01:10:00Z");

    let report = round(&mut store, &p, now).unwrap();
    assert_eq!(
        (report.notices, report.escalations, report.digests),
        (3, 0, 0)
    );
    let queued = staff_messages(&store);
    let to: Vec<_> = queued.iter().map(|m| m.to.clone().unwrap()).collect();
    assert_eq!(
        to,
        [
            "manager@shop.example",
            "owner@shop.example",
            "owner@shop.example"
        ]
    );
    assert!(queued.iter().all(|m| m.template == ALERT_TEMPLATE
        && m.status == MessageStatus::Pending
        && is_staff_message(m.id)));
    assert!(
        store
            .alerts()
            .unwrap()
            .iter()
            .all(|a| a.notified == Some(now))
    );

    // A second round, and one after reopening the store, owe nothing.
    assert_eq!(round(&mut store, &p, now).unwrap().queued(), 0);
    drop(store);
    let mut store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    assert_eq!(round(&mut store, &p, now).unwrap().queued(), 0);
    assert_eq!(staff_messages(&store).len(), 3);
}

#[test]
fn no_recipients_marks_nothing_and_a_resolved_alert_is_never_notified() {
    let mut store = Store::open_temporary().unwrap();
    inquiry(&mut store, "q-1", "c-1", "2026-12-07T10:00:00+09:00", 0);
    let now = t("2026-12-07T01:10:00Z");
    assert_eq!(
        round(&mut store, &StaffPolicy::none(), now).unwrap(),
        StaffReport::default()
    );
    assert_eq!(store.alerts().unwrap()[0].notified, None);
    let resolve = r#"{"customer":"c-1","type":"alert_resolved","at":"2026-12-07T10:01:00+09:00","alert":"a-0-0","by":"aiko"}"#;
    store
        .append(&rules(), &[Event::from_json_str(resolve).unwrap()])
        .unwrap();
    let report = round(&mut store, &policy(vec![recipient("owner")]), now).unwrap();
    assert_eq!(report.queued(), 0);
}

#[test]
fn an_alert_left_open_is_escalated_once_after_escalate_after() {
    let mut store = Store::open_temporary().unwrap();
    inquiry(&mut store, "q-1", "c-1", "2026-12-07T10:00:00+09:00", 0);
    let mut boss = recipient("boss");
    boss.new_alerts = false;
    boss.escalations = true;
    let p = policy(vec![recipient("owner"), boss]);
    assert_eq!(
        round(&mut store, &p, t("2026-12-07T01:00:00Z"))
            .unwrap()
            .notices,
        1
    );
    // 3 h 59 min: not yet.
    let early = round(&mut store, &p, t("2026-12-07T04:59:00Z")).unwrap();
    assert_eq!(early.queued(), 0);
    let at_four = round(&mut store, &p, t("2026-12-07T05:00:00Z")).unwrap();
    assert_eq!((at_four.notices, at_four.escalations), (0, 1));
    assert_eq!(
        round(&mut store, &p, t("2026-12-07T09:00:00Z"))
            .unwrap()
            .queued(),
        0
    );
    let escalation = staff_messages(&store)
        .into_iter()
        .find(|m| m.template == ESCALATION_TEMPLATE)
        .unwrap();
    assert_eq!(escalation.to.as_deref(), Some("boss@shop.example"));
    // Answered alerts are not escalated.
    inquiry(&mut store, "q-2", "c-2", "2026-12-07T10:00:00+09:00", 0);
    let reply = r#"{"customer":"c-2","type":"reply","at":"2026-12-07T10:30:00+09:00"}"#;
    store
        .append(&rules(), &[Event::from_json_str(reply).unwrap()])
        .unwrap();
    let later = round(&mut store, &p, t("2026-12-07T09:00:00Z")).unwrap();
    assert_eq!(later.escalations, 0);
}

#[test]
fn quiet_hours_hold_a_notice_until_morning_unless_it_pages() {
    let mut store = Store::open_temporary().unwrap();
    // 03:00 and 03:05 in Tokyo.
    inquiry(&mut store, "q-1", "c-1", "2026-12-08T03:00:00+09:00", 0);
    inquiry(&mut store, "q-2", "c-2", "2026-12-08T03:05:00+09:00", 80);
    let mut owner = recipient("owner");
    owner.quiet = Some(QuietHours::parse("22:00-07:00").unwrap());
    owner.page_priority = Some(50);
    let report = round(&mut store, &policy(vec![owner]), t("2026-12-07T18:06:00Z")).unwrap();
    assert_eq!((report.notices, report.held), (2, 1));
    let queued = staff_messages(&store);
    let held = queued
        .iter()
        .find(|m| m.customer.as_str() == "c-1")
        .unwrap();
    let MessageStatus::Deferred { until, guard, .. } = &held.status else {
        panic!("{:?}", held.status)
    };
    assert_eq!(
        (until.to_string().as_str(), guard.as_str()),
        ("2026-12-07T22:00:00Z", "staff quiet hours")
    );
    let paged = queued
        .iter()
        .find(|m| m.customer.as_str() == "c-2")
        .unwrap();
    assert_eq!(paged.status, MessageStatus::Pending);
    // Due in the morning, not before.
    assert_eq!(store.due_count(t("2026-12-07T21:59:00Z")).unwrap(), 1);
    assert_eq!(store.due_count(t("2026-12-07T22:00:00Z")).unwrap(), 2);
}

#[test]
fn quiet_hours_across_midnight_and_within_a_day() {
    let tz = TimeZone::UTC;
    let night = QuietHours::parse("22:00-07:00").unwrap();
    assert_eq!(night.to_string(), "22:00-07:00");
    assert_eq!(
        night.ends(t("2026-12-07T23:30:00Z"), &tz),
        Some(t("2026-12-08T07:00:00Z"))
    );
    assert_eq!(
        night.ends(t("2026-12-08T06:59:00Z"), &tz),
        Some(t("2026-12-08T07:00:00Z"))
    );
    assert_eq!(night.ends(t("2026-12-08T07:00:00Z"), &tz), None);
    let lunch = QuietHours::parse("12:00-13:00").unwrap();
    assert_eq!(lunch.ends(t("2026-12-08T11:59:00Z"), &tz), None);
    assert_eq!(
        lunch.ends(t("2026-12-08T12:30:00Z"), &tz),
        Some(t("2026-12-08T13:00:00Z"))
    );
    for bad in ["22:00", "25:00-07:00", "07:00-07:00"] {
        assert!(QuietHours::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_digest_goes_once_a_day_at_its_local_time_with_what_is_open() {
    let mut store = Store::open_temporary().unwrap();
    inquiry(&mut store, "q-1", "c-1", "2026-12-07T10:00:00+09:00", 0);
    inquiry(&mut store, "q-2", "c-2", "2026-12-07T11:00:00+09:00", 0);
    let mut owner = recipient("owner");
    owner.new_alerts = false;
    owner.digest_at = Some("09:00".parse().unwrap());
    let p = policy(vec![owner]);
    // 08:59 the next morning in Tokyo: not yet.
    assert_eq!(
        round(&mut store, &p, t("2026-12-07T23:59:00Z"))
            .unwrap()
            .digests,
        0
    );
    assert_eq!(
        round(&mut store, &p, t("2026-12-08T00:00:00Z"))
            .unwrap()
            .digests,
        1
    );
    assert_eq!(
        round(&mut store, &p, t("2026-12-08T03:00:00Z"))
            .unwrap()
            .digests,
        0
    );
    let digest = &staff_messages(&store)[0];
    assert_eq!(digest.template, DIGEST_TEMPLATE);
    assert_eq!(digest.customer.as_str(), "staff:owner");
    assert_eq!(digest.vars["alerts"], serde_json::json!(["a-0-0", "a-1-0"]));
    assert_eq!(digest.vars["date"], "2026-12-08");
    // The next day, a round that runs late (noon): the alerts open at 09:00, not the one
    // raised at 10:00. Its id differs from the first digest's.
    inquiry(&mut store, "q-3", "c-3", "2026-12-09T10:00:00+09:00", 0);
    assert_eq!(
        round(&mut store, &p, t("2026-12-09T03:00:00Z"))
            .unwrap()
            .digests,
        1
    );
    let both = staff_messages(&store);
    assert_eq!(both.len(), 2);
    assert_ne!(both[0].id, both[1].id);
    let late = both
        .iter()
        .find(|m| m.vars["date"] == "2026-12-09")
        .unwrap();
    assert_eq!(late.vars["alerts"], serde_json::json!(["a-0-0", "a-1-0"]));
}

#[test]
fn a_notice_goes_out_past_the_guards_without_counting_as_contact_and_not_once_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("staff_alert.email"),
        "Subject: [kizuna] {{ alert.kind }}: {{ alert.customer.id }}\n\n{{ alert.text }} ({{ alert.age }}, {{ alert.at }})\n",
    )
    .unwrap();
    // A guard that refuses everything: staff messages never meet it.
    let source = format!("{RULES}\nfn guard(m, c) {{ deny(\"no contact\") }}");
    let rules =
        std::sync::Arc::new(RuleSet::compile(vec![("silence.rhai".into(), source)], None).unwrap());
    let mut store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    for (id, customer) in [("q-1", "c-1"), ("q-2", "c-2")] {
        let json = format!(
            r#"{{"id":"{id}","customer":"{customer}","type":"inquiry","at":"2026-12-07T10:00:00+09:00","priority":0}}"#
        );
        store
            .append(&rules, &[Event::from_json_str(&json).unwrap()])
            .unwrap();
    }
    let now = t("2026-12-07T01:30:00Z");
    round(&mut store, &policy(vec![recipient("owner")]), now).unwrap();
    // c-2's alert is resolved before the dispatcher runs.
    let resolve = r#"{"customer":"c-2","type":"alert_resolved","at":"2026-12-07T10:20:00+09:00","alert":"a-1-0","by":"ken"}"#;
    store
        .append(&rules, &[Event::from_json_str(resolve).unwrap()])
        .unwrap();
    let channels = crate::channel::file_channels(dir.path(), "kizuna@shop.example");
    let dispatcher = crate::dispatch::Dispatcher::new(
        channels,
        rules,
        templates,
        crate::dispatch::RetryPolicy::default(),
    );
    let report = dispatcher.run(&mut store, now).unwrap();
    assert_eq!(report.outcomes.get("sent"), Some(&1), "{report:?}");
    let messages = staff_messages(&store);
    let sent = messages
        .iter()
        .find(|m| m.customer.as_str() == "c-1")
        .unwrap();
    let MessageStatus::Sent { receipt, .. } = &sent.status else {
        panic!("{:?}", sent.status)
    };
    let mail = std::fs::read_to_string(receipt).unwrap();
    assert!(mail.contains("To: owner@shop.example"), "{mail}");
    assert!(mail.contains("Subject: [kizuna] silence: c-1"), "{mail}");
    assert!(
        mail.contains("waiting: q-1 (30 min, 2026-12-07 10:00 JST)"),
        "{mail}"
    );
    let resolved = messages
        .iter()
        .find(|m| m.customer.as_str() == "c-2")
        .unwrap();
    assert!(
        matches!(&resolved.status, MessageStatus::Suppressed { guard, reason }
            if guard == "staff" && reason.contains("resolved by ken")),
        "{:?}",
        resolved.status
    );
    // Not contact: no `message_sent`, nothing in the customer's contact history.
    let c1 = store.customer(&"c-1".parse().unwrap()).unwrap().unwrap();
    assert!(c1.contacts.is_empty());
    assert_eq!(store.event_count().unwrap(), 3);
}
