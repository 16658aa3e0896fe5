use kizuna_tests::{TestHome, run_in};

#[test]
fn init_creates_the_home_once() {
    let h = TestHome::new();
    for part in ["kizuna.toml", "db", "rules/README.md"] {
        assert!(h.home().join(part).exists(), "{part} missing");
    }
    let before = std::fs::read_to_string(h.home().join("kizuna.toml")).unwrap();
    let run = h.run(&["init"]).fails();
    assert!(
        run.stderr.contains("already a kizuna home"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(h.home().join("kizuna.toml")).unwrap(),
        before
    );
}

#[test]
fn a_missing_home_or_broken_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), &["customer", "list"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("kizuna-data is not a kizuna home"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("kizuna init"), "{}", run.stderr);

    let h = TestHome::new();
    std::fs::write(
        h.home().join("kizuna.toml"),
        "[store]\ncache_mb = 64\ncolour = \"blue\"\n",
    )
    .unwrap();
    let run = h.run(&["customer", "list"]).fails();
    assert!(run.stderr.contains("kizuna.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
}

#[test]
fn a_database_from_a_newer_kizuna_is_refused_and_left_alone() {
    let h = TestHome::new();
    h.run(&[
        "event",
        "add",
        "--customer",
        "c-1",
        "--type",
        "visit",
        "--at",
        "2026-01-01T00:00:00Z",
    ])
    .ok();
    {
        let db = sled::open(h.home().join("db")).unwrap();
        let tree = db.open_tree("kizuna").unwrap();
        tree.insert(b"mschema", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let run = h.run(&["customer", "list"]).fails();
    assert!(run.stderr.contains("schema version 99"), "{}", run.stderr);
    assert!(run.stderr.contains("upgrade kizuna"), "{}", run.stderr);
    let run = h
        .run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "visit",
            "--at",
            "2026-01-02T00:00:00Z",
        ])
        .fails();
    assert!(run.stderr.contains("schema version 99"), "{}", run.stderr);
    let db = sled::open(h.home().join("db")).unwrap();
    let version = db
        .open_tree("kizuna")
        .unwrap()
        .get(b"mschema")
        .unwrap()
        .unwrap();
    assert_eq!(
        version.as_ref(),
        99u32.to_be_bytes(),
        "the newer database was not rewritten"
    );
}

#[test]
fn a_database_in_use_by_another_process_is_a_clear_error() {
    let h = TestHome::new();
    let _held = sled::open(h.home().join("db")).unwrap();
    let run = h.run(&["customer", "list"]).fails();
    assert!(
        run.stderr.contains("in use by another kizuna process"),
        "{}",
        run.stderr
    );
}
