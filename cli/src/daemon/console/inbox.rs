//! The alerts inbox, the console's landing page: open alerts by priority and age, and the
//! staff's three answers to one — acknowledge (`alerts ack`), resolve (`alerts resolve`),
//! record the reply or call (`event add --type reply`, which answers the customer's open
//! inquiries as the CLI's would).

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use serde_json::Value;

use super::{
    LangQuery, form, lang,
    page::{T, age, layout, respond},
    problem, run,
    session::Session,
    to_login, with_lang_cookie,
};
use crate::{
    args::{
        AlertAction, AlertHandleArgs, AlertShowArgs, AlertsArgs, Command, EventAddArgs,
        EventCommand,
    },
    daemon::{http::AppState, lang::Lang},
};

/// `GET /console/inbox`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = lang(&headers, &q);
    let table = match table(&state, lang, &session).await {
        Ok(t) => t,
        Err(e) => return problem(lang, &session, StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let body = html! {
        @if !session.can_act() { p.note { (T::ReadOnly.in_(lang)) } }
        div #alerts data-refresh="/console/inbox/list" aria-live="polite" { (table) }
    };
    let page = layout(lang, T::Inbox.in_(lang), Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &q)
}

/// `GET /console/inbox/list`: the table alone, which the page's script fetches every few
/// seconds so new alerts appear without a reload.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let lang = super::page::lang_of(&headers);
    match table(&state, lang, &session).await {
        Ok(t) => respond(StatusCode::OK, t),
        Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, html! { p.error { (e) } }),
    }
}

async fn table(state: &AppState, lang: Lang, session: &Session) -> Result<Markup, String> {
    let command = Command::Alerts(AlertsArgs {
        action: None,
        open: true,
        by_priority: true,
        limit: Some(SHOWN + 1),
        json: true,
    });
    let alerts = run(state, command).await?;
    let mut alerts = alerts.as_array().cloned().unwrap_or_default();
    let more = alerts.len() > SHOWN;
    alerts.truncate(SHOWN);
    let now = jiff::Timestamp::now();
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    Ok(html! {
        @if alerts.is_empty() {
            p.empty { (T::NoAlerts.in_(lang)) }
        } @else {
            table.alerts {
                thead { tr {
                    th { (T::Priority.in_(lang)) }
                    th { (T::Customer.in_(lang)) }
                    th { (T::Waiting.in_(lang)) }
                    th { (T::Since.in_(lang)) }
                    th { (T::TakenUp.in_(lang)) }
                    @if session.can_act() { th { (T::Actions.in_(lang)) } }
                } }
                tbody {
                    @for a in &alerts {
                        @let id = text(a, "id");
                        @let customer = text(a, "customer");
                        tr #(format!("alert-{id}")) {
                            td.num { (a["priority"].as_i64().unwrap_or(0)) }
                            td { a href=(format!("/console/customers/{}", urlencoding(&customer))) { (customer) } }
                            td { (text(a, "text")) }
                            td { time datetime=(text(a, "at")) { (age(&text(a, "at"), now)) } }
                            td { (a["acked"]["by"].as_str().unwrap_or(if a["acked"].is_object() { "✓" } else { "" })) }
                            @if session.can_act() {
                                td.actions { (actions(lang, session, &id)) }
                            }
                        }
                    }
                }
            }
            @if more { p.more { "… " (SHOWN) "+ (kizuna alerts --open)" } }
        }
    })
}

/// Alerts the inbox shows: the most pressing (priority, then age); the page stays light
/// however many are open.
const SHOWN: usize = 100;

/// One form a row: who, a note, and four buttons (what the staff did). Buttons in a form
/// submit by default: `type` is left out, as every byte counts a hundred times here.
fn actions(lang: Lang, session: &Session, id: &str) -> Markup {
    html! {
        form method="post" action=(format!("/console/alerts/{id}")) {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="text" name="by" placeholder=(T::YourName.in_(lang))
                aria-label=(T::YourName.in_(lang)) size="8";
            input type="text" name="note" placeholder=(T::Note.in_(lang))
                aria-label=(T::Note.in_(lang)) size="12";
            button name="do" value="ack" { (T::Ack.in_(lang)) }
            button name="do" value="resolve" { (T::Resolve.in_(lang)) }
            button name="do" value="reply" { (T::RecordReply.in_(lang)) }
            button name="do" value="call" { (T::RecordCall.in_(lang)) }
        }
    }
}

/// `POST /console/alerts/{id}` with `do` = ack, resolve or reply.
pub async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = super::page::lang_of(&headers);
    let fields = form(&body);
    if let Some(refused) = super::refusal(&session, lang, &fields, true) {
        return refused;
    }
    let field = |k: &str| {
        fields
            .get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (by, note) = (field("by"), field("note"));
    let handle = |resolve: bool| {
        let args = AlertHandleArgs {
            id: id.clone(),
            by: by.clone(),
            note: note.clone(),
            at: None,
            json: true,
        };
        Command::Alerts(AlertsArgs {
            action: Some(if resolve {
                AlertAction::Resolve(args)
            } else {
                AlertAction::Ack(args)
            }),
            open: false,
            by_priority: false,
            limit: None,
            json: true,
        })
    };
    let action = fields.get("do").cloned().unwrap_or_default();
    let command = match action.as_str() {
        "ack" => handle(false),
        "resolve" => handle(true),
        how @ ("reply" | "call") => {
            match reply(&state, &id, how, by.as_deref(), note.as_deref()).await {
                Ok(command) => command,
                Err(e) => return problem(lang, &session, StatusCode::NOT_FOUND, &e),
            }
        }
        other => {
            return problem(
                lang,
                &session,
                StatusCode::NOT_FOUND,
                &format!("no action {other:?}"),
            );
        }
    };
    match run(&state, command).await {
        Ok(_) => Redirect::to("/console/inbox").into_response(),
        Err(e) => problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    }
}

/// The `reply` event for the customer of alert `id`: staff wrote back, or (`how` = call)
/// called them back, which answers the inquiry just the same (`via=phone`).
async fn reply(
    state: &AppState,
    id: &str,
    how: &str,
    by: Option<&str>,
    note: Option<&str>,
) -> Result<Command, String> {
    let alert = run(
        state,
        Command::Alerts(AlertsArgs {
            action: Some(AlertAction::Show(AlertShowArgs {
                id: id.to_owned(),
                json: true,
            })),
            open: false,
            by_priority: false,
            limit: None,
            json: true,
        }),
    )
    .await?;
    let customer = alert["customer"]
        .as_str()
        .ok_or_else(|| format!("no alert {id}"))?
        .to_owned();
    let mut attrs = Vec::new();
    if how == "call" {
        attrs.push("via=phone".to_owned());
    }
    if let Some(by) = by {
        attrs.push(format!("by={by}"));
    }
    if let Some(note) = note {
        attrs.push(format!("text={note}"));
    }
    Ok(Command::Event(EventCommand::Add(EventAddArgs {
        customer,
        kind: "reply".into(),
        at: None,
        id: None,
        attrs,
        json: true,
    })))
}

/// `s` as one URL path segment.
pub fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
