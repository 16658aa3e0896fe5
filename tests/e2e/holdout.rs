use kizuna_core::{ids::CustomerId, lift::holdout::Holdouts};
use kizuna_tests::TestHome;

const NOW: &str = "2026-03-20T11:00:00+09:00";

/// `n` customers in Tokyo with an e-mail address and consent to marketing by e-mail.
fn shop(h: &TestHome, n: usize) {
    let mut lines = Vec::new();
    for i in 0..n {
        lines.push(format!(
            r#"{{"customer":"c-{i}","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"c{i}@example.jp","tz":"Asia/Tokyo"}}"#
        ));
        lines.push(format!(
            r#"{{"customer":"c-{i}","type":"opt_in","channel":"email","at":"2026-01-01T09:00:00+09:00"}}"#
        ));
    }
    let file = h.file("shop.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", &file]).ok();
}

#[test]
fn the_global_control_group_gets_no_marketing_and_its_moment_is_recorded() {
    let h = TestHome::new();
    shop(&h, 80);
    h.set_section("holdout", "global_percent = 15\nsalt = \"e2e\"");
    let campaign = [
        "campaign",
        "run",
        "spring",
        "--segment",
        "email_ok",
        "--template",
        "notice",
        "--var",
        "subject=春",
        "--var",
        "text=春の豆",
        "--now",
        NOW,
    ];
    // The dry run already says who would be held out.
    let mut dry = campaign.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let preview = h.run(&dry).ok().json();
    let groups = Holdouts::new(15, "e2e").unwrap();
    let held: Vec<String> = (0..80)
        .map(|i| format!("c-{i}"))
        .filter(|c| {
            groups
                .group(&CustomerId::new(c.as_str()).unwrap(), None)
                .is_some()
        })
        .collect();
    assert!((4..=24).contains(&held.len()), "about 15 % of 80: {held:?}");
    assert_eq!(
        preview["guards_now"]["by_guard"]["suppressed holdout"],
        held.len(),
        "{preview}"
    );
    h.run(&campaign).ok();
    h.run(&["dispatch", "--now", NOW]).ok();
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let mut suppressed: Vec<String> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"]["guard"] == "holdout")
        .map(|m| m["customer"].as_str().unwrap().to_owned())
        .collect();
    suppressed.sort();
    let mut expected = held.clone();
    expected.sort();
    assert_eq!(suppressed, expected);
    let sent = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"]["state"] == "sent")
        .count();
    assert_eq!(sent, 80 - held.len());
    // A held customer: a held_out event at the dispatch, no contact.
    let shown = h.run(&["customer", "show", &held[0], "--json"]).ok().json();
    let types: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"held_out") && !types.contains(&"message_sent"),
        "{types:?}"
    );
    let event = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "held_out")
        .unwrap();
    assert_eq!(
        (event["group"].as_str(), event["campaign"].as_str()),
        (Some("global"), Some("spring"))
    );
    // `report guards` accounts for them.
    let guards = h.run(&["report", "guards", "--json"]).ok().stdout;
    assert!(guards.contains("holdout"), "{guards}");
}

#[test]
fn a_control_group_past_fifteen_percent_is_refused_by_key() {
    let h = TestHome::new();
    h.set_section("holdout", "global_percent = 20");
    let run = h.run(&["status"]).fails();
    assert!(
        run.stderr
            .contains("holdout.global_percent = 20: at most 15"),
        "{}",
        run.stderr
    );
    h.set_section("holdout", "global_percent = 5\ncolour = \"red\"");
    let run = h.run(&["status"]).fails();
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
}
