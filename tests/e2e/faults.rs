//! Faults and hostile input (issue 25): conflicting ids, input refused at the door, a
//! damaged store, a full disk, slow clients, runaway templates and scripts, erasure.

use kizuna_tests::{TestHome, daemon::Daemon};

const BUY: &str = r#"{"id":"o-1","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":1200}"#;
const BUY_CHANGED: &str = r#"{"id":"o-1","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":9999}"#;
const OTHER: &str = r#"{"id":"o-2","customer":"c-2","type":"purchase","at":"2026-03-01T11:00:00+09:00","amount":500}"#;

fn revenue(h: &TestHome, customer: &str) -> serde_json::Value {
    let shown = h.run(&["customer", "show", customer, "--json"]).ok().json();
    shown["customer"]["stats"]["revenue"].clone()
}

#[test]
fn an_import_naming_a_stored_id_with_other_content_is_refused_by_line() {
    let h = TestHome::new();
    h.run(&["import", &h.file("a.jsonl", BUY)]).ok();
    // The same record again is a duplicate, as always.
    let again = h
        .run(&["import", &h.file("b.jsonl", BUY), "--json"])
        .ok()
        .json();
    assert_eq!(again["duplicates"], 1);

    let changed = h.file("c.jsonl", &format!("{OTHER}\n{BUY_CHANGED}\n"));
    let run = h.run(&["import", &changed]).fails();
    assert!(
        run.stderr.contains("c.jsonl:2") && run.stderr.contains("\"o-1\" is already stored"),
        "{}",
        run.stderr
    );
    assert_eq!(
        revenue(&h, "c-1"),
        1200,
        "the stored event was not overwritten"
    );
    h.run(&["customer", "show", "c-2"]).fails();

    // --skip-invalid stores the rest and writes the conflicting line to the rejects.
    let rejects = h.dir().join("rejects.jsonl");
    let run = h
        .run(&[
            "import",
            &changed,
            "--skip-invalid",
            "--rejects",
            rejects.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (run["imported"].as_u64(), run["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        written.contains("\"line\":2") && written.contains("9999"),
        "{written}"
    );
    assert_eq!(revenue(&h, "c-1"), 1200);
    assert_eq!(revenue(&h, "c-2"), 500);
}

#[test]
fn a_post_naming_a_stored_id_with_other_content_gets_409_with_the_item() {
    let h = TestHome::new();
    let d = Daemon::start(&h);
    assert_eq!(d.post(BUY, Some(kizuna_tests::daemon::TOKEN)).0, 202);
    let body = format!("[{OTHER},{BUY_CHANGED}]");
    let (status, answer) = d.post(&body, Some(kizuna_tests::daemon::TOKEN));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["errors"][0]["item"], 2, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "id", "{answer}");
    // An exact repeat is still a no-op.
    let (status, answer) = d.post(BUY, Some(kizuna_tests::daemon::TOKEN));
    assert_eq!(
        (status, &answer["duplicates"]),
        (202, &1.into()),
        "{answer}"
    );
    let (_, c) = d.get("/customers/c-1");
    assert_eq!(c["stats"]["revenue"], 1200);
    assert_eq!(
        d.get("/customers/c-2").0,
        404,
        "nothing of the refused batch was stored"
    );
    let metrics = Daemon::agent()
        .get(format!("{}/metrics", d.base))
        .header(
            "Authorization",
            &format!("Bearer {}", kizuna_tests::daemon::TOKEN),
        )
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("kizuna_events_conflict_total 1"),
        "{metrics}"
    );
}

#[test]
fn odd_times_and_control_characters_are_refused_at_the_door_with_the_field_named() {
    let h = TestHome::new();
    let cases = [
        (
            r#"{"customer":"c-1","type":"visit","at":"0000-01-01T00:00:00Z"}"#,
            "at",
        ),
        (
            r#"{"customer":"c-1","type":"visit","at":"2026-03-01T10:00:00+24:00"}"#,
            "at",
        ),
        (
            r#"{"customer":"c-1","type":"visit","at":"2016-12-31T23:59:60Z"}"#,
            "at",
        ),
        (
            r#"{"customer":"c-1","type":"profile","at":"2026-03-01T10:00:00Z","name":"Bob\r\nBcc: x@example.com"}"#,
            "name",
        ),
        (
            r#"{"customer":"c-1","type":"profile","at":"2026-03-01T10:00:00Z","email":"a\u0000@example.com"}"#,
            "email",
        ),
        (
            r#"{"customer":"c-1","type":"send_request","at":"2026-03-01T10:00:00Z","channel":"email","template":"t","vars":{"v":"a\nb"}}"#,
            "vars.v",
        ),
    ];
    for (line, field) in cases {
        let run = h
            .run(&["import", &h.file("bad.jsonl", line), "--json"])
            .fails()
            .json();
        assert_eq!(
            run["errors"][0]["errors"][0]["field"], field,
            "{line}: {run}"
        );
    }
    assert_eq!(h.run(&["status", "--json"]).ok().json()["events"], 0);
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "visit",
            "--at",
            "0000-01-01T00:00:00Z",
        ])
        .fails();
    assert!(
        run.stderr.contains("year must be 1900 to 2999"),
        "{}",
        run.stderr
    );
}

