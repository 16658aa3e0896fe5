use kizuna_tests::TestHome;

fn home_with_customer() -> TestHome {
    TestHome::with_customer_opted_in()
}

fn send(h: &TestHome, text: &str, extra: &[&str]) {
    let var = format!("text={text}");
    let mut args = vec![
        "send",
        "--customer",
        "c-1",
        "--channel",
        "email",
        "--template",
        "notice",
        "--var",
        "subject=News",
        "--var",
        &var,
        "--at",
        "2026-03-05T02:00:00Z",
    ];
    args.extend_from_slice(extra);
    h.run(&args).ok();
}

#[test]
fn messages_go_through_the_guards_to_the_file_channel() {
    let h = home_with_customer();
    send(&h, "浅煎りのエチオピアが入荷しました", &[]);
    send(&h, "必ず儲かる", &["--class", "transactional"]);
    // 12:00 in Tokyo.
    let report = h
        .run(&["dispatch", "--now", "2026-03-05T03:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(report["considered"], 2);
    assert_eq!(report["outcomes"]["sent"], 1);
    assert_eq!(report["outcomes"]["suppressed"], 1);

    let sent = h
        .run(&["outbox", "list", "--status", "sent", "--json"])
        .ok()
        .json();
    let receipt = sent[0]["status"]["receipt"].as_str().unwrap();
    let eml = std::fs::read_to_string(receipt).unwrap();
    assert!(
        eml.contains("To: aiko@example.jp") && eml.contains("Subject: News"),
        "{eml}"
    );
    assert!(receipt.starts_with(h.home().join("outbox/email").to_str().unwrap()));
    let suppressed = h
        .run(&["outbox", "list", "--status", "suppressed", "--json"])
        .ok()
        .json();
    assert_eq!(suppressed[0]["status"]["guard"], "guards/wording.rhai");
    assert_eq!(
        suppressed[0]["status"]["reason"],
        "exaggerated wording: 必ず"
    );

    // The contact is in the customer's history, so the over-contact guard sees it.
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"message_sent"), "{kinds:?}");

    let report = h.run(&["report", "guards"]).ok().stdout;
    assert!(
        report.contains("suppressed") && report.contains("guards/wording.rhai"),
        "{report}"
    );
    assert!(report.contains("allowed (sent)"), "{report}");

    // Nothing is sent twice.
    let again = h
        .run(&["dispatch", "--now", "2026-03-05T04:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(again["considered"], 0);
}

#[test]
fn forcing_past_the_guards_needs_a_reason_and_retry_requeues() {
    let h = home_with_customer();
    let run = h.run(&[
        "send",
        "--customer",
        "c-1",
        "--channel",
        "email",
        "--template",
        "notice",
        "--force",
    ]);
    assert_eq!(
        run.code,
        Some(2),
        "clap refuses --force without --reason: {}",
        run.stderr
    );
    send(
        &h,
        "必ず",
        &[
            "--force",
            "--reason",
            "legal notice wording approved by counsel",
        ],
    );
    let report = h
        .run(&["dispatch", "--now", "2026-03-05T03:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(report["outcomes"]["sent"], 1);
    let sent = h.run(&["outbox", "list", "--json"]).ok().json();
    assert_eq!(
        sent[0]["forced"],
        "legal notice wording approved by counsel"
    );

    // A message that failed its template (missing variable) is dead, and can be retried.
    h.run(&[
        "send",
        "--customer",
        "c-1",
        "--channel",
        "email",
        "--template",
        "notice",
        "--class",
        "transactional",
        "--at",
        "2026-03-05T02:00:00Z",
    ])
    .ok();
    h.run(&["dispatch", "--now", "2026-03-05T03:00:00Z"]).ok();
    let dead = h
        .run(&["outbox", "list", "--status", "dead", "--json"])
        .ok()
        .json();
    assert!(
        dead[0]["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("undefined"),
        "{dead}"
    );
    let id = dead[0]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("m-{}-{}", dead[0]["id"]["seq"], dead[0]["id"]["n"]));
    h.run(&["outbox", "retry", &id]).ok();
    let pending = h
        .run(&["outbox", "list", "--status", "pending", "--json"])
        .ok()
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let run = h.run(&["outbox", "retry", "m-999-0"]).fails();
    assert!(run.stderr.contains("no message m-999-0"), "{}", run.stderr);
    let run = h
        .run(&[
            "send",
            "--customer",
            "nobody",
            "--channel",
            "email",
            "--template",
            "notice",
        ])
        .fails();
    assert!(run.stderr.contains("no customer nobody"), "{}", run.stderr);
}

#[test]
fn a_customers_second_message_in_one_run_sees_the_first() {
    let h = home_with_customer();
    send(&h, "one", &[]);
    send(&h, "two", &[]);
    let report = h
        .run(&["dispatch", "--now", "2026-03-05T03:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(
        (
            report["outcomes"]["sent"].as_u64(),
            report["outcomes"]["suppressed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let suppressed = h
        .run(&["outbox", "list", "--status", "suppressed", "--json"])
        .ok()
        .json();
    assert_eq!(suppressed[0]["status"]["guard"], "guards/over_contact.rhai");
}
