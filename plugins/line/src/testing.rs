//! A local stand-in for the LINE Platform, answering as LINE documents: for this crate's
//! tests and kizuna's end-to-end tests (feature `testing`).
//!
//! [`LineServer`] answers `POST /v2/bot/message/push` and `GET /v2/bot/info` on loopback:
//!
//! - no or another bearer token: 401 `Authentication failed…`;
//! - a body that is not JSON, or `to` that is not a user id: 400 with LINE's message;
//! - a text message longer than 5000 characters: 400 with a detail on `messages[0].text`;
//! - `X-Line-Retry-Key` that is not a UUID: 400; a key accepted before: 409 with
//!   `x-line-accepted-request-id` (the request is not executed again);
//! - [`NOT_A_FRIEND`]: 400 `Failed to send messages`;
//! - otherwise 200 `{"sentMessages":[…]}` with `x-line-request-id`, and the message is kept
//!   ([`LineServer::pushed`]).
//!
//! Trouble on demand: [`LineServer::fail_next`] answers the next push with a status
//! without executing it (a 429, a 500); [`LineServer::lose_next_answer_to`] executes the
//! next push to a user and answers 500 anyway — the case the retry key exists for.
//! [`call_webhook`] calls a webhook URL as LINE does, signed.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex, PoisonError},
};

/// A user id LINE does not know: pushes to it fail with 400.
pub const NOT_A_FRIEND: &str = "Uffffffffffffffffffffffffffffffff";

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The user.
    pub to: String,
    /// The text.
    pub text: String,
    /// The retry key it came with.
    pub retry_key: Option<String>,
}

#[derive(Default)]
struct State {
    pushed: Vec<Pushed>,
    /// Retry key → request id of the request that was accepted with it.
    accepted: HashMap<String, String>,
    fail_next: Option<u16>,
    lose_answer_to: HashSet<String>,
    requests: u64,
}

