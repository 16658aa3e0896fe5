//! kizuna-email: the SMTP channel, built on lettre.
//!
//! [`SmtpChannel`] implements kizuna-channel's [`Channel`], configured by [`SmtpSettings`]
//! (`type = "smtp"`): the dispatcher hands it a rendered
//! message and gets back whether it went out. The channel speaks plain SMTP (a local relay),
//! STARTTLS or implicit TLS, authenticates if given credentials (the password comes from
//! the environment, never from `kizuna.toml`), and reuses connections from a small pool, so
//! a campaign is one conversation per connection rather than one per message.
//!
//! What the server says decides the outcome: a 4xx reply or a connection failure is
//! transient (the dispatcher retries with backoff), a 5xx reply is permanent (the message is
//! dead, with the server's words kept as the reason). The `Message-ID` is derived from the
//! outbox id, so a message retried after a crash carries the same id and the receiving side
//! can tell it is a duplicate. Marketing mail carries `List-Unsubscribe` (mailto and, if
//! configured, a one-click URL with `List-Unsubscribe-Post`), as large mailbox providers
//! require of bulk senders.

use std::time::Duration;

pub mod bounce;
mod settings;

pub use settings::SmtpSettings;

use kizuna_channel::{Channel, Delivery, MessageClass, OutgoingMessage};
use lettre::{
    Message, SmtpTransport, Transport,
    message::{
        Mailbox, MultiPart,
        header::{ContentType, HeaderName, HeaderValue},
    },
    transport::smtp::{
        PoolConfig,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No TLS: only for a relay on the same machine or network.
    Plain,
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl Security {
    /// Parses `plain`, `starttls` or `tls`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "plain" => Some(Self::Plain),
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// Everything the channel needs; [`SmtpSettings::build`](kizuna_channel::ChannelConfig::build) fills it from
/// `kizuna.toml` and the environment.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, String)>,
    /// Sender (`From`).
    pub from: String,
    /// `Reply-To`, if replies should go elsewhere.
    pub reply_to: Option<String>,
    /// `mailto:` address for `List-Unsubscribe` on marketing mail (beside the signed
    /// one-click link the host gives each message, [`OutgoingMessage::unsubscribe`]).
    pub unsubscribe_mailto: Option<String>,
    /// Connections kept open for reuse.
    pub pool_size: u32,
    /// Give up on a server that does not answer within this time (a transient failure).
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// An address in the configuration does not parse.
    #[error("{field}: {value:?} is not an e-mail address ({reason})")]
    Address {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// TLS could not be set up for the host.
    #[error("TLS for {host}: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
}

/// The SMTP channel. See the crate documentation.
pub struct SmtpChannel {
    transport: SmtpTransport,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    unsubscribe_mailto: Option<String>,
    id_domain: String,
    endpoint: String,
    connections: usize,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    value
        .parse()
        .map_err(|e: lettre::address::AddressError| EmailError::Address {
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
const KIZUNA_CLASS: HeaderName = HeaderName::new_from_ascii_str("X-Kizuna-Class");

impl SmtpChannel {
    /// Builds the channel. No connection is made until the first message (or [`check`]).
    ///
    /// [`check`]: SmtpChannel::check
    pub fn new(config: &SmtpConfig) -> Result<Self, EmailError> {
        let from = mailbox("from", &config.from)?;
        let reply_to = config
            .reply_to
            .as_deref()
            .map(|r| mailbox("reply_to", r))
            .transpose()?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| EmailError::Tls {
                host: host.to_owned(),
                reason: e.to_string(),
            })
        };
        let builder = SmtpTransport::builder_dangerous(config.host.clone())
            .port(config.port)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)));
        let builder = match config.security {
            Security::Plain => builder.tls(Tls::None),
            Security::StartTls => builder.tls(Tls::Required(tls(&config.host)?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls(&config.host)?)),
        };
        let builder = match &config.credentials {
            Some((user, password)) => {
                builder.credentials(Credentials::new(user.clone(), password.clone()))
            }
            None => builder,
        };
        let id_domain = from.email.domain().to_owned();
        Ok(Self {
            transport: builder.build(),
            from,
            reply_to,
            unsubscribe_mailto: config.unsubscribe_mailto.clone(),
            id_domain,
            endpoint: format!("{}:{}", config.host, config.port),
            connections: config.pool_size.max(1) as usize,
        })
    }

    /// The message as it goes on the wire.
    pub fn build(&self, m: &OutgoingMessage) -> Result<Message, String> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|e| format!("not an e-mail address: {:?} ({e})", m.to))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone().unwrap_or_default())
            .message_id(Some(format!("<{}@{}>", m.id, self.id_domain)))
            .raw_header(HeaderValue::new(KIZUNA_CLASS, m.class.as_str().to_owned()));
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.clone());
        }
        if m.class == MessageClass::Marketing {
            let mut targets = Vec::new();
            if let Some(mailto) = &self.unsubscribe_mailto {
                targets.push(format!("<mailto:{mailto}>"));
            }
            if let Some(url) = &m.unsubscribe {
                // RFC 8058: the link first, and the header that says a POST to it is enough.
                targets.insert(0, format!("<{url}>"));
                builder = builder.raw_header(HeaderValue::new(
                    LIST_UNSUBSCRIBE_POST,
                    "List-Unsubscribe=One-Click".into(),
                ));
            }
            if !targets.is_empty() {
                builder =
                    builder.raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, targets.join(", ")));
            }
        }
        match &m.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                m.body.clone(),
                html.clone(),
            )),
            None => builder.header(ContentType::TEXT_PLAIN).body(m.body.clone()),
        }
        .map_err(|e| format!("cannot build the message: {e}"))
    }
}

