//! Rule fixtures: tests that users write for their scripts, run by `kizuna rules test`.
//!
//! A fixture file (`*.test.json`, next to the scripts) lists cases. Each case gives a
//! customer, a sequence of events, optionally a time up to which timers fire, and what
//! should come out: the point balance, the tier, tags, rule errors, and effects (each
//! expected effect must match some produced effect on every field it names). Cases run
//! through a real temporary store with the whole rule set, exactly as ingest would.
//!
//! Fixtures live beside what they test: in the rules directory, `guards/`, `campaigns/`
//! and `segments/`. A segment's fixture (`segments/vip.test.json`) can also expect
//! `member`: whether the case's customer is in that segment at the end. Results name
//! their file relative to the rules directory, so `birthday.test.json` and
//! `campaigns/birthday.test.json` are told apart; a case that fails also shows the rule
//! errors raised on the way, which are usually why a figure is off.
//!
//! ```json
//! {"cases": [{
//!   "name": "a purchase earns a point per 100 yen",
//!   "customer": {"id": "c-1", "tz": "Asia/Tokyo"},
//!   "events": [{"type": "purchase", "at": "2026-03-01T10:00:00+09:00", "amount": 4800}],
//!   "expect": {"points": 48, "effects": [{"script": "points.rhai", "effect": "award_points", "points": 48}]}
//! }]}
//! ```

use std::{path::Path, sync::Arc};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    dispatch::{Dispatcher, RetryPolicy},
    event::Event,
    ids::CustomerId,
    rules::RuleSet,
    store::Store,
};

/// A fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    /// The cases, run in order, each in a fresh store.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the report.
    pub name: String,
    /// Profile fields plus `id`; becomes a `profile` event before the first event.
    pub customer: Map<String, Value>,
    /// Events of other customers (each names its `customer`), stored before the case's
    /// own: the population that co-purchase statistics and the like are built from.
    #[serde(default)]
    pub others: Vec<Map<String, Value>>,
    /// Events for the customer; `customer` may be omitted (it is the case's customer).
    pub events: Vec<Map<String, Value>>,
    /// Then recompute RFM for everyone (the case's customer and `others`) at this time, as
    /// `kizuna rfm` does, recording segment changes as events the rules see.
    #[serde(default)]
    pub rfm_at: Option<Timestamp>,
    /// Fire every timer due up to this time after the events.
    #[serde(default)]
    pub timers_until: Option<Timestamp>,
    /// Then launch the seasonal campaigns whose window is open at this time, as
    /// `kizuna tick` does (each queues its message, a `send_request`, to its audience).
    #[serde(default)]
    pub seasons_at: Option<Timestamp>,
    /// Then dispatch the outbox at this time (file channels, the rules' `templates/`).
    #[serde(default)]
    pub dispatch_at: Option<Timestamp>,
    /// What should come out.
    pub expect: Expect,
}

/// Expected outcome; only the fields given are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Point balance at `at` (default: the last event or timer time).
    pub points: Option<i64>,
    /// Points awarded, by reason (`{"stamp card full": 300}`): what one script gave, however
    /// many other scripts award points too.
    pub points_by_reason: Option<std::collections::BTreeMap<String, i64>>,
    /// What scripts keep for the customer, by script then key (partial: keys not named
    /// are not checked), e.g. `{"stamps.rhai": {"stamps": 3}}`.
    pub state: Option<Map<String, Value>>,
    /// Tier (`null` for none).
    #[serde(default, with = "double_option")]
    pub tier: Option<Option<String>>,
    /// Tags, exactly.
    pub tags: Option<Vec<String>>,
    /// The RFM segment (after `rfm_at`), e.g. `"new"`: `"prospect"` for a customer who
    /// never bought, `"unscored"` for a buyer no RFM pass has scored yet.
    pub segment: Option<String>,
    /// Number of rule errors.
    pub rule_errors: Option<usize>,
    /// Effects that must have been produced (partial match on the fields given, nested
    /// objects such as `vars` and `data` included). With `"count": n`, exactly `n`
    /// produced effects must match.
    pub effects: Option<Vec<Map<String, Value>>>,
    /// Effects that must *not* have been produced (partial match).
    pub no_effects: Option<Vec<Map<String, Value>>>,
    /// When to measure the balance, and segment membership.
    pub at: Option<Timestamp>,
    /// In a segment's fixture (`segments/NAME.test.json`): whether the customer is in the
    /// segment `segments/NAME.rhai` at `at`.
    pub member: Option<bool>,
    /// Outbox messages that must exist (partial match, nested objects included), e.g.
    /// `{"template": "sale", "status": {"state": "suppressed", "guard": "guards/consent.rhai"}}`.
    pub messages: Option<Vec<Value>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The fixture file.
    pub file: String,
    /// The case name.
    pub name: String,
    /// What differed; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a fixture file could not be run at all.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct FixtureError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// The folders of a rules directory that hold fixtures, beside their scripts.
