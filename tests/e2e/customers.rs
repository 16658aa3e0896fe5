use kizuna_tests::{TestHome, tree_contains};

fn imported() -> TestHome {
    let h = TestHome::new();
    h.run(&[
        "import",
        &TestHome::fixture("customers.csv"),
        &TestHome::fixture("events.jsonl"),
        "--at",
        "2026-01-01T00:00:00Z",
    ])
    .ok();
    h
}

#[test]
fn show_lists_profile_stats_and_latest_events_in_time_order() {
    let h = imported();
    let text = h.run(&["customer", "show", "c-1"]).ok().stdout;
    assert!(
        text.contains("田中 愛") && text.contains("ai.tanaka@example.jp"),
        "{text}"
    );
    assert!(
        text.contains("email: yes since 2026-01-05T10:00:00+09:00"),
        "{text}"
    );
    let events = h
        .run(&["customer", "show", "c-1", "--events", "2", "--json"])
        .ok()
        .json();
    let ids: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e-4", "e-5"], "the two newest, oldest first");
    let run = h.run(&["customer", "show", "c-404"]).fails();
    assert!(run.stderr.contains("no customer c-404"), "{}", run.stderr);
}

#[test]
fn rfm_scores_segments_and_list_filters_by_them() {
    let h = imported();
    let table = h.run(&["rfm", "--now", "2026-03-01T00:00:00Z"]).ok().stdout;
    assert!(
        table.contains("RFM as of 2026-03-01T00:00:00Z over 3 customers"),
        "{table}"
    );
    for segment in [
        "champions",
        "loyal",
        "new",
        "at_risk",
        "hibernating",
        "prospect",
    ] {
        assert!(table.contains(segment), "{segment} missing from\n{table}");
    }
    let rfm = h
        .run(&["rfm", "--now", "2026-03-01T00:00:00Z", "--json"])
        .ok()
        .json();
    let prospects = rfm["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["segment"] == "prospect")
        .unwrap();
    assert_eq!(prospects["customers"], 1, "c-3 never bought");
    let list = h
        .run(&["customer", "list", "--segment", "prospect", "--json"])
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "c-3");
    let c1 = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let r = &c1["customer"]["rfm"];
    assert!(
        r["r"].as_u64().unwrap() >= 1 && r["f"].as_u64().unwrap() <= 5,
        "{r}"
    );
    let run = h.run(&["customer", "list", "--segment", "vip"]).fails();
    assert!(
        run.stderr
            .contains("unknown segment \"vip\"; segments are champions"),
        "{}",
        run.stderr
    );
}

#[test]
fn erase_removes_every_trace_and_needs_confirmation() {
    let h = imported();
    let run = h.run(&["customer", "erase", "c-1"]).fails();
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(
        tree_contains(&h.home(), b"ai.tanaka@example.jp"),
        "precondition: the data is there"
    );

    let run = h.run(&["customer", "erase", "c-1", "--yes"]).ok();
    assert!(
        run.stdout.contains("erased c-1: 6 event(s)"),
        "{}",
        run.stdout
    );
    for needle in [
        "ai.tanaka@example.jp",
        "田中 愛",
        "+81 90-1111-2222",
        "grind size",
    ] {
        assert!(
            !tree_contains(&h.home(), needle.as_bytes()),
            "{needle} is still on disk"
        );
    }
    assert_eq!(h.customer_ids(), ["c-2", "c-3"]);
    assert!(
        tree_contains(&h.home(), b"info@himawari.example.jp"),
        "others are untouched"
    );
    h.run(&["customer", "show", "c-2"]).ok();
    let run = h.run(&["customer", "erase", "c-1", "--yes"]).fails();
    assert!(run.stderr.contains("no customer c-1"), "{}", run.stderr);
}

