//! The default rule pack, embedded in the binary from `scripts/` and copied by `init`.
//!
//! Embedding keeps `kizuna init` working from an installed binary with no source tree next
//! to it; the files stay ordinary files in `scripts/` so they are read, edited and tested
//! like code.

use std::path::Path;

use anyhow::Context;

/// Embeds the named files of `scripts/`, keeping each name next to its content.
macro_rules! pack {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../scripts/", $name)))),*]
    };
}

/// Every file of the pack: path relative to the rules directory, and content (sorted; a
/// test checks the list against `scripts/`).
pub const FILES: &[(&str, &str)] = pack![
    "README.md",
    "birthday.rhai",
    "birthday.test.json",
    "campaigns/birthday.rhai",
    "campaigns/birthday.test.json",
    "campaigns/cross_sell.rhai",
    "campaigns/cross_sell.test.json",
    "campaigns/repurchase.rhai",
    "campaigns/repurchase.test.json",
    "campaigns/top_customers.rhai",
    "campaigns/top_customers.test.json",
    "campaigns/winback.rhai",
    "campaigns/winback.test.json",
    "campaigns/year_end_gift.rhai",
    "campaigns/year_end_gift.test.json",
    "complaints.rhai",
    "complaints.test.json",
    "examples/referral.rhai",
    "examples/referral.test.json",
    "guards/after_decline.rhai",
    "guards/after_decline.test.json",
    "guards/complaints.rhai",
    "guards/complaints.test.json",
    "guards/consent.rhai",
    "guards/consent.test.json",
    "guards/deliverable.rhai",
    "guards/deliverable.test.json",
    "guards/over_contact.rhai",
    "guards/over_contact.test.json",
    "guards/promises.rhai",
    "guards/promises.test.json",
    "guards/quiet_hours.rhai",
    "guards/quiet_hours.test.json",
    "guards/stale.rhai",
    "guards/stale.test.json",
    "guards/unanswered.rhai",
    "guards/unanswered.test.json",
    "guards/wording.rhai",
    "guards/wording.test.json",
    "points.rhai",
    "points.test.json",
    "promises.rhai",
    "promises.test.json",
    "segments/email_ok.rhai",
    "segments/email_ok.test.json",
    "segments/regulars.rhai",
    "segments/regulars.test.json",
    "silence.rhai",
    "silence.test.json",
    "templates/birthday.email",
    "templates/cross_sell.email",
    "templates/notice.email",
    "templates/notice.sms",
    "templates/promise_delay.email",
    "templates/reply_delayed.email",
    "templates/repurchase.email",
    "templates/staff_alert.email",
    "templates/staff_alert.sms",
    "templates/staff_alert.text",
    "templates/staff_digest.email",
    "templates/staff_digest.text",
    "templates/staff_escalation.email",
    "templates/staff_escalation.sms",
    "templates/staff_escalation.text",
    "templates/tier_up.email",
    "templates/winback.email",
    "templates/year_end_gift.email",
    "tiers.rhai",
    "tiers.test.json",
];

/// Writes the pack into `dir`, creating it.
pub fn install(dir: &Path) -> anyhow::Result<()> {
    for (name, content) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every file in `scripts/` is embedded, so `init` never ships a partial pack.
    #[test]
    fn every_pack_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    out.push(
                        path.strip_prefix(base)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        let mut on_disk = Vec::new();
        walk(&dir, &dir, &mut on_disk);
        on_disk.sort();
        let embedded: Vec<&str> = super::FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, embedded);
    }
}
