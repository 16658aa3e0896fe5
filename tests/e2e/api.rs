//! The HTTP API's tokens and roles.

use kizuna_tests::{
    TestHome,
    daemon::{Daemon, TOKEN, purchase},
};

const INGEST: &str = "ingest-token-0123456789";
const READ: &str = "read-token-0123456789";

fn daemon_with_roles(h: &TestHome) -> Daemon {
    Daemon::start_with(
        h,
        &[],
        &[("KIZUNA_INGEST_TOKEN", INGEST), ("KIZUNA_READ_TOKEN", READ)],
        None,
    )
}

#[test]
fn each_token_does_what_its_role_allows_and_no_more() {
    let h = TestHome::with_customer();
    let d = daemon_with_roles(&h);
    let event = serde_json::from_str(&purchase("e-1", "c-1", 100)).unwrap();
    // The shop's website: events only.
    assert_eq!(d.call("POST", "/events", Some(INGEST), Some(&event)).0, 202);
    let (status, body) = d.call("GET", "/customers/c-1", Some(INGEST), None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("needs a read token"),
        "{body}"
    );
    assert_eq!(d.call("POST", "/rules/reload", Some(INGEST), None).0, 403);
    // Reading: yes; ingest and changes: no.
    assert_eq!(d.call("GET", "/customers/c-1", Some(READ), None).0, 200);
    assert_eq!(d.call("POST", "/events", Some(READ), Some(&event)).0, 403);
    assert_eq!(d.call("POST", "/rules/reload", Some(READ), None).0, 403);
    // The admin token (the single token of before) does everything.
    assert_eq!(d.call("GET", "/customers/c-1", Some(TOKEN), None).0, 200);
    assert_eq!(d.call("POST", "/events", Some(TOKEN), Some(&event)).0, 202);
    assert_eq!(d.call("POST", "/rules/reload", Some(TOKEN), None).0, 200);
    // No token, or an unknown one: 401.
    for token in [None, Some("unknown-token-0123456789")] {
        let (status, body) = d.call("GET", "/customers/c-1", token, None);
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["code"], "unauthorized");
    }
}

#[test]
fn a_tokens_file_must_be_private_and_gives_roles() {
    use std::os::unix::fs::PermissionsExt;
    let h = TestHome::with_customer();
    let config = h.home().join("kizuna.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("tokens_file = \"\"", "tokens_file = \"tokens\""),
    )
    .unwrap();
    let file = h.home().join("tokens");
    std::fs::write(&file, format!("ingest {INGEST}\nread {READ}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = h.run_env(
        &["run", "--listen", "127.0.0.1:0"],
        &[("KIZUNA_TOKEN", TOKEN)],
    );
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("readable by others"),
        "{}",
        refused.stderr
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let d = Daemon::start(&h);
    assert_eq!(d.call("GET", "/customers/c-1", Some(READ), None).0, 200);
    assert_eq!(d.call("GET", "/customers/c-1", Some(INGEST), None).0, 403);
}