pub const FOLDERS: [&str; 4] = ["", "guards", "campaigns", "segments"];

/// Finds `*.test.json` files in `dir` and its [`FOLDERS`] (sorted).
pub fn find(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for sub in FOLDERS {
        let folder = dir.join(sub);
        if !folder.is_dir() {
            continue;
        }
        files.extend(
            std::fs::read_dir(folder)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".test.json")),
        );
    }
    files.sort();
    Ok(files)
}

/// The rules directory a fixture belongs to (fixtures of packs sit one folder down).
fn rules_root(fixture: &Path) -> &Path {
    let parent = fixture.parent().unwrap_or(Path::new("."));
    match parent.file_name().and_then(|n| n.to_str()) {
        Some(sub) if !sub.is_empty() && FOLDERS.contains(&sub) => parent.parent().unwrap_or(parent),
        _ => parent,
    }
}

/// Whether `got` has everything `want` has (objects recursively; other values equal).
fn partial_match(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| partial_match(v, gv))),
        _ => want == got,
    }
}

/// The segment a fixture in `segments/` tests: (its segment set, `segments/NAME.rhai`).
type SegmentUnderTest = (RuleSet, String);

/// Runs every case of one fixture file against `rules`.
pub fn run_file(rules: &Arc<RuleSet>, path: &Path) -> Result<Vec<CaseResult>, FixtureError> {
    let root = rules_root(path);
    // Named from the rules directory: `campaigns/birthday.test.json`.
    let file = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let err = |message: String| FixtureError {
        file: file.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let fixture: FixtureFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let segment = match file.strip_prefix("segments/") {
        Some(name) => {
            let script = format!("segments/{}.rhai", name.trim_end_matches(".test.json"));
            let set = RuleSet::load_segments(root).map_err(|e| err(e.to_string()))?;
            if !set.predicates().any(|p| p == script) {
                return Err(err(format!("there is no segment {script} to test")));
            }
            Some((set, script))
        }
        None => None,
    };
    fixture
        .cases
        .iter()
        .map(|case| {
            let failures = run_case(rules, root, case, segment.as_ref())
                .map_err(|m| err(format!("case {:?}: {m}", case.name)))?;
            Ok(CaseResult {
                file: file.clone(),
                name: case.name.clone(),
                failures,
            })
        })
        .collect()
}

fn run_case(
    rules: &Arc<RuleSet>,
    root: &Path,
    case: &Case,
    segment: Option<&SegmentUnderTest>,
) -> Result<Vec<String>, String> {
    let id = case
        .customer
        .get("id")
        .and_then(Value::as_str)
        .ok_or("customer needs an \"id\"")?;
    let customer = CustomerId::new(id).map_err(|e| format!("customer id: {e}"))?;
    let mut store = Store::open_temporary().map_err(|e| e.to_string())?;
    let mut events = case.others.clone();
    let first_at = case.events.first().and_then(|e| e.get("at")).cloned();
    let mut profile = case.customer.clone();
    profile.remove("id");
    if !profile.is_empty() || first_at.is_some() {
        profile.insert("customer".into(), Value::String(id.into()));
        profile.insert("type".into(), "profile".into());
        profile.insert(
            "at".into(),
            first_at.unwrap_or_else(|| "2000-01-01T00:00:00Z".into()),
        );
        events.push(profile);
    }
    for e in &case.events {
        let mut e = e.clone();
        e.entry("customer")
            .or_insert_with(|| Value::String(id.into()));
        events.push(e);
    }
    let mut parsed = Vec::new();
    for (n, e) in events.into_iter().enumerate() {
        let event = Event::from_json(e).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("event {n}: {}", text.join("; "))
        })?;
        parsed.push(event);
    }
    let mut last = parsed.iter().map(|e| e.at.instant()).max();
    store.append(rules, &parsed).map_err(|e| e.to_string())?;
    if let Some(at) = case.rfm_at {
        store.recompute_rfm(rules, at).map_err(|e| e.to_string())?;
        last = Some(last.map_or(at, |l| l.max(at)));
    }
    if let Some(until) = case.timers_until {
        store
            .fire_due_timers(rules, until)
            .map_err(|e| e.to_string())?;
        last = Some(last.map_or(until, |l| l.max(until)));
    }
    if let Some(at) = case.seasons_at {
        crate::campaign::run_seasonal(&mut store, rules, at).map_err(|e| e.to_string())?;
        last = Some(last.map_or(at, |l| l.max(at)));
    }
    if let Some(at) = case.dispatch_at {
        // A scratch outbox, removed when the case ends (tempfile removes it on drop).
        let scratch = tempfile::Builder::new()
            .prefix("kizuna-fixture-")
            .tempdir()
            .map_err(|e| format!("scratch directory: {e}"))?;
        let out = scratch.path();
        let channels = crate::channel::file_channels(out, "fixtures@kizuna.invalid");
        let dispatcher = Dispatcher::new(
            channels,
            Arc::clone(rules),
            root.join("templates"),
            RetryPolicy::default(),
        );
        dispatcher.run(&mut store, at).map_err(|e| e.to_string())?;
    }
    let projection = store
        .customer(&customer)
        .map_err(|e| e.to_string())?
        .ok_or("the customer has no projection")?;
    let history = store
        .history_with_effects(&customer, usize::MAX)
        .map_err(|e| e.to_string())?;
    let produced: Vec<Value> = history
        .iter()
        .filter_map(|(_, r)| r.as_ref())
        .flat_map(|r| r.effects.iter())
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();

    let x = &case.expect;
    let mut failures = Vec::new();
    if let Some(points) = x.points {
        let at = x.at.or(last).unwrap_or(Timestamp::UNIX_EPOCH);
        let got = projection.loyalty.balance(at);
        if got != points {
            failures.push(format!("points: expected {points}, got {got}"));
        }
    }
    if let Some(tier) = &x.tier
        && *tier != projection.loyalty.tier
    {
        let name = |t: &Option<String>| t.as_ref().map_or("none".to_owned(), |t| format!("{t:?}"));
        failures.push(format!(
            "tier: expected {}, got {}",
            name(tier),
            name(&projection.loyalty.tier)
        ));
    }
    match (x.member, segment) {
        (Some(want), Some((set, script))) => {
            let at = x.at.or(last).unwrap_or(Timestamp::UNIX_EPOCH);
            let customer = Arc::new(projection.clone());
            match set.matches(script, &customer, at) {
                Ok(got) if got != want => {
                    failures.push(format!("member of {script}: expected {want}, got {got}"))
                }
                Ok(_) => {}
                Err(e) => failures.push(format!("member of {script}: {e}")),
            }
        }
        (Some(_), None) => {
            return Err("\"member\" is for fixtures of segments (segments/NAME.test.json)".into());
        }
        (None, _) => {}
    }
    if let Some(segment) = &x.segment {
        let got = projection
            .segment()
            .map_or("unscored", crate::rfm::Segment::as_str);
        if got != segment {
            failures.push(format!("segment: expected {segment:?}, got {got:?}"));
        }
    }
    if let Some(tags) = &x.tags {
        let got: Vec<String> = projection.tags.iter().cloned().collect();
        let mut want = tags.clone();
        want.sort();
        if got != want {
            failures.push(format!("tags: expected {want:?}, got {got:?}"));
        }
    }
    let errors = store.rule_errors().map_err(|e| e.to_string())?;
    if let Some(n) = x.rule_errors
        && errors.len() != n
    {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        failures.push(format!(
            "rule errors: expected {n}, got {}: {}",
            errors.len(),
            text.join(" | ")
        ));
    }
    if let Some(want) = &x.points_by_reason {
        let mut got: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for (_, recorded) in &history {
            for e in recorded.iter().flat_map(|r| r.effects.iter()) {
                if let crate::rules::Effect::AwardPoints { points, reason, .. } = &e.effect {
                    let sum = got.entry(reason.clone()).or_default();
                    *sum = sum.saturating_add(*points);
                }
            }
        }
        for (reason, points) in want {
            let have = got.get(reason).copied().unwrap_or(0);
            if have != *points {
                failures.push(format!(
                    "points for {reason:?}: expected {points}, got {have} (awarded by reason: {got:?})"
                ));
            }
        }
    }
    if let Some(want) = &x.state {
        for (script, keys) in want {
            let kept = projection
                .state
                .get(script.as_str())
                .map_or(Value::Object(Map::new()), |m| Value::Object(m.clone()));
            if !partial_match(keys, &kept) {
                failures.push(format!("state of {script}: expected {keys}, got {kept}"));
            }
        }
    }
    let count = |want: &Map<String, Value>| {
        let want = Value::Object(want.clone());
        produced.iter().filter(|p| partial_match(&want, p)).count()
    };
    let matches = |want: &Map<String, Value>| count(want) > 0;
    for want in x.effects.iter().flatten() {
        if let Some(n) = want.get("count") {
            let mut pattern = want.clone();
            pattern.remove("count");
            let got = count(&pattern);
            if n.as_u64() != Some(got as u64) {
                failures.push(format!(
                    "effects matching {}: expected {n}, got {got}",
                    Value::Object(pattern)
                ));
            }
            continue;
        }
        if !matches(want) {
            failures.push(format!(
                "effect not produced: {}\n      produced: {}",
                Value::Object(want.clone()),
                produced
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n                ")
            ));
        }
    }
    if let Some(messages) = &x.messages {
        let outbox: Vec<Value> = store
            .outbox()
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|m| serde_json::to_value(m).ok())
            .collect();
        for want in messages {
            if !outbox.iter().any(|m| partial_match(want, m)) {
                failures.push(format!(
                    "message not found: {want}\n      outbox: {}",
                    outbox
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n              ")
                ));
            }
        }
    }
    for unwanted in x.no_effects.iter().flatten() {
        if matches(unwanted) {
            failures.push(format!(
                "effect produced but not expected: {}",
                Value::Object(unwanted.clone())
            ));
        }
    }
    // A script that failed lost its effects: the error is usually why a figure is off.
    if !failures.is_empty() && x.rule_errors.is_none() && !errors.is_empty() {
        for e in &errors {
            failures.push(format!("behind it, a rule error: {e}"));
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default rule pack's own fixtures, run as part of the test suite.
    #[test]
    fn default_pack_fixtures_pass() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        let rules = Arc::new(RuleSet::load_dir(&dir).unwrap());
        let files = find(&dir).unwrap();
        assert!(files.len() >= 3, "fixtures missing in {}", dir.display());
        let mut failures = Vec::new();
        for file in files {
            for result in run_file(&rules, &file).unwrap() {
                if !result.passed() {
                    failures.push(format!(
                        "{} / {}:\n  {}",
                        result.file,
                        result.name,
                        result.failures.join("\n  ")
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The referral example, copied into the pack as its comment says: state and emit
    /// work end to end, across two customers, through the whole pack.
    #[test]
    fn the_referral_example_passes_its_fixtures_inside_the_pack() {
        let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(pack.join("."))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        for file in ["referral.rhai", "referral.test.json"] {
            std::fs::copy(
                dir.path().join("examples").join(file),
                dir.path().join(file),
            )
            .unwrap();
        }
        let rules = Arc::new(RuleSet::load_dir(dir.path()).unwrap());
        let results = run_file(&rules, &dir.path().join("referral.test.json")).unwrap();
        assert_eq!(results.len(), 3);
        for result in results {
            assert!(result.passed(), "{}: {:?}", result.name, result.failures);
        }
    }

    /// The wording guard with a competitor configured (the pack ships the list empty, so
    /// its own fixtures cannot reach that branch).
    #[test]
    fn the_wording_guard_refuses_disparaging_a_listed_competitor() {
        let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("guards")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        let script = std::fs::read_to_string(pack.join("guards/wording.rhai"))
            .unwrap()
            .replace(
                "const COMPETITORS = [];",
                "const COMPETITORS = [\"Beanzilla\"];",
            );
        std::fs::write(dir.path().join("guards/wording.rhai"), script).unwrap();
        std::fs::copy(
            pack.join("templates/notice.email"),
            dir.path().join("templates/notice.email"),
        )
        .unwrap();
        let case = |name: &str, text: &str, status: &str| {
            serde_json::json!({
                "name": name,
                "customer": {"id": "c-1", "email": "aiko@example.jp", "tz": "Asia/Tokyo"},
                "events": [
                    {"type": "opt_in", "at": "2026-01-01T00:00:00Z", "channel": "email"},
                    {"type": "send_request", "at": "2026-03-05T02:00:00Z", "channel": "email",
                     "template": "notice", "class": "marketing",
                     "vars": {"subject": "News", "text": text}}
                ],
                "dispatch_at": "2026-03-05T03:00:00Z",
                "expect": {"messages": [{"template": "notice", "status": serde_json::from_str::<serde_json::Value>(status).unwrap()}]}
            })
        };
        let fixture = serde_json::json!({"cases": [
            case("named and disparaged", "Our beans beat BEANZILLA, whose roast is Terrible",
                 r#"{"state": "suppressed", "reason": "disparages Beanzilla: terrible"}"#),
            case("named fairly", "Beanzilla fans welcome", r#"{"state": "sent"}"#),
            case("disparaging without a name", "terrible weather, warm coffee", r#"{"state": "sent"}"#),
        ]});
        let file = dir.path().join("guards/wording.test.json");
        std::fs::write(&file, fixture.to_string()).unwrap();
        let rules = Arc::new(RuleSet::load_dir(dir.path()).unwrap());
        for result in run_file(&rules, &file).unwrap() {
            assert!(result.passed(), "{}: {:?}", result.name, result.failures);
        }
    }
}
