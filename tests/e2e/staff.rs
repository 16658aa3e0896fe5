use kizuna_tests::{
    TestHome,
    daemon::Daemon,
    smtp::{SmtpServer, WebhookServer},
};

/// A home whose staff are an owner on e-mail (SMTP, with a 09:00 digest), a boss who hears
/// of escalations only, and a chat room; the chat URL's token is `room-token`.
fn staffed(smtp: &SmtpServer) -> TestHome {
    let h = TestHome::new();
    h.use_smtp(smtp.port);
    h.set_channel("room", "type = \"chat\"\nurl_env = \"ROOM_URL\"");
    h.set_staff(
        r#"
[staff]
tz = "Asia/Tokyo"
escalate_after = "4h"

[[staff.recipients]]
name = "owner"
channel = "email"
to = "owner@shop.example"
digest = "09:00"

[[staff.recipients]]
name = "boss"
channel = "email"
to = "boss@shop.example"
notify = ["escalated"]

[[staff.recipients]]
name = "floor"
channel = "room"
kinds = ["silence"]
"#,
    );
    h
}

fn inquiry(h: &TestHome, id: &str, customer: &str, at: &str) {
    h.run(&[
        "event",
        "add",
        "--customer",
        customer,
        "--type",
        "inquiry",
        "--id",
        id,
        "--at",
        at,
    ])
    .ok();
}

