use std::time::Duration;

use kizuna_tests::{
    TestHome,
    daemon::{Daemon, TOKEN, purchase},
};

#[test]
fn the_api_checks_the_token_refuses_bad_batches_whole_and_is_idempotent() {
    let h = TestHome::new();
    let d = Daemon::start(&h);
    let (status, health) = d.get("/health");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    // The embedded default: file channels under the home.
    let email = health["channels"]["email"].as_str().unwrap_or_default();
    assert!(
        email.starts_with("files in ") && email.contains("outbox"),
        "{health}"
    );
    assert!(health["channels"]["sms"].as_str().is_some(), "{health}");

    assert_eq!(d.post(&purchase("e1", "c-1", 100), None).0, 401);
    assert_eq!(
        d.post(&purchase("e1", "c-1", 100), Some("wrong-token-xxxxxxxx"))
            .0,
        401
    );

    // One bad item: nothing from the batch is stored, and the error names item and field.
    let batch = format!(
        "{}\n{}\n",
        purchase("e1", "c-1", 100),
        purchase("e2", "c-2", -5)
    );
    let (status, body) = d.post(&batch, Some(TOKEN));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["item"], 2);
    assert_eq!(body["errors"][0]["field"], "amount");
    assert_eq!(d.get("/customers/c-1").0, 404, "nothing stored");

    // A JSON array is a batch too; a retried POST stores nothing twice.
    let array = format!(
        "[{},{}]",
        purchase("e1", "c-1", 100),
        purchase("e2", "c-2", 200)
    );
    let (status, body) = d.post(&array, Some(TOKEN));
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (202, Some(2)),
        "{body}"
    );
    let (status, body) = d.post(&array, Some(TOKEN));
    assert_eq!(
        (status, body["duplicates"].as_u64()),
        (202, Some(2)),
        "{body}"
    );
    let (status, c1) = d.get("/customers/c-1");
    assert_eq!(
        (status, c1["stats"]["orders"].as_u64()),
        (200, Some(1)),
        "{c1}"
    );
    // Over the limit: 413. The body goes in 64 KiB pieces with a timeout, so the test
    // reads the answer even when the server stops reading early.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(d.base.trim_start_matches("http://")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let len = 9 * 1024 * 1024;
        write!(
            s,
            "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len}\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..len / chunk.len() {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413");
    }

    // Prometheus metrics, open like /health.
    let mut resp = Daemon::agent()
        .get(format!("{}/metrics", d.base))
        .call()
        .unwrap();
    let metrics = resp.body_mut().read_to_string().unwrap();
    for line in [
        "kizuna_events_ingested_total 2",
        "kizuna_events_duplicate_total 2",
        "kizuna_batches_rejected_total 1",
        "kizuna_unauthorized_total 2",
        "kizuna_store_events 2",
        "# TYPE kizuna_outbox_due gauge",
        // Two events folded: both timed (the rules took well under a second each).
        "kizuna_rule_eval_seconds_count 2",
        "kizuna_rule_eval_seconds_bucket{le=\"1\"} 2",
        "kizuna_timers_due 0",
        "# TYPE process_resident_memory_bytes gauge",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }

    // SIGTERM: finishes, flushes, exits 0.
    d.signal("-TERM");
    let mut d = d;
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let shown = h.run(&["customer", "show", "c-2", "--json"]).ok().json();
    assert_eq!(shown["customer"]["stats"]["revenue"], 200);
}

/// A rules directory in the home with some files of the default pack.
fn pack_subset(h: &TestHome, name: &str, files: &[&str]) -> std::path::PathBuf {
    let dir = h.home().join(name);
    std::fs::create_dir(&dir).unwrap();
    for f in files {
        std::fs::copy(h.home().join("rules").join(f), dir.join(f)).unwrap();
    }
    dir
}

