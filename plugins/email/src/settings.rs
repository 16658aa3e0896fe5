//! `type = "smtp"`: the SMTP channel's section of `kizuna.toml`.

use std::time::Duration;

use kizuna_channel::{
    AddressField, BuildContext, BuildError, Built, ChannelConfig, Format, Problem, config::check,
};
use serde::Deserialize;

use crate::{Security, SmtpChannel, SmtpConfig};

/// The settings of an SMTP channel. The password is read from the environment variable
/// `password_env` names, never from the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// Sender address (`From`).
    pub from: String,
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
    /// Connections kept open for reuse.
    pub pool: u32,
    /// Seconds to wait for the server.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            from: "kizuna@localhost".into(),
            host: "127.0.0.1".into(),
            port: 25,
            security: "plain".into(),
            user: String::new(),
            password_env: "KIZUNA_SMTP_PASSWORD".into(),
            reply_to: String::new(),
            unsubscribe_mailto: String::new(),
            pool: 4,
            timeout_secs: 30,
        }
    }
}

fn is_address(s: &str) -> bool {
    s.parse::<lettre::Address>().is_ok()
}

impl ChannelConfig for SmtpSettings {
    const TYPE: &'static str = "smtp";
    const ABOUT: &'static str = "e-mail through an SMTP server (plain, STARTTLS or TLS; pooled)";

    fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !is_address(&self.from) {
            problems.push(Problem::new(
                "from",
                format!("{:?} is not an e-mail address", self.from),
            ));
        }
        if self.host.trim().is_empty() {
            problems.push(Problem::new("host", "must not be empty"));
        }
        if self.port == 0 {
            problems.push(Problem::new("port", "must be 1..=65535"));
        }
        if Security::parse(&self.security).is_none() {
            problems.push(Problem::new(
                "security",
                format!("{:?} must be plain, starttls or tls", self.security),
            ));
        }
        if !self.reply_to.is_empty() && !is_address(&self.reply_to) {
            problems.push(Problem::new(
                "reply_to",
                format!("{:?} is not an e-mail address", self.reply_to),
            ));
        }
        if !self.unsubscribe_mailto.is_empty() && !is_address(&self.unsubscribe_mailto) {
            problems.push(Problem::new(
                "unsubscribe_mailto",
                format!("{:?} is not an e-mail address", self.unsubscribe_mailto),
            ));
        }
        if !(1..=64).contains(&self.pool) {
            problems.push(Problem::new(
                "pool",
                format!("{} is out of range 1..=64", self.pool),
            ));
        }
        problems.extend(check::timeout_secs(self.timeout_secs));
        problems
    }

    fn format(&self) -> Format {
        Format::Email
    }

    fn address(&self) -> AddressField {
        AddressField::profile("email")
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let credentials = if self.user.is_empty() {
            None
        } else {
            let password = cx.secret(
                "password_env",
                &self.password_env,
                "user is set, so the SMTP password",
            )?;
            Some((self.user.clone(), password))
        };
        let none_if_empty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let config = SmtpConfig {
            host: self.host.clone(),
            port: self.port,
            security: Security::parse(&self.security).unwrap_or(Security::Plain),
            credentials,
            from: self.from.clone(),
            reply_to: none_if_empty(&self.reply_to),
            unsubscribe_mailto: none_if_empty(&self.unsubscribe_mailto),
            pool_size: self.pool,
            timeout: Duration::from_secs(self.timeout_secs),
        };
        let channel = SmtpChannel::new(&config).map_err(|e| {
            BuildError(Problem::new(format!("channels.{}", cx.name), e.to_string()))
        })?;
        Ok(Built {
            channel: Box::new(channel),
            // Bounce and complaint reports, by the SMTP channel that sent the mail.
            routes: vec![Box::new(crate::bounce::BounceReports)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let bad = SmtpSettings {
            from: "shop".into(),
            port: 0,
            security: "ssl".into(),
            pool: 0,
            unsubscribe_mailto: "https://x".into(),
            ..SmtpSettings::default()
        };
        let keys: Vec<_> = bad.validate().into_iter().map(|p| p.path).collect();
        assert_eq!(
            keys,
            ["from", "port", "security", "unsubscribe_mailto", "pool"]
        );
        assert!(SmtpSettings::default().validate().is_empty());
    }
}
