use kizuna_core::{
    channel::{Channel, Delivery, OutgoingMessage},
    ids::CustomerId,
    rules::MessageClass,
    store::MessageId,
};
use kizuna_sms::{KannelChannel, KannelConfig};
use kizuna_tests::{kannel::Kannel, smtp::WebhookServer};

fn channel(url: &str, password: &str, dlr_url: Option<String>) -> KannelChannel {
    KannelChannel::new(KannelConfig {
        url: url.into(),
        username: "kizuna".into(),
        password: password.into(),
        from: "KIZUNA".into(),
        dlr_url,
        timeout: std::time::Duration::from_secs(5),
    })
}

fn sms(n: u32, to: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: MessageId { seq: 12, n },
        customer: CustomerId::new("c-1").unwrap(),
        to: to.into(),
        subject: None,
        body: body.into(),
        class: MessageClass::Service,
        template: "notice".into(),
        html: None,
        unsubscribe: None,
    }
}

#[test]
fn texts_reach_the_phone_network_intact_and_delivery_is_reported() {
    let gateway = Kannel::start("smspw");
    let reports = WebhookServer::start("unused");
    let dlr = format!("http://127.0.0.1:{}/dlr?id={{id}}&type=%d", reports.port);
    let ch = channel(&gateway.sendsms_url, "smspw", Some(dlr));
    ch.check().unwrap();

    let ascii = ch.send(&sms(0, "+81 90-1111-2222", "Your beans are ready."));
    assert!(
        matches!(&ascii, Delivery::Sent { receipt } if receipt.contains("1 part(s)")),
        "{ascii:?}"
    );
    let japanese = "ご注文の豆が焙煎できました。明日からお渡しできます。";
    let sent = ch.send(&sms(1, "+819033334444", japanese));
    assert!(
        matches!(&sent, Delivery::Sent { receipt } if receipt.contains("Ucs2")),
        "{sent:?}"
    );

    let got = gateway.wait_for("KIZUNA", 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].to.as_str(), got[0].text.as_str()),
        ("+819011112222", "Your beans are ready.")
    );
    assert_eq!(
        (got[1].to.as_str(), got[1].text.as_str()),
        ("+819033334444", japanese)
    );

    // The fake network reports delivery; Kannel calls our dlr-url with the outbox id.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while reports.gets().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut gets = reports.gets();
    gets.sort();
    assert_eq!(gets, ["/dlr?id=m-12-0&type=1", "/dlr?id=m-12-1&type=1"]);

    let long: String = "あ".repeat(150);
    let parts = ch.send(&sms(2, "+819055556666", &long));
    assert!(
        matches!(&parts, Delivery::Sent { receipt } if receipt.contains("150 characters, 3 part(s)")),
        "{parts:?}"
    );
}

#[test]
fn a_wrong_password_is_permanent_and_no_gateway_is_transient() {
    let gateway = Kannel::start("smspw");
    let wrong = channel(&gateway.sendsms_url, "nope", None);
    let refused = wrong.send(&sms(0, "+819011112222", "hello"));
    assert!(
        matches!(&refused, Delivery::Permanent { reason } if reason.contains("403")),
        "{refused:?}"
    );
    let bad_number = channel(&gateway.sendsms_url, "smspw", None).send(&sms(1, "call me", "hello"));
    assert!(matches!(bad_number, Delivery::Permanent { .. }));
    drop(gateway);
    let port = kizuna_tests::smtp::free_port();
    let down = channel(
        &format!("http://127.0.0.1:{port}/cgi-bin/sendsms"),
        "smspw",
        None,
    );
    assert!(matches!(
        down.send(&sms(2, "+819011112222", "hello")),
        Delivery::Transient { .. }
    ));
}

