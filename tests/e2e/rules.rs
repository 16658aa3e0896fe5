use kizuna_tests::TestHome;

fn rules_dir(h: &TestHome) -> String {
    h.home().join("rules").to_str().unwrap().to_owned()
}

#[test]
fn the_default_pack_compiles_and_its_fixtures_pass() {
    let h = TestHome::new();
    let run = h.run(&["rules", "check"]).ok();
    assert!(run.stdout.contains("22 script(s)"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "birthday.rhai, complaints.rhai, points.rhai, promises.rhai, silence.rhai, tiers.rhai, guards/after_decline.rhai"
        ),
        "{}",
        run.stdout
    );
    let run = h.run(&["rules", "test"]).ok();
    assert!(run.stdout.contains(" 0 failed"), "{}", run.stdout);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
}

#[test]
fn compile_errors_name_the_place_and_block_ingest() {
    let h = TestHome::new();
    std::fs::write(
        h.home().join("rules/zz_broken.rhai"),
        "// a script with a typo\nfn on_event(event, customer) {\n    let x = ;\n}\n",
    )
    .unwrap();
    let run = h.run(&["rules", "check"]).fails();
    assert!(run.stderr.contains("zz_broken.rhai:3:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("let x = ;"),
        "the source line is shown: {}",
        run.stderr
    );
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "purchase",
            "--at",
            "2026-03-01T10:00:00Z",
            "amount=100",
        ])
        .fails();
    assert!(run.stderr.contains("zz_broken.rhai:3:"), "{}", run.stderr);
    assert!(
        h.customer_ids().is_empty(),
        "nothing was stored with a broken rule set"
    );
}

