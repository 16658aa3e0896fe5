//! Events that scripts emit for other customers ([`crate::rules::emit`]), on their way into
//! the log.
//!
//! [`Store::append`] stores an emitted event right after its cause, in the same atomic
//! write, so either both are in the log or neither is.
//!
//! An emit to a customer who does not exist (a typo'd referrer id would otherwise make a
//! customer out of nothing) fails its script like a refused effect: before anything is
//! applied, all of that script's effects on the event are dropped, with a rule error, so
//! the script never records in its state a reward that was not paid
//! ([`Store::refuse_emits_to_strangers`]). After the effects are applied, each emit is
//! checked again ([`Store::take_emits`]): its chain is not too deep, its event passes the
//! same door as any input ([`Event::from_json`]), and its id is not stored yet (a retry or
//! re-import of the cause: nothing to do). One to an erased customer is dropped quietly,
//! as their imported events are.

use std::{borrow::Cow, collections::HashSet, sync::Arc};

use serde_json::{Map, Value};

use super::{Store, StoreError, checkpoint::Folded, ids::id_hash};
use crate::{
    event::Event,
    ids::EventId,
    rules::{
        Effect, RuleError, ScriptPos,
        emit::{EMITTED_BY, MAX_DEPTH},
    },
};

/// An event on its way into the log: an input of the batch, or one emitted by an event
/// before it.
pub(super) struct Link<'a> {
    pub event: Arc<Event>,
    pub json: Cow<'a, [u8]>,
    pub id_hash: u64,
    /// 0 for an input; one more than its cause's for an emitted event.
    pub depth: usize,
}

impl Store {
    /// Drops every effect of each script that emits to a customer who does not exist, with
    /// a rule error naming the script and the customer.
    pub(super) fn refuse_emits_to_strangers(
        &mut self,
        evaluation: &mut crate::rules::Evaluation,
        cause: &Event,
    ) -> Result<(), StoreError> {
        let mut failed: Vec<(String, String)> = Vec::new();
        for applied in &evaluation.effects {
            // An erased customer has no record either, but was one: their emit is dropped
            // quietly by `take_emits`, as their imported events are, not a script error.
            if let Effect::Emit { customer, kind, .. } = &applied.effect
                && !failed.iter().any(|(script, _)| *script == applied.script)
                && self.customer_shared(customer)?.is_none()
                && !self.erased()?.contains(customer)
            {
                failed.push((
                    applied.script.clone(),
                    format!("emit(\"{customer}\", {kind:?}, …): there is no customer {customer}"),
                ));
            }
        }
        for (script, message) in failed {
            evaluation.effects.retain(|e| e.script != script);
            evaluation.errors.push(RuleError {
                function: "emit".into(),
                pos: ScriptPos {
                    file: script,
                    line: None,
                    column: None,
                },
                message,
                event: cause.id.to_string(),
                customer: cause.customer.to_string(),
            });
        }
        Ok(())
    }

    /// Turns the `emit` effects of `folded` (the effects of `cause`) into links queued on
    /// `chain`, dropping, with a rule error, those that fail a check.
    pub(super) fn take_emits<'a>(
        &mut self,
        cause: &Link<'_>,
        folded: &mut Folded,
        chain: &mut std::collections::VecDeque<Link<'a>>,
        emitted: &mut HashSet<EventId>,
    ) -> Result<(), StoreError> {
        let mut keep = Vec::with_capacity(folded.effects.len());
        for applied in std::mem::take(&mut folded.effects) {
            let Effect::Emit {
                customer,
                kind,
                attrs,
                id,
            } = &applied.effect
            else {
                keep.push(applied);
                continue;
            };
            let refuse = |message: String| RuleError {
                function: "emit".into(),
                pos: ScriptPos {
                    file: applied.script.clone(),
                    line: None,
                    column: None,
                },
                message,
                event: cause.event.id.to_string(),
                customer: cause.event.customer.to_string(),
            };
            if cause.depth >= MAX_DEPTH {
                folded.errors.push(refuse(format!(
                    "emit: this event is {} emits deep; at most {MAX_DEPTH}",
                    cause.depth
                )));
                continue;
            }
            let Some(id) = id.clone() else {
                folded
                    .errors
                    .push(refuse("emit: no id was derived for it".into()));
                continue;
            };
            if self.erased()?.contains(customer) {
                continue;
            }
            let mut fields = Map::new();
            fields.insert("id".into(), Value::String(id.to_string()));
            fields.insert("customer".into(), Value::String(customer.to_string()));
            fields.insert("type".into(), Value::String(kind.clone()));
            fields.insert(
                "at".into(),
                serde_json::to_value(&cause.event.at).unwrap_or(Value::Null),
            );
            fields.extend(attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
            fields.insert(
                EMITTED_BY.into(),
                serde_json::json!({"event": cause.event.id, "script": applied.script}),
            );
            let event = match Event::from_json(fields) {
                Ok(event) => event,
                Err(errors) => {
                    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    folded.errors.push(refuse(format!(
                        "emit(\"{customer}\", {kind:?}, …): {}",
                        text.join("; ")
                    )));
                    continue;
                }
            };
            let hash = id_hash(&event.id);
            if emitted.contains(&event.id) || self.stored_with_id(hash, &event.id)? {
                // Emitted before (a retry, or the cause imported again): once is enough.
                keep.push(applied);
                continue;
            }
            let json = serde_json::to_vec(&event)
                .map_err(|e| self.corrupt(event.id.as_str().as_bytes(), e.to_string()))?;
            emitted.insert(event.id.clone());
            chain.push_back(Link {
                event: Arc::new(event),
                json: Cow::Owned(json),
                id_hash: hash,
                depth: cause.depth + 1,
            });
            keep.push(applied);
        }
        folded.effects = keep;
        Ok(())
    }

    /// Whether an event with `id` (whose hash is `hash`) is in the log.
    fn stored_with_id(&mut self, hash: u64, id: &EventId) -> Result<bool, StoreError> {
        self.load_ids()?;
        let candidates: Vec<u64> = self
            .ids
            .as_ref()
            .map(|index| index.candidates(hash).collect())
            .unwrap_or_default();
        for seq in candidates {
            if self.event_at(seq)?.is_some_and(|stored| stored.id == *id) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
