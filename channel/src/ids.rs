//! The ids a channel sees: the customer's and the outbox message's.
//!
//! Ids come from outside (a shop system, a CSV export), so they are validated once at the
//! edge and then carried as types that cannot be confused with each other or with free text.
//! The store builds keys from them, which is why control characters (NUL in particular, the
//! key separator) are rejected. [`string_id!`](crate::string_id) makes such a type; the
//! core makes its event id with it too.

/// Longest id accepted, in bytes. Long enough for UUIDs, e-mail-like ids and shop order
/// numbers; short enough that index keys stay small.
pub const MAX_ID_LEN: usize = 128;

/// Why an id or event type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id was the empty string.
    #[error("must not be empty")]
    Empty,
    /// The id was longer than [`MAX_ID_LEN`] bytes.
    #[error("is {0} bytes long; at most {MAX_ID_LEN} are allowed")]
    TooLong(usize),
    /// The id contained a control character (including NUL, the store's key separator).
    #[error("contains a control character")]
    ControlChar,
    /// An event type was not lower-case ASCII letters, digits and `_`.
    #[error("must be lower-case letters, digits and '_' (like \"purchase\" or \"opt_in\")")]
    BadKind,
}

/// Whether `s` may be an id: not empty, at most [`MAX_ID_LEN`] bytes, no control character.
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(s.len()));
    }
    if s.chars().any(char::is_control) {
        return Err(IdError::ControlChar);
    }
    Ok(())
}

#[doc(hidden)]
#[macro_export]
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, $crate::ids::IdError> {
                let s = s.into();
                $crate::ids::check_id(&s)?;
                Ok(Self(s))
            }

            /// Wraps text the crate built itself and knows to be valid (derived ids).
            #[allow(dead_code)] // not every id type is derived
            pub(crate) fn from_trusted(s: String) -> Self {
                debug_assert!($crate::ids::check_id(&s).is_ok());
                Self(s)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ids::IdError;
            fn from_str(s: &str) -> Result<Self, $crate::ids::IdError> {
                Self::new(s)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::new(s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A customer's id, as the business knows it (`c-42`, a shop's member number, …).
    CustomerId
);

/// An outbox message's id: `m-<event seq>-<effect index>`. Channels use it as the
/// idempotency key of a send (a Message-ID, a file name, a retry key).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MessageId {
    /// Sequence number of the event whose rules queued it.
    pub seq: u64,
    /// Position of the `send` among that event's effects.
    pub n: u32,
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m-{}-{}", self.seq, self.n)
    }
}

impl std::str::FromStr for MessageId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a message id (like m-123-0)");
        let rest = s.strip_prefix("m-").ok_or_else(bad)?;
        let (seq, n) = rest.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            seq: seq.parse().map_err(|_| bad())?,
            n: n.parse().map_err(|_| bad())?,
        })
    }
}