#[test]
fn kill_9_loses_no_acknowledged_event() {
    let h = TestHome::new();
    // Loyalty points only: no timers, so every stored event is one of the purchases.
    let rules = pack_subset(&h, "points-only", &["points.rhai"]);
    let rules_arg = ["--rules", rules.to_str().unwrap()];
    let d = Daemon::start_with(&h, &rules_arg, &[], None);
    // Four clients post batches of five purchases as fast as they can; kill -9 lands in
    // the middle of the stream, with requests in flight.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for client in 0..4 {
            let (d, stop, acknowledged) = (&d, &stop, &acknowledged);
            scope.spawn(move || {
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let ids: Vec<String> = (0..5).map(|i| format!("k-{client}-{n}-{i}")).collect();
                    let body: Vec<String> = ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| purchase(id, &format!("c-{i}"), 100))
                        .collect();
                    let request = Daemon::agent()
                        .post(format!("{}/events", d.base))
                        .header("Authorization", &format!("Bearer {TOKEN}"))
                        .send(body.join("\n"));
                    match request {
                        Ok(r) if r.status().as_u16() == 202 => {
                            acknowledged.lock().unwrap().extend(ids);
                        }
                        // The daemon is gone: connection refused or reset mid-request.
                        _ => break,
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        d.signal("-KILL");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    drop(d);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() >= 100,
        "only {} acknowledged",
        acknowledged.len()
    );

    // Restart: the store recovers (projections are re-folded from the log past the last
    // checkpoint); every acknowledged id is there.
    let log = h.home().join("restart.log");
    let d = Daemon::start_with(&h, &rules_arg, &[("RUST_LOG", "info")], Some(&log));
    let (_, health) = d.get("/health");
    let stored = health["events"].as_u64().unwrap();
    // Acknowledged means synced, not checkpointed: the restart had work to do.
    let restart = std::fs::read_to_string(&log).unwrap();
    assert!(restart.contains("replayed the log tail"), "{restart}");
    assert!(
        stored >= acknowledged.len() as u64,
        "{stored} < {}",
        acknowledged.len()
    );
    for chunk in acknowledged.chunks(500) {
        // The same events as posted (an id names one event: other content would be a 409).
        let body: Vec<String> = chunk
            .iter()
            .map(|id| {
                let i = id.rsplit('-').next().unwrap();
                purchase(id, &format!("c-{i}"), 100)
            })
            .collect();
        let (status, report) = d.post(&body.join("\n"), Some(TOKEN));
        assert_eq!(status, 202);
        assert_eq!(
            report["duplicates"].as_u64(),
            Some(chunk.len() as u64),
            "acknowledged events must be stored: {report}"
        );
    }
    // And the projections, re-folded after the crash, agree with the log: every stored
    // event is a 100-yen purchase, and batches were whole (one purchase per customer).
    let orders: Vec<u64> = (0..5)
        .map(|i| {
            let (_, c) = d.get(&format!("/customers/c-{i}"));
            assert_eq!(
                c["stats"]["revenue"],
                c["stats"]["orders"].as_u64().unwrap() * 100
            );
            c["stats"]["orders"].as_u64().unwrap()
        })
        .collect();
    assert!(orders.iter().all(|&n| n == orders[0]), "{orders:?}");
    assert_eq!(orders.iter().sum::<u64>(), stored, "{health}");
}

#[test]
fn the_daemon_dispatches_and_a_saved_template_goes_live() {
    let h = TestHome::new();
    let d = Daemon::start(&h);
    // The daemon dispatches by the wall clock, and quiet hours apply to every message:
    // give the customer a time zone where it is about noon now.
    let utc_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24;
    let offset = 12 - utc_hour as i64; // UTC+offset is "Etc/GMT-offset" (POSIX signs)
    let tz = match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let profile = format!(
        r#"{{"customer":"c-1","type":"profile","at":"2026-03-01T09:00:00+09:00","phone":"+81 90-7777-8888","tz":"{tz}"}}"#
    );
    assert_eq!(d.post(&profile, Some(TOKEN)).0, 202);
    let request = r#"{"customer":"c-1","type":"send_request","at":"2026-03-05T10:00:00+09:00","channel":"sms","template":"notice","class":"service","vars":{"text":"ready"}}"#;
    assert_eq!(d.post(request, Some(TOKEN)).0, 202);
    let open = |path: &str| {
        let mut resp = Daemon::agent()
            .get(format!("{}{path}", d.base))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    // The dispatch loop sends it within a second or two; /metrics counts the outcome.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = open("/metrics").1;
        if metrics
            .lines()
            .any(|l| l == "kizuna_messages_total{status=\"sent\"} 1")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A saved template goes live like a saved script: the next message uses it.
    let sms_log = h.home().join("outbox/sms/sms.jsonl");
    assert!(
        std::fs::read_to_string(&sms_log).unwrap().contains("ready"),
        "the first SMS"
    );
    let attempts = d.get("/health").1["reload"]["attempts"].as_u64().unwrap();
    std::fs::write(
        h.home().join("rules/templates/notice.sms"),
        "Update: {{ vars.text }}\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while d.get("/health").1["reload"]["attempts"].as_u64().unwrap() == attempts {
        assert!(
            std::time::Instant::now() < deadline,
            "the template save was not seen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let again = request
        .replace("10:00:00", "10:05:00")
        .replace("ready", "packed");
    assert_eq!(d.post(&again, Some(TOKEN)).0, 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&sms_log)
        .unwrap()
        .contains("packed")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the second SMS was not sent"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&sms_log).unwrap();
    assert!(log.contains("Update: packed"), "{log}");

    // Delivery reports are a channel's route: the file SMS channel has none.
    assert_eq!(open("/channels/sms/dlr?id=m-1-0&type=1").0, 404);
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());
}

#[test]
fn a_saved_rule_change_goes_live_and_a_broken_one_is_kept_out() {
    let h = TestHome::new();
    let d = Daemon::start(&h);
    let version = |d: &Daemon| d.get("/health").1["rules"].as_str().unwrap().to_owned();
    let wait_for = |what: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let health = d.get("/health").1;
            if what(&health) {
                return health;
            }
            assert!(std::time::Instant::now() < deadline, "{health}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let v1 = version(&d);
    assert_eq!(d.post(&purchase("r-1", "c-1", 1000), Some(TOKEN)).0, 202);

    // A saved change (editors save by rename): compiled, fixtures run, swapped in.
    let points = h.home().join("rules/points.rhai");
    let text = std::fs::read_to_string(&points).unwrap();
    let tmp = h.home().join("rules/.points.rhai.swp");
    std::fs::write(&tmp, format!("// reviewed\n{text}")).unwrap();
    std::fs::rename(&tmp, &points).unwrap();
    let health = wait_for(&|h| h["rules"] != v1.as_str());
    let v2 = health["rules"].as_str().unwrap().to_owned();
    assert_eq!(health["reload"]["reloads"], 1, "{health}");
    assert_eq!(health["reload"]["active"], v2.as_str(), "{health}");
    assert_eq!(d.post(&purchase("r-2", "c-1", 1000), Some(TOKEN)).0, 202);
    // Saving the same text again is not a change: no second swap.
    let same = std::fs::read_to_string(&points).unwrap();
    std::fs::write(&points, same).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(d.get("/health").1["reload"]["reloads"], 1);

    // A broken script: the running set stays, the error says where.
    let broken = h.home().join("rules/zz_broken.rhai");
    std::fs::write(&broken, "fn on_event(e, c) { let = 1; }\n").unwrap();
    let health = wait_for(&|h| h["reload"]["failures"].as_u64() >= Some(1));
    assert_eq!(health["rules"], v2.as_str());
    let error = health["reload"]["last_error"].as_str().unwrap();
    assert!(error.contains("zz_broken.rhai:1"), "{error}");
    let mut forced = Daemon::agent()
        .post(format!("{}/rules/reload", d.base))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send("")
        .unwrap();
    assert_eq!(forced.status().as_u16(), 422);
    assert!(
        forced
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("zz_broken.rhai")
    );
    assert_eq!(
        d.post(&purchase("r-3", "c-1", 1000), Some(TOKEN)).0,
        202,
        "ingest goes on"
    );

    let listen = d.base.trim_start_matches("http://").to_owned();
    let cli = h
        .run_env(
            &["rules", "reload", "--listen", &listen],
            &[("KIZUNA_TOKEN", TOKEN)],
        )
        .fails();
    assert!(cli.stderr.contains("zz_broken.rhai"), "{}", cli.stderr);
    std::fs::remove_file(&broken).unwrap();
    wait_for(&|h| h["reload"]["last_error"].is_null());
    let cli = h
        .run_env(
            &["rules", "reload", "--listen", &listen],
            &[("KIZUNA_TOKEN", TOKEN)],
        )
        .ok();
    assert!(
        cli.stdout.contains(&format!("rules version {v2}")),
        "{}",
        cli.stdout
    );
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());
    // Each event's effects name the rules version that produced them.
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    let versions: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "purchase")
        .map(|e| e["_effects"]["rules"].as_str().unwrap())
        .collect();
    assert!(
        versions.contains(&v1.as_str()) && versions.contains(&v2.as_str()),
        "{versions:?}"
    );
}

#[test]
fn json_logs_carry_request_ids_and_no_personal_data() {
    let h = TestHome::new();
    let log = h.home().join("daemon.log");
    let d = Daemon::start_with(
        &h,
        &["--log-format", "json"],
        &[("RUST_LOG", "info")],
        Some(&log),
    );
    // A profile with a name, an e-mail and a phone number, then a script failure on it.
    let profile = r#"{"id":"p-1","customer":"c-77","type":"profile","at":"2026-03-01T09:00:00+09:00","name":"Hanako Yamada","email":"hanako@example.com","phone":"+81 90-1111-2222"}"#;
    let mut resp = Daemon::agent()
        .post(format!("{}/events", d.base))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("x-request-id", "shop-req-42")
        .send(profile)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(
        resp.headers()["x-request-id"],
        "shop-req-42",
        "a caller's id is kept"
    );
    let _ = resp.body_mut().read_to_string();
    // No id given: the daemon makes one and returns it.
    let resp = Daemon::agent()
        .get(format!("{}/health", d.base))
        .call()
        .unwrap();
    let made = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 16, "{made}");

    // A script that fails on one customer's purchases (the fixtures don't use that id, so
    // it passes them): the warning names the request.
    let rules = h.home().join("rules/zz_fails.rhai");
    std::fs::write(
        &rules,
        "fn on_event(e, c) { if e.customer == \"c-77\" && e.type == \"purchase\" { throw \"boom\"; } }\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while d.get("/health").1["reload"]["reloads"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload: {}",
            d.get("/health").1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut resp = Daemon::agent()
        .post(format!("{}/events", d.base))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("x-request-id", "shop-req-43")
        .send(purchase("b-1", "c-77", 500))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("\"rule_errors\":1"), "{body}");
    // Reading the rules to reload them is not a change: one save, one reload, and the
    // watcher settles (a save may arrive as two batches of file events; a watcher that
    // reacted to its own reads would compile again every quarter second).
    std::thread::sleep(Duration::from_millis(1500));
    let reload = d.get("/health").1["reload"].clone();
    assert_eq!(reload["reloads"], 1, "{reload}");
    assert!(reload["attempts"].as_u64() <= Some(2), "{reload}");
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());

    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let warning = records
        .iter()
        .find(|r| r["level"] == "WARN" && r["span"]["id"] == "shop-req-43")
        .unwrap_or_else(|| panic!("no warning with the request id in\n{text}"));
    assert_eq!(warning["span"]["route"], "/events", "{warning}");
    assert_eq!(warning["fields"]["rule_errors"], 1, "{warning}");
    assert!(
        records
            .iter()
            .any(|r| r["fields"]["message"] == "rules reloaded")
    );
    for private in ["Hanako", "hanako@example.com", "90-1111-2222", "1111"] {
        assert!(!text.contains(private), "{private} in the log:\n{text}");
    }
}

