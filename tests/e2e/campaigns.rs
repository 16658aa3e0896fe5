use kizuna_tests::TestHome;

/// Four customers in Tokyo: c-1, c-2 and c-4 buy often (regulars), c-3 once; c-4 never
/// said yes to e-mail.
fn shop(h: &TestHome) {
    let mut lines = Vec::new();
    for (n, consent) in [(1, true), (2, true), (3, true), (4, false)] {
        lines.push(format!(
            r#"{{"customer":"c-{n}","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"c{n}@example.jp","tz":"Asia/Tokyo"}}"#
        ));
        if consent {
            lines.push(format!(
                r#"{{"customer":"c-{n}","type":"opt_in","channel":"email","at":"2026-01-01T09:00:00+09:00"}}"#
            ));
        }
        let orders = if n == 3 { 1 } else { 3 };
        for day in 0..orders {
            lines.push(format!(
                r#"{{"customer":"c-{n}","type":"purchase","at":"2026-03-{:02}T12:00:00+09:00","amount":2000,"items":["beans"]}}"#,
                day * 7 + 1
            ));
        }
    }
    let file = h.file("shop.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", &file]).ok();
}

const NOW: &str = "2026-03-20T11:00:00+09:00";

#[test]
fn a_campaign_goes_to_its_segment_through_the_guards_and_a_dry_run_changes_nothing() {
    let h = TestHome::new();
    shop(&h);

    let list = h
        .run(&["segment", "list", "--now", NOW, "--json"])
        .ok()
        .json();
    let size = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["segment"] == name)
            .map(|r| r["customers"].clone())
            .unwrap()
    };
    assert_eq!(size("regulars"), 3, "{list}");
    assert_eq!(size("email_ok"), 3, "{list}");
    assert_eq!(
        size("prospect"),
        0,
        "buyers are unscored until an RFM pass, not prospects"
    );
    let shown = h
        .run(&["segment", "show", "regulars", "--now", NOW, "--json"])
        .ok()
        .json();
    assert_eq!(shown["customers"], serde_json::json!(["c-1", "c-2", "c-4"]));

    let campaign = [
        "campaign",
        "run",
        "tasting",
        "--segment",
        "regulars",
        "--template",
        "notice",
        "--var",
        "subject=試飲会",
        "--var",
        "text=試飲会のお知らせ",
        "--now",
        NOW,
    ];
    let mut dry = campaign.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let preview = h.run(&dry).ok().json();
    assert_eq!(preview["members"], 3);
    assert_eq!(preview["guards_now"]["outcomes"]["sent"], 2, "{preview}");
    assert_eq!(
        preview["guards_now"]["by_guard"]["suppressed guards/consent.rhai"], 1,
        "{preview}"
    );
    let who: Vec<(&str, &str)> = preview["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["customer"].as_str().unwrap(),
                r["outcome"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [("c-1", "sent"), ("c-2", "sent"), ("c-4", "suppressed")],
        "the dry run says who would get it: {preview}"
    );
    let text = h.run(&dry[..dry.len() - 1]).ok().stdout;
    let c4 = text
        .lines()
        .find(|l| l.starts_with("c-4"))
        .unwrap_or_default();
    assert!(
        c4.contains("suppressed by guards/consent.rhai"),
        "each recipient with the guards' say:\n{text}"
    );
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    assert_eq!(
        outbox.as_array().unwrap().len(),
        0,
        "a dry run queues nothing"
    );

    let mut real = campaign.to_vec();
    real.push("--json");
    let run = h.run(&real).ok().json();
    assert_eq!(
        (run["queued"].clone(), run["duplicates"].clone()),
        (3.into(), 0.into())
    );
    let again = h.run(&real).ok().json();
    assert_eq!(
        (again["queued"].clone(), again["duplicates"].clone()),
        (0.into(), 3.into()),
        "the same campaign at the same time queues nothing twice"
    );

    h.run(&["dispatch", "--now", NOW]).ok();
    let report = h.run(&["report", "guards", "--json"]).ok().json();
    let rows: Vec<(String, String, u64)> = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["campaign"] == "tasting")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_owned(),
                r["guard"].as_str().unwrap().to_owned(),
                r["messages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("allowed (sent)".into(), String::new(), 2),
            ("suppressed".into(), "guards/consent.rhai".into(), 1)
        ],
        "{report}"
    );
    let c1 = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let sent = c1["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "message_sent")
        .unwrap();
    assert_eq!(
        sent["campaign"], "tasting",
        "contact history names the campaign"
    );
}

