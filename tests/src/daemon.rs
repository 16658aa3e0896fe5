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

    /// GETs `path` with the token; the body as text (`/metrics`).
    pub fn get_text(&self, path: &str) -> String {
        Self::agent()
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
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

    /// Sends `method path` with `token` (if any) and `body` (JSON, if any); status and
    /// JSON body (`Null` when the body is not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let agent = Self::agent();
        let result = match (method, body) {
            ("GET", _) => {
                let mut req = agent.get(&url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            (_, body) => {
                let mut req = match method {
                    "POST" => agent.post(&url),
                    "PUT" => agent.put(&url),
                    "DELETE" => {
                        let mut req = agent.delete(&url);
                        if let Some(a) = &auth {
                            req = req.header("Authorization", a);
                        }
                        return read(req.call().unwrap());
                    }
                    other => panic!("method {other}"),
                };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                let text = body.map(ToString::to_string).unwrap_or_default();
                req.header("Content-Type", "application/json").send(text)
            }
        };
        read(result.unwrap())
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

fn read(mut resp: ureq::http::Response<ureq::Body>) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A purchase event as JSON.
pub fn purchase(id: &str, customer: &str, amount: i64) -> String {
    format!(
        r#"{{"id":"{id}","customer":"{customer}","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":{amount}}}"#
    )
}
