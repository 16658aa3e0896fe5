use kizuna_tests::TestHome;
use serde_json::Value;

const NOW: &str = "2026-11-01T00:00:00Z";

/// Message states as (customer, template, created) → state, to compare two homes'
/// outboxes whose message ids (sequence numbers) differ.
fn outbox_states(home: &TestHome) -> std::collections::BTreeMap<String, String> {
    let list = home.run(&["outbox", "list", "--json"]).ok().json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let key = format!("{} {} {}", m["customer"], m["template"], m["created"]);
            (key, m["status"]["state"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn count(states: &std::collections::BTreeMap<String, String>, state: &str) -> usize {
    states.values().filter(|s| *s == state).count()
}

/// The demo home, exported and imported into an empty home, gives the same customers;
/// the importing home's dispatcher finds every message the demo sent on record and sends
/// none of them again; an erased customer stays erased.
#[test]
fn export_then_import_reproduces_the_demo_and_sends_nothing_twice() {
    let a = TestHome::new_empty();
    a.run(&["demo", "--customers", "120", "--seed", "7", "--now", NOW])
        .ok();
    a.run(&["customer", "erase", "c-00003", "--yes"]).ok();
    let out = a.run(&["export"]).ok();
    let exported = a.run(&["export", "-o", "events.jsonl"]).ok();
    let file = std::fs::read_to_string(a.dir().join("events.jsonl")).unwrap();
    assert_eq!(out.stdout, file, "stdout and --output write the same lines");
    let lines = file.lines().count();
    assert!(lines > 1000, "{lines} events");
    assert_eq!(exported.stderr.trim(), format!("exported {lines} event(s)"));
    assert!(!file.contains("c-00003"), "an erased customer stays erased");
    for line in file.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(event["id"].is_string() && event["at"].is_string(), "{line}");
    }

    let b = TestHome::new();
    std::fs::copy(a.home().join("kizuna.toml"), b.home().join("kizuna.toml")).unwrap();
    let path = a.dir().join("events.jsonl");
    let imported = b.run(&["import", path.to_str().unwrap()]).ok();
    assert!(
        imported
            .stdout
            .contains(&format!("imported {lines} events")),
        "{}",
        imported.stdout
    );
    let customers = |h: &TestHome| h.run(&["customer", "list", "--json"]).ok().stdout;
    assert_eq!(
        customers(&a),
        customers(&b),
        "every projection, points and tier"
    );
    assert!(!b.customer_ids().contains(&"c-00003".to_owned()));

    // Dispatch as the demo did: the same outcome for every message, and not one of the
    // demo's sent messages handed to a channel again.
    b.run(&["dispatch", "--now", NOW]).ok();
    let (sa, sb) = (outbox_states(&a), outbox_states(&b));
    assert!(count(&sa, "sent") > 10, "{sa:?}");
    assert_eq!(sa, sb);
    assert!(!b.home().join("outbox").exists(), "nothing was sent");
    assert_eq!(customers(&a), customers(&b), "no contact counted twice");
    let sent = b
        .run(&["outbox", "list", "--status", "sent", "--json"])
        .ok()
        .json();
    for m in sent.as_array().unwrap() {
        let receipt = m["status"]["receipt"].as_str().unwrap();
        assert!(receipt.starts_with("on record as event sent-"), "{receipt}");
    }

    // --since: only what happened at or after it.
    let since = "2026-06-01T00:00:00Z";
    let recent = a.run(&["export", "--since", since]).ok().stdout;
    let cutoff: jiff::Timestamp = since.parse().unwrap();
    assert!(recent.lines().count() < lines && recent.lines().count() > 0);
    for line in recent.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let at: jiff::Timestamp = event["at"].as_str().unwrap().parse().unwrap();
        assert!(at >= cutoff, "{line}");
    }
}
