//! Holdouts at dispatch: a marketing message the guards allow is held back from a customer
//! in the global control group — suppressed by guard `holdout`, with a `held_out` event at
//! that moment and no contact — while transactional messages, messages the guards stop
//! anyway, and everyone else's go out. Dispatching again records nothing twice.

use std::sync::Arc;

use jiff::Timestamp;

use super::{Dispatcher, RetryPolicy};
use crate::{
    event::Event,
    ids::CustomerId,
    internal::{HELD_OUT, HeldOut, SendRequest},
    lift::holdout::{GUARD, Holdouts},
    rules::{MessageClass, RuleSet},
    store::{MessageStatus, Store, StoreOptions},
};

/// Denies template `loud` (a guard that stops it before any holdout is drawn).
const RULES: &str = r#"
    fn guard(m, c) {
        if m.template == "loud" { return deny("too loud"); }
        allow()
    }
"#;

/// A store under a scratch directory with a one-line e-mail template of each name.
struct Shop {
    dir: tempfile::TempDir,
    templates: std::path::PathBuf,
    store: Store,
}

impl Shop {
    fn new(templates: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("templates");
        std::fs::create_dir_all(&path).unwrap();
        for name in templates {
            std::fs::write(path.join(format!("{name}.email")), "Subject: s\n\nhello").unwrap();
        }
        let store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
        Self {
            dir,
            templates: path,
            store,
        }
    }

    /// Dispatches everything due at `now` (rounds of one message per customer).
    fn dispatch_all(&mut self, rules: &Arc<RuleSet>, holdouts: &Holdouts, now: Timestamp) {
        let channels = crate::channel::file_channels(self.dir.path(), "shop@example.jp");
        let dispatcher = Dispatcher::new(
            channels,
            Arc::clone(rules),
            &self.templates,
            RetryPolicy::default(),
        )
        .with_holdouts(holdouts.clone());
        while dispatcher.run(&mut self.store, now).unwrap().considered > 0 {}
    }
}

