//! Store tests on a real sled database in a temporary directory.

use super::*;
use crate::{event::Event, ids::CustomerId};

fn ev(json: &str) -> Event {
    Event::from_json_str(json).unwrap()
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("db"), StoreOptions::default()).unwrap()
}

fn purchase(id: &str, customer: &str, at: &str, amount: i64) -> Event {
    ev(&format!(
        r#"{{"id":"{id}","customer":"{customer}","type":"purchase","at":"{at}","amount":{amount}}}"#
    ))
}

#[test]
fn append_is_idempotent_by_id_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let a = purchase("e1", "c-1", "2026-01-02T00:00:00Z", 100);
    let b = purchase("e2", "c-1", "2026-01-01T00:00:00Z", 200);
    let report = store
        .append(
            crate::rules::RuleSet::none(),
            &[a.clone(), b.clone(), a.clone()],
        )
        .unwrap();
    assert_eq!(
        (report.appended, report.duplicates, report.new_customers),
        (2, 1, 1)
    );
    let again = store
        .append(crate::rules::RuleSet::none(), std::slice::from_ref(&b))
        .unwrap();
    assert_eq!((again.appended, again.duplicates), (0, 1));
    store.flush().unwrap();
    drop(store);

    let mut store = open(&dir);
    assert_eq!(store.event_count().unwrap(), 2);
    assert_eq!(store.customer_count().unwrap(), 1);
    let c = store
        .customer(&CustomerId::new("c-1").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((c.stats.orders, c.stats.revenue), (2, 300));
    // Appending after reopen continues the sequence instead of overwriting.
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e3", "c-2", "2026-01-03T00:00:00Z", 1)],
        )
        .unwrap();
    let ids: Vec<String> = store.events().map(|e| e.unwrap().id.to_string()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"], "global order is append order");
}

#[test]
fn an_id_reused_for_other_content_is_refused_and_nothing_of_its_batch_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let a = purchase("e1", "c-1", "2026-01-02T00:00:00Z", 100);
    store
        .append(crate::rules::RuleSet::none(), std::slice::from_ref(&a))
        .unwrap();
    // The same instant spelt in another offset is the same event: a repeat, not a conflict.
    let same = purchase("e1", "c-1", "2026-01-02T09:00:00+09:00", 100);
    assert_eq!(
        store
            .append(crate::rules::RuleSet::none(), &[same])
            .unwrap()
            .duplicates,
        1
    );

    let changed = purchase("e1", "c-1", "2026-01-02T00:00:00Z", 999);
    let fresh = purchase("e2", "c-2", "2026-01-02T00:00:00Z", 5);
    let err = store
        .append(
            crate::rules::RuleSet::none(),
            &[fresh.clone(), changed.clone()],
        )
        .unwrap_err();
    let StoreError::Conflict(conflicts) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        conflicts
            .iter()
            .map(|c| (c.index, c.id.as_str()))
            .collect::<Vec<_>>(),
        [(1, "e1")]
    );
    assert_eq!(store.conflicts(&[fresh.clone(), changed]).unwrap().len(), 1);
    // Two versions of one new id in a batch: the second is the conflict.
    let twin = purchase("e2", "c-2", "2026-01-02T00:00:00Z", 6);
    let err = store
        .append(crate::rules::RuleSet::none(), &[fresh.clone(), twin])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(c) if c[0].index == 1),
        "{err}"
    );
    // The store was left as it was, and still takes writes.
    assert_eq!(store.event_count().unwrap(), 1);
    let c = store.customer(&"c-1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(c.stats.revenue, 100);
    assert_eq!(
        store
            .append(crate::rules::RuleSet::none(), &[fresh])
            .unwrap()
            .appended,
        1
    );
}

#[test]
fn history_is_per_customer_in_time_order_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store
        .append(
            crate::rules::RuleSet::none(),
            &[
                purchase("e1", "c-1", "2026-01-03T00:00:00Z", 1),
                purchase("e2", "c-10", "2026-01-01T00:00:00Z", 1),
                purchase("e3", "c-1", "2026-01-01T00:00:00Z", 1),
                purchase("e4", "c-1", "2026-01-02T00:00:00+09:00", 1),
            ],
        )
        .unwrap();
    let c1 = CustomerId::new("c-1").unwrap();
    let ids = |evs: Vec<Event>| {
        evs.into_iter()
            .map(|e| e.id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(store.history(&c1, 20).unwrap()), ["e3", "e4", "e1"]);
    assert_eq!(
        ids(store.history(&c1, 2).unwrap()),
        ["e4", "e1"],
        "the newest two"
    );
}