#[test]
fn health_and_metrics_can_require_the_token() {
    let h = TestHome::new();
    let config = h.home().join("kizuna.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("open_status = true"), "{text}");
    std::fs::write(
        &config,
        text.replace("open_status = true", "open_status = false"),
    )
    .unwrap();
    let d = Daemon::start(&h);
    for path in ["/health", "/metrics"] {
        let resp = Daemon::agent()
            .get(format!("{}{path}", d.base))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
    }
    assert_eq!(d.get("/health").0, 200, "with the token");
}

/// The daemon's resident memory, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_thousand_reloads_do_not_grow_memory() {
    let h = TestHome::new();
    // Loyalty, tiers and the silence alarm with their fixtures: every reload compiles
    // three scripts and runs their fixtures (the full pack takes ~10x longer in a debug
    // build; what could leak — engines, ASTs, rule sets, fixture stores — is the same).
    let rules = pack_subset(
        &h,
        "reloaded",
        &[
            "points.rhai",
            "points.test.json",
            "tiers.rhai",
            "tiers.test.json",
            "silence.rhai",
            "silence.test.json",
        ],
    );
    let d = Daemon::start_with(&h, &["--rules", rules.to_str().unwrap()], &[], None);
    let agent = Daemon::agent();
    let reload = || {
        let mut r = agent
            .post(format!("{}/rules/reload", d.base))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send("")
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{}",
            r.body_mut().read_to_string().unwrap()
        );
    };
    // Warm up: allocator arenas, caches and the first sets settle.
    for _ in 0..50 {
        reload();
    }
    let before = rss_kib(d.child.id());
    let started = std::time::Instant::now();
    for n in 0..1000 {
        reload();
        if n % 100 == 0 {
            // Ingest goes on between reloads.
            assert_eq!(
                d.post(&purchase(&format!("m-{n}"), "c-1", 1000), Some(TOKEN))
                    .0,
                202
            );
        }
    }
    let after = rss_kib(d.child.id());
    let (_, health) = d.get("/health");
    assert_eq!(health["reload"]["reloads"], 1050);
    eprintln!(
        "1000 reloads in {:.1} s; RSS {before} KiB -> {after} KiB",
        started.elapsed().as_secs_f64()
    );
    // A leaked rule set is hundreds of KiB; 1000 of them would be hundreds of MiB.
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 1000 reloads"
    );
}