/// Damages `h`'s database with `damage` (given the database directory) and checks that
/// every command opening it ends at once with a clear error and no panic trace.
fn refuses_damaged(h: &TestHome, what: &str, damage: impl Fn(&std::path::Path)) {
    let db = h.home().join("db");
    let copy = h.dir().join("db.good");
    if !copy.exists() {
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(&db).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
            }
        }
    }
    for entry in std::fs::read_dir(&copy).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), db.join(entry.file_name())).unwrap();
    }
    damage(&db);
    let limit = std::time::Duration::from_secs(30);
    for args in [
        &["status"][..],
        &["customer", "list"],
        &["export"],
        &[
            "event",
            "add",
            "--customer",
            "c-9",
            "--type",
            "visit",
            "--at",
            "2026-03-02T10:00:00Z",
        ],
    ] {
        let run = h.run_within(limit, args);
        assert_eq!(
            run.code,
            Some(1),
            "{what}: {args:?}\n{}{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stderr.contains("is damaged") && run.stderr.contains("kizuna restore"),
            "{what}: {args:?}\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("panicked"),
            "{what}: {args:?}\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_damaged_store_is_a_clear_error_never_a_panic() {
    let h = TestHome::new();
    h.run(&[
        "import",
        &TestHome::fixture("customers.csv"),
        &TestHome::fixture("events.jsonl"),
    ])
    .ok();
    let flip = |path: std::path::PathBuf, every: usize| {
        let mut bytes = std::fs::read(&path).unwrap();
        for i in (0..bytes.len()).step_by(every) {
            bytes[i] ^= 0x01;
        }
        std::fs::write(path, bytes).unwrap();
    };
    refuses_damaged(&h, "bytes flipped through the data file", |db| {
        flip(db.join("db"), 997)
    });
    // (sled's data file is mostly room to grow: these few events fill its first pages.)
    refuses_damaged(&h, "the data file cut short", |db| {
        let bytes = std::fs::read(db.join("db")).unwrap();
        std::fs::write(db.join("db"), &bytes[..4096]).unwrap();
    });
    refuses_damaged(&h, "a flipped byte in the snapshot", |db| {
        let snap = std::fs::read_dir(db)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("snap.")
            })
            .expect("a snapshot file");
        let mut bytes = std::fs::read(&snap).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(snap, bytes).unwrap();
    });
}

#[test]
fn a_runaway_template_fails_its_message_with_an_alert_and_the_rest_flows() {
    let h = TestHome::with_customer();
    h.run(&[
        "event",
        "add",
        "--customer",
        "c-1",
        "--type",
        "opt_in",
        "--at",
        "2026-03-01T00:00:00Z",
        "channel=email",
    ])
    .ok();
    let templates = h.home().join("rules/templates");
    std::fs::write(
        templates.join("runaway.email"),
        "Subject: Hi\n\n{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
    )
    .unwrap();
    for template in ["runaway", "notice"] {
        h.run(&[
            "send",
            "--customer",
            "c-1",
            "--channel",
            "email",
            "--template",
            template,
            "--var",
            "subject=News",
            "--var",
            "text=Hello",
            "--class",
            "transactional",
            "--at",
            "2026-03-05T02:00:00Z",
        ])
        .ok();
    }
    let limit = std::time::Duration::from_secs(60);
    let report = h
        .run_within(
            limit,
            &["dispatch", "--now", "2026-03-05T03:00:00Z", "--json"],
        )
        .ok()
        .json();
    assert_eq!(
        (&report["outcomes"]["sent"], &report["outcomes"]["dead"]),
        (&1.into(), &1.into()),
        "{report}"
    );
    let dead = h
        .run(&["outbox", "list", "--status", "dead", "--json"])
        .ok()
        .json();
    let reason = dead[0]["status"]["reason"].as_str().unwrap();
    assert!(reason.contains("ran out of fuel"), "{reason}");
    let alerts = h.run(&["alerts", "--json"]).ok().json();
    let text = alerts.to_string();
    assert!(
        text.contains("runaway") && text.contains("was not sent"),
        "{text}"
    );
    // Not retried: the next run has nothing to do.
    let again = h
        .run_within(
            limit,
            &["dispatch", "--now", "2026-03-05T04:00:00Z", "--json"],
        )
        .ok()
        .json();
    assert_eq!(again["considered"], 0, "{again}");
}
