//! kizuna-line: the LINE channel — the messaging app most Japanese customers talk to shops
//! on.
//!
//! [`LineChannel`] sends each message as a Messaging API push (`POST /v2/bot/message/push`,
//! a text message to the customer's LINE user id, the profile field `line_id` unless the
//! section says otherwise), with the channel access token from the environment. Every push
//! carries `X-Line-Retry-Key`, a UUID derived from the outbox id, the customer and the
//! address ([`retry_key`]): a retry of the same message carries the same key, so when LINE
//! accepted a push whose answer was lost, the retry is answered 409 ("already accepted")
//! and is recorded as sent, not delivered twice. 429 and 5xx are transient (the dispatcher
//! backs off); any other 4xx is permanent, with LINE's own message as the reason.
//!
//! The channel also answers LINE's webhook ([`webhook`]), mounted by the daemon at
//! `POST /channels/<name>/webhook`: a request whose `x-line-signature` is not the
//! HMAC-SHA256 of its body under the channel secret is refused (401) and nothing is kept;
//! `follow` becomes an `opt_in`, `unfollow` an `opt_out`, a text message a
//! `customer_reply`, each for the customer whose profile has that LINE user id.
//!
//! The base URL is configurable, so tests run against a local server that answers as LINE
//! documents ([`testing`], feature `testing`).

use std::time::Duration;

use kizuna_channel::{Channel, Delivery, OutgoingMessage};
use sha2::{Digest, Sha256};

mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

pub use settings::LineSettings;

/// The longest text LINE takes in one text message, in characters.
pub const MAX_TEXT: usize = 5000;

/// Where and how to reach the Messaging API.
#[derive(Clone)]
pub struct LineConfig {
    /// API base, `https://api.line.me` (a local server in tests).
    pub base_url: String,
    /// The channel access token (from the environment, never from the config file).
    pub token: String,
    /// Give up on a request after this long (a transient failure).
    pub timeout: Duration,
}

impl std::fmt::Debug for LineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("LineConfig")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The channel. See the crate documentation.
pub struct LineChannel {
    config: LineConfig,
    agent: ureq::Agent,
}

impl std::fmt::Debug for LineChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineChannel")
            .field("config", &self.config)
            .finish()
    }
}

