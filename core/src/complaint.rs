//! Complaints (クレーム) handled in order: an apology, a solution, care afterwards.
//!
//! A `complaint` opens a case. Staff record its steps as events — `apology`, `solution`,
//! `follow_up` — each naming the complaint in `in_reply_to`, or one `reply` whose `steps`
//! lists them (`["apology", "solution"]`). A step that names no complaint goes to the oldest
//! case still waiting for it. An apology answers the complaint (as a `reply` would: the
//! silence alarm no longer fires for it); a case is *unsolved* until its solution, and is
//! closed by its follow-up. The default pack's `complaints.rhai` raises alerts when a step
//! is late and `guards/complaints.rhai` holds marketing while a case is unsolved.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{event::Event, ids::EventKind};

/// A step of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Saying sorry.
    Apology,
    /// Putting it right.
    Solution,
    /// Checking afterwards that it stayed right.
    FollowUp,
}

impl Step {
    /// The event type and `steps` entry of the step.
    pub fn name(self) -> &'static str {
        match self {
            Self::Apology => "apology",
            Self::Solution => "solution",
            Self::FollowUp => "follow_up",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Apology, Self::Solution, Self::FollowUp]
            .into_iter()
            .find(|step| step.name() == s)
    }
}

/// One complaint and how far it has been handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The complaint's event id.
    pub complaint: String,
    /// When it was made.
    pub at: Timestamp,
    /// When staff apologised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apology: Option<Timestamp>,
    /// When it was put right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<Timestamp>,
}

impl Case {
    fn has(&self, step: Step) -> bool {
        match step {
            Step::Apology => self.apology.is_some(),
            Step::Solution => self.solution.is_some(),
            Step::FollowUp => false,
        }
    }
}

/// A customer's complaints: the cases not yet followed up, and how many were.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Complaints {
    /// Cases not yet closed by a follow-up, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<Case>,
    /// Cases closed by a follow-up.
    #[serde(default)]
    pub closed: u64,
}

impl Complaints {
    /// Whether there is nothing to keep or report.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.closed == 0
    }

    /// Cases still waiting for their solution.
    pub fn unsolved(&self) -> usize {
        self.open.iter().filter(|c| c.solution.is_none()).count()
    }

    /// The steps `event` records.
    fn steps_of(event: &Event) -> Vec<Step> {
        match &event.kind {
            EventKind::Reply => match event.attrs.get("steps") {
                Some(Value::Array(steps)) => steps
                    .iter()
                    .filter_map(|s| s.as_str().and_then(Step::parse))
                    .collect(),
                _ => Vec::new(),
            },
            EventKind::Other(kind) => Step::parse(kind).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Folds `event` in: a complaint opens a case, a step moves one on. Returns the steps
    /// the event records (none for a complaint or an event of another kind).
    pub fn apply(&mut self, event: &Event) -> Vec<Step> {
        let t = event.at.instant();
        if event.kind == EventKind::Complaint {
            self.open.push(Case {
                complaint: event.id.to_string(),
                at: t,
                apology: None,
                solution: None,
            });
            return Vec::new();
        }
        let named = event.attr_str("in_reply_to");
        let steps = Self::steps_of(event);
        for &step in &steps {
            let case = match named {
                Some(id) => self.open.iter().position(|c| c.complaint == id),
                None => self.open.iter().position(|c| {
                    c.at <= t && !c.has(step) && (step != Step::FollowUp || c.solution.is_some())
                }),
            };
            let Some(i) = case else { continue };
            match step {
                Step::Apology => {
                    self.open[i].apology.get_or_insert(t);
                }
                Step::Solution => {
                    self.open[i].solution.get_or_insert(t);
                }
                // Care afterwards closes a case that was put right; before that, it is
                // kind but not the end of it.
                Step::FollowUp if self.open[i].solution.is_some() => {
                    self.open.remove(i);
                    self.closed += 1;
                }
                Step::FollowUp => {}
            }
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Event {
        Event::from_json_str(json).unwrap()
    }

    #[test]
    fn a_case_goes_apology_solution_follow_up_and_steps_find_their_case() {
        let mut c = Complaints::default();
        for json in [
            r#"{"id":"k1","customer":"c-1","type":"complaint","at":"2026-03-01T10:00:00Z"}"#,
            r#"{"id":"k2","customer":"c-1","type":"complaint","at":"2026-03-02T10:00:00Z"}"#,
            // Unnamed: the oldest case waiting for an apology (k1).
            r#"{"customer":"c-1","type":"apology","at":"2026-03-02T11:00:00Z"}"#,
            // A follow-up before any solution closes nothing.
            r#"{"customer":"c-1","type":"follow_up","at":"2026-03-02T12:00:00Z","in_reply_to":"k2"}"#,
            // One reply carrying two steps, for k2.
            r#"{"customer":"c-1","type":"reply","at":"2026-03-03T10:00:00Z","in_reply_to":"k2","steps":["apology","solution"]}"#,
        ] {
            c.apply(&ev(json));
        }
        assert_eq!(c.open.len(), 2);
        assert!(c.open[0].apology.is_some() && c.open[0].solution.is_none());
        assert!(c.open[1].apology.is_some() && c.open[1].solution.is_some());
        assert_eq!(c.unsolved(), 1);
        c.apply(&ev(
            r#"{"customer":"c-1","type":"follow_up","at":"2026-03-10T10:00:00Z"}"#,
        ));
        assert_eq!(
            (c.open.len(), c.closed),
            (1, 1),
            "the solved case was closed"
        );
        assert_eq!(c.open[0].complaint, "k1");
    }
}
