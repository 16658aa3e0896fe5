//! Faults and hostile input (issue 25): conflicting ids, input refused at the door, a
//! damaged store, a full disk, slow clients, runaway templates and scripts, erasure.

use kizuna_tests::{TestHome, daemon::Daemon};

const BUY: &str = r#"{"id":"o-1","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":1200}"#;
const BUY_CHANGED: &str = r#"{"id":"o-1","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":9999}"#;
const OTHER: &str = r#"{"id":"o-2","customer":"c-2","type":"purchase","at":"2026-03-01T11:00:00+09:00","amount":500}"#;

fn revenue(h: &TestHome, customer: &str) -> serde_json::Value {
    let shown = h.run(&["customer", "show", customer, "--json"]).ok().json();
    shown["customer"]["stats"]["revenue"].clone()
}

#[test]
fn an_import_naming_a_stored_id_with_other_content_is_refused_by_line() {
    let h = TestHome::new();
    h.run(&["import", &h.file("a.jsonl", BUY)]).ok();
    // The same record again is a duplicate, as always.
    let again = h
        .run(&["import", &h.file("b.jsonl", BUY), "--json"])
        .ok()
        .json();
    assert_eq!(again["duplicates"], 1);

    let changed = h.file("c.jsonl", &format!("{OTHER}\n{BUY_CHANGED}\n"));
    let run = h.run(&["import", &changed]).fails();
    assert!(
        run.stderr.contains("c.jsonl:2") && run.stderr.contains("\"o-1\" is already stored"),
        "{}",
        run.stderr
    );
    assert_eq!(
        revenue(&h, "c-1"),
        1200,
        "the stored event was not overwritten"
    );
    h.run(&["customer", "show", "c-2"]).fails();

    // --skip-invalid stores the rest and writes the conflicting line to the rejects.
    let rejects = h.dir().join("rejects.jsonl");
    let run = h
        .run(&[
            "import",
            &changed,
            "--skip-invalid",
            "--rejects",
            rejects.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (run["imported"].as_u64(), run["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        written.contains("\"line\":2") && written.contains("9999"),
        "{written}"
    );
    assert_eq!(revenue(&h, "c-1"), 1200);
    assert_eq!(revenue(&h, "c-2"), 500);
}

#[test]
fn a_post_naming_a_stored_id_with_other_content_gets_409_with_the_item() {
    let h = TestHome::new();
    let d = Daemon::start(&h);
    assert_eq!(d.post(BUY, Some(kizuna_tests::daemon::TOKEN)).0, 202);
    let body = format!("[{OTHER},{BUY_CHANGED}]");
    let (status, answer) = d.post(&body, Some(kizuna_tests::daemon::TOKEN));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["errors"][0]["item"], 2, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "id", "{answer}");
    // An exact repeat is still a no-op.
    let (status, answer) = d.post(BUY, Some(kizuna_tests::daemon::TOKEN));
    assert_eq!(
        (status, &answer["duplicates"]),
        (202, &1.into()),
        "{answer}"
    );
    let (_, c) = d.get("/customers/c-1");
    assert_eq!(c["stats"]["revenue"], 1200);
    assert_eq!(
        d.get("/customers/c-2").0,
        404,
        "nothing of the refused batch was stored"
    );
    let metrics = Daemon::agent()
        .get(format!("{}/metrics", d.base))
        .header(
            "Authorization",
            &format!("Bearer {}", kizuna_tests::daemon::TOKEN),
        )
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("kizuna_events_conflict_total 1"),
        "{metrics}"
    );
}

