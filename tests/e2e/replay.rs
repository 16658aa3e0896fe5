use kizuna_tests::TestHome;

/// c-1 spends 41,000 (silver from the second purchase under the default 30,000
/// threshold, so the third earns at the silver rate), c-2 20,000 (bronze);
/// c-3 asks a question nobody answers.
fn history(h: &TestHome) {
    let file = h.file(
        "history.jsonl",
        concat!(
            r#"{"customer":"c-1","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"a@example.jp","tz":"Asia/Tokyo"}"#, "\n",
            r#"{"customer":"c-1","type":"opt_in","channel":"email","at":"2026-01-01T09:00:00+09:00"}"#, "\n",
            r#"{"customer":"c-1","type":"purchase","at":"2026-02-01T12:00:00+09:00","amount":20000}"#, "\n",
            r#"{"customer":"c-1","type":"purchase","at":"2026-03-01T12:00:00+09:00","amount":20000}"#, "\n",
            r#"{"customer":"c-1","type":"purchase","at":"2026-03-15T12:00:00+09:00","amount":1000}"#, "\n",
            r#"{"customer":"c-2","type":"purchase","at":"2026-02-10T12:00:00+09:00","amount":20000}"#, "\n",
            r#"{"customer":"c-3","type":"inquiry","id":"q-1","at":"2026-03-02T12:00:00+09:00"}"#, "\n",
            r#"{"customer":"c-3","type":"reply","in_reply_to":"q-1","at":"2026-03-04T12:00:00+09:00"}"#, "\n",
        ),
    );
    h.run(&["import", &file]).ok();
}

fn candidate(h: &TestHome, from: &str, to: &str) -> String {
    let dir = h.dir().join("candidate");
    let _ = std::fs::remove_dir_all(&dir);
    let status = std::process::Command::new("cp")
        .args([
            "-r",
            h.home().join("rules").to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let tiers = dir.join("tiers.rhai");
    let text = std::fs::read_to_string(&tiers).unwrap();
    assert!(text.contains(from));
    std::fs::write(&tiers, text.replace(from, to)).unwrap();
    dir.to_str().unwrap().to_owned()
}

#[test]
fn a_replay_shows_what_a_rule_change_would_do_and_changes_nothing() {
    let h = TestHome::new();
    history(&h);
    let before = h.run(&["customer", "show", "c-1", "--json"]).ok().stdout;
    let outbox_before = h.run(&["outbox", "list", "--json"]).ok().stdout;
    let db = h.home().join("db");
    let size = |p: &std::path::Path| {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    let db_before = size(&db);

    let cand = candidate(
        &h,
        "const SILVER_FROM = 30000;",
        "const SILVER_FROM = 50000;",
    );
    let diff = h
        .run(&["rules", "replay", "--scripts", &cand, "--json"])
        .ok()
        .json();
    assert_eq!(diff["live"]["events"], diff["candidate"]["events"]);
    assert_eq!(
        diff["tiers"],
        serde_json::json!([{"live": "silver", "candidate": "bronze", "customers": 1}]),
        "{diff}"
    );
    let tier_up: Vec<_> = diff["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["template"] == "tier_up")
        .collect();
    assert_eq!(tier_up.len(), 1, "{diff}");
    assert_eq!(
        (tier_up[0]["live"].clone(), tier_up[0]["candidate"].clone()),
        (1.into(), 0.into())
    );
    // The second purchase earns at the tier held before it: silver live, bronze here.
    assert_eq!(diff["points_changed"], 1, "{diff}");
    assert_eq!(diff["top_points"][0]["customer"], "c-1");
    assert_eq!(
        diff["points_delta"],
        serde_json::json!({"issued": -2, "redeemed": 0, "expired": 0, "balance": -2}),
        "1,000 yen: 12 points at silver, 10 at bronze"
    );
    assert_eq!(
        diff["top_points"][0]["live"]["issued"].as_i64().unwrap()
            - diff["top_points"][0]["candidate"]["issued"]
                .as_i64()
                .unwrap(),
        2,
        "{diff}"
    );
    assert_eq!(
        diff["candidate_fixtures_failed"],
        serde_json::json!(["points.test.json: the tier before the purchase sets the multiplier"]),
        "the fixture that holds silver at 30,000 fails under the candidate"
    );
    // The unanswered-for-two-days inquiry raised the silence alarm in both.
    assert_eq!(diff["live"]["alerts"]["silence.rhai"], 1, "{diff}");
    assert_eq!(diff["candidate"]["alerts"]["silence.rhai"], 1);

    // Nothing in the live store moved.
    assert_eq!(
        h.run(&["customer", "show", "c-1", "--json"]).ok().stdout,
        before
    );
    assert_eq!(
        h.run(&["outbox", "list", "--json"]).ok().stdout,
        outbox_before
    );
    assert_eq!(size(&db), db_before);

    // Against itself: no difference at all.
    let same = h.run(&["rules", "replay", "--json"]).ok().json();
    assert_eq!(same["points_changed"], 0);
    assert_eq!(same["tiers"], serde_json::json!([]));
    assert_eq!(same["messages"], serde_json::json!([]));

    let text = h.run(&["rules", "replay", "--scripts", &cand]).ok().stdout;
    assert!(
        text.contains("silver  bronze") && text.contains("tier_up"),
        "{text}"
    );
}

#[test]
fn a_broken_candidate_is_reported_with_its_position() {
    let h = TestHome::new();
    history(&h);
    let cand = candidate(&h, "const SILVER_FROM = 30000;", "const SILVER_FROM = ;");
    let run = h.run(&["rules", "replay", "--scripts", &cand]).fails();
    assert!(run.stderr.contains("tiers.rhai:"), "{}", run.stderr);
}

#[test]
fn a_replay_runs_the_clock_on_past_the_last_event_and_warns_of_failing_fixtures() {
    let h = TestHome::new();
    history(&h);
    let last = "2026-03-15T12:00:00+09:00";
    let at_last = h
        .run(&["rules", "replay", "--until", last, "--json"])
        .ok()
        .json();
    let later = h
        .run(&["rules", "replay", "--now", "2026-09-01T00:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(at_last["live"]["events"], later["live"]["events"]);
    assert!(
        later["live"]["timers_fired"].as_u64() > at_last["live"]["timers_fired"].as_u64(),
        "timers due after the last event fire: {} then {}",
        at_last["live"]["timers_fired"],
        later["live"]["timers_fired"]
    );

    // A candidate that breaks a fixture of its own: the replay says so, and which.
    let cand = candidate(&h, "const SILVER_FROM = 30000;", "const SILVER_FROM = 10;");
    let run = h
        .run(&["rules", "replay", "--scripts", &cand, "--until", last])
        .ok();
    assert!(
        run.stderr.contains("warning: the candidate fails")
            && run.stderr.contains("tiers.test.json"),
        "{}",
        run.stderr
    );
    let json = h
        .run(&[
            "rules",
            "replay",
            "--scripts",
            &cand,
            "--until",
            last,
            "--json",
        ])
        .ok()
        .json();
    assert!(
        !json["candidate_fixtures_failed"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{json}"
    );
}
