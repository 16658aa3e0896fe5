//! The static checks against the mistakes a new rule author made.

use crate::rules::{LoadError, RuleSet};

fn check(scripts: &[(&str, &str)]) -> Vec<String> {
    let sources = scripts
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    match RuleSet::compile(sources, None) {
        Ok(_) => Vec::new(),
        Err(LoadError::Compile(errors)) => errors.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
    }
}

#[test]
fn an_unknown_function_is_named_with_a_suggestion_and_its_place() {
    let found = check(&[(
        "bonus.rhai",
        "fn on_event(event, customer) {\n    award_point(10, \"bonus\");\n}\n",
    )]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("bonus.rhai:2:5")
            && found[0].contains("there is no function award_point; did you mean award_points?"),
        "{found:?}"
    );
}

#[test]
fn a_wrong_argument_count_is_refused() {
    let found = check(&[("a.rhai", "fn on_event(e, c) { award_points(5); }")]);
    assert!(
        found
            .iter()
            .any(|f| f.contains("award_points takes 2 or 3 argument(s), not 1")),
        "{found:?}"
    );
}

#[test]
fn unknown_customer_and_stats_fields_and_misspelt_event_fields() {
    let found = check(&[(
        "a.rhai",
        r#"const EVENT_TYPES = ["purchase"];
fn on_event(e, c) {
    if c.teir == "gold" && c.stats.order > 2 { award_points(e.ammount / 100, "x"); }
}
"#,
    )]);
    let text = found.join("\n");
    assert!(
        text.contains("customer has no field teir; did you mean tier?"),
        "{text}"
    );
    assert!(
        text.contains("customer.stats has no field order; did you mean orders?"),
        "{text}"
    );
    assert!(
        text.contains("event has no field ammount; did you mean amount?"),
        "{text}"
    );
}

#[test]
fn what_scripts_bind_themselves_and_custom_event_fields_pass() {
    let found = check(&[(
        "ok.rhai",
        r#"const EVENT_TYPES = ["referral"];
fn helper(x) { x * 2 }
fn on_event(event, customer) {
    let f = |v| v + 1;
    let n = helper(event.referrer_count) + f.call(1);
    for item in customer.items { tag("has-" + item); }
    if customer.stats.orders > n { state.set("n", n); }
}
"#,
    )]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_timer_name_two_scripts_use_is_refused_unless_both_share_it() {
    let a = "fn on_event(e, c) { schedule(\"reminder\", e.at + days(1)); }";
    let b = "fn on_event(e, c) { cancel(\"reminder\"); }";
    let found = check(&[("a.rhai", a), ("b.rhai", b)]);
    assert!(
        found.iter().any(|f| f.contains("b.rhai:1:")
            && f.contains("the timer \"reminder\" is also set or cancelled by a.rhai")),
        "{found:?}"
    );
    let shared = "const SHARED_TIMERS = [\"reminder\"];\n";
    let found = check(&[
        ("a.rhai", &format!("{shared}{a}")),
        ("b.rhai", &format!("{shared}{b}")),
    ]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_default_pack_passes_the_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    RuleSet::load_dir(&dir).unwrap();
    RuleSet::load_segments(&dir).unwrap();
}

#[test]
fn a_missing_semicolon_is_shown_at_the_end_of_its_line() {
    let found = check(&[(
        "a.rhai",
        "fn on_event(e, c) {\n    let x = 1\n    award_points(x, \"x\");\n}\n",
    )]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("a.rhai:2:14"), "{found:?}");
}