#[test]
fn an_unanswered_inquiry_reaches_the_staff_by_mail_and_chat_once_then_escalates_and_is_digested() {
    let smtp = SmtpServer::start();
    let room = WebhookServer::start("room-token");
    let url = format!("http://127.0.0.1:{}/chat/room-token", room.port);
    let env = [("ROOM_URL", url.as_str())];
    let h = staffed(&smtp);
    h.run(&[
        "event",
        "add",
        "--customer",
        "c-1",
        "--type",
        "profile",
        "--at",
        "2026-03-01T09:00:00+09:00",
        "name=Aiko <Tanaka>",
        "email=aiko@example.jp",
    ])
    .ok();
    inquiry(&h, "q-1", "c-1", "2026-03-01T10:00:00+09:00");

    // A day on, the silence alarm goes off and the staff round queues its notices in the
    // same tick: the owner's mail and the room's chat (the boss hears of escalations only).
    let tick = h
        .run_env(
            &["tick", "--now", "2026-03-02T10:00:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(tick["alerts"], 1);
    assert_eq!(tick["staff"]["notices"], 2, "{tick}");
    // Again at the same moment, and again later: nothing more for the same alert.
    let again = h
        .run_env(
            &["tick", "--now", "2026-03-02T10:00:30+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(again["staff"]["notices"], 0);
    let sent = h
        .run_env(
            &["dispatch", "--now", "2026-03-02T10:01:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(sent["outcomes"]["sent"], 2, "{sent}");

    let mail = smtp.decoded();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["envelope_to"][0], "owner@shop.example");
    let subject = mail[0]["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.contains("silence: no reply within 24 h to inquiry q-1"),
        "{subject}"
    );
    let body = mail[0]["body"].as_str().unwrap();
    assert!(body.contains("Aiko <Tanaka> (c-1)"), "{body}");
    assert!(body.contains("2026-03-02 10:00 JST"), "{body}");
    let chat = room.received();
    assert_eq!(chat.len(), 1);
    let text = chat[0]["chat"].as_str().unwrap();
    assert!(
        text.starts_with(
            "[kizuna] silence: no reply within 24 h to inquiry q-1 — Aiko <Tanaka> (c-1)"
        ),
        "{text}"
    );

    // Staff messages are listed like any other, and are not contact with the customer.
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let staff: Vec<_> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["class"] == "staff")
        .collect();
    assert_eq!(staff.len(), 2, "{outbox}");
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(
        shown["customer"]["contacts"],
        serde_json::json!([]),
        "{shown}"
    );
    assert!(shown["customer"]["stats"]["last_outbound"].is_null());

    // Four hours after it was raised, still open: escalated to the boss, once.
    let early = h
        .run_env(
            &["tick", "--now", "2026-03-02T13:59:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(early["staff"]["escalations"], 0);
    let late = h
        .run_env(
            &["tick", "--now", "2026-03-02T14:00:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(late["staff"]["escalations"], 1, "{late}");
    h.run_env(&["tick", "--now", "2026-03-02T18:00:00+09:00"], &env)
        .ok();
    h.run_env(&["dispatch", "--now", "2026-03-02T18:00:00+09:00"], &env)
        .ok();
    let mail = smtp.decoded();
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[1]["envelope_to"][0], "boss@shop.example");
    assert!(
        mail[1]["body"]
            .as_str()
            .unwrap()
            .contains("nobody has taken it up"),
        "{}",
        mail[1]["body"]
    );

    // The next morning at 09:00 Tokyo, the owner's digest lists what is open.
    inquiry(&h, "q-2", "c-2", "2026-03-02T08:00:00+09:00");
    h.run(&[
        "alerts",
        "ack",
        "a-2-0",
        "--by",
        "ken",
        "--at",
        "2026-03-02T18:30:00+09:00",
    ])
    .ok();
    let before = h
        .run_env(
            &["tick", "--now", "2026-03-03T08:59:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(before["staff"]["digests"], 0);
    let digest = h
        .run_env(
            &["tick", "--now", "2026-03-03T09:00:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(digest["staff"]["digests"], 1, "{digest}");
    h.run_env(&["dispatch", "--now", "2026-03-03T09:01:00+09:00"], &env)
        .ok();
    let mail = smtp.decoded();
    let last = mail.last().unwrap();
    let subject = last["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.contains("2026-03-03") && subject.contains("2 open alert(s)"),
        "{subject}"
    );
    let body = last["body"].as_str().unwrap();
    assert!(
        body.contains("q-1") && body.contains("q-2") && body.contains("ken"),
        "{body}"
    );
    let later = h
        .run_env(
            &["tick", "--now", "2026-03-03T12:00:00+09:00", "--json"],
            &env,
        )
        .ok()
        .json();
    assert_eq!(later["staff"]["digests"], 0, "once a day");
}

#[test]
fn a_notice_is_sent_once_across_a_daemon_restart() {
    let smtp = SmtpServer::start();
    let room = WebhookServer::start("room-token");
    let url = format!("http://127.0.0.1:{}/chat/room-token", room.port);
    let env = [("ROOM_URL", url.as_str())];
    let h = staffed(&smtp);
    // An inquiry two days old: its alarm is due the moment the daemon's clock ticks.
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48);
    inquiry(&h, "q-1", "c-1", &at.to_string());
    let wait_for = |what: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !what() {
            assert!(started.elapsed().as_secs() < 20, "timed out");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let log = h.dir().join("daemon.log");
    let daemon = Daemon::start_with(&h, &[], &env, Some(&log));
    wait_for(&|| room.received().len() == 1 && smtp.decoded().len() >= 2);
    daemon.signal("-TERM");
    drop(daemon);
    let daemon = Daemon::start_with(&h, &[], &env, None);
    // A few ticks of the restarted daemon: the first runs a staff round at once.
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(daemon);
    assert_eq!(room.received().len(), 1, "{:?}", room.received());
    // The owner's notice and the boss's escalation (it has been open for a day), once each.
    // (The owner's 09:00 Tokyo digest also goes out when the test runs after 09:00 there:
    // the daemon's clock is the real one. It is not what this test counts.)
    let to: Vec<String> = smtp
        .decoded()
        .iter()
        .filter(|m| {
            !m["headers"]["Subject"]
                .as_str()
                .unwrap_or("")
                .contains("open alert(s)")
        })
        .map(|m| m["envelope_to"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to.len(), 2, "{to:?}");
    assert!(
        to.contains(&"owner@shop.example".to_owned())
            && to.contains(&"boss@shop.example".to_owned())
    );
    let alerts = h.run(&["alerts", "--json"]).ok().json();
    assert!(
        alerts[0]["notified"].is_string() && alerts[0]["escalated"].is_string(),
        "{alerts}"
    );
}
