//! The lift of a small made-up campaign, counted by hand: who is in which arm, what counts
//! in a window and what does not, and when no claim is made.

use jiff::{SignedDuration, Timestamp};

use super::{Settings, campaigns};
use crate::{
    event::Event,
    ids::{CustomerId, EventId},
    internal::{HeldOut, MessageSent},
    lift::stats::{self, Proportion, Sample},
    rules::{MessageClass, RuleSet},
    store::{MessageId, Store, StoreOptions},
};

fn sent(i: u32, campaign: &str, class: MessageClass, at: Timestamp) -> Event {
    MessageSent {
        id: EventId::new(format!("sent-{campaign}-{i}")).unwrap(),
        customer: CustomerId::new(format!("c-{i}")).unwrap(),
        at,
        channel: "email".into(),
        template: "t".into(),
        class,
        campaign: Some(campaign.into()),
        message: MessageId {
            seq: u64::from(i),
            n: 0,
        },
    }
    .to_event()
    .unwrap()
}

fn held(i: u32, campaign: &str, group: &str, at: Timestamp) -> Event {
    HeldOut {
        id: EventId::new(format!("held-{campaign}-{i}")).unwrap(),
        customer: CustomerId::new(format!("c-{i}")).unwrap(),
        at,
        channel: "email".into(),
        template: "t".into(),
        campaign: Some(campaign.into()),
        message: MessageId {
            seq: u64::from(i),
            n: 0,
        },
        group: group.into(),
    }
    .to_event()
    .unwrap()
}

fn event(i: u32, kind: &str, at: Timestamp, extra: &str) -> Event {
    Event::from_json_str(&format!(
        r#"{{"customer":"c-{i}","type":"{kind}","at":"{at}"{extra}}}"#
    ))
    .unwrap()
}

#[test]
fn a_campaign_is_measured_by_hand() {
    let t0: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    let day = SignedDuration::from_hours(24);
    let mut events = Vec::new();
    // spring: c-0..59 treated, c-60..99 held out of the campaign.
    for i in 0..60 {
        events.push(sent(i, "spring", MessageClass::Marketing, t0));
    }
    for i in 60..100 {
        events.push(held(i, "spring", "campaign", t0));
    }
    // In the global group, and a receipt: neither is in spring's arms.
    events.push(held(100, "spring", "global", t0));
    events.push(sent(101, "spring", MessageClass::Transactional, t0));
    // A later message to c-0 does not move its window.
    events.push(sent(0, "spring-2", MessageClass::Marketing, t0 + day * 20));
    let buy = ",\"amount\":1000";
    for i in (0..30).chain(60..70).chain([100, 101]) {
        events.push(event(i, "purchase", t0 + day, buy));
    }
    // Too late for its window, and before it.
    events.push(event(30, "purchase", t0 + day * 10, buy));
    events.push(event(70, "purchase", t0 - day, buy));
    for i in 0..10 {
        events.push(event(
            i,
            "customer_reply",
            t0 + SignedDuration::from_hours(2),
            "",
        ));
    }
    // tiny: three treated, one held out.
    for i in 0..3 {
        events.push(sent(200 + i, "tiny", MessageClass::Marketing, t0));
    }
    events.push(held(203, "tiny", "campaign", t0));
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    store.append(RuleSet::none(), &events).unwrap();
    let settings = Settings {
        since: None,
        until: None,
        window: day * 7,
        min_per_arm: 10,
        reply_types: vec!["customer_reply".into()],
    };
    let lifts = campaigns(|| store.events(), &settings).unwrap();
    let names: Vec<&str> = lifts.iter().map(|l| l.campaign.as_str()).collect();
    assert_eq!(names, ["spring", "spring-2", "tiny"]);
    let spring = &lifts[0];
    assert_eq!(
        (
            spring.treated.customers,
            spring.treated.converted,
            spring.treated.replied
        ),
        (60, 30, 10)
    );
    assert_eq!(
        (
            spring.held_out.customers,
            spring.held_out.converted,
            spring.held_out.replied
        ),
        (40, 10, 0)
    );
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
    assert!(close(spring.treated.revenue.mean, 500.0), "{spring:?}");
    assert!(close(spring.held_out.revenue.mean, 250.0), "{spring:?}");
    assert!(spring.enough_data);
    let expected = stats::proportions(Proportion { n: 60, k: 30 }, Proportion { n: 40, k: 10 });
    assert_eq!(spring.conversion, expected);
    assert!((spring.conversion.unwrap().diff - 0.25).abs() < 1e-12);
    let revenue = |n: u64, buyers: usize| {
        Sample::of((0..n as usize).map(|i| if i < buyers { 1000.0 } else { 0.0 }))
    };
    let (got, want) = (
        spring.revenue.unwrap(),
        stats::welch(revenue(60, 30), revenue(40, 10)).unwrap(),
    );
    for (a, b) in [
        (got.diff, want.diff),
        (got.low, want.low),
        (got.high, want.high),
        (got.p_value, want.p_value),
    ] {
        assert!(close(a, b), "{got:?} {want:?}");
    }
    // Not enough data: counted, nothing claimed.
    let tiny = &lifts[2];
    assert_eq!((tiny.treated.customers, tiny.held_out.customers), (3, 1));
    assert!(!tiny.enough_data);
    assert_eq!(
        (tiny.conversion, tiny.revenue, tiny.reply),
        (None, None, None)
    );
    // A period that starts after the windows opened: nothing.
    let later = Settings {
        since: Some(t0 + day),
        ..settings
    };
    let lifts = campaigns(|| store.events(), &later).unwrap();
    assert_eq!(lifts.len(), 1, "only spring-2's message is in the period");
}
