//! The outbox: messages filtered by status, channel, campaign, guard, customer and the days
//! they were queued (`outbox list`), newest first, a page at a time, and a retry button on what did not go out
//! (`outbox retry`).

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use serde_json::Value;

use super::{
    LangQuery, form,
    inbox::urlencoding,
    lang,
    page::{T, layout, respond},
    problem, run, to_login, with_lang_cookie,
};
use crate::{
    args::{Command, OutboxCommand, OutboxListArgs},
    daemon::http::AppState,
};

/// Messages a page.
const PAGE: usize = 100;

/// The filter form's fields.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    status: Option<String>,
    channel: Option<String>,
    campaign: Option<String>,
    guard: Option<String>,
    customer: Option<String>,
    /// First day queued (`YYYY-MM-DD`, in the business's time zone).
    from: Option<String>,
    /// Last day queued.
    to: Option<String>,
    #[serde(default)]
    offset: usize,
    lang: Option<String>,
}

/// The start of day `date` (`YYYY-MM-DD`) in `tz`, or of the day after it (`after`).
fn day_start(
    date: &Option<String>,
    tz: &jiff::tz::TimeZone,
    after: bool,
) -> Result<Option<jiff::Timestamp>, String> {
    let Some(text) = some(date) else {
        return Ok(None);
    };
    let day: jiff::civil::Date = text
        .parse()
        .map_err(|e| format!("date {text:?} is not YYYY-MM-DD: {e}"))?;
    let day = if after {
        day.tomorrow().map_err(|e| e.to_string())?
    } else {
        day
    };
    day.to_zoned(tz.clone())
        .map(|z| Some(z.timestamp()))
        .map_err(|e| e.to_string())
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `GET /console/outbox`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lq = LangQuery {
        lang: f.lang.clone(),
    };
    let lang = lang(&headers, &lq);
    let (since, until) = match (
        day_start(&f.from, &state.tz, false),
        day_start(&f.to, &state.tz, true),
    ) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(e), _) | (_, Err(e)) => return problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    };
    let command = Command::Outbox(OutboxCommand::List(OutboxListArgs {
        status: some(&f.status),
        customer: some(&f.customer),
        channel: some(&f.channel),
        campaign: some(&f.campaign),
        guard: some(&f.guard),
        since,
        until,
        newest_first: true,
        offset: f.offset,
        limit: Some(PAGE + 1),
        json: true,
    }));
    let messages = match run(&state, command).await {
        Ok(v) => v.as_array().cloned().unwrap_or_default(),
        Err(e) => return problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    };
    let more = messages.len() > PAGE;
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let link = |offset: usize| {
        let mut q = vec![format!("offset={offset}")];
        for (k, v) in [
            ("status", &f.status),
            ("channel", &f.channel),
            ("campaign", &f.campaign),
            ("guard", &f.guard),
            ("customer", &f.customer),
            ("from", &f.from),
            ("to", &f.to),
        ] {
            if let Some(v) = some(v) {
                q.push(format!("{k}={}", urlencoding(&v)));
            }
        }
        format!("/console/outbox?{}", q.join("&"))
    };
    let text = |m: &Value, k: &str| m[k].as_str().unwrap_or("").to_owned();
    let body = html! {
        form.filter method="get" action="/console/outbox" {
            label { (T::Status.in_(lang)) " "
                select name="status" {
                    option value="" { "—" }
                    @for s in ["pending", "deferred", "suppressed", "failed", "dead", "sending", "sent"] {
                        option value=(s) selected[f.status.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            label { "channel " input type="text" name="channel" value=(value(&f.channel)) size="8"; }
            label { "campaign " input type="text" name="campaign" value=(value(&f.campaign)) size="10"; }
            label { (T::Guard.in_(lang)) " " input type="text" name="guard" value=(value(&f.guard)) size="18"; }
            label { (T::Customer.in_(lang)) " " input type="text" name="customer" value=(value(&f.customer)) size="8"; }
            label { (T::From.in_(lang)) " " input type="date" name="from" value=(value(&f.from)); }
            label { (T::To.in_(lang)) " " input type="date" name="to" value=(value(&f.to)); }
            button type="submit" { (T::Search.in_(lang)) }
        }
        table.outbox {
            thead { tr {
                th { "ID" } th { (T::Customer.in_(lang)) } th { "channel" } th { "template" }
                th { "campaign" } th { (T::Status.in_(lang)) } th { (T::Guard.in_(lang)) }
                th { (T::Reason.in_(lang)) }
                @if session.can_act() { th { (T::Actions.in_(lang)) } }
            } }
            tbody { @for m in messages.iter().take(PAGE) {
                @let id = text(m, "id");
                @let state_name = m["status"]["state"].as_str().unwrap_or("");
                tr {
                    td { (id) }
                    td { a href=(format!("/console/customers/{}", urlencoding(&text(m, "customer")))) { (text(m, "customer")) } }
                    td { (text(m, "channel")) } td { (text(m, "template")) } td { (text(m, "campaign")) }
                    td { (state_name) }
                    td { (m["status"]["guard"].as_str().unwrap_or("")) }
                    td { (m["status"]["reason"].as_str().or(m["status"]["error"].as_str()).unwrap_or("")) }
                    @if session.can_act() {
                        td { @if matches!(state_name, "dead" | "failed" | "suppressed" | "deferred") {
                            form method="post" action=(format!("/console/outbox/{id}/retry")) {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button type="submit" { (T::Retry.in_(lang)) }
                            }
                        } }
                    }
                }
            } }
        }
        nav.pages {
            @if f.offset > 0 { a rel="prev" href=(link(f.offset.saturating_sub(PAGE))) { (T::Previous.in_(lang)) } " " }
            @if more { a rel="next" href=(link(f.offset + PAGE)) { (T::Next.in_(lang)) } }
        }
    };
    let page = layout(lang, T::Outbox.in_(lang), Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &lq)
}

/// `POST /console/outbox/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = super::page::lang_of(&headers);
    if let Some(refused) = super::refusal(&session, lang, &form(&body), true) {
        return refused;
    }
    match run(
        &state,
        Command::Outbox(OutboxCommand::Retry { id, json: true }),
    )
    .await
    {
        Ok(_) => Redirect::to("/console/outbox").into_response(),
        Err(e) => problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    }
}
