//! The file channels as plugins: `type = "email-file"` and `type = "sms-file"`.
//!
//! They are the embedded default (`[channels.email]` and `[channels.sms]` of a new home),
//! and register like any other plugin. A file channel writes under the home's
//! `outbox/<channel name>/`, a path fixed by its name so that erasing a customer finds every
//! file kizuna wrote about them.

use serde::Deserialize;

use super::{AddressField, FileEmailChannel, FileSmsChannel, Format};
use kizuna_channel::{BuildContext, BuildError, Built, ChannelConfig, Problem};

/// `type = "email-file"`: e-mail as `.eml` files in `outbox/<name>/`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileEmailConfig {
    /// The sender address written into each message.
    pub from: String,
}

impl Default for FileEmailConfig {
    fn default() -> Self {
        Self {
            from: "kizuna@localhost".into(),
        }
    }
}

impl ChannelConfig for FileEmailConfig {
    const TYPE: &'static str = "email-file";
    const ABOUT: &'static str = "e-mail written as .eml files under the home's outbox/<name>/";

    fn validate(&self) -> Vec<Problem> {
        if self.from.contains('@') && !self.from.contains(['\r', '\n']) {
            Vec::new()
        } else {
            vec![Problem::new(
                "from",
                format!("{:?} is not an e-mail address", self.from),
            )]
        }
    }

    fn format(&self) -> Format {
        Format::Email
    }

    fn address(&self) -> AddressField {
        AddressField::profile("email")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let dir = cx.path("outbox").join(cx.name);
        Ok(Built::channel(FileEmailChannel::new(
            dir,
            self.from.clone(),
        )))
    }
}

/// `type = "sms-file"`: SMS as JSON lines in `outbox/<name>/sms.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileSmsConfig {}

impl ChannelConfig for FileSmsConfig {
    const TYPE: &'static str = "sms-file";
    const ABOUT: &'static str = "SMS written as JSON lines to the home's outbox/<name>/sms.jsonl";

    fn validate(&self) -> Vec<Problem> {
        Vec::new()
    }

    fn format(&self) -> Format {
        Format::Sms
    }

    fn address(&self) -> AddressField {
        AddressField::profile("phone")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        Ok(Built::channel(FileSmsChannel::new(
            cx.path("outbox").join(cx.name),
        )))
    }
}
