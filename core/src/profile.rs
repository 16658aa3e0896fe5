//! Profile fields and their parsing: kind, time zone, birthday, business hours.
//!
//! Profile data arrives as loosely typed attributes of a `profile` event (or a CSV row). It is
//! parsed here, once, into types that later code (guards, campaigns) can rely on: a time zone
//! that exists, a birthday that is a real date, opening hours that are well-formed.

use std::{collections::BTreeSet, fmt, str::FromStr};

use jiff::civil::{Time, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::FieldError;

/// Whether the customer is a person or a business; decides which contact hours apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomerKind {
    /// A private person: contact between 08:00 and 21:00 in their zone.
    #[default]
    Personal,
    /// A business: contact within its business hours.
    Business,
}

impl FromStr for CustomerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "personal" => Ok(Self::Personal),
            "business" => Ok(Self::Business),
            other => Err(format!("{other:?} is not \"personal\" or \"business\"")),
        }
    }
}

impl fmt::Display for CustomerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Personal => "personal",
            Self::Business => "business",
        })
    }
}

/// A birthday: month and day, with the year when known (`1990-05-14` or `05-14`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birthday {
    /// Birth year, if given.
    pub year: Option<i16>,
    /// Month, 1–12.
    pub month: i8,
    /// Day of month, 1–31 (29 February allowed).
    pub day: i8,
}

impl FromStr for Birthday {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a birthday (YYYY-MM-DD or MM-DD)");
        let parts: Vec<&str> = s.split('-').collect();
        let (year, month, day) = match parts.as_slice() {
            [y, m, d] if y.len() == 4 => (Some(y.parse::<i16>().map_err(|_| bad())?), m, d),
            [m, d] => (None, m, d),
            _ => return Err(bad()),
        };
        let month: i8 = month.parse().map_err(|_| bad())?;
        let day: i8 = day.parse().map_err(|_| bad())?;
        // 2000 is a leap year, so 29 February is accepted without a year.
        jiff::civil::Date::new(year.unwrap_or(2000), month, day).map_err(|_| bad())?;
        Ok(Self { year, month, day })
    }
}

impl fmt::Display for Birthday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "{:02}-{:02}", self.month, self.day),
        }
    }
}

/// Opening hours of a business customer, e.g. `Mon-Fri 09:00-18:00; Sat 10:00-14:00`.
///
/// Kept in a parsed form so that the quiet-hours guard can find the next opening without
/// re-parsing text on every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    windows: Vec<HoursWindow>,
}

/// One line of business hours: a set of weekdays and a daily open–close range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursWindow {
    /// The weekdays the range applies to.
    pub days: BTreeSet<DayOfWeek>,
    /// Opening time (inclusive).
    pub open: Time,
    /// Closing time (exclusive).
    pub close: Time,
}

/// A weekday, Monday first (ISO 8601 numbering 1–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayOfWeek(pub i8);

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl DayOfWeek {
    fn parse(s: &str) -> Option<Self> {
        DAY_NAMES
            .iter()
            .position(|d| d.eq_ignore_ascii_case(s))
            .map(|i| Self(i as i8 + 1))
    }

    /// The jiff weekday, for calendar arithmetic.
    pub fn weekday(self) -> Weekday {
        Weekday::from_monday_one_offset(self.0).unwrap_or(Weekday::Monday)
    }
}

impl BusinessHours {
    /// Mon–Fri 09:00–18:00, used for business customers who gave no hours.
    pub fn default_office() -> Self {
        Self::from_str("Mon-Fri 09:00-18:00").unwrap_or(Self {
            windows: Vec::new(),
        })
    }

    /// The parsed windows.
    pub fn windows(&self) -> &[HoursWindow] {
        &self.windows
    }
}

impl FromStr for BusinessHours {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut windows = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            windows.push(parse_window(part).map_err(|why| {
                format!("{part:?}: {why} (expected like \"Mon-Fri 09:00-18:00; Sat 10:00-14:00\")")
            })?);
        }
        if windows.is_empty() {
            return Err("no opening hours given".into());
        }
        Ok(Self { windows })
    }
}

fn parse_window(part: &str) -> Result<HoursWindow, String> {
    let (days, hours) = part.split_once(' ').ok_or("missing hours after the days")?;
    let mut set = BTreeSet::new();
    for item in days.split(',') {
        let (from, to) = item.split_once('-').unwrap_or((item, item));
        let from = DayOfWeek::parse(from).ok_or(format!("unknown day {from:?}"))?;
        let to = DayOfWeek::parse(to).ok_or(format!("unknown day {to:?}"))?;
        if to < from {
            return Err(format!("day range {item:?} runs backwards"));
        }
        set.extend((from.0..=to.0).map(DayOfWeek));
    }
    let (open, close) = hours.trim().split_once('-').ok_or("hours need a range")?;
    let open = Time::from_str(open).map_err(|_| format!("bad time {open:?}"))?;
    let close = Time::from_str(close).map_err(|_| format!("bad time {close:?}"))?;
    if close <= open {
        return Err("closing time must be after opening time".into());
    }
    Ok(HoursWindow {
        days: set,
        open,
        close,
    })
}