#[test]
fn odd_times_and_control_characters_are_refused_at_the_door_with_the_field_named() {
    let h = TestHome::new();
    let cases = [
        (
            r#"{"customer":"c-1","type":"visit","at":"0000-01-01T00:00:00Z"}"#,
            "at",
        ),
        (
            r#"{"customer":"c-1","type":"visit","at":"2026-03-01T10:00:00+24:00"}"#,
            "at",
        ),
        (
            r#"{"customer":"c-1","type":"visit","at":"2016-12-31T23:59:60Z"}"#,
            "at",
        ),
        (
            r#"{"customer":"c-1","type":"profile","at":"2026-03-01T10:00:00Z","name":"Bob\r\nBcc: x@example.com"}"#,
            "name",
        ),
        (
            r#"{"customer":"c-1","type":"profile","at":"2026-03-01T10:00:00Z","email":"a\u0000@example.com"}"#,
            "email",
        ),
        (
            r#"{"customer":"c-1","type":"send_request","at":"2026-03-01T10:00:00Z","channel":"email","template":"t","vars":{"v":"a\nb"}}"#,
            "vars.v",
        ),
    ];
    for (line, field) in cases {
        let run = h
            .run(&["import", &h.file("bad.jsonl", line), "--json"])
            .fails()
            .json();
        assert_eq!(
            run["errors"][0]["errors"][0]["field"], field,
            "{line}: {run}"
        );
    }
    assert_eq!(h.run(&["status", "--json"]).ok().json()["events"], 0);
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "visit",
            "--at",
            "0000-01-01T00:00:00Z",
        ])
        .fails();
    assert!(
        run.stderr.contains("year must be 1900 to 2999"),
        "{}",
        run.stderr
    );
}

/// Damages `h`'s database with `damage` (given the database directory) and checks that
/// every command opening it ends at once with a clear error and no panic trace.
fn refuses_damaged(h: &TestHome, what: &str, damage: impl Fn(&std::path::Path)) {
    let db = h.home().join("db");
    let copy = h.dir().join("db.good");
    if !copy.exists() {
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(&db).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
            }
        }
    }
    for entry in std::fs::read_dir(&copy).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), db.join(entry.file_name())).unwrap();
    }
    damage(&db);
    let limit = std::time::Duration::from_secs(30);
    for args in [
        &["status"][..],
        &["customer", "list"],
        &["export"],
        &[
            "event",
            "add",
            "--customer",
            "c-9",
            "--type",
            "visit",
            "--at",
            "2026-03-02T10:00:00Z",
        ],
    ] {
        let run = h.run_within(limit, args);
        assert_eq!(
            run.code,
            Some(1),
            "{what}: {args:?}\n{}{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stderr.contains("is damaged") && run.stderr.contains("kizuna restore"),
            "{what}: {args:?}\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("panicked"),
            "{what}: {args:?}\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_damaged_store_is_a_clear_error_never_a_panic() {
    let h = TestHome::new();
    h.run(&[
        "import",
        &TestHome::fixture("customers.csv"),
        &TestHome::fixture("events.jsonl"),
    ])
    .ok();
    let flip = |path: std::path::PathBuf, every: usize| {
        let mut bytes = std::fs::read(&path).unwrap();
        for i in (0..bytes.len()).step_by(every) {
            bytes[i] ^= 0x01;
        }
        std::fs::write(path, bytes).unwrap();
    };
    refuses_damaged(&h, "bytes flipped through the data file", |db| {
        flip(db.join("db"), 997)
    });
    // (sled's data file is mostly room to grow: these few events fill its first pages.)
    refuses_damaged(&h, "the data file cut short", |db| {
        let bytes = std::fs::read(db.join("db")).unwrap();
        std::fs::write(db.join("db"), &bytes[..4096]).unwrap();
    });
    refuses_damaged(&h, "a flipped byte in the snapshot", |db| {
        let snap = std::fs::read_dir(db)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("snap.")
            })
            .expect("a snapshot file");
        let mut bytes = std::fs::read(&snap).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(snap, bytes).unwrap();
    });
}

