//! Event time: an instant plus the UTC offset it was written with.
//!
//! Ordering and arithmetic use the instant; the offset is kept so that an event written as
//! `10:15+09:00` reads back as `10:15+09:00`, not as `01:15Z`. Events must carry an explicit
//! offset: a bare local time is ambiguous, and kizuna never guesses time.

use std::{cmp::Ordering, fmt, str::FromStr};

use jiff::{Timestamp, fmt::temporal::Pieces, tz::Offset};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(String);

/// An RFC 3339 time with its offset, e.g. `2026-03-01T10:15:00+09:00`.
#[derive(Debug, Clone, Copy)]
pub struct EventTime {
    instant: Timestamp,
    offset: Offset,
}

impl EventTime {
    /// An instant shown with a given offset.
    pub fn new(instant: Timestamp, offset: Offset) -> Self {
        Self { instant, offset }
    }

    /// An instant shown in UTC.
    pub fn utc(instant: Timestamp) -> Self {
        Self::new(instant, Offset::UTC)
    }

    /// The instant, for ordering and arithmetic.
    pub fn instant(&self) -> Timestamp {
        self.instant
    }

    /// The offset the time was written with.
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// Parses RFC 3339 with a mandatory offset (`Z` counts as one).
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let bad = |why: &dyn fmt::Display| {
            TimeError(format!(
                "{s:?} is not an RFC 3339 time with offset (like 2026-03-01T10:15:00+09:00): {why}"
            ))
        };
        let instant = Timestamp::from_str(s).map_err(|e| bad(&e))?;
        let pieces = Pieces::parse(s).map_err(|e| bad(&e))?;
        let offset = match pieces.offset() {
            Some(jiff::fmt::temporal::PiecesOffset::Numeric(n)) => n.offset(),
            _ => Offset::UTC,
        };
        Ok(Self { instant, offset })
    }

    /// [`EventTime::parse`] plus the rules of the door: what a new event may say about its
    /// own time. A year outside [`YEARS`], an offset beyond ±23:59 or with seconds, and a
    /// leap second (`:60`, which jiff would quietly read as `:59`) are refused. Stored
    /// events are decoded with the plain parse, so tightening these rules never makes an
    /// acknowledged event unreadable.
    pub fn parse_new(s: &str) -> Result<Self, TimeError> {
        let t = Self::parse(s)?;
        let refuse = |why: String| Err(TimeError(format!("{s:?} {why}")));
        let local = t.instant.to_zoned(jiff::tz::TimeZone::fixed(t.offset));
        if !YEARS.contains(&local.year()) {
            return refuse(format!(
                "is out of range: the year must be {} to {}",
                YEARS.start(),
                YEARS.end()
            ));
        }
        let seconds = t.offset.seconds();
        if seconds.abs() > MAX_OFFSET_SECONDS || seconds % 60 != 0 {
            return refuse("has an offset beyond ±23:59 or with seconds".into());
        }
        // `YYYY-MM-DDTHH:MM:SS`: the seconds are bytes 17 and 18.
        if s.as_bytes().get(16) == Some(&b':') && s.get(17..19) == Some("60") {
            return refuse("is a leap second; write :59 or the next minute".into());
        }
        Ok(t)
    }
}

/// The years a new event may be in: nothing a customer did predates 1900, and a time past
/// 2999 is a typo, not a plan.
pub const YEARS: std::ops::RangeInclusive<i16> = 1900..=2999;

/// RFC 3339's widest offset, ±23:59.
const MAX_OFFSET_SECONDS: i32 = 23 * 3600 + 59 * 60;

impl PartialEq for EventTime {
    fn eq(&self, other: &Self) -> bool {
        self.instant == other.instant
    }
}
impl Eq for EventTime {}
impl PartialOrd for EventTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EventTime {
    fn cmp(&self, other: &Self) -> Ordering {
        self.instant.cmp(&other.instant)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.instant.display_with_offset(self.offset))
    }
}

impl FromStr for EventTime {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, TimeError> {
        Self::parse(s)
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whole days from `from` to `to` (negative if `to` is earlier), for recency figures.
pub fn days_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.as_second() - from.as_second()) as f64 / 86_400.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_offset_it_was_written_with() {
        let t = EventTime::parse("2026-03-01T10:15:00+09:00").unwrap();
        assert_eq!(t.to_string(), "2026-03-01T10:15:00+09:00");
        assert_eq!(t.instant().to_string(), "2026-03-01T01:15:00Z");
        let z = EventTime::parse("2026-03-01T01:15:00Z").unwrap();
        assert_eq!(t, z, "same instant compares equal");
        assert_eq!(z.to_string(), "2026-03-01T01:15:00+00:00");
    }

    #[test]
    fn refuses_times_without_offset_or_garbage() {
        assert!(EventTime::parse("2026-03-01T10:15:00").is_err());
        assert!(EventTime::parse("yesterday").is_err());
        assert!(EventTime::parse("2026-02-30T10:00:00Z").is_err());
    }

    #[test]
    fn the_door_refuses_odd_years_offsets_and_leap_seconds() {
        for bad in [
            "0000-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "3000-01-01T00:00:00Z",
            "2026-03-01T10:15:00+24:00",
            "2026-03-01T10:15:00-25:30",
            "2026-03-01T10:15:00+09:00:30",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(EventTime::parse_new(bad).is_err(), "{bad} passed the door");
        }
        for good in [
            "1900-01-01T00:00:00Z",
            "2999-12-31T23:59:59+00:00",
            "2026-03-01T10:15:00+23:59",
            "2026-03-01T10:15:00-23:59",
            "2026-03-01T10:15:59.999+09:00",
        ] {
            assert!(EventTime::parse_new(good).is_ok(), "{good} was refused");
        }
        // Stored events are read with the plain parse, which stays as lenient as it was.
        assert!(EventTime::parse("0000-01-01T00:00:00Z").is_ok());
    }
}
