use kizuna_tests::{TestHome, daemon::Daemon, smtp::SmtpServer};

const SECRET: &str = "unsubscribe-secret-0123456789";

/// A home whose c-1 (opted in to e-mail) gets mail through `smtp`, with opt-out links under
/// `https://shop.example/u` (the daemon behind a proxy).
fn home(smtp: &SmtpServer) -> TestHome {
    let h = TestHome::with_customer_opted_in();
    h.use_smtp(smtp.port);
    h.set_section(
        "unsubscribe",
        "url = \"https://shop.example/u\"\nsecret_env = \"UNSUB_SECRET\"\nprevious_secrets_env = \"UNSUB_OLD\"",
    );
    h
}

fn send(h: &TestHome, env: &[(&str, &str)], text: &str) {
    h.run_env(
        &[
            "send",
            "--customer",
            "c-1",
            "--channel",
            "email",
            "--template",
            "notice",
            "--var",
            "subject=新豆のご案内",
            "--var",
            &format!("text={text}"),
        ],
        env,
    )
    .ok();
}

/// POSTs a form body to `url`, with an `Accept-Language`; status and body.
fn post(url: &str, form: &str, lang: &str) -> (u16, String) {
    let mut resp = Daemon::agent()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept-Language", lang)
        .send(form)
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn get(url: &str, lang: &str) -> (u16, String) {
    let mut resp = Daemon::agent()
        .get(url)
        .header("Accept-Language", lang)
        .call()
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn one_click_from_the_mail_headers_opts_out_and_holds_the_mail_already_queued() {
    let smtp = SmtpServer::start();
    let h = home(&smtp);
    let env = [("UNSUB_SECRET", SECRET)];
    let daemon = Daemon::start_with(&h, &["--manual-clock"], &env, None);
    send(&h, &env, "エチオピアの浅煎りが入りました。");
    h.run_env(&["dispatch", "--now", "2026-12-08T10:00:00+09:00"], &env)
        .ok();

    // What the server received: the signed link, one-click capable, no customer id in it.
    let mail = smtp.decoded();
    assert_eq!(mail.len(), 1);
    let headers = &mail[0]["headers"];
    assert_eq!(
        headers["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let list = headers["List-Unsubscribe"].as_str().unwrap();
    let url = list
        .strip_prefix('<')
        .and_then(|l| l.split('>').next())
        .unwrap();
    let token = url.strip_prefix("https://shop.example/u/").unwrap();
    assert_eq!(token.len(), 32, "{url}");
    assert!(!url.contains("c-1"), "{url}");
    let local = format!("{}/u/{token}", daemon.base);

    // A second marketing mail is queued before the click.
    send(&h, &env, "二通目");

    // Looking changes nothing (mail scanners fetch links).
    let (status, page) = get(&local, "en-US,en;q=0.9");
    assert_eq!(status, 200);
    assert!(
        page.contains("Stop our news by email?") && page.contains("<form method=\"post\">"),
        "{page}"
    );
    let consent = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(
        consent["customer"]["consent"]["email"]["granted"], true,
        "{consent}"
    );

    // The mail client's one-click POST (RFC 8058).
    let (status, body) = post(&local, "List-Unsubscribe=One-Click", "");
    assert_eq!((status, body.as_str()), (200, "unsubscribed\n"));
    // Again: idempotent, nothing more stored.
    let events = |h: &TestHome| {
        h.run(&["customer", "show", "c-1", "--json"]).ok().json()["customer"]["stats"]["events"]
            .clone()
    };
    let before = events(&h);
    assert_eq!(post(&local, "List-Unsubscribe=One-Click", "").0, 200);
    assert_eq!(events(&h), before);

    // The queued mail is held by the consent guard at send time.
    h.run_env(&["dispatch", "--now", "2026-12-08T10:00:00+09:00"], &env)
        .ok();
    assert_eq!(smtp.decoded().len(), 1, "the second mail was not sent");
    let outbox = h.run(&["outbox", "list", "--json"]).ok().json();
    let second = &outbox.as_array().unwrap()[1];
    assert_eq!(second["status"]["state"], "suppressed", "{outbox}");
    assert_eq!(
        second["status"]["reason"],
        "the customer opted out of email"
    );
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let outs: Vec<_> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "opt_out")
        .collect();
    assert_eq!(outs.len(), 1, "two clicks, one opt-out: {shown}");
    assert_eq!(outs[0]["reason"], "unsubscribe link");
    assert_eq!(outs[0]["channel"], "email");
    assert_eq!(outs[0]["message"], "m-2-0");
}

#[test]
fn the_pages_confirm_then_offer_every_channel_and_a_forged_token_learns_nothing() {
    let smtp = SmtpServer::start();
    let h = home(&smtp);
    let env = [("UNSUB_SECRET", SECRET)];
    let daemon = Daemon::start_with(&h, &["--manual-clock"], &env, None);
    send(&h, &env, "テキスト");
    h.run_env(&["dispatch", "--now", "2026-12-08T10:00:00+09:00"], &env)
        .ok();
    let list = smtp.decoded()[0]["headers"]["List-Unsubscribe"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = list
        .split("/u/")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let local = format!("{}/u/{token}", daemon.base);

    // The person's way: a Japanese page, the button, then every channel.
    let (status, page) = get(&local, "ja,en;q=0.5");
    assert_eq!(status, 200);
    assert!(
        page.contains("<html lang=\"ja\">") && page.contains("email でのお知らせを停止しますか"),
        "{page}"
    );
    let (status, page) = post(&local, "confirm=1", "ja");
    assert_eq!(status, 200);
    assert!(
        page.contains("email でのお知らせを停止しました") && page.contains("name=\"all\""),
        "{page}"
    );
    let (status, page) = post(&local, "all=1", "en");
    assert_eq!(status, 200);
    assert!(page.contains("no more news on any channel"), "{page}");
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let opted_out: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "opt_out")
        .map(|e| e["channel"].as_str().unwrap())
        .collect();
    assert_eq!(opted_out, ["email", "sms"], "{shown}");

    // Forged, edited, unknown: one plain 400 page, nothing stored.
    let events = shown["customer"]["stats"]["events"].clone();
    let mut edited = token.clone().into_bytes();
    edited[5] = if edited[5] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    let mut answers = Vec::new();
    for bad in [
        edited.as_str(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not-a-token",
        &"x".repeat(300),
    ] {
        let url = format!("{}/u/{bad}", daemon.base);
        let (get_status, get_page) = get(&url, "en");
        let (post_status, post_page) = post(&url, "List-Unsubscribe=One-Click", "en");
        assert_eq!((get_status, post_status), (400, 400), "{bad}");
        answers.push(get_page);
        answers.push(post_page);
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "one answer for every reason"
    );
    assert!(answers[0].contains("This link is not valid"));
    let after = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(after["customer"]["stats"]["events"], events);
    // A body past the form's size is refused.
    let (status, _) = post(&local, &format!("all=1&pad={}", "x".repeat(4096)), "en");
    assert_eq!(status, 413);

    // Every channel's template may carry its message's link: an SMS with the short URL.
    std::fs::write(
        h.home().join("rules/templates/promo.sms"),
        "新豆入荷 停止:{{ unsubscribe_url }}",
    )
    .unwrap();
    h.run_env(
        &[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "profile",
            "phone=+81 90-1234-5678",
        ],
        &env,
    )
    .ok();
    h.run_env(
        &[
            "send",
            "--customer",
            "c-1",
            "--channel",
            "sms",
            "--template",
            "promo",
            "--class",
            "transactional",
        ],
        &env,
    )
    .ok();
    h.run_env(&["dispatch", "--now", "2026-12-08T10:00:00+09:00"], &env)
        .ok();
    let sms = std::fs::read_to_string(h.home().join("outbox/sms/sms.jsonl")).unwrap();
    let link = sms.split("停止:").nth(1).unwrap();
    let token: String = link
        .strip_prefix("https://shop.example/u/")
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 32, "{sms}");
    assert_eq!(get(&format!("{}/u/{token}", daemon.base), "ja").0, 200);
}
