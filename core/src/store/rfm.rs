//! Recomputing RFM for the whole population and summarising it by segment.

use super::batch::Batch;
use std::{collections::BTreeMap, sync::Arc};

use jiff::Timestamp;
use serde::Serialize;

use super::{Store, StoreError, keys, record::Record};
use crate::{
    customer::Customer,
    event::Event,
    rfm::{RfmInput, SEGMENT_CHANGED, Segment, TOP_SHARE_PERCENT, score},
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
    /// Records are rewritten in batches; a crash part-way leaves some customers with the
    /// previous scores, which the next run replaces. Scores are a snapshot, not history.
    pub fn recompute_rfm(&mut self, now: Timestamp) -> Result<RfmSummary, StoreError> {
        // Every record on disk (scratch stores included), since the pass reads them there.
        self.checkpoint()?;
        self.sync()?;
        let mut records = Vec::new();
        for item in self.tree.scan_prefix([keys::CUSTOMER]) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            records.push(Record::decode(&v).map_err(|e| self.corrupt(&k, e))?);
        }
        let mut customers: Vec<&mut crate::customer::Customer> = records
            .iter_mut()
            .map(|r| Arc::make_mut(&mut r.customer))
            .collect();
        let buyers: Vec<usize> = (0..customers.len())
            .filter(|&i| customers[i].stats.last_order.is_some())
            .collect();
        let inputs: Vec<RfmInput> = buyers
            .iter()
            .filter_map(|&i| {
                let s = &customers[i].stats;
                Some(RfmInput {
                    last_order: s.last_order?,
                    orders: s.orders,
                    revenue: s.revenue,
                })
            })
            .collect();
        let scores = score(&inputs, now);
        let before: Vec<(Option<Segment>, bool)> = customers
            .iter()
            .map(|c| (c.segment(), c.rfm.as_ref().is_some_and(|r| r.top)))
            .collect();
        for c in &mut customers {
            c.rfm = None;
        }
        for (&i, rfm) in buyers.iter().zip(scores) {
            let mut rfm = rfm;
            rfm.revenue_12m = customers[i].loyalty.spend_12m(now);
            customers[i].rfm = Some(rfm);
        }
        mark_top(&mut customers);
        let mut changes = Vec::new();
        for (c, (was, was_top)) in customers.iter().zip(before) {
            let now_top = c.rfm.as_ref().is_some_and(|r| r.top);
            let segment = c.segment().unwrap_or(Segment::Prospect);
            if was != Some(segment) || was_top != now_top {
                changes.push(segment_changed(c, was, was_top, now)?);
            }
        }

        let mut rows: BTreeMap<Segment, SegmentRow> = Segment::ALL
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
        for c in &customers {
            let segment = c.segment().unwrap_or(Segment::Prospect);
            if let Some(row) = rows.get_mut(&segment) {
                row.customers += 1;
                row.orders += c.stats.orders;
                row.revenue += c.stats.revenue;
            }
        }
        let count = customers.len() as u64;
        drop(customers);
        for chunk in records.chunks(500) {
            let mut batch = Batch::default();
            for r in chunk {
                let key = keys::customer(&r.customer.id);
                let bytes = r.encode().map_err(|e| self.corrupt(&key, e.to_string()))?;
                batch.insert(key, bytes);
            }
            self.apply(batch)?;
        }
        self.sync()?;
        // The cached copies predate the new scores.
        self.cache.clear();
        // Recorded as events, so campaigns react through the rules like to anything else,
        // and a replay sees them. Their ids derive from content: a second pass at the same
        // `now` records nothing twice.
        let changed = changes.len() as u64;
        self.append_owned(changes)?;
        let mut batch = Batch::default();
        batch.insert(keys::meta(RFM_AT), now.to_string().as_bytes());
        self.apply(batch)?;
        self.flush()?;
        // Segment's order is its declaration order, which is `Segment::ALL`'s.
        Ok(RfmSummary {
            computed_at: now,
            customers: count,
            changed,
            segments: rows.into_values().collect(),
        })
    }
}

/// Marks the top [`TOP_SHARE_PERCENT`] of customers with any 12-month revenue (at least
/// one), highest first; equal revenue at the cut-off is all in or all out by id order.
fn mark_top(customers: &mut [&mut Customer]) {
    let mut ranked: Vec<(i64, usize)> = customers
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.rfm.as_ref().map(|r| (r.revenue_12m, i)))
        .filter(|(revenue, _)| *revenue > 0)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let take = ranked.len().div_ceil(100 / TOP_SHARE_PERCENT.max(1));
    for &(_, i) in ranked.iter().take(take) {
        if let Some(r) = customers[i].rfm.as_mut() {
            r.top = true;
        }
    }
}

/// The `segment_changed` event for one customer.
fn segment_changed(
    c: &Customer,
    was: Option<Segment>,
    was_top: bool,
    now: Timestamp,
) -> Result<Event, StoreError> {
    let rfm = c.rfm.as_ref();
    let json = serde_json::json!({
        "customer": c.id.as_str(),
        "type": SEGMENT_CHANGED,
        "at": now.to_string(),
        "from": was.map(|s| s.to_string()),
        "to": c.segment().unwrap_or(Segment::Prospect).to_string(),
        "top": rfm.is_some_and(|r| r.top),
        "was_top": was_top,
        "revenue_12m": rfm.map_or(0, |r| r.revenue_12m),
        "r": rfm.map(|r| r.r), "f": rfm.map(|r| r.f), "m": rfm.map(|r| r.m),
    });
    let serde_json::Value::Object(obj) = json else {
        unreachable!("json! of an object literal is an object")
    };
    Event::from_json(obj).map_err(|errors| StoreError::Corrupt {
        path: "(rfm)".into(),
        key: c.id.to_string(),
        reason: format!("{errors:?}"),
    })
}
