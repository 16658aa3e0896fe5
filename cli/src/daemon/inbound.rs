//! Inbound SMS: a customer texting back becomes an event in their history.
//!
//! Kannel hands every incoming message (MO) to an `sms-service` URL; pointed at the
//! daemon's `GET /sms/inbound?from=%p&to=%P&text=%a&id=%I&ts=%T`, each message is matched
//! to the customer whose profile has that phone number and recorded as a
//! `customer_reply` event (`channel: "sms"`, the text, the gateway's id and time).
//!
//! Why `customer_reply` and not `reply`: in kizuna's event vocabulary `reply` is the
//! *staff's* answer — it closes open inquiries and switches off the silence alarm. A
//! customer writing back must do neither; `customer_reply` is what the KPI report counts
//! as a reply. A text that is only a stop word (`STOP`, `停止`, `配信停止`, …) is also
//! an `opt_out` of SMS, recorded at once: a customer who says stop is not texted again.
//!
//! Numbers are matched on their last ten digits, which is where national and
//! international spellings of one number agree (`+81 90-1234-5678`, `09012345678` and
//! `819012345678` all end in `9012345678`). The phone book is built from the projections
//! on the first inbound message and kept current from then on by the writer, which sees
//! every profile change the daemon stores.

use std::collections::HashMap;

use jiff::Timestamp;
use kizuna_core::{Event, ids::CustomerId, store::Store};

/// What Kannel's `get-url` sends (unknown parameters are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The sender's number (`%p`).
    pub from: String,
    /// Our number it was sent to (`%P`).
    pub to: Option<String>,
    /// The text (`%a`).
    pub text: String,
    /// The gateway's message id (`%I`): makes a retried callback idempotent.
    pub id: Option<String>,
    /// When the network received it, in Unix seconds (`%T`); default: now.
    pub ts: Option<i64>,
}

impl InboundSms {
    /// Reads the query string of Kannel's callback. Kannel passes a UCS-2 message's text
    /// as its raw UTF-16BE bytes, so with `coding=2` (`%c`) the text is decoded from
    /// UTF-16BE; otherwise it is UTF-8.
    pub fn from_query(query: &str) -> Result<Self, String> {
        let params = crate::query::params(query);
        let text_of = |name: &str| {
            params
                .get(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let from = text_of("from")
            .filter(|f| !f.is_empty())
            .ok_or("`from` (the sender's number, %p) is missing")?;
        let ts = match text_of("ts").filter(|t| !t.is_empty()) {
            Some(t) => Some(
                t.parse::<i64>()
                    .map_err(|_| format!("`ts` is not Unix seconds: {t:?}"))?,
            ),
            None => None,
        };
        let raw = params.get("text").cloned().unwrap_or_default();
        let text = if text_of("coding").as_deref() == Some("2") {
            let units: Vec<u16> = raw
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(&raw).into_owned()
        };
        Ok(Self {
            from,
            to: text_of("to").filter(|t| !t.is_empty()),
            text,
            id: text_of("id").filter(|t| !t.is_empty()),
            ts,
        })
    }
}

/// The `token` parameter of a callback URL (Kannel cannot send an `Authorization` header).
pub fn query_token(query: &str) -> Option<String> {
    crate::query::params(query)
        .remove("token")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// What happened to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    /// The customer it was matched to.
    pub customer: String,
    /// Event ids appended (a reply, and an opt-out for a stop word).
    pub events: Vec<String>,
    /// Whether these events were stored already (the gateway retried).
    pub duplicate: bool,
}

/// Why an inbound message was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The sender is not a phone number.
    #[error("`from` is not a phone number")]
    BadNumber,
    /// No customer has that number.
    #[error("no customer has this phone number")]
    UnknownNumber,
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// Texts that mean "stop texting me", compared trimmed and case-insensitively.
const STOP_WORDS: [&str; 7] = [
    "stop",
    "unsubscribe",
    "stopall",
    "停止",
    "配信停止",
    "ストップ",
    "解除",
];

/// The part of a number its spellings share: the last ten digits (all of them when
/// shorter). `None` when there are no digits or anything but digits, spaces, dashes,
/// dots, parentheses and a leading `+`.
pub fn phone_key(number: &str) -> Option<String> {
    let rest = number.trim();
    let rest = rest.strip_prefix('+').unwrap_or(rest);
    if rest.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return None;
    }
    let digits: Vec<char> = rest.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    Some(digits[digits.len().saturating_sub(10)..].iter().collect())
}

/// Phone key → customer, and back (to drop a customer's old number when it changes).
#[derive(Debug, Default)]
pub struct PhoneBook {
    built: bool,
    by_key: HashMap<String, CustomerId>,
    by_customer: HashMap<CustomerId, String>,
}

impl PhoneBook {
    /// Reads every projection once (on the first inbound message).
    fn build(&mut self, store: &Store) -> Result<(), String> {
        for customer in store.customers() {
            let customer = customer.map_err(|e| e.to_string())?;
            self.set(customer.id.clone(), customer.profile.phone.as_deref());
        }
        self.built = true;
        tracing::info!(numbers = self.by_key.len(), "phone book built");
        Ok(())
    }

