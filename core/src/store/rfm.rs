//! Recomputing RFM for the whole population and summarising it by segment.

use super::batch::Batch;
use std::{collections::BTreeMap, sync::Arc};

use jiff::Timestamp;
use serde::Serialize;

use super::{Store, StoreError, keys};
use crate::{
    customer::Customer,
    event::Event,
    ids::CustomerId,
    rfm::{MIN_POPULATION, Rfm, RfmInput, SEGMENT_CHANGED, Segment, TOP_SHARE_PERCENT, score},
    rules::RuleSet,
};

/// The population by RFM segment, as printed by `kizuna rfm`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfmSummary {
    /// The "now" scores were computed against.
    pub computed_at: Timestamp,
    /// Customers scored or classed as prospects.
    pub customers: u64,
    /// Customers whose segment or top-customer mark changed (one `segment_changed` event
    /// each).
    pub changed: u64,
    /// One row per segment, in [`Segment::ALL`] order, empty segments included.
    pub segments: Vec<SegmentRow>,
}

/// One segment's size and value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRow {
    /// The segment.
    pub segment: Segment,
    /// Customers in it.
    pub customers: u64,
    /// Their orders.
    pub orders: u64,
    /// Their revenue.
    pub revenue: i64,
}

const RFM_AT: &str = "rfm_at";

/// Customers per step of an RFM pass beside a daemon's ingest
/// ([`Store::recompute_rfm_between`]): each step reads or rescores this many records
/// (some from disk) or appends this many `segment_changed` events, tens of milliseconds.
pub const RFM_CHUNK_BESIDE_INGEST: usize = 250;

impl Store {
    /// When RFM was last recomputed (`None`: never), so a periodic job knows if it is due.
    pub fn rfm_computed_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let key = keys::meta(RFM_AT);
        let Some(v) = self.tree.get(&key).map_err(|e| self.sled_err(e))? else {
            return Ok(None);
        };
        std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| self.corrupt(&key, "not a time"))
    }

    /// Scores every customer as of `now`, stores the scores in the projections (flushed)
    /// and returns the segment table.
    ///
    /// A crash part-way leaves some customers with the previous scores, which the next
    /// run replaces. Scores are a snapshot, not history.
    pub fn recompute_rfm(
        &mut self,
        rules: &RuleSet,
        now: Timestamp,
    ) -> Result<RfmSummary, StoreError> {
        self.recompute_rfm_between(rules, now, usize::MAX, &mut |_| {})
    }

    /// [`Store::recompute_rfm`] in steps of `chunk` customers, calling `between` after
    /// each: a daemon stores the events that arrived meanwhile there, so the pass never
    /// holds its writer longer than a step (a single pass held it ~10 s on a million
    /// events).
    ///
    /// Invariant: the pass changes nothing but each customer's scores (and appends the
    /// `segment_changed` events), so an event stored between two steps is never
    /// overwritten. It holds because the scores are set on the record in force when they
    /// are set (the one in memory, else the stored one), not by writing back records read
    /// at the start. The population is scored as read, customer by customer: one that
    /// buys during the pass is scored on what was read before.
    pub fn recompute_rfm_between(
        &mut self,
        rules: &RuleSet,
        now: Timestamp,
        chunk: usize,
        between: &mut dyn FnMut(&mut Store),
    ) -> Result<RfmSummary, StoreError> {
        let chunk = chunk.max(1);
        // Every record on disk (scratch stores included), since the pass reads them there.
        self.checkpoint_while(between)?;
        self.sync()?;
        let mut rows = self.rfm_rows(now, chunk, between)?;
        let buyers: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].input.is_some())
            .collect();
        let inputs: Vec<RfmInput> = buyers.iter().filter_map(|&i| rows[i].input).collect();
        for (&i, mut rfm) in buyers.iter().zip(score(&inputs, now)) {
            rfm.revenue_12m = rows[i].spend_12m;
            rows[i].after = Some(rfm);
        }
        mark_top(&mut rows);

        let mut table: BTreeMap<Segment, SegmentRow> = Segment::ALL
            .into_iter()
            .map(|segment| {
                let row = SegmentRow {
                    segment,
                    customers: 0,
                    orders: 0,
                    revenue: 0,
                };
                (segment, row)
            })
            .collect();
        let mut changes = Vec::new();
        for row in &rows {
            let segment = row.segment();
            if let Some(line) = table.get_mut(&segment) {
                line.customers += 1;
                line.orders += row.orders;
                line.revenue = line.revenue.saturating_add(row.revenue);
            }
            let now_top = row.after.as_ref().is_some_and(|r| r.top);
            if row.before != (Some(segment), now_top) {
                changes.push(segment_changed(row, now)?);
            }
        }
        let count = rows.len() as u64;
        // Every record changes: beside a daemon's ingest, the checkpoints this brings go
        // to the background thread, as a campaign's do.
        let beside = chunk != usize::MAX;
        let was = self.set_background_checkpoints(beside);
        let scored = (|| {
            for step in rows.chunks(chunk) {
                for row in step {
                    self.set_rfm(&row.id, row.after.clone())?;
                }
                if self.dirty >= self.options.checkpoint_customers {
                    if self.background_checkpoints {
                        self.start_checkpoint(std::time::Duration::ZERO)?;
                    } else {
                        self.checkpoint()?;
                    }
                }
                between(self);
            }
            Ok::<_, StoreError>(())
        })();
        self.set_background_checkpoints(was);
        scored?;
        // Recorded as events, so campaigns react through the rules like to anything else,
        // and a replay sees them. Their ids derive from content: a second pass at the same
        // `now` records nothing twice.
        let changed = changes.len() as u64;
        let mut changes = changes.into_iter().peekable();
        while changes.peek().is_some() {
            let step: Vec<Event> = changes.by_ref().take(chunk).collect();
            self.append_owned(rules, step)?;
            between(self);
        }
        let mut batch = Batch::default();
        batch.insert(keys::meta(RFM_AT), now.to_string().as_bytes());
        self.apply(batch)?;
        if beside {
            self.checkpoint_while(between)?;
            self.sync_events()?;
        } else {
            self.flush()?;
        }
        // Segment's order is its declaration order, which is `Segment::ALL`'s.
        Ok(RfmSummary {
            computed_at: now,
            customers: count,
            changed,
            segments: table.into_values().collect(),
        })
    }

    /// What the pass needs of every customer, in id order, read `chunk` at a time (the
    /// record in memory when there is one: it is newer than the tree's).
    fn rfm_rows(
        &mut self,
        now: Timestamp,
        chunk: usize,
        between: &mut dyn FnMut(&mut Store),
    ) -> Result<Vec<RfmRow>, StoreError> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let scan = self.scan_customers(after.as_ref(), chunk, |customer| {
                rows.push(RfmRow::of(customer, now));
                false
            })?;
            match scan.last {
                Some(last) => after = Some(last),
                None => return Ok(rows),
            }
            between(self);
        }
    }

    /// Sets a customer's scores on the record in force, marking it for the next
    /// checkpoint.
    fn set_rfm(&mut self, id: &CustomerId, rfm: Option<Rfm>) -> Result<(), StoreError> {
        self.load_cached(id)?;
        if let Some(cached) = self.cache.get_mut(id) {
            Arc::make_mut(&mut cached.record.customer).rfm = rfm;
            self.dirty += usize::from(cached.touch());
        }
        Ok(())
    }
}

