//! `POST /channels/<email channel>/bounces`: delivery failure reports and spam complaints.
//!
//! Three forms, told apart by what they are, not by who sends them:
//!
//! - a **DSN** (RFC 3464): a `multipart/report; report-type=delivery-status` message whose
//!   `message/delivery-status` part says, per recipient, `Action` (`failed`, `delayed`) and
//!   `Status` (`5.1.1`); `failed` with a 5.x.x status is a hard bounce, anything else a
//!   soft one;
//! - an **ARF** report (RFC 5965): `multipart/report; report-type=feedback-report`, its
//!   `message/feedback-report` part giving `Feedback-Type` (`abuse`, …): a complaint;
//! - **JSON** `{"message_id", "kind": "hard"|"soft"|"complaint", "reason", "address"}`, the
//!   shape a provider's webhook (SES, Postmark, …) is mapped to.
//!
//! The MIME structure is read by mail-parser; only the report fields (`Name: value` lines,
//! RFC 3464 §2.1) are read here. The message a report is about is found by the
//! `Message-ID` kizuna gave it (`<m-SEQ-N@domain>`) in the returned headers, else by the
//! recipient's address. Anything that is none of the three is refused with what is wrong,
//! and nothing is kept.

use kizuna_channel::{
    InboundRequest, InboundResponse, InboundRoute, Inbox, MessageId,
    inbound::{Access, Bounce, BounceKind, Method},
};
use mail_parser::{MessageParser, MimeHeaders, PartType};

/// The largest report taken (a DSN with the original message attached).
pub const MAX_REPORT: usize = 512 * 1024;

/// The route.
#[derive(Debug)]
pub struct BounceReports;

impl InboundRoute for BounceReports {
    fn method(&self) -> Method {
        Method::Post
    }

    fn path(&self) -> &str {
        "/bounces"
    }

    fn access(&self) -> Access {
        Access::Ingest
    }

    fn handle(&self, request: &InboundRequest, inbox: &mut dyn Inbox) -> InboundResponse {
        if request.body.len() > MAX_REPORT {
            return InboundResponse::error(
                413,
                format!("a report may be at most {} KiB", MAX_REPORT / 1024),
            );
        }
        let json = request
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"));
        let parsed = if json {
            from_json(&request.body)
        } else {
            from_report(&request.body)
        };
        let reports = match parsed {
            Ok(reports) => reports,
            Err(e) => return InboundResponse::error(400, e),
        };
        let mut recorded = Vec::new();
        for report in reports {
            match inbox.bounce(report) {
                Ok(r) => recorded.push(r),
                Err(e) => return InboundResponse::from_error(&e),
            }
        }
        InboundResponse::ok(serde_json::json!({ "recorded": recorded }))
    }
}

/// The JSON form.
pub fn from_json(body: &[u8]) -> Result<Vec<Bounce>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Form {
        message_id: Option<String>,
        address: Option<String>,
        kind: String,
        #[serde(default)]
        reason: String,
        /// The provider's own id of the event, if it has one (retries carry the same).
        id: Option<String>,
    }
    let form: Form = serde_json::from_slice(body).map_err(|e| format!("not a report: {e}"))?;
    let kind = BounceKind::parse(&form.kind).ok_or_else(|| {
        format!(
            "kind: {:?} is not \"hard\", \"soft\" or \"complaint\"",
            form.kind
        )
    })?;
    let message =
        match &form.message_id {
            Some(id) => Some(message_id(id).ok_or_else(|| {
                format!("message_id: {id:?} is not one of kizuna's (like m-12-0)")
            })?),
            None => None,
        };
    if message.is_none() && form.address.is_none() {
        return Err("give message_id or address".into());
    }
    let key = form.id.unwrap_or_else(|| {
        hash(&[
            form.message_id.as_deref().unwrap_or(""),
            form.address.as_deref().unwrap_or(""),
            kind.as_str(),
        ])
    });
    Ok(vec![Bounce {
        message,
        address: form.address,
        key,
        kind,
        reason: form.reason,
    }])
}

