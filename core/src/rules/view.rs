//! What scripts see: read-only views of the event and the customer, and time values.
//!
//! The views are registered Rhai types that wrap an `Arc`, so passing them to every script
//! costs a reference count, not a copy of the projection. Fields are read through an indexer
//! that Rhai also uses for property syntax, so `customer.tier` and `event.amount` work as in
//! a map, and a misspelt field is a clear runtime error rather than a silent `()`.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map};
use serde_json::Value;

use crate::{customer::Customer, event::Event};

/// `event` in a script. The fields every script reads first (`type`) are prepared once per
/// event and shared by all scripts.
#[derive(Debug, Clone)]
pub struct EventView {
    event: Arc<Event>,
    kind: ImmutableString,
}

/// `customer` in a script: the projection after this event was folded in, before its
/// effects are applied. `points` is the balance at the event's time.
#[derive(Debug, Clone)]
pub struct CustomerView {
    /// The projection.
    pub customer: Arc<Customer>,
    /// The event's time, for time-dependent figures (point balance, 12-month spend).
    pub at: Timestamp,
}

/// A point in time in a script, shown in a time zone (`event.at`, `now()`, `t + days(3)`).
#[derive(Debug, Clone)]
pub struct ScriptTime {
    /// The instant.
    pub ts: Timestamp,
    /// The zone its calendar fields (`year`, `month`, `hour`, …) are read in.
    pub tz: TimeZone,
}

/// A length of time in a script (`days(30)`, `hours(24)`).
#[derive(Debug, Clone, Copy)]
pub struct ScriptDuration(pub SignedDuration);

type Res<T> = Result<T, Box<EvalAltResult>>;

/// The fields of `customer` ([`CustomerView::get`]).
pub const CUSTOMER_FIELDS: &[&str] = &[
    "id",
    "name",
    "kind",
    "tz",
    "birthday",
    "business_hours",
    "points",
    "tier",
    "tags",
    "consent",
    "segment",
    "declined",
    "items",
    "open_inquiries",
    "promises",
    "complaints",
    "bounces",
    "rfm",
    "stats",
];

/// The fields of `customer.stats` ([`StatsView::get`]).
pub const STATS_FIELDS: &[&str] = &[
    "orders",
    "revenue",
    "spend_12m",
    "first_order",
    "last_order",
    "avg_days_between_orders",
    "last_inbound",
    "last_outbound",
    "open_inquiries",
    "unsolved_complaints",
    "events",
];

/// The fields of kizuna's own event types: every event's, then those its types carry.
pub const EVENT_FIELDS: &[&str] = &[
    "id",
    "type",
    "customer",
    "at",
    "amount",
    "items",
    "channel",
    "offer",
    "in_reply_to",
    "name",
    "email",
    "phone",
    "kind",
    "tz",
    "birthday",
    "business_hours",
    "tags",
    "template",
    "class",
    "campaign",
];

/// Converts JSON to a Rhai value.
pub fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(items) => items.iter().map(to_dynamic).collect::<Array>().into(),
        Value::Object(obj) => obj
            .iter()
            .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
            .collect::<Map>()
            .into(),
    }
}

/// Converts a Rhai value to JSON; times become RFC 3339 text.
pub fn to_json(d: &Dynamic) -> Value {
    if d.is_unit() {
        Value::Null
    } else if let Some(b) = d.clone().try_cast::<bool>() {
        Value::Bool(b)
    } else if let Ok(i) = d.as_int() {
        Value::from(i)
    } else if let Ok(f) = d.as_float() {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    } else if let Some(a) = d.clone().try_cast::<Array>() {
        Value::Array(a.iter().map(to_json).collect())
    } else if let Some(m) = d.clone().try_cast::<Map>() {
        Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
    } else if let Some(t) = d.clone().try_cast::<ScriptTime>() {
        Value::String(t.ts.to_string())
    } else {
        Value::String(d.to_string())
    }
}

