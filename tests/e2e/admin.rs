//! Every command beside a running daemon: the CLI finds the daemon's admin socket and the
//! daemon carries the command out, with the same output as offline.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::{fs::PermissionsExt, net::UnixStream},
};

use kizuna_tests::{Run, TestHome, daemon::Daemon};

/// The fixture business moved to 2031, so that nothing it schedules falls due while a
/// test runs: the daemon's own clock (real time) then never fires a timer or sends a
/// message that the offline home would not, and the two homes stay alike.
fn future(text: &str) -> String {
    text.replace("2026-", "2031-")
}

/// A home with the fixture customers and events, everything dated 2031.
pub(crate) fn business() -> TestHome {
    let h = TestHome::new();
    let customers = std::fs::read_to_string(TestHome::fixture("customers.csv")).unwrap();
    let events = std::fs::read_to_string(TestHome::fixture("events.jsonl")).unwrap();
    h.file("customers.csv", &customers);
    h.file("events.jsonl", &future(&events));
    h.run(&[
        "import",
        "customers.csv",
        "events.jsonl",
        "--at",
        "2031-01-01T00:00:00Z",
    ])
    .ok();
    // Input files the table below imports, replays and names.
    h.file(
        "more.jsonl",
        &future(
            r#"{"id":"m-1","customer":"c-4","type":"purchase","at":"2026-05-01T10:00:00+09:00","amount":900}
{"id":"m-2","customer":"c-1","type":"purchase","at":"2026-05-02T10:00:00+09:00","amount":1500,"items":["dripper"]}
"#,
        ),
    );
    h.file(
        "bad.jsonl",
        "{\"customer\":\"c-1\",\"type\":\"purchase\",\"at\":\"2031-05-01T10:00:00+09:00\",\"amount\":-3}\nnot json\n",
    );
    let candidate = h.dir().join("candidate");
    copy_dir(&h.home().join("rules"), &candidate);
    // The candidate doubles every award: the replay has something to show.
    let points = candidate.join("points.rhai");
    let text = std::fs::read_to_string(&points).unwrap();
    std::fs::write(&points, format!("{text}\n// candidate\n")).unwrap();
    h
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every command that works on the store, succeeding and failing, in an order that
/// changes the two homes alike. Times are explicit, so both doors compute the same.
const TABLE: &[&[&str]] = &[
    &["customer", "list"],
    &["customer", "list", "--json"],
    &["customer", "list", "--segment", "nope"],
    &["customer", "show", "c-1"],
    &["customer", "show", "c-1", "--json", "--events", "3"],
    &["customer", "show", "c-404"],
    &["customer", "show", "not an id"],
    &["points", "show", "c-1", "--at", "2031-06-01T00:00:00Z"],
    &[
        "points",
        "show",
        "c-1",
        "--at",
        "2031-06-01T00:00:00Z",
        "--json",
    ],
    &["points", "show", "c-404"],
    &["alerts"],
    &["alerts", "--open", "--json"],
    &["import", "more.jsonl"],
    &["import", "more.jsonl", "--json"],
    &["import", "bad.jsonl"],
    &["import", "bad.jsonl", "--json"],
    &["import", "missing.jsonl"],
    &["import", "notes.txt"],
    &[
        "event",
        "add",
        "--customer",
        "c-3",
        "--type",
        "purchase",
        "--at",
        "2031-05-03T10:00:00+09:00",
        "--id",
        "x-1",
        "amount=1200",
    ],
    &[
        "event",
        "add",
        "--customer",
        "c-3",
        "--type",
        "purchase",
        "--at",
        "yesterday",
        "amount=1200",
    ],
    &["rfm", "--now", "2031-06-01T00:00:00Z"],
    &["rfm", "--now", "2031-06-01T00:00:00Z", "--json"],
    &["report", "rfm"],
    &["report", "rfm", "--csv"],
    &["segment", "list", "--now", "2031-06-01T00:00:00Z"],
    &[
        "segment",
        "show",
        "email_ok",
        "--now",
        "2031-06-01T00:00:00Z",
        "--json",
    ],
    &["segment", "show", "nope"],
    &[
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
    ],
    &[
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
        "--json",
    ],
    &[
        "campaign",
        "run",
        "newsletter",
        "--segment",
        "email_ok",
        "--template",
        "no_such_template",
    ],
    &[
        "send",
        "--customer",
        "c-3",
        "--channel",
        "email",
        "--template",
        "notice",
        "--var",
        "subject=Hi",
        "--var",
        "text=Hello",
        "--class",
        "service",
        "--at",
        "2031-06-01T01:00:00Z",
    ],
    &[
        "send",
        "--customer",
        "c-404",
        "--channel",
        "email",
        "--template",
        "notice",
    ],
    &["outbox", "list"],
    &["outbox", "list", "--status", "pending", "--json"],
    &["outbox", "list", "--status", "bogus"],
    &["outbox", "retry", "m-999999-0"],
    &["dispatch", "--now", "2031-06-01T12:00:00Z"],
    &["dispatch", "--now", "2031-06-01T12:00:00Z", "--json"],
    &["report", "guards"],
    &["report", "guards", "--json"],
    &["report", "kpi"],
    &["report", "kpi", "--by", "channel", "--json"],
    &["report", "kpi", "--csv"],
    &["tick", "--now", "2031-06-03T00:00:00Z", "--no-rfm"],
    &["tick", "--now", "2031-06-04T00:00:00Z", "--json"],
    &["alerts", "--by-priority"],
    &["rules", "errors"],
    &["rules", "errors", "--json"],
    &["rules", "replay", "--until", "2031-06-05T00:00:00Z"],
    &[
        "rules",
        "replay",
        "--scripts",
        "candidate",
        "--until",
        "2031-06-05T00:00:00Z",
        "--json",
    ],
    &["rules", "replay", "--scripts", "nodir"],
    &["check"],
    &["check", "--json", "--sample", "2"],
    &["backup", "bk"],
    &["backup", "bk"],
    &["export"],
    &[
        "export",
        "--since",
        "2031-06-01T00:00:00Z",
        "-o",
        "recent.jsonl",
    ],
    &["export", "--since", "yesterday"],
    &["customer", "erase", "c-2"],
    &["customer", "erase", "c-2", "--yes"],
    &["customer", "erase", "c-2", "--yes"],
    &["customer", "list", "--json"],
];

/// Output with the measured durations (`"…_seconds": 0.0123`) blanked and the test's
/// own directory named `$DIR`: what differs between two homes and two runs.
fn normalized(h: &TestHome, text: &str) -> String {
    let text = text.replace(h.dir().to_str().unwrap(), "$DIR");
    text.lines()
        .map(|line| match line.find("_seconds\": ") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same invocation must print the same and exit the same through either door.
#[track_caller]
fn assert_same(args: &[&str], (a, offline): (&TestHome, &Run), (b, via_daemon): (&TestHome, &Run)) {
    assert_eq!(
        (
            offline.code,
            normalized(a, &offline.stdout),
            normalized(a, &offline.stderr)
        ),
        (
            via_daemon.code,
            normalized(b, &via_daemon.stdout),
            normalized(b, &via_daemon.stderr)
        ),
        "`kizuna {}` differs between offline (left) and through the daemon (right)",
        args.join(" ")
    );
}

#[test]
fn every_command_prints_the_same_offline_and_through_a_running_daemon() {
    let offline = business();
    let held = business();
    // Its clock would send what the offline home keeps pending until `dispatch`; on
    // command only, the two homes see the same sequence of changes.
    let daemon = Daemon::start_with(&held, &["--manual-clock"], &[], None);
    // The home is held: opening it directly fails as before, with the same message.
    let direct = held.run(&["customer", "list", "--offline"]).fails();
    assert!(
        direct.stderr.contains("in use by another kizuna process"),
        "{}",
        direct.stderr
    );
    let mut failures = 0;
    for args in TABLE {
        let a = offline.run(args);
        let b = held.run(args);
        assert_same(args, (&offline, &a), (&held, &b));
        failures += usize::from(a.code != Some(0));
    }
    // The table exercises both outcomes, and the daemon answered all along.
    assert!(failures >= 15, "only {failures} failing invocations");
    assert!(
        failures < TABLE.len() - 20,
        "{failures} of {} failed",
        TABLE.len()
    );
    let status = held.run(&["status", "--json"]).ok().json();
    assert_eq!(status["daemon"]["pid"], daemon.child.id());
    assert_eq!(status["daemon"]["manual_clock"], true);
    let offline_status = offline.run(&["status", "--json"]).ok().json();
    assert!(offline_status["daemon"].is_null());
    for figure in ["events", "customers", "queue", "open_alerts", "rules"] {
        assert_eq!(status[figure], offline_status[figure], "{figure}");
    }
    // The rejects file is written where the user is, by the client.
    let a = offline.run(&[
        "import",
        "bad.jsonl",
        "--skip-invalid",
        "--rejects",
        "r.jsonl",
    ]);
    let b = held.run(&[
        "import",
        "bad.jsonl",
        "--skip-invalid",
        "--rejects",
        "r.jsonl",
    ]);
    assert_same(&["import", "--skip-invalid"], (&offline, &a), (&held, &b));
    let read = |h: &TestHome| std::fs::read_to_string(h.dir().join("r.jsonl")).unwrap();
    assert_eq!(read(&offline), read(&held));
    assert!(read(&held).contains("\"line\":2"));
    // So is an export's output file, with the same lines.
    let recent = |h: &TestHome| std::fs::read_to_string(h.dir().join("recent.jsonl")).unwrap();
    assert_eq!(recent(&offline), recent(&held));
    assert!(
        recent(&held).contains("\"customer\":\"c-"),
        "{}",
        recent(&held)
    );
    // Messages the two dispatches wrote are the same files.
    let eml = |h: &TestHome| {
        let mut names: Vec<_> = std::fs::read_dir(h.home().join("outbox/email"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    assert!(!eml(&held).is_empty());
    assert_eq!(eml(&offline), eml(&held));
    drop(daemon);
}

#[test]
fn status_says_whether_a_daemon_holds_the_home() {
    let h = TestHome::with_customer();
    let offline = h.run(&["status"]).ok();
    assert!(offline.stdout.contains("not running"), "{}", offline.stdout);
    assert!(
        offline.stdout.contains("customers   1"),
        "{}",
        offline.stdout
    );
    let daemon = Daemon::start(&h);
    let running = h.run(&["status"]).ok();
    assert!(
        running
            .stdout
            .contains(&format!("pid {}", daemon.child.id())),
        "{}",
        running.stdout
    );
    assert!(running.stdout.contains(&daemon.base), "{}", running.stdout);
    // A broken save shows as the last reload error.
    std::fs::write(
        h.home().join("rules/broken.rhai"),
        "fn on_event(e, c) { let x = ; }",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = h.run(&["status", "--json"]).ok().json();
        if let Some(e) = s["daemon"]["reload"]["last_error"].as_str() {
            assert!(e.contains("broken.rhai"), "{e}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reload error: {s}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let text = h.run(&["status"]).ok().stdout;
    assert!(text.contains("last reload failed: "), "{text}");
}

#[test]
fn the_admin_socket_is_the_owners_alone_and_goes_with_the_daemon() {
    let h = TestHome::with_customer();
    let socket = h.home().join("kizuna.sock");
    let daemon = Daemon::start(&h);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    daemon.signal("-TERM");
    let mut daemon = daemon;
    assert!(daemon.child.wait().unwrap().success());
    assert!(!socket.exists(), "socket left after a clean stop");
    h.run(&["customer", "show", "c-1"]).ok();
}

#[test]
fn a_socket_left_by_a_killed_daemon_is_no_dead_end() {
    let h = TestHome::with_customer();
    let socket = h.home().join("kizuna.sock");
    let daemon = Daemon::start(&h);
    daemon.signal("-KILL");
    let mut daemon = daemon;
    let _ = daemon.child.wait();
    assert!(socket.exists(), "kill -9 leaves the socket file");
    // Commands notice nobody listens and open the home themselves.
    let shown = h.run(&["customer", "show", "c-1", "--json"]).ok().json();
    assert_eq!(shown["customer"]["id"], "c-1");
    // The next daemon replaces the file and serves.
    let _daemon = Daemon::start(&h);
    let status = h.run(&["status", "--json"]).ok().json();
    assert!(status["daemon"]["pid"].is_u64(), "{status}");
}

#[test]
fn a_client_of_another_version_is_told_both_versions_and_nothing_runs() {
    let h = TestHome::with_customer();
    let _daemon = Daemon::start(&h);
    let mut stream = UnixStream::connect(h.home().join("kizuna.sock")).unwrap();
    let request = serde_json::json!({
        "protocol": 1, "version": "0.0.1",
        "argv": ["kizuna", "customer", "erase", "c-1", "--yes"],
        "rules": null, "inputs": [],
    });
    writeln!(stream, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let response: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(response["exit"], 1);
    let err = response["stderr"].as_str().unwrap();
    assert!(
        err.contains("0.0.1") && err.contains(env!("CARGO_PKG_VERSION")),
        "{err}"
    );
    h.run(&["customer", "show", "c-1"]).ok();
}
