//! `[staff]`: who on the staff is told of alerts, read into the core's
//! [`StaffPolicy`](kizuna_core::staff::StaffPolicy) and checked against the channels.

use jiff::{SignedDuration, civil::Time, tz::TimeZone};
use kizuna_channel::{AddressField, Section};
use kizuna_core::staff::{MAX_RECIPIENTS, QuietHours, Recipient, StaffPolicy};
use serde::{Deserialize, Serialize};

/// `[staff]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffConfig {
    /// The zone digest times and quiet hours are read in.
    pub tz: String,
    /// How long an alert may stay open before it is escalated (`4h`, `90m`); empty: never.
    pub escalate_after: String,
    /// `[[staff.recipients]]`.
    pub recipients: Vec<RecipientConfig>,
}

impl Default for StaffConfig {
    fn default() -> Self {
        Self {
            tz: "UTC".into(),
            escalate_after: String::new(),
            recipients: Vec::new(),
        }
    }
}

/// `[[staff.recipients]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    /// Who they are (`owner`, `shop-floor`).
    pub name: String,
    /// A channel of `[channels]`.
    pub channel: String,
    /// Their address on it; not needed on a channel that addresses no one (chat, webhook).
    #[serde(default)]
    pub to: String,
    /// Alert kinds they hear of (`silence`, `promises`, `complaints`, …); empty: all.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The lowest priority they hear of.
    #[serde(default)]
    pub min_priority: i64,
    /// `new` (each new alert), `escalated` (alerts left open).
    #[serde(default = "default_notify")]
    pub notify: Vec<String>,
    /// Local time of a daily digest of open alerts (`09:00`); empty: none.
    #[serde(default)]
    pub digest: String,
    /// `22:00-07:00`: their notices wait until the end; empty: none.
    #[serde(default)]
    pub quiet_hours: String,
    /// Alerts of at least this priority reach them even in quiet hours.
    #[serde(default)]
    pub page_priority: Option<i64>,
}

fn default_notify() -> Vec<String> {
    vec!["new".into()]
}

impl StaffConfig {
    /// The policy, with every problem found (each naming its key), given the channels.
    pub fn policy(&self, channels: &[Section]) -> Result<StaffPolicy, Vec<String>> {
        let mut problems = Vec::new();
        let tz = TimeZone::get(&self.tz).unwrap_or_else(|_| {
            problems.push(format!("staff.tz: {:?} is not a known time zone", self.tz));
            TimeZone::UTC
        });
        let escalate_after = if self.escalate_after.is_empty() {
            None
        } else {
            match self.escalate_after.parse::<SignedDuration>() {
                Ok(d) if d.is_positive() => Some(d),
                _ => {
                    problems.push(format!(
                        "staff.escalate_after: {:?} is not a duration like \"4h\" or \"90m\"",
                        self.escalate_after
                    ));
                    None
                }
            }
        };
        if self.recipients.len() > MAX_RECIPIENTS {
            problems.push(format!(
                "staff.recipients: {} recipients; at most {MAX_RECIPIENTS}",
                self.recipients.len()
            ));
        }
        let mut recipients = Vec::new();
        for (i, r) in self.recipients.iter().enumerate() {
            let key = format!("staff.recipients[{i}]");
            match r.read(&key, channels) {
                Ok(recipient) => recipients.push(recipient),
                Err(mut found) => problems.append(&mut found),
            }
            if self.recipients[..i].iter().any(|o| o.name == r.name) {
                problems.push(format!("{key}.name: {:?} is named twice", r.name));
            }
        }
        if problems.is_empty() {
            Ok(StaffPolicy {
                recipients,
                escalate_after,
                tz,
            })
        } else {
            Err(problems)
        }
    }
}

