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
