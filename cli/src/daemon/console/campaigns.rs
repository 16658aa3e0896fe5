//! Campaigns and segments: every segment with its size (`segment list`), and a campaign
//! form whose dry run shows what the guards would say now (`campaign run … --dry-run`)
//! and whose run queues it (`campaign run`, admins only).

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};
use serde_json::Value;

use super::{
    LangQuery, form, lang,
    page::{T, layout, respond},
    problem, run,
    session::Session,
    to_login, with_lang_cookie,
};
use crate::{
    args::{CampaignCommand, CampaignRunArgs, Command, SegmentCommand},
    daemon::{http::AppState, lang::Lang},
};

/// `GET /console/campaigns`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = lang(&headers, &q);
    let body = match sections(&state, lang, &session, None).await {
        Ok(b) => b,
        Err(e) => return problem(lang, &session, StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let page = layout(lang, T::Campaigns.in_(lang), Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &q)
}

/// `POST /console/campaigns`: a dry run (`do=dry`) or a run (`do=run`, admins).
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = super::page::lang_of(&headers);
    let f = form(&body);
    let dry = f.get("do").map(String::as_str) != Some("run");
    if let Some(refused) = super::refusal(&session, lang, &f, !dry) {
        return refused;
    }
    let field = |k: &str| f.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let vars = field("vars")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let args = CampaignRunArgs {
        name: field("name"),
        segment: field("segment"),
        template: Some(field("template")).filter(|t| !t.is_empty()),
        channel: Some(field("channel"))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "email".into()),
        class: "marketing".into(),
        vars,
        now: None,
        dry_run: dry,
        json: true,
    };
    let outcome = run(&state, Command::Campaign(CampaignCommand::Run(args))).await;
    let body = match sections(&state, lang, &session, Some(outcome)).await {
        Ok(b) => b,
        Err(e) => return problem(lang, &session, StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    respond(
        StatusCode::OK,
        layout(lang, T::Campaigns.in_(lang), Some(&session), body),
    )
}

async fn sections(
    state: &AppState,
    lang: Lang,
    session: &Session,
    outcome: Option<Result<Value, String>>,
) -> Result<Markup, String> {
    let segments = run(
        state,
        Command::Segment(SegmentCommand::List {
            now: None,
            json: true,
        }),
    )
    .await?;
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    Ok(html! {
        section #segments {
            h2 { "Segments" }
            table { thead { tr { th { "segment" } th { "kind" } th { (T::Customers.in_(lang)) } } }
                tbody { @for s in segments.as_array().into_iter().flatten() { tr {
                    td { (text(&s["segment"])) } td { (text(&s["kind"])) } td.num { (text(&s["customers"])) }
                } } }
            }
        }
        section #campaign {
            h2 { "Campaign" }
            form method="post" action="/console/campaigns" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "name " input type="text" name="name" required size="12"; }
                label { " segment " input type="text" name="segment" required size="12"; }
                label { " template " input type="text" name="template" size="12"; }
                label { " channel " input type="text" name="channel" value="email" size="8"; }
                br;
                label { "vars (key=value, one a line) " br; textarea name="vars" rows="3" cols="40" {} }
                br;
                button type="submit" name="do" value="dry" { (T::DryRun.in_(lang)) }
                @if session.can_act() { " " button type="submit" name="do" value="run" { (T::Run.in_(lang)) } }
            }
            @match outcome {
                Some(Ok(v)) => { (result(lang, &v)) }
                Some(Err(e)) => { p.error role="alert" { (e) } }
                None => {}
            }
        }
    })
}

/// What a run or dry run did: members, and the guards' verdicts now.
fn result(lang: Lang, v: &Value) -> Markup {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let guards = &v["guards_now"];
    html! {
        div #result {
            p { (if v["dry_run"] == true { T::DryRun.in_(lang) } else { T::Queued.in_(lang) }) ": "
                (text(&v["members"])) " member(s) of the segment" }
            @if let Some(outcomes) = guards["outcomes"].as_object() {
                ul.outcomes { @for (k, n) in outcomes { li { (k) ": " (text(n)) } } }
            }
            @if let Some(by) = guards["by_guard"].as_object() {
                ul.by-guard { @for (k, n) in by { li { (k) ": " (text(n)) } } }
            }
        }
    }
}
