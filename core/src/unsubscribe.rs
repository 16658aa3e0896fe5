//! Signed one-click opt-out links: `<base>/<token>`, one per message.
//!
//! The token names the outbox message (its sequence number and index) and carries an
//! HMAC-SHA256 over the customer, the channel and the message id, keyed by a secret from
//! the environment, truncated to 96 bits: 24 bytes in all, 32 characters of URL-safe
//! base64, short enough for an SMS. **No customer id is in it and none can be forged**: to
//! act on a token the host reads the message it names and checks the MAC against *that*
//! message's customer and channel, so a token edited to name another message fails the
//! check, and a message that does not exist (never sent, or its customer erased) fails the
//! same way — one answer for both, so a caller learns nothing by trying.
//!
//! Tokens do not expire (an old mail's link must keep working), so the secret is rotated
//! with a grace list: links are signed with the current key and accepted under it or any
//! previous one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{ids::CustomerId, store::MessageId};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of MAC kept in a token.
const MAC_LEN: usize = 12;
/// Bytes of a token before base64: sequence number, index, MAC.
const TOKEN_LEN: usize = 8 + 4 + MAC_LEN;
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET: usize = 16;

/// Where links point and the keys that sign them.
#[derive(Clone)]
pub struct Links {
    base: String,
    /// Keyed, nothing hashed yet: cloned for each token.
    current: HmacSha256,
    previous: Vec<HmacSha256>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("base", &self.base)
            .field("previous_keys", &self.previous.len())
            .finish_non_exhaustive()
    }
}

/// A token that checked out: the message it names, and whose and on which channel it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The message the link was in.
    pub message: MessageId,
    /// Its customer.
    pub customer: CustomerId,
    /// Its channel.
    pub channel: String,
}

impl Links {
    /// Links under `base` (`https://shop.example/u`), signed with `secret`, accepting
    /// tokens signed with any of `previous` too. Secrets must be at least [`MIN_SECRET`]
    /// bytes.
    pub fn new(base: &str, secret: &str, previous: &[String]) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("{base:?} is not an http(s) URL"));
        }
        let key = |s: &str| {
            if s.len() < MIN_SECRET {
                return Err(format!(
                    "a secret of {} bytes is too short; at least {MIN_SECRET}",
                    s.len()
                ));
            }
            HmacSha256::new_from_slice(s.as_bytes()).map_err(|e| e.to_string())
        };
        Ok(Self {
            base: base.to_owned(),
            current: key(secret)?,
            previous: previous
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| key(s))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The link for `message`, to `customer` on `channel`.
    pub fn url(&self, customer: &CustomerId, channel: &str, message: MessageId) -> String {
        format!("{}/{}", self.base, self.token(customer, channel, message))
    }

    /// The token alone.
    pub fn token(&self, customer: &CustomerId, channel: &str, message: MessageId) -> String {
        let mac = mac(&self.current, customer, channel, message);
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.extend_from_slice(&message.seq.to_be_bytes());
        bytes.extend_from_slice(&message.n.to_be_bytes());
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The message a token names, if it is well formed (its signature is not checked yet:
    /// see [`Links::verify`]).
    pub fn message_of(token: &str) -> Option<MessageId> {
        let bytes = decode(token)?;
        Some(MessageId {
            seq: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            n: u32::from_be_bytes(bytes[8..12].try_into().ok()?),
        })
    }

    /// Checks `token` against the message it names, as the store has it (`customer`,
    /// `channel`; `None` if there is no such message): the message and its owner, or
    /// `None` for any token that is not one of ours, unchanged.
    pub fn verify(&self, token: &str, message: Option<(CustomerId, String)>) -> Option<Verified> {
        let bytes = decode(token)?;
        let id = Self::message_of(token)?;
        let (customer, channel) = message?;
        let tag = &bytes[12..];
        let good = std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| {
                mac(key, &customer, &channel, id)
                    .verify_truncated_left(tag)
                    .is_ok()
            });
        good.then_some(Verified {
            message: id,
            customer,
            channel,
        })
    }
}

fn decode(token: &str) -> Option<Vec<u8>> {
    if token.len() > 64 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == TOKEN_LEN).then_some(bytes)
}

fn mac(key: &HmacSha256, customer: &CustomerId, channel: &str, message: MessageId) -> HmacSha256 {
    let mut mac = key.clone();
    for part in [
        b"kizuna-unsubscribe".as_slice(),
        customer.as_str().as_bytes(),
        channel.as_bytes(),
        &message.seq.to_be_bytes(),
        &message.n.to_be_bytes(),
    ] {
        // Each part with its length: no two different messages sign the same bytes.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(secret: &str, previous: &[&str]) -> Links {
        let previous: Vec<String> = previous.iter().map(|s| (*s).to_owned()).collect();
        Links::new("https://shop.example/u/", secret, &previous).unwrap()
    }

    fn owner(c: &str) -> Option<(CustomerId, String)> {
        Some((CustomerId::new(c).unwrap(), "email".into()))
    }

    #[test]
    fn a_token_names_its_message_is_short_and_checks_only_against_its_owner() {
        let l = links("a-secret-of-32-bytes-0123456789ab", &[]);
        let id = MessageId { seq: 42, n: 3 };
        let c = CustomerId::new("c-1").unwrap();
        let url = l.url(&c, "email", id);
        let token = url.strip_prefix("https://shop.example/u/").unwrap();
        assert_eq!(token.len(), 32);
        assert!(!token.contains("c-1"));
        assert_eq!(Links::message_of(token), Some(id));
        let ok = l.verify(token, owner("c-1")).unwrap();
        assert_eq!(
            (ok.message, ok.customer.as_str(), ok.channel.as_str()),
            (id, "c-1", "email")
        );
        // Another customer's message, another channel, no message: all refused alike.
        assert_eq!(l.verify(token, owner("c-2")), None);
        assert_eq!(l.verify(token, Some((c.clone(), "sms".into()))), None);
        assert_eq!(l.verify(token, None), None);
        // Edited to name another message: its MAC no longer fits.
        let mut bytes = URL_SAFE_NO_PAD.decode(token).unwrap();
        bytes[7] ^= 1;
        let edited = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            Links::message_of(&edited),
            Some(MessageId { seq: 43, n: 3 })
        );
        assert_eq!(l.verify(&edited, owner("c-1")), None);
        for junk in ["", "x", "!!!!", &"A".repeat(200)] {
            assert_eq!(l.verify(junk, owner("c-1")), None, "{junk}");
        }
    }

    #[test]
    fn a_rotated_secret_keeps_old_links_working_through_the_grace_list() {
        let old = links("the-old-secret-0123456789", &[]);
        let c = CustomerId::new("c-1").unwrap();
        let token = old.token(&c, "email", MessageId { seq: 1, n: 0 });
        let rotated = links("the-new-secret-0123456789", &["the-old-secret-0123456789"]);
        assert!(rotated.verify(&token, owner("c-1")).is_some());
        let forgotten = links("the-new-secret-0123456789", &[]);
        assert_eq!(forgotten.verify(&token, owner("c-1")), None);
        assert!(Links::new("https://x", "short", &[]).is_err());
        assert!(Links::new("ftp://x", "long-enough-secret-0123", &[]).is_err());
    }
}
