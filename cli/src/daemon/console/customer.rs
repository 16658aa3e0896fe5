//! Customers: a search over id, name, e-mail and phone (`customer list --search`), paged;
//! and one customer (`customer show`, `outbox list --customer`): profile, consent, points
//! and tier with their lots, RFM, what is open, the timeline with what the rules did on
//! each event, and every message with its guard's verdict.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};
use serde_json::Value;

use super::{
    LangQuery,
    inbox::urlencoding,
    lang,
    page::{T, layout, respond},
    problem, run, to_login, with_lang_cookie,
};
use crate::{
    args::{
        Command, CustomerCommand, CustomerListArgs, CustomerShowArgs, OutboxCommand, OutboxListArgs,
    },
    daemon::http::AppState,
};

/// Customers a page.
const PAGE: usize = 50;

/// A customer's newest messages shown on their page.
const MESSAGES: usize = 100;

/// The search form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    #[serde(default)]
    offset: usize,
    lang: Option<String>,
}

/// `GET /console/customers?q=&offset=`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lq = LangQuery {
        lang: q.lang.clone(),
    };
    let lang = lang(&headers, &lq);
    let search = q.q.clone().filter(|s| !s.trim().is_empty());
    let command = Command::Customer(CustomerCommand::List(CustomerListArgs {
        segment: None,
        tag: None,
        search: search.clone(),
        offset: q.offset,
        limit: Some(PAGE + 1),
        json: true,
    }));
    let found = match run(&state, command).await {
        Ok(v) => v.as_array().cloned().unwrap_or_default(),
        Err(e) => return problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    };
    let more = found.len() > PAGE;
    let query = search.as_deref().unwrap_or("");
    let page_link = |offset: usize| {
        format!(
            "/console/customers?q={}&offset={offset}",
            urlencoding(query)
        )
    };
    let body = html! {
        form.search method="get" action="/console/customers" role="search" {
            input type="search" name="q" value=(query) placeholder=(T::SearchHelp.in_(lang))
                aria-label=(T::Search.in_(lang)) autofocus;
            button type="submit" { (T::Search.in_(lang)) }
        }
        table.customers {
            thead { tr {
                th { "ID" } th { (T::Name.in_(lang)) } th { (T::Email.in_(lang)) }
                th { (T::Phone.in_(lang)) } th { (T::Orders.in_(lang)) } th { (T::Revenue.in_(lang)) }
            } }
            tbody {
                @for c in found.iter().take(PAGE) {
                    @let id = c["id"].as_str().unwrap_or("");
                    tr {
                        td { a href=(format!("/console/customers/{}", urlencoding(id))) { (id) } }
                        td { (c["profile"]["name"].as_str().unwrap_or("")) }
                        td { (c["profile"]["email"].as_str().unwrap_or("")) }
                        td { (c["profile"]["phone"].as_str().unwrap_or("")) }
                        td.num { (c["stats"]["orders"].as_u64().unwrap_or(0)) }
                        td.num { (c["stats"]["revenue"].as_i64().unwrap_or(0)) }
                    }
                }
            }
        }
        nav.pages {
            @if q.offset > 0 { a rel="prev" href=(page_link(q.offset.saturating_sub(PAGE))) { (T::Previous.in_(lang)) } " " }
            @if more { a rel="next" href=(page_link(q.offset + PAGE)) { (T::Next.in_(lang)) } }
        }
    };
    let page = layout(lang, T::Customers.in_(lang), Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &lq)
}

/// `GET /console/customers/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = lang(&headers, &q);
    let show = Command::Customer(CustomerCommand::Show(CustomerShowArgs {
        id: id.clone(),
        events: 100,
        json: true,
    }));
    let shown = match run(&state, show).await {
        Ok(v) => v,
        Err(e) => return problem(lang, &session, StatusCode::NOT_FOUND, &e),
    };
    let outbox = Command::Outbox(OutboxCommand::List(OutboxListArgs {
        customer: Some(id.clone()),
        newest_first: true,
        limit: Some(MESSAGES),
        json: true,
        ..OutboxListArgs::default()
    }));
    let messages = run(&state, outbox).await.unwrap_or(Value::Null);
    let c = &shown["customer"];
    let title = c["profile"]["name"].as_str().unwrap_or(&id).to_owned();
    let body = html! {
        (profile(lang, c))
        (loyalty(lang, c))
        (open_items(lang, c))
        (timeline(lang, &shown["events"]))
        (outbox_table(lang, &messages))
    };
    let page = layout(lang, &title, Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &q)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn profile(lang: super::Lang, c: &Value) -> Markup {
    let p = &c["profile"];
    html! {
        section #profile {
            h2 { (T::Profile.in_(lang)) }
            dl {
                dt { "ID" } dd { (text(&c["id"])) }
                dt { (T::Name.in_(lang)) } dd { (text(&p["name"])) }
                dt { (T::Email.in_(lang)) } dd { (text(&p["email"])) }
                dt { (T::Phone.in_(lang)) } dd { (text(&p["phone"])) }
                dt { "tz" } dd { (text(&p["tz"])) }
            }
            h2 { (T::Consent.in_(lang)) }
            ul.consent {
                @if let Some(consent) = c["consent"].as_object() {
                    @for (channel, v) in consent {
                        li { (channel) ": " (if v["granted"] == true { "✓ opt-in" } else { "✗ opt-out" }) " (" (text(&v["at"])) ")" }
                    }
                }
            }
        }
    }
}