/// The retry key of a message: a version-8 UUID from the SHA-256 of the outbox id, the
/// customer and the address. The same message always has the same key; another home's
/// `m-1-0` to another user has another.
pub fn retry_key(message: &OutgoingMessage) -> String {
    let digest = Sha256::digest(
        format!(
            "kizuna/line\0{}\0{}\0{}",
            message.id, message.customer, message.to
        )
        .as_bytes(),
    );
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Whether `id` is a LINE user id: `U` and 32 lower-case hex digits.
pub fn is_user_id(id: &str) -> bool {
    id.len() == 33
        && id.starts_with('U')
        && id[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// LINE's error body in words: its `message`, and each detail's property and message.
fn line_error(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.trim().chars().take(200).collect();
    };
    let mut text = v["message"].as_str().unwrap_or("").to_owned();
    if let Some(details) = v["details"].as_array() {
        for d in details {
            text.push_str(&format!(
                "; {}: {}",
                d["property"].as_str().unwrap_or("?"),
                d["message"].as_str().unwrap_or("?")
            ));
        }
    }
    text
}

impl LineChannel {
    /// The channel; no connection is made until the first message.
    pub fn new(config: LineConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self { config, agent }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.config.token)
    }

    /// The text LINE shows: the subject (if any) on its own line above the body.
    fn text(m: &OutgoingMessage) -> String {
        match &m.subject {
            Some(subject) if !subject.is_empty() => format!("{subject}\n\n{}", m.body),
            _ => m.body.clone(),
        }
    }
}

impl Channel for LineChannel {
    fn send(&self, m: &OutgoingMessage) -> Delivery {
        if !is_user_id(&m.to) {
            return Delivery::Permanent {
                reason: format!("not a LINE user id (U and 32 hex digits): {:?}", m.to),
            };
        }
        let text = Self::text(m);
        if text.chars().count() > MAX_TEXT {
            return Delivery::Permanent {
                reason: format!("the text is longer than LINE's {MAX_TEXT} characters"),
            };
        }
        let body = serde_json::json!({
            "to": m.to,
            "messages": [{ "type": "text", "text": text }],
        })
        .to_string();
        let url = self.url("/v2/bot/message/push");
        let sent = self
            .agent
            .post(&url)
            .header("Authorization", &self.bearer())
            .header("Content-Type", "application/json")
            .header("X-Line-Retry-Key", &retry_key(m))
            .send(body.as_bytes());
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Delivery::Transient {
                    reason: format!("{url}: {e}"),
                };
            }
        };
        let status = response.status().as_u16();
        let request_id = |r: &ureq::http::Response<ureq::Body>, name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let accepted = request_id(&response, "x-line-accepted-request-id");
        let request = request_id(&response, "x-line-request-id");
        let text = response.body_mut().read_to_string().unwrap_or_default();
        match status {
            200..=299 => Delivery::Sent {
                receipt: format!("LINE request {request}"),
            },
            // The key was accepted before: an earlier attempt went out and its answer was
            // lost. Sent, once.
            409 => Delivery::Sent {
                receipt: format!("LINE request {accepted} (accepted before; retry key)"),
            },
            429 | 500..=599 => Delivery::Transient {
                reason: format!("LINE {status}: {}", line_error(&text)),
            },
            _ => Delivery::Permanent {
                reason: format!("LINE {status}: {}", line_error(&text)),
            },
        }
    }

    /// Asks for the bot's own profile: reachable, and the token accepted.
    fn check(&self) -> Result<(), String> {
        let url = self.url("/v2/bot/info");
        match self
            .agent
            .get(&url)
            .header("Authorization", &self.bearer())
            .call()
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(mut r) => Err(format!(
                "{url} answered {}: {}",
                r.status().as_u16(),
                line_error(&r.body_mut().read_to_string().unwrap_or_default())
            )),
            Err(e) => Err(format!("{url}: {e}")),
        }
    }

    fn describe(&self) -> String {
        format!("LINE {}", self.url("/v2/bot/message/push"))
    }

    fn concurrency(&self) -> usize {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_channel::{CustomerId, MessageClass, MessageId};

    fn message(n: u32, to: &str) -> OutgoingMessage {
        OutgoingMessage {
            id: MessageId { seq: 5, n },
            customer: CustomerId::new("c-1").unwrap(),
            to: to.into(),
            subject: None,
            body: "hi".into(),
            html: None,
            unsubscribe: None,
            class: MessageClass::Service,
            template: "t".into(),
        }
    }

    #[test]
    fn a_retry_key_is_a_uuid_stable_per_message() {
        let to = "U4af4980629a0c4af6e0b2a0c5b6c2f7e";
        let key = retry_key(&message(0, to));
        assert_eq!(key, retry_key(&message(0, to)));
        assert_ne!(key, retry_key(&message(1, to)));
        let parts: Vec<usize> = key.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{key}");
        assert!(key.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(&key[14..15], "8", "version 8");
    }

    #[test]
    fn user_ids_and_line_errors() {
        assert!(is_user_id("U4af4980629a0c4af6e0b2a0c5b6c2f7e"));
        assert!(!is_user_id("U4AF4980629A0C4AF6E0B2A0C5B6C2F7E"));
        assert!(!is_user_id("c-1"));
        let body = r#"{"message":"The request body has 1 error(s)","details":[{"message":"Length must be between 0 and 5000","property":"messages[0].text"}]}"#;
        assert_eq!(
            line_error(body),
            "The request body has 1 error(s); messages[0].text: Length must be between 0 and 5000"
        );
    }
}