impl fmt::Display for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.windows.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let days: Vec<&str> = w.days.iter().map(|d| DAY_NAMES[d.0 as usize - 1]).collect();
            write!(
                f,
                "{} {}-{}",
                days.join(","),
                w.open.strftime("%H:%M"),
                w.close.strftime("%H:%M")
            )?;
        }
        Ok(())
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Birthday);
serde_via_str!(BusinessHours);

/// The fields a `profile` event sets; absent fields leave the projection as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileUpdate {
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number, for SMS.
    pub phone: Option<String>,
    /// Person or business.
    pub kind: Option<CustomerKind>,
    /// IANA time zone name, checked against the time zone database.
    pub tz: Option<String>,
    /// Birthday.
    pub birthday: Option<Birthday>,
    /// Opening hours (business customers).
    pub business_hours: Option<BusinessHours>,
    /// Tags to add.
    pub tags: Vec<String>,
    /// Other text fields whose name could be an address field (`line_id`), at most
    /// [`MAX_OTHER_LEN`] bytes each; the rest pass through to scripts only.
    pub other: Vec<(String, String)>,
}

/// Other profile fields a customer's projection keeps at most.
pub const MAX_OTHER_FIELDS: usize = 32;

/// The longest value of another profile field that is kept.
pub const MAX_OTHER_LEN: usize = 256;

impl ProfileUpdate {
    /// Parses the attributes of a `profile` event, reporting every bad field.
    pub fn from_attrs(attrs: &Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut update = Self::default();
        for (field, value) in attrs {
            let text = || match value {
                Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err("must be a string".to_owned()),
            };
            let result: Result<(), String> = (|| {
                match field.as_str() {
                    "name" => update.name = Some(non_empty(text()?)?),
                    "email" => update.email = Some(check_email(text()?)?),
                    "phone" => update.phone = Some(check_phone(text()?)?),
                    "kind" => update.kind = Some(text()?.parse()?),
                    "tz" => update.tz = Some(check_tz(text()?)?),
                    "birthday" => update.birthday = Some(text()?.parse()?),
                    "business_hours" => update.business_hours = Some(text()?.parse()?),
                    "tags" => update.tags = parse_tags(value)?,
                    other => {
                        // Kept when it could address the customer on some channel; every
                        // attribute also passes through to scripts.
                        if let Value::String(text) = value
                            && !text.trim().is_empty()
                            && text.len() <= MAX_OTHER_LEN
                            && matches!(other.parse(), Ok(kizuna_channel::AddressField::Profile(_)))
                        {
                            update
                                .other
                                .push((other.to_owned(), text.trim().to_owned()));
                        }
                    }
                }
                Ok(())
            })();
            if let Err(reason) = result {
                errors.push(FieldError::new(field, reason));
            }
        }
        if errors.is_empty() {
            Ok(update)
        } else {
            Err(errors)
        }
    }
}

fn non_empty(s: String) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s)
    }
}

fn check_email(s: String) -> Result<String, String> {
    match s.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && !s.contains(' ') => {
            Ok(s)
        }
        _ => Err("is not an e-mail address".into()),
    }
}

fn check_phone(s: String) -> Result<String, String> {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let allowed = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'));
    if allowed && (6..=15).contains(&digits) {
        Ok(s)
    } else {
        Err("is not a phone number (digits, optional +, - and spaces)".into())
    }
}

fn check_tz(s: String) -> Result<String, String> {
    jiff::tz::TimeZone::get(&s).map_err(|_| format!("{s:?} is not a known IANA time zone"))?;
    Ok(s)
}

fn parse_tags(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("must be an array of strings".into());
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            _ => Err("must be an array of non-empty strings".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birthdays() {
        assert_eq!(
            "1990-05-14".parse::<Birthday>().unwrap().to_string(),
            "1990-05-14"
        );
        assert_eq!("02-29".parse::<Birthday>().unwrap().to_string(), "02-29");
        assert!("1991-02-29".parse::<Birthday>().is_err());
        assert!("13-01".parse::<Birthday>().is_err());
    }

    #[test]
    fn business_hours_round_trip_and_errors() {
        let h: BusinessHours = "Mon-Fri 09:00-18:00; sat 10:00-14:00".parse().unwrap();
        assert_eq!(
            h.to_string(),
            "Mon,Tue,Wed,Thu,Fri 09:00-18:00; Sat 10:00-14:00"
        );
        assert_eq!(h.windows()[0].days.len(), 5);
        assert!("Mon-Fri 18:00-09:00".parse::<BusinessHours>().is_err());
        assert!("Fri-Mon 09:00-18:00".parse::<BusinessHours>().is_err());
        assert!("Someday 09:00-18:00".parse::<BusinessHours>().is_err());
        assert_eq!(BusinessHours::default_office().windows().len(), 1);
    }

    #[test]
    fn profile_update_reports_every_bad_field() {
        let attrs: Map<String, Value> = serde_json::from_str(
            r#"{"name":"Aiko","email":"nope","kind":"robot","tz":"Asia/Tokyo","phone":"+81 90-1234-5678"}"#,
        )
        .unwrap();
        let errors = ProfileUpdate::from_attrs(&attrs).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "kind"]);
        let attrs: Map<String, Value> =
            serde_json::from_str(r#"{"tz":"Mars/Olympus","tags":["vip"]}"#).unwrap();
        assert_eq!(
            ProfileUpdate::from_attrs(&attrs).unwrap_err()[0].field,
            "tz"
        );
    }
}
