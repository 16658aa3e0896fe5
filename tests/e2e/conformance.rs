//! The exported conformance suite ([`kizuna_channel_test`]) run for every plugin kizuna
//! ships: file (e-mail and SMS), SMTP, Kannel, Twilio-style and webhook channels, each
//! against the real thing. (LINE runs it in its own crate, against its test server.)

use std::path::Path;

use std::sync::Arc;

use kizuna_channel_test::{Case, conforms};
use kizuna_core::channel::{Channel, Delivery, FileEmailChannel, OutgoingMessage};
use kizuna_tests::{
    kannel::Kannel,
    smtp::{SmtpServer, WebhookServer},
};

/// Trouble on our side for a file channel: moving `dir` to `aside` and putting a file
/// where it was, and putting it back.
fn in_the_way<'a>(dir: &'a Path, aside: &'a Path) -> (impl Fn() + 'a, impl Fn() + 'a) {
    let break_it = move || {
        std::fs::rename(dir, aside).unwrap();
        std::fs::write(dir, "in the way").unwrap();
    };
    let heal = move || {
        std::fs::remove_file(dir).unwrap();
        std::fs::rename(aside, dir).unwrap();
    };
    (break_it, heal)
}

#[test]
fn the_file_channel_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("email");
    let aside = dir.path().join("aside");
    let channel = FileEmailChannel::new(&outbox, "shop@kizuna.example");
    let count = || {
        std::fs::read_dir(&outbox)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    };
    let (break_it, heal) = in_the_way(&outbox, &aside);
    conforms(
        "file",
        &Case {
            channel: Arc::new(channel),
            ok: "a@example.jp",
            flaky: "b@example.jp",
            refused: "not an address",
            break_it: &break_it,
            heal: &heal,
            delivered: &count,
        },
    );
}

#[test]
fn the_file_sms_channel_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("sms");
    let aside = dir.path().join("aside");
    let channel = kizuna_core::channel::FileSmsChannel::new(&outbox);
    let count = || {
        std::fs::read_to_string(outbox.join("sms.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let (break_it, heal) = in_the_way(&outbox, &aside);
    conforms(
        "file sms",
        &Case {
            channel: Arc::new(channel),
            ok: "090-1234-5678",
            flaky: "+81 90 1234 5679",
            refused: "not a number",
            break_it: &break_it,
            heal: &heal,
            delivered: &count,
        },
    );
}

#[test]
fn the_smtp_channel_conforms() {
    let server = SmtpServer::start();
    let channel = kizuna_email::SmtpChannel::new(&kizuna_email::SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        security: kizuna_email::Security::Plain,
        credentials: None,
        from: "shop@kizuna.example".into(),
        reply_to: None,
        unsubscribe_mailto: None,
        pool_size: 2,
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    conforms(
        "smtp",
        &Case {
            channel: Arc::new(channel),
            ok: "a@example.jp",
            flaky: "busy@example.jp",
            refused: "reject@example.jp",
            break_it: &|| {},
            heal: &|| {},
            delivered: &|| server.received().len(),
        },
    );
}

#[test]
fn the_webhook_channel_conforms() {
    let server = WebhookServer::start("k");
    let channel = kizuna_webhook::WebhookChannel::new(
        format!("http://127.0.0.1:{}/hook", server.port),
        "k",
        std::time::Duration::from_secs(5),
    );
    conforms(
        "webhook",
        &Case {
            channel: Arc::new(channel),
            ok: "c-1",
            flaky: "busy-1",
            refused: "bad-1",
            break_it: &|| {},
            heal: &|| {},
            delivered: &|| server.received().len(),
        },
    );
}

#[test]
fn the_chat_channel_conforms() {
    let server = WebhookServer::start("room-token");
    let channel = kizuna_webhook::ChatChannel::new(
        format!("http://127.0.0.1:{}/chat/room-token", server.port),
        std::time::Duration::from_secs(5),
    );
    // The address on a chat channel is who the text mentions, put in front of it: the
    // receiver fails texts that start "busy" once and refuses those that start "bad".
    conforms(
        "chat",
        &Case {
            channel: Arc::new(channel),
            ok: "@ken",
            flaky: "busy",
            refused: "bad",
            break_it: &|| {},
            heal: &|| {},
            delivered: &|| server.received().len(),
        },
    );
    let got = server.received();
    assert_eq!(got[0]["chat"], "@ken conformance\n同じ結果になること");
    let wrong = kizuna_webhook::ChatChannel::new(
        format!("http://127.0.0.1:{}/chat/guessed", server.port),
        std::time::Duration::from_secs(5),
    );
    let refused = wrong.send(&kizuna_channel_test::message(9, "@ken"));
    assert!(
        matches!(&refused, Delivery::Permanent { reason } if reason.contains("404: no_team") && !reason.contains("guessed")),
        "{refused:?}"
    );
}

#[test]
fn the_kannel_channel_conforms() {
    let gateway = Kannel::start("smspw");
    let channel = kizuna_sms::KannelChannel::new(kizuna_sms::KannelConfig {
        url: gateway.sendsms_url.clone(),
        username: "kizuna".into(),
        password: "smspw".into(),
        from: "KIZUNA".into(),
        dlr_url: None,
        timeout: std::time::Duration::from_secs(5),
    });
    // Kannel has no "fail once" number: the trouble is the gateway being away, played by
    // a twin channel pointed at a port nobody listens on.
    let port = kizuna_tests::smtp::free_port();
    let away = kizuna_sms::KannelChannel::new(kizuna_sms::KannelConfig {
        url: format!("http://127.0.0.1:{port}/cgi-bin/sendsms"),
        username: "kizuna".into(),
        password: "smspw".into(),
        from: "KIZUNA".into(),
        dlr_url: None,
        timeout: std::time::Duration::from_secs(2),
    });
    let switch = Arc::new(Switch {
        away,
        back: channel,
        down: std::sync::atomic::AtomicBool::new(false),
    });
    let set = |down: bool| switch.down.store(down, std::sync::atomic::Ordering::SeqCst);
    conforms(
        "kannel",
        &Case {
            channel: switch.clone(),
            ok: "+819011112222",
            flaky: "+819000000001",
            refused: "call me maybe",
            break_it: &|| set(true),
            heal: &|| set(false),
            delivered: &|| gateway.delivered("KIZUNA").len(),
        },
    );
}

/// The Kannel channel, or its twin that finds nobody home while `down`.
struct Switch {
    away: kizuna_sms::KannelChannel,
    back: kizuna_sms::KannelChannel,
    down: std::sync::atomic::AtomicBool,
}

impl Channel for Switch {
    fn describe(&self) -> String {
        self.back.describe()
    }
    fn send(&self, m: &OutgoingMessage) -> Delivery {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            self.away.send(m)
        } else {
            self.back.send(m)
        }
    }
}

#[test]
fn the_twilio_style_channel_conforms() {
    let server = WebhookServer::start("tok");
    let channel = kizuna_sms::TwilioChannel::new(kizuna_sms::TwilioConfig {
        base_url: format!("http://127.0.0.1:{}", server.port),
        account_sid: "AC1".into(),
        auth_token: "tok".into(),
        from: "+815000000000".into(),
        timeout: std::time::Duration::from_secs(5),
    });
    conforms(
        "twilio",
        &Case {
            channel: Arc::new(channel),
            ok: "+819011112222",
            flaky: "+819000000002",
            refused: "+819911112222",
            break_it: &|| {},
            heal: &|| {},
            delivered: &|| server.received().len(),
        },
    );
}
