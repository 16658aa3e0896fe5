//! LINE end to end: the kizuna binary with a `[channels.line]` section, against the local
//! stand-in for the LINE Platform (kizuna-line's `testing`): a script's message through the
//! guards and out as a push; LINE's webhook through the daemon into the history.

use kizuna_line::testing::{LineServer, call_webhook, event};
use kizuna_tests::{
    TestHome,
    daemon::{Daemon, TOKEN},
};

const LINE_TOKEN: &str = "line-channel-token";
const LINE_SECRET: &str = "line-channel-secret";
const ALICE: &str = "U4af4980629a0c4af6e0b2a0c5b6c2f7e";
const BOB: &str = "U0123456789abcdef0123456789abcdef";
const ENV: [(&str, &str); 2] = [
    ("KIZUNA_LINE_TOKEN", LINE_TOKEN),
    ("KIZUNA_LINE_SECRET", LINE_SECRET),
];

fn line_home(server: &LineServer) -> TestHome {
    let h = TestHome::new();
    h.set_channel(
        "line",
        &format!("type = \"line\"\nbase_url = \"{}\"", server.base_url),
    );
    std::fs::write(
        h.home().join("rules/templates/notice.text"),
        "{{ vars.text }}\n",
    )
    .unwrap();
    h
}

#[test]
fn a_marketing_message_goes_out_on_line_through_consent_and_quiet_hours() {
    let server = LineServer::start(LINE_TOKEN);
    let h = line_home(&server);
    let missing = h.run(&["channels", "check"]).fails();
    assert!(
        missing.stderr.contains("KIZUNA_LINE_TOKEN"),
        "{}",
        missing.stderr
    );
    let check = h.run_env(&["channels", "check"], &ENV).ok().stdout;
    assert!(
        check.contains("ok    line: LINE http://127.0.0.1:"),
        "{check}"
    );
    let file = h.file(
        "c.jsonl",
        &format!(
            "{}\n{}\n",
            format_args!(r#"{{"customer":"c-1","type":"profile","at":"2026-01-01T09:00:00+09:00","line_id":"{ALICE}","tz":"Asia/Tokyo"}}"#),
            r#"{"customer":"c-2","type":"profile","at":"2026-01-01T09:00:00+09:00","tz":"Asia/Tokyo"}"#,
        ),
    );
    h.run(&["import", &file]).ok();
    let send = |customer: &str, at: &str| {
        h.run(&[
            "send",
            "--customer",
            customer,
            "--channel",
            "line",
            "--template",
            "notice",
            "--var",
            "text=新豆が入荷しました",
            "--class",
            "marketing",
            "--at",
            at,
        ])
        .ok();
    };
    // No opt-in on LINE yet: the consent guard stops marketing on this channel as on any.
    send("c-1", "2026-03-05T10:00:00+09:00");
    h.run_env(&["dispatch", "--now", "2026-03-05T10:00:00+09:00"], &ENV)
        .ok();
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"]["state"], "suppressed", "{outbox}");
    assert!(server.pushed().is_empty());

    let opt_in = h.file(
        "in.jsonl",
        r#"{"customer":"c-1","type":"opt_in","at":"2026-03-05T11:00:00+09:00","channel":"line"}"#,
    );
    h.run(&["import", &opt_in]).ok();
    // At 23:00 in Tokyo quiet hours hold it until 08:00; then it goes out, once.
    send("c-1", "2026-03-05T23:00:00+09:00");
    h.run_env(&["dispatch", "--now", "2026-03-05T23:00:00+09:00"], &ENV)
        .ok();
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let deferred = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"]["state"] == "deferred");
    assert!(deferred.is_some(), "{outbox}");
    assert!(server.pushed().is_empty());
    h.run_env(&["dispatch", "--now", "2026-03-06T08:30:00+09:00"], &ENV)
        .ok();
    let pushed = server.pushed();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0].to, ALICE);
    assert_eq!(pushed[0].text.trim(), "新豆が入荷しました");
    // A customer with no LINE user id: dead with the reason, nothing pushed.
    send("c-2", "2026-03-06T09:00:00+09:00");
    h.run_env(&["dispatch", "--now", "2026-03-06T09:00:00+09:00"], &ENV)
        .ok();
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let dead = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customer"] == "c-2")
        .unwrap();
    assert!(
        dead["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("line_id"),
        "{dead}"
    );
    assert_eq!(server.pushed().len(), 1);
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert!(
        shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "message_sent" && e["channel"] == "line"),
        "{shown}"
    );
}

#[test]
fn lines_webhook_records_follows_replies_and_unfollows_and_refuses_a_forged_call() {
    let server = LineServer::start(LINE_TOKEN);
    let h = line_home(&server);
    let d = Daemon::start_with(&h, &[], &ENV, None);
    let profile = format!(
        r#"{{"customer":"c-1","type":"profile","at":"2026-01-01T09:00:00+09:00","line_id":"{ALICE}","tz":"Asia/Tokyo"}}"#
    );
    assert_eq!(d.post(&profile, Some(TOKEN)).0, 202);
    let url = format!("{}/channels/line/webhook", d.base);
    let events = [
        event("E-follow", "follow", ALICE, None),
        event("E-text", "message", ALICE, Some("土曜に伺います")),
        event("E-bob", "follow", BOB, None),
    ];
    // Signed with another secret: 401, and nothing of it is kept.
    let (status, _) = call_webhook(&url, "not-the-secret", &events);
    assert_eq!(status, 401);
    let (status, body) = call_webhook(&url, LINE_SECRET, &events);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"unknown user\":1"), "{body}");
    // LINE redelivers: recognised, nothing recorded twice.
    let (status, body) = call_webhook(&url, LINE_SECRET, &events);
    assert_eq!(
        (status, body.contains("\"recorded\":[]")),
        (200, true),
        "{body}"
    );
    let (status, _) = call_webhook(
        &url,
        LINE_SECRET,
        &[event("E-unfollow", "unfollow", ALICE, None)],
    );
    assert_eq!(status, 200);
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());

    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let kinds: Vec<(String, String)> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["channel"] == "line")
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["text"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let has = |kind: &str, text: &str| kinds.iter().any(|(k, t)| k == kind && t == text);
    assert!(has("opt_in", ""), "{kinds:?}");
    assert!(has("customer_reply", "土曜に伺います"), "{kinds:?}");
    assert!(has("opt_out", ""), "{kinds:?}");
    assert_eq!(kinds.len(), 3, "each event once: {kinds:?}");
    assert_eq!(
        shown["customer"]["consent"]["line"]["granted"], false,
        "{shown}"
    );
}
