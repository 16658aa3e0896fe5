//! LINE's webhook: what customers do on LINE, as events in their history.
//!
//! LINE POSTs a JSON body of `events` to the webhook URL set in the LINE Developers
//! console — for kizuna, `https://<daemon>/channels/<name>/webhook` — signed with the
//! channel secret: `x-line-signature` is the Base64 HMAC-SHA256 of the body. A request
//! without a valid signature is answered 401 and nothing in it is kept: anyone can reach
//! the URL, only LINE knows the secret.
//!
//! Of the events, three are kept, each for the customer whose profile's LINE user id is
//! the event's `source.userId`, keyed by LINE's `webhookEventId` (a redelivered event is
//! recognised and not kept twice):
//!
//! | LINE event | kizuna event |
//! | --- | --- |
//! | `follow` (added or unblocked the account) | `opt_in` of the channel |
//! | `unfollow` (blocked it) | `opt_out` of the channel |
//! | `message` with a text | `customer_reply` with the text |
//!
//! Everything else (stickers, postbacks, group events) and events from users no customer
//! has are answered 200 and counted in the answer as skipped: LINE redelivers only on
//! errors, and an unknown user is not an error LINE can fix. A store that cannot write
//! answers 503, so a redelivery can bring the events again.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use kizuna_channel::{
    InboundRequest, InboundResponse, InboundRoute,
    inbound::{Access, FromCustomer, Heard, Inbox, InboxError, Method},
};
use serde::Deserialize;
use sha2::Sha256;

/// `x-line-signature` of `body` under `secret`: Base64 of its HMAC-SHA256.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of `body` (compared in constant time).
fn verify(secret: &[u8], body: &[u8], given: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The webhook route.
pub struct Webhook {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Webhook").finish_non_exhaustive()
    }
}

impl Webhook {
    /// The route, verifying with the channel `secret`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    events: Vec<LineEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    webhook_event_id: Option<String>,
    #[serde(default)]
    message: Option<LineMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct LineMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl LineEvent {
    /// What the customer did, if it is one of the kept events from a user.
    fn heard(&self) -> Option<(String, Heard)> {
        let source = self.source.as_ref().filter(|s| s.kind == "user")?;
        let user = source.user_id.clone()?;
        let heard = match self.kind.as_str() {
            "follow" => Heard::OptIn,
            "unfollow" => Heard::OptOut {
                reason: "unfollowed (blocked) on LINE".into(),
            },
            "message" => {
                let message = self.message.as_ref().filter(|m| m.kind == "text")?;
                Heard::Reply {
                    text: message.text.clone()?,
                }
            }
            _ => return None,
        };
        Some((user, heard))
    }
}

impl InboundRoute for Webhook {
    fn method(&self) -> Method {
        Method::Post
    }

    fn path(&self) -> &str {
        "/webhook"
    }

    fn access(&self) -> Access {
        Access::Open
    }

