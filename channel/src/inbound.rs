//! Inbound routes: what a channel hears back — delivery reports, customers writing in,
//! following or blocking — arriving over HTTP while the daemon runs.
//!
//! A plugin contributes [`InboundRoute`]s with its channel; the daemon mounts each under
//! `/channels/<channel name>/<path>` and hands it the request as read ([`InboundRequest`]).
//! The route parses and checks what the far side sent (its format, its signature) and tells
//! the host what happened through an [`Inbox`]: a customer, known on this channel by an
//! address, said or did something ([`FromCustomer`]), or a message was delivered or not
//! ([`Receipt`]). The host finds the customer, writes the events and makes them durable
//! before the inbox call returns, so the route answers the far side only for what is kept.
//! The plugin never sees the store, and the host never parses a gateway's format.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::MessageId;

/// The HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    /// GET (gateways that call a URL with the facts in its query string).
    Get,
    /// POST (webhooks with a body).
    Post,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Access {
    /// Anyone: the route proves the caller itself (a signature), or what it can do is
    /// limited to facts about what exists (a delivery report of a known message).
    Open,
    /// Holders of an `ingest` (or `admin`) token, as a bearer header or `?token=` for
    /// gateways that cannot send headers.
    Ingest,
}

/// A request to an inbound route, as the host read it.
#[derive(Debug, Clone, Default)]
pub struct InboundRequest {
    /// The query string, undecoded (no `?`).
    pub query: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, as sent.
    pub body: Vec<u8>,
}

impl InboundRequest {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query parameters ([`crate::query::params`]).
    pub fn params(&self) -> std::collections::HashMap<String, Vec<u8>> {
        crate::query::params(&self.query)
    }
}

/// The answer to the far side: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
}

impl InboundResponse {
    /// 200 with `body`.
    pub fn ok(body: serde_json::Value) -> Self {
        Self { status: 200, body }
    }

    /// `status` with `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }

    /// The answer to an inbox that could not keep what it was told: 404 for an unknown
    /// customer or message, 422 for what cannot be an event, 503 when the store cannot
    /// write (the far side should retry).
    pub fn from_error(error: &InboxError) -> Self {
        let status = match error {
            InboxError::UnknownAddress | InboxError::UnknownMessage(_) => 404,
            InboxError::Invalid(_) => 422,
            InboxError::Unavailable(_) => 503,
        };
        Self::error(status, error.to_string())
    }
}

/// What a customer did, as a channel heard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// They wrote to us: a `customer_reply` event with the text.
    Reply {
        /// What they wrote.
        text: String,
    },
    /// They agreed to hear from us on this channel (an `opt_in`): followed, subscribed.
    OptIn,
    /// They do not want to hear from us on this channel (an `opt_out`): a stop word, an
    /// unfollow, a block.
    OptOut {
        /// Why, in words (`stop word by SMS`, `unfollowed on LINE`).
        reason: String,
    },
}

/// Something a customer, known on this channel by `address`, did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromCustomer {
    /// Their address on this channel (a phone number, a LINE user id), as the far side
    /// gave it; the host matches it the way [`crate::Channel::address_key`] says.
    pub address: String,
    /// A key unique to this happening on this channel (the gateway's message id, a
    /// webhook event's id): a retried call is recognised by it and not recorded twice.
    pub key: String,
    /// When it happened, in Unix milliseconds; `None`: when the host hears of it.
    pub at_millis: Option<i64>,
    /// What they did.
    pub heard: Heard,
    /// Other facts kept on the event (`to`: our number they wrote to), never secrets.
    pub attrs: BTreeMap<String, String>,
}

/// What the far side reports of a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// Delivered to the customer (`message_delivered`).
    Delivered,
    /// Will not be delivered (`message_failed`).
    Failed,
}

/// A delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The message, by the id it was sent with.
    pub message: MessageId,
    /// A key unique to this report (a retried call is recognised by it).
    pub key: String,
    /// Delivered or failed.
    pub status: ReceiptStatus,
    /// Other facts kept on the event (`dlr_type`).
    pub attrs: BTreeMap<String, serde_json::Value>,
}

/// What a mail system reported of one of our messages or of an address: it bounced, or
/// the recipient marked it as spam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The message, by the id it was sent with, when the report names it.
    pub message: Option<MessageId>,
    /// The recipient's address as the report gives it: how the customer is found when the
    /// message is not.
    pub address: Option<String>,
    /// A key unique to this report (a retried call is recognised by it).
    pub key: String,
    /// What happened.
    pub kind: BounceKind,
    /// Why, in the report's words (`5.1.1 user unknown`, `abuse`).
    pub reason: String,
}

/// What a [`Bounce`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceKind {
    /// The address does not work (5.x.x): stop sending to it.
    Hard,
    /// Not now (4.x.x, a full mailbox): a few of these in a while count as hard.
    Soft,
    /// The recipient reported the message as spam: an opt-out.
    Complaint,
}

impl BounceKind {
    /// `hard`, `soft` or `complaint`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
            Self::Complaint => "complaint",
        }
    }

    /// Parses [`BounceKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hard" => Some(Self::Hard),
            "soft" => Some(Self::Soft),
            "complaint" => Some(Self::Complaint),
            _ => None,
        }
    }
}

/// What the host kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The customer it was about.
    pub customer: String,
    /// The ids of the events written.
    pub events: Vec<String>,
    /// Whether they were all kept already (the far side retried).
    pub duplicate: bool,
}

/// Why the host did not keep something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    /// No customer has this address on this channel.
    #[error("no customer has this address on this channel")]
    UnknownAddress,
    /// No message was sent with this id.
    #[error("no outbox message {0}")]
    UnknownMessage(MessageId),
    /// What the route reported cannot be kept as an event (a text past the size limit).
    #[error("not recorded: {0}")]
    Invalid(String),
    /// The store cannot take it now (a full disk); the far side should try again.
    #[error("not recorded: {0}")]
    Unavailable(String),
}

/// Where a route tells the host what happened; each call is durable when it returns.
pub trait Inbox {
    /// Records what a customer did.
    fn customer(&mut self, what: FromCustomer) -> Result<Recorded, InboxError>;

    /// Records a delivery report.
    fn receipt(&mut self, receipt: Receipt) -> Result<Recorded, InboxError>;

    /// Records a bounce or a complaint: an `email_bounced` event, or an `opt_out` of the
    /// channel with reason `complaint`. A host that does not take them refuses.
    fn bounce(&mut self, report: Bounce) -> Result<Recorded, InboxError> {
        Err(InboxError::Invalid(format!(
            "this host does not record bounces ({})",
            report.kind.as_str()
        )))
    }
}

/// One HTTP route a plugin answers, under `/channels/<channel name>`.
pub trait InboundRoute: Send + Sync {
    /// GET or POST.
    fn method(&self) -> Method;

    /// The path under the channel's, starting with `/` (`/dlr`, `/inbound`, `/webhook`).
    fn path(&self) -> &str;

    /// Who may call it.
    fn access(&self) -> Access;

    /// Handles one request.
    fn handle(&self, request: &InboundRequest, inbox: &mut dyn Inbox) -> InboundResponse;
}