#[test]
fn the_rfm_grid_needs_scores_and_adds_up() {
    let h = imported();
    let run = h.run(&["report", "rfm"]).fails();
    assert!(
        run.stderr.contains("run `kizuna rfm` first"),
        "{}",
        run.stderr
    );
    h.run(&["rfm", "--now", "2026-03-01T00:00:00Z"]).ok();
    let grid = h.run(&["report", "rfm", "--json"]).ok().json();
    let cells = grid["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 25);
    let customers: u64 = cells.iter().map(|c| c["customers"].as_u64().unwrap()).sum();
    let revenue: i64 = cells.iter().map(|c| c["revenue"].as_i64().unwrap()).sum();
    assert_eq!(
        (customers, revenue),
        (2, 60_000),
        "the two buyers and all their revenue"
    );
    let csv = h.run(&["report", "rfm", "--csv"]).ok().stdout;
    assert_eq!(csv.lines().count(), 26);
    assert_eq!(csv.lines().next(), Some("r,f,customers,revenue"));
}

/// The customer's files beside the store: a sent e-mail and SMS, an import's rejects
/// outside the home, an export. Erase removes the customer from all of them, and the
/// export's events, imported again, do not bring the customer back.
#[test]
fn erase_leaves_no_file_naming_the_customer_and_old_events_stay_out() {
    let h = TestHome::new();
    let people = h.file(
        "people.csv",
        "id,name,email,phone,kind,tz,birthday\n\
         c-1,Hanako Sato,hanako.sato@example.jp,+819055551234,personal,Asia/Tokyo,\n\
         c-2,Taro Kato,taro.kato@example.jp,+819066669876,personal,Asia/Tokyo,\n",
    );
    h.run(&["import", &people, "--at", "2026-03-01T00:00:00Z"])
        .ok();
    for (customer, channel) in [
        ("c-1", "email"),
        ("c-1", "sms"),
        ("c-2", "email"),
        ("c-2", "sms"),
    ] {
        h.run(&[
            "send",
            "--customer",
            customer,
            "--channel",
            channel,
            "--template",
            "notice",
            "--var",
            "subject=Order",
            "--var",
            "text=Your beans are ready",
            "--class",
            "service",
            "--at",
            "2026-03-05T10:00:00+09:00",
        ])
        .ok();
    }
    let sent = h
        .run(&["dispatch", "--now", "2026-03-05T10:00:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(sent["outcomes"]["sent"], 4, "{sent}");
    // A bad line naming her goes to the rejects, beside the scratch directory (not the home).
    let more = h.file(
        "more.jsonl",
        concat!(
            r#"{"id":"p-1","customer":"c-1","type":"purchase","at":"2026-03-06T10:00:00Z","amount":900}"#, "\n",
            r#"{"id":"p-2","customer":"c-1","type":"profile","at":"2026-03-06T10:00:00Z","email":"hanako.sato@example.jp","phone":"nope"}"#, "\n",
            r#"{"id":"p-3","customer":"c-2","type":"purchase","at":"2026-03-06T10:00:00Z","amount":700}"#, "\n",
        ),
    );
    h.run(&["import", &more, "--skip-invalid"]).ok();
    let rejects = h.dir().join("kizuna-rejects.jsonl");
    let export = h.dir().join("export.jsonl");
    h.run(&["export", "--output", export.to_str().unwrap()])
        .ok();
    let saved_export = std::fs::read(&export).unwrap();
    let needles = ["hanako.sato@example.jp", "+819055551234", "Hanako Sato"];
    for needle in needles {
        assert!(
            tree_contains(&h.home().join("outbox"), needle.as_bytes()) || needle == "Hanako Sato",
            "precondition: {needle} is in the outbox"
        );
        assert!(
            tree_contains(h.dir(), needle.as_bytes()),
            "precondition: {needle} is on disk"
        );
    }
    assert!(std::fs::read_to_string(&rejects).unwrap().contains("c-1"));

    let erased = h
        .run(&["customer", "erase", "c-1", "--yes", "--json"])
        .ok()
        .json();
    assert_eq!(erased["files_removed"], 1, "{erased}");
    assert!(erased["lines_removed"].as_u64().unwrap() >= 3, "{erased}");
    // Every byte of the home (store included), the rejects and the export: none of her.
    // (The scratch directory also holds the files the test wrote for import.)
    for needle in needles {
        let file_has = |f: &std::path::Path| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        };
        assert!(
            !tree_contains(&h.home(), needle.as_bytes())
                && !file_has(&rejects)
                && !file_has(&export),
            "{needle} is still on disk"
        );
    }
    assert!(
        !std::fs::read_to_string(&rejects)
            .unwrap()
            .contains("\"c-1\"")
    );
    // The others are untouched.
    for kept in ["taro.kato@example.jp", "+819066669876"] {
        assert!(
            tree_contains(&h.home().join("outbox"), kept.as_bytes()),
            "{kept}"
        );
    }
    assert!(
        std::fs::read_to_string(&export)
            .unwrap()
            .contains("\"p-3\"")
    );

    // Her old events, imported again, stay out and are counted.
    let old = h.dir().join("old-export.jsonl");
    std::fs::write(&old, saved_export).unwrap();
    let run = h.run(&["import", old.to_str().unwrap()]).ok();
    assert!(
        run.stdout.contains("events of erased customers skipped"),
        "{}",
        run.stdout
    );
    h.run(&["customer", "show", "c-1"]).fails();
    assert_eq!(h.customer_ids(), ["c-2"]);
    let added = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "purchase",
            "--at",
            "2026-03-07T00:00:00Z",
            "amount=100",
        ])
        .fails();
    assert!(added.stderr.contains("c-1 was erased"), "{}", added.stderr);
    assert_eq!(h.customer_ids(), ["c-2"]);
}