/// One customer as the RFM pass sees them.
#[derive(Debug)]
struct RfmRow {
    id: CustomerId,
    /// What scoring needs; `None` for a customer who never bought.
    input: Option<RfmInput>,
    spend_12m: i64,
    orders: u64,
    revenue: i64,
    /// Segment and top mark before the pass.
    before: (Option<Segment>, bool),
    /// The new scores.
    after: Option<Rfm>,
}

impl RfmRow {
    fn of(c: &Customer, now: Timestamp) -> Self {
        let s = &c.stats;
        Self {
            id: c.id.clone(),
            input: s.last_order.map(|last_order| RfmInput {
                last_order,
                orders: s.orders,
                revenue: s.revenue,
                avg_days_between_orders: s.avg_days_between_orders,
            }),
            spend_12m: c.loyalty.spend_12m(now),
            orders: s.orders,
            revenue: s.revenue,
            before: (c.segment(), c.rfm.as_ref().is_some_and(|r| r.top)),
            after: None,
        }
    }

    /// The segment after the pass ([`Customer::segment`] of the new scores).
    fn segment(&self) -> Segment {
        match &self.after {
            Some(rfm) => rfm.segment,
            None => Segment::Prospect,
        }
    }
}

/// Marks the top [`TOP_SHARE_PERCENT`] of customers with any 12-month revenue (at least
/// one), highest first; equal revenue at the cut-off is all in or all out by id order.
/// Among fewer than [`MIN_POPULATION`] buyers nobody is marked: the first customer of a
/// new shop is not its top customer.
fn mark_top(rows: &mut [RfmRow]) {
    if rows.iter().filter(|r| r.input.is_some()).count() < MIN_POPULATION {
        return;
    }
    let mut ranked: Vec<(i64, usize)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| row.after.as_ref().map(|r| (r.revenue_12m, i)))
        .filter(|(revenue, _)| *revenue > 0)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let take = ranked.len().div_ceil(100 / TOP_SHARE_PERCENT.max(1));
    for &(_, i) in ranked.iter().take(take) {
        if let Some(r) = rows[i].after.as_mut() {
            r.top = true;
        }
    }
}

/// The `segment_changed` event for one customer.
fn segment_changed(row: &RfmRow, now: Timestamp) -> Result<Event, StoreError> {
    let rfm = row.after.as_ref();
    let json = serde_json::json!({
        "customer": row.id.as_str(),
        "type": SEGMENT_CHANGED,
        "at": now.to_string(),
        "from": row.before.0.map(|s| s.to_string()),
        "to": row.segment().to_string(),
        "top": rfm.is_some_and(|r| r.top),
        "was_top": row.before.1,
        "revenue_12m": rfm.map_or(0, |r| r.revenue_12m),
        "r": rfm.map(|r| r.r), "f": rfm.map(|r| r.f), "m": rfm.map(|r| r.m),
    });
    let serde_json::Value::Object(obj) = json else {
        unreachable!("json! of an object literal is an object")
    };
    Event::from_json(obj).map_err(|errors| StoreError::Corrupt {
        path: "(rfm)".into(),
        key: row.id.to_string(),
        reason: format!("{errors:?}"),
    })
}
