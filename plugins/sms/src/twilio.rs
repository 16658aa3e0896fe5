//! The Twilio-compatible REST mode: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with form fields `To`, `From`, `Body` and HTTP basic auth (account SID and auth token).
//! Many SMS providers copy this API, so one mode reaches several of them.

use std::time::Duration;

use base64::Engine as _;
use kizuna_channel::{Channel, Delivery, OutgoingMessage};

use crate::percent_encode;

/// Where and how to reach the provider.
#[derive(Clone)]
pub struct TwilioConfig {
    /// API base, e.g. `https://api.twilio.com` (a test server in tests).
    pub base_url: String,
    /// Account SID (the basic-auth user).
    pub account_sid: String,
    /// Auth token (from the environment, never from the config file).
    pub auth_token: String,
    /// Sender number or name.
    pub from: String,
    /// Give up on a request after this long (a transient failure).
    pub timeout: Duration,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The channel. See the module documentation.
pub struct TwilioChannel {
    config: TwilioConfig,
    agent: ureq::Agent,
}

impl std::fmt::Debug for TwilioChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioChannel")
            .field("config", &self.config)
            .finish()
    }
}

impl TwilioChannel {
    /// The channel; no connection is made until the first message.
    pub fn new(config: TwilioConfig) -> Self {
        let agent = crate::http_agent(config.timeout);
        Self { config, agent }
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.base_url.trim_end_matches('/'),
            percent_encode(self.config.account_sid.as_bytes())
        )
    }

    fn authorization(&self) -> String {
        let pair = format!("{}:{}", self.config.account_sid, self.config.auth_token);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

impl Channel for TwilioChannel {
    fn address_key(&self, address: &str) -> Option<String> {
        crate::phone_key(address)
    }

    fn send(&self, m: &OutgoingMessage) -> Delivery {
        let Some(to) = crate::normalise_number(&m.to) else {
            return Delivery::Permanent {
                reason: format!("not a phone number: {:?}", m.to),
            };
        };
        let form = format!(
            "To={}&From={}&Body={}",
            percent_encode(to.as_bytes()),
            percent_encode(self.config.from.as_bytes()),
            percent_encode(m.body.as_bytes())
        );
        let endpoint = self.endpoint();
        let sent = self
            .agent
            .post(&endpoint)
            .header("Authorization", &self.authorization())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.as_bytes());
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                let sid = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_owned));
                match status {
                    200..=299 => Delivery::Sent {
                        receipt: format!("{endpoint} {status} {}", sid.unwrap_or_default()),
                    },
                    429 | 500..=599 => Delivery::Transient {
                        reason: format!("{endpoint} answered {status}: {}", text.trim()),
                    },
                    _ => Delivery::Permanent {
                        reason: format!("{endpoint} answered {status}: {}", text.trim()),
                    },
                }
            }
            Err(e) => Delivery::Transient {
                reason: format!("{endpoint}: {e}"),
            },
        }
    }

    fn describe(&self) -> String {
        format!("Twilio-style {}", self.endpoint())
    }

    fn concurrency(&self) -> usize {
        4
    }
}
