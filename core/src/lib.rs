//! kizuna-core: the engine under the `kizuna` CLI, with no knowledge of SMTP, HTTP or clap.
//!
//! Everything that happens with a customer is an [`Event`]. Events enter through one door,
//! [`Event::from_json`], which is also their validation, so every ingest path accepts and
//! refuses the same input. The [`Store`] appends them to a log on sled, indexes them per
//! customer, and folds each one into the customer's [`Customer`] projection in the same atomic
//! batch. Figures that depend on the whole population, such as [`rfm`] scores, are computed
//! on demand over the projections, never per event.
//!
//! ```
//! use kizuna_core::{Event, Store, StoreOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let mut store = Store::open(dir.path().join("db"), StoreOptions::default())?;
//! let event = Event::from_json_str(
//!     r#"{"customer":"c-42","type":"purchase","at":"2026-03-01T10:15:00+09:00","amount":4800}"#,
//! ).map_err(|errors| format!("{errors:?}"))?;
//! let report = store.append(kizuna_core::rules::RuleSet::none(), &[event.clone(), event])?;
//! store.flush()?;
//! assert_eq!((report.appended, report.duplicates), (1, 1));
//! let customer = store.customer(&"c-42".parse()?)?.ok_or("no projection")?;
//! assert_eq!(customer.stats.revenue, 4800);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where things are
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`event`], [`ids`], [`time`], [`internal`] | the event, its ids and kinds, its time with its offset; the door; the events kizuna writes itself, typed |
//! | [`store`] | the log on sled, its indexes, checkpoints, the outbox (listed a page at a time), the open alerts, erase and compaction |
//! | [`customer`], [`profile`], [`loyalty`], [`contact`], [`timer`], [`promise`], [`complaint`], [`bounce`] | the projection one customer's events fold into |
//! | [`rules`] | the Rhai engine: scripts, their contract, limits and effects |
//! | [`dispatch`], [`channel`] | outbox → template → guards → channel; the file channels (the contract itself is the `kizuna-channel` crate, re-exported in [`channel`]) |
//! | [`campaign`], [`replay`], [`fixtures`] | campaigns, backtests, and the tests users write for their rules |
//! | [`rfm`], [`kpi`], [`response`], [`deliverability`], [`basket`], [`metrics`] | population figures: RFM, relationship KPIs, response times, bounces and opt-outs, co-purchases, latency |
//! | [`unsubscribe`] | signed one-click opt-out links, one per message |
//! | [`staff`] | telling the staff: alert notices, escalations, daily digests, each queued once |
//! | [`lift`] | did a campaign work: holdout groups (global and per campaign) and the tests that compare them |
//! | [`forget`] | finding an erased customer in files kizuna wrote outside the store |

#![deny(missing_docs)]

pub mod basket;
pub mod bounce;
pub mod campaign;
pub mod channel;
pub mod complaint;
pub mod contact;
pub mod customer;
pub mod deliverability;
pub mod dispatch;
pub mod event;
pub mod fixtures;
pub mod forget;
pub mod ids;
pub mod internal;
pub mod kpi;
pub mod lift;
pub mod loyalty;
pub mod metrics;
pub mod profile;
pub mod promise;
pub mod replay;
pub mod response;
pub mod rfm;
pub mod rules;
pub mod staff;
pub mod store;
pub mod time;
pub mod timer;
pub mod unsubscribe;

pub use customer::Customer;
pub use event::{Event, FieldError};
pub use ids::{CustomerId, EventId, EventKind};
pub use store::{Store, StoreError, StoreOptions};
pub use time::EventTime;
