//! Recomputing RFM for the whole population and summarising it by segment.

use std::{collections::BTreeMap, sync::Arc};

use jiff::Timestamp;
use serde::Serialize;

use super::{Store, StoreError, keys, record::Record};
use crate::rfm::{RfmInput, Segment, score};

/// The population by RFM segment, as printed by `kizuna rfm`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfmSummary {
    /// The "now" scores were computed against.
    pub computed_at: Timestamp,
    /// Customers scored or classed as prospects.
    pub customers: u64,
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

impl Store {
    /// Scores every customer as of `now`, stores the scores in the projections (flushed)
    /// and returns the segment table.
    ///
    /// Records are rewritten in batches; a crash part-way leaves some customers with the
    /// previous scores, which the next run replaces. Scores are a snapshot, not history.
    pub fn recompute_rfm(&mut self, now: Timestamp) -> Result<RfmSummary, StoreError> {
        self.flush()?;
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
        for c in &mut customers {
            c.rfm = None;
        }
        for (&i, rfm) in buyers.iter().zip(scores) {
            customers[i].rfm = Some(rfm);
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
            let mut batch = sled::Batch::default();
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
        // Segment's order is its declaration order, which is `Segment::ALL`'s.
        Ok(RfmSummary {
            computed_at: now,
            customers: count,
            segments: rows.into_values().collect(),
        })
    }
}
