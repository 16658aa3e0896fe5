//! Reports as pictures: the RFM grid as a heatmap (customers and revenue per cell), reply
//! and reaction rates by month as bars, revenue per contact by campaign, and the guards'
//! outcomes — drawn here as SVG from `report rfm`, `report kpi` and `report guards`, so the
//! page needs no script and no library. (SVG elements are written with a closing tag:
//! HTML's parser nests whatever follows an unclosed `<rect>` inside it.)

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};
use serde_json::Value;

use super::{
    LangQuery, lang,
    page::{T, layout, respond},
    run, to_login, with_lang_cookie,
};
use crate::{
    args::{Command, KpiArgs, KpiBy, ReportCommand},
    daemon::http::AppState,
};

/// `GET /console/reports`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = lang(&headers, &q);
    let kpi = |by| {
        Command::Report(ReportCommand::Kpi(KpiArgs {
            since: None,
            until: None,
            by,
            json: true,
            csv: false,
        }))
    };
    // Each reads the log on a reading handle of its own ([`crate::commands::reads_log_only`]),
    // so the four run side by side, and beside ingest.
    let (rfm, months, campaigns, guards) = tokio::join!(
        run(
            &state,
            Command::Report(ReportCommand::Rfm {
                json: true,
                csv: false,
            }),
        ),
        run(&state, kpi(KpiBy::Month)),
        run(&state, kpi(KpiBy::Campaign)),
        run(
            &state,
            Command::Report(ReportCommand::Guards {
                since: None,
                json: true,
            }),
        ),
    );
    let [rfm, months, campaigns, guards] =
        [rfm, months, campaigns, guards].map(|r| r.unwrap_or(Value::Null));
    let body = html! {
        section #rfm { h2 { "RFM" } (heatmap(&rfm)) }
        section #kpi-months { h2 { (T::KpiByMonth.in_(lang)) } (bars(&months, &["reply_rate", "reaction_rate"], true)) }
        section #kpi-campaigns { h2 { (T::KpiByCampaign.in_(lang)) } (bars(&campaigns, &["revenue_per_contact"], false)) }
        section #guards { h2 { (T::GuardOutcomes.in_(lang)) } (guard_table(&guards)) }
    };
    let page = layout(lang, T::Reports.in_(lang), Some(&session), body);
    with_lang_cookie(respond(StatusCode::OK, page), &q)
}

/// The 5×5 grid of recency (rows, 5 = most recent) by frequency (columns), each cell
/// shaded by its share of customers and labelled with customers and revenue.
fn heatmap(rfm: &Value) -> Markup {
    let cells = rfm["cells"].as_array().cloned().unwrap_or_default();
    let most = cells
        .iter()
        .filter_map(|c| c["customers"].as_u64())
        .max()
        .unwrap_or(0)
        .max(1);
    let (size, left, top) = (96, 40, 24);
    html! {
        svg.heatmap role="img" aria-label="RFM grid: customers and revenue by recency and frequency"
            width=(left + 5 * size) height=(top + 5 * size + 24) viewBox=(format!("0 0 {} {}", left + 5 * size, top + 5 * size + 24)) {
            @for c in &cells {
                @let r = c["r"].as_u64().unwrap_or(1).clamp(1, 5);
                @let f = c["f"].as_u64().unwrap_or(1).clamp(1, 5);
                @let n = c["customers"].as_u64().unwrap_or(0);
                @let x = left + (f - 1) * size;
                @let y = top + (5 - r) * size;
                @let shade = 255 - (n * 200 / most);
                rect x=(x) y=(y) width=(size - 2) height=(size - 2) fill=(format!("rgb({shade},{},255)", 200 + (shade / 5))) {}
                text x=(x + 6) y=(y + 22) font-size="14" { (n) }
                text x=(x + 6) y=(y + 42) font-size="11" { "¥" (c["revenue"].as_i64().unwrap_or(0)) }
            }
            @for i in 1..=5u64 {
                text x="8" y=(top + (5 - i) * size + size / 2) font-size="12" { "R" (i) }
                text x=(left + (i - 1) * size + size / 2 - 8) y=(top + 5 * size + 16) font-size="12" { "F" (i) }
            }
        }
    }
}

/// A bar per row and field: rates as percentages (`percent`) or plain figures.
fn bars(report: &Value, fields: &[&str], percent: bool) -> Markup {
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    let value = |r: &Value, f: &str| r[f].as_f64().unwrap_or(0.0);
    let top = rows
        .iter()
        .flat_map(|r| fields.iter().map(move |f| value(r, f)))
        .fold(0.0_f64, f64::max)
        .max(f64::EPSILON);
    let (row_h, label_w, bar_w) = (18 * fields.len() + 8, 140, 420.0);
    let height = row_h * rows.len() + 8;
    let colours = ["#2f4858", "#f6ae2d", "#86bbd8"];
    html! {
        svg.bars role="img" aria-label=(fields.join(", ")) width=(label_w + 520) height=(height)
            viewBox=(format!("0 0 {} {height}", label_w + 520)) {
            @for (i, r) in rows.iter().enumerate() {
                @let y = i * row_h + 4;
                text x="0" y=(y + 13) font-size="12" { (r["group"].as_str().unwrap_or("")) }
                @for (j, f) in fields.iter().enumerate() {
                    @let v = value(r, f);
                    @let w = (v / top * bar_w).round();
                    rect x=(label_w) y=(y + j * 18) width=(w) height="14" fill=(colours[j % 3]) {}
                    text x=(label_w as f64 + w + 4.0) y=(y + j * 18 + 12) font-size="11" {
                        @if percent { (format!("{:.1}%", v * 100.0)) } @else { (format!("{v:.0}")) }
                    }
                }
            }
        }
        p.legend { @for (j, f) in fields.iter().enumerate() {
            svg width="12" height="12" { rect width="12" height="12" fill=(colours[j % 3]) {} }
            " " (f) (if j + 1 < fields.len() { ", " } else { "" })
        } }
    }
}

fn guard_table(guards: &Value) -> Markup {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    html! {
        table { thead { tr { th { "outcome" } th { "guard" } th { "reason" } th { "channel" } th { "campaign" } th { "messages" } } }
            tbody { @for g in guards.as_array().into_iter().flatten() { tr {
                td { (text(&g["outcome"])) } td { (text(&g["guard"])) } td { (text(&g["reason"])) }
                td { (text(&g["channel"])) } td { (text(&g["campaign"])) } td.num { (text(&g["messages"])) }
            } } }
        }
    }
}
