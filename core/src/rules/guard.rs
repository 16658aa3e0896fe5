//! Guards: scripts that may stop, or delay, every outgoing message.
//!
//! Each script defining `guard(message, customer)` returns `allow()`, `deny(reason)` or
//! `defer(until, reason)`. Any deny wins; among defers the latest time wins. A guard that
//! fails (error, limit, or returns something else) denies the message: failing safe is the
//! point of a guard. Every decision names the guard (script) that made it.

use std::sync::Arc;

use jiff::Timestamp;
use rhai::{Dynamic, Map};
use serde_json::Value;

use super::{
    engine::RuleSet,
    view::{CustomerView, ScriptTime, to_dynamic},
};
use crate::{customer::Customer, rules::MessageClass};

/// What a guard script returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Send it.
    Allow,
    /// Never send it.
    Deny(String),
    /// Not before `until`.
    Defer(Timestamp, String),
}

/// The message as guards see it (`message.channel`, `message.body`, …).
#[derive(Debug, Clone)]
pub struct GuardMessage {
    /// Outbox id.
    pub id: String,
    /// Channel name.
    pub channel: String,
    /// Template name.
    pub template: String,
    /// Message class.
    pub class: MessageClass,
    /// Campaign name, if it belongs to one.
    pub campaign: Option<String>,
    /// Rendered subject.
    pub subject: Option<String>,
    /// Rendered body.
    pub body: String,
    /// The rendered HTML version, if the template has one (e-mail).
    pub html: Option<String>,
    /// Template variables.
    pub vars: Value,
    /// When it was queued.
    pub created: Timestamp,
}

/// `message` in a guard: a shared view, so six guards cost six reference counts, not six
/// copies of the rendered text.
#[derive(Debug, Clone)]
pub struct MessageView(Arc<Map>);

impl MessageView {
    /// `message.<field>`.
    pub fn get(&mut self, field: &str) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
        self.0
            .get(field)
            .cloned()
            .ok_or_else(|| format!("message has no field {field:?}").into())
    }
}

impl GuardMessage {
    /// As a Rhai map.
    pub(super) fn to_map(&self) -> Map {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("channel".into(), self.channel.clone().into());
        m.insert("template".into(), self.template.clone().into());
        m.insert("class".into(), self.class.as_str().into());
        m.insert(
            "campaign".into(),
            self.campaign.clone().map_or(Dynamic::UNIT, Dynamic::from),
        );
        m.insert(
            "subject".into(),
            self.subject.clone().map_or(Dynamic::UNIT, Dynamic::from),
        );
        m.insert("body".into(), self.body.clone().into());
        m.insert(
            "html".into(),
            self.html.clone().map_or(Dynamic::UNIT, Dynamic::from),
        );
        m.insert("vars".into(), to_dynamic(&self.vars));
        m.insert(
            "created".into(),
            Dynamic::from(ScriptTime {
                ts: self.created,
                tz: jiff::tz::TimeZone::UTC,
            }),
        );
        m
    }
}

/// The combined decision of every guard.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardDecision {
    /// All guards allowed it.
    Allow,
    /// A guard refused it.
    Deny {
        /// The guard's script.
        guard: String,
        /// Its reason.
        reason: String,
    },
    /// The latest defer among the guards that deferred it.
    Defer {
        /// Not before.
        until: Timestamp,
        /// The guard's script.
        guard: String,
        /// Its reason.
        reason: String,
    },
}

impl RuleSet {
    /// Runs every `guard(message, customer)` at time `now` and combines the verdicts.
    /// Also returns the rule errors of guards that failed (and therefore denied).
    pub fn guard(
        &self,
        message: &GuardMessage,
        customer: &Arc<Customer>,
        now: Timestamp,
    ) -> (GuardDecision, Vec<super::RuleError>) {
        // One map for every guard, shared: handing each guard its own copy of the message
        // (body, vars and all) was a tenth of the dispatcher's time.
        let view = MessageView(Arc::new(message.to_map()));
        let verdicts = self.call_guards(
            now,
            || {
                vec![
                    Dynamic::from(view.clone()),
                    Dynamic::from(CustomerView {
                        customer: Arc::clone(customer),
                        at: now,
                    }),
                ]
            },
            &message.id,
            customer,
        );
        let mut decision = GuardDecision::Allow;
        let mut errors = Vec::new();
        for (script, verdict) in verdicts {
            let verdict = match verdict {
                Ok(v) => v,
                Err(e) => {
                    let reason = format!("guard failed: {}", e.message);
                    errors.push(e);
                    Verdict::Deny(reason)
                }
            };
            decision = match (decision, verdict) {
                (d @ GuardDecision::Deny { .. }, _) => d,
                (_, Verdict::Deny(reason)) => GuardDecision::Deny {
                    guard: script,
                    reason,
                },
                (
                    GuardDecision::Defer {
                        until,
                        guard,
                        reason,
                    },
                    Verdict::Defer(t, r),
                ) => {
                    if t > until {
                        GuardDecision::Defer {
                            until: t,
                            guard: script,
                            reason: r,
                        }
                    } else {
                        GuardDecision::Defer {
                            until,
                            guard,
                            reason,
                        }
                    }
                }
                (GuardDecision::Allow, Verdict::Defer(t, r)) => GuardDecision::Defer {
                    until: t,
                    guard: script,
                    reason: r,
                },
                (d, Verdict::Allow) => d,
            };
        }
        (decision, errors)
    }
}
