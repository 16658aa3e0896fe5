//! `kizuna.toml`: the home's configuration.
//!
//! Secrets never live in this file. Settings that need one (an SMTP password, an ingest
//! token) will name the environment variable that holds it.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

mod staff;
pub use staff::StaffConfig;

/// The whole configuration file. Unknown keys are errors, so a typo is caught, not ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Database settings.
    pub store: StoreConfig,
    /// Import settings.
    pub import: ImportConfig,
    /// The channels, by name.
    #[serde(default = "default_channels")]
    pub channels: ChannelsConfig,
    /// What `report kpi` counts.
    pub kpi: KpiConfig,
    /// The daemon (`kizuna run`).
    pub server: ServerConfig,
    /// Who on the staff hears of alerts ([`kizuna_core::staff`]).
    pub staff: StaffConfig,
    /// One-click opt-out links ([`kizuna_core::unsubscribe`]).
    pub unsubscribe: UnsubscribeConfig,
    /// Who is held out of marketing to measure it ([`kizuna_core::lift::holdout`]).
    pub holdout: HoldoutConfig,
}

/// `[holdout]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HoldoutConfig {
    /// Percent of all customers (0–15) who never receive marketing: the global control
    /// group that `report lift` compares everyone else with.
    pub global_percent: u32,
    /// Mixed into the draw; changing it reshuffles the groups (not a secret).
    pub salt: String,
}

/// `[unsubscribe]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnsubscribeConfig {
    /// Where customers reach `kizuna run`'s `/u`, as they see it (`https://shop.example/u`);
    /// empty: messages carry no link.
    pub url: String,
    /// The environment variable holding the secret that signs the links.
    pub secret_env: String,
    /// The environment variable that may hold earlier secrets, comma-separated, whose links
    /// still work (after a rotation).
    pub previous_secrets_env: String,
}

impl Default for UnsubscribeConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret_env: "KIZUNA_UNSUBSCRIBE_SECRET".into(),
            previous_secrets_env: "KIZUNA_UNSUBSCRIBE_PREVIOUS".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store: StoreConfig::default(),
            import: ImportConfig::default(),
            channels: default_channels(),
            kpi: KpiConfig::default(),
            server: ServerConfig::default(),
            staff: StaffConfig::default(),
            unsubscribe: UnsubscribeConfig::default(),
            holdout: HoldoutConfig::default(),
        }
    }
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

/// `[channels]`: one section per channel, `[channels.<name>]`, read by the plugin its
/// `type` names ([`crate::plugins::registry`]); kept as written, with where it was written,
/// until [`Config::channels`] reads it.
pub type ChannelsConfig = BTreeMap<String, toml::Spanned<toml::Value>>;

/// The channels of a home whose file has no `[channels]`: e-mail and SMS to files.
fn default_channels() -> ChannelsConfig {
    let section = |pairs: &[(&str, &str)]| {
        let table: toml::Table = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), toml::Value::String((*v).to_owned())))
            .collect();
        toml::Spanned::new(0..0, toml::Value::Table(table))
    };
    BTreeMap::from([
        (
            "email".to_owned(),
            section(&[("type", "email-file"), ("from", "kizuna@localhost")]),
        ),
        ("sms".to_owned(), section(&[("type", "sms-file")])),
    ])
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

# Channels: one section each, [channels.<name>]; scripts send to a channel by its name.
# `type` picks the plugin (`kizuna channels types` lists them; README \"Channels\" has their
# keys). Every channel also takes rate (messages/s at most, 0: none), concurrency (at once at
# most, 0: the channel's own) and address (the profile field holding a customer's address).
# Secrets are never written here: a channel names the environment variable that holds one.
[channels.email]
type = \"email-file\"          # .eml files under outbox/email/; \"smtp\" sends through a server
from = \"kizuna@localhost\"

[channels.sms]
type = \"sms-file\"            # lines in outbox/sms/sms.jsonl; \"kannel\" or \"twilio\" send for real

# An SMTP relay instead of files:
# [channels.email]
# type = \"smtp\"
# from = \"shop@example.jp\"
# host = \"127.0.0.1\"
# port = 25
# security = \"plain\"         # plain (a local relay), starttls (587) or tls (465)
# user = \"\"                  # empty: no authentication
# password_env = \"KIZUNA_SMTP_PASSWORD\"
#
# Kannel, whose delivery reports and incoming SMS the daemon answers at
# /channels/sms/dlr and /channels/sms/inbound:
# [channels.sms]
# type = \"kannel\"
# url = \"http://127.0.0.1:13013/cgi-bin/sendsms\"
# username = \"kizuna\"
# password_env = \"KIZUNA_KANNEL_PASSWORD\"
# from = \"KIZUNA\"
# dlr_url = \"http://127.0.0.1:8640/channels/sms/dlr?id={id}&type=%d\"
#
# A signed webhook (templates <name>.webhook, or <name>.text):
# [channels.webhook]
# type = \"webhook\"
# url = \"https://example.jp/kizuna\"
# secret_env = \"KIZUNA_WEBHOOK_SECRET\"
#
# LINE (customers' profiles carry line_id; LINE's webhook goes to /channels/line/webhook):
# [channels.line]
# type = \"line\"
# token_env = \"KIZUNA_LINE_TOKEN\"     # the channel access token
# secret_env = \"KIZUNA_LINE_SECRET\"   # the channel secret, which signs the webhook
#
# A chat room for the staff (Slack, Mattermost, …; the webhook URL is a secret):
# [channels.staff_chat]
# type = \"chat\"
# url_env = \"KIZUNA_CHAT_URL\"

