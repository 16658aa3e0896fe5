//! Channels: how a rendered message leaves kizuna.
//!
//! The contract — the [`Channel`] trait, the message, the delivery, limits — lives in the
//! `kizuna-channel` crate, which plugins depend on instead of this one; it is re-exported
//! here so core code and its users name one set of types. Core ships the file channels (the
//! embedded default, an outbox you can read); SMTP, SMS gateways, webhooks and LINE are
//! plugins behind the same trait.

mod config;
mod file;

pub use config::{FileEmailConfig, FileSmsConfig};
pub use file::{FileEmailChannel, FileSmsChannel};
pub use kizuna_channel::{
    AddressField, Channel, ChannelShape, Configured, Delivery, Format, Limited, Limits,
    NullChannel, OutgoingMessage, Permit,
};

/// The channels of a home with no channel configuration: e-mail (`email`, to the profile's
/// `email`) and SMS (`sms`, to its `phone`), both written to files.
pub fn default_shapes() -> Vec<ChannelShape> {
    vec![email_shape(), sms_shape()]
}

fn email_shape() -> ChannelShape {
    ChannelShape::new("email", AddressField::profile("email"), Format::Email)
}

fn sms_shape() -> ChannelShape {
    ChannelShape::new("sms", AddressField::profile("phone"), Format::Sms)
}

/// The default channels as files under `outbox`: `.eml` files in `outbox/email` from `from`,
/// and `outbox/sms/sms.jsonl`.
pub fn file_channels(outbox: &std::path::Path, from: &str) -> Vec<Configured> {
    vec![
        Configured {
            shape: email_shape(),
            channel: std::sync::Arc::new(FileEmailChannel::new(outbox.join("email"), from)),
        },
        Configured {
            shape: sms_shape(),
            channel: std::sync::Arc::new(FileSmsChannel::new(outbox.join("sms"))),
        },
    ]
}
