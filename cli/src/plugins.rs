//! The channel plugins this binary was built with: the one list to change when a plugin is
//! added. Everything else finds a plugin by its configuration's `type`
//! ([`kizuna_channel::Registry`]).

use kizuna_channel::Registry;

/// Every plugin, by `type`.
pub fn registry() -> Registry {
    Registry::new()
        .with::<kizuna_core::channel::FileEmailConfig>()
        .with::<kizuna_core::channel::FileSmsConfig>()
        .with::<kizuna_email::SmtpSettings>()
        .with::<kizuna_line::LineSettings>()
        .with::<kizuna_sms::KannelSettings>()
        .with::<kizuna_sms::TwilioSettings>()
        .with::<kizuna_webhook::WebhookSettings>()
        .with::<kizuna_webhook::ChatSettings>()
}
