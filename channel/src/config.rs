//! Plugins and their configuration: each channel is one section of the configuration,
//! `[channels.<name>]`, whose `type` picks the plugin that reads the rest.
//!
//! A plugin owns its settings in the style of a Vector component: a serde type that refuses
//! unknown keys ([`ChannelConfig`]), a pure [`ChannelConfig::validate`] that reports every
//! problem with its key, and [`ChannelConfig::build`], which is the only step that may read
//! the environment (secrets) or touch the outside. The host knows no plugin by name: it finds
//! them in a [`Registry`] by `type`, so two channels of one kind (two SMTP relays, two LINE
//! accounts) are two sections.
//!
//! A few keys belong to the host and mean the same for every plugin; the registry takes them
//! out before the plugin sees the section:
//!
//! | key | meaning |
//! | --- | --- |
//! | `type` | the plugin (required) |
//! | `rate` | messages per second at most (0: no limit) |
//! | `concurrency` | messages being sent at once at most (0: the channel's own number) |
//! | `address` | the profile field that addresses a customer (default: the plugin's) |
//!
//! Problems are collected, not returned at the first: an operator who saved a file with
//! three mistakes hears of all three, each with its path (`channels.email.port`).

use std::{collections::BTreeMap, fmt, path::Path};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{AddressField, Channel, ChannelShape, Format, Limits, inbound::InboundRoute};

/// One thing wrong with the configuration, at its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `channels.<name>.<key>` once the registry has placed it; a plugin gives the
    /// key within its section (`port`, `auth.user`), or an empty path for the section.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    fn under(mut self, prefix: &str) -> Self {
        self.path = match self.path.as_str() {
            "" => prefix.to_owned(),
            key => format!("{prefix}.{key}"),
        };
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Checks plugins share in their [`ChannelConfig::validate`], so the same mistake reads
/// the same in every section.
pub mod check {
    use super::Problem;

    /// `value` at `key` must be an http(s) URL.
    pub fn http_url(key: &str, value: &str) -> Option<Problem> {
        (!(value.starts_with("https://") || value.starts_with("http://")))
            .then(|| Problem::new(key, format!("{value:?} is not an http(s) URL")))
    }

    /// Like [`http_url`], where empty means "none".
    pub fn optional_http_url(key: &str, value: &str) -> Option<Problem> {
        if value.is_empty() {
            None
        } else {
            http_url(key, value)
        }
    }

    /// `value` at `key` must not be empty.
    pub fn not_empty(key: &str, value: &str) -> Option<Problem> {
        value
            .trim()
            .is_empty()
            .then(|| Problem::new(key, "must not be empty"))
    }

    /// `timeout_secs` must be 1..=600: no wait forever, no wait of more than ten minutes.
    pub fn timeout_secs(secs: u64) -> Option<Problem> {
        (!(1..=600).contains(&secs))
            .then(|| Problem::new("timeout_secs", format!("{secs} is out of range 1..=600")))
    }
}

/// Why a valid configuration could not be built into a channel: a secret missing from the
/// environment, a client that would not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub Problem);

/// What the host gives a plugin's [`ChannelConfig::build`].
pub struct BuildContext<'a> {
    /// The channel's name (its section).
    pub name: &'a str,
    /// The home directory; relative paths in settings are read against it.
    pub home: &'a Path,
    /// Reads an environment variable (the process's, or a test's).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl fmt::Debug for BuildContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildContext")
            .field("name", &self.name)
            .field("home", &self.home)
            .finish()
    }
}

impl BuildContext<'_> {
    /// The secret in the environment variable `var`, which the setting `key` names; the
    /// error says which channel needs it and for what (`what`).
    pub fn secret(&self, key: &str, var: &str, what: &str) -> Result<String, BuildError> {
        match (self.env)(var) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(BuildError(Problem::new(
                format!("channels.{}.{key}", self.name),
                format!("{what} must be in the environment variable {var}"),
            ))),
        }
    }

    /// `path` read against the home, unless it is absolute.
    pub fn path(&self, path: &str) -> std::path::PathBuf {
        self.home.join(path)
    }
}