fn loyalty(lang: super::Lang, c: &Value) -> Markup {
    let l = &c["loyalty"];
    let now = jiff::Timestamp::now();
    let lots = l["lots"].as_array().cloned().unwrap_or_default();
    let live = |lot: &Value| {
        lot["expires"]
            .as_str()
            .and_then(|e| e.parse::<jiff::Timestamp>().ok())
            .is_some_and(|e| e > now)
    };
    let balance: i64 = lots
        .iter()
        .filter(|lot| live(lot))
        .map(|lot| lot["remaining"].as_i64().unwrap_or(0))
        .sum();
    let rfm = &c["rfm"];
    html! {
        section #loyalty {
            h2 { (T::Loyalty.in_(lang)) }
            dl {
                dt { (T::Tier.in_(lang)) } dd { (text(&l["tier"])) }
                dt { (T::Points.in_(lang)) } dd.points { (balance) }
            }
            @if !lots.is_empty() {
                table.lots {
                    caption { (T::Lots.in_(lang)) }
                    thead { tr { th { "+" } th { "=" } th { "earned" } th { "expires" } th { "event" } } }
                    tbody { @for lot in &lots { tr {
                        td.num { (text(&lot["points"])) } td.num { (text(&lot["remaining"])) }
                        td { (text(&lot["earned"])) } td { (text(&lot["expires"])) } td { (text(&lot["event"])) }
                    } } }
                }
            }
            @if rfm.is_object() {
                p.rfm { (T::Rfm.in_(lang)) ": R" (text(&rfm["r"])) " F" (text(&rfm["f"])) " M" (text(&rfm["m"])) " — " (text(&rfm["segment"])) }
            }
        }
    }
}

fn open_items(lang: super::Lang, c: &Value) -> Markup {
    let inquiries = c["stats"]["open_inquiries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let promises = c["promises"]["open"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        section #open {
            h2 { (T::OpenInquiries.in_(lang)) }
            ul { @for i in &inquiries { li { (text(&i["event"])) " (" (text(&i["kind"])) ", " (text(&i["at"])) ")" } } }
            @if !promises.is_empty() {
                h2 { (T::Promises.in_(lang)) }
                ul { @for p in &promises { li { (text(&p["what"])) " — " (text(&p["due"])) } } }
            }
        }
    }
}

fn timeline(lang: super::Lang, events: &Value) -> Markup {
    let mut events = events.as_array().cloned().unwrap_or_default();
    events.reverse();
    html! {
        section #timeline {
            h2 { (T::Timeline.in_(lang)) }
            ol.timeline {
                @for e in &events {
                    li {
                        span.when { (text(&e["at"])) } " "
                        strong.type { (text(&e["type"])) } " "
                        span.attrs { (attrs(e)) }
                        @if let Some(effects) = e["_effects"]["effects"].as_array() {
                            @if !effects.is_empty() {
                                ul.effects aria-label=(T::Effects.in_(lang)) {
                                    @for f in effects {
                                        li { span.script { (text(&f["script"])) } " → " (effect(f)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An event's own facts, `key=value`, without what every event has.
fn attrs(e: &Value) -> String {
    e.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "at" | "type" | "customer" | "_effects"))
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An effect: its kind, then its facts.
fn effect(f: &Value) -> String {
    let mut parts = vec![text(&f["effect"])];
    parts.extend(
        f.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "effect" | "script"))
            .map(|(k, v)| format!("{k}={}", text(v))),
    );
    parts.join(" ")
}

fn outbox_table(lang: super::Lang, messages: &Value) -> Markup {
    let messages = messages.as_array().cloned().unwrap_or_default();
    html! {
        section #messages {
            h2 { (T::Messages.in_(lang)) }
            table.messages {
                thead { tr {
                    th { "ID" } th { "template" } th { "channel" } th { "class" }
                    th { (T::Status.in_(lang)) } th { (T::Guard.in_(lang)) } th { (T::Reason.in_(lang)) }
                } }
                tbody { @for m in &messages { tr {
                    td { (text(&m["id"])) } td { (text(&m["template"])) } td { (text(&m["channel"])) }
                    td { (text(&m["class"])) } td { (text(&m["status"]["state"])) }
                    td { (text(&m["status"]["guard"])) } td { (text(&m["status"]["reason"])) }
                } } }
            }
        }
    }
}
