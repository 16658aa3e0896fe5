//! The dispatcher: outbox → template → guards → channel, with every step recorded.
//!
//! For each message due at `now` the dispatcher renders its template, asks the guards, and
//! hands it to its channel. Every outcome is a persisted status ([`MessageStatus`]): a
//! suppressed message names the guard and its reason, a deferred one its new time, a failed
//! one its retry time (exponential backoff), a dead one why. A message is marked `sending`
//! before the channel is called, so after a crash it is sent again rather than forgotten:
//! delivery is at-least-once, and channels use the message id as an idempotency key (the file
//! channels rewrite the same file). A sent message appends a `message_sent` event, so contact
//! history lives in the event store where guards and reports see it.

mod render;
mod round;
mod staff;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::Arc,
};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::{
    channel::{Configured, Delivery, OutgoingMessage},
    event::Event,
    rules::{GuardDecision, GuardMessage, MessageClass, RuleSet},
    store::{MessageStatus, OutboxMessage, Store, StoreError},
};

/// When to retry a transient failure and when to give up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before a message is dead.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_wait: SignedDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_wait: SignedDuration::from_mins(1),
        }
    }
}

/// Sends due outbox messages through the guards and the configured channels.
pub struct Dispatcher {
    channels: HashMap<String, Configured>,
    /// The guards that decide each message, and the rules that run on the `message_sent`
    /// events it appends: given to the dispatcher, not found in the store.
    rules: Arc<RuleSet>,
    templates: PathBuf,
    env: std::sync::OnceLock<minijinja::Environment<'static>>,
    policy: RetryPolicy,
    /// Signs each customer message's opt-out link; `None`: messages carry none.
    unsubscribe: Option<crate::unsubscribe::Links>,
    /// Who is held out of marketing ([`crate::lift::holdout`]).
    holdouts: crate::lift::holdout::Holdouts,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .field("templates", &self.templates)
            .finish()
    }
}

/// What one dispatch run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DispatchReport {
    /// Messages looked at.
    pub considered: u64,
    /// Count per resulting state (`sent`, `deferred`, `suppressed`, `failed`, `dead`).
    pub outcomes: BTreeMap<String, u64>,
    /// Count per guard and state, for suppressed and deferred messages.
    pub by_guard: BTreeMap<String, u64>,
    /// Count per reason, for dead messages (a missing template or address).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dead: BTreeMap<String, u64>,
}

/// What [`Dispatcher::preview`] found.
#[derive(Debug, Default)]
pub struct Preview {
    /// The outcomes, counted.
    pub report: DispatchReport,
    /// Each message's outcome, in the order the messages were given.
    pub each: Vec<MessageStatus>,
}

impl DispatchReport {
    fn count(&mut self, status: &MessageStatus) {
        if let MessageStatus::Suppressed { guard, .. } | MessageStatus::Deferred { guard, .. } =
            status
        {
            *self
                .by_guard
                .entry(format!("{} {guard}", status.name()))
                .or_default() += 1;
        }
        if let MessageStatus::Dead { reason } = status {
            *self.dead.entry(reason.clone()).or_default() += 1;
        }
        *self.outcomes.entry(status.name().to_owned()).or_default() += 1;
    }
}

impl Dispatcher {
    /// A dispatcher with `channels`, reading templates from `templates`
    /// (`<template>.<channel name>` or `<template>.<format>` files).
    pub fn new(
        channels: Vec<Configured>,
        rules: Arc<RuleSet>,
        templates: impl Into<PathBuf>,
        policy: RetryPolicy,
    ) -> Self {
        let channels = channels
            .into_iter()
            .map(|c| (c.shape.name.clone(), c))
            .collect();
        Self {
            channels,
            rules,
            templates: templates.into(),
            env: std::sync::OnceLock::new(),
            policy,
            unsubscribe: None,
            holdouts: crate::lift::holdout::Holdouts::default(),
        }
    }

    /// Holds out of marketing the customers these groups hold ([`crate::lift::holdout`]):
    /// a message the guards let through ends suppressed by guard `holdout`, and a
    /// `held_out` event marks the moment it would have gone.
    pub fn with_holdouts(mut self, holdouts: crate::lift::holdout::Holdouts) -> Self {
        self.holdouts = holdouts;
        self
    }

