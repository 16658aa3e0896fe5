use kizuna_core::{
    channel::{Channel, Delivery, OutgoingMessage},
    ids::CustomerId,
    rules::MessageClass,
    store::MessageId,
};
use kizuna_email::{Security, SmtpChannel, SmtpConfig};
use kizuna_tests::smtp::{SmtpServer, free_port};

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::Plain,
        credentials: None,
        from: "Kizuna Coffee <shop@kizuna.example>".into(),
        reply_to: Some("care@kizuna.example".into()),
        unsubscribe_mailto: Some("unsubscribe@kizuna.example".into()),
        pool_size: 2,
        timeout: std::time::Duration::from_secs(5),
    }
}

fn message(n: u32, to: &str, class: MessageClass) -> OutgoingMessage {
    OutgoingMessage {
        id: MessageId { seq: 40, n },
        customer: CustomerId::new("c-7").unwrap(),
        to: to.into(),
        subject: Some("春の新豆のご案内".into()),
        body: "エチオピアの浅煎りが入りました。\nまたお待ちしています。".into(),
        class,
        template: "spring".into(),
        html: None,
        unsubscribe: None,
    }
}

#[test]
fn a_message_arrives_with_its_headers_and_text_intact() {
    let server = SmtpServer::start();
    let channel = SmtpChannel::new(&config(server.port)).unwrap();
    channel.check().unwrap();
    let mut marketing = message(0, "Aiko <aiko@example.jp>", MessageClass::Marketing);
    marketing.unsubscribe = Some("https://kizuna.example/u/Tok3n".into());
    let sent = channel.send(&marketing);
    assert!(
        matches!(&sent, Delivery::Sent { receipt } if receipt.contains("250")),
        "{sent:?}"
    );
    let receipt = channel.send(&message(1, "ken@example.jp", MessageClass::Transactional));
    assert!(matches!(receipt, Delivery::Sent { .. }));

    let got = server.decoded();
    assert_eq!(got.len(), 2);
    let h = &got[0]["headers"];
    assert_eq!(got[0]["envelope_to"][0], "aiko@example.jp");
    assert_eq!(h["From"], "Kizuna Coffee <shop@kizuna.example>");
    assert_eq!(h["To"], "Aiko <aiko@example.jp>");
    assert_eq!(h["Reply-To"], "care@kizuna.example");
    assert_eq!(h["Subject"], "春の新豆のご案内");
    assert_eq!(
        h["Message-ID"], "<m-40-0@kizuna.example>",
        "derived from the outbox id"
    );
    assert_eq!(h["X-Kizuna-Class"], "marketing");
    assert_eq!(
        h["List-Unsubscribe"],
        "<https://kizuna.example/u/Tok3n>, <mailto:unsubscribe@kizuna.example>"
    );
    assert_eq!(h["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    // Mail lines end in CRLF on the wire; the text is otherwise exactly the template's.
    assert_eq!(
        got[0]["body"]
            .as_str()
            .unwrap()
            .replace("\r\n", "\n")
            .trim_end(),
        "エチオピアの浅煎りが入りました。\nまたお待ちしています。"
    );
    let receipt_headers = &got[1]["headers"];
    assert!(
        receipt_headers.get("List-Unsubscribe").is_none(),
        "transactional mail has no unsubscribe header: {receipt_headers}"
    );
}

#[test]
fn a_4xx_is_transient_and_the_retry_is_accepted_once() {
    let server = SmtpServer::start();
    let channel = SmtpChannel::new(&config(server.port)).unwrap();
    let m = message(3, "busy@example.jp", MessageClass::Marketing);
    let first = channel.send(&m);
    assert!(
        matches!(&first, Delivery::Transient { reason } if reason.contains("451")),
        "{first:?}"
    );
    assert!(server.received().is_empty());
    assert!(matches!(channel.send(&m), Delivery::Sent { .. }));
    assert_eq!(server.received().len(), 1);
}

#[test]
fn a_5xx_is_permanent_with_the_servers_words() {
    let server = SmtpServer::start();
    let channel = SmtpChannel::new(&config(server.port)).unwrap();
    // The address refused (5.1.1): the host records a hard bounce.
    let dead = channel.send(&message(4, "reject@example.jp", MessageClass::Marketing));
    let Delivery::AddressRefused { reason } = dead else {
        panic!("{dead:?}")
    };
    assert!(
        reason.contains("550") && reason.contains("mailbox unavailable"),
        "{reason}"
    );
    // The message refused (5.7.1): permanent, but nothing wrong with the address.
    let spam = channel.send(&message(7, "spam-test@example.jp", MessageClass::Marketing));
    let Delivery::Permanent { reason } = spam else {
        panic!("{spam:?}")
    };
    assert!(
        reason.contains("554") && reason.contains("5.7.1"),
        "{reason}"
    );
    let bad = channel.send(&message(5, "not an address", MessageClass::Marketing));
    assert!(matches!(bad, Delivery::Permanent { .. }), "{bad:?}");
    assert!(server.received().is_empty());
}

#[test]
fn no_server_is_a_transient_failure_and_check_says_where() {
    let port = free_port();
    let channel = SmtpChannel::new(&config(port)).unwrap();
    let down = channel.send(&message(6, "aiko@example.jp", MessageClass::Marketing));
    assert!(matches!(down, Delivery::Transient { .. }), "{down:?}");
    let err = channel.check().unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// A home whose e-mail goes to `port` by SMTP, with three consenting customers in Tokyo.
fn smtp_home(port: u16) -> kizuna_tests::TestHome {
    let h = kizuna_tests::TestHome::new();
    h.set_channel(
        "email",
        &format!("type = \"smtp\"\nfrom = \"shop@kizuna.example\"\nport = {port}\nrate = 200.0"),
    );
    let mut lines = Vec::new();
    for n in 1..=3 {
        lines.push(format!(
            r#"{{"customer":"c-{n}","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"c{n}@example.jp","tz":"Asia/Tokyo"}}"#
        ));
        lines.push(format!(
            r#"{{"customer":"c-{n}","type":"opt_in","channel":"email","at":"2026-01-01T09:00:00+09:00"}}"#
        ));
    }
    let file = h.file("people.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", &file]).ok();
    h
}

fn queue(h: &kizuna_tests::TestHome, customer: &str, at: &str) {
    h.run(&[
        "send",
        "--customer",
        customer,
        "--channel",
        "email",
        "--template",
        "notice",
        "--var",
        "subject=入荷のお知らせ",
        "--var",
        "text=新しい豆が入りました",
        "--class",
        "transactional",
        "--at",
        at,
    ])
    .ok();
}

#[test]
fn dispatch_survives_an_smtp_outage_and_delivers_each_message_exactly_once() {
    let server = SmtpServer::start();
    let h = smtp_home(server.port);
    let check = h.run(&["channels", "check"]).ok().stdout;
    assert!(
        check.contains(&format!(
            "ok    email: SMTP 127.0.0.1:{}, at most 200/s",
            server.port
        )),
        "{check}"
    );

    queue(&h, "c-1", "2026-03-05T10:00:00+09:00");
    h.run(&["dispatch", "--now", "2026-03-05T10:00:00+09:00"])
        .ok();
    assert_eq!(server.received().len(), 1);

    // The server goes away: messages fail (transient) and wait; the queue keeps growing.
    let stopped = server.stop();
    let down = h.run(&["channels", "check"]).fails().stdout;
    assert!(down.contains("FAIL  email"), "{down}");
    queue(&h, "c-2", "2026-03-05T10:01:00+09:00");
    let report = h
        .run(&["dispatch", "--now", "2026-03-05T10:01:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(report["outcomes"]["failed"], 1, "{report}");
    queue(&h, "c-3", "2026-03-05T10:02:00+09:00");

    // Back up: the retry (due a minute after the failure) and the new message go out.
    let server = SmtpServer::restart(stopped);
    let report = h
        .run(&["dispatch", "--now", "2026-03-05T10:03:00+09:00", "--json"])
        .ok()
        .json();
    assert_eq!(report["outcomes"]["sent"], 2, "{report}");
    h.run(&["dispatch", "--now", "2026-03-05T10:30:00+09:00"])
        .ok();

    let got = server.decoded();
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| m["headers"]["Message-ID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        (before, ids.len()),
        (3, 3),
        "three messages, each once: {ids:?}"
    );
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let states: Vec<&str> = outbox
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "sent", "sent"]);
}

#[test]
fn a_refused_recipient_is_dead_with_the_servers_reply_and_a_bad_config_is_named() {
    let server = SmtpServer::start();
    let h = smtp_home(server.port);
    let file = h.file(
        "reject.jsonl",
        r#"{"customer":"c-9","type":"profile","at":"2026-01-01T09:00:00+09:00","email":"reject@example.jp","tz":"Asia/Tokyo"}"#,
    );
    h.run(&["import", &file]).ok();
    queue(&h, "c-9", "2026-03-05T10:00:00+09:00");
    h.run(&["dispatch", "--now", "2026-03-05T10:00:00+09:00"])
        .ok();
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let status = &outbox[0]["status"];
    assert_eq!(status["state"], "dead", "{outbox}");
    assert!(
        status["reason"].as_str().unwrap().contains("550"),
        "{outbox}"
    );

    let smtp = format!(
        "type = \"smtp\"\nfrom = \"shop@kizuna.example\"\nport = {}",
        server.port
    );
    h.set_channel("email", &format!("{smtp}\nuser = \"shop\""));
    let run = h.run(&["channels", "check"]).fails();
    assert!(
        run.stderr.contains("KIZUNA_SMTP_PASSWORD"),
        "{}",
        run.stderr
    );
    // Every mistake at once, each with its key and the line its section starts on.
    h.set_channel(
        "email",
        &format!("{smtp}\nsecurity = \"ssl\"\npool = 0\nrate = -1"),
    );
    let run = h.run(&["channels", "check"]).fails();
    for key in ["security", "pool", "rate"] {
        assert!(
            run.stderr.contains(&format!("channels.email.{key}:")),
            "{key}: {}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("line "), "{}", run.stderr);
}

#[test]
fn a_template_with_an_html_twin_goes_as_text_and_html() {
    let server = SmtpServer::start();
    let h = smtp_home(server.port);
    let templates = h.home().join("rules/templates");
    std::fs::write(
        templates.join("news.email"),
        "Subject: 新豆のご案内\n\n{{ vars.text }}\n",
    )
    .unwrap();
    std::fs::write(
        templates.join("news.email.html"),
        "<p><strong>{{ vars.text }}</strong></p>\n",
    )
    .unwrap();
    h.run(&[
        "send",
        "--customer",
        "c-1",
        "--channel",
        "email",
        "--template",
        "news",
        "--var",
        "text=浅煎りが入りました",
        "--class",
        "transactional",
        "--at",
        "2026-03-05T10:00:00+09:00",
    ])
    .ok();
    h.run(&["dispatch", "--now", "2026-03-05T10:00:00+09:00"])
        .ok();
    let got = server.decoded();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]["headers"]["Content-Type"]
            .as_str()
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        got[0]
    );
    assert_eq!(
        got[0]["body"].as_str().unwrap().trim(),
        "浅煎りが入りました"
    );
    assert_eq!(
        got[0]["html"].as_str().unwrap().trim(),
        "<p><strong>浅煎りが入りました</strong></p>"
    );
}
