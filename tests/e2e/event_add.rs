use kizuna_tests::TestHome;

#[test]
fn adds_an_event_with_typed_attributes_once() {
    let h = TestHome::new();
    let args = [
        "event",
        "add",
        "--customer",
        "c-42",
        "--type",
        "purchase",
        "--at",
        "2026-03-01T10:15:00+09:00",
        "--id",
        "e-1001",
        "amount=4800",
        r#"items=["beans-500g","dripper"]"#,
        "note=gift",
        "--json",
    ];
    let out = h.run(&args).ok().json();
    assert_eq!(out["duplicate"], false);
    assert_eq!(out["event"]["amount"], 4800, "numbers stay numbers");
    assert_eq!(out["event"]["items"][1], "dripper", "arrays stay arrays");
    assert_eq!(out["event"]["note"], "gift");
    assert_eq!(out["event"]["at"], "2026-03-01T10:15:00+09:00");
    let again = h.run(&args).ok().json();
    assert_eq!(again["duplicate"], true);
    let c = h.run(&["customer", "show", "c-42", "--json"]).ok().json();
    assert_eq!(c["customer"]["stats"]["orders"], 1);
    assert_eq!(c["events"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_events_are_refused_with_the_field_and_store_nothing() {
    let h = TestHome::new();
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "purchase",
            "--at",
            "2026-03-01T10:15:00",
            "amount=abc",
        ])
        .fails();
    assert!(run.stderr.contains("error: at:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: amount: must be a number"),
        "{}",
        run.stderr
    );
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "Purchase!",
            "--at",
            "2026-03-01T10:15:00Z",
        ])
        .fails();
    assert!(run.stderr.contains("type:"), "{}", run.stderr);
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "visit",
            "customer=c-2",
        ])
        .fails();
    assert!(run.stderr.contains("set with --customer"), "{}", run.stderr);
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "visit",
            "noequals",
        ])
        .fails();
    assert!(run.stderr.contains("not KEY=VALUE"), "{}", run.stderr);
    assert!(h.customer_ids().is_empty());
}