impl RecipientConfig {
    fn read(&self, key: &str, channels: &[Section]) -> Result<Recipient, Vec<String>> {
        let mut problems = Vec::new();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            problems.push(format!(
                "{key}.name: {:?} must be 1 to 64 letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        let mut to = self.to.clone();
        match channels.iter().find(|s| s.shape.name == self.channel) {
            None => {
                let known: Vec<&str> = channels.iter().map(|s| s.shape.name.as_str()).collect();
                problems.push(format!(
                    "{key}.channel: no channel {:?} (configured: {})",
                    self.channel,
                    known.join(", ")
                ));
            }
            Some(section) => match &section.shape.address {
                // A chat room posts to the room: `to` is only whom the text mentions.
                _ if section.kind == "chat" => {}
                AddressField::Profile(field) if to.trim().is_empty() => problems.push(format!(
                    "{key}.to: needed: channel {:?} sends to an address ({field})",
                    self.channel
                )),
                // A webhook addresses no one: the name stands in.
                AddressField::CustomerId if to.is_empty() => to = self.name.clone(),
                _ => {}
            },
        }
        let (mut new_alerts, mut escalations) = (false, false);
        for n in &self.notify {
            match n.as_str() {
                "new" => new_alerts = true,
                "escalated" => escalations = true,
                other => problems.push(format!(
                    "{key}.notify: {other:?} is not \"new\" or \"escalated\""
                )),
            }
        }
        let digest_at = if self.digest.is_empty() {
            None
        } else {
            self.digest.parse::<Time>().map(Some).unwrap_or_else(|_| {
                problems.push(format!(
                    "{key}.digest: {:?} is not a time like \"09:00\"",
                    self.digest
                ));
                None
            })
        };
        let quiet = if self.quiet_hours.is_empty() {
            None
        } else {
            QuietHours::parse(&self.quiet_hours)
                .map(Some)
                .unwrap_or_else(|e| {
                    problems.push(format!("{key}.quiet_hours: {e}"));
                    None
                })
        };
        if !new_alerts && !escalations && digest_at.is_none() {
            problems.push(format!(
                "{key}: hears of nothing: give notify = [\"new\"] or [\"escalated\"], or a digest time"
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Recipient {
            name: self.name.clone(),
            channel: self.channel.clone(),
            to,
            kinds: self.kinds.clone(),
            min_priority: self.min_priority,
            new_alerts,
            escalations,
            digest_at,
            quiet,
            page_priority: self.page_priority,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(staff: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kizuna.toml");
        let text = format!(
            "[channels.email]\ntype = \"email-file\"\nfrom = \"k@shop.example\"\n\n\
             [channels.room]\ntype = \"chat\"\nurl_env = \"ROOM_URL\"\n\n{staff}"
        );
        std::fs::write(&path, text).unwrap();
        Config::load(&path).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn a_good_section_reads_into_a_policy() {
        let config = load(
            "[staff]\ntz = \"Asia/Tokyo\"\nescalate_after = \"4h\"\n\n\
             [[staff.recipients]]\nname = \"owner\"\nchannel = \"email\"\nto = \"o@shop.example\"\n\
             notify = [\"new\", \"escalated\"]\ndigest = \"09:00\"\nquiet_hours = \"22:00-07:00\"\npage_priority = 50\n\n\
             [[staff.recipients]]\nname = \"floor\"\nchannel = \"room\"\nkinds = [\"silence\"]\n",
        )
        .unwrap();
        let policy = config.staff_policy().unwrap();
        assert_eq!(
            policy.escalate_after,
            Some(jiff::SignedDuration::from_hours(4))
        );
        assert_eq!(policy.recipients.len(), 2);
        let owner = &policy.recipients[0];
        assert!(owner.new_alerts && owner.escalations);
        assert_eq!(owner.digest_at, Some(jiff::civil::time(9, 0, 0, 0)));
        let floor = &policy.recipients[1];
        assert_eq!((floor.to.as_str(), floor.escalations), ("", false));
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let err = load(
            "[staff]\ntz = \"Mars/Olympus\"\nescalate_after = \"soon\"\n\n\
             [[staff.recipients]]\nname = \"owner\"\nchannel = \"email\"\nnotify = [\"sometimes\"]\n\
             digest = \"9am\"\nquiet_hours = \"late\"\n\n\
             [[staff.recipients]]\nname = \"owner\"\nchannel = \"pager\"\n",
        )
        .unwrap_err();
        for expected in [
            "[staff] (line 9)",
            "staff.tz: \"Mars/Olympus\" is not a known time zone",
            "staff.escalate_after: \"soon\" is not a duration",
            "staff.recipients[0].to: needed: channel \"email\" sends to an address (email)",
            "staff.recipients[0].notify: \"sometimes\" is not",
            "staff.recipients[0].digest: \"9am\" is not a time",
            "staff.recipients[0].quiet_hours: \"late\" is not quiet hours",
            "staff.recipients[1].channel: no channel \"pager\" (configured: email, room)",
            "staff.recipients[1].name: \"owner\" is named twice",
        ] {
            assert!(err.contains(expected), "{expected:?} in\n{err}");
        }
        let typo = load("[staff]\nescalate_afterr = \"4h\"\n").unwrap_err();
        assert!(typo.contains("unknown field `escalate_afterr`"), "{typo}");
    }
}