#[test]
fn rules_saved_during_a_load_loop_switch_versions_and_lose_no_event() {
    let h = TestHome::new();
    // Loyalty only (no timers: every stored event is one of the posted purchases).
    let rules = pack_subset(
        &h,
        "live",
        &[
            "points.rhai",
            "points.test.json",
            "tiers.rhai",
            "tiers.test.json",
        ],
    );
    let d = Daemon::start_with(&h, &["--rules", rules.to_str().unwrap()], &[], None);
    let version = |d: &Daemon| d.get("/health").1["rules"].as_str().unwrap().to_owned();
    let v1 = version(&d);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged = std::sync::atomic::AtomicU64::new(0);
    let mut versions = vec![v1.clone()];
    std::thread::scope(|scope| {
        for client in 0..2 {
            let (d, stop, acknowledged) = (&d, &stop, &acknowledged);
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body: Vec<String> = (0..10)
                        .map(|i| purchase(&format!("l-{client}-{n}-{i}"), "c-1", 100))
                        .collect();
                    let (status, report) = d.post(&body.join("\n"), Some(TOKEN));
                    assert_eq!(status, 202, "{report}");
                    assert_eq!(report["accepted"], 10, "{report}");
                    acknowledged.fetch_add(10, std::sync::atomic::Ordering::Relaxed);
                    n += 1;
                }
            });
        }
        // Stops the clients however this thread leaves the scope (an assertion too).
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        // Two saves, the way editors do it, while the clients post.
        let points = rules.join("points.rhai");
        let text = std::fs::read_to_string(&points).unwrap();
        for k in 1..=2 {
            std::thread::sleep(Duration::from_millis(500));
            let tmp = rules.join(".points.rhai.swp");
            std::fs::write(&tmp, format!("// save {k}\n{text}")).unwrap();
            std::fs::rename(&tmp, &points).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let v = version(&d);
                if !versions.contains(&v) {
                    versions.push(v);
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "save {k} never went live: {}",
                    d.get("/health").1
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    });
    let acknowledged = acknowledged.into_inner();
    let (_, health) = d.get("/health");
    assert_eq!(health["events"].as_u64(), Some(acknowledged), "{health}");
    assert_eq!(health["reload"]["reloads"], 2, "{health}");
    d.signal("-TERM");
    let mut d = d;
    assert!(d.child.wait().unwrap().success());
    // Every event's effects name the version that ran on it; all three sets ran.
    let shown = h
        .run(&[
            "customer",
            "show",
            "c-1",
            "--json",
            "--events",
            &acknowledged.to_string(),
        ])
        .ok()
        .json();
    let events = shown["events"].as_array().unwrap();
    assert_eq!(events.len() as u64, acknowledged);
    let used: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["_effects"]["rules"].as_str().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<&str> = versions.iter().map(String::as_str).collect();
    assert_eq!(used, expected);
    assert_eq!(
        shown["customer"]["stats"]["orders"].as_u64(),
        Some(acknowledged)
    );
}

