//! One-off and seasonal campaigns: pick an audience, queue one message to each member.
//!
//! A campaign never sends anything itself. Each member gets a `send_request` event (the
//! same kind `kizuna send` records) carrying the campaign name, so the message is queued by
//! the ordinary path, shows in the customer's history, and passes every guard when the
//! dispatcher takes it. Event ids derive from content, so running the same campaign again
//! at the same `at` queues nothing twice.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    customer::Customer,
    event::Event,
    ids::CustomerId,
    rfm::Segment,
    rules::{MessageClass, RuleError, RuleSet, Seasonal},
    store::{MessageId, MessageStatus, OutboxMessage, Store, StoreError},
};

/// Who a campaign goes to.
#[derive(Debug, Clone)]
pub enum Audience {
    /// Customers in a built-in RFM segment (scores from the last RFM pass).
    Rfm(Segment),
    /// Customers for whom a script's `matches(customer)` is true.
    Predicate {
        /// The rule set holding the script.
        rules: Arc<RuleSet>,
        /// The script's name (e.g. `segments/vip.rhai`).
        script: String,
    },
}

/// The members of an audience at one moment.
#[derive(Debug, Default, Serialize)]
pub struct Selection {
    /// Customers looked at.
    pub examined: u64,
    /// Customers in the audience, in id order.
    pub members: Vec<CustomerId>,
    /// Customers whose predicate failed (left out), the first [`MAX_ERRORS`] of them.
    pub errors: Vec<RuleError>,
    /// How many predicates failed in all.
    pub failed: u64,
}

/// Predicate errors kept in a [`Selection`]; one broken script would otherwise produce one
/// per customer.
pub const MAX_ERRORS: usize = 20;

impl Audience {
    /// Evaluates the audience over every customer as of `at`.
    pub fn select(&self, store: &Store, at: Timestamp) -> Result<Selection, StoreError> {
        let mut out = Selection::default();
        for customer in store.customers() {
            let customer = Arc::new(customer?);
            if out.consider(self, &customer, at) {
                out.members.push(customer.id.clone());
            }
        }
        Ok(out)
    }

    /// Evaluates several audiences over every customer as of `at`, reading each customer
    /// once: a page listing every segment's size costs one scan, not one a segment.
    pub fn select_each(
        audiences: &[Audience],
        store: &Store,
        at: Timestamp,
    ) -> Result<Vec<Selection>, StoreError> {
        let mut out: Vec<Selection> = audiences.iter().map(|_| Selection::default()).collect();
        for customer in store.customers() {
            let customer = Arc::new(customer?);
            for (audience, selection) in audiences.iter().zip(out.iter_mut()) {
                if selection.consider(audience, &customer, at) {
                    selection.members.push(customer.id.clone());
                }
            }
        }
        Ok(out)
    }

    /// Whether `customer` is in the audience as of `at`.
    pub fn contains(
        &self,
        customer: &Arc<Customer>,
        at: Timestamp,
    ) -> Result<bool, Box<RuleError>> {
        match self {
            Self::Rfm(segment) => Ok(customer.segment() == Some(*segment)),
            Self::Predicate { rules, script } => rules.matches(script, customer, at),
        }
    }
}

impl Selection {
    /// Counts `customer` as examined and says whether it is a member; a failed predicate
    /// leaves it out and is kept (the first [`MAX_ERRORS`]).
    fn consider(&mut self, audience: &Audience, customer: &Arc<Customer>, at: Timestamp) -> bool {
        self.examined += 1;
        audience.contains(customer, at).unwrap_or_else(|e| {
            self.failed += 1;
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(*e);
            }
            false
        })
    }
}

/// The message a campaign queues.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// Its name, carried by every message (reports, guards).
    pub name: String,
    /// Channel.
    pub channel: String,
    /// Template.
    pub template: String,
    /// Class (marketing unless said otherwise).
    pub class: MessageClass,
    /// Template variables; `offer` defaults to the campaign name so the decline guard can
    /// hold it back from customers who declined it.
    pub vars: Map<String, Value>,
}

/// What queueing a campaign did.
#[derive(Debug, Default, Serialize)]
pub struct Queued {
    /// Messages queued.
    pub queued: u64,
    /// Members who already had this campaign's request at this time (a re-run).
    pub duplicates: u64,
    /// Rule errors raised while recording the requests.
    pub rule_errors: u64,
}

/// Requests recorded per atomic write.
const BATCH: usize = 10_000;

/// Customers per chunk when something waits between chunks
/// ([`Campaign::select_and_queue_between`]): a daemon's ingest waits at most one chunk
/// (about 15 ms) instead of one [`BATCH`].
pub const CHUNK_BESIDE_INGEST: usize = 150;

impl Campaign {
    /// A campaign from a seasonal declaration.
    pub fn seasonal(s: &Seasonal) -> Self {
        Self {
            name: s.campaign.clone(),
            channel: s.channel.clone(),
            template: s.template.clone(),
            class: s.class,
            vars: Map::new(),
        }
    }

    fn vars(&self) -> Map<String, Value> {
        let mut vars = self.vars.clone();
        vars.entry("offer")
            .or_insert_with(|| Value::String(self.name.clone()));
        vars
    }

