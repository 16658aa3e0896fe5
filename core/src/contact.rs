//! When and how often a customer may be contacted: contact counts and opening hours.
//!
//! These are the facts the guards need and Rhai should not compute itself: counting
//! messages per rolling window or per *local* calendar day, and finding the next moment a
//! person (08:00–21:00 by default) or a business (its opening hours) may be contacted —
//! correctly across daylight-saving changes, which jiff's zoned arithmetic handles.

use jiff::{SignedDuration, Timestamp, ToSpan, Zoned, civil::Time, tz::TimeZone};

use crate::{
    customer::Customer,
    profile::{BusinessHours, CustomerKind},
    rules::MessageClass,
};

/// The customer's time zone (UTC when they have none).
pub fn zone(c: &Customer) -> TimeZone {
    c.profile
        .tz
        .as_deref()
        .and_then(|tz| TimeZone::get(tz).ok())
        .unwrap_or(TimeZone::UTC)
}

/// Messages of `class` sent to the customer in the `days` days before `now` (rolling).
pub fn sent_within(c: &Customer, now: Timestamp, days: i64, class: MessageClass) -> usize {
    let from = now - SignedDuration::from_hours(24 * days);
    c.contacts
        .iter()
        .filter(|m| m.class == class && m.at > from && m.at <= now)
        .count()
}

/// Messages of `class` sent to the customer on `now`'s calendar day in their time zone.
pub fn sent_today(c: &Customer, now: Timestamp, class: MessageClass) -> usize {
    let tz = zone(c);
    let today = now.to_zoned(tz.clone()).date();
    c.contacts
        .iter()
        .filter(|m| m.class == class && m.at <= now && m.at.to_zoned(tz.clone()).date() == today)
        .count()
}

/// `None` if the customer may be contacted at `now`, else the next moment they may.
/// Personal customers: between `from` and `until` local time every day. Business
/// customers: within their business hours (Mon–Fri 09:00–18:00 if they gave none).
pub fn next_opening(c: &Customer, now: Timestamp, from: Time, until: Time) -> Option<Timestamp> {
    let tz = zone(c);
    let local = now.to_zoned(tz.clone());
    let windows: Vec<(Vec<i8>, Time, Time)> = match c.profile.kind {
        CustomerKind::Personal => vec![((1..=7).collect(), from, until)],
        CustomerKind::Business => {
            let hours = c
                .profile
                .business_hours
                .clone()
                .unwrap_or_else(BusinessHours::default_office);
            hours
                .windows()
                .iter()
                .map(|w| (w.days.iter().map(|d| d.0).collect(), w.open, w.close))
                .collect()
        }
    };
    let mut best: Option<Timestamp> = None;
    for day in 0..8_i64 {
        let Ok(date) = local.date().checked_add(day.days()) else {
            continue;
        };
        let weekday = date.weekday().to_monday_one_offset();
        for (days, open, close) in &windows {
            if !days.contains(&weekday) {
                continue;
            }
            let at = |t: Time| -> Option<Zoned> { date.to_datetime(t).to_zoned(tz.clone()).ok() };
            let (Some(open), Some(close)) = (at(*open), at(*close)) else {
                continue;
            };
            if open.timestamp() <= now && now < close.timestamp() {
                return None;
            }
            if open.timestamp() > now && best.is_none_or(|b| open.timestamp() < b) {
                best = Some(open.timestamp());
            }
        }
        if best.is_some() {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn customer(profile: &str) -> Customer {
        let mut c = Customer::new("c-1".parse().unwrap());
        let json = format!(
            r#"{{"customer":"c-1","type":"profile","at":"2026-01-01T00:00:00Z",{profile}}}"#
        );
        c.apply(&Event::from_json_str(&json).unwrap());
        c
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const EIGHT: Time = Time::constant(8, 0, 0, 0);
    const NINE_PM: Time = Time::constant(21, 0, 0, 0);

    #[test]
    fn personal_hours_are_local_and_exclusive_at_nine() {
        let c = customer(r#""tz":"Asia/Tokyo""#);
        // 20:59 and 21:01 in Tokyo.
        assert_eq!(
            next_opening(&c, ts("2026-03-02T11:59:00Z"), EIGHT, NINE_PM),
            None
        );
        assert_eq!(
            next_opening(&c, ts("2026-03-02T12:01:00Z"), EIGHT, NINE_PM),
            Some(ts("2026-03-02T23:00:00Z")),
            "08:00 the next morning in Tokyo"
        );
    }

    #[test]
    fn the_next_opening_respects_daylight_saving() {
        let c = customer(r#""tz":"America/Los_Angeles""#);
        // 22:00 on Saturday 7 March 2026 (PST); clocks go forward that night.
        let next = next_opening(&c, ts("2026-03-08T06:00:00Z"), EIGHT, NINE_PM).unwrap();
        assert_eq!(
            next,
            ts("2026-03-08T15:00:00Z"),
            "08:00 PDT is 15:00 UTC, not 16:00"
        );
    }

    #[test]
    fn business_hours_skip_the_weekend() {
        let c = customer(
            r#""kind":"business","tz":"Asia/Tokyo","business_hours":"Mon-Fri 09:00-18:00""#,
        );
        // Saturday 7 March 2026, 10:00 Tokyo.
        let next = next_opening(&c, ts("2026-03-07T01:00:00Z"), EIGHT, NINE_PM).unwrap();
        assert_eq!(next, ts("2026-03-09T00:00:00Z"), "Monday 09:00 in Tokyo");
    }
}