#[test]
fn bench_http_drives_a_real_daemon_and_checks_every_event_was_acknowledged() {
    let h = TestHome::new();
    let out = h
        .run(&[
            "bench",
            "http",
            "--events",
            "300",
            "--concurrency",
            "2",
            "--batch",
            "10",
            "--reloads",
            "1",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["events_acknowledged"], 300, "{out}");
    assert_eq!(out["requests"], 30, "{out}");
    assert_eq!(out["failed_requests"], 0, "{out}");
    assert!(out["request_ms"]["p99"].as_f64().unwrap() > 0.0, "{out}");
    assert!(out["reload_ms"]["max"].as_f64().unwrap() > 0.0, "{out}");
}

#[test]
fn the_daemon_counts_the_dead_letters_it_finds_at_start() {
    let h = TestHome::with_customer();
    // An SMS to a customer without a phone number cannot be addressed: a dead letter.
    h.run(&[
        "send",
        "--customer",
        "c-1",
        "--channel",
        "sms",
        "--template",
        "notice",
        "--class",
        "service",
        "--var",
        "text=ready",
        "--at",
        "2026-03-05T02:00:00Z",
    ])
    .ok();
    let report = h
        .run(&["dispatch", "--now", "2026-03-05T03:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(report["outcomes"]["dead"], 1, "{report}");
    let d = Daemon::start(&h);
    let mut resp = Daemon::agent()
        .get(format!("{}/metrics", d.base))
        .call()
        .unwrap();
    let metrics = resp.body_mut().read_to_string().unwrap();
    assert!(
        metrics.lines().any(|l| l == "kizuna_outbox_dead 1"),
        "{metrics}"
    );
}

/// CPU time (user + system) a process has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// An idle daemon sleeps: with its own clock and with a manual one (whose writer once
/// spun on its channel from the first second on, a core burnt for nothing).
#[test]
fn an_idle_daemon_uses_almost_no_cpu() {
    for args in [&[][..], &["--manual-clock"][..]] {
        let h = TestHome::with_customer();
        let d = Daemon::start_with(&h, args, &[], None);
        // Past the first tick, then two seconds of nothing to do.
        std::thread::sleep(Duration::from_millis(1500));
        let before = cpu_ticks(d.child.id());
        std::thread::sleep(Duration::from_secs(2));
        let used = cpu_ticks(d.child.id()) - before;
        // Clock ticks are 1/100 s: a spinning writer uses ~200 in two seconds.
        assert!(used < 20, "{args:?}: {used} ticks of CPU in 2 s idle");
    }
}