#[test]
fn projections_are_replayed_after_a_stop_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let c1 = CustomerId::new("c-1").unwrap();
    {
        let mut store = open(&dir);
        store
            .append(
                crate::rules::RuleSet::none(),
                &[purchase("e1", "c-1", "2026-01-01T00:00:00Z", 100)],
            )
            .unwrap();
        store.flush().unwrap();
        store
            .append(
                crate::rules::RuleSet::none(),
                &[purchase("e2", "c-1", "2026-01-02T00:00:00Z", 50)],
            )
            .unwrap();
        // Dropped without flush: the log has e2, the stored record does not.
        store.sync().unwrap();
    }
    let store = open(&dir);
    let c = store.customer(&c1).unwrap().unwrap();
    assert_eq!((c.stats.orders, c.stats.revenue), (2, 150));
    assert_eq!(store.history(&c1, 10).unwrap().len(), 2);
    drop(store);

    // A checkpoint marker behind the records (crash mid-checkpoint): replay must not fold
    // events the records already hold a second time. The counter is written with the
    // marker, so it is behind too; the records are recounted.
    let mut store = open(&dir);
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e3", "c-2", "2026-01-03T00:00:00Z", 10)],
        )
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.customer_count().unwrap(), 2);
    store.set_meta_for_test("checkpoint", 0);
    store.set_meta_for_test("customers", 0);
    drop(store);
    let store = open(&dir);
    let c = store.customer(&c1).unwrap().unwrap();
    assert_eq!((c.stats.orders, c.stats.revenue), (2, 150));
    assert_eq!(store.history(&c1, 10).unwrap().len(), 2);
    assert_eq!(store.customer_count().unwrap(), 2);
}

#[test]
fn duplicates_are_found_after_reopen_and_in_large_histories() {
    let dir = tempfile::tempdir().unwrap();
    let many: Vec<Event> = (0..700)
        .map(|i| purchase(&format!("e{i}"), "c-1", "2026-01-01T00:00:00Z", 1))
        .collect();
    let mut store = open(&dir);
    assert_eq!(
        store
            .append(crate::rules::RuleSet::none(), &many)
            .unwrap()
            .appended,
        700
    );
    store.flush().unwrap();
    drop(store);
    let mut store = open(&dir);
    let again = store
        .append(crate::rules::RuleSet::none(), &many[650..])
        .unwrap();
    assert_eq!((again.appended, again.duplicates), (0, 50));
    let c1 = CustomerId::new("c-1").unwrap();
    assert_eq!(
        store.history(&c1, 1000).unwrap().len(),
        700,
        "sealed chunks + tail"
    );
    assert_eq!(
        store
            .event(&"e699".parse().unwrap())
            .unwrap()
            .unwrap()
            .id
            .as_str(),
        "e699"
    );
    assert_eq!(store.events().count(), 700);
}

#[test]
fn newer_schema_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    open(&dir).set_schema_for_test(SCHEMA_VERSION + 1);
    let err = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
    assert!(err.to_string().contains("upgrade kizuna"), "{err}");
}

#[test]
fn erase_and_compact_leave_no_trace_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store
        .append(crate::rules::RuleSet::none(), &[
            ev(r#"{"id":"p1","customer":"c-9","type":"profile","at":"2026-01-01T00:00:00Z","name":"Hanako Secretname","email":"hanako@secret.example"}"#),
            purchase("e1", "c-9", "2026-01-02T00:00:00Z", 100),
            purchase("e2", "c-1", "2026-01-02T00:00:00Z", 100),
        ])
        .unwrap();
    store.flush().unwrap();
    let e2 = store.event(&"e2".parse().unwrap()).unwrap();
    assert!(e2.is_some());
    let c9 = CustomerId::new("c-9").unwrap();
    let report = store.erase_customer(&c9).unwrap().unwrap();
    assert_eq!((report.events, report.projection), (2, true));
    assert!(
        store.erase_customer(&c9).unwrap().is_none(),
        "second erase finds nothing"
    );
    let store = store.compact().unwrap();
    assert!(store.customer(&c9).unwrap().is_none());
    assert_eq!(store.event_count().unwrap(), 1);
    assert_eq!(store.customer_count().unwrap(), 1);
    assert!(store.event(&"e1".parse().unwrap()).unwrap().is_none());
    assert_eq!(
        store.event(&"e2".parse().unwrap()).unwrap(),
        e2,
        "neighbours survive"
    );
    drop(store);
    for needle in ["Secretname", "secret.example"] {
        assert!(
            !dir_contains(dir.path(), needle.as_bytes()),
            "{needle} still on disk"
        );
    }
}

