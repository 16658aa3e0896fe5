//! Engine tests: effects, errors with positions, and the sandbox.

use std::sync::Arc;

use super::*;
use crate::rules::Effect;

fn set(src: &str) -> RuleSet {
    RuleSet::compile(vec![("t.rhai".into(), src.into())], None).unwrap()
}

fn event(json: &str) -> Arc<Event> {
    Arc::new(Event::from_json_str(json).unwrap())
}

fn purchase() -> Arc<Event> {
    event(
        r#"{"id":"e1","customer":"c-1","type":"purchase","at":"2026-03-01T10:00:00+09:00","amount":4800,"items":["beans"]}"#,
    )
}

fn run(src: &str) -> Evaluation {
    let e = purchase();
    let c = Arc::new(Customer::new(e.customer.clone()));
    set(src).on_event(&e, &c)
}

#[test]
fn actions_become_effects_and_constants_configure_functions() {
    let eval = run(r#"
        const RATE = 100;
        const TIER = "silver";
        fn on_event(event, customer) {
            award_points(event.amount / RATE, "purchase " + event.id);
            set_tier(TIER);
            tag("bought-" + event.items[0]);
            send("email", "thanks", #{ total: event.amount });
            schedule("repurchase", event.at + days(30), #{ item: event.items[0] });
            alert("big order from " + customer.id);
        }
    "#);
    assert_eq!(eval.errors, []);
    let effects: Vec<&Effect> = eval.effects.iter().map(|e| &e.effect).collect();
    assert!(
        matches!(effects[0], Effect::AwardPoints { points: 48, reason, .. } if reason == "purchase e1")
    );
    assert!(matches!(effects[1], Effect::SetTier { tier } if tier == "silver"));
    assert!(matches!(effects[2], Effect::Tag { tag } if tag == "bought-beans"));
    assert!(matches!(effects[3], Effect::Send { vars, .. } if vars["total"] == 4800));
    match effects[4] {
        Effect::Schedule { at, data, .. } => {
            assert_eq!(at.to_string(), "2026-03-31T01:00:00Z");
            assert_eq!(data["item"], "beans");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(eval.effects[0].script, "t.rhai");
}

#[test]
fn a_failing_script_loses_only_its_own_effects_and_says_where() {
    let rules = RuleSet::compile(
        vec![
            (
                "a.rhai".into(),
                "fn on_event(e, c) {\n  tag(\"a\");\n  let x = e.amount / 0;\n}".into(),
            ),
            ("b.rhai".into(), "fn on_event(e, c) { tag(\"b\"); }".into()),
        ],
        None,
    )
    .unwrap();
    let e = purchase();
    let eval = rules.on_event(&e, &Arc::new(Customer::new(e.customer.clone())));
    assert_eq!(eval.effects.len(), 1);
    assert_eq!(eval.effects[0].script, "b.rhai");
    let err = &eval.errors[0];
    assert_eq!((err.pos.file.as_str(), err.pos.line), ("a.rhai", Some(3)));
    assert_eq!(err.function, "on_event");
    assert_eq!(err.event, "e1");
    assert!(err.message.contains("Division by zero"), "{}", err.message);
}

#[test]
fn the_sandbox_stops_loops_recursion_and_huge_values() {
    for (src, expect) in [
        ("fn on_event(e, c) { loop { } }", "operations"),
        (
            "fn f(n) { f(n + 1) } fn on_event(e, c) { f(0) }",
            "stack overflow",
        ),
        (
            "fn on_event(e, c) { let s = \"x\"; loop { s += s; } }",
            "string",
        ),
        // One step past the size limit (pushing 10,000 items one by one re-measures the
        // array each time, and under load a debug build met the clock first).
        (
            "fn on_event(e, c) { let a = []; a.pad(20000, 1); }",
            "array",
        ),
        // (`c.nonsense` is refused at load by the static checks; an index is not.)
        (
            "fn on_event(e, c) { let f = \"nonsense\"; c[f] }",
            "no field",
        ),
    ] {
        let eval = run(src);
        assert!(eval.effects.is_empty());
        let msg = eval.errors[0].message.to_lowercase();
        assert!(msg.contains(expect), "{src}: {msg}");
    }
}

#[test]
fn eval_and_escaping_imports_are_refused() {
    let err = RuleSet::compile(
        vec![("x.rhai".into(), "fn on_event(e, c) { eval(\"1\") }".into())],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("x.rhai:1:"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("helper.rhai"), "fn double(x) { x * 2 }").unwrap();
    let inside = RuleSet::compile(
        vec![(
            "m.rhai".into(),
            "import \"helper\" as h;\nfn on_event(e, c) { award_points(h::double(2), \"x\"); }"
                .into(),
        )],
        Some(dir.path()),
    );
    assert!(inside.is_ok(), "{:?}", inside.err());
    let outside = RuleSet::compile(
        vec![("m.rhai".into(), "import \"../etc/passwd\" as h;".into())],
        Some(dir.path()),
    )
    .unwrap_err();
    assert!(
        outside
            .to_string()
            .contains("only modules inside the rules directory"),
        "{outside}"
    );
}

#[test]
fn compile_errors_name_file_line_column_and_source_and_list_every_file() {
    let err = RuleSet::compile(
        vec![
            ("good.rhai".into(), "fn on_event(e, c) {}".into()),
            (
                "bad.rhai".into(),
                "// header\nfn on_event(e, c) {\n  let x = ;\n}".into(),
            ),
            ("worse.rhai".into(), "fn (".into()),
        ],
        None,
    )
    .unwrap_err();
    let LoadError::Compile(errors) = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].pos.file, "bad.rhai");
    assert_eq!(errors[0].pos.line, Some(3));
    assert_eq!(errors[0].source_line.as_deref(), Some("  let x = ;"));
    assert!(err.to_string().starts_with("bad.rhai:3:"), "{err}");
}

#[test]
fn actions_at_top_level_are_an_error() {
    let err = RuleSet::compile(vec![("t.rhai".into(), "tag(\"x\");".into())], None).unwrap_err();
    assert!(
        err.to_string().contains("only be called from on_event"),
        "{err}"
    );
}

#[test]
fn customer_view_shows_projection_fields() {
    let e = purchase();
    let mut c = Customer::new(e.customer.clone());
    c.apply(&e);
    c.loyalty.tier = Some("gold".into());
    let eval = set(r#"
        fn on_event(event, customer) {
            if customer.tier == "gold" && customer.stats.orders == 1 && customer.stats.spend_12m == 4800
               && customer.points == 0 && customer.kind == "personal" && event.at.month == 3 && event.at.hour == 10 {
                tag("ok");
            }
        }
    "#)
    .on_event(&e, &Arc::new(c));
    assert_eq!(eval.errors, []);
    assert_eq!(eval.effects.len(), 1);
}

#[test]
fn a_script_within_the_operation_limit_is_still_stopped_by_the_clock() {
    // Few operations, each over a 16 KiB string: slow without being many.
    let started = std::time::Instant::now();
    let eval = run(r#"
        fn on_event(event, customer) {
            let s = "x";
            while s.len() < 16000 { s += s; }
            s.truncate(16000);
            for i in 0..20000 { s.index_of("xy"); }
            tag("finished");
        }
    "#);
    let took = started.elapsed();
    assert!(eval.effects.is_empty(), "{:?}", eval.effects);
    let message = &eval.errors.first().expect("stopped").message;
    assert!(message.contains("stopped after 100 ms"), "{message}");
    assert!(took < limits::WALL_TIME * 5, "took {took:?}");
}

#[test]
fn a_shared_library_is_imported_by_any_script_and_its_functions_see_their_constants() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lib")).unwrap();
    std::fs::write(
        dir.path().join("lib/base.rhai"),
        "const RATE = 100;\nconst BONUS = #{ beans: 7 };\nfn points_for(amount, item) { amount / RATE + BONUS[item] }\n",
    )
    .unwrap();
    // Two scripts, two aliases, one library; a script constant of the same name as the
    // library's does not leak into it.
    let sources = vec![
        (
            "a.rhai".to_owned(),
            "import \"base\" as base;\nconst RATE = 1;\nfn on_event(e, c) { award_points(base::points_for(e.amount, e.items[0]), \"a\"); }\n"
                .to_owned(),
        ),
        (
            "b.rhai".to_owned(),
            "import \"base\" as common;\nfn on_event(e, c) { award_points(common::points_for(100, \"beans\"), \"b\"); }\n"
                .to_owned(),
        ),
    ];
    let rules = RuleSet::compile(sources, Some(dir.path())).unwrap();
    let e = purchase();
    let c = Arc::new(Customer::new(e.customer.clone()));
    let eval = rules.on_event(&e, &c);
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    let points: Vec<i64> = eval
        .effects
        .iter()
        .filter_map(|e| match e.effect {
            Effect::AwardPoints { points, .. } => Some(points),
            _ => None,
        })
        .collect();
    assert_eq!(points, [48 + 7, 1 + 7]);
    // A change to the library is a new rules version, as a change to a script is.
    let sources_again = |dir: &std::path::Path| {
        RuleSet::compile(
            vec![(
                "b.rhai".to_owned(),
                "import \"base\" as common;\nfn on_event(e, c) { award_points(common::points_for(100, \"beans\"), \"b\"); }\n"
                    .to_owned(),
            )],
            Some(dir),
        )
        .unwrap()
        .version()
        .to_owned()
    };
    let before = sources_again(dir.path());
    std::fs::write(
        dir.path().join("lib/base.rhai"),
        "const RATE = 50;\nconst BONUS = #{ beans: 7 };\nfn points_for(amount, item) { amount / RATE + BONUS[item] }\n",
    )
    .unwrap();
    assert_ne!(before, sources_again(dir.path()));
    // A module that does not exist is a load error, with the place.
    let missing = RuleSet::compile(
        vec![(
            "m.rhai".into(),
            "import \"nope\" as n;\nfn on_event(e, c) { n::f() }\n".into(),
        )],
        Some(dir.path()),
    )
    .unwrap_err();
    assert!(missing.to_string().contains("m.rhai:1"), "{missing}");
}

#[test]
fn tag_of_a_number_is_an_error_not_rhais_own_tag() {
    let eval = run("fn on_event(e, c) { tag(42); }");
    assert!(eval.effects.is_empty());
    assert!(
        eval.errors[0]
            .message
            .contains("the name must be a string (got i64)"),
        "{:?}",
        eval.errors
    );
    let eval = run("fn on_event(e, c) { tag(\"ok\"); }");
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
}
