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

/// `[channels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Sender address of e-mail.
    pub email_from: String,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            email_from: "kizuna@localhost".into(),
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
# Messages are written under the home's outbox/ (email/*.eml, sms/sms.jsonl).
email_from = \"kizuna@localhost\"

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