    fn set(&mut self, id: CustomerId, phone: Option<&str>) {
        if let Some(old) = self.by_customer.remove(&id) {
            self.by_key.remove(&old);
        }
        if let Some(key) = phone.and_then(phone_key) {
            self.by_key.insert(key.clone(), id.clone());
            self.by_customer.insert(id, key);
        }
    }

    /// After events were stored: re-reads the phone of each customer whose profile one
    /// of them touched (the projection decides, since an older profile event does not
    /// override a newer one). Nothing to do until the book is built.
    pub fn stored(&mut self, store: &Store, profiles_changed: &[CustomerId]) {
        if !self.built {
            return;
        }
        for id in profiles_changed {
            match store.customer(id) {
                Ok(c) => {
                    let phone = c.as_ref().and_then(|c| c.profile.phone.as_deref());
                    self.set(id.clone(), phone);
                }
                Err(err) => tracing::error!(error = %err, "phone book not updated"),
            }
        }
    }

    /// The customers whose profile `events` touch: what [`PhoneBook::stored`] needs to
    /// look at once they are stored.
    pub fn profiles(&self, events: &[Event]) -> Vec<CustomerId> {
        if !self.built {
            return Vec::new();
        }
        events
            .iter()
            .filter(|e| e.kind == kizuna_core::EventKind::Profile)
            .map(|e| e.customer.clone())
            .collect()
    }