    fn handle(&self, request: &InboundRequest, inbox: &mut dyn Inbox) -> InboundResponse {
        let signed = request
            .header("x-line-signature")
            .is_some_and(|s| verify(&self.secret, &request.body, s));
        if !signed {
            return InboundResponse::error(401, "x-line-signature does not match the body");
        }
        let body: Body = match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(e) => return InboundResponse::error(400, format!("not a LINE webhook body: {e}")),
        };
        let mut recorded = Vec::new();
        let mut skipped = BTreeMap::<&str, usize>::new();
        for event in &body.events {
            let (Some((user, heard)), Some(key)) = (event.heard(), &event.webhook_event_id) else {
                *skipped.entry("not kept").or_default() += 1;
                continue;
            };
            let what = FromCustomer {
                address: user,
                key: key.clone(),
                at_millis: event.timestamp,
                heard,
                attrs: BTreeMap::new(),
            };
            match inbox.customer(what) {
                Ok(r) => recorded.extend(r.events.into_iter().filter(|_| !r.duplicate)),
                Err(InboxError::UnknownAddress) => {
                    *skipped.entry("unknown user").or_default() += 1;
                }
                Err(InboxError::Invalid(_) | InboxError::UnknownMessage(_)) => {
                    *skipped.entry("not valid").or_default() += 1;
                }
                Err(e @ InboxError::Unavailable(_)) => return InboundResponse::from_error(&e),
            }
        }
        InboundResponse::ok(serde_json::json!({ "recorded": recorded, "skipped": skipped }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_channel::inbound::{Receipt, Recorded};

    /// The host's side, remembering what it was told; `U…1` is a customer, others not.
    #[derive(Default)]
    struct Told(Vec<FromCustomer>);

    impl Inbox for Told {
        fn customer(&mut self, what: FromCustomer) -> Result<Recorded, InboxError> {
            if !what.address.ends_with('1') {
                return Err(InboxError::UnknownAddress);
            }
            let duplicate = self.0.iter().any(|w| w.key == what.key);
            self.0.push(what.clone());
            Ok(Recorded {
                customer: "c-1".into(),
                events: vec![format!("line-in-{}", what.key)],
                duplicate,
            })
        }
        fn receipt(&mut self, _: Receipt) -> Result<Recorded, InboxError> {
            Err(InboxError::Unavailable("no receipts here".into()))
        }
    }

    const ALICE: &str = "U00000000000000000000000000000001";

    fn request(body: &str, signature: &str) -> InboundRequest {
        InboundRequest {
            query: String::new(),
            headers: vec![("x-line-signature".into(), signature.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_signed_body_is_kept_event_by_event_and_a_forged_one_not_at_all() {
        let route = Webhook::new("s3cret");
        let body = serde_json::json!({"destination": "Ubot", "events": [
            {"type": "follow", "timestamp": 1_790_000_000_000_i64, "webhookEventId": "E1",
             "source": {"type": "user", "userId": ALICE}, "mode": "active"},
            {"type": "message", "timestamp": 1_790_000_001_000_i64, "webhookEventId": "E2",
             "source": {"type": "user", "userId": ALICE},
             "message": {"type": "text", "id": "1", "text": "明日行きます"}},
            {"type": "message", "webhookEventId": "E3", "source": {"type": "user", "userId": ALICE},
             "message": {"type": "sticker", "id": "2"}},
            {"type": "unfollow", "webhookEventId": "E4", "source": {"type": "user", "userId": ALICE}},
            {"type": "follow", "webhookEventId": "E5", "source": {"type": "user", "userId": "U00000000000000000000000000000002"}},
        ]})
        .to_string();
        let mut told = Told::default();
        let forged = route.handle(
            &request(&body, &signature(b"guess", body.as_bytes())),
            &mut told,
        );
        assert_eq!(forged.status, 401);
        assert!(told.0.is_empty(), "nothing kept from a forged call");
        assert_eq!(
            route
                .handle(&request(&body, "not base64!"), &mut told)
                .status,
            401
        );

        let signed = signature(b"s3cret", body.as_bytes());
        let answer = route.handle(&request(&body, &signed), &mut told);
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let heard: Vec<&Heard> = told.0.iter().map(|w| &w.heard).collect();
        assert_eq!(heard.len(), 3, "{heard:?}");
        assert_eq!(heard[0], &Heard::OptIn);
        assert_eq!(
            heard[1],
            &Heard::Reply {
                text: "明日行きます".into()
            }
        );
        assert!(matches!(heard[2], Heard::OptOut { .. }));
        assert_eq!(told.0[1].at_millis, Some(1_790_000_001_000));
        assert_eq!(answer.body["skipped"]["not kept"], 1, "the sticker");
        assert_eq!(answer.body["skipped"]["unknown user"], 1);
        // LINE redelivers: the same events are recognised, nothing new is recorded.
        let again = route.handle(&request(&body, &signed), &mut told);
        assert_eq!(again.body["recorded"], serde_json::json!([]));
    }

    #[test]
    fn a_verification_call_with_no_events_is_answered_200() {
        let route = Webhook::new("s3cret");
        let body = r#"{"destination":"Ubot","events":[]}"#;
        let sig = signature(b"s3cret", body.as_bytes());
        assert_eq!(
            route
                .handle(&request(body, &sig), &mut Told::default())
                .status,
            200
        );
        let sig = signature(b"s3cret", b"{");
        assert_eq!(
            route
                .handle(&request("{", &sig), &mut Told::default())
                .status,
            400
        );
    }
}