    /// Gives every customer message a signed one-click opt-out link
    /// ([`crate::unsubscribe`]): the `unsubscribe_url` of its template, and the
    /// `List-Unsubscribe` of a marketing e-mail.
    pub fn with_unsubscribe(mut self, links: Option<crate::unsubscribe::Links>) -> Self {
        self.unsubscribe = links;
        self
    }

    /// Dispatches every message due at `now`, oldest first.
    ///
    /// Work goes in rounds of at most one message per customer, so the contact guards of a
    /// customer's second message see the first one's `message_sent` event. Within a round,
    /// the `sending` marks are written (and flushed) before any channel is called, and the
    /// outcomes and `message_sent` events after, in batches: a crash mid-round leaves its
    /// messages `sending`, and they are sent again — at-least-once, deduplicated by id.
    pub fn run(&self, store: &mut Store, now: Timestamp) -> Result<DispatchReport, StoreError> {
        let report = self.run_at_most(store, now, usize::MAX)?;
        if report.considered > 0 {
            store.flush()?;
        }
        Ok(report)
    }

    /// [`Dispatcher::run`] over the `max` messages that fell due first: a daemon works
    /// through a large queue in slices between requests. `report.considered == max`
    /// means more may be due. Outcomes and `message_sent` events are durable when it
    /// returns; the projections are left for the caller's next [`Store::flush`].
    pub fn run_at_most(
        &self,
        store: &mut Store,
        now: Timestamp,
        max: usize,
    ) -> Result<DispatchReport, StoreError> {
        let mut report = DispatchReport::default();
        let due = store.due_messages_at_most(now, max)?;
        if due.is_empty() {
            return Ok(report);
        }
        let templates = self.templates();
        // A large queue changes many customers (each `message_sent`): the checkpoints that
        // starts are written beside the dispatch, not in the middle of it.
        let was = store.set_background_checkpoints(true);
        let result = self.run_rounds(store, templates, due, now, &mut report);
        store.set_background_checkpoints(was);
        result.map(|()| report)
    }

