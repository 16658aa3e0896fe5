//! Predicates over customers — `fn matches(customer)` — and the seasonal campaigns that use
//! them.
//!
//! A segment is a file in `rules/segments/` whose `matches(customer)` says who is in it; a
//! seasonal campaign is a script in `rules/campaigns/` that declares a date window and the
//! message, and defines `matches(customer)` for its audience:
//!
//! ```rhai
//! const WINDOW = ["12-01", "12-20"];   // month-day, inclusive; may cross new year
//! const TZ = "Asia/Tokyo";             // the zone the dates are read in (default UTC)
//! const TEMPLATE = "year_end_gift";    // rules/templates/<TEMPLATE>.<CHANNEL>
//! const CHANNEL = "email";             // default email
//! const CLASS = "marketing";           // default marketing
//! fn matches(customer) { customer.segment == "champions" }
//! ```

use std::sync::Arc;

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use rhai::Dynamic;

use super::{RuleSet, read_sources, rule_error};
use crate::{
    customer::Customer,
    rules::{
        MessageClass,
        error::{CompileError, LoadError, RuleError, ScriptPos},
        view::CustomerView,
    },
};

/// A seasonal campaign: a message to an audience once a year, in a date window.
#[derive(Debug, Clone, PartialEq)]
pub struct Seasonal {
    /// The script that declares it (and whose `matches` picks the audience).
    pub script: String,
    /// Campaign name (see [`crate::rules::Effect::Send`]).
    pub campaign: String,
    /// First day, as (month, day).
    pub from: (i8, i8),
    /// Last day, inclusive, as (month, day); before `from` when the window crosses new year.
    pub until: (i8, i8),
    /// The zone the window's dates are read in.
    pub tz: TimeZone,
    /// Channel of the message.
    pub channel: String,
    /// Template of the message.
    pub template: String,
    /// Class of the message.
    pub class: MessageClass,
}

impl Seasonal {
    /// The year whose window is open at `now` (the year the window started in), if any:
    /// the key that makes the campaign run once a year.
    pub fn open_at(&self, now: Timestamp) -> Option<i16> {
        let today = now.to_zoned(self.tz.clone()).date();
        let md = (today.month(), today.day());
        let wraps = self.until < self.from;
        if !wraps {
            (self.from <= md && md <= self.until).then_some(today.year())
        } else if md >= self.from {
            Some(today.year())
        } else if md <= self.until {
            Some(today.year() - 1)
        } else {
            None
        }
    }
}

fn decl_error(name: &str, message: String) -> CompileError {
    CompileError {
        pos: ScriptPos {
            file: name.into(),
            line: None,
            column: None,
        },
        message,
        source_line: None,
    }
}

fn month_day(name: &str, text: &str) -> Result<(i8, i8), CompileError> {
    let bad = || {
        decl_error(
            name,
            format!("WINDOW dates are \"MM-DD\", e.g. \"12-01\"; got {text:?}"),
        )
    };
    let (m, d) = text.split_once('-').ok_or_else(bad)?;
    let (m, d): (i8, i8) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    // 2024 is a leap year, so 02-29 is accepted.
    Date::new(2024, m, d).map_err(|_| bad())?;
    Ok((m, d))
}

/// Reads a script's seasonal declaration (`const WINDOW`), checking every part of it at
/// load time so a typo is a compile error, not a campaign that silently never runs.
pub(super) fn seasonal(
    name: &str,
    constants: &std::collections::HashMap<String, Dynamic>,
    campaign: Option<&str>,
) -> Result<Option<Seasonal>, CompileError> {
    let Some(window) = constants.get("WINDOW") else {
        return Ok(None);
    };
    let text = |key: &str, default: &str| -> Result<String, CompileError> {
        match constants.get(key) {
            None => Ok(default.to_owned()),
            Some(v) => v
                .clone()
                .into_string()
                .map_err(|_| decl_error(name, format!("{key} must be a string"))),
        }
    };
    let dates: Vec<String> = window
        .clone()
        .try_cast::<rhai::Array>()
        .and_then(|a| a.into_iter().map(|d| d.into_string().ok()).collect())
        .filter(|d: &Vec<String>| d.len() == 2)
        .ok_or_else(|| {
            decl_error(
                name,
                "WINDOW must be [\"MM-DD\", \"MM-DD\"] (first and last day)".into(),
            )
        })?;
    let tz_name = text("TZ", "UTC")?;
    let tz = TimeZone::get(&tz_name)
        .map_err(|_| decl_error(name, format!("TZ {tz_name:?} is not a known time zone")))?;
    let class_name = text("CLASS", "marketing")?;
    let class = MessageClass::parse(&class_name).ok_or_else(|| {
        decl_error(
            name,
            format!("CLASS {class_name:?} is not marketing, transactional or service"),
        )
    })?;
    let template = text("TEMPLATE", "")?;
    if template.is_empty() {
        return Err(decl_error(
            name,
            "a seasonal campaign (WINDOW) needs const TEMPLATE".into(),
        ));
    }
    Ok(Some(Seasonal {
        script: name.into(),
        campaign: campaign.unwrap_or(name).to_owned(),
        from: month_day(name, &dates[0])?,
        until: month_day(name, &dates[1])?,
        tz,
        channel: text("CHANNEL", "email")?,
        template,
        class,
    }))
}

impl RuleSet {
    /// Loads the segment files, `rules_dir/segments/*.rhai` (none if the folder is
    /// missing). Each must define `matches(customer)`.
    pub fn load_segments(rules_dir: &std::path::Path) -> Result<Self, LoadError> {
        let set = Self::compile(read_sources(rules_dir, "segments")?, Some(rules_dir))?;
        let missing: Vec<CompileError> = set
            .scripts
            .iter()
            .filter(|s| !s.matches)
            .map(|s| decl_error(&s.name, "a segment must define fn matches(customer)".into()))
            .collect();
        if missing.is_empty() {
            Ok(set)
        } else {
            Err(LoadError::Compile(missing))
        }
    }