/// Erasing the customer whose events end the log removes its last blocks. The next event
/// must still get a sequence number past the checkpoint marker: reusing one made a
/// restart after a crash skip the new event's fold (its customer vanished from the
/// projection although the event was stored and acknowledged).
#[test]
fn sequence_numbers_are_not_reused_after_erasing_the_end_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let c9 = CustomerId::new("c-9").unwrap();
    let c2 = CustomerId::new("c-2").unwrap();
    {
        let mut store = open(&dir);
        store
            .append(
                crate::rules::RuleSet::none(),
                &[
                    purchase("e1", "c-1", "2026-01-01T00:00:00Z", 100),
                    purchase("e2", "c-9", "2026-01-02T00:00:00Z", 100),
                    purchase("e3", "c-9", "2026-01-03T00:00:00Z", 100),
                ],
            )
            .unwrap();
        store.flush().unwrap();
        store.erase_customer(&c9).unwrap().unwrap();
        store.compact_in_place(&mut |_| {}).unwrap();
        store
            .append(
                crate::rules::RuleSet::none(),
                &[purchase("e4", "c-2", "2026-01-04T00:00:00Z", 70)],
            )
            .unwrap();
        // A crash: the event is durable, its customer's record is not written.
        store.sync_events().unwrap();
    }
    let store = open(&dir);
    let c = store.customer(&c2).unwrap().expect("c-2 folded at open");
    assert_eq!((c.stats.orders, c.stats.revenue), (1, 70));
    assert_eq!(store.event_count().unwrap(), 2);
}

#[test]
fn interrupted_compaction_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut store = open(&dir);
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e1", "c-1", "2026-01-02T00:00:00Z", 100)],
        )
        .unwrap();
    store.flush().unwrap();
    drop(store);
    // Simulate a crash between "move old aside" and "move copy in".
    std::fs::rename(&db, dir.path().join("db.compact")).unwrap();
    let store = open(&dir);
    assert_eq!(store.event_count().unwrap(), 1);
    assert!(!dir.path().join("db.compact").exists());
}

