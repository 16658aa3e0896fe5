//! `/u/<token>`: the customer's side of a one-click opt-out link ([`kizuna_core::unsubscribe`]).
//!
//! - `POST` with `List-Unsubscribe=One-Click` (a mail client, RFC 8058): records the opt-out
//!   of the message's channel and answers 200, no page.
//! - `GET` (a person clicked): a small page in Japanese or English (`Accept-Language`) with
//!   a button that POSTs. **A GET changes nothing**: mail scanners fetch links before anyone
//!   reads them.
//! - `POST` from that button: records the opt-out, and answers a page that says so and
//!   offers to opt out of every channel (a second button, `all=1`).
//!
//! A token that is not ours — malformed, edited, for a message that does not exist or whose
//! customer was erased — gets one plain 400 page, whatever the reason, and nothing is
//! stored. The opt-outs are events with ids derived from the message and channel, so a
//! repeated click stores nothing new and answers the same. They are durable before the
//! answer, and guards read consent at send time, so mail already queued is held too.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use kizuna_core::{Event, Store, rules::RuleSet, unsubscribe::Links};
use tokio::sync::oneshot;

use super::{http::AppState, lang::Lang, writer::Command};

/// What the customer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Only look (the GET page).
    Check,
    /// Opt out of the message's channel.
    One,
    /// Opt out of every channel.
    All,
}

/// What was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The channel of the message the link was in.
    pub channel: String,
    /// New opt-out events stored (0 for a repeated click or a look).
    pub stored: u64,
}

/// Why nothing was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not one of our tokens (one answer for every reason).
    Invalid,
    /// The store cannot write now.
    Unavailable(String),
}

/// The writer's side: checks `token` against the message it names and stores the
/// opt-outs `action` asks for, durably.
pub fn act(
    store: &mut Store,
    rules: &RuleSet,
    links: &Links,
    channels: &[String],
    token: &str,
    action: Action,
    now: Timestamp,
) -> Result<Done, Refused> {
    let unavailable = |e: kizuna_core::StoreError| Refused::Unavailable(e.to_string());
    let id = Links::message_of(token).ok_or(Refused::Invalid)?;
    let message = store.message(id).map_err(unavailable)?;
    let found = links
        .verify(token, message.map(|m| (m.customer, m.channel)))
        .ok_or(Refused::Invalid)?;
    let targets: Vec<&str> = match action {
        Action::Check => Vec::new(),
        Action::One => vec![found.channel.as_str()],
        Action::All => channels.iter().map(String::as_str).collect(),
    };
    let mut events = Vec::new();
    for channel in targets {
        let json = serde_json::json!({
            "id": format!("unsub-{}-{}-{channel}", id.seq, id.n),
            "customer": found.customer.as_str(),
            "type": "opt_out",
            "at": now.to_string(),
            "channel": channel,
            "reason": "unsubscribe link",
            "message": id.to_string(),
        });
        let serde_json::Value::Object(obj) = json else {
            continue;
        };
        // Built from a verified message: a refusal here is a bug, not the customer's.
        let event = Event::from_json(obj).map_err(|e| Refused::Unavailable(format!("{e:?}")))?;
        events.push(event);
    }
    // Clicked before: kept as it was then (its time is when it happened).
    let stored = super::inbound::keep_first(store, rules, events).map_err(unavailable)?;
    if stored > 0 {
        tracing::info!(message = %id, ?action, stored, "opt-out by link");
    }
    Ok(Done {
        channel: found.channel,
        stored,
    })
}

/// `GET /u/{token}`.
pub async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    match ask(&state, token, Action::Check).await {
        Ok(done) => html(StatusCode::OK, lang.confirm(&done.channel)),
        Err(refused) => refusal(lang, &refused),
    }
}

/// `POST /u/{token}`.
pub async fn post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::of(&headers);
    let form = kizuna_channel::query::params(&String::from_utf8_lossy(&body));
    let field = |k: &str| form.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    let one_click = field("List-Unsubscribe").as_deref() == Some("One-Click");
    let all = field("all").as_deref() == Some("1");
    let action = if all { Action::All } else { Action::One };
    match ask(&state, token, action).await {
        Ok(_) if one_click => (StatusCode::OK, "unsubscribed\n").into_response(),
        Ok(_) if all => html(StatusCode::OK, lang.all_done()),
        Ok(done) => html(StatusCode::OK, lang.done(&done.channel)),
        Err(refused) => refusal(lang, &refused),
    }
}