    /// The `send_request` event that queues this campaign's message for `customer`.
    pub fn request(&self, customer: &CustomerId, at: Timestamp) -> Result<Event, String> {
        let request = crate::internal::SendRequest {
            customer: customer.clone(),
            at,
            channel: self.channel.clone(),
            template: self.template.clone(),
            class: self.class,
            campaign: Some(self.name.clone()),
            vars: self.vars(),
            force_reason: None,
        };
        request.to_event().map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            text.join("; ")
        })
    }

    /// Queues one message per member, durably, in batches; `rules` run on each request.
    pub fn queue(
        &self,
        store: &mut Store,
        rules: &RuleSet,
        members: &[CustomerId],
        at: Timestamp,
    ) -> Result<Queued, CampaignError> {
        queueing(store, |store| {
            let mut out = Queued::default();
            for chunk in members.chunks(BATCH) {
                self.queue_chunk(store, rules, chunk, at, &mut out)?;
            }
            Ok(out)
        })
    }

    fn queue_chunk(
        &self,
        store: &mut Store,
        rules: &RuleSet,
        members: &[CustomerId],
        at: Timestamp,
        out: &mut Queued,
    ) -> Result<(), CampaignError> {
        let Some(first) = members.first() else {
            return Ok(());
        };
        // One request validated; the others differ only in customer (and so in id).
        let prototype = self.request(first, at).map_err(CampaignError::Invalid)?;
        let attrs = Event::attrs_text(&prototype.attrs);
        let events: Vec<Event> = members
            .iter()
            .map(|c| {
                let mut event = prototype.clone();
                event.id = Event::derive_id_from_text(c, &event.kind, event.at, &attrs);
                event.customer = c.clone();
                event
            })
            .collect();
        let report = store.append_owned(rules, events)?;
        out.queued += report.appended;
        out.duplicates += report.duplicates;
        out.rule_errors += report.rule_errors;
        Ok(())
    }

    /// [`Audience::select`] and [`Campaign::queue`] in one pass over the customers, a chunk
    /// at a time: each record is read once ([`Store::scan_customers`]), where the two
    /// passes read every member's twice. What a campaign that is not a dry run does.
    pub fn select_and_queue(
        &self,
        store: &mut Store,
        rules: &RuleSet,
        audience: &Audience,
        at: Timestamp,
    ) -> Result<(Selection, Queued), CampaignError> {
        self.select_and_queue_between(store, rules, audience, at, BATCH, &mut |_| {})
    }

    /// [`Campaign::select_and_queue`] in chunks of `chunk` customers (at most [`BATCH`]),
    /// calling `between` after each:
    /// a daemon stores the events that arrived meanwhile there, so ingest is answered
    /// while a campaign to every customer runs. Customers are scanned in id order from
    /// where the last chunk ended, so each is considered once, with whatever the events
    /// stored in between changed.
    pub fn select_and_queue_between(
        &self,
        store: &mut Store,
        rules: &RuleSet,
        audience: &Audience,
        at: Timestamp,
        chunk: usize,
        between: &mut dyn FnMut(&mut Store),
    ) -> Result<(Selection, Queued), CampaignError> {
        let chunk = chunk.clamp(1, BATCH);
        if store.is_temporary() {
            // A scratch store never writes its records (checkpoints are for durability),
            // so the scan would not see them; in memory, two passes cost little.
            let selection = audience.select(store, at)?;
            let queued = self.queue(store, rules, &selection.members, at)?;
            return Ok((selection, queued));
        }
        // Every customer in the tree, where the scan reads them; and at the end, every
        // change written and synced. When something waits between chunks, the writing is
        // done in the background and the waiting goes on meanwhile.
        let beside = chunk < BATCH;
        let written = |store: &mut Store, between: &mut dyn FnMut(&mut Store)| {
            if beside {
                store.checkpoint_while(between)?;
                store.sync_events()
            } else {
                store.flush()
            }
        };
        written(store, between)?;
        // A message to each member touches every member's record: automatic checkpoints
        // go to the background thread, overlapping the queueing.
        let was = store.set_background_checkpoints(true);
        let result = (|| {
            let mut selection = Selection::default();
            let mut queued = Queued::default();
            let mut after = None;
            loop {
                let scan = store.scan_customers(after.as_ref(), chunk, |customer| {
                    selection.consider(audience, customer, at)
                })?;
                self.queue_chunk(store, rules, &scan.kept, at, &mut queued)?;
                selection.members.extend(scan.kept);
                between(store);
                match scan.last {
                    Some(last) => after = Some(last),
                    None => return Ok::<_, CampaignError>((selection, queued)),
                }
            }
        })();
        store.set_background_checkpoints(was);
        let out = result?;
        written(store, between)?;
        Ok(out)
    }

    /// The messages the campaign would queue, for [`crate::dispatch::Dispatcher::preview`].
    pub fn draft(&self, members: &[CustomerId], at: Timestamp) -> Vec<OutboxMessage> {
        members
            .iter()
            .enumerate()
            .map(|(n, c)| OutboxMessage {
                id: MessageId {
                    seq: u64::MAX,
                    n: u32::try_from(n).unwrap_or(u32::MAX),
                },
                customer: c.clone(),
                channel: self.channel.clone(),
                template: self.template.clone(),
                vars: Value::Object(self.vars()),
                class: self.class,
                campaign: Some(self.name.clone()),
                script: "campaign".into(),
                event: crate::ids::EventId::from_trusted("draft".into()),
                created: at,
                status: MessageStatus::Pending,
                attempts: 0,
                forced: None,
                to: None,
            })
            .collect()
    }
}

