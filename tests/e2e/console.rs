use std::time::Duration;

use fantoccini::key::Key;
use kizuna_tests::{
    TestHome,
    browser::Browser,
    daemon::{Daemon, TOKEN},
};

const READ: &str = "read-token-0123456789";
const XSS: &str = "<img src=x onerror=alert(1)>";

/// A home with Aiko (c-1, a purchase: points) and a customer whose name is markup (c-2).
fn shop() -> TestHome {
    let h = TestHome::new();
    let csv = h.file(
        "c.csv",
        &format!("id,name,email,tz\nc-1,Aiko,aiko@example.jp,Asia/Tokyo\nc-2,{XSS},x@example.jp,Asia/Tokyo\n"),
    );
    h.run(&["import", &csv, "--at", "2026-03-01T00:00:00Z"])
        .ok();
    h.run(&[
        "event",
        "add",
        "--customer",
        "c-1",
        "--type",
        "purchase",
        "--at",
        "2026-03-02T10:00:00+09:00",
        "amount=4800",
    ])
    .ok();
    h
}

fn start(h: &TestHome) -> Daemon {
    Daemon::start_with(h, &[], &[("KIZUNA_READ_TOKEN", READ)], None)
}

/// An HTTP client that follows no redirect.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Logs in with `token`; the session cookie (`name=value`).
fn login(daemon: &Daemon, token: &str) -> Option<String> {
    let resp = agent()
        .post(format!("{}/console/login", daemon.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}"))
        .unwrap();
    resp.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn get(daemon: &Daemon, path: &str, cookie: &str) -> (u16, String, Option<String>) {
    let mut resp = agent()
        .get(format!("{}{path}", daemon.base))
        .header("Cookie", cookie)
        .call()
        .unwrap();
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
        csp,
    )
}

fn post(daemon: &Daemon, path: &str, cookie: &str, form: &str) -> u16 {
    agent()
        .post(format!("{}{path}", daemon.base))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form)
        .unwrap()
        .status()
        .as_u16()
}

/// Posts a multipart form: `(name, file name, content)` parts; the status and the page.
fn post_multipart(
    daemon: &Daemon,
    path: &str,
    cookie: &str,
    parts: &[(&str, Option<&str>, &str)],
) -> (u16, String) {
    let boundary = "kizuna-test-boundary-7d1f";
    let mut body = String::new();
    for (name, file, content) in parts {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""
        ));
        if let Some(file) = file {
            body.push_str(&format!(
                "; filename=\"{file}\"\r\nContent-Type: text/plain"
            ));
        }
        body.push_str(&format!("\r\n\r\n{content}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let mut resp = agent()
        .post(format!("{}{path}", daemon.base))
        .header("Cookie", cookie)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .send(body)
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

/// The default points rule at twice the rate.
fn double_points(h: &TestHome) -> String {
    std::fs::read_to_string(h.home().join("rules/points.rhai"))
        .unwrap()
        .replace("const YEN_PER_POINT = 100;", "const YEN_PER_POINT = 50;")
}

fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + 64].to_owned()
}

/// An inquiry from `customer` a day and an hour ago: its silence alarm is due at once.
fn overdue_inquiry(daemon: &Daemon, id: &str, customer: &str) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(25);
    let body = format!(r#"{{"id":"{id}","customer":"{customer}","type":"inquiry","at":"{at}"}}"#);
    let (status, answer) = daemon.post(&body, Some(TOKEN));
    assert_eq!(status, 202, "{answer}");
}

