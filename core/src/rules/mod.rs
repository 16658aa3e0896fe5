//! The rules engine: the business's policy as Rhai scripts.
//!
//! A rules directory holds `.rhai` files; each may define `on_event(event, customer)`,
//! `on_timer(name, customer, data)` and `guard(message, customer)`. [`RuleSet`] compiles all
//! of them once (all or nothing), then runs them on every event in file-name order, sandboxed
//! ([`engine::limits`]: operations, call depth, sizes; no `eval`; imports only from the rules
//! directory; no file or network access). Actions become [`Effect`]s ([`effect`]); failures
//! become [`RuleError`]s with file, line and column, and never lose the event.
//!
//! Configuration belongs in `const` declarations at the top of a script: they are evaluated
//! once at load and folded into the functions.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`engine`] | loading, the sandbox, libraries (`lib/`), calling the entry points |
//! | `api`, [`state`], [`emit`] | what scripts call: actions and helpers, per-customer state, events for other customers |
//! | [`view`], [`guard`] | what scripts see: `event`, `customer`, times; `message` and verdicts |
//! | [`effect`], [`error`] | what comes out: effects as data, errors with their place |
//! | `lint`, [`reference`](mod@reference) | the static checks at load; the reference `kizuna rules doc` prints |
//!
//! ```
//! use std::sync::Arc;
//! use kizuna_core::{Customer, Event, rules::{Effect, RuleSet}};
//!
//! let rules = RuleSet::compile(vec![("points.rhai".into(), r#"
//!     const YEN_PER_POINT = 100;
//!     fn on_event(event, customer) {
//!         if event.type == "purchase" { award_points(event.amount / YEN_PER_POINT, "purchase"); }
//!     }
//! "#.into())], None)?;
//! let event = Arc::new(Event::from_json_str(
//!     r#"{"customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":4800}"#,
//! ).map_err(|e| format!("{e:?}"))?);
//! let customer = Arc::new(Customer::new(event.customer.clone()));
//! let eval = rules.on_event(&event, &customer);
//! assert!(eval.errors.is_empty());
//! assert!(matches!(eval.effects[0].effect, Effect::AwardPoints { points: 48, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
pub mod effect;
pub mod emit;
pub mod engine;
pub mod error;
pub mod guard;
mod lint;
pub mod reference;
pub mod state;
pub mod view;

pub use api::{DEFAULT_POINTS_VALIDITY_DAYS, with_baskets};
pub use effect::{AppliedEffect, Effect, MessageClass};
pub use engine::{Evaluation, RuleSet, Seasonal};
pub use error::{CompileError, LoadError, RuleError, ScriptPos};
pub use guard::{GuardDecision, GuardMessage, Verdict};
