use super::*;

/// A sample report from `tests/data`, about message `m-7-0` to `aiko@example.jp`.
fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{message_id}}", "m-7-0")
        .replace("{{rcpt}}", "aiko@example.jp")
        .into_bytes()
}

const M7: MessageId = MessageId { seq: 7, n: 0 };

#[test]
fn a_dsn_for_an_unknown_user_is_a_hard_bounce_of_the_message_kizuna_sent() {
    let got = from_report(&sample("dsn_hard.eml")).unwrap();
    assert_eq!(got.len(), 1);
    let b = &got[0];
    assert_eq!((b.message, b.kind), (Some(M7), BounceKind::Hard));
    assert_eq!(b.address.as_deref(), Some("aiko@example.jp"));
    assert!(
        b.reason.starts_with("5.1.1 smtp; 550 5.1.1"),
        "{}",
        b.reason
    );
    assert!(
        b.reason.contains("User unknown"),
        "folded line joined: {}",
        b.reason
    );
    assert_eq!(b.key, "20261208010211.4XyZ1@mx.example.jp#1");
}

#[test]
fn a_delayed_dsn_is_soft_and_an_arf_report_a_complaint() {
    let soft = from_report(&sample("dsn_soft.eml")).unwrap();
    assert_eq!(
        (soft[0].kind, soft[0].message),
        (BounceKind::Soft, Some(M7))
    );
    assert!(soft[0].reason.starts_with("4.2.2"), "{}", soft[0].reason);
    let arf = from_report(&sample("arf_complaint.eml")).unwrap();
    assert_eq!(arf.len(), 1);
    assert_eq!(
        (arf[0].kind, arf[0].message),
        (BounceKind::Complaint, Some(M7))
    );
    assert_eq!(
        (arf[0].reason.as_str(), arf[0].address.as_deref()),
        ("abuse", Some("aiko@example.jp"))
    );
}

#[test]
fn without_kizunas_message_id_the_recipient_is_the_match() {
    let text = String::from_utf8(sample("dsn_hard.eml")).unwrap().replace(
        "Message-ID: <m-7-0@kizuna.example>",
        "Message-ID: <other@elsewhere.example>",
    );
    let got = from_report(text.as_bytes()).unwrap();
    assert_eq!(
        (got[0].message, got[0].address.as_deref()),
        (None, Some("aiko@example.jp"))
    );
}

#[test]
fn the_json_form_and_what_is_refused() {
    let got =
        from_json(br#"{"message_id":"m-7-0","kind":"complaint","reason":"abuse","id":"ses-1"}"#)
            .unwrap();
    assert_eq!(
        (got[0].message, got[0].kind, got[0].key.as_str()),
        (Some(M7), BounceKind::Complaint, "ses-1")
    );
    let by_address = from_json(br#"{"address":"aiko@example.jp","kind":"hard"}"#).unwrap();
    assert_eq!(by_address[0].message, None);
    for (body, says) in [
        (
            &br#"{"message_id":"m-7-0","kind":"bounced"}"#[..],
            "kind: \"bounced\"",
        ),
        (
            br#"{"message_id":"42","kind":"hard"}"#,
            "message_id: \"42\"",
        ),
        (br#"{"kind":"hard"}"#, "give message_id or address"),
        (
            br#"{"message_id":"m-7-0","kind":"hard","colour":1}"#,
            "unknown field `colour`",
        ),
        (b"not json", "not a report"),
    ] {
        let err = from_json(body).unwrap_err();
        assert!(err.contains(says), "{err}");
    }
    for (body, says) in [
        (&b"Subject: hello\r\n\r\njust a mail\r\n"[..], "not multipart/report"),
        (
            b"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
            "neither delivery-status nor feedback-report",
        ),
        (
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n--b--\r\n",
            "no message/delivery-status part",
        ),
    ] {
        let err = from_report(body).unwrap_err();
        assert!(err.contains(says), "{err}");
    }
}
