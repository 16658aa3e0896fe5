//! One staff round: what is owed to whom at `now`, queued in one batch with its marks.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    ALERT_TEMPLATE, DIGEST_TEMPLATE, ESCALATION_TEMPLATE, Kind, Recipient, SCRIPT, StaffPolicy,
    digest_marker, message_id,
};
use crate::{
    ids::CustomerId,
    rules::MessageClass,
    store::{Alert, AlertId, MessageStatus, OutboxMessage, Store, StoreError},
};

/// What a round queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StaffReport {
    /// Notices of new alerts.
    pub notices: u64,
    /// Escalations of alerts left open.
    pub escalations: u64,
    /// Daily digests.
    pub digests: u64,
    /// Of these, how many wait for the end of their recipient's quiet hours.
    pub held: u64,
}

impl StaffReport {
    /// Messages queued in all.
    pub fn queued(&self) -> u64 {
        self.notices + self.escalations + self.digests
    }
}

/// The messages of a round and the marks that say they were queued, written together by
/// [`Store::queue_staff`].
#[derive(Debug, Default)]
pub struct StaffRound {
    pub(crate) messages: Vec<OutboxMessage>,
    pub(crate) notified: Vec<AlertId>,
    pub(crate) escalated: Vec<AlertId>,
    pub(crate) markers: Vec<String>,
    pub(crate) now: Option<Timestamp>,
}

/// Queues the notices, escalations and digests owed at `now` (see [`super`]), durably.
pub fn round(
    store: &mut Store,
    policy: &StaffPolicy,
    now: Timestamp,
) -> Result<StaffReport, StoreError> {
    let mut report = StaffReport::default();
    if policy.recipients.is_empty() {
        return Ok(report);
    }
    let local = now.to_zoned(policy.tz.clone());
    // Recipients owed today's digest: its time has come and it has not gone yet.
    let mut digests = Vec::new();
    for (i, r) in policy.recipients.iter().enumerate() {
        if let Some(at) = r.digest_at
            && local.time() >= at
        {
            let marker = digest_marker(&r.name, local.date());
            if !store.marker(&marker)? {
                digests.push((i, r, at, marker));
            }
        }
    }
    let digest_due = !digests.is_empty();
    // Alerts raised after `now` (a manual clock behind the log) are not raised yet. Read
    // whole only those owed something: a notice, an escalation, or a digest today.
    let owed: Vec<AlertId> = store
        .open_alert_heads()?
        .into_iter()
        .filter(|h| h.at <= now)
        .filter(|h| {
            digest_due
                || !h.notified
                || policy.escalate_after.is_some_and(|after| {
                    !h.escalated && h.at.checked_add(after).is_ok_and(|d| d <= now)
                })
        })
        .map(|h| h.id)
        .collect();
    let open: Vec<Alert> = store.alerts_by_id(owed)?;
    let mut plan = StaffRound {
        now: Some(now),
        ..StaffRound::default()
    };
    let tz = policy.tz.iana_name().unwrap_or("UTC").to_owned();
    for alert in &open {
        let overdue = policy.escalate_after.is_some_and(|after| {
            alert.escalated.is_none()
                && alert
                    .at
                    .checked_add(after)
                    .is_ok_and(|deadline| deadline <= now)
        });
        let mut escalated_to = Vec::new();
        if overdue {
            for (i, r) in policy.recipients.iter().enumerate() {
                if r.escalations && r.routes(alert) {
                    let m = notice(alert, r, i, Kind::Escalation, &tz, policy, now);
                    report.held += u64::from(m.status != MessageStatus::Pending);
                    plan.messages.push(m);
                    report.escalations += 1;
                    escalated_to.push(i);
                }
            }
            plan.escalated.push(alert.id);
        }
        if alert.notified.is_none() {
            for (i, r) in policy.recipients.iter().enumerate() {
                // One message an alert a round: the escalation says it all.
                if r.new_alerts && r.routes(alert) && !escalated_to.contains(&i) {
                    let m = notice(alert, r, i, Kind::Notice, &tz, policy, now);
                    report.held += u64::from(m.status != MessageStatus::Pending);
                    plan.messages.push(m);
                    report.notices += 1;
                }
            }
            // Marked even if no one hears of it: routing changed later does not bring
            // old alerts back.
            plan.notified.push(alert.id);
        }
    }
    for (i, r, at, marker) in digests {
        let day = local.date();
        // The alerts open at the digest's moment: one raised later (a round that runs
        // late, after a restart) is news for its notice and tomorrow's digest.
        let moment = day
            .to_datetime(at)
            .to_zoned(policy.tz.clone())
            .map_or(now, |z| z.timestamp());
        let theirs: Vec<&Alert> = open
            .iter()
            .filter(|a| r.routes(a) && a.at <= moment)
            .collect();
        let newest = theirs.iter().map(|a| a.id).max();
        if let (Some(newest), Some(customer)) = (newest, digest_customer(r)) {
            let vars = json!({
                "alerts": theirs.iter().map(|a| a.id.to_string()).collect::<Vec<_>>(),
                "recipient": r.name,
                "date": day.to_string(),
                "tz": tz,
            });
            plan.messages.push(message(
                message_id(newest.seq, day_number(day), Kind::Digest, i),
                customer,
                r,
                DIGEST_TEMPLATE,
                vars,
                theirs[0].event.clone(),
                now,
            ));
            report.digests += 1;
        }
        plan.markers.push(marker);
    }
    if !plan.messages.is_empty() || !plan.notified.is_empty() || !plan.markers.is_empty() {
        store.queue_staff(&plan)?;
    }
    if report.queued() > 0 {
        tracing::info!(
            notices = report.notices,
            escalations = report.escalations,
            digests = report.digests,
            held = report.held,
            "staff notifications queued"
        );
    }
    Ok(report)
}

