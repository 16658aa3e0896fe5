//! `type = "line"`: the LINE channel's section of `kizuna.toml`.

use std::time::Duration;

use kizuna_channel::{
    AddressField, BuildContext, BuildError, Built, ChannelConfig, Format, Problem, config::check,
};
use serde::Deserialize;

use crate::{LineChannel, LineConfig, webhook::Webhook};

/// A LINE Official Account's Messaging API channel. The channel access token and the
/// channel secret (which signs LINE's webhook calls) are read from the environment
/// variables `token_env` and `secret_env` name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineSettings {
    /// The Messaging API's base URL.
    pub base_url: String,
    /// The environment variable holding the channel access token.
    pub token_env: String,
    /// The environment variable holding the channel secret.
    pub secret_env: String,
    /// Seconds to wait for LINE.
    pub timeout_secs: u64,
}

impl Default for LineSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.line.me".into(),
            token_env: "KIZUNA_LINE_TOKEN".into(),
            secret_env: "KIZUNA_LINE_SECRET".into(),
            timeout_secs: 10,
        }
    }
}

impl ChannelConfig for LineSettings {
    const TYPE: &'static str = "line";
    const ABOUT: &'static str =
        "LINE Messaging API push messages; follows, unfollows and replies from its webhook";

    fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        problems.extend(check::http_url("base_url", &self.base_url));
        for (key, var) in [
            ("token_env", &self.token_env),
            ("secret_env", &self.secret_env),
        ] {
            if var.is_empty() {
                problems.push(Problem::new(key, "must name an environment variable"));
            }
        }
        problems.extend(check::timeout_secs(self.timeout_secs));
        problems
    }

    fn format(&self) -> Format {
        Format::Text
    }

    fn address(&self) -> AddressField {
        AddressField::profile("line_id")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let token = cx.secret("token_env", &self.token_env, "the channel access token")?;
        let secret = cx.secret("secret_env", &self.secret_env, "the channel secret")?;
        Ok(Built {
            channel: Box::new(LineChannel::new(LineConfig {
                base_url: self.base_url.clone(),
                token,
                timeout: Duration::from_secs(self.timeout_secs),
            })),
            routes: vec![Box::new(Webhook::new(secret))],
        })
    }
}