    fn run_rounds(
        &self,
        store: &mut Store,
        templates: &minijinja::Environment<'static>,
        mut due: Vec<OutboxMessage>,
        now: Timestamp,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        while !due.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let (round, later): (Vec<_>, Vec<_>) = due
                .into_iter()
                .partition(|m| seen.insert(m.customer.clone()));
            self.run_round(store, templates, round, now, report)?;
            due = later;
        }
        Ok(())
    }

    /// What the guards would decide for `messages` at `now`, changing nothing: the
    /// dry run of a campaign. Outcomes are `sent` (would be handed to the channel),
    /// `suppressed`, `deferred` or `dead` (could not be rendered or addressed); the
    /// report counts them, and [`Preview::each`] gives each message's, in order.
    pub fn preview(
        &self,
        store: &Store,
        messages: &[OutboxMessage],
        now: Timestamp,
    ) -> Result<Preview, StoreError> {
        let templates = self.templates();
        let mut preview = Preview::default();
        for message in messages {
            preview.report.considered += 1;
            let (decision, _) = self.evaluate(store, templates, message, now)?;
            let status = match decision {
                Decision::Final(status) => status,
                Decision::Send(_) => MessageStatus::Sent {
                    at: now,
                    receipt: String::new(),
                },
            };
            preview.report.count(&status);
            preview.each.push(status);
        }
        Ok(preview)
    }

    fn decide(
        &self,
        store: &mut Store,
        templates: &minijinja::Environment<'static>,
        message: &OutboxMessage,
        now: Timestamp,
    ) -> Result<Decision, StoreError> {
        if message.class == MessageClass::Staff {
            // No contact with the customer to look up or record, no guard to ask.
            return self.evaluate_staff(store, templates, message, now);
        }
        if let Some(sent) = store.recorded_sent(message)? {
            // Delivered before: by this store before a crash, or in the home whose export
            // was imported here. Recorded as sent, never handed to a channel again.
            return Ok(Decision::Final(MessageStatus::Sent {
                at: sent.at.instant(),
                receipt: format!("on record as event {}", sent.id),
            }));
        }
        let (decision, errors) = self.evaluate(store, templates, message, now)?;
        store.record_rule_errors(message.id, &errors)?;
        if let Decision::Final(MessageStatus::Dead { reason }) = &decision
            && reason.starts_with(render::FAILED)
        {
            store.alert_broken_template(message, reason, now)?;
        }
        Ok(decision)
    }

    /// Renders, addresses and asks the guards; the guards' rule errors are returned for
    /// the caller to record.
    fn evaluate(
        &self,
        store: &Store,
        templates: &minijinja::Environment<'static>,
        message: &OutboxMessage,
        now: Timestamp,
    ) -> Result<(Decision, Vec<crate::rules::RuleError>), StoreError> {
        if message.class == MessageClass::Staff {
            let decision = self.evaluate_staff(store, templates, message, now)?;
            return Ok((decision, Vec::new()));
        }
        let dead =
            |reason: String| Ok((Decision::Final(MessageStatus::Dead { reason }), Vec::new()));
        let Some(customer) = store.customer_shared(&message.customer)? else {
            return dead(format!(
                "customer {} is unknown (erased?)",
                message.customer
            ));
        };
        let Some(channel) = self.channels.get(&message.channel) else {
            return dead(format!("no channel {:?} is configured", message.channel));
        };
        let Some(to) = customer.address(&channel.shape.address) else {
            return dead(format!(
                "the customer has no address for {} (profile field {})",
                message.channel, channel.shape.address
            ));
        };
        let unsubscribe = self
            .unsubscribe
            .as_ref()
            .map(|links| links.url(&message.customer, &message.channel, message.id));
        let context = render::customer_context(message, &customer, unsubscribe.as_deref(), now);
        let rendered = render::render(templates, message, channel.shape.format, &context);
        let (subject, body, html) = match rendered {
            Ok(rendered) => rendered,
            Err(reason) => return dead(reason),
        };
        let guard_view = GuardMessage {
            id: message.id.to_string(),
            channel: message.channel.clone(),
            template: message.template.clone(),
            class: message.class,
            campaign: message.campaign.clone(),
            subject: subject.clone(),
            body: body.clone(),
            html: html.clone(),
            vars: message.vars.clone(),
            created: message.created,
        };
        let (decision, errors) = match &message.forced {
            Some(reason) => {
                tracing::info!(message = %message.id, reason, "manual send forced past the guards");
                (GuardDecision::Allow, Vec::new())
            }
            None => self.rules.guard(&guard_view, &customer, now),
        };
        let decision = match decision {
            GuardDecision::Deny { guard, reason } => {
                Decision::Final(MessageStatus::Suppressed { guard, reason })
            }
            GuardDecision::Defer {
                until,
                guard,
                reason,
            } => Decision::Final(MessageStatus::Deferred {
                until,
                guard,
                reason,
            }),
            // Held out only once the guards would let it go: the held-out customers are
            // those who would have got it, so the two arms compare like with like.
            GuardDecision::Allow => match self.held_out(message) {
                Some(group) => Decision::Final(MessageStatus::Suppressed {
                    guard: crate::lift::holdout::GUARD.into(),
                    reason: format!("held out of marketing: {group}"),
                }),
                None => Decision::Send(OutgoingMessage {
                    unsubscribe,
                    ..outgoing(message, to, (subject, body, html))
                }),
            },
        };
        Ok((decision, errors))
    }

    /// The holdout group `message` falls in, if it is marketing not forced by hand.
    fn held_out(&self, message: &OutboxMessage) -> Option<crate::lift::holdout::Group> {
        if message.class != MessageClass::Marketing || message.forced.is_some() {
            return None;
        }
        let campaign = message
            .campaign
            .as_deref()
            .map(|c| (c, self.rules.campaign_holdout(c)));
        self.holdouts.group(&message.customer, campaign)
    }

    /// The `held_out` event of a message its holdout group kept back, or `None` if it is
    /// not one. Its id derives from the message, like `message_sent`'s; its group is drawn
    /// again (the same draw: [`crate::lift::holdout`]).
    fn held_event(
        &self,
        store: &Store,
        message: &OutboxMessage,
        now: Timestamp,
    ) -> Result<Option<Event>, StoreError> {
        let MessageStatus::Suppressed { guard, .. } = &message.status else {
            return Ok(None);
        };
        if guard != crate::lift::holdout::GUARD {
            return Ok(None);
        }
        let Some(group) = self.held_out(message) else {
            return Ok(None);
        };
        let held = crate::internal::HeldOut {
            id: message.held_event_id(),
            customer: message.customer.clone(),
            at: now,
            channel: message.channel.clone(),
            template: message.template.clone(),
            campaign: message.campaign.clone(),
            message: message.id,
            group: group.kind().into(),
        };
        held.to_event()
            .map(Some)
            .map_err(|errors| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                key: message.id.to_string(),
                reason: format!("{errors:?}"),
            })
    }

    /// Uses `rules` from the next message on (a hot reload).
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Forgets the templates read so far: the next message reads its template files
    /// again. The daemon calls this when the rules directory changes, so an edited
    /// template goes live like an edited script.
    pub fn reload_templates(&mut self) {
        self.env = std::sync::OnceLock::new();
    }

    /// The configured channels by name, each with where its messages go
    /// ([`Channel::describe`]): what a health check shows an operator.
    pub fn channels(&self) -> BTreeMap<String, String> {
        self.channels
            .iter()
            .map(|(name, c)| (name.clone(), c.channel.describe()))
            .collect()
    }

    /// Sending threads: the most any channel asks for, at most 64.
    fn concurrency(&self) -> usize {
        self.channels
            .values()
            .map(|c| c.channel.concurrency())
            .max()
            .unwrap_or(1)
            .clamp(1, 64)
    }

    fn deliver(
        &self,
        message: &OutboxMessage,
        outgoing: &OutgoingMessage,
        now: Timestamp,
    ) -> MessageStatus {
        let Some(channel) = self.channels.get(&message.channel) else {
            return MessageStatus::Dead {
                reason: format!("no channel {:?}", message.channel),
            };
        };
        match channel.channel.send(outgoing) {
            Delivery::Sent { receipt } => MessageStatus::Sent { at: now, receipt },
            Delivery::Permanent { reason } => MessageStatus::Dead { reason },
            Delivery::AddressRefused { reason } => MessageStatus::Dead {
                reason: format!("{ADDRESS_REFUSED}{reason}"),
            },
            Delivery::Transient { reason } if message.attempts >= self.policy.max_attempts => {
                MessageStatus::Dead {
                    reason: format!("gave up after {} attempts: {reason}", message.attempts),
                }
            }
            Delivery::Transient { reason } => {
                let factor = 1_i32 << (message.attempts.saturating_sub(1)).min(16);
                let retry_at = now
                    .checked_add(self.policy.first_wait * factor)
                    .unwrap_or(now);
                MessageStatus::Failed {
                    retry_at,
                    error: reason,
                }
            }
        }
    }

    /// The template environment, made on first use and kept: it remembers each template
    /// it looked for, found or not, so a dispatcher that runs every second (the daemon, a
    /// replay) reads and compiles each template file once. A new dispatcher sees edited,
    /// added and removed templates. A missing variable is an error, never blank text.
    fn templates(&self) -> &minijinja::Environment<'static> {
        self.env.get_or_init(|| self.make_templates())
    }

    fn make_templates(&self) -> minijinja::Environment<'static> {
        render::environment(self.templates.clone())
    }
}

