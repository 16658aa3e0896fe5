//! The frame of every console page, its words in two languages, and the headers every
//! answer carries (a strict Content-Security-Policy: scripts and styles from the daemon
//! only, no inline code, no frames).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use maud::{DOCTYPE, Markup, html};

use super::session::Session;
use crate::daemon::lang::Lang;

/// The policy every console answer carries.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The words of the console.
#[derive(Debug, Clone, Copy)]
pub enum T {
    Inbox,
    Customers,
    Logout,
    Login,
    Token,
    LoginHelp,
    BadToken,
    Priority,
    Customer,
    Waiting,
    Since,
    TakenUp,
    Actions,
    Ack,
    Resolve,
    RecordReply,
    RecordCall,
    From,
    To,
    YourName,
    Note,
    NoAlerts,
    Search,
    SearchHelp,
    Name,
    Email,
    Phone,
    Orders,
    Revenue,
    Next,
    Previous,
    Profile,
    Consent,
    Loyalty,
    Tier,
    Points,
    Lots,
    Rfm,
    OpenInquiries,
    Promises,
    Timeline,
    Effects,
    Messages,
    Status,
    Guard,
    Reason,
    NotFound,
    Refused,
    ReadOnly,
    Outbox,
    Campaigns,
    Reports,
    Rules,
    Retry,
    DryRun,
    ReplayChange,
    ReplayHelp,
    FileName,
    Upload,
    OrPaste,
    Replay,
    ReplayedWith,
    BackToRules,
    LastReloadFailed,
    Fixtures,
    RuleErrors,
    KpiByMonth,
    KpiByCampaign,
    GuardOutcomes,
    Queued,
    Run,
}