async fn ask(state: &AppState, token: String, action: Action) -> Result<Done, Refused> {
    let (tx, rx) = oneshot::channel();
    if state
        .writer
        .send(Command::Unsubscribe(token, action, tx))
        .is_err()
    {
        return Err(Refused::Unavailable("the daemon is stopping".into()));
    }
    rx.await
        .unwrap_or_else(|_| Err(Refused::Unavailable("the daemon is stopping".into())))
}

fn refusal(lang: Lang, refused: &Refused) -> Response {
    match refused {
        Refused::Invalid => html(StatusCode::BAD_REQUEST, lang.invalid()),
        Refused::Unavailable(_) => html(StatusCode::SERVICE_UNAVAILABLE, lang.unavailable()),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

impl Lang {
    fn confirm(self, channel: &str) -> String {
        let c = escape(channel);
        let (title, text, button) = match self {
            Self::Ja => (
                "配信停止",
                format!("今後、{c} でのお知らせを停止しますか。"),
                "配信を停止する",
            ),
            Self::En => (
                "Unsubscribe",
                format!("Stop our news by {c}?"),
                "Unsubscribe",
            ),
        };
        self.page(
            title,
            &format!(
                "<p>{text}</p><form method=\"post\"><button type=\"submit\" name=\"confirm\" value=\"1\">{button}</button></form>"
            ),
        )
    }

    fn done(self, channel: &str) -> String {
        let c = escape(channel);
        let (title, text, offer, button) = match self {
            Self::Ja => (
                "配信を停止しました",
                format!("{c} でのお知らせを停止しました。"),
                "ほかの方法（SMS など）でのお知らせもすべて停止できます。",
                "すべて停止する",
            ),
            Self::En => (
                "Unsubscribed",
                format!("You will get no more news from us by {c}."),
                "You can also stop our news on every other channel (SMS, …).",
                "Stop everything",
            ),
        };
        self.page(
            title,
            &format!(
                "<p>{text}</p><p>{offer}</p><form method=\"post\"><button type=\"submit\" name=\"all\" value=\"1\">{button}</button></form>"
            ),
        )
    }

    fn all_done(self) -> String {
        match self {
            Self::Ja => self.page(
                "すべて停止しました",
                "<p>今後、どの方法でもお知らせをお送りしません。</p>",
            ),
            Self::En => self.page(
                "Unsubscribed from everything",
                "<p>We will send you no more news on any channel.</p>",
            ),
        }
    }

    fn invalid(self) -> String {
        match self {
            Self::Ja => self.page(
                "リンクが無効です",
                "<p>このリンクは使えません。メールに記載のリンクをそのままお使いください。</p>",
            ),
            Self::En => self.page(
                "This link does not work",
                "<p>This link is not valid. Please use the link exactly as it was in our message.</p>",
            ),
        }
    }

    fn unavailable(self) -> String {
        match self {
            Self::Ja => self.page(
                "しばらくしてからお試しください",
                "<p>ただいま処理できません。少し時間をおいてもう一度お試しください。</p>",
            ),
            Self::En => self.page(
                "Please try again shortly",
                "<p>We cannot do this right now. Please try again in a little while.</p>",
            ),
        }
    }

    /// A whole page around `body` (already escaped).
    fn page(self, title: &str, body: &str) -> String {
        format!(
            "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>\n",
            self.code()
        )
    }
}

/// `s` safe in HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_the_first_of_ja_or_en_by_weight() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, v.parse().unwrap());
            Lang::of(&h)
        };
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::Ja);
        assert_eq!(with("en-US,en;q=0.9"), Lang::En);
        assert_eq!(with("fr, en;q=0.5, ja;q=0.8"), Lang::Ja);
        assert_eq!(with("de"), Lang::Ja);
        assert!(escape("<a href=\"x\">&'").starts_with("&lt;a href=&quot;x&quot;&gt;&amp;&#39;"));
    }
}