#[test]
fn marketing_the_guards_allow_is_held_back_from_the_control_group_and_recorded() {
    let mut shop = Shop::new(&["sale", "receipt", "loud"]);
    let rules = Arc::new(RuleSet::compile(vec![("g.rhai".into(), RULES.into())], None).unwrap());
    let at: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    let mut events = Vec::new();
    for i in 0..400 {
        let customer = CustomerId::new(format!("c-{i}")).unwrap();
        events.push(
            Event::from_json_str(&format!(
                r#"{{"customer":"c-{i}","type":"profile","at":"2026-03-01T00:00:00Z","email":"c{i}@example.jp"}}"#
            ))
            .unwrap(),
        );
        for (template, class) in [
            ("sale", MessageClass::Marketing),
            ("receipt", MessageClass::Transactional),
            ("loud", MessageClass::Marketing),
        ] {
            let mut e = SendRequest {
                customer: customer.clone(),
                at,
                channel: "email".into(),
                template: template.into(),
                class,
                campaign: Some("spring".into()),
                vars: Default::default(),
                force_reason: None,
            }
            .to_event()
            .unwrap();
            e.id = crate::ids::EventId::new(format!("s-{i}-{template}")).unwrap();
            events.push(e);
        }
    }
    shop.store.append(&rules, &events).unwrap();
    let holdouts = Holdouts::new(10, "test").unwrap();
    let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
    shop.dispatch_all(&rules, &holdouts, now);
    let (store, templates) = (&mut shop.store, &shop.templates);
    let all = store.outbox().unwrap();
    let mut held = 0;
    for m in &all {
        let in_group = holdouts.group(&m.customer, None).is_some();
        match (m.template.as_str(), &m.status) {
            ("sale", MessageStatus::Suppressed { guard, reason }) => {
                assert!(in_group && guard == GUARD, "{m:?}");
                assert!(reason.contains("global control group"), "{reason}");
                held += 1;
            }
            ("sale", MessageStatus::Sent { .. }) => assert!(!in_group, "{m:?}"),
            ("receipt", MessageStatus::Sent { .. }) => {}
            ("loud", MessageStatus::Suppressed { guard, .. }) => assert_ne!(guard, GUARD),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!((20..=60).contains(&held), "about 10 % of 400: {held}");
    // One `held_out` event per held message, at the dispatch, and no contact from it.
    let mut recorded = 0;
    for i in 0..400 {
        let id = CustomerId::new(format!("c-{i}")).unwrap();
        let history = store.history(&id, 100).unwrap();
        let held_events: Vec<HeldOut> = history.iter().filter_map(HeldOut::from_event).collect();
        let in_group = holdouts.group(&id, None).is_some();
        assert_eq!(held_events.len(), usize::from(in_group), "{id}");
        for h in &held_events {
            assert_eq!(
                (h.at, h.group.as_str(), h.campaign.as_deref()),
                (now, "global", Some("spring"))
            );
            assert_eq!(h.template, "sale");
        }
        recorded += held_events.len();
        let contacts = store.customer(&id).unwrap().unwrap().contacts.len();
        assert_eq!(
            contacts,
            2 - usize::from(in_group),
            "{id}: receipt, and the sale unless held"
        );
        assert!(
            history
                .iter()
                .all(|e| e.kind.as_str() != HELD_OUT || in_group)
        );
    }
    assert_eq!(recorded, held);

    // A replay holds out the same customers (the `held_out` events are not replayed as
    // input: the replay's own dispatch makes them anew); one without the groups holds out
    // nobody, so the figure is the replay's own.
    let history = crate::replay::History::load(store, None, None).unwrap();
    let held_in = |outcome: &crate::replay::Outcome| -> u64 {
        outcome
            .messages
            .iter()
            .filter(|(k, _)| k.guard == GUARD)
            .map(|(_, n)| n)
            .sum()
    };
    let replayed = history
        .clone()
        .with_holdouts(holdouts)
        .with_clock_to(now)
        .run(Arc::clone(&rules), templates)
        .unwrap();
    assert_eq!(held_in(&replayed), held as u64);
    let without = history.with_clock_to(now).run(rules, templates).unwrap();
    assert_eq!(held_in(&without), 0);
}

/// A campaign script's `const HOLDOUT = 30;` holds out about 30 % of its customers (drawn
/// apart from the global group, here none), recorded as group `campaign`; the shop's
/// receipts and other campaigns are untouched. A bad HOLDOUT is a compile error.
#[test]
fn a_campaign_holds_out_its_own_share() {
    const WINBACK: &str = r#"
        const HOLDOUT = 30;
        fn on_event(e, c) {
            if e.type == "purchase" { send("email", "sale", #{}); send("email", "receipt", #{}, "transactional"); }
        }
    "#;
    const OTHER: &str = r#"
        const CAMPAIGN = "newsletter";
        fn on_event(e, c) { if e.type == "purchase" { send("email", "news", #{}); } }
    "#;
    let mut shop = Shop::new(&["sale", "receipt", "news"]);
    let rules = Arc::new(
        RuleSet::compile(
            vec![
                ("campaigns/winback.rhai".into(), WINBACK.into()),
                ("news.rhai".into(), OTHER.into()),
            ],
            None,
        )
        .unwrap(),
    );
    assert_eq!(rules.campaign_holdout("winback"), 30);
    assert_eq!(rules.campaign_holdout("newsletter"), 0);
    let mut events = Vec::new();
    for i in 0..300 {
        for json in [
            format!(
                r#"{{"customer":"c-{i}","type":"profile","at":"2026-03-01T00:00:00Z","email":"c{i}@example.jp"}}"#
            ),
            format!(
                r#"{{"id":"p-{i}","customer":"c-{i}","type":"purchase","at":"2026-03-01T10:00:00Z","amount":100}}"#
            ),
        ] {
            events.push(Event::from_json_str(&json).unwrap());
        }
    }
    shop.store.append(&rules, &events).unwrap();
    let holdouts = Holdouts::new(0, "test").unwrap();
    shop.dispatch_all(&rules, &holdouts, "2026-03-01T12:00:00Z".parse().unwrap());
    let store = &shop.store;
    let mut held = 0;
    for m in store.outbox().unwrap() {
        let expected =
            m.template == "sale" && holdouts.group(&m.customer, Some(("winback", 30))).is_some();
        let is_held =
            matches!(&m.status, MessageStatus::Suppressed { guard, .. } if guard == GUARD);
        assert_eq!(is_held, expected, "{m:?}");
        held += usize::from(is_held);
    }
    assert!((60..=120).contains(&held), "about 30 % of 300: {held}");
    let c = (0..300)
        .map(|i| CustomerId::new(format!("c-{i}")).unwrap())
        .find(|c| holdouts.group(c, Some(("winback", 30))).is_some())
        .unwrap();
    let group: Vec<String> = store
        .history(&c, 100)
        .unwrap()
        .iter()
        .filter_map(HeldOut::from_event)
        .map(|h| h.group)
        .collect();
    assert_eq!(group, ["campaign"]);
    for bad in [
        "const HOLDOUT = 60;",
        "const HOLDOUT = \"ten\";",
        "const HOLDOUT = -1;",
    ] {
        let err = RuleSet::compile(vec![("campaigns/x.rhai".into(), bad.into())], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HOLDOUT must be a whole percent from 0 to 50"),
            "{err}"
        );
    }
    let outside = RuleSet::compile(
        vec![("plain.rhai".into(), "const HOLDOUT = 10;".into())],
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(outside.contains("in a campaign script"), "{outside}");
}
