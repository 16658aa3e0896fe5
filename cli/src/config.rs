//! `kizuna.toml`: the home's configuration.
//!
//! Secrets never live in this file. Settings that need one (an SMTP password, an ingest
//! token) will name the environment variable that holds it.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The whole configuration file. Unknown keys are errors, so a typo is caught, not ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Database settings.
    pub store: StoreConfig,
    /// Import settings.
    pub import: ImportConfig,
    /// Channel settings.
    pub channels: ChannelsConfig,
    /// What `report kpi` counts.
    pub kpi: KpiConfig,
    /// The daemon (`kizuna run`).
    pub server: ServerConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address `kizuna run` listens on.
    pub listen: String,
    /// The environment variable holding the HTTP API's admin bearer token.
    pub token_env: String,
    /// The environment variable that may hold a token of role `ingest` (POST /events only).
    pub ingest_token_env: String,
    /// The environment variable that may hold a token of role `read`.
    pub read_token_env: String,
    /// A file of `ROLE TOKEN` lines (relative to the home), the daemon user's alone; empty:
    /// none.
    pub tokens_file: String,
    /// Whether `/health` and `/metrics` answer without the token (a load balancer's
    /// health check and a Prometheus scraper usually carry none). They show counts and
    /// versions, no customer data.
    pub open_status: bool,
    /// Seconds a client has to send a request's headers; also the longest a kept-alive
    /// connection stays open between requests ([`crate::daemon::serve`]).
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its headers are in.
    pub body_timeout_secs: u64,
    /// Connections served at once; more wait in the kernel's queue until one closes.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8640".into(),
            token_env: "KIZUNA_TOKEN".into(),
            ingest_token_env: "KIZUNA_INGEST_TOKEN".into(),
            read_token_env: "KIZUNA_READ_TOKEN".into(),
            tokens_file: String::new(),
            open_status: true,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            max_connections: 4096,
        }
    }
}

/// `[kpi]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KpiConfig {
    /// Event types that are a customer writing back.
    pub reply_types: Vec<String>,
    /// Event types that are a reaction to a contact.
    pub reaction_types: Vec<String>,
    /// Days after a contact in which a response counts for it.
    pub window_days: i64,
    /// The time zone months are read in.
    pub tz: String,
}

impl Default for KpiConfig {
    fn default() -> Self {
        let d = kizuna_core::kpi::KpiSettings::default();
        Self {
            reply_types: d.reply_types,
            reaction_types: d.reaction_types,
            window_days: 7,
            tz: "UTC".into(),
        }
    }
}

/// A secret from the environment variable `var` (named by the setting `setting`, never
/// written in the file); `what` says who needs it, for the error.
pub fn secret(var: &str, setting: &str, what: &str) -> anyhow::Result<String> {
    std::env::var(var)
        .with_context(|| format!("{what} must be in the environment variable {var} ({setting})"))
}

/// `[channels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Sender address of e-mail.
    pub email_from: String,
    /// How e-mail leaves: `file` (`.eml` files under the home) or `smtp`.
    pub email: String,
    /// The SMTP server, when `email = "smtp"`.
    pub smtp: SmtpSettings,
    /// E-mail messages per second at most (0: no limit).
    pub email_rate: f64,
    /// E-mail messages being sent at once at most (0: the channel's own number).
    pub email_concurrency: usize,
    /// SMS per second at most (0: no limit).
    pub sms_rate: f64,
    /// SMS being sent at once at most (0: the channel's own number).
    pub sms_concurrency: usize,
    /// The webhook channel (off while its URL is empty).
    pub webhook: WebhookSettings,
    /// How SMS leaves: `file` (`outbox/sms/sms.jsonl`) or `kannel`.
    pub sms: String,
    /// The Kannel gateway, when `sms = "kannel"`.
    pub kannel: KannelSettings,
    /// A Twilio-compatible provider, when `sms = "twilio"`.
    pub twilio: TwilioSettings,
}