#[test]
fn a_failing_fixture_is_reported_with_a_diff() {
    let h = TestHome::new();
    let dir = h.dir().join("myrules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("p.rhai"), "fn on_event(e, c) { if e.type == \"purchase\" { award_points(e.amount / 100, \"buy\"); } }").unwrap();
    std::fs::write(
        dir.join("p.test.json"),
        r#"{"cases": [
            {"name": "right", "customer": {"id": "c-1"}, "events": [{"type": "purchase", "at": "2026-01-01T00:00:00Z", "amount": 500}], "expect": {"points": 5}},
            {"name": "wrong", "customer": {"id": "c-1"}, "events": [{"type": "purchase", "at": "2026-01-01T00:00:00Z", "amount": 500}], "expect": {"points": 6}}
        ]}"#,
    )
    .unwrap();
    let run = h.run(&["rules", "test", dir.to_str().unwrap()]).fails();
    assert!(
        run.stdout.contains("pass  p.test.json: right"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("FAIL  p.test.json: wrong"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("points: expected 6, got 5"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 passed, 1 failed"), "{}", run.stdout);
}

#[test]
fn points_tiers_and_their_reasons_after_import() {
    let h = TestHome::new();
    let events = h.file(
        "buy.jsonl",
        concat!(
            r#"{"id":"o-1","customer":"c-1","type":"purchase","at":"2026-01-10T10:00:00+09:00","amount":20000}"#, "\n",
            r#"{"id":"o-2","customer":"c-1","type":"purchase","at":"2026-02-10T10:00:00+09:00","amount":15000}"#, "\n",
            r#"{"id":"r-1","customer":"c-1","type":"redeem","at":"2026-02-11T10:00:00+09:00","points":100,"reason":"voucher"}"#, "\n",
            r#"{"id":"r-2","customer":"c-1","type":"redeem","at":"2026-02-12T10:00:00+09:00","points":100000}"#, "\n",
        ),
    );
    let run = h.run(&["import", &events]).ok();
    assert!(run.stdout.contains("1 rule error(s)"), "{}", run.stdout);
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let c = &shown["customer"];
    assert_eq!(c["loyalty"]["tier"], "silver");
    assert_eq!(
        c["loyalty"]["issued"], 350,
        "200 at bronze, then 150 (tier before the purchase)"
    );
    assert_eq!(c["loyalty"]["redeemed"], 100);
    let o2 = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "o-2")
        .unwrap();
    let scripts: Vec<&str> = o2["_effects"]["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["script"].as_str().unwrap())
        .collect();
    assert_eq!(
        scripts,
        [
            "points.rhai",
            "tiers.rhai",
            "tiers.rhai",
            "tiers.rhai",
            "tiers.rhai",
            "campaigns/repurchase.rhai"
        ],
        "{o2}"
    );

    let points = h
        .run(&[
            "points",
            "show",
            "c-1",
            "--at",
            "2026-03-01T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(points["balance"], 250);
    assert_eq!(
        points["lots"][0]["remaining"], 100,
        "the oldest lot was spent first"
    );
    assert_eq!(points["history"].as_array().unwrap().len(), 3);

    // As of a moment between the purchases: only what had happened by then.
    let before = h
        .run(&[
            "points",
            "show",
            "c-1",
            "--at",
            "2026-01-20T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (
            &before["balance"],
            &before["issued"],
            &before["redeemed"],
            &before["expired"]
        ),
        (&200.into(), &200.into(), &0.into(), &0.into()),
        "{before}"
    );
    assert_eq!(before["lots"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["history"].as_array().unwrap().len(), 1, "{before}");
    assert_ne!(
        before["tier"], "silver",
        "silver came with the second purchase"
    );
    // After the first lot's year: what remained of it (100) expired; the second lot stays.
    let later = h
        .run(&[
            "points",
            "show",
            "c-1",
            "--at",
            "2027-01-20T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (&later["balance"], &later["expired"], &later["tier"]),
        (&150.into(), &100.into(), &"silver".into()),
        "{later}"
    );

    let errors = h.run(&["rules", "errors", "--json"]).ok().json();
    assert_eq!(errors.as_array().unwrap().len(), 1);
    assert_eq!(errors[0]["event"], "r-2");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("balance is 250"),
        "{errors}"
    );
    let text = h.run(&["customer", "show", "c-1"]).ok().stdout;
    assert!(
        text.contains("-> set_tier {\"tier\":\"silver\"} (tiers.rhai)"),
        "{text}"
    );
}

#[test]
fn a_runaway_script_loses_its_effects_not_the_event() {
    let h = TestHome::new();
    std::fs::write(
        h.home().join("rules/zz_loop.rhai"),
        "fn on_event(e, c) {\n  loop { }\n}\n",
    )
    .unwrap();
    h.run(&[
        "event",
        "add",
        "--customer",
        "c-1",
        "--type",
        "purchase",
        "--at",
        "2026-03-01T10:00:00Z",
        "amount=1000",
    ])
    .ok();
    let c = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(c["customer"]["stats"]["orders"], 1, "the event is stored");
    assert_eq!(
        c["customer"]["loyalty"]["issued"], 10,
        "other scripts still ran"
    );
    let errors = h.run(&["rules", "errors", "--json"]).ok().json();
    assert_eq!(errors[0]["pos"]["file"], "zz_loop.rhai");
    assert_eq!(
        errors[0]["pos"]["line"], 1,
        "the function, when the limit has no position"
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("Too many operations"),
        "{errors}"
    );
    let rules = rules_dir(&h);
    let run = h.run(&["--rules", &rules, "rules", "check"]).ok();
    assert!(run.stdout.contains("23 script(s)"), "{}", run.stdout);
}

#[test]
fn every_command_ends_quietly_when_its_reader_closes_the_pipe() {
    let h = TestHome::with_customer();
    let commands: &[&[&str]] = &[
        &["points", "show", "c-1"],
        &["points", "show", "c-1", "--json"],
        &["rules", "test"],
        &["rules", "check"],
        &["customer", "list"],
        &["customer", "show", "c-1"],
        &["openapi"],
        &["outbox", "list"],
    ];
    for args in commands {
        let run = h.run_into_closed_pipe(args);
        assert_eq!(
            run.code,
            Some(0),
            "`kizuna {}` | head: {}",
            args.join(" "),
            run.stderr
        );
        assert!(
            run.stderr.is_empty(),
            "`kizuna {}` | head said: {}",
            args.join(" "),
            run.stderr
        );
    }
}

#[test]
fn a_stamp_card_in_script_state_tested_alone_and_fixtures_that_say_why() {
    let h = TestHome::new();
    let rules = h.home().join("rules");
    std::fs::write(
        rules.join("stamps.rhai"),
        r#"
const EVENT_TYPES = ["purchase"];
const CARD = 3;
fn on_event(event, customer) {
    let n = state.get("stamps", 0) + 1;
    if n == CARD { award_points(100, "stamp card"); n = 0; }
    state.set("stamps", n);
}
"#,
    )
    .unwrap();
    let buys: Vec<String> = (1..=4)
        .map(|d| {
            format!(
                r#"{{"type": "purchase", "at": "2026-03-0{d}T10:00:00+09:00", "amount": 1000}}"#
            )
        })
        .collect();
    let fixture = format!(
        r#"{{"cases": [
            {{"name": "the third stamp fills the card", "customer": {{"id": "c-1"}},
              "events": [{}],
              "expect": {{"state": {{"stamps.rhai": {{"stamps": 1}}}},
                          "points_by_reason": {{"stamp card": 100}},
                          "effects": [{{"effect": "award_points", "reason": "stamp card", "count": 1}}]}}}}
        ]}}"#,
        buys.join(",")
    );
    std::fs::write(rules.join("stamps.test.json"), &fixture).unwrap();
    // Alone: only this script, only its fixture.
    let alone = h
        .run(&["rules", "test", "--only", "stamps.rhai", "--json"])
        .ok()
        .json();
    assert_eq!(alone.as_array().unwrap().len(), 1, "{alone}");
    assert_eq!(alone[0]["file"], "stamps.test.json");
    // With the whole pack, the same fixture still passes: it names its own reason, not
    // the total (points.rhai awards per purchase too).
    let all = h.run(&["rules", "test"]).ok().stdout;
    assert!(all.contains("pass  stamps.test.json"), "{all}");
    assert!(
        all.contains("pass  birthday.test.json")
            && all.contains("pass  campaigns/birthday.test.json"),
        "root and campaigns/ fixtures are told apart: {all}"
    );
    assert!(all.contains("segments/regulars.test.json"), "{all}");

    // The events are imported for real: the state is on the customer.
    let lines: Vec<String> = buys
        .iter()
        .map(|b| b.replacen('{', r#"{"customer": "c-9", "#, 1))
        .collect();
    let file = h.file("buys.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", &file]).ok();
    let shown = h.run(&["customer", "show", "c-9"]).ok().stdout;
    assert!(
        shown.contains("state of stamps.rhai") && shown.contains("stamps=1"),
        "{shown}"
    );

    // A failing segment fixture fails the run; a case whose script failed shows why.
    std::fs::write(
        rules.join("segments/regulars.test.json"),
        r#"{"cases": [{"name": "deliberately wrong", "customer": {"id": "c-1"},
            "events": [{"type": "purchase", "at": "2026-03-01T10:00:00+09:00", "amount": 100}],
            "expect": {"member": true}}]}"#,
    )
    .unwrap();
    std::fs::write(
        rules.join("stamps.rhai"),
        "fn on_event(event, customer) { if event.type == \"purchase\" { let x = event.amount / event.discount; } }\n",
    )
    .unwrap();
    let run = h.run(&["rules", "test"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("FAIL  segments/regulars.test.json: deliberately wrong")
            && run
                .stdout
                .contains("member of segments/regulars.rhai: expected true, got false"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("behind it, a rule error: stamps.rhai:"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_referral_pays_the_referrer_once_with_its_cause_shown_on_both_sides() {
    let h = TestHome::new();
    let rules = h.home().join("rules");
    for f in ["referral.rhai", "referral.test.json"] {
        std::fs::copy(rules.join("examples").join(f), rules.join(f)).unwrap();
    }
    h.run(&["rules", "test", "--only", "referral.rhai"]).ok();
    let file = h.file(
        "referral.jsonl",
        concat!(
            r#"{"id":"p-1","customer":"c-1","type":"profile","at":"2026-01-01T10:00:00+09:00","name":"Aiko"}"#, "\n",
            r#"{"id":"r-1","customer":"c-2","type":"referral","at":"2026-02-01T10:00:00+09:00","referrer":"c-1"}"#, "\n",
            r#"{"id":"o-1","customer":"c-2","type":"purchase","at":"2026-02-03T10:00:00+09:00","amount":1800}"#, "\n",
            r#"{"id":"o-2","customer":"c-2","type":"purchase","at":"2026-02-09T10:00:00+09:00","amount":1800}"#, "\n",
        ),
    );
    let run = h.run(&["import", &file, "--json"]).ok().json();
    assert_eq!(run["imported"], 5, "four events and the reward: {run}");
    let points = h
        .run(&[
            "points",
            "show",
            "c-1",
            "--at",
            "2026-03-01T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(points["balance"], 500, "{points}");
    let referrer = h.run(&["customer", "show", "c-1"]).ok().stdout;
    assert!(
        referrer.contains("referral_reward") && referrer.contains("emitted_by"),
        "{referrer}"
    );
    let referred = h.run(&["customer", "show", "c-2"]).ok().stdout;
    assert!(referred.contains("-> emit"), "{referred}");
    // Importing the same file again changes nothing; a replay re-derives the reward.
    let again = h.run(&["import", &file, "--json"]).ok().json();
    assert_eq!(again["imported"], 0, "{again}");
    let replay = h
        .run(&[
            "rules",
            "replay",
            "--until",
            "2026-03-01T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(replay["points_changed"], 0, "{replay}");
    assert_eq!(replay["live"]["events"], 5, "{replay}");
    // Erasing the new customer leaves nothing of them in the referrer's history.
    h.run(&["customer", "erase", "c-2", "--yes"]).ok();
    let referrer = h.run(&["customer", "show", "c-1", "--json"]).ok().stdout;
    assert!(!referrer.contains("c-2"), "{referrer}");
    assert!(
        referrer.contains("referral_reward"),
        "the reward stays: {referrer}"
    );
}

#[test]
fn the_reference_is_current_and_definitions_cover_the_rules_libraries() {
    let h = TestHome::new();
    let doc = h.run(&["rules", "doc"]).ok().stdout;
    let checked_in = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rules-reference.md"),
    )
    .unwrap();
    assert!(
        doc == checked_in,
        "docs/rules-reference.md is not the current `kizuna rules doc`: run `kizuna rules doc > docs/rules-reference.md`"
    );
    for must in [
        "### `state.set`",
        "### `emit`",
        "### `award_points`",
        "### `avg_days_between_orders`",
    ] {
        let name = must.replace("state.", "");
        assert!(doc.contains(&name), "{must}");
    }
    // Definitions include a library the rules import.
    let rules = h.home().join("rules");
    std::fs::create_dir_all(rules.join("lib")).unwrap();
    std::fs::write(
        rules.join("lib/yen.rhai"),
        "fn per_hundred(amount) { amount / 100 }\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("bonus.rhai"),
        "import \"yen\" as yen;\nconst EVENT_TYPES = [\"purchase\"];\nfn on_event(event, customer) { award_points(yen::per_hundred(event.amount), \"bonus\"); }\n",
    )
    .unwrap();
    let out = h.dir().join("defs");
    h.run(&["rules", "defs", out.to_str().unwrap()]).ok();
    let all: String = std::fs::read_dir(&out)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(
        all.contains("fn award_points(") && all.contains("fn emit("),
        "{all}"
    );
    assert!(
        all.contains("per_hundred"),
        "the library's functions: {all}"
    );
    assert!(!all.contains("EvalAltResult"), "{all}");
}