/// The `message_sent` event of a delivered message. Its id derives from the message
/// ([`OutboxMessage::sent_event_id`]), so a resend after a crash does not record the
/// contact twice, and a history exported and imported elsewhere does not send it again.
fn sent_event(store: &Store, message: &OutboxMessage, now: Timestamp) -> Result<Event, StoreError> {
    let sent = crate::internal::MessageSent {
        id: message.sent_event_id(),
        customer: message.customer.clone(),
        at: now,
        channel: message.channel.clone(),
        template: message.template.clone(),
        class: message.class,
        campaign: message.campaign.clone(),
        message: message.id,
    };
    sent.to_event().map_err(|errors| StoreError::Corrupt {
        path: store.path().to_path_buf(),
        key: message.id.to_string(),
        reason: format!("{errors:?}"),
    })
}

/// What the channel gets for `message`, rendered and addressed to `to`.
fn outgoing(message: &OutboxMessage, to: String, rendered: render::Rendered) -> OutgoingMessage {
    let (subject, body, html) = rendered;
    OutgoingMessage {
        id: message.id,
        customer: message.customer.clone(),
        to,
        subject,
        body,
        html,
        class: message.class,
        template: message.template.clone(),
        unsubscribe: None,
    }
}

/// How the reason of a message whose recipient's address was refused begins: its
/// dispatch also records a hard bounce ([`bounce_event`]).
pub const ADDRESS_REFUSED: &str = "address refused: ";