/// `[channels.twilio]`: a Twilio-compatible REST API. The token is read from the
/// environment variable `token_env` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `[channels.kannel]`. The password is read from the environment variable `password_env`
/// names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `[channels.webhook]`: messages on the `webhook` channel are POSTed as signed JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where to POST; empty: no webhook channel.
    pub url: String,
    /// The environment variable holding the HMAC secret.
    pub secret_env: String,
    /// Seconds to wait for an answer.
    pub timeout_secs: u64,
    /// Messages per second at most (0: no limit).
    pub rate: f64,
    /// Messages at once at most (0: the channel's own number).
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret_env: "KIZUNA_WEBHOOK_SECRET".into(),
            timeout_secs: 10,
            rate: 0.0,
            concurrency: 0,
        }
    }
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            email_from: "kizuna@localhost".into(),
            email: "file".into(),
            smtp: SmtpSettings::default(),
            email_rate: 0.0,
            email_concurrency: 0,
            sms_rate: 0.0,
            sms_concurrency: 0,
            webhook: WebhookSettings::default(),
            sms: "file".into(),
            kannel: KannelSettings::default(),
            twilio: TwilioSettings::default(),
        }
    }
}

/// `[channels.smtp]`. The password is read from the environment variable `password_env`
/// names, never from this file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `plain`, `starttls` or `tls`.
    pub security: String,
    /// User name; empty for no authentication.
    pub user: String,
    /// The environment variable holding the password.
    pub password_env: String,
    /// `Reply-To`; empty for none.
    pub reply_to: String,
    /// `mailto:` address for `List-Unsubscribe` on marketing mail; empty for none.
    pub unsubscribe_mailto: String,
    /// One-click unsubscribe URL (`{customer}` is replaced); empty for none.
    pub unsubscribe_url: String,
    /// Connections kept open for reuse.
    pub pool: u32,
    /// Seconds to wait for the server.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 25,
            security: "plain".into(),
            user: String::new(),
            password_env: "KIZUNA_SMTP_PASSWORD".into(),
            reply_to: String::new(),
            unsubscribe_mailto: String::new(),
            unsubscribe_url: String::new(),
            pool: 4,
            timeout_secs: 30,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// sled's page cache in MiB.
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { cache_mb: 32 }
    }
}

/// `[import]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// Events per atomic write. Larger batches amortise projection updates.
    pub batch_size: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self { batch_size: 10_000 }
    }
}

/// The file `init` writes: the defaults, with comments.
pub const DEFAULT_TOML: &str = "\
# kizuna configuration. Secrets never go in this file: settings that need one name an
# environment variable instead.

[store]
# sled page cache, MiB. 32 is plenty for a small business; raise it for millions of events.
cache_mb = 32

[import]
# Events per atomic write during import (two batches are in memory at once).
batch_size = 10000

[channels]
email_from = \"kizuna@localhost\"
# \"file\": e-mail is written under the home's outbox/email/*.eml (SMS: outbox/sms/sms.jsonl).
# \"smtp\": e-mail goes to the server in [channels.smtp].
email = \"file\"
# Limits per channel, whatever sends it: messages per second and messages at once (0: none).
# SMS: \"file\" (outbox/sms/sms.jsonl), \"kannel\" ([channels.kannel]) or \"twilio\" ([channels.twilio]).
sms = \"file\"
email_rate = 0.0
email_concurrency = 0
sms_rate = 0.0
sms_concurrency = 0

[channels.smtp]
host = \"127.0.0.1\"
port = 25
security = \"plain\"           # plain (a local relay), starttls (587) or tls (465)
user = \"\"                    # empty: no authentication
password_env = \"KIZUNA_SMTP_PASSWORD\"   # the password is read from this variable
reply_to = \"\"
unsubscribe_mailto = \"\"      # List-Unsubscribe on marketing mail
unsubscribe_url = \"\"         # one-click; {customer} is replaced by the customer id
pool = 4                      # connections kept open
timeout_secs = 30

[channels.kannel]
# Used when [channels] sms = \"kannel\".
url = \"http://127.0.0.1:13013/cgi-bin/sendsms\"
username = \"kizuna\"
password_env = \"KIZUNA_KANNEL_PASSWORD\"   # the password is read from this variable
from = \"KIZUNA\"
dlr_url = \"\"                 # e.g. http://127.0.0.1:8640/dlr?id={id}&type=%d
timeout_secs = 10