fn opt_time(t: Option<Timestamp>) -> Dynamic {
    t.map_or(Dynamic::UNIT, |ts| {
        Dynamic::from(ScriptTime {
            ts,
            tz: TimeZone::UTC,
        })
    })
}

impl EventView {
    /// A view of `event`.
    pub fn new(event: Arc<Event>) -> Self {
        let kind = event.kind.as_str().into();
        Self { event, kind }
    }

    /// `event.type`, without allocating.
    pub fn kind(&mut self) -> ImmutableString {
        self.kind.clone()
    }

    /// `event.<field>`.
    pub fn get(&mut self, field: &str) -> Res<Dynamic> {
        let e = &self.event;
        Ok(match field {
            "id" => e.id.to_string().into(),
            "type" => self.kind.clone().into(),
            "customer" => e.customer.to_string().into(),
            "at" => Dynamic::from(ScriptTime {
                ts: e.at.instant(),
                tz: TimeZone::fixed(e.at.offset()),
            }),
            other => match e.attrs.get(other) {
                Some(v) => to_dynamic(v),
                // Absent attributes read as () so scripts can test `event.items == ()`.
                None => Dynamic::UNIT,
            },
        })
    }
}

impl CustomerView {
    /// `customer.<field>`.
    pub fn get(&mut self, field: &str) -> Res<Dynamic> {
        let c = &self.customer;
        let p = &c.profile;
        let text = |v: &Option<String>| v.clone().map_or(Dynamic::UNIT, Dynamic::from);
        Ok(match field {
            "id" => c.id.to_string().into(),
            "name" => text(&p.name),
            "kind" => p.kind.to_string().into(),
            "tz" => text(&p.tz),
            "birthday" => p.birthday.map_or(Dynamic::UNIT, |b| {
                let mut m = Map::new();
                m.insert("month".into(), i64::from(b.month).into());
                m.insert("day".into(), i64::from(b.day).into());
                m.insert(
                    "year".into(),
                    b.year.map_or(Dynamic::UNIT, |y| i64::from(y).into()),
                );
                m.into()
            }),
            "business_hours" => p
                .business_hours
                .as_ref()
                .map_or(Dynamic::UNIT, |h| h.to_string().into()),
            "points" => c.loyalty.balance(self.at).into(),
            "tier" => c.loyalty.tier.clone().map_or(Dynamic::UNIT, Dynamic::from),
            "tags" => c
                .tags
                .iter()
                .map(|t| Dynamic::from(t.clone()))
                .collect::<Array>()
                .into(),
            "consent" => c
                .consent
                .iter()
                .map(|(ch, k)| (ch.as_str().into(), k.granted.into()))
                .collect::<Map>()
                .into(),
            "segment" => c.segment().map_or(Dynamic::UNIT, |s| s.to_string().into()),
            "declined" => c
                .declined
                .iter()
                .map(|(offer, at)| {
                    let t = ScriptTime {
                        ts: at.instant(),
                        tz: TimeZone::UTC,
                    };
                    (offer.as_str().into(), Dynamic::from(t))
                })
                .collect::<Map>()
                .into(),
            "items" => c
                .items
                .keys()
                .map(|i| Dynamic::from(i.clone()))
                .collect::<Array>()
                .into(),
            "open_inquiries" => c
                .stats
                .open_inquiries
                .iter()
                .map(|o| Dynamic::from(o.event.to_string()))
                .collect::<Array>()
                .into(),
            "promises" => c
                .promises
                .open
                .iter()
                .map(|p| {
                    let mut m = Map::new();
                    m.insert("ref".into(), p.reference.clone().into());
                    m.insert("what".into(), p.what.clone().into());
                    m.insert("due".into(), Dynamic::from(p.due));
                    m.insert(
                        "by".into(),
                        p.by.clone().map_or(Dynamic::UNIT, Dynamic::from),
                    );
                    m.insert("late".into(), (p.due < self.at).into());
                    Dynamic::from(m)
                })
                .collect::<Array>()
                .into(),
            "complaints" => c
                .complaints
                .open
                .iter()
                .map(|k| {
                    let when = |t: Option<jiff::Timestamp>| t.map_or(Dynamic::UNIT, Dynamic::from);
                    let mut m = Map::new();
                    m.insert("complaint".into(), k.complaint.clone().into());
                    m.insert("at".into(), Dynamic::from(k.at));
                    m.insert("apology".into(), when(k.apology));
                    m.insert("solution".into(), when(k.solution));
                    Dynamic::from(m)
                })
                .collect::<Array>()
                .into(),
            "bounces" => c
                .bounces
                .0
                .iter()
                .map(|b| {
                    let mut m = Map::new();
                    let at = ScriptTime {
                        ts: b.at,
                        tz: TimeZone::UTC,
                    };
                    m.insert("at".into(), Dynamic::from(at));
                    m.insert("kind".into(), b.kind.clone().into());
                    m.insert("channel".into(), b.channel.clone().into());
                    m.insert(
                        "address".into(),
                        b.address.clone().map_or(Dynamic::UNIT, Dynamic::from),
                    );
                    m.insert("reason".into(), b.reason.clone().into());
                    Dynamic::from(m)
                })
                .collect::<Array>()
                .into(),
            "rfm" => c.rfm.as_ref().map_or(Dynamic::UNIT, |r| {
                let mut m = Map::new();
                m.insert("r".into(), i64::from(r.r).into());
                m.insert("f".into(), i64::from(r.f).into());
                m.insert("m".into(), i64::from(r.m).into());
                m.insert("segment".into(), r.segment.to_string().into());
                m.insert("top".into(), r.top.into());
                m.insert("revenue_12m".into(), r.revenue_12m.into());
                m.into()
            }),
            // A view, not a map: only the figure a script reads is computed.
            "stats" => Dynamic::from(StatsView(self.clone())),
            other => return Err(format!("customer has no field {other:?}").into()),
        })
    }
}