/// What a plugin builds from its settings.
pub struct Built {
    /// How it sends.
    pub channel: Box<dyn Channel>,
    /// The HTTP routes it answers while the daemon runs (delivery reports, inbound
    /// messages), mounted under `/channels/<name>/`.
    pub routes: Vec<Box<dyn InboundRoute>>,
}

impl fmt::Debug for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Built")
            .field("channel", &self.channel.describe())
            .field(
                "routes",
                &self.routes.iter().map(|r| r.path()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Built {
    /// A channel with no inbound routes.
    pub fn channel(channel: impl Channel + 'static) -> Self {
        Self {
            channel: Box::new(channel),
            routes: Vec::new(),
        }
    }
}

/// A plugin's settings: one `[channels.<name>]` section without the host's keys.
///
/// Implementations derive `Deserialize` with `#[serde(deny_unknown_fields)]` (and
/// `default` for optional keys); the registry turns a parse error into a [`Problem`] at the
/// key it is about.
pub trait ChannelConfig: DeserializeOwned + Send + Sync + 'static {
    /// The `type` this configuration is chosen by (`smtp`, `kannel`, `line`).
    const TYPE: &'static str;

    /// One line on what the plugin is, for `kizuna channels types`.
    const ABOUT: &'static str;

    /// Every problem with the settings, keys relative to the section. Pure: no
    /// environment, no network, no files.
    fn validate(&self) -> Vec<Problem>;

    /// What its messages are rendered as.
    fn format(&self) -> Format;

    /// Where a customer's address is, unless the section says (`address = …`).
    fn address(&self) -> AddressField;

    /// The channel, its secrets read from the environment.
    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError>;
}

/// A section read and validated: the shape the host needs without building anything (a
/// replay, a dry run), and what builds the channel when it is wanted.
pub struct Section {
    /// Name, address field, format.
    pub shape: ChannelShape,
    /// The plugin's `type`.
    pub kind: &'static str,
    /// The host's limits.
    pub limits: Limits,
    settings: Box<dyn Buildable>,
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("shape", &self.shape)
            .field("kind", &self.kind)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Section {
    /// Builds the channel, wrapped in its limits when it has any.
    pub fn build(
        &self,
        home: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Built, BuildError> {
        let cx = BuildContext {
            name: &self.shape.name,
            home,
            env,
        };
        let mut built = self.settings.build(&cx)?;
        if self.limits.per_second > 0.0 || self.limits.concurrency > 0 {
            built.channel = Box::new(crate::Limited::new(built.channel, self.limits));
        }
        Ok(built)
    }
}

/// The erased face of a [`ChannelConfig`].
trait Buildable: Send + Sync {
    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError>;
}

struct Settings<C>(C);

impl<C: ChannelConfig> Buildable for Settings<C> {
    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        self.0.build(cx)
    }
}

/// A plugin as the registry holds it: reads a section into a [`Section`].
trait Plugin: Send + Sync {
    fn about(&self) -> &'static str;
    fn read(&self, name: &str, host: Host, rest: Value) -> Result<Section, Vec<Problem>>;
}

struct Typed<C>(std::marker::PhantomData<fn() -> C>);

impl<C: ChannelConfig> Plugin for Typed<C> {
    fn about(&self) -> &'static str {
        C::ABOUT
    }

    fn read(&self, name: &str, host: Host, rest: Value) -> Result<Section, Vec<Problem>> {
        let config: C = serde_path_to_error::deserialize(rest).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![Problem::new(path, e.into_inner().to_string())]
        })?;
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Section {
            shape: ChannelShape::new(
                name,
                host.address.unwrap_or_else(|| config.address()),
                config.format(),
            ),
            kind: C::TYPE,
            limits: host.limits,
            settings: Box::new(Settings(config)),
        })
    }
}

/// The host's keys of a section.
struct Host {
    limits: Limits,
    address: Option<AddressField>,
}

/// The plugins a binary was built with, by `type`.
#[derive(Default)]
pub struct Registry {
    plugins: BTreeMap<&'static str, Box<dyn Plugin>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.plugins.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the plugin configured by `C`.
    #[must_use]
    pub fn with<C: ChannelConfig>(mut self) -> Self {
        self.plugins
            .insert(C::TYPE, Box::new(Typed::<C>(std::marker::PhantomData)));
        self
    }

