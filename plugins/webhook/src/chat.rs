//! `type = "chat"`: a chat room's incoming webhook — Slack, Mattermost, Rocket.Chat and
//! Discord-compatible endpoints all take a JSON body with a `text` field.
//!
//! For telling staff, not customers: the address on this channel is who the text mentions
//! (`@ken`, `<@U024BE7LH>`), put in front of it. The webhook URL carries its own credential,
//! so it is read from the environment variable `url_env` names, never from the file. 2xx is
//! sent; 429 and 5xx are retried; any other status is permanent, with the endpoint's answer
//! as the reason (Slack answers `invalid_payload`, `no_text`, `channel_not_found`).

use std::time::Duration;

use kizuna_channel::{
    AddressField, BuildContext, BuildError, Built, Channel, ChannelConfig, Delivery, Format,
    OutgoingMessage, Problem, config::check,
};
use serde::Deserialize;

/// The channel. See the module documentation.
pub struct ChatChannel {
    url: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for ChatChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is a credential: only its host.
        f.debug_struct("ChatChannel")
            .field("host", &host(&self.url))
            .finish_non_exhaustive()
    }
}

fn host(url: &str) -> &str {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("?")
}

impl ChatChannel {
    /// Posts to `url`, giving up on a call after `timeout`.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: url.into(),
            agent,
        }
    }

    /// The text posted: the mention, the subject on a line of its own, the body.
    pub fn text(m: &OutgoingMessage) -> String {
        let mut text = String::new();
        if !m.to.trim().is_empty() {
            text.push_str(m.to.trim());
            text.push(' ');
        }
        if let Some(subject) = m.subject.as_deref().filter(|s| !s.is_empty()) {
            text.push_str(subject);
            text.push('\n');
        }
        text.push_str(&m.body);
        text
    }
}

impl Channel for ChatChannel {
    fn send(&self, m: &OutgoingMessage) -> Delivery {
        let body = serde_json::json!({ "text": Self::text(m) }).to_string();
        let sent = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        let where_ = format!("chat webhook at {}", host(&self.url));
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text: String = response
                    .body_mut()
                    .read_to_string()
                    .unwrap_or_default()
                    .trim()
                    .chars()
                    .take(200)
                    .collect();
                match status {
                    200..=299 => Delivery::Sent {
                        receipt: format!("{where_} {status} {text}"),
                    },
                    429 | 500..=599 => Delivery::Transient {
                        reason: format!("{where_} answered {status}: {text}"),
                    },
                    _ => Delivery::Permanent {
                        reason: format!("{where_} answered {status}: {text}"),
                    },
                }
            }
            // No URL in the reason: it is the credential.
            Err(e) => Delivery::Transient {
                reason: format!("{where_}: {}", e.to_string().replace(&self.url, "<url>")),
            },
        }
    }

    fn describe(&self) -> String {
        format!("chat webhook at {}", host(&self.url))
    }
}

/// The settings of a chat channel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// The environment variable holding the incoming webhook's URL.
    pub url_env: String,
    /// Seconds to wait for an answer.
    pub timeout_secs: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            url_env: "KIZUNA_CHAT_URL".into(),
            timeout_secs: 10,
        }
    }
}

impl ChannelConfig for ChatSettings {
    const TYPE: &'static str = "chat";
    const ABOUT: &'static str =
        "a chat room's incoming webhook (Slack, Mattermost, Rocket.Chat, Discord): {\"text\"}";

    fn validate(&self) -> Vec<Problem> {
        [
            check::not_empty("url_env", &self.url_env),
            check::timeout_secs(self.timeout_secs),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn format(&self) -> Format {
        Format::Text
    }

    fn address(&self) -> AddressField {
        AddressField::profile("chat_handle")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let url = cx.secret("url_env", &self.url_env, "the incoming webhook's URL")?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(BuildError(Problem::new(
                format!("channels.{}.url_env", cx.name),
                format!("{} does not hold an http(s) URL", self.url_env),
            )));
        }
        Ok(Built::channel(ChatChannel::new(
            url,
            Duration::from_secs(self.timeout_secs),
        )))
    }
}
