//! The functions scripts call: actions that record effects, and time helpers.
//!
//! Actions write into a per-thread effect sink that [`super::RuleSet`] opens around each
//! script call, so the functions stay plain `fn(args)` as the Rhai contract shows them, the
//! engine stays shareable across threads, and an action called outside `on_event` /
//! `on_timer` (e.g. at the top level of a script) is a clear error.

use std::{cell::RefCell, collections::HashMap, sync::Arc};

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};

use crate::basket::Baskets;

use super::{
    effect::{Effect, MessageClass},
    guard::Verdict,
    view::{CustomerView, EventView, ScriptDuration, ScriptTime, StatsView, to_json},
};

type Res<T> = Result<T, Box<EvalAltResult>>;

/// How long awarded points last unless a script says otherwise.
pub const DEFAULT_POINTS_VALIDITY_DAYS: i64 = 365;

struct Sink {
    now: Timestamp,
    effects: Vec<Effect>,
}

/// A script's top-level constants and variables, by name, with the script's name.
#[derive(Debug)]
pub(super) struct ScriptConstants {
    /// The script (its file name, also its AST's source).
    pub name: String,
    /// The values.
    pub values: HashMap<String, Dynamic>,
}

/// [`ScriptConstants`], shared between calls.
pub(super) type Constants = Arc<ScriptConstants>;

thread_local! {
    static BASKETS: RefCell<Option<Arc<Baskets>>> = const { RefCell::new(None) };
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
    static CONSTANTS: RefCell<Option<Constants>> = const { RefCell::new(None) };
}

