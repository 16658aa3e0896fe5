//! kizuna-webhook: a channel that POSTs each rendered message as JSON to a URL.
//!
//! It lets a shop reach LINE, Slack or its own system without writing Rust: a small
//! receiver turns the JSON into whatever that system wants. The body is signed with
//! HMAC-SHA256 over the exact bytes sent (`X-Kizuna-Signature: sha256=<hex>`), with a
//! secret from the environment, so the receiver can tell kizuna's calls from anyone
//! else's. The outcome follows HTTP: 2xx sent, 429 and 5xx transient (retried with
//! backoff), any other status permanent; a connection failure or timeout is transient.
//! `X-Kizuna-Message-Id` carries the outbox id, the same on every retry, so a receiver can
//! drop duplicates.
//!
//! The crate also has the chat channel ([`ChatChannel`], `type = "chat"`): a chat room's
//! incoming webhook, `{"text": …}`, for telling staff.

use std::time::Duration;

use hmac::{Hmac, Mac};
use kizuna_channel::{Channel, Delivery, OutgoingMessage};
use sha2::Sha256;

mod chat;
mod settings;

pub use chat::{ChatChannel, ChatSettings};
pub use settings::WebhookSettings;

/// The channel. See the crate documentation.
pub struct WebhookChannel {
    url: String,
    secret: Vec<u8>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("WebhookChannel")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `sha256=<hex>` of `body` under `secret`: what a receiver recomputes and compares.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

impl WebhookChannel {
    /// Posts to `url`, signing with `secret`, giving up on a call after `timeout`.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: url.into(),
            secret: secret.into(),
            agent,
        }
    }

    /// The JSON body for one message.
    pub fn payload(m: &OutgoingMessage) -> Vec<u8> {
        serde_json::json!({
            "id": m.id.to_string(),
            "customer": m.customer.as_str(),
            "to": m.to,
            "template": m.template,
            "class": m.class.as_str(),
            "subject": m.subject,
            "body": m.body,
        })
        .to_string()
        .into_bytes()
    }
}

impl Channel for WebhookChannel {
    fn send(&self, m: &OutgoingMessage) -> Delivery {
        let body = Self::payload(m);
        let sent = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Kizuna-Signature", &signature(&self.secret, &body))
            .header("X-Kizuna-Message-Id", &m.id.to_string())
            .send(&body[..]);
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => Delivery::Sent {
                        receipt: format!("{} {status}", self.url),
                    },
                    429 | 500..=599 => Delivery::Transient {
                        reason: format!("{} answered {status}", self.url),
                    },
                    _ => Delivery::Permanent {
                        reason: format!("{} answered {status}", self.url),
                    },
                }
            }
            Err(e) => Delivery::Transient {
                reason: format!("{}: {e}", self.url),
            },
        }
    }

    fn check(&self) -> Result<(), String> {
        // A signed empty ping: the receiver can ignore it, but must answer.
        let body = b"{\"ping\":true}";
        match self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Kizuna-Signature", &signature(&self.secret, body))
            .send(&body[..])
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{} answered {}", self.url, r.status().as_u16())),
            Err(e) => Err(format!("{}: {e}", self.url)),
        }
    }

    fn describe(&self) -> String {
        format!("POST {}", self.url)
    }

    fn concurrency(&self) -> usize {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
