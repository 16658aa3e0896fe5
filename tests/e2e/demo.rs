use kizuna_tests::{TestHome, run_in};

#[test]
fn demo_is_deterministic_and_refuses_a_home_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let args = |home: &str| -> Vec<String> {
        [
            "--home",
            home,
            "demo",
            "--customers",
            "60",
            "--seed",
            "7",
            "--now",
            "2026-11-01T00:00:00Z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |home: &str| {
        let owned = args(home);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        run_in(dir.path(), &refs)
    };
    let a = run("a").ok();
    let b = run("b").ok();
    let body = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("home:") && !l.starts_with("imported"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&a.stdout), body(&b.stdout), "same seed, same business");
    assert!(a.stdout.contains("customers 60"), "{}", a.stdout);
    assert!(
        a.stdout
            .contains("RFM as of 2026-11-01T00:00:00Z over 60 customers"),
        "{}",
        a.stdout
    );
    assert!(a.stdout.contains("champions"), "{}", a.stdout);
    let again = run("a").fails();
    assert!(
        again.stderr.contains("already holds events"),
        "{}",
        again.stderr
    );
    // The kept home is a working home.
    let h = dir.path().join("a");
    let list = run_in(
        dir.path(),
        &["--home", h.to_str().unwrap(), "customer", "list", "--json"],
    )
    .ok()
    .json();
    assert_eq!(list.as_array().unwrap().len(), 60);
}

#[test]
fn demo_without_home_uses_a_temporary_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(
        dir.path(),
        &["demo", "--customers", "20", "--now", "2026-11-01T00:00:00Z"],
    )
    .ok();
    assert!(
        run.stdout
            .contains("(temporary; pass --home DIR to keep it)"),
        "{}",
        run.stdout
    );
    assert!(
        !dir.path().join("kizuna-data").exists(),
        "the default home was not touched"
    );
}

#[test]
fn bench_ingest_reports_throughput_and_memory() {
    let h = TestHome::new();
    let out = h
        .run(&["bench", "ingest", "--events", "2000", "--json"])
        .ok()
        .json();
    assert_eq!(out["events"], 2000);
    assert_eq!(out["customers"], 100);
    assert!(out["events_per_second"].as_f64().unwrap() > 0.0);
    assert!(out["peak_rss_mib"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_campaign_and_dispatch_queue_and_send_every_message() {
    let h = TestHome::new();
    let campaign = h
        .run(&["bench", "campaign", "--customers", "200", "--json"])
        .ok()
        .json();
    assert_eq!(campaign["members"], 200, "{campaign}");
    assert_eq!(campaign["queued"], 200, "{campaign}");
    assert_eq!(campaign["pending"], 200, "{campaign}");
    let dispatch = h
        .run(&["bench", "dispatch", "--messages", "600", "--json"])
        .ok()
        .json();
    assert_eq!(dispatch["messages"], 600, "{dispatch}");
    assert_eq!(dispatch["sent"], 600, "{dispatch}");
}