/// Runs `queue` with the store's automatic checkpoints on its background thread (a
/// message to each member touches every member's record, and the checkpoints overlap the
/// queueing), then flushes.
fn queueing<T>(
    store: &mut Store,
    queue: impl FnOnce(&mut Store) -> Result<T, CampaignError>,
) -> Result<T, CampaignError> {
    let was = store.set_background_checkpoints(true);
    let result = queue(store);
    store.set_background_checkpoints(was);
    let out = result?;
    store.flush()?;
    Ok(out)
}

/// Why a campaign could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The campaign's own settings make an invalid request (e.g. an empty channel).
    #[error("the campaign's message is invalid: {0}")]
    Invalid(String),
}

/// One seasonal campaign launched by [`run_seasonal`].
#[derive(Debug, Serialize)]
pub struct SeasonalRun {
    /// Campaign name.
    pub campaign: String,
    /// The year of the window.
    pub year: i16,
    /// Customers in its audience.
    pub members: u64,
    /// What queueing did.
    pub queued: Queued,
    /// Predicate failures (customers left out).
    pub failed: u64,
}

/// Launches every seasonal campaign of `rules` whose window is open at `now` and that has
/// not run for that window yet (once a year, remembered in the store).
pub fn run_seasonal(
    store: &mut Store,
    rules: &Arc<RuleSet>,
    now: Timestamp,
) -> Result<Vec<SeasonalRun>, CampaignError> {
    let mut runs = Vec::new();
    for s in rules.seasonal() {
        let Some(year) = s.open_at(now) else {
            continue;
        };
        let marker = format!("seasonal:{}:{year}", s.campaign);
        if store.marker(&marker)? {
            continue;
        }
        let audience = Audience::Predicate {
            rules: Arc::clone(rules),
            script: s.script.clone(),
        };
        let campaign = Campaign::seasonal(s);
        let (selection, queued) = campaign.select_and_queue(store, rules, &audience, now)?;
        for e in &selection.errors {
            tracing::warn!(error = %e, campaign = %s.campaign, "seasonal audience predicate failed");
        }
        store.set_marker(&marker)?;
        tracing::info!(campaign = %s.campaign, year, queued = queued.queued, "seasonal campaign launched");
        runs.push(SeasonalRun {
            campaign: s.campaign.clone(),
            year,
            members: selection.members.len() as u64,
            queued,
            failed: selection.failed,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_pass_queues_the_same_requests_as_request_does() {
        let dir = tempfile::tempdir().unwrap();
        let live = Store::open(dir.path().join("db"), crate::StoreOptions::default()).unwrap();
        one_pass(live);
        one_pass(Store::open_temporary().unwrap());
    }

    fn one_pass(mut store: Store) {
        for i in 0..5 {
            let json = format!(
                r#"{{"customer":"c-{i}","type":"profile","at":"2026-03-01T00:00:00Z","email":"c{i}@example.jp"}}"#
            );
            store
                .append(RuleSet::none(), &[Event::from_json_str(&json).unwrap()])
                .unwrap();
        }
        let campaign = Campaign {
            name: "spring".into(),
            channel: "email".into(),
            template: "notice".into(),
            class: MessageClass::Marketing,
            vars: Map::new(),
        };
        let at: Timestamp = "2026-03-05T02:00:00Z".parse().unwrap();
        let audience = Audience::Rfm(Segment::Champions);
        let everyone = Audience::Predicate {
            rules: Arc::new(
                RuleSet::compile(
                    vec![(
                        "all.rhai".into(),
                        "fn matches(c) { c.id != \"c-3\" }".into(),
                    )],
                    None,
                )
                .unwrap(),
            ),
            script: "all.rhai".into(),
        };
        let (none, _) = campaign
            .select_and_queue(&mut store, RuleSet::none(), &audience, at)
            .unwrap();
        assert_eq!((none.examined, none.members.len()), (5, 0));
        let (selection, queued) = campaign
            .select_and_queue(&mut store, RuleSet::none(), &everyone, at)
            .unwrap();
        assert_eq!(selection.members.len(), 4);
        assert_eq!(queued.queued, 4);
        for c in &selection.members {
            let id = campaign.request(c, at).unwrap().id;
            let stored = store.event(&id).unwrap().expect("the request's own id");
            assert_eq!(&stored.customer, c);
        }
        // Again at the same time: nothing twice.
        let (_, again) = campaign
            .select_and_queue(&mut store, RuleSet::none(), &everyone, at)
            .unwrap();
        assert_eq!((again.queued, again.duplicates), (0, 4));
    }
}
