//! The LINE channel against the local LINE server: the conformance suite every channel
//! passes, and what is LINE's own (the retry key, 429, LINE's error messages, the check).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use kizuna_channel::{Channel, CustomerId, Delivery, MessageClass, MessageId, OutgoingMessage};
use kizuna_channel_test::{Case, conforms};
use kizuna_line::{
    LineChannel, LineConfig,
    testing::{LineServer, NOT_A_FRIEND},
};

const TOKEN: &str = "line-token-for-tests";
const ALICE: &str = "U4af4980629a0c4af6e0b2a0c5b6c2f7e";
const BOB: &str = "U0123456789abcdef0123456789abcdef";

fn channel(server: &LineServer, token: &str) -> LineChannel {
    LineChannel::new(LineConfig {
        base_url: server.base_url.clone(),
        token: token.into(),
        timeout: std::time::Duration::from_secs(5),
    })
}

fn message(n: u32, to: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: MessageId { seq: 40, n },
        customer: CustomerId::new("c-1").unwrap(),
        to: to.into(),
        subject: None,
        body: body.into(),
        html: None,
        unsubscribe: None,
        class: MessageClass::Service,
        template: "notice".into(),
    }
}

#[test]
fn the_line_channel_conforms() {
    let server = LineServer::start(TOKEN);
    let lose = server.clone();
    conforms(
        "line",
        &Case {
            channel: Arc::new(channel(&server, TOKEN)),
            ok: ALICE,
            flaky: BOB,
            refused: NOT_A_FRIEND,
            // LINE takes the push and the answer is lost: the retry, with the same key,
            // is told "already accepted" and counts as sent; BOB gets it once.
            break_it: &move || lose.lose_next_answer_to(BOB),
            heal: &|| {},
            delivered: &|| server.pushed().len(),
        },
    );
    let to_bob: Vec<_> = server
        .pushed()
        .into_iter()
        .filter(|p| p.to == BOB)
        .collect();
    assert_eq!(to_bob.len(), 1, "{to_bob:?}");
}

#[test]
fn a_push_is_a_text_to_the_user_with_a_retry_key_and_line_errors_are_kept() {
    let server = LineServer::start(TOKEN);
    let ch = channel(&server, TOKEN);
    assert_eq!(ch.check(), Ok(()));
    let mut m = message(0, ALICE, "お取り置きの豆をご用意しました");
    m.subject = Some("ご来店のご案内".into());
    let sent = ch.send(&m);
    assert!(
        matches!(&sent, Delivery::Sent { receipt } if receipt.contains("req-")),
        "{sent:?}"
    );
    let pushed = server.pushed();
    assert_eq!(pushed[0].to, ALICE);
    assert_eq!(
        pushed[0].text,
        "ご来店のご案内\n\nお取り置きの豆をご用意しました"
    );
    assert_eq!(
        pushed[0].retry_key.as_deref(),
        Some(kizuna_line::retry_key(&m).as_str())
    );

    // 429 is LINE asking to slow down: transient, and nothing was executed.
    server.fail_next(429);
    let busy = ch.send(&message(1, ALICE, "x"));
    assert!(
        matches!(&busy, Delivery::Transient { reason } if reason.contains("429")),
        "{busy:?}"
    );
    server.fail_next(503);
    assert!(matches!(
        ch.send(&message(1, ALICE, "x")),
        Delivery::Transient { .. }
    ));
    assert!(matches!(
        ch.send(&message(1, ALICE, "x")),
        Delivery::Sent { .. }
    ));

    // Other 4xx are permanent, with LINE's words (and details) as the reason.
    let long = ch.send(&message(2, ALICE, &"あ".repeat(5001)));
    assert!(
        matches!(&long, Delivery::Permanent { reason } if reason.contains("5000")),
        "{long:?}"
    );
    let stranger = ch.send(&message(3, NOT_A_FRIEND, "x"));
    assert!(
        matches!(&stranger, Delivery::Permanent { reason } if reason.contains("LINE 400: Failed to send messages")),
        "{stranger:?}"
    );
    let wrong = channel(&server, "not-the-token");
    let refused = wrong.send(&message(4, ALICE, "x"));
    assert!(
        matches!(&refused, Delivery::Permanent { reason } if reason.contains("401") && reason.contains("Authentication failed")),
        "{refused:?}"
    );
    assert!(wrong.check().unwrap_err().contains("401"));
    assert!(matches!(
        ch.send(&message(5, "c-1", "x")),
        Delivery::Permanent { .. }
    ));
    assert_eq!(server.pushed().len(), 2);
}

#[test]
fn an_unreachable_line_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ch = LineChannel::new(LineConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        token: TOKEN.into(),
        timeout: std::time::Duration::from_secs(2),
    });
    assert!(matches!(
        ch.send(&message(0, ALICE, "x")),
        Delivery::Transient { .. }
    ));
    assert!(ch.check().is_err());
}
