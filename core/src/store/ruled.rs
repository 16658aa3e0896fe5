//! Tests' store with a rule set beside it: [`Ruled`] appends, fires timers and rescores
//! through its rules, and is a [`Store`] for everything else — so a test that drives the
//! store with rules reads as it did when the store held them.

use std::{
    ops::{Deref, DerefMut},
    sync::Arc,
};

use jiff::Timestamp;

use super::rfm::RfmSummary;
use super::{AppendReport, Store, StoreError};
use crate::{event::Event, rules::RuleSet};

pub(crate) struct Ruled {
    pub store: Store,
    pub rules: Arc<RuleSet>,
}

impl Deref for Ruled {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl DerefMut for Ruled {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

impl Ruled {
    pub fn new(store: Store, rules: Arc<RuleSet>) -> Self {
        Self { store, rules }
    }

    pub fn append(&mut self, events: &[Event]) -> Result<AppendReport, StoreError> {
        self.store.append(&self.rules, events)
    }

    pub fn fire_due_timers(&mut self, now: Timestamp) -> Result<AppendReport, StoreError> {
        self.store.fire_due_timers(&self.rules, now)
    }

    pub fn fire_due_timers_at_most(
        &mut self,
        now: Timestamp,
        max: usize,
    ) -> Result<AppendReport, StoreError> {
        self.store.fire_due_timers_at_most(&self.rules, now, max)
    }

    #[allow(dead_code)] // not every test file rescores
    pub fn recompute_rfm(&mut self, now: Timestamp) -> Result<RfmSummary, StoreError> {
        self.store.recompute_rfm(&self.rules, now)
    }
}