    /// Scripts that define `matches(customer)`, in load order.
    pub fn predicates(&self) -> impl Iterator<Item = &str> {
        self.scripts
            .iter()
            .filter(|s| s.matches)
            .map(|s| s.name.as_str())
    }

    /// The seasonal campaigns declared by the scripts.
    pub fn seasonal(&self) -> impl Iterator<Item = &Seasonal> {
        self.scripts.iter().filter_map(|s| s.seasonal.as_ref())
    }

    /// Runs `script`'s `matches(customer)` as of `at`. A script error, or a result that is
    /// not a boolean, is an error for this customer (the caller decides to skip or stop).
    pub fn matches(
        &self,
        script: &str,
        customer: &Arc<Customer>,
        at: Timestamp,
    ) -> Result<bool, Box<RuleError>> {
        let Some(s) = self.scripts.iter().find(|s| s.name == script && s.matches) else {
            return Err(Box::new(self.predicate_error(
                script,
                customer,
                "defines no fn matches(customer)",
            )));
        };
        let view = CustomerView {
            customer: Arc::clone(customer),
            at,
        };
        let (result, effects) =
            self.call(s, "matches", at, customer, false, (Dynamic::from(view),));
        match result {
            Err(err) => Err(Box::new(rule_error(
                s,
                "matches",
                &err,
                "",
                customer.id.as_str(),
            ))),
            Ok(_) if !effects.is_empty() => Err(Box::new(self.predicate_error(
                script,
                customer,
                "matches may only answer; it called an action",
            ))),
            Ok(v) => v.as_bool().map_err(|_| {
                Box::new(self.predicate_error(
                    script,
                    customer,
                    "matches must return true or false",
                ))
            }),
        }
    }

    fn predicate_error(&self, script: &str, customer: &Customer, message: &str) -> RuleError {
        let line = self
            .scripts
            .iter()
            .find(|s| s.name == script)
            .and_then(|s| s.fn_lines.get("matches").copied());
        RuleError {
            function: "matches".into(),
            pos: ScriptPos {
                file: script.into(),
                line,
                column: None,
            },
            message: message.into(),
            event: String::new(),
            customer: customer.id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(consts: &str) -> Result<Option<Seasonal>, LoadError> {
        let set = RuleSet::compile(
            vec![(
                "campaigns/gift.rhai".into(),
                format!("{consts}\nfn matches(customer) {{ customer.segment == \"champions\" }}"),
            )],
            None,
        )?;
        Ok(set.seasonal().next().cloned())
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_is_open_on_its_days_in_its_zone_and_may_cross_new_year() {
        let s = decl(r#"const WINDOW = ["12-01", "12-20"]; const TZ = "Asia/Tokyo"; const TEMPLATE = "gift";"#)
            .unwrap()
            .unwrap();
        assert_eq!(s.campaign, "gift");
        // 15:00 UTC on 30 November is midnight, 1 December, in Tokyo.
        assert_eq!(s.open_at(at("2026-11-30T14:59:59Z")), None);
        assert_eq!(s.open_at(at("2026-11-30T15:00:00Z")), Some(2026));
        assert_eq!(s.open_at(at("2026-12-20T14:59:59Z")), Some(2026));
        assert_eq!(s.open_at(at("2026-12-20T15:00:00Z")), None);
        let wrap = decl(r#"const WINDOW = ["12-28", "01-05"]; const TEMPLATE = "new_year";"#)
            .unwrap()
            .unwrap();
        assert_eq!(wrap.open_at(at("2026-12-30T00:00:00Z")), Some(2026));
        assert_eq!(wrap.open_at(at("2027-01-05T23:00:00Z")), Some(2026));
        assert_eq!(wrap.open_at(at("2027-01-06T00:00:00Z")), None);
    }

    #[test]
    fn a_bad_declaration_is_a_load_error() {
        for bad in [
            r#"const WINDOW = ["12-01"]; const TEMPLATE = "t";"#,
            r#"const WINDOW = ["13-01", "12-20"]; const TEMPLATE = "t";"#,
            r#"const WINDOW = ["12-01", "12-20"];"#,
            r#"const WINDOW = ["12-01", "12-20"]; const TEMPLATE = "t"; const TZ = "Mars/Base";"#,
            r#"const WINDOW = ["12-01", "12-20"]; const TEMPLATE = "t"; const CLASS = "spam";"#,
        ] {
            assert!(decl(bad).is_err(), "{bad}");
        }
        assert_eq!(decl("const X = 1;").unwrap(), None);
    }

    #[test]
    fn matches_answers_per_customer_and_reports_bad_answers() {
        let set = RuleSet::compile(
            vec![
                (
                    "segments/big.rhai".into(),
                    "fn matches(c) { c.stats.orders >= 2 }".into(),
                ),
                ("segments/bad.rhai".into(), "fn matches(c) { 42 }".into()),
            ],
            None,
        )
        .unwrap();
        let mut c = Customer::new(crate::ids::CustomerId::new("c-1").unwrap());
        c.stats.orders = 3;
        let c = Arc::new(c);
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(set.matches("segments/big.rhai", &c, now), Ok(true));
        let err = set.matches("segments/bad.rhai", &c, now).unwrap_err();
        assert!(err.message.contains("true or false"), "{err}");
        assert!(set.matches("segments/none.rhai", &c, now).is_err());
    }
}
