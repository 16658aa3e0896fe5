//! A customer's messages found through their history are the walk's, filtered; pages and
//! both orders agree.

use std::sync::Arc;

use super::super::{Store, StoreOptions, ruled::Ruled};
use super::MessageQuery;
use crate::{event::Event, ids::CustomerId, rules::RuleSet};

/// Two messages a purchase, on two channels.
const RULES: &str = r#"
    fn on_event(event, customer) {
        if event.type == "purchase" {
            send("email", "thanks", #{});
            send("sms", "coupon", #{}, "marketing");
        }
    }
"#;

#[test]
fn a_customers_messages_are_the_walks_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    let rules = RuleSet::compile(vec![("send.rhai".into(), RULES.into())], None).unwrap();
    let mut store = Ruled::new(store, Arc::new(rules));
    let events: Vec<Event> = (0..60)
        .map(|i| {
            Event::from_json_str(&format!(
                r#"{{"id":"p{i}","customer":"c-{}","type":"purchase","at":"2026-03-{:02}T10:00:00Z","amount":100}}"#,
                i % 4,
                1 + i % 28
            ))
            .unwrap()
        })
        .collect();
    // In two writes: the second customer's record is then partly checkpointed.
    store.append(&events[..30]).unwrap();
    store.flush().unwrap();
    store.append(&events[30..]).unwrap();
    let ids = |q: &MessageQuery| -> Vec<String> {
        store
            .messages(q)
            .unwrap()
            .iter()
            .map(|m| m.id.to_string())
            .collect()
    };
    let all = |q: MessageQuery| -> Vec<String> {
        // The walk: everything, then filtered here.
        let every = store
            .messages(&MessageQuery {
                limit: usize::MAX,
                ..MessageQuery::default()
            })
            .unwrap();
        let mut kept: Vec<String> = every
            .iter()
            .filter(|m| q.customer.as_ref().is_none_or(|c| &m.customer == c))
            .filter(|m| q.channel.as_ref().is_none_or(|c| &m.channel == c))
            .filter(|m| q.since.is_none_or(|t| m.created >= t))
            .map(|m| m.id.to_string())
            .collect();
        if q.newest_first {
            kept.reverse();
        }
        kept.into_iter().skip(q.offset).take(q.limit).collect()
    };
    assert_eq!(
        all(MessageQuery {
            limit: usize::MAX,
            ..Default::default()
        })
        .len(),
        120
    );
    for newest_first in [false, true] {
        for (offset, limit) in [(0, usize::MAX), (0, 5), (7, 4), (29, 10)] {
            let q = MessageQuery {
                customer: Some(CustomerId::new("c-1").unwrap()),
                newest_first,
                offset,
                limit,
                ..Default::default()
            };
            let found = ids(&q);
            assert_eq!(found, all(q.clone()), "{newest_first} {offset} {limit}");
            assert!(!found.is_empty() || offset >= 30);
            let q = MessageQuery {
                channel: Some("sms".into()),
                since: Some("2026-03-10T00:00:00Z".parse().unwrap()),
                ..q
            };
            assert_eq!(ids(&q), all(q.clone()));
        }
    }
    // Not a customer with a history: the walk answers (nothing here).
    let staff = MessageQuery {
        customer: Some(CustomerId::new("staff:ops").unwrap()),
        limit: 10,
        ..Default::default()
    };
    assert!(ids(&staff).is_empty());
}