#[test]
fn a_runaway_template_fails_its_message_with_an_alert_and_the_rest_flows() {
    let h = TestHome::with_customer_opted_in();
    let templates = h.home().join("rules/templates");
    std::fs::write(
        templates.join("runaway.email"),
        "Subject: Hi\n\n{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
    )
    .unwrap();
    for template in ["runaway", "notice"] {
        h.run(&[
            "send",
            "--customer",
            "c-1",
            "--channel",
            "email",
            "--template",
            template,
            "--var",
            "subject=News",
            "--var",
            "text=Hello",
            "--class",
            "transactional",
            "--at",
            "2026-03-05T02:00:00Z",
        ])
        .ok();
    }
    let limit = std::time::Duration::from_secs(60);
    let report = h
        .run_within(
            limit,
            &["dispatch", "--now", "2026-03-05T03:00:00Z", "--json"],
        )
        .ok()
        .json();
    assert_eq!(
        (&report["outcomes"]["sent"], &report["outcomes"]["dead"]),
        (&1.into(), &1.into()),
        "{report}"
    );
    let dead = h
        .run(&["outbox", "list", "--status", "dead", "--json"])
        .ok()
        .json();
    let reason = dead[0]["status"]["reason"].as_str().unwrap();
    assert!(reason.contains("ran out of fuel"), "{reason}");
    let alerts = h.run(&["alerts", "--json"]).ok().json();
    let text = alerts.to_string();
    assert!(
        text.contains("runaway") && text.contains("was not sent"),
        "{text}"
    );
    // Not retried: the next run has nothing to do.
    let again = h
        .run_within(
            limit,
            &["dispatch", "--now", "2026-03-05T04:00:00Z", "--json"],
        )
        .ok()
        .json();
    assert_eq!(again["considered"], 0, "{again}");
}

/// Sets `[server]` settings in `h`'s kizuna.toml.
fn server_settings(h: &TestHome, settings: &[(&str, &str)]) {
    let path = h.home().join("kizuna.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, value) in settings {
        let start = text.find(&format!("\n{key} = ")).unwrap() + 1;
        let end = start + text[start..].find('\n').unwrap();
        text.replace_range(start..end, &format!("{key} = {value}"));
    }
    std::fs::write(path, text).unwrap();
}

