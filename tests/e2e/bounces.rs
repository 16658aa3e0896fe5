use kizuna_tests::{
    TestHome,
    daemon::{Daemon, TOKEN},
    smtp::SmtpServer,
};

/// A time in the customers' contact hours (they live in Tokyo).
const DAYTIME: &str = "2026-12-08T10:00:00+09:00";

/// A sample report from the SMTP plugin's tests, about `message_id` to `rcpt`.
fn report(name: &str, message_id: &str, rcpt: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/email/tests/data")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{message_id}}", message_id)
        .replace("{{rcpt}}", rcpt)
}

/// POSTs `body` to the daemon's bounce route; status and JSON.
fn post(
    daemon: &Daemon,
    body: &str,
    content_type: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = Daemon::agent()
        .post(format!("{}/channels/email/bounces", daemon.base))
        .header("Content-Type", content_type);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn send(h: &TestHome, customer: &str, class: &str) {
    h.run(&[
        "send",
        "--customer",
        customer,
        "--channel",
        "email",
        "--template",
        "notice",
        "--class",
        class,
        "--var",
        "subject=ご案内",
        "--var",
        "text=本文",
    ])
    .ok();
}

fn events_of(h: &TestHome, customer: &str, kind: &str) -> Vec<serde_json::Value> {
    let shown = h.run(&["customer", "show", customer, "--json"]).ok().json();
    shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

#[test]
fn bounces_and_complaints_reported_or_met_at_send_time_stop_the_mail_and_are_reported() {
    let smtp = SmtpServer::start();
    let h = TestHome::new();
    let csv = h.file(
        "c.csv",
        "id,name,email,tz\nc-1,Aiko,aiko@example.jp,Asia/Tokyo\nc-2,Ken,reject-ken@example.jp,Asia/Tokyo\n",
    );
    h.run(&["import", &csv, "--at", "2026-03-01T00:00:00Z"])
        .ok();
    for c in ["c-1", "c-2"] {
        h.run(&[
            "event",
            "add",
            "--customer",
            c,
            "--type",
            "opt_in",
            "--at",
            "2026-03-01T00:00:00Z",
            "channel=email",
        ])
        .ok();
    }
    h.use_smtp(smtp.port);
    let daemon = Daemon::start_with(&h, &["--manual-clock"], &[], None);
    send(&h, "c-1", "transactional");
    send(&h, "c-2", "transactional");
    h.run(&["dispatch", "--now", DAYTIME]).ok();

    // c-2's server refused the address (550 5.1.1): dead, and a hard bounce on record.
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let ken = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["customer"] == "c-2")
        .unwrap();
    assert_eq!(ken["status"]["state"], "dead", "{outbox}");
    assert!(
        ken["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("address refused: ")
    );
    let refused = events_of(&h, "c-2", "email_bounced");
    assert_eq!(
        (refused.len(), refused[0]["kind"].as_str()),
        (1, Some("hard")),
        "{refused:?}"
    );

    // c-1's mail arrived; later the receiving system returns a DSN for it.
    let mail = smtp.decoded();
    assert_eq!(mail.len(), 1);
    let id = mail[0]["headers"]["Message-ID"].as_str().unwrap();
    let id = id
        .trim_matches(['<', '>'])
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    let dsn = report("dsn_hard.eml", &id, "aiko@example.jp");
    assert_eq!(
        post(&daemon, &dsn, "message/rfc822", None).0,
        401,
        "a token is needed"
    );
    let (status, body) = post(&daemon, &dsn, "message/rfc822", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recorded"][0]["customer"], "c-1");
    // The mail system retries: nothing new.
    let (status, again) = post(&daemon, &dsn, "message/rfc822", Some(TOKEN));
    assert_eq!(
        (status, again["recorded"][0]["duplicate"].as_bool()),
        (200, Some(true))
    );
    let soft = report("dsn_soft.eml", &id, "aiko@example.jp");
    assert_eq!(post(&daemon, &soft, "message/rfc822", Some(TOKEN)).0, 200);
    let arf = report("arf_complaint.eml", &id, "aiko@example.jp");
    assert_eq!(post(&daemon, &arf, "message/rfc822", Some(TOKEN)).0, 200);
    let bounced = events_of(&h, "c-1", "email_bounced");
    let kinds: Vec<&str> = bounced
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["hard", "soft"]);
    assert_eq!(bounced[0]["message"], id.as_str());
    let complaint = events_of(&h, "c-1", "opt_out");
    assert_eq!(
        (
            complaint[0]["reason"].as_str(),
            complaint[0]["detail"].as_str()
        ),
        (Some("complaint"), Some("abuse"))
    );

    // Malformed, unknown: a clear error, nothing kept.
    let before = events_of(&h, "c-1", "email_bounced").len();
    for (body, kind, says) in [
        (
            "Subject: hi\r\n\r\nhello\r\n",
            "message/rfc822",
            "not multipart/report",
        ),
        (
            r#"{"message_id":"m-1-0","kind":"bounced"}"#,
            "application/json",
            "kind: \"bounced\"",
        ),
        (
            r#"{"address":"nobody@example.jp","kind":"hard"}"#,
            "application/json",
            "no customer has this address",
        ),
    ] {
        let (status, answer) = post(&daemon, body, kind, Some(TOKEN));
        assert!(status == 400 || status == 404, "{status} {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    assert_eq!(events_of(&h, "c-1", "email_bounced").len(), before);

    // Neither address is written to again, not even a receipt.
    send(&h, "c-1", "transactional");
    send(&h, "c-2", "transactional");
    h.run(&["dispatch", "--now", DAYTIME]).ok();
    assert_eq!(smtp.decoded().len(), 1);
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let held: Vec<&serde_json::Value> = outbox.as_array().unwrap()[2..].iter().collect();
    for m in &held {
        assert_eq!(m["status"]["guard"], "guards/deliverable.rhai", "{m}");
        assert!(
            m["status"]["reason"]
                .as_str()
                .unwrap()
                .starts_with("the address bounced (hard)")
        );
    }

    // The report, the same from the CLI and the API.
    let cli = h.run(&["report", "deliverability", "--json"]).ok().json();
    let total = &cli["total"];
    assert_eq!(
        (
            total["sent"].as_u64(),
            total["bounced_hard"].as_u64(),
            total["bounced_soft"].as_u64(),
            total["complaints"].as_u64()
        ),
        (Some(1), Some(2), Some(1), Some(1)),
        "{cli}"
    );
    let (status, api) = daemon.call("GET", "/v1/reports/deliverability", Some(TOKEN), None);
    assert_eq!((status, &api), (200, &cli));
    let text = h
        .run(&["report", "deliverability", "--by", "month"])
        .ok()
        .stdout;
    assert!(
        text.contains("bounce rate") && text.contains("all"),
        "{text}"
    );

    // A new address starts clean.
    h.run(&[
        "event",
        "add",
        "--customer",
        "c-1",
        "--type",
        "profile",
        "email=aiko.new@example.jp",
    ])
    .ok();
    send(&h, "c-1", "transactional");
    h.run(&["dispatch", "--now", DAYTIME]).ok();
    let mail = smtp.decoded();
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[1]["envelope_to"][0], "aiko.new@example.jp");
}