/// The server. See the module documentation.
#[derive(Clone)]
pub struct LineServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    token: String,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for LineServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineServer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl LineServer {
    /// Starts a server that accepts the channel access token `token`.
    pub fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("the LINE test server cannot listen: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let server = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            token: token.to_owned(),
            state: Arc::default(),
        };
        let serving = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let serving = serving.clone();
                std::thread::spawn(move || serving.serve(stream));
            }
        });
        server
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The messages accepted so far.
    pub fn pushed(&self) -> Vec<Pushed> {
        self.state().pushed.clone()
    }

    /// Answers the next push with `status` and does not execute it.
    pub fn fail_next(&self, status: u16) {
        self.state().fail_next = Some(status);
    }

    /// Executes the next push to `user` but answers 500, as if the answer were lost.
    pub fn lose_next_answer_to(&self, user: &str) {
        self.state().lose_answer_to.insert(user.to_owned());
    }

    fn serve(&self, stream: TcpStream) {
        let Some((method, path, headers, body)) = read_request(&stream) else {
            return;
        };
        let (status, extra, body) = self.answer(&method, &path, &headers, &body);
        let mut stream = stream;
        let request_id = {
            let mut s = self.state();
            s.requests += 1;
            format!("req-{:08}", s.requests)
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status} LINE\r\nContent-Type: application/json\r\nx-line-request-id: {request_id}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        headers: &HashMap<String, String>,
        body: &[u8],
    ) -> (u16, String, String) {
        let error = |status: u16, message: &str| {
            (
                status,
                String::new(),
                serde_json::json!({ "message": message }).to_string(),
            )
        };
        if headers.get("authorization") != Some(&format!("Bearer {}", self.token)) {
            return error(
                401,
                "Authentication failed. Confirm that the access token in the authorization header is valid.",
            );
        }
        match (method, path) {
            ("GET", "/v2/bot/info") => (
                200,
                String::new(),
                r#"{"userId":"Ubot","basicId":"@kizuna","displayName":"kizuna test","chatMode":"bot","markAsReadMode":"manual"}"#.into(),
            ),
            ("POST", "/v2/bot/message/push") => self.push(headers, body),
            _ => error(404, "Not found"),
        }
    }

    fn push(&self, headers: &HashMap<String, String>, body: &[u8]) -> (u16, String, String) {
        let error = |status: u16, message: &str| {
            (
                status,
                String::new(),
                serde_json::json!({ "message": message }).to_string(),
            )
        };
        let retry_key = headers.get("x-line-retry-key").cloned();
        if let Some(key) = &retry_key
            && !is_uuid(key)
        {
            return error(
                400,
                "The value for the 'X-Line-Retry-Key' header is invalid",
            );
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return error(400, "The request body could not be parsed as JSON");
        };
        let to = v["to"].as_str().unwrap_or("").to_owned();
        if !crate::is_user_id(&to) {
            return error(
                400,
                "The property, 'to', in the request body is invalid (line: -, column: -)",
            );
        }
        let text = v["messages"][0]["text"].as_str().unwrap_or("").to_owned();
        if v["messages"][0]["type"] != "text" || text.is_empty() {
            return error(400, "The request body has 1 error(s)");
        }
        if text.chars().count() > 5000 {
            let detail = serde_json::json!({
                "message": "The request body has 1 error(s)",
                "details": [{"message": "Length must be between 0 and 5000", "property": "messages[0].text"}],
            });
            return (400, String::new(), detail.to_string());
        }
        let mut state = self.state();
        if let Some(status) = state.fail_next.take() {
            return error(
                status,
                "The API rate limit has been exceeded. Try again later.",
            );
        }
        if let Some(key) = &retry_key
            && let Some(first) = state.accepted.get(key)
        {
            return (
                409,
                format!("x-line-accepted-request-id: {first}\r\n"),
                r#"{"message":"The retry key is already accepted","sentMessages":[]}"#.into(),
            );
        }
        if to == NOT_A_FRIEND {
            return error(400, "Failed to send messages");
        }
        let n = state.pushed.len();
        if let Some(key) = &retry_key {
            state
                .accepted
                .insert(key.clone(), format!("req-accepted-{n}"));
        }
        state.pushed.push(Pushed {
            to: to.clone(),
            text,
            retry_key,
        });
        if state.lose_answer_to.remove(&to) {
            return error(500, "Internal server error");
        }
        (
            200,
            String::new(),
            format!(
                r#"{{"sentMessages":[{{"id":"{}","quoteToken":"q{n}"}}]}}"#,
                461_230_966_842_064_897_u64 + n as u64
            ),
        )
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

type Request = (String, String, HashMap<String, String>, Vec<u8>);

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}

/// A webhook event as LINE sends it: `kind` (`follow`, `unfollow`, `message`) from `user`,
/// with `text` for a message.
pub fn event(id: &str, kind: &str, user: &str, text: Option<&str>) -> serde_json::Value {
    let mut event = serde_json::json!({
        "type": kind,
        "mode": "active",
        "timestamp": 1_790_000_000_000_i64,
        "source": {"type": "user", "userId": user},
        "webhookEventId": id,
        "deliveryContext": {"isRedelivery": false},
    });
    if let Some(text) = text {
        event["message"] =
            serde_json::json!({"type": "text", "id": "1", "quoteToken": "q", "text": text});
        event["replyToken"] = "r".into();
    }
    event
}

/// POSTs `events` to `url` as LINE does, signed with `secret`; the status and body.
pub fn call_webhook(url: &str, secret: &str, events: &[serde_json::Value]) -> (u16, String) {
    let body = serde_json::json!({"destination": "Ubot", "events": events}).to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .header(
            "x-line-signature",
            &crate::webhook::signature(secret.as_bytes(), body.as_bytes()),
        )
        .send(body.as_bytes())
    {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}