/// The sockets a process has open, from /proc.
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Whether the server closed `socket` (end of file or a reset) within `wait`.
fn closed_by_server(socket: &mut std::net::TcpStream, wait: std::time::Duration) -> bool {
    use std::io::Read;
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return true,
            // An answer (a 400 to a stalled body) before the close: read on.
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_slow_clients_are_timed_out_while_others_are_served() {
    use std::io::Write;
    let h = TestHome::new();
    server_settings(
        &h,
        &[("header_timeout_secs", "2"), ("body_timeout_secs", "2")],
    );
    let d = Daemon::start(&h);
    let addr = d.base.trim_start_matches("http://").to_owned();
    let connect = || std::net::TcpStream::connect(&addr).unwrap();
    // 2,000 connections that say nothing, 100 that drip their headers, 100 their body.
    let mut idle: Vec<_> = (0..2000).map(|_| connect()).collect();
    let mut drip_head: Vec<_> = (0..100).map(|_| connect()).collect();
    let mut drip_body: Vec<_> = (0..100).map(|_| connect()).collect();
    for s in &mut drip_head {
        s.write_all(b"POST /events HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
    }
    for s in &mut drip_body {
        let head = format!(
            "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n{{",
            kizuna_tests::daemon::TOKEN
        );
        s.write_all(head.as_bytes()).unwrap();
    }
    let started = std::time::Instant::now();
    let (status, answer) = d.post(BUY, Some(kizuna_tests::daemon::TOKEN));
    let took = started.elapsed();
    assert_eq!(status, 202, "{answer}");
    assert!(
        took < std::time::Duration::from_secs(1),
        "a normal client waited {took:?}"
    );
    // Keep dripping for longer than the timeouts: a byte a few times a second.
    for _ in 0..12 {
        for s in drip_head.iter_mut().chain(drip_body.iter_mut()) {
            let _ = s.write_all(b"x");
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let wait = std::time::Duration::from_secs(5);
    for (what, sockets) in [
        ("idle", &mut idle[..50]),
        ("dripping headers", &mut drip_head[..]),
        ("dripping a body", &mut drip_body[..]),
    ] {
        for s in sockets.iter_mut() {
            assert!(
                closed_by_server(s, wait),
                "a connection {what} was left open"
            );
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let open = sockets_of(d.child.id());
    assert!(open < 100, "the daemon still holds {open} sockets");
    assert_eq!(d.post(OTHER, Some(kizuna_tests::daemon::TOKEN)).0, 202);
}

#[test]
fn connections_past_the_cap_wait_instead_of_taking_descriptors() {
    let h = TestHome::new();
    server_settings(
        &h,
        &[("header_timeout_secs", "2"), ("max_connections", "20")],
    );
    let d = Daemon::start(&h);
    let addr = d.base.trim_start_matches("http://").to_owned();
    let before = sockets_of(d.child.id());
    let idle: Vec<_> = (0..60)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let held = sockets_of(d.child.id()) - before;
    assert!(
        held <= 20,
        "the daemon holds {held} connections past a cap of 20"
    );
    // The idle ones time out in turn, so a real request is served within a few timeouts.
    let started = std::time::Instant::now();
    let (status, _) = d.post(BUY, Some(kizuna_tests::daemon::TOKEN));
    assert_eq!(status, 202);
    assert!(started.elapsed() < std::time::Duration::from_secs(9));
    drop(idle);
}

/// `n` purchases as JSON lines, ids `{prefix}-0…`, over 500 customers.
fn purchases(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"{prefix}-{i}","customer":"c-{}","type":"purchase","at":"2026-03-01T10:00:00Z","amount":{},"note":"{}"}}"#,
                i % 500,
                100 + i,
                "x".repeat(100)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_import_onto_a_full_disk_fails_fast_and_resumes_to_the_same_store() {
    if kizuna_tests::disk::mounting_skipped() {
        return;
    }
    let (h, disk) = TestHome::on_small_disk("10m");
    let file = h.file("big.jsonl", &purchases("e", 60_000));
    let run = h.run_within(std::time::Duration::from_secs(60), &["import", &file]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("the disk is full")
            && run
                .stderr
                .contains(&format!("mounted at {}", h.home().display())),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // Space comes back: the same import again completes the store.
    disk.resize("200m");
    h.run(&["import", &file]).ok();
    let resumed = h.run(&["export"]).ok().stdout;
    let clean = TestHome::new();
    clean.run(&["import", &file]).ok();
    assert!(
        resumed == clean.run(&["export"]).ok().stdout,
        "a resumed import differs from a clean one"
    );
}

#[test]
fn a_daemon_on_a_full_disk_refuses_ingest_keeps_reading_and_recovers_by_itself() {
    if kizuna_tests::disk::mounting_skipped() {
        return;
    }
    use kizuna_tests::daemon::TOKEN;
    let (h, disk) = TestHome::on_small_disk("32m");
    let log = h.dir().join("daemon.log");
    let d = Daemon::start_with(&h, &[], &[("RUST_LOG", "info")], Some(&log));
    assert_eq!(d.post(BUY, Some(TOKEN)).0, 202);
    let filler = disk.fill("filler", 256 << 10);
    // Post until the store cannot write; every batch acknowledged must survive.
    let mut acknowledged = vec!["o-1".to_owned()];
    let mut refused = None;
    for n in 0..400 {
        let batch = purchases(&format!("b{n}"), 200);
        let (status, answer) = d.post(&batch, Some(TOKEN));
        match status {
            202 => acknowledged.extend((0..200).map(|i| format!("b{n}-{i}"))),
            503 => {
                refused = Some(answer);
                break;
            }
            other => panic!("{other}: {answer}"),
        }
    }
    let refused = refused.expect("the disk never filled");
    assert!(
        refused["error"].as_str().unwrap().contains("disk is full"),
        "{refused}"
    );
    assert!(refused["retry_after"].as_u64().is_some(), "{refused}");
    let (status, health) = d.get("/health");
    assert_eq!(
        (status, &health["status"]),
        (503, &"degraded".into()),
        "{health}"
    );
    assert!(
        health["reason"].as_str().unwrap().contains("disk is full"),
        "{health}"
    );
    // Reads go on, and show every acknowledged batch (c-1 buys 101 in each) and perhaps
    // the refused one, written in memory but never flushed; status says why ingest is
    // refused.
    let batches = (acknowledged.len() - 1) as u64 / 200;
    let (status, c) = d.get("/customers/c-1");
    assert_eq!(status, 200, "{c}");
    let revenue = c["stats"]["revenue"].as_u64().unwrap();
    assert!(
        (1200 + 101 * batches..=1200 + 101 * (batches + 1)).contains(&revenue),
        "{batches} batches acknowledged: {c}"
    );
    let status = h.run(&["status"]).ok().stdout;
    assert!(status.contains("DEGRADED"), "{status}");
    // Still refused while the disk is full.
    assert_eq!(d.post(OTHER, Some(TOKEN)).0, 503);

    // Space returns: within the backoff the daemon takes writes again, by itself.
    std::fs::remove_file(filler).unwrap();
    let started = std::time::Instant::now();
    loop {
        let (status, answer) = d.post(OTHER, Some(TOKEN));
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "{answer}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(45),
            "not writable 45 s after space returned"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(d.get("/health").1["status"], "ok");
    // Everything acknowledged is there: posting it again stores nothing.
    for chunk in acknowledged.chunks(200).skip(1) {
        let n = chunk[0].split('-').next().unwrap();
        let (status, answer) = d.post(&purchases(n, 200), Some(TOKEN));
        assert_eq!(
            (status, &answer["duplicates"]),
            (202, &200.into()),
            "{answer}"
        );
    }
    // A stop is prompt and says how the last flush went.
    let stopping = std::time::Instant::now();
    d.signal("-TERM");
    let mut child = d;
    let code = child.child.wait().unwrap();
    assert!(code.success() && stopping.elapsed() < std::time::Duration::from_secs(10));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("store flushed"), "{text}");
    assert!(text.contains("the store takes writes again"), "{text}");
}

// The same faults where no file system can be mounted: fail points on the store's write
// path (`FAILPOINTS`, read by debug builds) fail a flush as a full disk does.

#[test]
fn an_import_whose_flush_meets_a_full_disk_fails_and_resumes_to_the_same_store() {
    let h = TestHome::new();
    let file = h.file("some.jsonl", &purchases("e", 3_000));
    let run = h.run_env(&["import", &file], &[("FAILPOINTS", "store::sync=return")]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("the disk is full"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    h.run(&["import", &file]).ok();
    let clean = TestHome::new();
    clean.run(&["import", &file]).ok();
    assert!(
        h.run(&["export"]).ok().stdout == clean.run(&["export"]).ok().stdout,
        "the resumed store differs from a clean import"
    );
}

#[test]
fn a_daemon_whose_acknowledgement_meets_a_full_disk_refuses_then_recovers_by_itself() {
    use kizuna_tests::daemon::TOKEN;
    let h = TestHome::new();
    let log = h.dir().join("daemon.log");
    // The third acknowledgement fails; the ones after it succeed.
    let env = [
        ("RUST_LOG", "info"),
        ("FAILPOINTS", "store::sync_events=2*off->1*return->off"),
    ];
    let d = Daemon::start_with(&h, &[], &env, Some(&log));
    assert_eq!(d.post(BUY, Some(TOKEN)).0, 202);
    assert_eq!(d.post(&purchases("a", 100), Some(TOKEN)).0, 202);
    let (status, refused) = d.post(&purchases("b", 100), Some(TOKEN));
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("disk is full"),
        "{refused}"
    );
    let (status, health) = d.get("/health");
    assert_eq!(
        (status, &health["status"]),
        (503, &"degraded".into()),
        "{health}"
    );
    // Reads go on while degraded.
    assert_eq!(d.get("/customers/c-1").0, 200);
    let started = std::time::Instant::now();
    loop {
        let (status, answer) = d.post(&purchases("b", 100), Some(TOKEN));
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "{answer}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "never recovered"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(d.get("/health").1["status"], "ok");
    // The acknowledged batches are all there: posting them again stores nothing.
    let (_, again) = d.post(&purchases("a", 100), Some(TOKEN));
    assert_eq!(again["duplicates"], 100, "{again}");
    d.signal("-TERM");
    let mut child = d;
    assert!(child.child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("the store takes writes again"), "{text}");
    assert!(text.contains("store flushed"), "{text}");
}
