//! Identifiers: customer ids, event ids and event kinds.
//!
//! Ids come from outside (a shop system, a CSV export), so they are validated once at the
//! edge and then carried as types that cannot be confused with each other or with free text.
//! The store builds keys from them, which is why control characters (NUL in particular, the
//! key separator) are rejected.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use kizuna_channel::ids::{CustomerId, IdError, MAX_ID_LEN};
use kizuna_channel::string_id;

string_id!(
    /// An event's id. Given by the source system, or derived from the event's content so that
    /// re-importing the same data is idempotent (see [`crate::Event::derive_id`]).
    EventId
);

/// What happened. The kinds the core understands get their own variant; every other type is
/// kept as [`EventKind::Other`] and passed to scripts untouched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Profile fields: name, email, phone, kind, tz, birthday, business_hours, tags.
    Profile,
    /// A purchase: `amount` (integer, smallest currency unit) and optional `items`.
    Purchase,
    /// The customer asked something; open until a `reply`.
    Inquiry,
    /// The customer complained; open until a `reply`.
    Complaint,
    /// Staff answered an inquiry or complaint.
    Reply,
    /// A manual call or visit by staff.
    Contact,
    /// The customer declined an `offer`.
    Decline,
    /// The customer consented to a `channel`.
    OptIn,
    /// The customer withdrew consent for a `channel`.
    OptOut,
    /// The dispatcher sent a message.
    MessageSent,
    /// Any other type, kept for scripts.
    Other(String),
}

impl EventKind {
    /// Parses a type name, checking that an unknown one is still a sensible identifier.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Ok(match s {
            "profile" => Self::Profile,
            "purchase" => Self::Purchase,
            "inquiry" => Self::Inquiry,
            "complaint" => Self::Complaint,
            "reply" => Self::Reply,
            "contact" => Self::Contact,
            "decline" => Self::Decline,
            "opt_in" => Self::OptIn,
            "opt_out" => Self::OptOut,
            "message_sent" => Self::MessageSent,
            other => {
                let ok = !other.is_empty()
                    && other.len() <= 64
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(IdError::BadKind);
                }
                Self::Other(other.to_owned())
            }
        })
    }

    /// The type name as written in events.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Profile => "profile",
            Self::Purchase => "purchase",
            Self::Inquiry => "inquiry",
            Self::Complaint => "complaint",
            Self::Reply => "reply",
            Self::Contact => "contact",
            Self::Decline => "decline",
            Self::OptIn => "opt_in",
            Self::OptOut => "opt_out",
            Self::MessageSent => "message_sent",
            Self::Other(s) => s,
        }
    }

    /// Contact initiated by the customer (counts as "last inbound contact").
    pub fn is_inbound(&self) -> bool {
        matches!(self, Self::Inquiry | Self::Complaint)
    }

    /// Contact initiated by the business (counts as "last outbound contact").
    pub fn is_outbound(&self) -> bool {
        matches!(self, Self::Reply | Self::Contact | Self::MessageSent)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_long_and_control() {
        assert_eq!(CustomerId::new(""), Err(IdError::Empty));
        assert_eq!(CustomerId::new("a".repeat(129)), Err(IdError::TooLong(129)));
        assert_eq!(CustomerId::new("a\0b"), Err(IdError::ControlChar));
        assert_eq!(
            CustomerId::new("c-42").map(|c| c.to_string()),
            Ok("c-42".into())
        );
    }

    #[test]
    fn kinds_round_trip_and_unknown_kinds_are_kept() {
        for name in ["profile", "opt_in", "message_sent", "redeem", "visit_2"] {
            assert_eq!(EventKind::parse(name).unwrap().as_str(), name);
        }
        assert!(matches!(
            EventKind::parse("redeem"),
            Ok(EventKind::Other(_))
        ));
        assert_eq!(EventKind::parse("Purchase!"), Err(IdError::BadKind));
        assert_eq!(EventKind::parse(""), Err(IdError::BadKind));
    }
}
