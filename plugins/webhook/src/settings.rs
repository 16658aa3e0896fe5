//! `type = "webhook"`: the webhook channel's section of `kizuna.toml`.

use std::time::Duration;

use kizuna_channel::{
    AddressField, BuildContext, BuildError, Built, ChannelConfig, Format, Problem, config::check,
};
use serde::Deserialize;

use crate::WebhookChannel;

/// Where to POST and how to sign. The secret is read from the environment variable
/// `secret_env` names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where to POST.
    pub url: String,
    /// The environment variable holding the HMAC secret.
    pub secret_env: String,
    /// Seconds to wait for an answer.
    pub timeout_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret_env: "KIZUNA_WEBHOOK_SECRET".into(),
            timeout_secs: 10,
        }
    }
}

impl ChannelConfig for WebhookSettings {
    const TYPE: &'static str = "webhook";
    const ABOUT: &'static str = "each message POSTed as JSON signed with HMAC-SHA256";

    fn validate(&self) -> Vec<Problem> {
        [
            check::http_url("url", &self.url),
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
        AddressField::CustomerId
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let secret = cx.secret("secret_env", &self.secret_env, "the signing secret")?;
        Ok(Built::channel(WebhookChannel::new(
            self.url.clone(),
            secret,
            Duration::from_secs(self.timeout_secs),
        )))
    }
}
