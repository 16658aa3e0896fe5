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

/// `value` without the measured durations (`…_seconds`), which differ from run to run.
fn without_timings(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.retain(|k, _| !k.ends_with("_seconds"));
        for v in map.values_mut() {
            *v = without_timings(v.take());
        }
    }
    value
}

#[test]
fn every_admin_endpoint_answers_as_the_cli_does() {
    let h = crate::admin::business();
    let d = Daemon::start_with(
        &h,
        &["--manual-clock"],
        &[("KIZUNA_INGEST_TOKEN", INGEST), ("KIZUNA_READ_TOKEN", READ)],
        None,
    );
    // The same question through HTTP and through the CLI: the same JSON.
    let same: &[(&str, &[&str])] = &[
        ("/v1/status", &["status", "--json"]),
        (
            "/v1/customers?offset=1&limit=2",
            &[
                "customer", "list", "--json", "--offset", "1", "--limit", "2",
            ],
        ),
        (
            "/v1/customers/c-1?events=3",
            &["customer", "show", "c-1", "--json", "--events", "3"],
        ),
        (
            "/v1/customers/c-1/points?at=2031-06-01T00:00:00Z",
            &[
                "points",
                "show",
                "c-1",
                "--at",
                "2031-06-01T00:00:00Z",
                "--json",
            ],
        ),
        ("/v1/alerts?open=true", &["alerts", "--open", "--json"]),
        ("/v1/outbox", &["outbox", "list", "--json"]),
        (
            "/v1/segments?now=2031-06-01T00:00:00Z",
            &["segment", "list", "--now", "2031-06-01T00:00:00Z", "--json"],
        ),
        (
            "/v1/segments/email_ok?now=2031-06-01T00:00:00Z",
            &[
                "segment",
                "show",
                "email_ok",
                "--now",
                "2031-06-01T00:00:00Z",
                "--json",
            ],
        ),
        ("/v1/reports/guards", &["report", "guards", "--json"]),
        (
            "/v1/reports/kpi?by=channel",
            &["report", "kpi", "--by", "channel", "--json"],
        ),
        (
            "/v1/reports/response?by=staff&now=2031-06-01T00:00:00Z",
            &[
                "report",
                "response",
                "--by",
                "staff",
                "--now",
                "2031-06-01T00:00:00Z",
                "--json",
            ],
        ),
        ("/v1/rules/errors", &["rules", "errors", "--json"]),
    ];
    for (path, args) in same {
        let (status, body) = d.call("GET", path, Some(READ), None);
        assert_eq!(status, 200, "{path}: {body}");
        let cli = h.run(args).ok().json();
        assert_eq!(without_timings(body), without_timings(cli), "{path}");
    }
    // Errors: the CLI's message, a status and a stable code.
    let (status, body) = d.call("GET", "/v1/customers/c-404", Some(READ), None);
    assert_eq!(
        (status, &body["code"]),
        (404, &"not_found".into()),
        "{body}"
    );
    assert_eq!(body["error"], "no customer c-404");
    let cli = h.run(&["customer", "show", "c-404"]).fails();
    assert_eq!(cli.stderr.trim(), "error: no customer c-404");
    let (status, body) = d.call("GET", "/v1/reports/rfm", Some(READ), None);
    assert_eq!((status, &body["code"]), (400, &"invalid".into()), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("run `kizuna rfm` first"),
        "{body}"
    );
    let (status, body) = d.call("GET", "/v1/customers?limit=many", Some(READ), None);
    assert_eq!((status, &body["code"]), (400, &"invalid".into()), "{body}");
    let (status, body) = d.call("GET", "/v1/reports/kpi?by=week", Some(READ), None);
    assert_eq!(status, 400, "{body}");
    // Changes need the admin token.
    let campaign = serde_json::json!({
        "segment": "email_ok", "template": "notice", "dry_run": true,
        "vars": {"subject": "News", "text": "Hello"}, "now": "2031-06-01T00:00:00Z",
    });
    let (status, _) = d.call(
        "POST",
        "/v1/campaigns/newsletter/run",
        Some(READ),
        Some(&campaign),
    );
    assert_eq!(status, 403);
    let (status, body) = d.call(
        "POST",
        "/v1/campaigns/newsletter/run",
        Some(TOKEN),
        Some(&campaign),
    );
    assert_eq!(status, 200, "{body}");
    let cli = h
        .run(&[
            "campaign",
            "run",
            "newsletter",
            "--segment",
            "email_ok",
            "--template",
            "notice",
            "--var",
            "subject=News",
            "--var",
            "text=Hello",
            "--now",
            "2031-06-01T00:00:00Z",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(body, cli);
    let typo = serde_json::json!({"segment": "email_ok", "dryrun": true});
    let (status, body) = d.call(
        "POST",
        "/v1/campaigns/newsletter/run",
        Some(TOKEN),
        Some(&typo),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("dryrun"), "{body}");
    let send = serde_json::json!({
        "customer": "c-3", "channel": "email", "template": "notice", "class": "service",
        "vars": {"subject": "Hi", "text": "Hello"}, "at": "2031-06-01T01:00:00Z",
    });
    let (status, body) = d.call("POST", "/v1/send", Some(TOKEN), Some(&send));
    assert_eq!(status, 200, "{body}");
    let (_, outbox) = d.call(
        "GET",
        "/v1/outbox?customer=c-3&status=pending",
        Some(READ),
        None,
    );
    // Message ids are stored (and listed) as their parts; `m-SEQ-N` names one.
    let id = &outbox[0]["id"];
    assert!(id["seq"].is_u64(), "no pending message for c-3: {outbox}");
    let id = format!("m-{}-{}", id["seq"], id["n"]);
    let (status, body) = d.call("POST", &format!("/v1/outbox/{id}/retry"), Some(TOKEN), None);
    assert_eq!(
        (status, &body["status"]),
        (200, &"pending".into()),
        "{body}"
    );
    let (status, body) = d.call("POST", "/v1/outbox/m-999999-0/retry", Some(TOKEN), None);
    assert_eq!(
        (status, &body["code"]),
        (404, &"not_found".into()),
        "{body}"
    );
    // A replay of a candidate sent in the request.
    let points = std::fs::read_to_string(h.home().join("rules/points.rhai")).unwrap();
    let replay = serde_json::json!({
        "scripts": {"points.rhai": points.replace("/ 100", "/ 50")},
        "until": "2031-06-05T00:00:00Z",
    });
    let (status, body) = d.call("POST", "/v1/rules/replay", Some(TOKEN), Some(&replay));
    assert_eq!(status, 200, "{body}");
    let escape = serde_json::json!({"scripts": {"../escape.rhai": ""}});
    let (status, body) = d.call("POST", "/v1/rules/replay", Some(TOKEN), Some(&escape));
    assert_eq!(status, 400, "{body}");
    assert!(!h.home().join("escape.rhai").exists());
    // Rules check and test: the live rules as the CLI sees them, and a candidate whose
    // every error comes back with file, line and column.
    let cli = |args: &[&str]| h.run(args).json();
    let (status, body) = d.call(
        "POST",
        "/v1/rules/check",
        Some(TOKEN),
        Some(&serde_json::json!({})),
    );
    assert_eq!((status, &body), (200, &cli(&["rules", "check", "--json"])));
    assert_eq!(body["ok"], true, "{body}");
    let (status, body) = d.call(
        "POST",
        "/v1/rules/test",
        Some(TOKEN),
        Some(&serde_json::json!({})),
    );
    assert_eq!((status, &body), (200, &cli(&["rules", "test", "--json"])));
    let bad = "fn on_event(e, c) {\n    let x = ;\n}\n";
    let candidate = serde_json::json!({"scripts": {"points.rhai": points, "oops.rhai": bad}});
    let (status, body) = d.call("POST", "/v1/rules/check", Some(TOKEN), Some(&candidate));
    assert_eq!((status, &body["code"]), (400, &"invalid".into()), "{body}");
    let errors = &body["details"]["errors"];
    assert_eq!(
        (&errors[0]["file"], &errors[0]["line"]),
        (&"oops.rhai".into(), &2.into()),
        "{body}"
    );
    std::fs::create_dir_all(h.dir().join("cand")).unwrap();
    std::fs::write(h.dir().join("cand/points.rhai"), &points).unwrap();
    std::fs::write(h.dir().join("cand/oops.rhai"), bad).unwrap();
    let offline = h.run(&["rules", "check", "cand", "--json"]).fails().json();
    assert_eq!(body["details"], offline, "the same report as the CLI's");
    let failing = serde_json::json!({"scripts": {
        "points.rhai": points.replace("/ 100", "/ 50"),
        "points.test.json": std::fs::read_to_string(h.home().join("rules/points.test.json")).unwrap(),
    }});
    let (status, body) = d.call("POST", "/v1/rules/test", Some(TOKEN), Some(&failing));
    assert_eq!((status, &body["code"]), (400, &"invalid".into()), "{body}");
    assert!(
        body["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| !r["failures"].as_array().unwrap().is_empty()),
        "{body}"
    );
    assert_eq!(
        d.call(
            "POST",
            "/v1/rules/check",
            Some(READ),
            Some(&serde_json::json!({}))
        )
        .0,
        403
    );
    // Erase: once, then not found.
    assert_eq!(
        d.call("DELETE", "/v1/customers/c-2", Some(READ), None).0,
        403
    );
    let (status, body) = d.call("DELETE", "/v1/customers/c-2", Some(TOKEN), None);
    assert_eq!((status, &body["erased"]), (200, &"c-2".into()), "{body}");
    let (status, body) = d.call("DELETE", "/v1/customers/c-2", Some(TOKEN), None);
    assert_eq!(
        (status, &body["code"]),
        (404, &"not_found".into()),
        "{body}"
    );
    // The shop's token reaches none of it, and events go in at /v1/events too.
    assert_eq!(d.call("GET", "/v1/customers", Some(INGEST), None).0, 403);
    let event = serde_json::from_str(&purchase("e-v1", "c-1", 100)).unwrap();
    assert_eq!(
        d.call("POST", "/v1/events", Some(INGEST), Some(&event)).0,
        202
    );
}

#[test]
fn the_served_openapi_document_is_the_checked_in_one() {
    let h = TestHome::with_customer();
    let d = Daemon::start(&h);
    let (status, served) = d.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    let checked_in: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(served, checked_in);
    let printed = h.run(&["openapi"]).ok().json();
    assert_eq!(printed, checked_in);
    // Every path the API serves is documented.
    for path in [
        "/v1/status",
        "/v1/customers",
        "/v1/alerts",
        "/v1/reports/kpi",
        "/v1/send",
    ] {
        assert!(served["paths"][path].is_object(), "{path}");
    }
}