    /// The plugins' types, each with its line of description.
    pub fn types(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.plugins.iter().map(|(kind, p)| (*kind, p.about()))
    }

    /// Reads `[channels]`: every section, by name. Every problem in every section is
    /// reported, each at `channels.<name>.<key>`.
    pub fn read(&self, channels: &BTreeMap<String, Value>) -> Result<Vec<Section>, Vec<Problem>> {
        let mut sections = Vec::new();
        let mut problems = Vec::new();
        for (name, value) in channels {
            let at = format!("channels.{name}");
            match self.read_one(name, value) {
                Ok(section) => sections.push(section),
                Err(found) => problems.extend(found.into_iter().map(|p| p.under(&at))),
            }
        }
        if problems.is_empty() {
            Ok(sections)
        } else {
            Err(problems)
        }
    }

    fn read_one(&self, name: &str, value: &Value) -> Result<Section, Vec<Problem>> {
        let Value::Object(section) = value else {
            return Err(vec![Problem::new(
                "",
                "must be a table: each channel is a section [channels.<name>] with a `type` \
                 (`kizuna channels types` lists them)",
            )]);
        };
        let mut problems = Vec::new();
        if name.parse::<AddressField>().is_err() || name == "id" {
            problems.push(Problem::new(
                "",
                "a channel's name is lower-case letters, digits and `_`, a letter first \
                 (scripts send to it by this name)",
            ));
        }
        let mut rest = section.clone();
        let kind = match rest.remove("type") {
            Some(Value::String(kind)) => Some(kind),
            Some(_) => {
                problems.push(Problem::new("type", "must be a string"));
                None
            }
            None => {
                problems.push(Problem::new(
                    "type",
                    format!("is missing; one of: {}", self.type_list()),
                ));
                None
            }
        };
        let host = read_host(&mut rest, &mut problems);
        let plugin = kind
            .as_deref()
            .and_then(|kind| match self.plugins.get(kind) {
                Some(plugin) => Some(plugin),
                None => {
                    problems.push(Problem::new(
                        "type",
                        format!(
                            "{kind:?} is not a channel type; one of: {}",
                            self.type_list()
                        ),
                    ));
                    None
                }
            });
        let section = match plugin {
            Some(plugin) => match plugin.read(name, host, Value::Object(rest)) {
                Ok(section) => Some(section),
                Err(found) => {
                    problems.extend(found);
                    None
                }
            },
            None => None,
        };
        match section {
            Some(section) if problems.is_empty() => Ok(section),
            _ => Err(problems),
        }
    }

    fn type_list(&self) -> String {
        self.plugins.keys().copied().collect::<Vec<_>>().join(", ")
    }
}