impl T {
    /// The words in `lang`.
    pub fn in_(self, lang: Lang) -> &'static str {
        let (ja, en) = match self {
            Self::Inbox => ("受信箱", "Inbox"),
            Self::Customers => ("顧客", "Customers"),
            Self::Logout => ("ログアウト", "Log out"),
            Self::Login => ("ログイン", "Log in"),
            Self::Token => ("トークン", "Token"),
            Self::LoginHelp => (
                "read または admin のトークンを入力してください。",
                "Enter a token of role read or admin.",
            ),
            Self::BadToken => (
                "このトークンではログインできません。",
                "This token cannot log in.",
            ),
            Self::Priority => ("優先度", "Priority"),
            Self::Customer => ("顧客", "Customer"),
            Self::Waiting => ("待っていること", "Waiting for"),
            Self::Since => ("経過", "Since"),
            Self::TakenUp => ("対応中", "Taken up by"),
            Self::Actions => ("操作", "Actions"),
            Self::Ack => ("対応する", "Acknowledge"),
            Self::Resolve => ("解決", "Resolve"),
            Self::RecordReply => ("返信を記録", "Record reply"),
            Self::RecordCall => ("電話を記録", "Record call"),
            Self::From => ("開始日", "From"),
            Self::To => ("終了日", "To"),
            Self::YourName => ("担当者名", "Your name"),
            Self::Note => ("メモ", "Note"),
            Self::NoAlerts => ("未解決のアラートはありません。", "No open alerts."),
            Self::Search => ("検索", "Search"),
            Self::SearchHelp => ("ID・名前・メール・電話", "id, name, e-mail or phone"),
            Self::Name => ("名前", "Name"),
            Self::Email => ("メール", "E-mail"),
            Self::Phone => ("電話", "Phone"),
            Self::Orders => ("注文", "Orders"),
            Self::Revenue => ("売上", "Revenue"),
            Self::Next => ("次へ", "Next"),
            Self::Previous => ("前へ", "Previous"),
            Self::Profile => ("プロフィール", "Profile"),
            Self::Consent => ("配信の同意", "Consent"),
            Self::Loyalty => ("ポイントとランク", "Points and tier"),
            Self::Tier => ("ランク", "Tier"),
            Self::Points => ("ポイント", "Points"),
            Self::Lots => ("ポイントの内訳", "Point lots"),
            Self::Rfm => ("RFM", "RFM"),
            Self::OpenInquiries => ("未回答の問い合わせ", "Open inquiries"),
            Self::Promises => ("約束", "Promises"),
            Self::Timeline => ("履歴", "Timeline"),
            Self::Effects => ("ルールの結果", "What the rules did"),
            Self::Messages => ("メッセージ", "Messages"),
            Self::Status => ("状態", "Status"),
            Self::Guard => ("ガード", "Guard"),
            Self::Reason => ("理由", "Reason"),
            Self::NotFound => ("見つかりません", "Not found"),
            Self::Refused => ("できませんでした", "Not done"),
            Self::ReadOnly => (
                "閲覧専用のトークンでは変更できません。",
                "A read-only token may not change anything.",
            ),
            Self::Outbox => ("送信箱", "Outbox"),
            Self::Campaigns => ("キャンペーン", "Campaigns"),
            Self::Reports => ("レポート", "Reports"),
            Self::Rules => ("ルール", "Rules"),
            Self::Retry => ("再送", "Retry"),
            Self::DryRun => ("試算", "Dry run"),
            Self::Run => ("実行", "Run"),
            Self::ReplayChange => ("変更を試す(リプレイ)", "Replay a change"),
            Self::ReplayHelp => (
                "スクリプト(またはテンプレート、フィクスチャ)を1つ貼り付けるかアップロードしてください。ルールのコピーの同名ファイルを置き換え、全履歴をそのコピーで再生します。ルールのディレクトリに保存するまで何も変わりません。",
                "Paste or upload one script (or template, or fixture): it replaces the live file of that name in a copy of the rules, and the whole history is replayed through the copy. Nothing changes until you save the file in the rules directory.",
            ),
            Self::FileName => ("ファイル名", "File name"),
            Self::Upload => ("アップロード", "Upload"),
            Self::OrPaste => ("または貼り付け", "or paste"),
            Self::Replay => ("リプレイ", "Replay"),
            Self::ReplayedWith => ("変更したファイル:", "Replayed with this file changed:"),
            Self::BackToRules => ("ルールに戻る", "Back to the rules"),
            Self::LastReloadFailed => ("直近の再読み込みに失敗しました", "Last reload failed"),
            Self::Fixtures => ("フィクスチャ", "Fixtures"),
            Self::RuleErrors => ("ルールのエラー", "Rule errors"),
            Self::KpiByMonth => ("月別の返信率・反応率", "Reply and reaction rate by month"),
            Self::KpiByCampaign => (
                "キャンペーン別の接触あたり売上",
                "Revenue per contact by campaign",
            ),
            Self::GuardOutcomes => ("ガードの判定", "Guard outcomes"),
            Self::Queued => ("送信予約", "Queued"),
        };
        match lang {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

/// The language of a console request: `?lang=` remembered in a cookie, else the browser's.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    match super::session::cookie(headers, "kizuna_lang") {
        Some("en") => Lang::En,
        Some("ja") => Lang::Ja,
        _ => Lang::of(headers),
    }
}

/// A whole page around `body`.
pub fn layout(lang: Lang, title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — kizuna" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header {
                    nav {
                        @if session.is_some() {
                            a href="/console/inbox" { (T::Inbox.in_(lang)) }
                            " "
                            a href="/console/customers" { (T::Customers.in_(lang)) }
                            " "
                            a href="/console/outbox" { (T::Outbox.in_(lang)) }
                            " "
                            a href="/console/campaigns" { (T::Campaigns.in_(lang)) }
                            " "
                            a href="/console/reports" { (T::Reports.in_(lang)) }
                            " "
                            a href="/console/rules" { (T::Rules.in_(lang)) }
                        }
                        span.lang {
                            a href="?lang=ja" lang="ja" { "日本語" }
                            " | "
                            a href="?lang=en" lang="en" { "English" }
                        }
                        @if let Some(s) = session {
                            form.logout method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { (T::Logout.in_(lang)) }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML answer with the console's headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    secure(response.headers_mut(), "text/html; charset=utf-8");
    response
}

/// Sets the console's headers on an answer of `content_type`.
pub fn secure(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// How long ago `at` (RFC 3339) was, as staff say it: `3 d 2 h`, `5 h 10 min`, `7 min`.
pub fn age(at: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = at.parse::<jiff::Timestamp>() else {
        return at.to_owned();
    };
    let mins = now.duration_since(t).as_secs().max(0) / 60;
    match (mins / 1440, mins / 60 % 24) {
        (0, 0) => format!("{} min", mins % 60),
        (0, h) => format!("{h} h {} min", mins % 60),
        (d, h) => format!("{d} d {h} h"),
    }
}