fn dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            dir_contains(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[test]
fn co_purchase_statistics_count_each_purchase_once_across_crashes() {
    let basket = |id: &str, customer: &str, day: u32, items: &str| {
        ev(&format!(
            r#"{{"id":"{id}","customer":"{customer}","type":"purchase","at":"2026-01-{day:02}T00:00:00Z","amount":100,"items":{items}}}"#
        ))
    };
    let first = [
        basket("a1", "c-1", 1, r#"["beans","dripper"]"#),
        basket("b1", "c-2", 2, r#"["beans"]"#),
    ];
    let second = [
        basket("b2", "c-2", 12, r#"["filter","beans"]"#),
        basket("a2", "c-1", 21, r#"["beans"]"#),
    ];
    // The reference: everything folded in one clean run.
    let clean_dir = tempfile::tempdir().unwrap();
    let mut clean = open(&clean_dir);
    clean.append(crate::rules::RuleSet::none(), &first).unwrap();
    clean
        .append(crate::rules::RuleSet::none(), &second)
        .unwrap();
    clean.flush().unwrap();
    let want = (**clean.baskets()).clone();
    assert_eq!(want.also_bought("beans", 5).len(), 2);
    assert_eq!(
        want.item("beans").unwrap().typical_interval_days(),
        Some(15.0),
        "c-1: 20 days, c-2: 10 days"
    );

    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(&dir);
        store.append(crate::rules::RuleSet::none(), &first).unwrap();
        store.flush().unwrap();
        store
            .append(crate::rules::RuleSet::none(), &second)
            .unwrap();
        // Dropped without a checkpoint: the log has the second batch, the statistics not.
        store.sync().unwrap();
    }
    let store = open(&dir);
    assert_eq!(**store.baskets(), want, "replay counted the tail once");
    drop(store);
    // A checkpoint marker behind everything: replay must not count purchases again.
    let store = open(&dir);
    store.set_meta_for_test("checkpoint", 0);
    drop(store);
    let store = open(&dir);
    assert_eq!(**store.baskets(), want);
    drop(store);

    // A crash mid-checkpoint after the statistics were written and before the records:
    // replay folds the tail into the records, and must not count it here again.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(&dir);
        store.append(crate::rules::RuleSet::none(), &first).unwrap();
        store.flush().unwrap();
        store
            .append(crate::rules::RuleSet::none(), &second)
            .unwrap();
        store.write_baskets().unwrap();
        store.sync().unwrap();
    }
    let store = open(&dir);
    assert_eq!(**store.baskets(), want, "statistics ahead of the records");
    let c1 = CustomerId::new("c-1").unwrap();
    assert_eq!(store.customer(&c1).unwrap().unwrap().stats.orders, 2);
}

#[test]
fn a_checkpoint_under_way_changes_nothing_readers_see() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let day = |d: u32| format!("2026-01-{d:02}T00:00:00Z");
    let first: Vec<Event> = (0..40)
        .map(|i| {
            purchase(
                &format!("a{i}"),
                &format!("c-{}", i % 10),
                &day(1 + i % 20),
                100,
            )
        })
        .collect();
    store.append(crate::rules::RuleSet::none(), &first).unwrap();
    store.checkpoint_in_background().unwrap();
    // New customers and more orders while the thread may still be writing the first lot.
    let second: Vec<Event> = (0..20)
        .map(|i| purchase(&format!("b{i}"), &format!("c-{}", 5 + i % 10), &day(21), 10))
        .collect();
    store
        .append(crate::rules::RuleSet::none(), &second)
        .unwrap();
    let check = |store: &Store| {
        assert_eq!(store.customer_count().unwrap(), 15);
        let customers: Vec<crate::customer::Customer> =
            store.customers().map(Result::unwrap).collect();
        assert_eq!(customers.len(), 15);
        let revenue: i64 = customers.iter().map(|c| c.stats.revenue).sum();
        assert_eq!(revenue, 40 * 100 + 20 * 10);
    };
    check(&store);
    store.checkpoint_in_background().unwrap();
    check(&store);
    store.sync_events().unwrap();
    drop(store);
    let store = open(&dir);
    check(&store);
    assert_eq!(store.counter("checkpoint").unwrap(), 60);
}

#[test]
fn automatic_background_checkpoints_evict_only_what_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        checkpoint_customers: 5,
        cached_customers: 5,
        ..StoreOptions::default()
    };
    let mut store = Store::open(dir.path().join("db"), options).unwrap();
    store.set_background_checkpoints(true);
    // 30 customers, each appearing in several batches: records are checkpointed, evicted
    // and read back from the tree while later checkpoints are still being written.
    for round in 0..4 {
        let batch: Vec<Event> = (0..30)
            .map(|i| {
                let at = format!("2026-02-{:02}T00:00:00Z", round + 1);
                purchase(&format!("e{round}-{i}"), &format!("c-{i}"), &at, 10 + i)
            })
            .collect();
        for chunk in batch.chunks(7) {
            store.append(crate::rules::RuleSet::none(), chunk).unwrap();
        }
    }
    let check = |store: &Store| {
        assert_eq!(store.customer_count().unwrap(), 30);
        for i in 0..30 {
            let c = store
                .customer(&CustomerId::new(format!("c-{i}")).unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(
                (c.stats.orders, c.stats.revenue),
                (4, 4 * (10 + i)),
                "c-{i}"
            );
        }
    };
    check(&store);
    store.flush().unwrap();
    drop(store);
    check(&Store::open(dir.path().join("db"), options).unwrap());
}

#[test]
fn a_customer_scan_visits_each_stored_customer_once_and_sees_changes_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    for i in 0..7 {
        let c = format!("c-{i}");
        store
            .append(
                crate::rules::RuleSet::none(),
                &[purchase(&format!("e{i}"), &c, "2026-01-01T00:00:00Z", 100)],
            )
            .unwrap();
    }
    store.flush().unwrap();
    // c-4 changes in memory after the checkpoint: the scan must see 150, not the tree's 100.
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e9", "c-4", "2026-01-02T00:00:00Z", 50)],
        )
        .unwrap();
    let mut seen = Vec::new();
    let mut kept = Vec::new();
    let mut after: Option<CustomerId> = None;
    loop {
        let scan = store
            .scan_customers(after.as_ref(), 3, |c| {
                seen.push((c.id.to_string(), c.stats.revenue));
                c.stats.revenue >= 100 && c.id.as_str() != "c-2"
            })
            .unwrap();
        kept.extend(scan.kept.iter().map(ToString::to_string));
        match scan.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["c-0", "c-1", "c-2", "c-3", "c-4", "c-5", "c-6"]);
    assert_eq!(seen[4].1, 150);
    assert_eq!(kept, ["c-0", "c-1", "c-3", "c-4", "c-5", "c-6"]);
    // Kept records are in memory: appending for them folds onto the current state.
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e10", "c-4", "2026-01-03T00:00:00Z", 1)],
        )
        .unwrap();
    let c4 = store
        .customer(&CustomerId::new("c-4").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(c4.stats.revenue, 151);
}