#[test]
fn a_bad_campaign_is_refused_before_anything_is_queued() {
    let h = TestHome::new();
    shop(&h);
    let unknown = h
        .run(&[
            "campaign",
            "run",
            "x",
            "--segment",
            "nobody",
            "--template",
            "notice",
            "--now",
            NOW,
        ])
        .fails();
    assert!(
        unknown.stderr.contains("unknown segment \"nobody\"")
            && unknown.stderr.contains("regulars")
            && unknown.stderr.contains("at_risk"),
        "{}",
        unknown.stderr
    );
    let missing = h
        .run(&[
            "campaign",
            "run",
            "x",
            "--segment",
            "regulars",
            "--now",
            NOW,
        ])
        .fails();
    assert!(missing.stderr.contains("x.email"), "{}", missing.stderr);
    let broken = h.home().join("rules/segments/broken.rhai");
    std::fs::write(&broken, "fn matches(c) { c.stats.orders >= }").unwrap();
    let bad = h.run(&["segment", "list"]).fails();
    assert!(
        bad.stderr.contains("segments/broken.rhai:1"),
        "{}",
        bad.stderr
    );
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    assert_eq!(outbox.as_array().unwrap().len(), 0);
}

#[test]
fn a_seasonal_campaign_starts_itself_once_when_its_window_opens() {
    let h = TestHome::new();
    let file = h.file(
        "vip.jsonl",
        concat!(
            r#"{"customer":"c-vip","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"v@example.jp","tags":["vip"]}"#,
            "\n",
            r#"{"customer":"c-other","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"o@example.jp"}"#,
            "\n",
        ),
    );
    h.run(&["import", &file]).ok();
    let tick = |now: &str| {
        h.run(&["tick", "--no-rfm", "--now", now, "--json"])
            .ok()
            .json()
    };
    // 23:59 on 30 November in Tokyo: not yet.
    assert_eq!(
        tick("2026-11-30T23:59:00+09:00")["seasonal"],
        serde_json::json!([])
    );
    let opened = tick("2026-12-01T00:00:00+09:00");
    assert_eq!(
        opened["seasonal"][0]["campaign"], "year_end_gift",
        "{opened}"
    );
    assert_eq!(opened["seasonal"][0]["members"], 1);
    assert_eq!(opened["seasonal"][0]["queued"]["queued"], 1);
    assert_eq!(
        tick("2026-12-05T00:00:00+09:00")["seasonal"],
        serde_json::json!([])
    );
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let queued: Vec<(&str, &str)> = outbox
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["customer"].as_str().unwrap(),
                m["campaign"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(queued, [("c-vip", "year_end_gift")]);
    // Next year's window is a new run.
    assert_eq!(
        tick("2027-12-02T00:00:00+09:00")["seasonal"][0]["year"],
        2027
    );
}

#[test]
fn report_kpi_credits_responses_to_the_latest_contact() {
    let h = TestHome::new();
    let file = h.file(
        "kpi.jsonl",
        concat!(
            r#"{"customer":"c-1","type":"message_sent","at":"2026-03-01T10:00:00+09:00","channel":"email","template":"t","campaign":"spring"}"#, "\n",
            r#"{"customer":"c-1","type":"click","at":"2026-03-01T12:00:00+09:00"}"#, "\n",
            r#"{"customer":"c-1","type":"purchase","at":"2026-03-03T12:00:00+09:00","amount":4000}"#, "\n",
            r#"{"customer":"c-2","type":"message_sent","at":"2026-03-01T10:00:00+09:00","channel":"sms","template":"t","campaign":"spring"}"#, "\n",
            r#"{"customer":"c-2","type":"customer_reply","at":"2026-03-02T10:00:00+09:00"}"#, "\n",
            r#"{"customer":"c-2","type":"purchase","at":"2026-04-20T12:00:00+09:00","amount":900}"#, "\n",
        ),
    );
    h.run(&["import", &file]).ok();
    let r = h.run(&["report", "kpi", "--json"]).ok().json();
    let spring = &r["rows"][0];
    assert_eq!(spring["group"], "spring");
    assert_eq!(spring["contacts"], 2);
    assert_eq!(
        (spring["replied"].clone(), spring["reacted"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(spring["reply_rate"], 0.5);
    assert_eq!(
        (spring["purchases"].clone(), spring["revenue"].clone()),
        (1.into(), 4000.into())
    );
    assert_eq!(spring["revenue_per_contact"], 2000.0);
    assert_eq!(
        r["all_purchases"], 2,
        "the April purchase is outside the 7-day window"
    );

    let by_channel = h
        .run(&["report", "kpi", "--by", "channel", "--csv"])
        .ok()
        .stdout;
    assert!(
        by_channel.starts_with("group,contacts,replied,reply_rate"),
        "{by_channel}"
    );
    assert!(
        by_channel.contains("\nemail,1,0,0.0000,1,1.0000,0,1,4000,4000.00\n"),
        "{by_channel}"
    );
    assert!(
        by_channel.contains("\nsms,1,1,1.0000,0,0.0000,0,0,0,0.00\n"),
        "{by_channel}"
    );
    let table = h.run(&["report", "kpi", "--by", "month"]).ok().stdout;
    assert!(
        table.contains("2026-03") && table.contains("50.0%"),
        "{table}"
    );
    let bad = h.run(&["report", "kpi", "--by", "week"]);
    assert_eq!(bad.code, Some(2), "a usage error");
    assert!(
        bad.stderr.contains("campaign, channel, month"),
        "{}",
        bad.stderr
    );
}

#[test]
fn tick_scores_rfm_once_a_day_and_a_drifting_customer_gets_one_win_back() {
    let h = TestHome::new();
    let mut lines = Vec::new();
    for n in 1..=4 {
        lines.push(format!(
            r#"{{"customer":"o-{n}","type":"purchase","at":"2026-10-25T12:00:00+09:00","amount":3000}}"#
        ));
    }
    for month in 3..=5 {
        lines.push(format!(
            r#"{{"customer":"c-1","type":"purchase","at":"2026-0{month}-01T12:00:00+09:00","amount":3000}}"#
        ));
    }
    let file = h.file("drift.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", &file]).ok();

    let first = h
        .run(&["tick", "--now", "2026-11-01T00:00:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(first["rfm_segment_changes"], 5, "{first}");
    let again = h
        .run(&["tick", "--now", "2026-11-01T12:00:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(
        again["rfm_segment_changes"],
        serde_json::Value::Null,
        "not a day yet"
    );
    let c1 = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let changed = c1["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "segment_changed")
        .unwrap();
    let segment = changed["to"].as_str().unwrap();
    assert!(
        ["at_risk", "cant_lose", "hibernating"].contains(&segment),
        "{changed}"
    );
    let winback = |h: &TestHome| -> Vec<String> {
        let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
        outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["campaign"] == "winback")
            .map(|m| m["customer"].as_str().unwrap().to_owned())
            .collect()
    };
    // RFM is relative: whoever ranks lowest is drifting. Each drifting customer, c-1
    // among them, gets exactly one win-back.
    let drifting: Vec<String> = h
        .run(&["customer", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let s = c["rfm"]["segment"].as_str().unwrap_or_default();
            ["at_risk", "cant_lose", "hibernating"].contains(&s)
        })
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let mut sent = winback(&h);
    sent.sort();
    assert_eq!(sent, drifting);
    assert!(sent.contains(&"c-1".to_owned()));
    // A day later the pass runs again; nobody is won back twice.
    let next = h
        .run(&["tick", "--now", "2026-11-02T00:00:00+09:00", "--json"])
        .ok()
        .json();
    assert!(next["rfm_segment_changes"].is_u64(), "{next}");
    let mut again = winback(&h);
    again.sort();
    assert_eq!(again, sent);
}