/// `customer.stats` in a script.
#[derive(Debug, Clone)]
pub struct StatsView(CustomerView);

impl StatsView {
    /// `customer.stats.<field>`.
    pub fn get(&mut self, field: &str) -> Res<Dynamic> {
        let c = &self.0.customer;
        let s = &c.stats;
        Ok(match field {
            "orders" => (s.orders as i64).into(),
            "revenue" => s.revenue.into(),
            "spend_12m" => c.loyalty.spend_12m(self.0.at).into(),
            "first_order" => opt_time(s.first_order),
            "last_order" => opt_time(s.last_order),
            "avg_days_between_orders" => s
                .avg_days_between_orders
                .map_or(Dynamic::UNIT, Dynamic::from),
            "last_inbound" => opt_time(s.last_inbound),
            "last_outbound" => opt_time(s.last_outbound),
            "open_inquiries" => (s.open_inquiries.len() as i64).into(),
            "unsolved_complaints" => (self.0.customer.complaints.unsolved() as i64).into(),
            "events" => (s.events as i64).into(),
            other => return Err(format!("customer.stats has no field {other:?}").into()),
        })
    }
}

impl ScriptTime {
    fn zoned(&self) -> jiff::Zoned {
        self.ts.to_zoned(self.tz.clone())
    }

    /// Calendar fields in the time's zone.
    pub fn field(&mut self, name: &str) -> Res<Dynamic> {
        let z = self.zoned();
        Ok(match name {
            "year" => i64::from(z.year()).into(),
            "month" => i64::from(z.month()).into(),
            "day" => i64::from(z.day()).into(),
            "hour" => i64::from(z.hour()).into(),
            "minute" => i64::from(z.minute()).into(),
            "weekday" => i64::from(z.weekday().to_monday_one_offset()).into(),
            other => return Err(format!("a time has no field {other:?}").into()),
        })
    }
}

impl std::fmt::Display for ScriptTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offset = self.tz.to_offset(self.ts);
        write!(f, "{}", self.ts.display_with_offset(offset))
    }
}