[staff]
# Who is told of alerts (a customer left waiting, a promise overdue, a complaint not put
# right): each recipient gets a notice of every new alert, on one of the channels above;
# alerts still open after escalate_after go to the recipients with notify = [\"escalated\"].
# Digest times and quiet hours are local times in tz. No recipients: alerts are only listed
# by `kizuna alerts`.
tz = \"UTC\"
escalate_after = \"\"        # e.g. \"4h\"; empty: never
#
# [[staff.recipients]]
# name = \"owner\"
# channel = \"email\"
# to = \"owner@example.jp\"
# notify = [\"new\", \"escalated\"]
# kinds = []                 # alert kinds: silence, promises, complaints, top_customers, dispatch; empty: all
# min_priority = 0
# digest = \"09:00\"         # a daily digest of open alerts; empty: none
# quiet_hours = \"22:00-07:00\"  # notices wait until the end …
# page_priority = 50         # … unless the alert's priority is at least this
#
# [[staff.recipients]]
# name = \"shop-floor\"
# channel = \"staff_chat\"   # a chat or webhook channel needs no `to`

[unsubscribe]
# One-click opt-out (RFC 8058): with url set, every message to a customer carries a signed
# link (`{{ unsubscribe_url }}` in templates; List-Unsubscribe on marketing e-mail) that
# `kizuna run` answers at /u/<token>. url is where customers reach the daemon's /u; the
# signing secret (16 bytes or more) is read from secret_env, earlier secrets still honoured
# from previous_secrets_env (comma-separated).
url = \"\"
secret_env = \"KIZUNA_UNSUBSCRIBE_SECRET\"
previous_secrets_env = \"KIZUNA_UNSUBSCRIBE_PREVIOUS\"

[holdout]
# A global control group: global_percent (0-15) of customers, drawn by a hash of their id
# and salt (the same in every run and replay; a new salt reshuffles), never receive
# marketing. Their messages end suppressed by guard `holdout`, so the lift of marketing as a
# whole can be measured. Transactional, service and staff messages are never held out.
global_percent = 0
salt = \"\"

[server]
# `kizuna run`: the HTTP API. Requests need `Authorization: Bearer <token>` (a gateway's
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
        let sections = match config.channels() {
            Ok(sections) => sections,
            Err(problems) => bail!(
                "in {}:\n{}",
                path.display(),
                config.locate(&text, &problems)
            ),
        };
        if let Err(problems) = config.staff.policy(&sections) {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("[staff"))
                .map_or(String::new(), |i| format!(" (line {})", i + 1));
            bail!(
                "in {}, [staff]{line}:\n  {}",
                path.display(),
                problems.join("\n  ")
            );
        }
        Ok(config)
    }

    /// The opt-out links, if `[unsubscribe] url` is set: signed with the secret from the
    /// environment (an error if it is missing or short).
    pub fn unsubscribe_links(&self) -> anyhow::Result<Option<kizuna_core::unsubscribe::Links>> {
        let u = &self.unsubscribe;
        if u.url.is_empty() {
            return Ok(None);
        }
        let secret = secret(
            &u.secret_env,
            "unsubscribe.secret_env",
            "the secret that signs opt-out links",
        )?;
        let previous: Vec<String> = std::env::var(&u.previous_secrets_env)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect();
        kizuna_core::unsubscribe::Links::new(&u.url, &secret, &previous)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("[unsubscribe]: {e}"))
    }

    /// The holdout groups, or what is wrong with `[holdout]`.
    pub fn holdouts(&self) -> anyhow::Result<kizuna_core::lift::holdout::Holdouts> {
        let h = &self.holdout;
        kizuna_core::lift::holdout::Holdouts::new(h.global_percent, h.salt.clone())
            .map_err(|e| anyhow::anyhow!("holdout.{e}"))
    }

    /// The staff policy (checked when the file was read).
    pub fn staff_policy(&self) -> anyhow::Result<kizuna_core::staff::StaffPolicy> {
        let sections = self
            .channels()
            .map_err(|p| anyhow::anyhow!("channels: {}", p.len()))?;
        self.staff
            .policy(&sections)
            .map_err(|problems| anyhow::anyhow!("[staff]: {}", problems.join("; ")))
    }

    /// The channel sections, read by their plugins: every problem of every section, or
    /// the sections ready to build.
    pub fn channels(&self) -> Result<Vec<kizuna_channel::Section>, Vec<kizuna_channel::Problem>> {
        let mut sections = BTreeMap::new();
        for (name, value) in &self.channels {
            let json = serde_json::to_value(value.get_ref()).map_err(|e| {
                vec![kizuna_channel::Problem::new(
                    format!("channels.{name}"),
                    e.to_string(),
                )]
            })?;
            sections.insert(name.clone(), json);
        }
        crate::plugins::registry().read(&sections)
    }

    /// The problems, one a line, each with the line of `text` its section starts on.
    fn locate(&self, text: &str, problems: &[kizuna_channel::Problem]) -> String {
        let line_of = |path: &str| {
            let name = path.strip_prefix("channels.")?.split('.').next()?;
            let span = self.channels.get(name)?.span();
            (span.end > 0).then(|| text[..span.start.min(text.len())].lines().count() + 1)
        };
        problems
            .iter()
            .map(|p| match line_of(&p.path) {
                Some(line) => format!("  line {line}: {p}"),
                None => format!("  {p}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(8..=65_536).contains(&self.store.cache_mb) {
            bail!(
                "store.cache_mb = {} is out of range 8..=65536",
                self.store.cache_mb
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
        self.holdouts()?;
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
