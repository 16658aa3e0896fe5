//! Rules: the version in force, the last reload's error (file:line, as the reloader wrote
//! it), the fixtures' results (`rules test`), the recorded rule errors (`rules errors`), and
//! a form to replay the history through a changed script ([`super::replay`]).

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::html;
use serde_json::Value;

use super::{
    LangQuery, lang,
    page::{T, layout, respond},
    problem, run, to_login, with_lang_cookie,
};
use crate::{
    args::{Command, RulesCommand},
    daemon::http::AppState,
};

/// `GET /console/rules`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = lang(&headers, &q);
    let status = match run(&state, Command::Status { json: true }).await {
        Ok(v) => v,
        Err(e) => return problem(lang, &session, StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    // The live rules' fixtures, run as `kizuna rules test --json` runs them (a failing
    // case still prints every result).
    let dir = state.reloader.dir().to_path_buf();
    let tests = tokio::task::spawn_blocking(move || {
        crate::admin::server::answer_of(|o| crate::commands::rules::test(&dir, &dir, o, true, None))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|answer| {
        serde_json::from_slice::<Value>(&answer.stdout)
            .map_err(|_| String::from_utf8_lossy(&answer.stderr).into_owned())
    });
    let errors = run(&state, Command::Rules(RulesCommand::Errors { json: true }))
        .await
        .unwrap_or(Value::Null);
    let reload = &status["daemon"]["reload"];
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let body = html! {
        section #version {
            dl {
                dt { "version" } dd.version { (text(&reload["active"])) }
                dt { "reloads" } dd { (text(&reload["reloads"])) " / failed " (text(&reload["failures"])) }
            }
            @if let Some(e) = reload["last_error"].as_str() {
                h2 { (T::LastReloadFailed.in_(lang)) }
                pre.error role="alert" { (e) }
            }
        }
        section #fixtures {
            h2 { (T::Fixtures.in_(lang)) }
            @match &tests {
                Ok(cases) => {
                    @let cases = cases.as_array().cloned().unwrap_or_default();
                    @let failed: Vec<&Value> = cases.iter().filter(|c| c["failures"].as_array().is_some_and(|f| !f.is_empty())).collect();
                    p { (cases.len() - failed.len()) " passed, " (failed.len()) " failed" }
                    ul { @for c in &failed { li.error { (text(&c["file"])) ": " (text(&c["name"])) pre { (c["failures"].to_string()) } } } }
                }
                Err(e) => { pre.error role="alert" { (e) } }
            }
        }
        (super::replay::form(lang, &session))
        section #errors {
            h2 { (T::RuleErrors.in_(lang)) }
            table { thead { tr { th { "script" } th { "function" } th { "event" } th { (T::Reason.in_(lang)) } } }
                tbody { @for e in errors.as_array().into_iter().flatten() { tr {
                    td { (text(&e["pos"]["file"])) ":" (text(&e["pos"]["line"])) }
                    td { (text(&e["function"])) } td { (text(&e["event"])) } td { (text(&e["message"])) }
                } } }
            }
        }
    };
    let page = layout(lang, T::Rules.in_(lang), Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &q)
}