/// A DSN or an ARF report, as a whole RFC 5322 message.
pub fn from_report(body: &[u8]) -> Result<Vec<Bounce>, String> {
    let message = MessageParser::default()
        .parse(body)
        .ok_or("not a mail message: send a DSN or ARF report as it arrived, or JSON")?;
    let report_type = message
        .content_type()
        .filter(|t| t.c_type.eq_ignore_ascii_case("multipart"))
        .and_then(|t| t.attribute("report-type"))
        .map(str::to_ascii_lowercase)
        .ok_or("not a report: the message is not multipart/report")?;
    let key = message
        .message_id()
        .map(str::to_owned)
        .unwrap_or_else(|| hash(&[&String::from_utf8_lossy(body)]));
    // The report fields, and the message the report is about (its headers).
    let mut fields = None;
    let mut original = None;
    let wanted = match report_type.as_str() {
        "delivery-status" => "delivery-status",
        "feedback-report" => "feedback-report",
        other => {
            return Err(format!(
                "report-type {other:?} is neither delivery-status nor feedback-report"
            ));
        }
    };
    for part in &message.parts {
        let text = match &part.body {
            PartType::Text(t) | PartType::Html(t) => Some(t.as_bytes().to_vec()),
            PartType::Binary(b) | PartType::InlineBinary(b) => Some(b.to_vec()),
            _ => None,
        };
        if part.is_content_type("message", wanted) {
            fields = text;
        } else if part.is_content_type("text", "rfc822-headers") {
            original = text.and_then(|t| original_id(&t));
        } else if let PartType::Message(m) = &part.body {
            original = m.message_id().and_then(message_id);
        }
    }
    let fields = fields.ok_or_else(|| format!("the report has no message/{wanted} part"))?;
    let groups = field_groups(&String::from_utf8_lossy(&fields));
    if wanted == "feedback-report" {
        let first = groups.first().ok_or("the feedback report is empty")?;
        let feedback =
            get(first, "feedback-type").ok_or("the feedback report has no Feedback-Type")?;
        let address = get(first, "original-rcpt-to").map(address_of);
        if original.is_none() && address.is_none() {
            return Err("the feedback report names neither the message nor its recipient".into());
        }
        return Ok(vec![Bounce {
            message: original,
            address,
            key,
            kind: BounceKind::Complaint,
            reason: feedback.to_ascii_lowercase(),
        }]);
    }
    // A DSN: the first group is about the message, each further one about a recipient.
    let mut bounces = Vec::new();
    for (i, group) in groups.iter().enumerate().skip(1) {
        let Some(action) = get(group, "action") else {
            continue;
        };
        let action = action.to_ascii_lowercase();
        if action != "failed" && action != "delayed" {
            continue; // delivered, relayed, expanded: not a bounce
        }
        let status = get(group, "status").unwrap_or("");
        let hard = action == "failed" && status.starts_with('5');
        let diagnostic = get(group, "diagnostic-code").unwrap_or("");
        let address = get(group, "final-recipient")
            .or_else(|| get(group, "original-recipient"))
            .map(address_of);
        if original.is_none() && address.is_none() {
            return Err("the DSN names neither the message nor its recipient".into());
        }
        bounces.push(Bounce {
            message: original,
            address,
            key: format!("{key}#{i}"),
            kind: if hard {
                BounceKind::Hard
            } else {
                BounceKind::Soft
            },
            reason: format!("{status} {diagnostic}").trim().to_owned(),
        });
    }
    if bounces.is_empty() {
        return Err("the DSN reports no failed or delayed recipient".into());
    }
    Ok(bounces)
}

/// The report's `Name: value` groups (separated by blank lines), names in lower case,
/// folded lines joined.
fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if groups.last().is_some_and(|g: &Vec<_>| !g.is_empty()) {
                groups.push(Vec::new());
            }
            continue;
        }
        let Some(group) = groups.last_mut() else {
            continue;
        };
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

fn get<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `rfc822; aiko@example.jp` → `aiko@example.jp`.
fn address_of(field: &str) -> String {
    let value = field.split_once(';').map_or(field, |(_, a)| a);
    value.trim().trim_matches(['<', '>']).to_owned()
}

/// The kizuna message id in returned headers (`Message-ID: <m-12-0@shop.example>`).
fn original_id(headers: &[u8]) -> Option<MessageId> {
    let parsed = MessageParser::default().parse_headers(headers)?;
    parsed.message_id().and_then(message_id)
}

/// `m-12-0@shop.example` (or `m-12-0`) → the message id.
fn message_id(id: &str) -> Option<MessageId> {
    let local = id.trim_matches(['<', '>']).split('@').next()?;
    local.parse().ok()
}

fn hash(parts: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    // Stable within one build and across runs (SipHash with fixed keys).
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests;