/// Takes the host's keys out of a section.
fn read_host(rest: &mut serde_json::Map<String, Value>, problems: &mut Vec<Problem>) -> Host {
    let mut limits = Limits::default();
    match rest.remove("rate") {
        None => {}
        Some(v) => match v.as_f64() {
            Some(rate) if (0.0..=100_000.0).contains(&rate) => limits.per_second = rate,
            _ => problems.push(Problem::new(
                "rate",
                format!("{v} is not a number in 0..=100000 (messages per second; 0: no limit)"),
            )),
        },
    }
    match rest.remove("concurrency") {
        None => {}
        Some(v) => match v.as_u64() {
            Some(n) if n <= 1024 => limits.concurrency = n as usize,
            _ => problems.push(Problem::new(
                "concurrency",
                format!("{v} is not a whole number in 0..=1024 (0: the channel's own)"),
            )),
        },
    }
    let address = match rest.remove("address") {
        None => None,
        Some(Value::String(field)) => match field.parse() {
            Ok(field) => Some(field),
            Err(e) => {
                problems.push(Problem::new("address", e));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new("address", "must be a string"));
            None
        }
    };
    Host { limits, address }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Delivery, OutgoingMessage};

    struct Nowhere;

    impl Channel for Nowhere {
        fn send(&self, _: &OutgoingMessage) -> Delivery {
            Delivery::Sent {
                receipt: "ok".into(),
            }
        }
        fn describe(&self) -> String {
            "nowhere".into()
        }
    }

    /// A plugin with one required key and one checked one.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pigeon {
        loft: String,
        #[serde(default)]
        speed: u32,
        #[serde(default)]
        key_env: Option<String>,
    }

    impl ChannelConfig for Pigeon {
        const TYPE: &'static str = "pigeon";
        const ABOUT: &'static str = "a bird";
        fn validate(&self) -> Vec<Problem> {
            let mut problems = Vec::new();
            if self.loft.is_empty() {
                problems.push(Problem::new("loft", "must not be empty"));
            }
            if self.speed > 100 {
                problems.push(Problem::new("speed", "too fast"));
            }
            problems
        }
        fn format(&self) -> Format {
            Format::Text
        }
        fn address(&self) -> AddressField {
            AddressField::profile("loft_id")
        }
        fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
            if let Some(var) = &self.key_env {
                cx.secret("key_env", var, "the key")?;
            }
            Ok(Built::channel(Nowhere))
        }
    }

    fn read(sections: serde_json::Value) -> Result<Vec<Section>, Vec<String>> {
        let map: BTreeMap<String, Value> = serde_json::from_value(sections).unwrap();
        Registry::new()
            .with::<Pigeon>()
            .read(&map)
            .map_err(|problems| problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_section_names_its_channel_and_the_host_keys_are_taken_out() {
        let sections = read(serde_json::json!({
            "birds": {"type": "pigeon", "loft": "roof", "rate": 2.5, "concurrency": 1},
            "fast": {"type": "pigeon", "loft": "barn", "address": "barn_id"},
        }))
        .unwrap();
        assert_eq!(sections.len(), 2, "two channels of one type");
        let birds = &sections[0];
        assert_eq!(birds.shape.name, "birds");
        assert_eq!(birds.shape.address, AddressField::profile("loft_id"));
        assert_eq!(birds.limits.per_second, 2.5);
        assert_eq!(sections[1].shape.address, AddressField::profile("barn_id"));
        let built = birds.build(Path::new("/tmp"), &|_| None).unwrap();
        assert!(built.channel.describe().contains("at most 2.5/s"));
    }

    #[test]
    fn every_problem_in_every_section_is_reported_with_its_path() {
        let problems = read(serde_json::json!({
            "a": {"type": "pigeon", "loft": "", "speed": 500, "rate": -1},
            "b": {"type": "pidgeon"},
            "c": {"loft": "x"},
            "d": {"type": "pigeon", "loft": "x", "colour": "grey"},
            "e": {"type": "pigeon", "loft": "x", "speed": "fast"},
            "Bad Name": {"type": "pigeon", "loft": "x"},
            "f": "pigeon",
        }))
        .unwrap_err();
        let has = |needle: &str| problems.iter().any(|p| p.starts_with(needle));
        assert!(has("channels.a.rate: -1 is not a number"), "{problems:?}");
        assert!(has("channels.a.loft: must not be empty"), "{problems:?}");
        assert!(has("channels.a.speed: too fast"), "{problems:?}");
        assert!(has(
            "channels.b.type: \"pidgeon\" is not a channel type; one of: pigeon"
        ));
        assert!(has("channels.c.type: is missing"), "{problems:?}");
        assert!(
            has("channels.d.colour: unknown field `colour`"),
            "{problems:?}"
        );
        assert!(has("channels.e.speed: invalid type"), "{problems:?}");
        assert!(
            has("channels.Bad Name: a channel's name is"),
            "{problems:?}"
        );
        assert!(has("channels.f: must be a table"), "{problems:?}");
    }

    #[test]
    fn a_missing_secret_names_the_channel_key_and_variable() {
        let sections =
            read(serde_json::json!({"birds": {"type": "pigeon", "loft": "r", "key_env": "K"}}))
                .unwrap();
        let err = sections[0].build(Path::new("/tmp"), &|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "channels.birds.key_env: the key must be in the environment variable K"
        );
        let env = |v: &str| (v == "K").then(|| "s".to_owned());
        assert!(sections[0].build(Path::new("/tmp"), &env).is_ok());
    }
}