/// The `email_bounced` event of a message whose address the channel refused at send time,
/// or `None` if it was not refused. Its id derives from the message, like `message_sent`'s.
fn bounce_event(
    store: &Store,
    message: &OutboxMessage,
    to: &str,
    now: Timestamp,
) -> Result<Option<Event>, StoreError> {
    let MessageStatus::Dead { reason } = &message.status else {
        return Ok(None);
    };
    let Some(reason) = reason.strip_prefix(ADDRESS_REFUSED) else {
        return Ok(None);
    };
    let id = format!("refused-{}", message.sent_event_id());
    let bounced = crate::bounce::EmailBounced {
        id: id.chars().take(crate::ids::MAX_ID_LEN).collect(),
        customer: message.customer.clone(),
        at: now,
        channel: message.channel.clone(),
        hard: true,
        reason: reason.to_owned(),
        address: Some(to.to_owned()),
        message: Some(message.id.to_string()),
        campaign: message.campaign.clone(),
    };
    bounced
        .to_event()
        .map(Some)
        .map_err(|errors| StoreError::Corrupt {
            path: store.path().to_path_buf(),
            key: message.id.to_string(),
            reason: format!("{errors:?}"),
        })
}

enum Decision {
    Final(MessageStatus),
    Send(OutgoingMessage),
}

