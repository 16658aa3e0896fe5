use kizuna_tests::TestHome;

fn add(h: &TestHome, args: &[&str]) {
    let mut all = vec!["event", "add"];
    all.extend_from_slice(args);
    h.run(&all).ok();
}

#[test]
fn an_unanswered_inquiry_alerts_the_staff_after_a_day_and_a_reply_closes_it() {
    let h = TestHome::new();
    add(
        &h,
        &[
            "--customer",
            "c-1",
            "--type",
            "inquiry",
            "--id",
            "q-1",
            "--at",
            "2026-03-01T10:00:00+09:00",
        ],
    );
    add(
        &h,
        &[
            "--customer",
            "c-2",
            "--type",
            "inquiry",
            "--id",
            "q-2",
            "--at",
            "2026-03-01T10:00:00+09:00",
        ],
    );
    add(
        &h,
        &[
            "--customer",
            "c-2",
            "--type",
            "reply",
            "--at",
            "2026-03-01T11:00:00+09:00",
            "in_reply_to=q-2",
        ],
    );

    // 23 hours on: nothing yet.
    let early = h
        .run(&["tick", "--now", "2026-03-02T09:00:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(early["alerts"], 0);
    // 24 hours on: one alert, for c-1 only.
    let due = h
        .run(&["tick", "--now", "2026-03-02T10:00:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(
        (due["fired"].as_u64(), due["alerts"].as_u64()),
        (Some(1), Some(1))
    );
    let open = h.run(&["alerts", "--open", "--json"]).ok().json();
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["customer"], "c-1");
    assert_eq!(open[0]["text"], "no reply within 24 h to inquiry q-1");
    // Ticking again fires nothing twice.
    let again = h
        .run(&["tick", "--now", "2026-03-03T10:00:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(again["fired"], 0);

    add(
        &h,
        &[
            "--customer",
            "c-1",
            "--type",
            "reply",
            "--at",
            "2026-03-02T12:00:00+09:00",
            "in_reply_to=q-1",
        ],
    );
    let open = h.run(&["alerts", "--open", "--json"]).ok().json();
    assert!(open.as_array().unwrap().is_empty(), "answered: {open}");
    let all = h.run(&["alerts"]).ok().stdout;
    assert!(all.contains("1 alert(s)"), "the history is kept: {all}");
}
