//! Listing outbox messages a page at a time: `kizuna outbox list`, the console's outbox and
//! customer pages, `GET /v1/outbox`.
//!
//! The outbox only grows (a message is kept with its final status), so a listing must never
//! read it whole to show fifty. Two ways in, both lazy:
//! - one customer's messages are found through their history: a message is keyed by the
//!   sequence number of the event whose effects queued it, and that event is the customer's
//!   (`effects::write_side_effects` gives every message its event's customer), so the
//!   customer's events name every message of theirs — a few prefix reads, whatever the
//!   size of the outbox;
//! - otherwise the outbox is walked in key order (oldest first, or from the end for newest
//!   first), decoding one message at a time and stopping once the page is full.
//!
//! The customer path reads the customer's record, so it is only exact on a store that
//! holds the live projections (the writer), not on a reading handle.

use jiff::Timestamp;

use super::{MessageStatus, OutboxMessage, Store, StoreError, keys};
use crate::ids::CustomerId;

/// Which messages [`Store::messages`] lists.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    /// Only this status (its [`MessageStatus::name`]).
    pub status: Option<String>,
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this campaign.
    pub campaign: Option<String>,
    /// Only messages this guard suppressed or deferred.
    pub guard: Option<String>,
    /// Only messages queued at or after this time.
    pub since: Option<Timestamp>,
    /// Only messages queued before this time.
    pub until: Option<Timestamp>,
    /// Newest (highest id) first.
    pub newest_first: bool,
    /// Matching messages to skip.
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

impl MessageQuery {
    /// Whether `m` is one of those asked for (the customer is matched by the caller).
    fn matches(&self, m: &OutboxMessage) -> bool {
        let guard = match &m.status {
            MessageStatus::Suppressed { guard, .. } | MessageStatus::Deferred { guard, .. } => {
                Some(guard)
            }
            _ => None,
        };
        self.status.as_ref().is_none_or(|s| m.status.name() == s)
            && self.customer.as_ref().is_none_or(|c| &m.customer == c)
            && self.channel.as_ref().is_none_or(|c| &m.channel == c)
            && self
                .campaign
                .as_ref()
                .is_none_or(|c| m.campaign.as_ref() == Some(c))
            && self.guard.as_ref().is_none_or(|g| guard == Some(g))
            && self.since.is_none_or(|t| m.created >= t)
            && self.until.is_none_or(|t| m.created < t)
    }
}

impl Store {
    /// The page of messages `query` asks for, in id order (or reversed).
    pub fn messages(&self, query: &MessageQuery) -> Result<Vec<OutboxMessage>, StoreError> {
        // One customer's events, when the query names a customer with a history; else the
        // whole outbox (also for a staff recipient, `staff:<name>`, who has none).
        let mut seqs: Vec<u64> = match &query.customer {
            Some(customer) => self
                .history_entries(customer)?
                .iter()
                .map(|e| e.seq)
                .collect(),
            None => Vec::new(),
        };
        seqs.sort_unstable();
        seqs.dedup();
        if query.newest_first {
            seqs.reverse();
        }
        let newest_first = query.newest_first;
        let found: Box<dyn Iterator<Item = _>> = if seqs.is_empty() {
            in_order(self.tree.scan_prefix([keys::OUTBOX]), newest_first)
        } else {
            Box::new(seqs.into_iter().flat_map(move |seq| {
                let mut prefix = vec![keys::OUTBOX];
                prefix.extend_from_slice(&seq.to_be_bytes());
                in_order(self.tree.scan_prefix(&prefix), newest_first)
            }))
        };
        found
            .map(|item| self.decode_message(item))
            .filter(|m| m.as_ref().map_or(true, |m| query.matches(m)))
            .skip(query.offset)
            .take(query.limit)
            .collect()
    }

    fn decode_message(
        &self,
        item: sled::Result<(sled::IVec, sled::IVec)>,
    ) -> Result<OutboxMessage, StoreError> {
        let (k, v) = item.map_err(|e| self.sled_err(e))?;
        serde_json::from_slice(&v).map_err(|e| self.corrupt(&k, e.to_string()))
    }
}

/// A key scan forwards, or backwards for newest first.
fn in_order<'a>(
    scan: super::kv::KvIter<'a>,
    newest_first: bool,
) -> Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + 'a> {
    if newest_first {
        Box::new(scan.rev())
    } else {
        Box::new(scan)
    }
}

#[cfg(test)]
mod tests;