    /// Records `sms` in the store: a `customer_reply` event, and an `opt_out` for a stop
    /// word; durable before it returns.
    pub fn record(
        &mut self,
        store: &mut Store,
        sms: &InboundSms,
    ) -> Result<Recorded, InboundError> {
        if !self.built {
            self.build(store).map_err(InboundError::Store)?;
        }
        let key = phone_key(&sms.from).ok_or(InboundError::BadNumber)?;
        let customer = self
            .by_key
            .get(&key)
            .cloned()
            .ok_or(InboundError::UnknownNumber)?;
        let at = sms
            .ts
            .and_then(|s| Timestamp::from_second(s).ok())
            .unwrap_or_else(Timestamp::now);
        let id = format!("sms-in-{}", sms_id(sms, at));
        let mut reply = serde_json::json!({
            "id": id, "customer": customer.as_str(), "type": "customer_reply",
            "at": at.to_string(), "channel": "sms", "text": sms.text,
        });
        if let Some(to) = &sms.to {
            reply["to"] = to.as_str().into();
        }
        let mut json = vec![reply];
        if is_stop_word(&sms.text) {
            json.push(serde_json::json!({
                "id": format!("{id}-stop"), "customer": customer.as_str(), "type": "opt_out",
                "at": at.to_string(), "channel": "sms", "reason": "stop word by SMS",
            }));
        }
        let events: Vec<Event> = json
            .iter()
            .map(|j| {
                Event::from_json_str(&j.to_string())
                    .map_err(|e| InboundError::Store(format!("{e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let ids = events.iter().map(|e| e.id.to_string()).collect();
        let report = store
            .append_owned(events)
            .and_then(|r| store.sync_events().map(|()| r))
            .map_err(|e| InboundError::Store(e.to_string()))?;
        Ok(Recorded {
            customer: customer.to_string(),
            events: ids,
            duplicate: report.appended == 0,
        })
    }
}

fn is_stop_word(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    STOP_WORDS.iter().any(|w| t == *w)
}

/// The gateway's id when it gave one (cleaned to what an event id may hold), else a
/// digest of sender, time and text, so a retried callback is still recognised.
fn sms_id(sms: &InboundSms, at: Timestamp) -> String {
    let clean: String = sms
        .id
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    if !clean.is_empty() {
        return clean;
    }
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}\u{0}{}\u{0}{}", sms.from, at.as_second(), sms.text).bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_spellings_of_a_number_share_a_key() {
        let key = phone_key("+81 90-1234-5678");
        assert_eq!(key.as_deref(), Some("9012345678"));
        assert_eq!(phone_key("09012345678"), key);
        assert_eq!(phone_key("819012345678"), key);
        assert_eq!(phone_key("(090) 1234.5678"), key);
        assert_eq!(phone_key("5555").as_deref(), Some("5555"));
        assert_eq!(phone_key("call me"), None);
        assert_eq!(phone_key("+"), None);
        assert_eq!(phone_key("12"), None);
    }

    #[test]
    fn kannel_callbacks_are_read_in_utf8_and_ucs2() {
        let query = "token=abc&from=%2B819012345678&to=5555&text=hello+there&id=bb90fdc6-177d&ts=1795693235&coding=0";
        let sms = InboundSms::from_query(query).unwrap();
        assert_eq!(query_token(query).as_deref(), Some("abc"));
        assert_eq!(sms.from, "+819012345678");
        assert_eq!(sms.text, "hello there");
        assert_eq!(sms.ts, Some(1_795_693_235));
        // 配信停止 as Kannel passes a UCS-2 message: its UTF-16BE bytes.
        let sms = InboundSms::from_query("from=09012345678&text=%91MO%E1P%5Ckb&coding=2").unwrap();
        assert_eq!(sms.text, "配信停止");
        assert!(is_stop_word(&sms.text));
        let sms =
            InboundSms::from_query("from=0901&text=%E9%85%8D%E4%BF%A1%E5%81%9C%E6%AD%A2").unwrap();
        assert_eq!(sms.text, "配信停止");
        assert!(
            InboundSms::from_query("text=hi")
                .unwrap_err()
                .contains("from")
        );
        assert!(
            InboundSms::from_query("from=1234&ts=noon")
                .unwrap_err()
                .contains("ts")
        );
    }

    #[test]
    fn stop_words_are_whole_texts_only() {
        assert!(is_stop_word(" STOP "));
        assert!(is_stop_word("配信停止"));
        assert!(!is_stop_word("please don't stop the offers"));
    }

    #[test]
    fn ids_come_from_the_gateway_or_a_stable_digest() {
        let mut sms = InboundSms {
            from: "+819012345678".into(),
            to: None,
            text: "hello".into(),
            id: Some("3f0c1a2e-77aa-4d3b-9c1e-000000000001".into()),
            ts: Some(1_790_000_000),
        };
        let at = Timestamp::from_second(1_790_000_000).unwrap();
        assert_eq!(sms_id(&sms, at), "3f0c1a2e-77aa-4d3b-9c1e-000000000001");
        sms.id = None;
        assert_eq!(sms_id(&sms, at), sms_id(&sms, at));
        let other = InboundSms {
            text: "hello!".into(),
            ..sms.clone()
        };
        assert_ne!(sms_id(&sms, at), sms_id(&other, at));
    }
}