#[cfg(test)]
mod holdout_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{channel::FileEmailChannel, ids::CustomerId, rules::RuleSet};

    const RULES: &str = r#"
        fn on_event(e, c) {
            if e.type == "purchase" { send("email", e.template, #{ amount: e.amount }, "transactional"); }
        }
        fn guard(m, c) {
            if m.body.contains("必ず") { return deny("exaggeration: 必ず"); }
            if m.template == "later" { return defer(m.created + days(1), "not today"); }
            allow()
        }
    "#;

    struct Setup {
        dir: tempfile::TempDir,
        store: Store,
        rules: Arc<RuleSet>,
    }

    fn setup(templates: &[(&str, &str)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let tdir = dir.path().join("templates");
        std::fs::create_dir_all(&tdir).unwrap();
        for (name, text) in templates {
            std::fs::write(tdir.join(name), text).unwrap();
        }
        let mut store = Store::open(dir.path().join("db"), crate::StoreOptions::default()).unwrap();
        let rules =
            Arc::new(RuleSet::compile(vec![("r.rhai".into(), RULES.into())], None).unwrap());
        store
            .append(&rules, &[Event::from_json_str(
                r#"{"customer":"c-1","type":"profile","at":"2026-03-01T00:00:00Z","name":"Aiko","email":"aiko@example.jp"}"#,
            )
            .unwrap()])
            .unwrap();
        Setup { dir, store, rules }
    }

    fn buy(s: &mut Setup, id: &str, template: &str) {
        let json = format!(
            r#"{{"id":"{id}","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00Z","amount":4800,"template":"{template}"}}"#
        );
        s.store
            .append(&s.rules, &[Event::from_json_str(&json).unwrap()])
            .unwrap();
    }

    fn dispatcher(s: &Setup, email_dir: PathBuf) -> Dispatcher {
        // The default channels under the setup, e-mail written where the test says.
        let mut channels = crate::channel::file_channels(s.dir.path(), "shop@example.jp");
        channels[0].channel =
            std::sync::Arc::new(FileEmailChannel::new(email_dir, "shop@example.jp"));
        Dispatcher::new(
            channels,
            Arc::clone(&s.rules),
            s.dir.path().join("templates"),
            RetryPolicy::default(),
        )
    }

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_round_of_many_chunks_sends_each_message_once_and_a_second_message_after_the_first() {
        // 1,100 customers: three chunks in the first round, decided while the chunk before
        // is being sent; every tenth message is suppressed. c-0 and c-1 have a second
        // message, which waits for a second round.
        let mut s = setup(&[
            ("thanks.email", "Subject: Thanks\n\n{{ vars.amount }} yen"),
            ("loud.email", "Subject: Sale\n\n必ず買って"),
        ]);
        let mut events = Vec::new();
        for i in 0..1_100 {
            let template = if i % 10 == 5 { "loud" } else { "thanks" };
            events.push(format!(
                r#"{{"customer":"c-{i}","type":"profile","at":"2026-03-01T00:00:00Z","email":"c{i}@example.jp"}}"#
            ));
            events.push(format!(
                r#"{{"id":"p-{i}","customer":"c-{i}","type":"purchase","at":"2026-03-01T10:00:00Z","amount":{i},"template":"{template}"}}"#
            ));
        }
        for i in 0..2 {
            events.push(format!(
                r#"{{"id":"q-{i}","customer":"c-{i}","type":"purchase","at":"2026-03-01T10:30:00Z","amount":7,"template":"thanks"}}"#
            ));
        }
        let events: Vec<Event> = events
            .iter()
            .map(|e| Event::from_json_str(e).unwrap())
            .collect();
        s.store.append(&s.rules, &events).unwrap();
        let email_dir = s.dir.path().join("email");
        let report = dispatcher(&s, email_dir.clone())
            .run(&mut s.store, now())
            .unwrap();
        assert_eq!(report.considered, 1_102);
        assert_eq!(report.outcomes.get("sent"), Some(&992));
        assert_eq!(report.outcomes.get("suppressed"), Some(&110));
        assert_eq!(std::fs::read_dir(&email_dir).unwrap().count(), 992);
        assert_eq!(s.store.due_count(now()).unwrap(), 0);
        let c0 = s
            .store
            .customer(&CustomerId::new("c-0").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            c0.contacts.len(),
            2,
            "both of c-0's messages were sent and recorded"
        );
        let c7 = s
            .store
            .customer(&CustomerId::new("c-7").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(c7.contacts.len(), 1);
    }

    #[test]
    fn sends_suppresses_defers_and_records_why() {
        let mut s = setup(&[
            (
                "thanks.email",
                "Subject: Thank you, {{ customer.name }}\n\n¥{{ vars.amount }} received.",
            ),
            ("hype.email", "Subject: Sale\n\n必ず儲かる"),
            ("later.email", "Subject: Later\n\nHello"),
        ]);
        buy(&mut s, "o-1", "thanks");
        buy(&mut s, "o-2", "hype");
        buy(&mut s, "o-3", "later");
        buy(&mut s, "o-4", "missing");
        let email = s.dir.path().join("email");
        let report = dispatcher(&s, email.clone())
            .run(&mut s.store, now())
            .unwrap();
        assert_eq!(report.considered, 4);
        let states: Vec<(String, MessageStatus)> = s
            .store
            .outbox()
            .unwrap()
            .into_iter()
            .map(|m| (m.template, m.status))
            .collect();
        let get = |t: &str| states.iter().find(|(n, _)| n == t).unwrap().1.clone();
        let MessageStatus::Sent { receipt, .. } = get("thanks") else {
            panic!("{states:?}")
        };
        let eml = std::fs::read_to_string(receipt).unwrap();
        assert!(
            eml.contains("Subject: Thank you, Aiko") && eml.contains("¥4800 received."),
            "{eml}"
        );
        assert_eq!(
            get("hype"),
            MessageStatus::Suppressed {
                guard: "r.rhai".into(),
                reason: "exaggeration: 必ず".into()
            }
        );
        assert!(
            matches!(get("later"), MessageStatus::Deferred { until, .. } if until.to_string() == "2026-03-02T10:00:00Z")
        );
        assert!(
            matches!(get("missing"), MessageStatus::Dead { reason } if reason.contains("missing.email"))
        );
        // Contact history: one message_sent event.
        let c1 = CustomerId::new("c-1").unwrap();
        let sent: Vec<_> = s
            .store
            .history(&c1, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind.as_str() == "message_sent")
            .collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attr_str("template"), Some("thanks"));
        // Nothing is due again until the deferral ends.
        assert_eq!(
            dispatcher(&s, email)
                .run(&mut s.store, now())
                .unwrap()
                .considered,
            0
        );
    }

    #[test]
    fn a_failing_guard_denies_and_is_recorded() {
        let mut s = setup(&[("thanks.email", "Subject: Hi\n\nBody")]);
        let rules = RuleSet::compile(
            vec![
                ("r.rhai".into(), RULES.into()),
                (
                    "z.rhai".into(),
                    "fn guard(m, c) {\n  let x = m.vars.missing.deeper;\n}".into(),
                ),
            ],
            None,
        )
        .unwrap();
        s.rules = Arc::new(rules);
        buy(&mut s, "o-1", "thanks");
        let email = s.dir.path().join("email");
        dispatcher(&s, email).run(&mut s.store, now()).unwrap();
        let m = s.store.outbox().unwrap().remove(0);
        let MessageStatus::Suppressed { guard, reason } = m.status else {
            panic!("{:?}", m.status)
        };
        assert_eq!(guard, "z.rhai");
        assert!(reason.starts_with("guard failed:"), "{reason}");
        let errors = s.store.rule_errors().unwrap();
        assert_eq!(
            (errors[0].function.as_str(), errors[0].pos.file.as_str()),
            ("guard", "z.rhai")
        );
        assert_eq!(
            errors[0].event,
            m.id.to_string(),
            "the error names the message"
        );
    }

    #[test]
    fn an_interrupted_send_is_sent_again_under_the_same_id() {
        let mut s = setup(&[("thanks.email", "Subject: Hi\n\nBody")]);
        buy(&mut s, "o-1", "thanks");
        // Simulate a crash after the `sending` mark was written.
        let mut m = s.store.outbox().unwrap().remove(0);
        m.status = MessageStatus::Sending { since: now() };
        m.attempts = 1;
        s.store.update_message(&m).unwrap();
        let email = s.dir.path().join("email");
        let report = dispatcher(&s, email.clone())
            .run(&mut s.store, now())
            .unwrap();
        assert_eq!(report.outcomes.get("sent"), Some(&1));
        let files: Vec<_> = std::fs::read_dir(email).unwrap().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(
            s.store.outbox().unwrap()[0].attempts,
            2,
            "the attempt count tells"
        );
    }

    #[test]
    fn transient_failures_back_off_then_go_dead() {
        let mut s = setup(&[("thanks.email", "Subject: Hi\n\nBody")]);
        buy(&mut s, "o-1", "thanks");
        // A directory that cannot be created: the file channel fails transiently.
        let blocked = s.dir.path().join("file-not-dir");
        std::fs::write(&blocked, "").unwrap();
        let d = dispatcher(&s, blocked.join("email"));
        let mut t = now();
        let mut retries = Vec::new();
        for _ in 0..5 {
            d.run(&mut s.store, t).unwrap();
            let m = s.store.outbox().unwrap().remove(0);
            // The due index has it once, at its retry time, or not at all once dead.
            let far = t.checked_add(SignedDuration::from_hours(24)).unwrap();
            let indexed = usize::from(m.status.due_from().is_some());
            assert_eq!(s.store.due_count(far).unwrap(), indexed, "{:?}", m.status);
            match m.status {
                MessageStatus::Failed { retry_at, .. } => {
                    assert_eq!(s.store.due_count(t).unwrap(), 0, "not before its retry");
                    retries.push(retry_at.duration_since(t).as_secs() / 60);
                    t = retry_at;
                }
                MessageStatus::Dead { reason } => {
                    assert!(reason.contains("gave up after 5 attempts"), "{reason}");
                    assert_eq!(retries, [1, 2, 4, 8]);
                    return;
                }
                other => panic!("{other:?}"),
            }
        }
        panic!("never went dead: {retries:?}");
    }
}