fn alert_ids(h: &TestHome) -> Vec<serde_json::Value> {
    h.run(&["alerts", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_console_needs_a_session_escapes_customer_text_and_refuses_what_a_role_may_not() {
    let h = shop();
    let daemon = start(&h);
    overdue_inquiry(&daemon, "q-1", "c-2");
    let started = std::time::Instant::now();
    while alert_ids(&h).is_empty() {
        assert!(started.elapsed().as_secs() < 15, "the alarm never went off");
        std::thread::sleep(Duration::from_millis(200));
    }
    let alert = alert_ids(&h)[0]["id"].as_str().unwrap().to_owned();

    // No session: to the login form; a wrong token: refused.
    let resp = agent()
        .get(format!("{}/console/inbox", daemon.base))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console/login");
    assert_eq!(login(&daemon, "not-a-token-at-all"), None);

    // A read token sees the inbox, escaped, under a strict policy, with no action in it...
    let reader = login(&daemon, READ).unwrap();
    let (status, page, csp) = get(&daemon, "/console/inbox", &reader);
    assert_eq!(status, 200);
    let csp = csp.unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        page.contains("no reply within 24 h to inquiry q-1"),
        "{page}"
    );
    assert!(!page.contains("/console/alerts/"), "no action for a reader");
    // ... and is refused one built by hand.
    let token = csrf(&page);
    let refused = post(
        &daemon,
        &format!("/console/alerts/{alert}"),
        &reader,
        &format!("csrf={token}&by=mallory&do=ack"),
    );
    assert_eq!(refused, 403);
    assert!(alert_ids(&h)[0]["acked"].is_null());

    // An admin acts, with the form's CSRF token and not without it.
    let admin = login(&daemon, TOKEN).unwrap();
    let (_, page, _) = get(&daemon, "/console/inbox", &admin);
    assert_eq!(
        post(
            &daemon,
            &format!("/console/alerts/{alert}"),
            &admin,
            "csrf=forged&by=ken&do=ack"
        ),
        403
    );
    let token = csrf(&page);
    assert_eq!(
        post(
            &daemon,
            &format!("/console/alerts/{alert}"),
            &admin,
            &format!("csrf={token}&by=ken&do=ack")
        ),
        303
    );
    assert_eq!(alert_ids(&h)[0]["acked"]["by"], "ken");

    // Customer text is text.
    let (status, page, _) = get(&daemon, "/console/customers/c-2", &admin);
    assert_eq!(status, 200);
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img"), "{page}");
    let (_, found, _) = get(&daemon, "/console/customers?q=AIKO", &admin);
    assert!(
        found.contains("/console/customers/c-1") && !found.contains("/console/customers/c-2"),
        "{found}"
    );

    // The rules page replays the history through one changed file, uploaded or pasted,
    // for either role (nothing changes); what the CLI prints comes back.
    let (_, rules_page, _) = get(&daemon, "/console/rules", &reader);
    let reader_csrf = csrf(&rules_page);
    let doubled = double_points(&h);
    let (status, page) = post_multipart(
        &daemon,
        "/console/rules/replay",
        &reader,
        &[
            ("csrf", None, &reader_csrf),
            ("name", None, ""),
            ("file", Some("points.rhai"), &doubled),
        ],
    );
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("48 → 96"),
        "Aiko's 4,800 yen at twice the rate: {page}"
    );
    let live = std::fs::read_to_string(h.home().join("rules/points.rhai")).unwrap();
    assert!(
        live.contains("YEN_PER_POINT = 100;"),
        "the live rule is untouched"
    );
    // A broken paste: the compiler's file:line, and a 422.
    let (status, page) = post_multipart(
        &daemon,
        "/console/rules/replay",
        &reader,
        &[
            ("csrf", None, &reader_csrf),
            ("name", None, "points.rhai"),
            ("source", None, "fn on_event(e, c) {\n  let x = ;\n}\n"),
        ],
    );
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("points.rhai:2:11"), "{page}");
    // No name, a path out of the rules directory, no CSRF token: refused, said why.
    for (parts, needle) in [
        (vec![("source", None, "x")], "name: say which file"),
        (
            vec![("name", None, "../kizuna.toml"), ("source", None, "x")],
            "not a relative path inside the rules directory",
        ),
    ] {
        let mut parts = parts;
        parts.push(("csrf", None, &reader_csrf));
        let (status, page) = post_multipart(&daemon, "/console/rules/replay", &reader, &parts);
        assert_eq!(status, 400, "{page}");
        assert!(page.contains(needle), "{page}");
    }
    let (status, _) = post_multipart(
        &daemon,
        "/console/rules/replay",
        &reader,
        &[("name", None, "points.rhai"), ("source", None, &doubled)],
    );
    assert_eq!(status, 403, "no CSRF token");

    // The outbox's day filter: a date that is not one is refused, saying which; the CLI
    // refuses a period that ends before it starts, and lists nothing from the future.
    let (status, page, _) = get(&daemon, "/console/outbox?from=2026-13-01", &admin);
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("2026-13-01") && page.contains("YYYY-MM-DD"),
        "{page}"
    );
    let (status, _, _) = get(
        &daemon,
        "/console/outbox?from=2026-03-01&to=2026-03-31",
        &admin,
    );
    assert_eq!(status, 200);
    let run = h
        .run(&[
            "outbox",
            "list",
            "--since",
            "2026-03-02T00:00:00Z",
            "--until",
            "2026-03-01T00:00:00Z",
        ])
        .fails();
    assert!(run.stderr.contains("--until"), "{}", run.stderr);
    let future = h
        .run(&[
            "outbox",
            "list",
            "--since",
            "2999-01-01T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(future, serde_json::json!([]));

    // Logging out ends the session.
    assert_eq!(
        post(&daemon, "/console/logout", &admin, &format!("csrf={token}")),
        303
    );
    assert_eq!(get(&daemon, "/console/inbox", &admin).0, 303);
}

#[test]
fn in_a_browser_staff_see_a_new_inquiry_appear_answer_it_and_find_why_a_customer_has_points() {
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    let Some(b) = Browser::start(&shots) else {
        return;
    };
    let h = shop();
    let daemon = start(&h);

    // Keyboard only: the token field has the focus; type, Enter.
    b.goto(&format!("{}/console/login?lang=en", daemon.base));
    b.screenshot("login");
    b.type_text(TOKEN);
    b.keys(&[Key::Enter]);
    b.wait_for_text("h1", "Inbox");
    assert!(b.url().ends_with("/console/inbox"), "{}", b.url());
    b.wait_for_text("#alerts", "No open alerts.");
    b.screenshot("inbox-empty");

    // A customer writes in and nobody answers: the alert appears without a reload.
    overdue_inquiry(&daemon, "q-7", "c-2");
    b.wait_for_text("#alerts", "no reply within 24 h to inquiry q-7");
    b.screenshot("inbox-alert");

    // Answer it, keyboard only: Tab to the row's name field, type, Tab on to "Record
    // reply", Enter. (The 3-second refresh leaves a row alone while the focus is in it.)
    let tab_to = |attr: &str, value: &str| {
        for _ in 0..30 {
            b.keys(&[Key::Tab]);
            if b.focused_attr(attr).as_deref() == Some(value) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{attr}={value} is not reachable with Tab");
    };
    tab_to("name", "by");
    b.type_text("ken");
    std::thread::sleep(Duration::from_millis(3500));
    tab_to("value", "reply");
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        b.focused_attr("value").as_deref(),
        Some("reply"),
        "still there after a refresh"
    );
    b.keys(&[Key::Enter]);
    b.wait_for_text("#alerts", "No open alerts.");
    let shown = h.run(&["customer", "show", "c-2", "--json"]).ok().json();
    let reply = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "reply")
        .cloned()
        .unwrap();
    assert_eq!(reply["by"], "ken", "{reply}");

    // Keyboard only: Tab to "Customers", Enter; search; open Aiko.
    let mut found = false;
    for _ in 0..12 {
        b.keys(&[Key::Tab]);
        if b.focused_attr("href").as_deref() == Some("/console/customers") {
            found = true;
            break;
        }
    }
    assert!(found, "the Customers link is reachable with Tab");
    b.keys(&[Key::Enter]);
    b.wait_for_text("h1", "Customers");
    b.fill("input[name='q']", "aiko");
    b.keys(&[Key::Enter]);
    b.wait_for_text("table.customers", "c-1");
    b.screenshot("customers");
    b.click("table.customers a[href='/console/customers/c-1']");
    b.wait_for_text("h1", "Aiko");
    // Why does she have points? The purchase, and what points.rhai did with it.
    let timeline = b.text("#timeline");
    assert!(
        timeline.contains("purchase") && timeline.contains("points.rhai"),
        "{timeline}"
    );
    let points: i64 = b.text("dd.points").parse().unwrap();
    assert!(points > 0, "{points}");
    b.screenshot("customer");

    // A name that is markup is shown as what it is, and runs nothing.
    b.goto(&format!("{}/console/customers/c-2", daemon.base));
    assert_eq!(b.text("h1"), XSS);
    assert_eq!(b.count("main img"), 0);
    b.screenshot("customer-markup-name");

    // The reports, drawn as SVG.
    h.run(&["rfm"]).ok();
    b.goto(&format!("{}/console/reports", daemon.base));
    b.wait_for_text("h1", "Reports");
    assert!(b.count("svg.heatmap rect") >= 25, "a 5×5 grid");
    b.screenshot("reports");

    // A campaign's dry run: who would get it and what the guards say now; nothing queued.
    b.goto(&format!("{}/console/campaigns", daemon.base));
    b.wait_for_text("#segments", "email_ok");
    b.fill("input[name='name']", "spring");
    b.fill("input[name='segment']", "email_ok");
    b.fill("input[name='template']", "notice");
    b.fill("textarea[name='vars']", "subject=Spring\ntext=New beans");
    b.click("button[value='dry']");
    let result = b.wait_for_text("#result", "Dry run:");
    assert!(result.contains("member(s)"), "{result}");
    b.screenshot("campaigns");

    // The outbox, filtered.
    b.goto(&format!("{}/console/outbox?status=pending", daemon.base));
    b.wait_for_text("h1", "Outbox");
    b.screenshot("outbox");

    // A broken rule saved into the rules directory: kept out, and the page says where.
    std::fs::write(
        h.home().join("rules/broken.rhai"),
        "fn on_event(e, c) {\n  let x = ;\n}\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    loop {
        b.goto(&format!("{}/console/rules", daemon.base));
        if b.count("#version pre.error") > 0 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 15,
            "the reload error never showed"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let error = b.text("#version pre.error");
    assert!(error.contains("broken.rhai:2"), "{error}");
    b.screenshot("rules");
    std::fs::remove_file(h.home().join("rules/broken.rhai")).unwrap();

    // Try a change before saving it: upload points.rhai at twice the rate, see the diff.
    let candidate = h.file("points.rhai", &double_points(&h));
    b.goto(&format!("{}/console/rules", daemon.base));
    b.fill("#replay input[name='file']", &candidate);
    b.click("#replay button[type='submit']");
    let diff = b.wait_for_text("#replayed", "c-1");
    assert!(diff.contains("48 → 96"), "{diff}");
    b.screenshot("replay");
    // And a broken one, pasted: the error says file and line.
    b.goto(&format!("{}/console/rules", daemon.base));
    b.fill("#replay input[name='name']", "points.rhai");
    b.fill(
        "#replay textarea[name='source']",
        "fn on_event(e, c) {\n  let x = ;\n}\n",
    );
    b.click("#replay button[type='submit']");
    let error = b.wait_for_text("#replayed pre.error", "points.rhai:2");
    assert!(error.contains("Unexpected"), "{error}");
    b.screenshot("replay-broken");
}
