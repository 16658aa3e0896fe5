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

/// An unanswered inquiry's alert, raised by `tick`.
fn with_an_alert(h: &TestHome) -> String {
    add(
        h,
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
    h.run(&["tick", "--now", "2026-03-02T10:00:00+09:00"]).ok();
    let open = h.run(&["alerts", "--open", "--json"]).ok().json();
    open[0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn staff_acknowledge_and_resolve_an_alert_and_the_history_says_who() {
    let h = TestHome::new();
    let id = with_an_alert(&h);
    assert!(id.starts_with("a-"), "{id}");
    let acked = h
        .run(&[
            "alerts",
            "ack",
            &id,
            "--by",
            "Ken",
            "--at",
            "2026-03-02T10:30:00+09:00",
        ])
        .ok()
        .stdout;
    assert!(acked.contains(&format!("{id} acknowledged")), "{acked}");
    let listed = h.run(&["alerts", "--open"]).ok().stdout;
    assert!(
        listed.contains("acked by Ken"),
        "acked but still open: {listed}"
    );

    // Bad input: an unknown id and a malformed one are errors naming them; nothing stored.
    let events = |h: &TestHome| {
        h.run(&["customer", "show", "c-1", "--json"]).ok().json()["events"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = events(&h);
    let unknown = h.run(&["alerts", "resolve", "a-999-0"]).fails();
    assert!(
        unknown.stderr.contains("no alert a-999-0"),
        "{}",
        unknown.stderr
    );
    let malformed = h.run(&["alerts", "ack", "m-1-0"]).fails();
    assert!(
        malformed.stderr.contains("\"m-1-0\" is not an alert id"),
        "{}",
        malformed.stderr
    );
    assert_eq!(events(&h), before);

    h.run(&[
        "alerts",
        "resolve",
        &id,
        "--by",
        "Yui",
        "--note",
        "called back",
        "--at",
        "2026-03-02T11:00:00+09:00",
    ])
    .ok();
    let open = h.run(&["alerts", "--open", "--json"]).ok().json();
    assert!(open.as_array().unwrap().is_empty(), "resolved: {open}");
    let all = h.run(&["alerts", "--json"]).ok().json();
    assert_eq!(all[0]["resolved"]["by"], "Yui");
    assert_eq!(all[0]["resolved"]["note"], "called back");
    assert_eq!(all[0]["acked"]["by"], "Ken");
    // In the history, and the inquiry is still open: resolving answers nobody.
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"alert_acked") && kinds.contains(&"alert_resolved"),
        "{kinds:?}"
    );
    let inquiries = &shown["customer"]["stats"]["open_inquiries"];
    assert_eq!(inquiries.as_array().map(Vec::len), Some(1), "{shown}");
}

#[test]
fn the_api_acknowledges_and_resolves_alerts_as_the_cli_does() {
    use kizuna_tests::daemon::{Daemon, TOKEN};
    let h = TestHome::new();
    let id = with_an_alert(&h);
    let d = Daemon::start(&h);
    let call = |path: &str, body: &str, token: &str| {
        let mut resp = Daemon::agent()
            .post(format!("{}{path}", d.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    let (status, body) = call(&format!("/v1/alerts/{id}/ack"), r#"{"by":"Ken"}"#, TOKEN);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Ken\""), "{body}");
    let (status, body) = call("/v1/alerts/a-999-0/resolve", "{}", TOKEN);
    assert_eq!(status, 404, "{body}");
    let (status, body) = call(
        &format!("/v1/alerts/{id}/resolve"),
        r#"{"colour":"red"}"#,
        TOKEN,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(
        &format!("/v1/alerts/{id}/resolve"),
        r#"{"note":"done"}"#,
        TOKEN,
    );
    assert_eq!(status, 200, "{body}");
    // The CLI beside the daemon sees the same.
    let all = h.run(&["alerts", "--json"]).ok().json();
    assert_eq!(all[0]["resolved"]["note"], "done");
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());
}

#[test]
fn the_response_report_measures_waits_by_month_and_staff() {
    let h = TestHome::new();
    let file = h.file(
        "q.jsonl",
        concat!(
            r#"{"id":"q-1","customer":"c-1","type":"inquiry","at":"2026-03-01T10:00:00+09:00"}"#,
            "\n",
            r#"{"customer":"c-1","type":"reply","at":"2026-03-01T12:00:00+09:00","in_reply_to":"q-1","by":"Ken"}"#,
            "\n",
            r#"{"id":"q-2","customer":"c-2","type":"complaint","at":"2026-03-05T10:00:00+09:00"}"#,
            "\n",
            r#"{"customer":"c-2","type":"reply","at":"2026-03-07T10:00:00+09:00","by":"Yui"}"#,
            "\n",
            r#"{"id":"q-3","customer":"c-3","type":"inquiry","at":"2026-04-01T10:00:00+09:00"}"#,
            "\n",
        ),
    );
    h.run(&["import", &file]).ok();
    let now = "2026-04-03T10:00:00+09:00";
    let by_staff = h
        .run(&[
            "report", "response", "--by", "staff", "--now", now, "--json",
        ])
        .ok()
        .json();
    let total = &by_staff["total"];
    assert_eq!(
        (
            &total["asked"],
            &total["answered"],
            &total["open"],
            &total["within_24h"]
        ),
        (&3.into(), &2.into(), &1.into(), &1.into()),
        "{by_staff}"
    );
    assert_eq!(total["max_hours"], 48.0);
    assert_eq!(total["oldest_open_hours"], 48.0);
    let groups: Vec<&str> = by_staff["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["(open)", "Ken", "Yui"]);
    let text = h.run(&["report", "response", "--now", now]).ok().stdout;
    assert!(
        text.contains("2026-03") && text.contains("2026-04"),
        "{text}"
    );
    assert!(text.contains("33.3%"), "one in three within 24 h: {text}");
    assert!(text.contains("promises made: 0;"), "{text}");
}

#[test]
fn a_promise_is_reminded_reported_broken_and_kept() {
    let h = TestHome::new();
    // Bad input: no due time, or a fulfilment of a promise never made: the field or id is
    // named and nothing is stored.
    let no_due = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "promise",
            "--at",
            "2026-03-02T10:00:00+09:00",
            "what=call back",
        ])
        .fails();
    assert!(no_due.stderr.contains("due"), "{}", no_due.stderr);
    let never = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "fulfilled",
            "--at",
            "2026-03-02T10:00:00+09:00",
            "ref=p-9",
        ])
        .fails();
    assert!(
        never.stderr.contains("no open promise \"p-9\""),
        "{}",
        never.stderr
    );
    assert!(
        h.run(&["customer", "show", "c-1"]).code != Some(0),
        "nothing stored"
    );

    add(
        &h,
        &[
            "--customer",
            "c-1",
            "--type",
            "promise",
            "--id",
            "p-1",
            "--at",
            "2026-03-02T10:00:00+09:00",
            "what=call back",
            "due=2026-03-06T18:00:00+09:00",
            "by=Ken",
        ],
    );
    h.run(&["tick", "--now", "2026-03-06T16:00:00+09:00"]).ok();
    let alerts = h.run(&["alerts", "--json"]).ok().json();
    assert_eq!(
        alerts[0]["text"], "promise due in 2 h: call back (Ken)",
        "{alerts}"
    );
    h.run(&["tick", "--now", "2026-03-06T18:00:00+09:00"]).ok();
    let alerts = h.run(&["alerts", "--by-priority", "--json"]).ok().json();
    assert_eq!(
        alerts[0]["text"], "promise broken, now overdue: call back (Ken)",
        "{alerts}"
    );
    let shown = h.run(&["customer", "show", "c-1"]).ok().stdout;
    assert!(
        shown.contains("p-1 \"call back\" by Ken due 2026-03-06T09:00:00Z BROKEN"),
        "{shown}"
    );
    add(
        &h,
        &[
            "--customer",
            "c-1",
            "--type",
            "fulfilled",
            "--at",
            "2026-03-06T19:00:00+09:00",
            "ref=p-1",
        ],
    );
    let shown = h.run(&["customer", "show", "c-1"]).ok().stdout;
    assert!(shown.contains("0 on time, 1 late"), "{shown}");
}
