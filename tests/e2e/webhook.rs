use kizuna_core::{
    channel::{Channel, Delivery, OutgoingMessage},
    ids::CustomerId,
    rules::MessageClass,
    store::MessageId,
};
use kizuna_tests::{TestHome, smtp::WebhookServer};
use kizuna_webhook::WebhookChannel;

const SECRET: &str = "s3cret-for-tests";

fn message(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: MessageId { seq: 12, n: 1 },
        customer: CustomerId::new(to).unwrap(),
        to: to.into(),
        subject: Some("ご予約の確認".into()),
        body: "明日 10:00 にお待ちしています。".into(),
        class: MessageClass::Service,
        template: "booking".into(),
        html: None,
        unsubscribe: None,
    }
}

#[test]
fn a_signed_post_is_accepted_and_statuses_map_to_outcomes() {
    let server = WebhookServer::start(SECRET);
    let url = format!("http://127.0.0.1:{}/hook", server.port);
    let channel = WebhookChannel::new(&url, SECRET, std::time::Duration::from_secs(5));
    channel.check().unwrap();
    assert!(matches!(
        channel.send(&message("c-1")),
        Delivery::Sent { .. }
    ));
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["message"]["body"], "明日 10:00 にお待ちしています。");
    assert_eq!(got[0]["message"]["subject"], "ご予約の確認");
    assert_eq!(got[0]["message_id"], "m-12-1");

    // 503 is transient; the retry (same message id) is accepted once.
    let busy = message("busy-1");
    assert!(
        matches!(channel.send(&busy), Delivery::Transient { reason } if reason.contains("503"))
    );
    assert!(matches!(channel.send(&busy), Delivery::Sent { .. }));
    // Other 4xx are permanent.
    assert!(
        matches!(channel.send(&message("bad-1")), Delivery::Permanent { reason } if reason.contains("422"))
    );
    // A wrong secret is refused by the receiver: 401, permanent.
    let forged = WebhookChannel::new(&url, "wrong", std::time::Duration::from_secs(5));
    assert!(
        matches!(forged.send(&message("c-2")), Delivery::Permanent { reason } if reason.contains("401"))
    );
    assert!(forged.check().is_err());
    assert_eq!(server.received().len(), 2, "c-1 and busy-1, nothing forged");
    // Nobody listening: transient.
    let port = kizuna_tests::smtp::free_port();
    let down = WebhookChannel::new(
        format!("http://127.0.0.1:{port}/hook"),
        SECRET,
        std::time::Duration::from_secs(2),
    );
    assert!(matches!(
        down.send(&message("c-3")),
        Delivery::Transient { .. }
    ));
}

#[test]
fn a_script_sends_on_the_webhook_channel_through_the_guards() {
    let server = WebhookServer::start(SECRET);
    let h = TestHome::new();
    h.set_channel(
        "webhook",
        &format!(
            "type = \"webhook\"\nurl = \"http://127.0.0.1:{}/hook\"",
            server.port
        ),
    );
    std::fs::write(
        h.home().join("rules/templates/booking.webhook"),
        "Subject: ご予約\n\n{{ vars.when }} にお待ちしています。\n",
    )
    .unwrap();
    let env = [("KIZUNA_WEBHOOK_SECRET", SECRET)];
    let missing = h.run(&["channels", "check"]).fails();
    assert!(
        missing.stderr.contains("KIZUNA_WEBHOOK_SECRET"),
        "{}",
        missing.stderr
    );
    let check = h.run_env(&["channels", "check"], &env).ok().stdout;
    assert!(
        check.contains("ok    webhook: POST http://127.0.0.1:"),
        "{check}"
    );

    let file = h.file(
        "c.jsonl",
        r#"{"customer":"c-1","type":"profile","at":"2026-01-01T09:00:00+09:00","tz":"Asia/Tokyo"}"#,
    );
    h.run(&["import", &file]).ok();
    h.run(&[
        "send",
        "--customer",
        "c-1",
        "--channel",
        "webhook",
        "--template",
        "booking",
        "--var",
        "when=明日 10:00",
        "--class",
        "service",
        "--at",
        "2026-03-05T10:00:00+09:00",
    ])
    .ok();
    h.run_env(&["dispatch", "--now", "2026-03-05T10:00:00+09:00"], &env)
        .ok();
    let got = server.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["message"]["to"], "c-1");
    assert_eq!(
        got[0]["message"]["body"].as_str().unwrap().trim(),
        "明日 10:00 にお待ちしています。"
    );
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"]["state"], "sent");
}