#[test]
fn a_scratch_store_asked_for_background_checkpoints_still_evicts() {
    // No thread to hand them to: the checkpoint runs in place, eviction included.
    let options = StoreOptions {
        checkpoint_customers: 5,
        cached_customers: 5,
        ..StoreOptions::default()
    };
    let mut store =
        Store::from_tree(None, kv::Kv::memory(), "(in memory)".into(), options).unwrap();
    store.set_background_checkpoints(true);
    for i in 0..40 {
        store
            .append(
                crate::rules::RuleSet::none(),
                &[purchase(
                    &format!("e{i}"),
                    &format!("c-{i}"),
                    "2026-02-01T00:00:00Z",
                    5,
                )],
            )
            .unwrap();
    }
    assert!(
        store.cache.len() <= 10,
        "{} records cached",
        store.cache.len()
    );
    let c = store
        .customer(&CustomerId::new("c-3").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(c.stats.revenue, 5);
}

/// A reading handle sees what the writer appends (the log is written at once), and
/// refuses to write.
#[test]
fn a_reader_sees_the_log_as_it_grows_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e1", "c-1", "2026-01-01T00:00:00Z", 100)],
        )
        .unwrap();
    let mut reader = store.reader().unwrap();
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e2", "c-2", "2026-01-02T00:00:00Z", 50)],
        )
        .unwrap();
    store.sync_events().unwrap();
    let seen: Vec<String> = reader.events().map(|e| e.unwrap().id.to_string()).collect();
    assert_eq!(seen, ["e1", "e2"]);
    let err = reader
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e3", "c-3", "2026-01-03T00:00:00Z", 10)],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert!(reader.flush().is_err());
    assert_eq!(store.event_count().unwrap(), 2);
    assert!(Store::open_temporary().unwrap().reader().is_err());
}

/// Customers with a spread of purchases: enough for every RFM score to differ.
fn rfm_population(store: &mut Store) {
    let mut events = Vec::new();
    for c in 0..60 {
        for k in 0..(c % 7 + 1) {
            let day = 1 + (c * 3 + k * 5) % 28;
            events.push(purchase(
                &format!("p{c}-{k}"),
                &format!("c-{c:02}"),
                &format!("2026-0{}-{day:02}T10:00:00Z", 1 + c % 6),
                100 * (c as i64 + 1),
            ));
        }
    }
    events.push(ev(
        r#"{"id":"s1","customer":"c-99","type":"profile","at":"2026-01-01T00:00:00Z","name":"No orders"}"#,
    ));
    store
        .append(crate::rules::RuleSet::none(), &events)
        .unwrap();
}

