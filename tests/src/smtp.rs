//! A real SMTP server (Python's aiosmtpd, `tests/support/smtp_sink.py`) on a loopback port,
//! started by a test and stopped when the handle drops.
//!
//! `dev/install-test-deps` (run by `dev/test`, the README's test command) installs aiosmtpd.
//! A machine without it fails these tests with the one line that says how to install it;
//! they are never skipped.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A running SMTP sink. Received messages are files in [`SmtpServer::received`].
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    /// Where messages land (`000001.eml`, …).
    pub dir: tempfile::TempDir,
    /// The port on 127.0.0.1.
    pub port: u16,
}

/// Starts `tests/support/<script> PORT DIR` and waits for its "ready" line.
pub(crate) fn spawn_sink(
    script: &str,
    port: u16,
    dir: &Path,
    env: &[(&str, &str)],
    hint: &str,
) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("support")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is not installed: run `dev/test` (installs what the tests need)");
    let stdout = child.stdout.take().expect("server stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading the server's first line");
    assert_eq!(
        line.trim(),
        "ready",
        "{} did not start ({hint})",
        script.display()
    );
    child
}

/// A free loopback port (bound, read, released; the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl SmtpServer {
    /// Starts the server and waits until it listens.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the server on `port` (to restart one that was stopped).
    pub fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("mail directory");
        Self::start_in(port, dir)
    }

    fn start_in(port: u16, dir: tempfile::TempDir) -> Self {
        let child = spawn_sink(
            "smtp_sink.py",
            port,
            dir.path(),
            &[],
            "aiosmtpd is not installed: run `dev/test` (installs what the tests need), \
             or `python3 -m pip install aiosmtpd`",
        );
        Self { child, dir, port }
    }

    /// Stops the server, keeping what it received; [`SmtpServer::restart`] brings it back.
    pub fn stop(mut self) -> (u16, tempfile::TempDir) {
        self.kill();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("placeholder"));
        (self.port, dir)
    }

    /// Starts a stopped server again on its port, with its mail.
    pub fn restart((port, dir): (u16, tempfile::TempDir)) -> Self {
        Self::start_in(port, dir)
    }

    fn kill(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn files(&self, ext: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("mail directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        files
    }

    /// The received messages as sent on the wire, oldest first.
    pub fn received(&self) -> Vec<String> {
        self.files("eml")
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("a received message"))
            .collect()
    }

    /// The received messages decoded: `{"envelope_to", "headers": {..}, "body"}`.
    pub fn decoded(&self) -> Vec<serde_json::Value> {
        self.files("json")
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("a summary"))
                    .expect("summary JSON")
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real HTTP receiver (`tests/support/webhook_sink.py`) that checks kizuna's signature
/// with `secret`. Accepted messages are in [`WebhookServer::received`].
#[derive(Debug)]
pub struct WebhookServer {
    child: Child,
    dir: tempfile::TempDir,
    /// The port on 127.0.0.1.
    pub port: u16,
}

impl WebhookServer {
    /// Starts the receiver and waits until it listens.
    pub fn start(secret: &str) -> Self {
        let dir = tempfile::tempdir().expect("receiver directory");
        let port = free_port();
        let child = spawn_sink(
            "webhook_sink.py",
            port,
            dir.path(),
            &[("WEBHOOK_SECRET", secret)],
            "python3's http.server",
        );
        Self { child, dir, port }
    }

    /// The paths of the GET requests received (delivery reports), oldest first.
    pub fn gets(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("receiver directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "get"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("a request"))
            .collect()
    }

    /// The accepted messages: `{"message", "message_id", "signature"}`, oldest first.
    pub fn received(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("receiver directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("a message")).expect("JSON")
            })
            .collect()
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
