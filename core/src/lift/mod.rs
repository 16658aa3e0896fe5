//! Did the campaign work? Holdout groups and measured lift.
//!
//! - [`holdout`]: who is held out — the global control group (no marketing at all) and a
//!   campaign's own holdout — by a keyed hash of the customer id, the same in the live run
//!   and in a replay.
//! - [`report`]: each campaign's treated customers against its held-out ones, measured over
//!   the same window from the moment the message went or would have gone.
//! - [`stats`]: the tests that compare treated and held-out customers: two proportions
//!   (conversion, reply) and Welch's t (revenue per customer), with 95% intervals.

pub mod holdout;
pub mod report;
pub mod stats;
