//! Helpers for kizuna's end-to-end tests: find (and build) the `kizuna` binary, make a
//! temporary home, run commands and read their output.
//!
//! The tests run the real binary as a separate process, the way an operator or a cron job
//! would, so exit codes, stdout/stderr separation and on-disk effects are all under test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: failing loudly is the job

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

pub mod browser;
pub mod daemon;
pub mod disk;
pub mod kannel;
pub mod smtp;

/// The path of the `kizuna` binary, built on first use.
///
/// An integration test can only ask cargo for binaries of its own package, and the binary
/// lives in `cli/`, so this runs `cargo build -p kizuna` once (a no-op when it is fresh) in
/// the same profile and target directory as the running test.
pub fn kizuna_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // <target>/<profile>/deps/<test-binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let mut build = Command::new(cargo);
        build
            .current_dir(workspace)
            .args(["build", "--quiet", "-p", "kizuna", "--bin", "kizuna"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p kizuna failed");
        let bin = profile_dir.join(format!("kizuna{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts exit 1 and returns self.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit 1\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `kizuna` with `args` in `cwd`, without a terminal and without `KIZUNA_HOME`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    run_with_env(cwd, args, &[])
}

/// [`run_in`] with extra environment variables (secrets, which never go in a file).
pub fn run_with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(kizuna_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .env_remove("KIZUNA_HOME")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running kizuna");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temporary directory holding an initialised kizuna home at `home/`.
#[derive(Debug)]
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    /// Creates the directory and runs `kizuna init`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Self { dir };
        home.run(&["init"]).ok();
        home
    }

    /// A scratch directory whose home does not exist yet (for `restore`).
    pub fn new_empty() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A home with one customer imported: `c-1`, Aiko, an e-mail address and no phone,
    /// in Tokyo (no consent recorded).
    pub fn with_customer() -> Self {
        let home = Self::new();
        let csv = home.file(
            "c.csv",
            "id,name,email,phone,kind,tz,birthday\nc-1,Aiko,aiko@example.jp,,personal,Asia/Tokyo,\n",
        );
        home.run(&["import", &csv, "--at", "2026-03-01T00:00:00Z"])
            .ok();
        home
    }

    /// [`TestHome::with_customer`], opted in to e-mail on 2026-03-01.
    pub fn with_customer_opted_in() -> Self {
        let home = Self::with_customer();
        home.run(&[
            "event",
            "add",
            "--customer",
            "c-1",
            "--type",
            "opt_in",
            "--at",
            "2026-03-01T00:00:00Z",
            "channel=email",
        ])
        .ok();
        home
    }

    /// The scratch directory (files to import go here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The kizuna home.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// [`TestHome::run`] with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let home = self.home();
        let mut all = vec!["--home", home.to_str().unwrap()];
        all.extend_from_slice(args);
        run_with_env(self.dir(), &all, env)
    }

    /// Runs `kizuna --home <home> args…` in the scratch directory.
    pub fn run(&self, args: &[&str]) -> Run {
        let home = self.home();
        let mut all = vec!["--home", home.to_str().unwrap()];
        all.extend_from_slice(args);
        run_in(self.dir(), &all)
    }

    /// Starts `kizuna --home <home> args…` in the scratch directory without waiting for
    /// it, stdout and stderr captured: a command that runs while the test does more.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(kizuna_bin())
            .arg("--home")
            .arg(self.home())
            .args(args)
            .current_dir(self.dir())
            .env_remove("KIZUNA_HOME")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting kizuna")
    }

    /// Runs `kizuna --home <home> args…` with its standard output a pipe whose reader has
    /// already gone, as in `kizuna … | head` once `head` has had its lines.
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> Run {
        let mut child = self.spawn(args);
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// [`TestHome::run`] that must end within `limit`: a command that hangs is killed and
    /// fails the test, instead of hanging the suite.
    #[track_caller]
    pub fn run_within(&self, limit: std::time::Duration, args: &[&str]) -> Run {
        let mut child = self.spawn(args);
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`kizuna {}` did not end within {limit:?}", args.join(" "));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Sets the section `[channels.<name>]` of the home's kizuna.toml to `body` (its keys,
    /// one a line), replacing the section if there is one, else adding it.
    pub fn set_channel(&self, name: &str, body: &str) {
        self.set_section(&format!("channels.{name}"), body);
    }

    /// Sends the home's e-mail (channel `email`) through the SMTP server on `port`.
    pub fn use_smtp(&self, port: u16) {
        self.set_channel(
            "email",
            &format!("type = \"smtp\"\nfrom = \"shop@kizuna.example\"\nport = {port}"),
        );
    }

    /// Sets the section `[<name>]` of the home's kizuna.toml to `body`, replacing the
    /// section if there is one, else adding it.
    pub fn set_section(&self, name: &str, body: &str) {
        let path = self.home().join("kizuna.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let header = format!("[{name}]");
        let section = format!("{header}\n{}\n\n", body.trim());
        let text = match text.find(&format!("\n{header}\n")) {
            Some(at) => {
                let start = at + 1;
                let after = start + header.len();
                let end = text[after..]
                    .find("\n[")
                    .map_or(text.len(), |n| after + n + 1);
                format!("{}{section}{}", &text[..start], &text[end..])
            }
            None => format!("{text}\n{section}"),
        };
        std::fs::write(&path, text).unwrap();
    }

    /// Replaces the `[staff]` section of the home's kizuna.toml (with its
    /// `[[staff.recipients]]`) by `body`, written at the end of the file.
    pub fn set_staff(&self, body: &str) {
        let path = self.home().join("kizuna.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut kept = Vec::new();
        let mut in_staff = false;
        for line in text.lines() {
            if line.starts_with('[') {
                in_staff = line.starts_with("[staff]") || line.starts_with("[[staff.");
            }
            if !in_staff {
                kept.push(line);
            }
        }
        let text = format!("{}\n\n{}\n", kept.join("\n"), body.trim());
        std::fs::write(&path, text).unwrap();
    }

    /// Writes `content` to `name` in the scratch directory and returns its path as text.
    pub fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// A fixture from `tests/data/`.
    pub fn fixture(name: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(name)
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Ids of every customer, via `customer list --json`.
    pub fn customer_ids(&self) -> Vec<String> {
        let list = self.run(&["customer", "list", "--json"]).ok().json();
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether any file under `dir` contains `needle`. Files that vanish while it looks (a
/// running daemon's temporary files) are passed over.
pub fn tree_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            tree_contains(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}