[channels.twilio]
# Used when [channels] sms = \"twilio\": any Twilio-compatible REST API.
base_url = \"https://api.twilio.com\"
account_sid = \"\"
token_env = \"KIZUNA_TWILIO_TOKEN\"   # the auth token is read from this variable
from = \"\"
timeout_secs = 10

[channels.webhook]
# Messages sent on the \"webhook\" channel are POSTed here as JSON, signed with HMAC-SHA256
# (header X-Kizuna-Signature: sha256=<hex>). Empty: no webhook channel.
url = \"\"
secret_env = \"KIZUNA_WEBHOOK_SECRET\"   # the secret is read from this variable
timeout_secs = 10
rate = 0.0
concurrency = 0

[server]
# `kizuna run`: the HTTP API. Requests need `Authorization: Bearer <token>` (Kannel's
# callbacks may pass it as ?token=). Tokens have roles: admin (everything; required),
# read (every GET) and ingest (POST /events only, what a shop's website holds), each read
# from the variable named here, or from tokens_file (lines `ROLE TOKEN`, mode 0600).
listen = \"127.0.0.1:8640\"
token_env = \"KIZUNA_TOKEN\"
ingest_token_env = \"KIZUNA_INGEST_TOKEN\"
read_token_env = \"KIZUNA_READ_TOKEN\"
tokens_file = \"\"
open_status = true    # /health and /metrics answer without the token
# Slow and idle clients: a request's headers must arrive within header_timeout_secs (also
# how long a kept-alive connection may idle), its body within body_timeout_secs; at most
# max_connections are served at once (the rest wait in the kernel's queue).
header_timeout_secs = 10
body_timeout_secs = 30
max_connections = 4096

[kpi]
# `report kpi`: a customer's reply, reaction or purchase counts for the latest contact
# made to them in the window_days before it.
reply_types = [\"customer_reply\", \"inquiry\", \"complaint\"]
reaction_types = [\"click\", \"visit\", \"page_view\"]
window_days = 7
# The zone months are read in.
tz = \"UTC\"
";

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        config
            .validate()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(8..=65_536).contains(&self.store.cache_mb) {
            bail!(
                "store.cache_mb = {} is out of range 8..=65536",
                self.store.cache_mb
            );
        }
        if !["file", "smtp"].contains(&self.channels.email.as_str()) {
            bail!(
                "channels.email = {:?} must be \"file\" or \"smtp\"",
                self.channels.email
            );
        }
        if !["file", "kannel", "twilio"].contains(&self.channels.sms.as_str()) {
            bail!(
                "channels.sms = {:?} must be \"file\", \"kannel\" or \"twilio\"",
                self.channels.sms
            );
        }
        let c = &self.channels;
        for (name, rate) in [("email_rate", c.email_rate), ("sms_rate", c.sms_rate)] {
            if !(0.0..=100_000.0).contains(&rate) {
                bail!(
                    "channels.{name} = {rate} is out of range 0..=100000 (messages/s; 0: no limit)"
                );
            }
        }
        if kizuna_email::Security::parse(&self.channels.smtp.security).is_none() {
            bail!(
                "channels.smtp.security = {:?} must be plain, starttls or tls",
                self.channels.smtp.security
            );
        }
        if !(1..=365).contains(&self.kpi.window_days) {
            bail!(
                "kpi.window_days = {} is out of range 1..=365",
                self.kpi.window_days
            );
        }
        if jiff::tz::TimeZone::get(&self.kpi.tz).is_err() {
            bail!("kpi.tz = {:?} is not a known time zone", self.kpi.tz);
        }
        if !(1..=1_000_000).contains(&self.import.batch_size) {
            bail!(
                "import.batch_size = {} is out of range 1..=1000000",
                self.import.batch_size
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses_to_defaults() {
        assert_eq!(
            toml::from_str::<Config>(DEFAULT_TOML).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn typos_and_bad_values_are_errors_with_position() {
        let err = toml::from_str::<Config>("[store]\ncache_mib = 3\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let bad = Config {
            store: StoreConfig { cache_mb: 1 },
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }
}