thread_local! {
    /// When the script running on this thread must stop ([`past_deadline`]).
    static DEADLINE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Whether the script running on this thread has used up its wall-clock budget: asked by
/// the engine's progress callback every so many operations.
pub(super) fn past_deadline() -> bool {
    DEADLINE
        .get()
        .is_some_and(|d| std::time::Instant::now() > d)
}

/// Runs `f` with an open sink at time `now`, and the calling script's top-level constants
/// visible, and returns the effects it recorded.
pub(super) fn with_sink<T>(
    now: Timestamp,
    constants: &Constants,
    f: impl FnOnce() -> T,
) -> (T, Vec<Effect>) {
    SINK.with(|s| {
        *s.borrow_mut() = Some(Sink {
            now,
            effects: Vec::new(),
        })
    });
    CONSTANTS.with(|c| *c.borrow_mut() = Some(Arc::clone(constants)));
    DEADLINE.set(Some(
        std::time::Instant::now() + super::engine::limits::WALL_TIME,
    ));
    let out = f();
    DEADLINE.set(None);
    CONSTANTS.with(|c| *c.borrow_mut() = None);
    let effects = SINK.with(|s| s.borrow_mut().take().map(|s| s.effects).unwrap_or_default());
    (out, effects)
}

/// Runs `f` with `baskets` answering `also_bought` and `typical_interval`.
///
/// The store holds the statistics and changes them between events; a thread-local
/// `Arc` lends them to the scripts of one event without the engine knowing about stores.
/// Outside this (a guard, a fixture without a store) the helpers see no statistics.
pub fn with_baskets<T>(baskets: &Arc<Baskets>, f: impl FnOnce() -> T) -> T {
    BASKETS.with(|b| *b.borrow_mut() = Some(Arc::clone(baskets)));
    let out = f();
    BASKETS.with(|b| *b.borrow_mut() = None);
    out
}

/// `contains_any(text, words)`: the first of `words` that occurs in `text`, ignoring
/// case, or `()` when none does. Items of `words` that are not strings are skipped.
fn contains_any(text: &str, words: Array) -> Dynamic {
    let text = text.to_lowercase();
    words
        .into_iter()
        .find(|w| {
            w.read_lock::<ImmutableString>()
                .is_some_and(|w| !w.is_empty() && text.contains(&w.to_lowercase()))
        })
        .unwrap_or(Dynamic::UNIT)
}

fn also_bought(item: &str, n: i64) -> Array {
    let n = usize::try_from(n).unwrap_or(0).min(100);
    BASKETS.with(|b| {
        b.borrow().as_ref().map_or_else(Array::new, |b| {
            b.also_bought(item, n)
                .into_iter()
                .map(|(item, _)| Dynamic::from(item))
                .collect()
        })
    })
}

fn typical_interval(item: &str) -> Dynamic {
    BASKETS.with(|b| {
        b.borrow()
            .as_ref()
            .and_then(|b| b.item(item).and_then(|i| i.typical_interval_days()))
            .map_or(Dynamic::UNIT, Dynamic::from)
    })
}

/// `on_date(t, year, month, day, hour)`: that local date and hour in `t`'s zone. A day past
/// the month's end is its last day (a 29 February birthday is on the 28th in other years);
/// an hour that a daylight-saving change skips moves forward, as a wall clock does.
fn on_date(t: ScriptTime, year: i64, month: i64, day: i64, hour: i64) -> Res<ScriptTime> {
    let small = |v: i64, what: &str| -> Res<i8> {
        i8::try_from(v).map_err(|_| format!("{what} {v} is out of range").into())
    };
    let year = i16::try_from(year).map_err(|_| format!("year {year} is out of range"))?;
    let month = small(month, "month")?;
    let first = jiff::civil::Date::new(year, month, 1).map_err(|e| e.to_string())?;
    let day = small(day, "day")?.clamp(1, first.days_in_month());
    let hour = small(hour, "hour")?;
    let local =
        jiff::civil::DateTime::new(year, month, day, hour, 0, 0, 0).map_err(|e| e.to_string())?;
    let zoned = local.to_zoned(t.tz.clone()).map_err(|e| e.to_string())?;
    Ok(ScriptTime {
        ts: zoned.timestamp(),
        tz: t.tz,
    })
}

/// Makes a script's top-level `const`s readable inside its functions, and `state` (the
/// script's state for the customer, [`super::state`]) everywhere.
///
/// Rhai functions cannot see the script's top level; constants used in expressions the
/// optimiser can fold are inlined at load, but `TABLE[key]` with a runtime key is not. This
/// resolver answers for names the parser could not bind to a local variable (`index == 0`),
/// so a local or parameter of the same name always wins.
///
/// `source` is where the variable is read: inside a library's function (`lib/base.rhai`)
/// the calling script's constants are not offered, so a script's `RATE` never stands in
/// for the library's own (which Rhai then finds in the library's environment).
pub(super) fn resolve_constant(name: &str, index: usize, source: Option<&str>) -> Option<Dynamic> {
    if index > 0 {
        return None;
    }
    CONSTANTS
        .with(|c| {
            c.borrow()
                .as_ref()
                .filter(|c| source.is_none_or(|s| s == c.name))
                .and_then(|c| c.values.get(name).cloned())
        })
        .or_else(|| (name == "state").then(|| Dynamic::from(super::state::ScriptState)))
}

/// How many `emit`s the running call has made.
fn emits_so_far() -> usize {
    SINK.with(|s| {
        s.borrow().as_ref().map_or(0, |s| {
            s.effects
                .iter()
                .filter(|e| matches!(e, Effect::Emit { .. }))
                .count()
        })
    })
}

pub(super) fn record(effect: Effect) -> Res<()> {
    SINK.with(|s| match s.borrow_mut().as_mut() {
        Some(sink) => {
            sink.effects.push(effect);
            Ok(())
        }
        None => Err("actions can only be called from on_event or on_timer".into()),
    })
}

fn now() -> Res<Timestamp> {
    SINK.with(|s| s.borrow().as_ref().map(|s| s.now))
        .ok_or_else(|| "time is only known inside on_event or on_timer".into())
}

fn positive(n: i64, what: &str) -> Res<i64> {
    if n > 0 {
        Ok(n)
    } else {
        Err(format!("{what} must be positive, got {n}").into())
    }
}

fn non_empty(s: &str, what: &str) -> Res<String> {
    let s = s.trim();
    if s.is_empty() {
        Err(format!("{what} must not be empty").into())
    } else {
        Ok(s.to_owned())
    }
}

/// The most points one award may give: more is a script's mistake (a price in the wrong
/// unit, a loop), refused as a rule error before it reaches the ledger.
pub const MAX_POINTS_PER_AWARD: i64 = 1_000_000_000;

fn award(points: i64, reason: &str, expires: Timestamp) -> Res<()> {
    if points > MAX_POINTS_PER_AWARD {
        return Err(format!(
            "award_points({points}): at most {MAX_POINTS_PER_AWARD} points per award"
        )
        .into());
    }
    record(Effect::AwardPoints {
        points: positive(points, "points")?,
        reason: reason.to_owned(),
        expires,
    })
}

fn send(channel: &str, template: &str, vars: Map) -> Res<()> {
    send_class(channel, template, vars, "marketing")
}

fn send_class(channel: &str, template: &str, vars: Map, class: &str) -> Res<()> {
    let class = MessageClass::parse(class).ok_or_else(|| {
        format!("message class {class:?} is not marketing, transactional or service")
    })?;
    record(Effect::Send {
        channel: non_empty(channel, "channel")?,
        template: non_empty(template, "template")?,
        vars: to_json(&Dynamic::from(vars)),
        class,
        // Filled in from the calling script by the engine.
        campaign: None,
    })
}

fn schedule(name: &str, when: ScriptTime, data: Dynamic) -> Res<()> {
    record(Effect::Schedule {
        name: non_empty(name, "timer name")?,
        at: when.ts,
        data: to_json(&data),
    })
}

/// Registers the views, the time type and every function of the Rhai contract.
pub(super) fn register(engine: &mut Engine) {
    super::state::register(engine);
    engine
        .register_type_with_name::<EventView>("Event")
        .register_get("type", EventView::kind)
        .register_indexer_get(EventView::get)
        .register_type_with_name::<CustomerView>("Customer")
        .register_indexer_get(CustomerView::get)
        .register_type_with_name::<StatsView>("Stats")
        .register_indexer_get(StatsView::get)
        .register_type_with_name::<ScriptTime>("Time")
        .register_indexer_get(ScriptTime::field)
        .register_fn("to_string", |t: &mut ScriptTime| t.to_string())
        .register_fn("to_debug", |t: &mut ScriptTime| t.to_string())
        .register_type_with_name::<ScriptDuration>("Duration")
        .register_get("days", |d: &mut ScriptDuration| d.0.as_secs() / 86_400)
        .register_get("hours", |d: &mut ScriptDuration| d.0.as_secs() / 3_600);

    // Direct getters for the fields scripts read most: Rhai tries property getters before
    // falling back to the indexer, so these skip a failed lookup on every access.
    for field in [
        "id", "customer", "at", "amount", "items", "channel", "points",
    ] {
        engine.register_get(field, move |e: &mut EventView| e.get(field));
    }
    for field in [
        "id", "tier", "points", "tags", "birthday", "tz", "kind", "stats", "consent", "segment",
    ] {
        engine.register_get(field, move |c: &mut CustomerView| c.get(field));
    }
    for field in [
        "orders",
        "revenue",
        "spend_12m",
        "last_order",
        "open_inquiries",
    ] {
        engine.register_get(field, move |s: &mut StatsView| s.get(field));
    }
    for field in ["year", "month", "day", "hour", "minute", "weekday"] {
        engine.register_get(field, move |t: &mut ScriptTime| t.field(field));
    }

    // Time arithmetic and comparison.
    engine
        .register_fn("days", |n: i64| {
            ScriptDuration(SignedDuration::from_hours(n.saturating_mul(24)))
        })
        .register_fn("hours", |n: i64| {
            ScriptDuration(SignedDuration::from_hours(n))
        })
        .register_fn("minutes", |n: i64| {
            ScriptDuration(SignedDuration::from_mins(n))
        })
        .register_fn("+", |t: ScriptTime, d: ScriptDuration| -> Res<ScriptTime> {
            let ts = t.ts.checked_add(d.0).map_err(|e| e.to_string())?;
            Ok(ScriptTime { ts, tz: t.tz })
        })
        .register_fn("-", |t: ScriptTime, d: ScriptDuration| -> Res<ScriptTime> {
            let ts = t.ts.checked_sub(d.0).map_err(|e| e.to_string())?;
            Ok(ScriptTime { ts, tz: t.tz })
        })
        .register_fn("-", |a: ScriptTime, b: ScriptTime| {
            ScriptDuration(a.ts.duration_since(b.ts))
        })
        .register_fn("<", |a: ScriptTime, b: ScriptTime| a.ts < b.ts)
        .register_fn("<=", |a: ScriptTime, b: ScriptTime| a.ts <= b.ts)
        .register_fn(">", |a: ScriptTime, b: ScriptTime| a.ts > b.ts)
        .register_fn(">=", |a: ScriptTime, b: ScriptTime| a.ts >= b.ts)
        .register_fn("==", |a: ScriptTime, b: ScriptTime| a.ts == b.ts)
        .register_fn("!=", |a: ScriptTime, b: ScriptTime| a.ts != b.ts)
        .register_fn("now", || -> Res<ScriptTime> {
            Ok(ScriptTime {
                ts: now()?,
                tz: TimeZone::UTC,
            })
        })
        .register_fn("in_zone", |t: ScriptTime, tz: &str| -> Res<ScriptTime> {
            let tz = TimeZone::get(tz).map_err(|_| format!("unknown time zone {tz:?}"))?;
            Ok(ScriptTime { ts: t.ts, tz })
        })
        .register_fn("on_date", on_date)
        .register_fn("parse_time", |s: &str| -> Res<ScriptTime> {
            let t = crate::time::EventTime::parse(s).map_err(|e| e.to_string())?;
            Ok(ScriptTime {
                ts: t.instant(),
                tz: TimeZone::fixed(t.offset()),
            })
        });

    // Contact facts for guards (computed in Rust: windows, local days, opening hours).
    engine
        .register_fn(
            "sent_within",
            |c: CustomerView, days: i64, class: &str| -> Res<i64> {
                let class = MessageClass::parse(class)
                    .ok_or_else(|| format!("unknown message class {class:?}"))?;
                Ok(crate::contact::sent_within(&c.customer, now()?, days, class) as i64)
            },
        )
        .register_fn("sent_today", |c: CustomerView, class: &str| -> Res<i64> {
            let class = MessageClass::parse(class)
                .ok_or_else(|| format!("unknown message class {class:?}"))?;
            Ok(crate::contact::sent_today(&c.customer, now()?, class) as i64)
        })
        .register_fn(
            "next_opening",
            |c: CustomerView, from_hour: i64, until_hour: i64| -> Res<Dynamic> {
                let hour = |h: i64| {
                    jiff::civil::Time::new(i8::try_from(h).unwrap_or(-1), 0, 0, 0)
                        .map_err(|_| format!("{h} is not an hour of the day"))
                };
                let next = crate::contact::next_opening(
                    &c.customer,
                    now()?,
                    hour(from_hour)?,
                    hour(until_hour)?,
                );
                Ok(next.map_or(Dynamic::UNIT, |ts| {
                    Dynamic::from(ScriptTime {
                        ts,
                        tz: TimeZone::UTC,
                    })
                }))
            },
        );

    // Text: a guard checks every outgoing message against lists of words; a loop over
    // the list in the script lowercased the whole message once per word and was a third
    // of all guard time.
    engine.register_fn("contains_any", contains_any);

    // Guard verdicts.
    engine
        .register_type_with_name::<super::guard::MessageView>("Message")
        .register_indexer_get(super::guard::MessageView::get);
    for field in [
        "class", "channel", "template", "body", "subject", "html", "vars", "created", "id",
        "campaign",
    ] {
        engine.register_get(field, move |m: &mut super::guard::MessageView| m.get(field));
    }
    engine
        .register_type_with_name::<Verdict>("Verdict")
        .register_fn("allow", || Verdict::Allow)
        .register_fn("deny", |reason: &str| Verdict::Deny(reason.to_owned()))
        .register_fn("defer", |until: ScriptTime, reason: &str| {
            Verdict::Defer(until.ts, reason.to_owned())
        });

    // Actions.
    engine
        .register_fn("award_points", |points: i64, reason: &str| -> Res<()> {
            let at = now()?;
            let expires = at
                .checked_add(SignedDuration::from_hours(
                    DEFAULT_POINTS_VALIDITY_DAYS * 24,
                ))
                .map_err(|e| e.to_string())?;
            award(points, reason, expires)
        })
        .register_fn(
            "award_points",
            |points: i64, reason: &str, expires: ScriptTime| -> Res<()> {
                award(points, reason, expires.ts)
            },
        )
        .register_fn(
            "award_points",
            |points: i64, reason: &str, valid_days: i64| -> Res<()> {
                let hours = positive(valid_days, "validity in days")?.saturating_mul(24);
                let expires = now()?
                    .checked_add(SignedDuration::from_hours(hours))
                    .map_err(|e| e.to_string())?;
                award(points, reason, expires)
            },
        )
        .register_fn("redeem_points", |points: i64, reason: &str| -> Res<()> {
            record(Effect::RedeemPoints {
                points: positive(points, "points")?,
                reason: reason.to_owned(),
            })
        })
        .register_fn("set_tier", |tier: &str| -> Res<()> {
            record(Effect::SetTier {
                tier: non_empty(tier, "tier")?,
            })
        })
        .register_fn("tag", |tag: &str| -> Res<()> {
            record(Effect::Tag {
                tag: non_empty(tag, "tag")?,
            })
        })
        .register_fn("untag", |tag: &str| -> Res<()> {
            record(Effect::Untag {
                tag: non_empty(tag, "tag")?,
            })
        })
        // Rhai's core package has a `tag(value)` of its own (a value's numeric tag), which
        // `tag(42)` silently called: anything but a string is refused here first.
        .register_fn("tag", |value: Dynamic| -> Res<()> {
            Err(format!(
                "tag(name): the name must be a string (got {})",
                value.type_name()
            )
            .into())
        })
        .register_fn("untag", |value: Dynamic| -> Res<()> {
            Err(format!(
                "untag(name): the name must be a string (got {})",
                value.type_name()
            )
            .into())
        })
        .register_fn("send", send)
        .register_fn("send", send_class)
        .register_fn("send", |channel: &str, template: &str| {
            send(channel, template, Map::new())
        })
        .register_fn("schedule", schedule)
        .register_fn("schedule", |name: &str, when: ScriptTime| {
            schedule(name, when, Dynamic::UNIT)
        })
        .register_fn("cancel", |name: &str| -> Res<()> {
            record(Effect::Cancel {
                name: non_empty(name, "timer name")?,
            })
        })
        .register_fn(
            "emit",
            |customer: &str, kind: &str, attrs: Map| -> Res<()> {
                record(super::emit::emit(customer, kind, attrs, emits_so_far())?)
            },
        )
        .register_fn("emit", |customer: &str, kind: &str| -> Res<()> {
            record(super::emit::emit(
                customer,
                kind,
                Map::new(),
                emits_so_far(),
            )?)
        })
        .register_fn("also_bought", also_bought)
        .register_fn("typical_interval", typical_interval)
        .register_fn("alert", |text: ImmutableString| -> Res<()> {
            record(Effect::Alert {
                text: non_empty(&text, "alert text")?,
                priority: 0,
            })
        })
        .register_fn("alert", |text: ImmutableString, priority: i64| -> Res<()> {
            record(Effect::Alert {
                text: non_empty(&text, "alert text")?,
                priority,
            })
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_any_finds_the_first_listed_word_ignoring_case() {
        let words: Array = vec!["絶対".into(), Dynamic::from(3_i64), "GUARANTEED".into()];
        let found = contains_any("Results Guaranteed!", words.clone());
        assert_eq!(found.into_string().unwrap(), "GUARANTEED");
        assert_eq!(
            contains_any("絶対に損しません", words.clone())
                .into_string()
                .unwrap(),
            "絶対"
        );
        assert!(contains_any("an honest offer", words).is_unit());
        assert!(contains_any("anything", vec!["".into()]).is_unit());
    }
}