/// Days since 1970-01-01: a digest's slot in its id.
fn day_number(day: jiff::civil::Date) -> u32 {
    let days = day
        .since(jiff::civil::date(1970, 1, 1))
        .map_or(0, |span| span.get_days());
    u32::try_from(days).unwrap_or(0)
}

/// The notice or escalation of `alert` for recipient `i`, held for their quiet hours.
fn notice(
    alert: &Alert,
    r: &Recipient,
    i: usize,
    kind: Kind,
    tz: &str,
    policy: &StaffPolicy,
    now: Timestamp,
) -> OutboxMessage {
    let status = match r.hold_until(alert.priority, now, &policy.tz) {
        None => MessageStatus::Pending,
        Some(until) => MessageStatus::Deferred {
            until,
            guard: "staff quiet hours".into(),
            reason: format!(
                "{}'s quiet hours ({}); priority {} is below their page_priority",
                r.name,
                r.quiet.map(|q| q.to_string()).unwrap_or_default(),
                alert.priority
            ),
        },
    };
    let template = match kind {
        Kind::Escalation => ESCALATION_TEMPLATE,
        _ => ALERT_TEMPLATE,
    };
    let vars = json!({ "alert": alert.id.to_string(), "recipient": r.name, "tz": tz });
    OutboxMessage {
        status,
        ..message(
            message_id(alert.id.seq, alert.id.n, kind, i),
            alert.customer.clone(),
            r,
            template,
            vars,
            alert.event.clone(),
            now,
        )
    }
}

/// What a digest is filed under in the outbox, where every message names a customer: the
/// recipient (`staff:<name>`), since a digest is about many. (A recipient's name is
/// checked to make a valid id when the policy is read.)
fn digest_customer(r: &Recipient) -> Option<CustomerId> {
    CustomerId::new(format!("staff:{}", r.name)).ok()
}

/// A pending staff message.
fn message(
    id: crate::store::MessageId,
    customer: CustomerId,
    r: &Recipient,
    template: &str,
    vars: Value,
    event: crate::ids::EventId,
    now: Timestamp,
) -> OutboxMessage {
    OutboxMessage {
        id,
        customer,
        channel: r.channel.clone(),
        template: template.into(),
        vars,
        class: MessageClass::Staff,
        campaign: None,
        script: SCRIPT.into(),
        event,
        created: now,
        status: MessageStatus::Pending,
        attempts: 0,
        forced: None,
        to: Some(r.to.clone()),
    }
}
