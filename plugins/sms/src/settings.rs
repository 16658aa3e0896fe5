//! `type = "kannel"` and `type = "twilio"`: the SMS channels' sections of `kizuna.toml`.

use std::time::Duration;

use kizuna_channel::{
    AddressField, BuildContext, BuildError, Built, ChannelConfig, Format, Problem, config::check,
};
use serde::Deserialize;

use crate::{KannelChannel, KannelConfig, TwilioChannel, TwilioConfig};

/// A Kannel smsbox. The password is read from the environment variable `password_env`
/// names. The channel answers Kannel's delivery reports at `/channels/<name>/dlr` and its
/// incoming messages at `/channels/<name>/inbound` ([`crate::inbound`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KannelSettings {
    /// smsbox's sendsms URL.
    pub url: String,
    /// `sendsms-user` name.
    pub username: String,
    /// The environment variable holding its password.
    pub password_env: String,
    /// Sender shown to customers.
    pub from: String,
    /// Delivery-report URL (`{id}`: the outbox id; Kannel fills `%d`); empty for none.
    pub dlr_url: String,
    /// Seconds to wait for Kannel.
    pub timeout_secs: u64,
}

impl Default for KannelSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:13013/cgi-bin/sendsms".into(),
            username: "kizuna".into(),
            password_env: "KIZUNA_KANNEL_PASSWORD".into(),
            from: "KIZUNA".into(),
            dlr_url: String::new(),
            timeout_secs: 10,
        }
    }
}

impl ChannelConfig for KannelSettings {
    const TYPE: &'static str = "kannel";
    const ABOUT: &'static str =
        "SMS through a Kannel gateway (sendsms); delivery reports and incoming SMS as events";

    fn validate(&self) -> Vec<Problem> {
        [
            check::http_url("url", &self.url),
            check::not_empty("username", &self.username),
            check::not_empty("from", &self.from),
            check::optional_http_url("dlr_url", &self.dlr_url),
            check::timeout_secs(self.timeout_secs),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn format(&self) -> Format {
        Format::Sms
    }

    fn address(&self) -> AddressField {
        AddressField::profile("phone")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let password = cx.secret("password_env", &self.password_env, "the sendsms password")?;
        let channel = KannelChannel::new(KannelConfig {
            url: self.url.clone(),
            username: self.username.clone(),
            password,
            from: self.from.clone(),
            dlr_url: (!self.dlr_url.is_empty()).then(|| self.dlr_url.clone()),
            timeout: Duration::from_secs(self.timeout_secs),
        });
        Ok(Built {
            channel: Box::new(channel),
            routes: crate::inbound::kannel_routes(),
        })
    }
}

/// A Twilio-compatible REST API. The token is read from the environment variable
/// `token_env` names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioSettings {
    /// API base URL.
    pub base_url: String,
    /// Account SID.
    pub account_sid: String,
    /// The environment variable holding the auth token.
    pub token_env: String,
    /// Sender number.
    pub from: String,
    /// Seconds to wait for the provider.
    pub timeout_secs: u64,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            token_env: "KIZUNA_TWILIO_TOKEN".into(),
            from: String::new(),
            timeout_secs: 10,
        }
    }
}

impl ChannelConfig for TwilioSettings {
    const TYPE: &'static str = "twilio";
    const ABOUT: &'static str = "SMS through a Twilio-compatible REST API";

    fn validate(&self) -> Vec<Problem> {
        [
            check::http_url("base_url", &self.base_url),
            check::not_empty("account_sid", &self.account_sid),
            check::not_empty("from", &self.from),
            check::timeout_secs(self.timeout_secs),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn format(&self) -> Format {
        Format::Sms
    }

    fn address(&self) -> AddressField {
        AddressField::profile("phone")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let auth_token = cx.secret("token_env", &self.token_env, "the auth token")?;
        Ok(Built::channel(TwilioChannel::new(TwilioConfig {
            base_url: self.base_url.clone(),
            account_sid: self.account_sid.clone(),
            auth_token,
            from: self.from.clone(),
            timeout: Duration::from_secs(self.timeout_secs),
        })))
    }
}
