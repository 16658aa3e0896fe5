//! The kizuna home: where the configuration, the database and the rules live.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use std::sync::Arc;

use kizuna_core::{Store, StoreOptions, rules::RuleSet};

use crate::{config::Config, pack};

/// A resolved home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    /// `kizuna.toml`, read once per process (it is not reloaded while running; `kizuna
    /// run` read it four times), shared by clones.
    config: Arc<std::sync::OnceLock<Config>>,
}

impl Home {
    /// `--home`, else `$KIZUNA_HOME`, else `./kizuna-data`.
    pub fn resolve(flag: Option<PathBuf>) -> Self {
        let root = flag
            .or_else(|| std::env::var_os("KIZUNA_HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("kizuna-data"));
        Self::at(root)
    }

    /// A home at an explicit path.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            config: Arc::default(),
        }
    }

    /// The home directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("kizuna.toml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("db")
    }

    /// The rules directory.
    pub fn rules_dir(&self) -> PathBuf {
        self.root.join("rules")
    }

    /// Creates the home. Refuses to touch an existing one, so `init` can never clobber a
    /// live configuration or rules a user has edited.
    pub fn init(&self) -> anyhow::Result<()> {
        if self.config_path().exists() {
            bail!(
                "{} is already a kizuna home (kizuna.toml exists); nothing changed",
                self.root.display()
            );
        }
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        pack::install(&self.rules_dir())?;
        let mut store = Store::open(self.db_path(), StoreOptions::default())
            .context("creating the database")?;
        store.flush()?;
        // Written last: its presence marks a complete home.
        std::fs::write(self.config_path(), crate::config::DEFAULT_TOML)
            .with_context(|| format!("writing {}", self.config_path().display()))?;
        Ok(())
    }

    /// Reads the configuration, failing clearly if this is not a home.
    pub fn config(&self) -> anyhow::Result<Config> {
        if let Some(config) = self.config.get() {
            return Ok(config.clone());
        }
        if !self.config_path().exists() {
            bail!(
                "{} is not a kizuna home (no kizuna.toml); create one with `kizuna init --home {}`",
                self.root.display(),
                self.root.display()
            );
        }
        let config = Config::load(&self.config_path())?;
        // A failed read is not kept: the next call reads the file again.
        Ok(self.config.get_or_init(|| config).clone())
    }

    /// The rules directory in force: `--rules`, else the home's `rules/`.
    pub fn rules_dir_or(&self, flag: Option<&Path>) -> PathBuf {
        flag.map_or_else(|| self.rules_dir(), Path::to_path_buf)
    }

    /// Compiles the rules in force. An explicit `--rules` directory must exist; a home
    /// without `rules/` simply has no rules.
    pub fn load_rules(&self, flag: Option<&Path>) -> anyhow::Result<Arc<RuleSet>> {
        let dir = self.rules_dir_or(flag);
        if flag.is_none() && !dir.exists() {
            return Ok(Arc::new(RuleSet::empty()));
        }
        let rules = RuleSet::load_dir(&dir)
            .with_context(|| format!("loading the rules in {}", dir.display()))?;
        Ok(Arc::new(rules))
    }

    /// Opens the database with the home's settings.
    pub fn open_store(&self) -> anyhow::Result<(Config, Store)> {
        let config = self.config()?;
        let options = StoreOptions {
            cache_capacity: config.store.cache_mb * 1024 * 1024,
            ..StoreOptions::default()
        };
        let store = Store::open(self.db_path(), options).context("opening the database")?;
        Ok((config, store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_read_once_and_shared_by_clones() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        assert!(
            home.config().is_err(),
            "no kizuna.toml yet: an error, not kept"
        );
        home.init().unwrap();
        let clone = home.clone();
        let first = home.config().unwrap();
        std::fs::write(home.config_path(), "not = [valid").unwrap();
        assert_eq!(clone.config().unwrap(), first, "read once, for every clone");
        assert!(
            Home::at(home.root()).config().is_err(),
            "another process reads it anew"
        );
    }
}
