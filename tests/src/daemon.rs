//! A `kizuna run` daemon for tests: started on a free loopback port, spoken to over real
//! HTTP, killed when dropped.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::{TestHome, kizuna_bin};

/// The token every test daemon is started with.
pub const TOKEN: &str = "test-token-0123456789";

/// `kizuna run` on a free port; killed when dropped (if still running).
#[derive(Debug)]
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Daemon {
    /// Starts a daemon on `h`'s home and waits until it listens.
    pub fn start(h: &TestHome) -> Self {
        Self::start_with(h, &[], &[], None)
    }

    /// Starts a daemon with extra arguments and environment; its log (stderr) goes to
    /// `log` when given.
    pub fn start_with(
        h: &TestHome,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let port = crate::smtp::free_port();
        let stderr = log.map_or_else(Stdio::null, |p| {
            Stdio::from(std::fs::File::create(p).unwrap())
        });
        let mut child = Command::new(kizuna_bin())
            .args(["--home", h.home().to_str().unwrap(), "run", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("KIZUNA_TOKEN", TOKEN)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("kizuna listening on"), "{line}");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// An HTTP client that returns error statuses instead of failing.
    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into()
    }

    /// POSTs `body` to /events (with the token unless `token` is None).
    pub fn post(&self, body: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = Self::agent().post(format!("{}/events", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.send(body).unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// GETs `path` with the token; status and JSON body.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let mut resp = Self::agent()
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Sends `sig` (`-TERM`, `-KILL`, `-HUP`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A purchase event as JSON.
pub fn purchase(id: &str, customer: &str, amount: i64) -> String {
    format!(
        r#"{{"id":"{id}","customer":"{customer}","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":{amount}}}"#
    )
}
