//! kizuna-sms: SMS channels over HTTP — Kannel's `sendsms` interface ([`KannelChannel`])
//! and Twilio-compatible REST APIs ([`TwilioChannel`]).
//!
//! Kannel (`bearerbox` + `smsbox`) is the open-source SMS gateway a small business can run
//! itself in front of a modem or an operator's SMSC. [`KannelChannel`] hands it one message
//! per HTTP request. Japanese (anything outside GSM's basic characters) goes as UCS-2
//! (`coding=2`, UTF-16BE bytes), everything else as 7-bit text; long messages are
//! concatenated by Kannel, and the receipt says how many characters and parts were sent.
//! With a `dlr_url`, Kannel reports delivery (`dlr-mask=3`: delivered or failed) to that
//! URL, `{id}` replaced by the outbox id and Kannel's `%d` by the report type.
//!
//! Kannel calls back with delivery reports and with the messages customers send; the
//! channel answers both as inbound routes ([`inbound`]), so they become events in the
//! customer's history.
//!
//! Kannel's answer decides the outcome: 2xx ("Accepted for delivery", "Queued for later
//! delivery") is sent, 5xx or no connection is transient, any other status (a bad
//! password, a refused number) is permanent.

use std::time::Duration;

use kizuna_channel::{Channel, Delivery, OutgoingMessage};

pub mod inbound;
mod settings;
mod twilio;

pub use inbound::phone_key;
pub use settings::{KannelSettings, TwilioSettings};
pub use twilio::{TwilioChannel, TwilioConfig};

/// A phone number as gateways want it: spaces and dashes removed; `None` if what is left
/// is not `+` and digits.
pub fn normalise_number(to: &str) -> Option<String> {
    let n: String = to.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = n.strip_prefix('+').unwrap_or(&n);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then_some(n)
}

/// Where and how to reach Kannel's smsbox.
#[derive(Clone)]
pub struct KannelConfig {
    /// The sendsms URL, e.g. `http://127.0.0.1:13013/cgi-bin/sendsms`.
    pub url: String,
    /// `sendsms-user` name.
    pub username: String,
    /// Its password (from the environment, never from the config file).
    pub password: String,
    /// Sender shown to the customer.
    pub from: String,
    /// Delivery-report URL; `{id}` is replaced by the outbox id.
    pub dlr_url: Option<String>,
    /// Give up on a request after this long (a transient failure).
    pub timeout: Duration,
}

impl std::fmt::Debug for KannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KannelConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The channel. See the crate documentation.
pub struct KannelChannel {
    config: KannelConfig,
    agent: ureq::Agent,
}

impl std::fmt::Debug for KannelChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KannelChannel")
            .field("config", &self.config)
            .finish()
    }
}

/// An HTTP client that gives up after `timeout` and hands every status back (the channel
/// decides what a status means).
fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Percent-encodes bytes for a query string (RFC 3986 unreserved characters kept).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a text travels: GSM 7-bit for plain ASCII, UCS-2 for anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// 160 characters a part (153 when concatenated).
    Gsm7,
    /// 70 characters a part (67 when concatenated).
    Ucs2,
}

impl Coding {
    /// The coding `text` needs. (ASCII approximates GSM's basic set; the few ASCII
    /// characters GSM lacks, such as `` ` ``, are sent as UCS-2 to be safe.)
    pub fn of(text: &str) -> Self {
        let gsm_safe = text.chars().all(|c| {
            c.is_ascii() && !matches!(c, '`' | '^' | '{' | '}' | '[' | ']' | '~' | '\\' | '|')
        });
        if gsm_safe { Self::Gsm7 } else { Self::Ucs2 }
    }

    /// Parts needed for `chars` characters.
    pub fn parts(self, chars: usize) -> usize {
        let (single, multi) = match self {
            Self::Gsm7 => (160, 153),
            Self::Ucs2 => (70, 67),
        };
        if chars <= single {
            1
        } else {
            chars.div_ceil(multi)
        }
    }
}

impl KannelChannel {
    /// The channel; no connection is made until the first message.
    pub fn new(config: KannelConfig) -> Self {
        let agent = http_agent(config.timeout);
        Self { config, agent }
    }

    /// The full sendsms URL for one message.
    pub fn request_url(&self, m: &OutgoingMessage) -> String {
        let c = &self.config;
        let coding = Coding::of(&m.body);
        let mut url = format!(
            "{}?username={}&password={}&from={}&to={}",
            c.url,
            percent_encode(c.username.as_bytes()),
            percent_encode(c.password.as_bytes()),
            percent_encode(c.from.as_bytes()),
            percent_encode(m.to.as_bytes()),
        );
        match coding {
            Coding::Gsm7 => {
                url.push_str("&charset=UTF-8&text=");
                url.push_str(&percent_encode(m.body.as_bytes()));
            }
            Coding::Ucs2 => {
                let utf16: Vec<u8> = m.body.encode_utf16().flat_map(u16::to_be_bytes).collect();
                url.push_str("&coding=2&charset=UTF-16BE&text=");
                url.push_str(&percent_encode(&utf16));
            }
        }
        if let Some(dlr) = &c.dlr_url {
            let dlr = dlr.replace("{id}", &m.id.to_string());
            url.push_str("&dlr-mask=3&dlr-url=");
            url.push_str(&percent_encode(dlr.as_bytes()));
        }
        url
    }
}

impl Channel for KannelChannel {
    fn address_key(&self, address: &str) -> Option<String> {
        phone_key(address)
    }

    fn send(&self, m: &OutgoingMessage) -> Delivery {
        let to: String = m.to.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if to.is_empty()
            || !to
                .trim_start_matches('+')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Delivery::Permanent {
                reason: format!("not a phone number: {:?}", m.to),
            };
        }
        let mut normalised = m.clone();
        normalised.to = to;
        let url = self.request_url(&normalised);
        let chars = m.body.chars().count();
        let coding = Coding::of(&m.body);
        let endpoint = &self.config.url;
        match self.agent.get(&url).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text = response
                    .body_mut()
                    .read_to_string()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                match status {
                    200..=299 => Delivery::Sent {
                        receipt: format!(
                            "kannel: {text} ({chars} characters, {} part(s), {coding:?})",
                            coding.parts(chars)
                        ),
                    },
                    500..=599 => Delivery::Transient {
                        reason: format!("{endpoint} answered {status}: {text}"),
                    },
                    _ => Delivery::Permanent {
                        reason: format!("{endpoint} answered {status}: {text}"),
                    },
                }
            }
            Err(e) => Delivery::Transient {
                reason: format!("{endpoint}: {e}"),
            },
        }
    }

    fn check(&self) -> Result<(), String> {
        // smsbox answers any request on its port; a missing user is a 4xx, not a failure
        // to connect. What is checked here is that smsbox is there.
        match self.agent.get(&self.config.url).call() {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{}: {e}", self.config.url)),
        }
    }

    fn describe(&self) -> String {
        format!("Kannel {}", self.config.url)
    }

    fn concurrency(&self) -> usize {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_goes_as_ucs2_and_parts_are_counted() {
        assert_eq!(Coding::of("Thanks, see you!"), Coding::Gsm7);
        assert_eq!(Coding::of("ご来店ありがとうございます"), Coding::Ucs2);
        assert_eq!(Coding::Gsm7.parts(160), 1);
        assert_eq!(Coding::Gsm7.parts(161), 2);
        assert_eq!(Coding::Ucs2.parts(70), 1);
        assert_eq!(Coding::Ucs2.parts(71), 2);
        assert_eq!(percent_encode("a b+é".as_bytes()), "a%20b%2B%C3%A9");
    }
}
