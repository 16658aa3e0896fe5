//! Kannel calling back: delivery reports and the messages customers send.
//!
//! Two routes, mounted by the daemon under the channel's name (`/channels/sms/…` for a
//! channel called `sms`):
//!
//! - `GET /dlr?id=m-…&type=%d` — the `dlr_url` of each message. Type 1 (delivered) becomes
//!   a `message_delivered` event of the message's customer, 2 and 16 (failed, rejected by
//!   the SMSC) a `message_failed`; buffered and accepted reports change nothing. Open: what
//!   it can do is record a report for a message that exists.
//! - `GET /inbound?from=%p&to=%P&text=%a&id=%I&ts=%T&coding=%c` — Kannel's `sms-service`
//!   `get-url`. Each message is matched to the customer whose profile has that phone number
//!   and recorded as a `customer_reply` (the text, the gateway's id and time). Needs an
//!   ingest token, as `?token=` since Kannel cannot send headers.
//!
//! Why `customer_reply` and not `reply`: in kizuna's event vocabulary `reply` is the
//! *staff's* answer — it closes open inquiries and switches off the silence alarm. A
//! customer writing back must do neither; `customer_reply` is what the KPI report counts
//! as a reply. A text that is only a stop word (`STOP`, `停止`, `配信停止`, …) is also
//! an `opt_out` of the channel, recorded at once: a customer who says stop is not texted
//! again.
//!
//! Numbers are matched on their last ten digits ([`phone_key`]), which is where national
//! and international spellings of one number agree (`+81 90-1234-5678`, `09012345678` and
//! `819012345678` all end in `9012345678`).

use std::collections::BTreeMap;

use kizuna_channel::{
    InboundRequest, InboundResponse, InboundRoute, MessageId,
    inbound::{Access, FromCustomer, Heard, Inbox, Method, Receipt, ReceiptStatus},
};

/// The routes of a Kannel channel.
pub fn kannel_routes() -> Vec<Box<dyn InboundRoute>> {
    vec![Box::new(DeliveryReports), Box::new(IncomingSms)]
}

/// `GET /dlr`: Kannel's delivery reports.
#[derive(Debug)]
pub struct DeliveryReports;

/// Kannel's report types: 1 delivered, 2 failed, 4 buffered, 8 accepted by the SMSC,
/// 16 rejected by the SMSC.
fn report_status(dlr_type: u32) -> Option<ReceiptStatus> {
    match dlr_type {
        1 => Some(ReceiptStatus::Delivered),
        2 | 16 => Some(ReceiptStatus::Failed),
        _ => None,
    }
}

/// The message id and report type of a report's query string.
pub fn parse_report(query: &str) -> Result<(MessageId, u32), String> {
    let q = kizuna_channel::query::params(query);
    let get = |k: &str| q.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    let id: MessageId = get("id")
        .ok_or("a report needs id")?
        .parse()
        .map_err(|e| format!("id: {e}"))?;
    let dlr_type: u32 = get("type")
        .ok_or("a report needs type")?
        .parse()
        .map_err(|_| "type must be a number")?;
    Ok((id, dlr_type))
}

impl InboundRoute for DeliveryReports {
    fn method(&self) -> Method {
        Method::Get
    }

    fn path(&self) -> &str {
        "/dlr"
    }

    fn access(&self) -> Access {
        Access::Open
    }

    fn handle(&self, request: &InboundRequest, inbox: &mut dyn Inbox) -> InboundResponse {
        let (message, dlr_type) = match parse_report(&request.query) {
            Ok(report) => report,
            Err(e) => return InboundResponse::error(400, e),
        };
        let Some(status) = report_status(dlr_type) else {
            return InboundResponse::ok(serde_json::json!({ "recorded": null }));
        };
        let receipt = Receipt {
            message,
            key: format!("{message}-{dlr_type}"),
            status,
            attrs: BTreeMap::from([("dlr_type".to_owned(), dlr_type.into())]),
        };
        match inbox.receipt(receipt) {
            Ok(recorded) => InboundResponse::ok(serde_json::json!({ "recorded": recorded })),
            Err(e) => InboundResponse::from_error(&e),
        }
    }
}

/// `GET /inbound`: the messages customers send, from Kannel's `sms-service`.
#[derive(Debug)]
pub struct IncomingSms;

impl InboundRoute for IncomingSms {
    fn method(&self) -> Method {
        Method::Get
    }

    fn path(&self) -> &str {
        "/inbound"
    }

    fn access(&self) -> Access {
        Access::Ingest
    }

    fn handle(&self, request: &InboundRequest, inbox: &mut dyn Inbox) -> InboundResponse {
        let sms = match InboundSms::from_query(&request.query) {
            Ok(sms) => sms,
            Err(e) => return InboundResponse::error(400, e),
        };
        if phone_key(&sms.from).is_none() {
            return InboundResponse::error(400, "`from` is not a phone number");
        }
        let key = sms_id(&sms);
        let at_millis = sms.ts.map(|s| s.saturating_mul(1000));
        let mut attrs = BTreeMap::new();
        if let Some(to) = &sms.to {
            attrs.insert("to".to_owned(), to.clone());
        }
        let mut said = vec![FromCustomer {
            address: sms.from.clone(),
            key: key.clone(),
            at_millis,
            heard: Heard::Reply {
                text: sms.text.clone(),
            },
            attrs,
        }];
        if is_stop_word(&sms.text) {
            said.push(FromCustomer {
                address: sms.from.clone(),
                key: format!("{key}-stop"),
                at_millis,
                heard: Heard::OptOut {
                    reason: "stop word by SMS".into(),
                },
                attrs: BTreeMap::new(),
            });
        }
        let mut customer = String::new();
        let mut events = Vec::new();
        let mut duplicate = true;
        for what in said {
            match inbox.customer(what) {
                Ok(recorded) => {
                    customer = recorded.customer;
                    events.extend(recorded.events);
                    duplicate &= recorded.duplicate;
                }
                Err(e) => return InboundResponse::from_error(&e),
            }
        }
        InboundResponse::ok(serde_json::json!({
            "customer": customer, "events": events, "duplicate": duplicate,
        }))
    }
}

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
        let params = kizuna_channel::query::params(query);
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

fn is_stop_word(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    STOP_WORDS.iter().any(|w| t == *w)
}

/// The gateway's id when it gave one (cleaned to what an event id may hold), else a
/// digest of sender, time and text, so a retried callback is still recognised (a callback
/// without `%T` and without `%I` is recognised only if its text and sender are the same).
fn sms_id(sms: &InboundSms) -> String {
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
    for b in format!("{}\u{0}{}\u{0}{}", sms.from, sms.ts.unwrap_or(0), sms.text).bytes() {
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
        assert_eq!(sms_id(&sms), "3f0c1a2e-77aa-4d3b-9c1e-000000000001");
        sms.id = None;
        assert_eq!(sms_id(&sms), sms_id(&sms));
        let other = InboundSms {
            text: "hello!".into(),
            ..sms.clone()
        };
        assert_ne!(sms_id(&sms), sms_id(&other));
    }
}