/// Whether an SMTP reply carries an enhanced status code about the recipient's address
/// (`5.1.0`–`5.1.10`: bad mailbox, bad domain, …).
fn address_status(reply: &str) -> bool {
    reply
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|word| {
            let mut parts = word.split('.');
            parts.next() == Some("5")
                && parts.next() == Some("1")
                && parts.next().is_some_and(|d| !d.is_empty() && d.len() <= 3)
                && parts.next().is_none()
        })
}

/// An SMTP error in words an operator can act on.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let what = if e.is_permanent() || e.is_transient() {
        "the server refused"
    } else if e.is_timeout() {
        "no answer in time"
    } else if e.is_tls() {
        "TLS failed"
    } else if e.is_client() {
        "client error"
    } else {
        "could not talk to the server"
    };
    format!("{what}: {e}")
}

impl Channel for SmtpChannel {
    /// Connects, greets and (if configured) authenticates, then hangs up. The error says
    /// what failed: unreachable, TLS, or authentication.
    fn check(&self) -> Result<(), String> {
        match self.transport.test_connection() {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("{} did not accept a connection", self.endpoint)),
            Err(e) => Err(format!("{}: {}", self.endpoint, describe(&e))),
        }
    }

    fn describe(&self) -> String {
        format!("SMTP {}", self.endpoint)
    }

    fn concurrency(&self) -> usize {
        self.connections
    }

    fn send(&self, m: &OutgoingMessage) -> Delivery {
        let message = match self.build(m) {
            Ok(message) => message,
            Err(reason) => return Delivery::Permanent { reason },
        };
        match self.transport.send(&message) {
            Ok(response) => Delivery::Sent {
                receipt: format!(
                    "{} {} {}",
                    self.endpoint,
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            },
            // RFC 3463: 5.1.x is about the address (no such mailbox, bad domain), not
            // the message: the address bounced.
            Err(e) if e.is_permanent() && address_status(&e.to_string()) => {
                Delivery::AddressRefused {
                    reason: describe(&e),
                }
            }
            Err(e) if e.is_permanent() => Delivery::Permanent {
                reason: describe(&e),
            },
            Err(e) => Delivery::Transient {
                reason: describe(&e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_5_1_x_status_says_the_address_is_bad() {
        assert!(address_status(
            "permanent error (550): 5.1.1 <x@y.jp>: Recipient address rejected: User unknown"
        ));
        assert!(address_status("553 5.1.3 bad address syntax"));
        assert!(!address_status("554 5.7.1 Message rejected as spam"));
        assert!(!address_status("552 5.3.4 Message too big"));
        assert!(!address_status("550 5.1.1.1 odd"));
        assert!(!address_status("450 4.1.1 try later"));
    }
}
