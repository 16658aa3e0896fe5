//! Commands beside a running daemon under load and under faults: two admins at once, an
//! erase and a backup while events pour in, a daemon killed mid-command, a replay that
//! must not hold ingest up.

use kizuna_tests::{Run, TestHome, daemon::Daemon, tree_contains};

#[test]
fn two_admins_at_once_each_get_their_own_whole_answer() {
    let h = crate::admin::business();
    let _daemon = Daemon::start(&h);
    let expected = h.run(&["customer", "list", "--json"]).ok().stdout;
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let h = &h;
                s.spawn(move || {
                    if i % 2 == 0 {
                        h.run(&["customer", "list", "--json"])
                    } else {
                        h.run(&["report", "kpi", "--json"])
                    }
                })
            })
            .collect();
        handles.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (i, run) in runs.into_iter().enumerate() {
        let run = run.ok();
        if i % 2 == 0 {
            assert_eq!(run.stdout, expected);
        } else {
            run.json();
        }
    }
}

#[test]
fn erase_through_the_daemon_leaves_no_trace_while_ingest_goes_on() {
    let h = TestHome::new();
    h.file(
        "c.csv",
        "id,name,email,phone,kind,tz,birthday\n\
         c-9,Hanako Secretname,hanako@secret.example,,personal,Asia/Tokyo,\n\
         c-1,Aiko,aiko@example.jp,,personal,Asia/Tokyo,\n",
    );
    h.run(&["import", "c.csv", "--at", "2026-03-01T00:00:00Z"])
        .ok();
    let daemon = Daemon::start(&h);
    let posted = std::thread::scope(|s| {
        let poster = s.spawn(|| {
            let mut acknowledged = 0;
            for batch in 0..40 {
                let body: Vec<String> = (0..25)
                    .map(|i| kizuna_tests::daemon::purchase(&format!("p-{batch}-{i}"), "c-1", 10))
                    .collect();
                let (status, _) = daemon.post(&body.join("\n"), Some(kizuna_tests::daemon::TOKEN));
                assert_eq!(status, 202);
                acknowledged += 25;
            }
            acknowledged
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let erased = h.run(&["customer", "erase", "c-9", "--yes"]).ok();
        assert!(erased.stdout.starts_with("erased c-9"), "{}", erased.stdout);
        poster.join().unwrap()
    });
    assert_eq!(posted, 1000);
    let c1 = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(c1["customer"]["stats"]["orders"], 1000);
    for needle in ["Secretname", "secret.example"] {
        assert!(
            !tree_contains(&h.home(), needle.as_bytes()),
            "{needle} still on disk after the erase"
        );
    }
    // A post of her events is acknowledged and counted, not stored.
    let (status, answer) = daemon.post(
        &kizuna_tests::daemon::purchase("late-1", "c-9", 10),
        Some(kizuna_tests::daemon::TOKEN),
    );
    assert_eq!(
        (status, &answer["accepted"], &answer["erased"]),
        (202, &0.into(), &1.into()),
        "{answer}"
    );
    let metrics = daemon.get_text("/metrics");
    assert!(
        metrics.contains("kizuna_events_erased_total 1"),
        "{metrics}"
    );
    // Events acknowledged after the compaction are still there after a crash.
    daemon.signal("-KILL");
    drop(daemon);
    let c1 = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(c1["customer"]["stats"]["orders"], 1000);
}

#[test]
fn a_daemon_killed_during_a_command_is_reported_and_the_command_can_be_run_again() {
    let h = TestHome::with_customer();
    let lines: Vec<String> = (0..60_000)
        .map(|i| {
            format!(
                r#"{{"id":"big-{i}","customer":"c-{}","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":100}}"#,
                i % 500
            )
        })
        .collect();
    h.file("big.jsonl", &(lines.join("\n") + "\n"));
    let daemon = Daemon::start(&h);
    let import = h.spawn(&["import", "big.jsonl"]);
    std::thread::sleep(std::time::Duration::from_millis(700));
    daemon.signal("-KILL");
    let out = import.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stopped before it answered"), "{stderr}");
    drop(daemon);
    // What the import stored before the kill is kept; running it again completes it.
    let again = h.run(&["import", "big.jsonl", "--json"]).ok().json();
    let status = h.run(&["status", "--json"]).ok().json();
    assert_eq!(status["events"], 60_001, "{again}");
}

#[test]
fn a_backup_taken_during_ingest_holds_every_acknowledged_batch_and_restores() {
    let h = TestHome::with_customer();
    let daemon = Daemon::start(&h);
    let batch = |n: usize| -> String {
        (0..20)
            .map(|i| {
                kizuna_tests::daemon::purchase(&format!("b-{n}-{i}"), &format!("c-{}", i % 5), 10)
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let acknowledged = std::sync::atomic::AtomicUsize::new(0);
    let before = std::thread::scope(|s| {
        let poster = s.spawn(|| {
            for n in 0..60 {
                let (status, _) = daemon.post(&batch(n), Some(kizuna_tests::daemon::TOKEN));
                assert_eq!(status, 202);
                acknowledged.store(n + 1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 10 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let before = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
        let out = h.run(&["backup", "bk", "--json"]).ok().json();
        assert!(
            out["check"]["problems"].as_array().unwrap().is_empty(),
            "{out}"
        );
        poster.join().unwrap();
        before
    });
    drop(daemon);
    let restored = TestHome::new_empty();
    let src = h.dir().join("bk");
    let out = restored.run(&["restore", src.to_str().unwrap()]).ok();
    assert!(out.stdout.contains("it passes a check"), "{}", out.stdout);
    // Every batch acknowledged before the backup began is in the copy.
    for c in 0..5 {
        let shown = restored
            .run(&[
                "customer",
                "show",
                &format!("c-{c}"),
                "--json",
                "--events",
                "100000",
            ])
            .ok()
            .json();
        let ids: std::collections::HashSet<&str> = shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        for n in 0..before {
            for i in (c..20).step_by(5) {
                assert!(
                    ids.contains(format!("b-{n}-{i}").as_str()),
                    "b-{n}-{i} missing"
                );
            }
        }
    }
    restored.run(&["check"]).ok();
    // A restore goes into an empty home only, from a backup only.
    let again = restored.run(&["restore", src.to_str().unwrap()]).fails();
    assert!(again.stderr.contains("is not empty"), "{}", again.stderr);
    let other = TestHome::new_empty();
    let not_backup = other.run(&["restore", h.dir().to_str().unwrap()]).fails();
    assert!(
        not_backup.stderr.contains("is not a kizuna backup"),
        "{}",
        not_backup.stderr
    );
    assert!(!other.home().join("kizuna.toml").exists());
}

#[test]
fn ingest_is_answered_while_a_replay_runs_beside_the_writer() {
    let h = TestHome::new();
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                r#"{{"id":"r-{i}","customer":"c-{}","type":"purchase","at":"2026-{:02}-{:02}T10:00:00+09:00","amount":{}}}"#,
                i % 400,
                i % 12 + 1,
                i % 28 + 1,
                100 + i % 5000
            )
        })
        .collect();
    h.file("year.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", "year.jsonl"]).ok();
    let daemon = Daemon::start(&h);
    let out = posted_while(&daemon, "c-1", h.spawn(&["rules", "replay", "--json"]));
    let diff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(diff.is_object(), "{diff}");
}

#[test]
fn ingest_is_answered_while_a_campaign_to_everyone_is_queued() {
    let h = TestHome::new();
    let mut csv = String::from("id,name,email,phone,kind,tz,birthday\n");
    let mut consent = String::new();
    for i in 0..15_000 {
        csv.push_str(&format!(
            "c-{i:05},N{i},n{i}@example.jp,,personal,Asia/Tokyo,\n"
        ));
        consent.push_str(&format!(
            r#"{{"id":"o-{i}","customer":"c-{i:05}","type":"opt_in","at":"2026-03-01T10:00:00+09:00","channel":"email"}}"#
        ));
        consent.push('\n');
    }
    h.file("c.csv", &csv);
    h.file("o.jsonl", &consent);
    h.run(&["import", "c.csv", "o.jsonl", "--at", "2026-02-01T00:00:00Z"])
        .ok();
    let daemon = Daemon::start_with(&h, &["--manual-clock"], &[], None);
    let campaign = h.spawn(&[
        "campaign",
        "run",
        "news",
        "--segment",
        "email_ok",
        "--template",
        "notice",
        "--var",
        "subject=News",
        "--var",
        "text=Hello",
        "--json",
    ]);
    let out = posted_while(&daemon, "c-00001", campaign);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["queued"], 15_000, "{report}");
    // Nothing queued twice, nobody left out, the posts stored.
    let status = h.run(&["status", "--json"]).ok().json();
    assert_eq!(status["queue"], 15_000, "{status}");
    let c1 = h
        .run(&["customer", "show", "c-00001", "--json"])
        .ok()
        .json();
    assert_eq!(c1["customer"]["stats"]["orders"], 5);
}

#[test]
fn ingest_is_answered_while_an_rfm_pass_rescores_everyone() {
    let h = TestHome::new();
    let lines: Vec<String> = (0..15_000)
        .map(|i| {
            format!(
                r#"{{"id":"b-{i}","customer":"c-{i:05}","type":"purchase","at":"2026-{:02}-{:02}T10:00:00+09:00","amount":{}}}"#,
                i % 12 + 1,
                i % 28 + 1,
                100 + i % 5000
            )
        })
        .collect();
    h.file("buys.jsonl", &(lines.join("\n") + "\n"));
    h.run(&["import", "buys.jsonl"]).ok();
    let daemon = Daemon::start_with(&h, &["--manual-clock"], &[], None);
    let rfm = h.spawn(&["rfm", "--now", "2027-01-01T00:00:00Z", "--json"]);
    let out = posted_while(&daemon, "c-00001", rfm);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["customers"], 15_000, "{summary}");
    // The purchases stored during the pass are in the record beside its new scores.
    let c1 = h
        .run(&["customer", "show", "c-00001", "--json"])
        .ok()
        .json();
    assert_eq!(c1["customer"]["stats"]["orders"], 6, "{c1}");
    assert!(c1["customer"]["rfm"]["segment"].is_string(), "{c1}");
}

/// Posts five purchases for `customer` while `command` runs; each must be acknowledged,
/// and `command` must still be running after the last (else it was too short to show
/// that ingest went on beside it). Its output, after checking that it succeeded.
fn posted_while(
    daemon: &Daemon,
    customer: &str,
    mut command: std::process::Child,
) -> std::process::Output {
    std::thread::sleep(std::time::Duration::from_millis(400));
    for n in 0..5 {
        let (status, body) = daemon.post(
            &kizuna_tests::daemon::purchase(&format!("live-{n}"), customer, 10),
            Some(kizuna_tests::daemon::TOKEN),
        );
        assert_eq!(status, 202, "{body}");
    }
    let still_running = command.try_wait().unwrap().is_none();
    let out = command.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        still_running,
        "the command ended before the posts were answered: too small to show anything"
    );
    out
}
