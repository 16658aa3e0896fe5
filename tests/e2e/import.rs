use kizuna_tests::{TestHome, run_in};

#[test]
fn imports_customers_and_events_then_reimport_is_all_duplicates() {
    let h = TestHome::new();
    let csv = TestHome::fixture("customers.csv");
    let events = TestHome::fixture("events.jsonl");
    let first = h
        .run(&[
            "import",
            &csv,
            &events,
            "--json",
            "--at",
            "2026-01-01T00:00:00Z",
        ])
        .ok()
        .json();
    assert_eq!(first["imported"], 12, "3 customers + 9 events: {first}");
    assert_eq!(first["duplicates"], 0);
    assert_eq!(first["rejected"], 0);
    assert_eq!(first["new_customers"], 3);

    // Same files again, even at a different --at: nothing new (ids are content-derived).
    let again = h
        .run(&[
            "import",
            &csv,
            &events,
            "--json",
            "--at",
            "2026-06-01T00:00:00Z",
        ])
        .ok()
        .json();
    assert_eq!(
        (again["imported"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(12))
    );

    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let c = &shown["customer"];
    assert_eq!(c["profile"]["name"], "田中 愛");
    assert_eq!(c["stats"]["orders"], 2);
    assert_eq!(c["stats"]["revenue"], 8000);
    assert_eq!(c["stats"]["avg_days_between_orders"], 30.0);
    assert_eq!(c["stats"]["open_inquiries"].as_array().unwrap().len(), 0);
    assert_eq!(c["consent"]["email"]["granted"], true);
    let b = h.run(&["customer", "show", "c-2", "--json"]).ok().json();
    assert_eq!(
        b["customer"]["stats"]["open_inquiries"][0]["kind"],
        "complaint"
    );
    assert_eq!(b["customer"]["profile"]["kind"], "business");
}

#[test]
fn a_bad_line_imports_nothing_and_names_every_problem() {
    let h = TestHome::new();
    let run = h
        .run(&["import", &TestHome::fixture("bad-events.jsonl")])
        .fails();
    let err = &run.stderr;
    assert!(err.contains("bad-events.jsonl:2: at:"), "{err}");
    assert!(
        err.contains("bad-events.jsonl:2: at:") && err.contains("amount:"),
        "{err}"
    );
    assert!(
        err.contains("bad-events.jsonl:3: channel: is required"),
        "{err}"
    );
    assert!(
        err.contains("bad-events.jsonl:4: (line): invalid JSON"),
        "{err}"
    );
    assert!(
        !err.contains("bad-events.jsonl:1:") && !err.contains("bad-events.jsonl:5:"),
        "{err}"
    );
    assert!(
        err.contains("3 bad record(s); nothing was imported"),
        "{err}"
    );
    assert!(
        h.customer_ids().is_empty(),
        "the good lines were not imported either"
    );
}

#[test]
fn bad_csv_rows_are_reported_by_line_and_field() {
    let h = TestHome::new();
    let run = h
        .run(&["import", &TestHome::fixture("bad-customers.csv")])
        .fails();
    assert!(
        run.stderr
            .contains("bad-customers.csv:3: tz: \"Mars/Base\" is not a known IANA time zone"),
        "{}",
        run.stderr
    );
    let line4 = run
        .stderr
        .lines()
        .find(|l| l.contains("bad-customers.csv:4:"))
        .unwrap();
    assert!(line4.contains("kind: \"robot\" is not"), "{line4}");
    assert!(
        line4.contains("birthday: \"1980-02-30\" is not a birthday"),
        "{line4}"
    );
    assert!(h.customer_ids().is_empty());

    let unknown = h.file("odd.csv", "id,name,shoe_size\nc-1,A,27\n");
    let run = h.run(&["import", &unknown]).fails();
    assert!(
        run.stderr
            .contains("odd.csv:1: unknown column \"shoe_size\""),
        "{}",
        run.stderr
    );
    let short = h.file("short.csv", "id,name,email\nc-1,A\n");
    let run = h.run(&["import", &short]).fails();
    assert!(
        run.stderr
            .contains("short.csv:2: (line): has 2 fields, the header has 3"),
        "{}",
        run.stderr
    );
}

#[test]
fn skip_invalid_imports_the_rest_and_writes_rejects_with_reasons() {
    let h = TestHome::new();
    let rejects = h.dir().join("rejects.jsonl");
    let summary = h
        .run(&[
            "import",
            &TestHome::fixture("bad-events.jsonl"),
            "--skip-invalid",
            "--rejects",
            rejects.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (summary["imported"].as_u64(), summary["rejected"].as_u64()),
        (Some(2), Some(3))
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let numbers: Vec<u64> = lines.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [2, 3, 4]);
    assert_eq!(lines[1]["errors"][0]["field"], "channel");
    assert!(
        lines[2]["record"]
            .as_str()
            .unwrap()
            .contains("not json at all")
    );
    assert_eq!(h.customer_ids(), ["c-1", "c-2"]);
}

#[test]
fn unreadable_or_unknown_files_are_clear_errors() {
    let h = TestHome::new();
    let run = h.run(&["import", "missing.jsonl"]).fails();
    assert!(
        run.stderr.contains("missing.jsonl: cannot read"),
        "{}",
        run.stderr
    );
    let txt = h.file("notes.txt", "hello");
    let run = h.run(&["import", &txt]).fails();
    assert!(
        run.stderr.contains("unsupported file type"),
        "{}",
        run.stderr
    );
    // Without a home at all.
    let run = run_in(h.dir(), &["--home", "nowhere", "import", &txt]);
    assert_eq!(run.code, Some(1));
}