/// The RFM pass in small steps gives what the pass in one go gives, and an event stored
/// between two steps (a daemon's ingest) is kept, not overwritten by the scores.
#[test]
fn rfm_in_steps_equals_rfm_in_one_go_and_keeps_events_stored_meanwhile() {
    let now: jiff::Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
    let (one, steps) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open(&one);
    let mut b = open(&steps);
    rfm_population(&mut a);
    rfm_population(&mut b);
    let whole = a.recompute_rfm(crate::rules::RuleSet::none(), now).unwrap();
    let mut calls = 0;
    let stepped = b
        .recompute_rfm_between(crate::rules::RuleSet::none(), now, 7, &mut |store| {
            let _ = store;
            calls += 1
        })
        .unwrap();
    assert!(calls > 10, "{calls} steps");
    assert_eq!(whole, stepped);
    assert!(whole.changed > 50, "{whole:?}");
    let all = |s: &Store| -> Vec<_> { s.customers().map(Result::unwrap).collect() };
    assert_eq!(all(&a), all(&b));
    let events =
        |s: &Store| -> Vec<String> { s.events().map(|e| e.unwrap().id.to_string()).collect() };
    assert_eq!(events(&a), events(&b), "the same segment_changed events");

    // A purchase stored in the middle of the pass stays in the customer's record.
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    rfm_population(&mut store);
    let mut stored = false;
    let later: jiff::Timestamp = "2026-08-01T00:00:00Z".parse().unwrap();
    store
        .recompute_rfm_between(crate::rules::RuleSet::none(), later, 5, &mut |store| {
            if !stored {
                stored = true;
                store
                    .append(
                        crate::rules::RuleSet::none(),
                        &[purchase("late", "c-59", "2026-07-15T00:00:00Z", 99_999)],
                    )
                    .unwrap();
            }
        })
        .unwrap();
    assert!(stored);
    let c = store
        .customer(&CustomerId::new("c-59").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        c.stats.last_order.map(|t| t.to_string()).as_deref(),
        Some("2026-07-15T00:00:00Z")
    );
    assert!(c.stats.revenue >= 99_999, "{:?}", c.stats);
    assert!(c.rfm.is_some(), "and it has its scores");
    drop(store);
    let reopened = open(&dir);
    let c = reopened
        .customer(&CustomerId::new("c-59").unwrap())
        .unwrap()
        .unwrap();
    assert!(
        c.stats.revenue >= 99_999 && c.rfm.is_some(),
        "after a restart too"
    );
}

/// A compaction beside ingest: events appended between the copy's steps are all in the
/// compacted store, checkpoints made meanwhile included, and the erased customer's bytes
/// are gone from the disk.
#[test]
fn compaction_in_steps_keeps_what_was_written_during_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let mut events: Vec<Event> = (0..9_000)
        .map(|i| {
            purchase(
                &format!("p{i}"),
                &format!("c-{i:04}"),
                "2026-01-01T00:00:00Z",
                10,
            )
        })
        .collect();
    events.push(ev(
        r#"{"id":"x","customer":"c-gone","type":"profile","at":"2026-01-01T00:00:00Z","email":"gone@secret.example"}"#,
    ));
    store
        .append(crate::rules::RuleSet::none(), &events)
        .unwrap();
    store.flush().unwrap();
    store
        .erase_customer(&CustomerId::new("c-gone").unwrap())
        .unwrap()
        .unwrap();
    let mut steps = 0;
    store
        .compact_in_place(&mut |store| {
            steps += 1;
            // New customers and a second purchase for an old one, each step.
            store
                .append(
                    crate::rules::RuleSet::none(),
                    &[
                        purchase(
                            &format!("n{steps}"),
                            &format!("new-{steps}"),
                            "2026-02-01T00:00:00Z",
                            5,
                        ),
                        purchase(&format!("m{steps}"), "c-0001", "2026-02-01T00:00:00Z", 1),
                    ],
                )
                .unwrap();
            // And a checkpoint, as a busy daemon's appends bring.
            store.checkpoint().unwrap();
        })
        .unwrap();
    assert!(steps >= 3, "{steps} steps");
    let check = |store: &Store| {
        assert_eq!(store.event_count().unwrap(), 9_000 + 2 * steps as u64);
        assert_eq!(store.customer_count().unwrap(), 9_000 + steps as u64);
        let c1 = store
            .customer(&CustomerId::new("c-0001").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(c1.stats.orders, 1 + steps as u64);
        for n in 1..=steps {
            assert!(
                store
                    .event(&format!("n{n}").parse().unwrap())
                    .unwrap()
                    .is_some(),
                "n{n}"
            );
        }
        let report = store.check(50).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    };
    check(&store);
    drop(store);
    assert!(
        !dir_contains(dir.path(), b"secret.example"),
        "erased bytes on disk"
    );
    check(&open(&dir));
}

#[test]
fn a_log_that_ends_below_its_high_water_mark_is_damaged_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store
        .append(
            crate::rules::RuleSet::none(),
            &[purchase("e1", "c-1", "2026-01-02T00:00:00Z", 100)],
        )
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let mark = dir.path().join("db").join("kizuna.mark");
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "1");
    drop(open(&dir));
    // As if sled had come back with an older state than it had acknowledged.
    std::fs::write(&mark, "5").unwrap();
    let err = Store::open(dir.path().join("db"), StoreOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Damaged { reason, .. } if reason.contains("had reached event 5")),
        "{err}"
    );
    // An unreadable mark is no evidence either way.
    std::fs::write(&mark, "").unwrap();
    drop(open(&dir));
}