#[test]
fn dispatch_sends_sms_through_kannel_and_delivery_reports_become_events() {
    let gateway = Kannel::start("smspw");
    let h = kizuna_tests::TestHome::new();
    let listen = format!("127.0.0.1:{}", kizuna_tests::smtp::free_port());
    h.set_channel(
        "sms",
        &format!(
            "type = \"kannel\"\nurl = \"{}\"\ndlr_url = \"http://{listen}/channels/sms/dlr?id={{id}}&type=%d\"",
            gateway.sendsms_url
        ),
    );
    let file = h.file(
        "c.jsonl",
        r#"{"customer":"c-1","type":"profile","at":"2026-01-01T09:00:00+09:00","phone":"+81 90-7777-8888","tz":"Asia/Tokyo"}"#,
    );
    h.run(&["import", &file]).ok();
    let missing = h.run(&["channels", "check"]).fails();
    assert!(
        missing.stderr.contains("KIZUNA_KANNEL_PASSWORD"),
        "{}",
        missing.stderr
    );
    let env = [("KIZUNA_KANNEL_PASSWORD", "smspw")];
    let check = h.run_env(&["channels", "check"], &env).ok().stdout;
    assert!(
        check.contains("ok    sms: Kannel http://127.0.0.1:"),
        "{check}"
    );
    h.run(&[
        "send",
        "--customer",
        "c-1",
        "--channel",
        "sms",
        "--template",
        "notice",
        "--var",
        "text=お取り置きの豆をご用意しました",
        "--class",
        "service",
        "--at",
        "2026-03-05T10:00:00+09:00",
    ])
    .ok();
    // The receipts listener runs while the message goes out; the report comes back to it.
    let receipts = std::thread::scope(|s| {
        // The routes are the Kannel channel's, built with its settings and secret.
        let listener = s.spawn(|| {
            h.run_env(
                &[
                    "channels",
                    "receipts",
                    "--listen",
                    &listen,
                    "--max",
                    "1",
                    "--seconds",
                    "20",
                ],
                &env,
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        h.run_env(&["dispatch", "--now", "2026-03-05T10:00:00+09:00"], &env)
            .ok();
        listener.join().unwrap()
    });
    assert!(
        receipts.stdout.contains("recorded 1 delivery report"),
        "{receipts:?}"
    );
    let c1 = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let delivered = c1["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "message_delivered")
        .unwrap_or_else(|| panic!("{c1}"));
    assert_eq!(delivered["channel"], "sms");
    assert!(delivered["message"].as_str().unwrap().starts_with("m-"));
    let got = gateway.wait_for("KIZUNA", 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].to, "+819077778888");
    assert_eq!(got[0].text.trim(), "お取り置きの豆をご用意しました");
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    assert_eq!(outbox[0]["status"]["state"], "sent", "{outbox}");
}

#[test]
fn the_twilio_style_mode_posts_a_form_with_basic_auth() {
    use kizuna_sms::{TwilioChannel, TwilioConfig};
    let server = WebhookServer::start("token-123");
    let config = |token: &str| TwilioConfig {
        base_url: format!("http://127.0.0.1:{}", server.port),
        account_sid: "AC0001".into(),
        auth_token: token.into(),
        from: "+815012345678".into(),
        timeout: std::time::Duration::from_secs(5),
    };
    let ch = TwilioChannel::new(config("token-123"));
    let text = "ご来店ありがとうございました & またどうぞ";
    let sent = ch.send(&sms(0, "+81 90-1111-2222", text));
    assert!(
        matches!(&sent, Delivery::Sent { receipt } if receipt.contains("201 SM")),
        "{sent:?}"
    );
    let got = server.received();
    assert_eq!(got[0]["account"], "AC0001");
    assert_eq!(got[0]["twilio"]["To"], "+819011112222");
    assert_eq!(got[0]["twilio"]["From"], "+815012345678");
    assert_eq!(got[0]["twilio"]["Body"], text);

    let busy = sms(1, "+819000000001", "x");
    assert!(matches!(ch.send(&busy), Delivery::Transient { reason } if reason.contains("503")));
    assert!(matches!(ch.send(&busy), Delivery::Sent { .. }));
    assert!(
        matches!(ch.send(&sms(2, "+819912345678", "x")), Delivery::Permanent { reason } if reason.contains("400"))
    );
    let wrong = TwilioChannel::new(config("nope"));
    assert!(
        matches!(wrong.send(&sms(3, "+819011112222", "x")), Delivery::Permanent { reason } if reason.contains("401"))
    );
    assert_eq!(server.received().len(), 2);
}

#[test]
fn a_customer_texting_back_through_kannel_becomes_a_reply_and_stop_opts_out() {
    use kizuna_tests::daemon::{Daemon, TOKEN};
    let h = kizuna_tests::TestHome::new();
    // The routes are the Kannel channel's: a home that sends SMS through Kannel answers
    // its callbacks (this test only hears from customers, so no gateway needs to listen
    // for sendsms).
    h.set_channel(
        "sms",
        "type = \"kannel\"\nurl = \"http://127.0.0.1:9/cgi-bin/sendsms\"",
    );
    let d = Daemon::start_with(&h, &[], &[("KIZUNA_KANNEL_PASSWORD", "secret")], None);
    let profile = r#"{"customer":"c-1","type":"profile","at":"2026-01-01T09:00:00+09:00","phone":"+81 90-7777-8888","tz":"Asia/Tokyo"}"#;
    let inquiry = r#"{"id":"q-1","customer":"c-1","type":"inquiry","at":"2026-01-02T09:00:00+09:00","subject":"opening hours"}"#;
    assert_eq!(d.post(&format!("{profile}\n{inquiry}"), Some(TOKEN)).0, 202);
    let url = format!(
        "{}/channels/sms/inbound?token={TOKEN}&from=%p&to=%P&text=%a&id=%I&ts=%T&coding=%c",
        d.base
    );
    let kannel = Kannel::start_with_inbound("secret", Some(&url));
    let inbound = |d: &Daemon| {
        let mut resp = Daemon::agent()
            .get(format!("{}/metrics", d.base))
            .call()
            .unwrap();
        let text = resp.body_mut().read_to_string().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("kizuna_inbound_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let wait_for = |n: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while inbound(&d) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "inbound SMS {n} not recorded"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // The national spelling of the number in the profile, plain text.
    kannel.send_from_phone("09077778888", "5555", "text", "Thanks, see you Friday");
    wait_for(1);
    // 配信停止 ("stop sending") in UCS-2, from the international spelling.
    kannel.send_from_phone("+819077778888", "5555", "ucs2", "%91MO%E1P%5Ckb");
    wait_for(2);

    // Straight over HTTP: the token is required, bad input says what is wrong, an unknown
    // number is refused, and a retried callback is recognised.
    let get = |query: &str| {
        let mut resp = Daemon::agent()
            .get(format!("{}/channels/sms/inbound?{query}", d.base))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(get("from=09077778888&text=hi").0, 401);
    let (status, body) = get(&format!("token={TOKEN}&text=hi"));
    assert_eq!(status, 400);
    assert!(body.contains("`from`"), "{body}");
    assert_eq!(
        get(&format!("token={TOKEN}&from=0311112222&text=hi")).0,
        404
    );
    let once = format!("token={TOKEN}&from=09077778888&text=again&id=gw-1&ts=1790000000");
    let (status, body) = get(&once);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"duplicate\":false"), "{body}");
    let (_, body) = get(&once);
    assert!(body.contains("\"duplicate\":true"), "{body}");
    assert_eq!(inbound(&d), 4, "a retried callback is answered 200 again");

    // Kannel's delivery reports, on the same channel's other route (open: Kannel sends no
    // token): a report for a message in the outbox becomes an event; for no message, 404;
    // nonsense, 400; a report that changes nothing (buffered), 200 and nothing recorded.
    let request = r#"{"customer":"c-1","type":"send_request","at":"2026-01-03T10:00:00+09:00","channel":"sms","template":"notice","class":"service","vars":{"text":"ready"}}"#;
    assert_eq!(d.post(request, Some(TOKEN)).0, 202);
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let id = format!("m-{}-{}", outbox[0]["id"]["seq"], outbox[0]["id"]["n"]);
    let dlr = |query: &str| {
        let mut resp = Daemon::agent()
            .get(format!("{}/channels/sms/dlr?{query}", d.base))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    let (status, body) = dlr(&format!("id={id}&type=1"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("dlr-{id}-1")), "{body}");
    assert_eq!(dlr("id=m-999-0&type=1").0, 404, "no such message");
    assert_eq!(dlr("id=nonsense&type=1").0, 400);
    let (status, body) = dlr(&format!("id={id}&type=4"));
    assert_eq!((status, body.contains("null")), (200, true), "{body}");

    drop(kannel);
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let replies: Vec<&serde_json::Value> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "customer_reply")
        .collect();
    let mut texts: Vec<&str> = replies
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        ["Thanks, see you Friday", "again", "配信停止"],
        "{shown}"
    );
    assert!(replies.iter().all(|e| e["channel"] == "sms"));
    assert!(
        shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "opt_out" && e["channel"] == "sms"),
        "the stop word opts out of SMS: {shown}"
    );
    assert!(
        shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "message_delivered" && e["message"] == id.as_str()),
        "{shown}"
    );
    // A customer writing back is not the staff answering: the inquiry stays open.
    let open = &shown["customer"]["stats"]["open_inquiries"];
    assert_eq!(open.as_array().map(Vec::len), Some(1), "{shown}");
}
