//! Deterministic sample data: a small coffee roaster's year, and a raw event stream for
//! benchmarks.
//!
//! The generator is seeded (fastrand's wyrand, stable across platforms and releases), and
//! every time is an offset from an explicit `now`, so the same seed and `now` always give the
//! same business, byte for byte.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const SURNAMES: [&str; 16] = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
];
const GIVEN: [&str; 16] = [
    "陽翔", "蓮", "湊", "悠真", "大翔", "結衣", "陽葵", "凛", "葵", "紬", "花子", "太郎", "美咲",
    "健", "愛", "翼",
];
const COMPANIES: [&str; 6] = ["喫茶", "カフェ", "珈琲店", "ベーカリー", "書店", "ホテル"];
/// (item code, price in yen).
const CATALOGUE: [(&str, i64); 8] = [
    ("beans-200g", 1_400),
    ("beans-500g", 3_200),
    ("filter-papers", 450),
    ("dripper", 2_800),
    ("mug", 1_900),
    ("grinder", 12_800),
    ("gift-set", 5_400),
    ("cold-brew-bottle", 2_300),
];
/// (zone, share in percent): mostly Japan, a few customers abroad.
const ZONES: [(&str, u32); 4] = [
    ("Asia/Tokyo", 88),
    ("America/Los_Angeles", 5),
    ("Europe/London", 4),
    ("Australia/Sydney", 3),
];

/// How a customer buys over the sample year.
#[derive(Debug, Clone, Copy)]
enum Persona {
    /// Every 2–6 weeks all year.
    Regular,
    /// Every 2–4 months.
    Occasional,
    /// One purchase.
    OneOff,
    /// Regular in the first months, then gone.
    Lapsed,
    /// Signed up, never bought.
    Prospect,
}

/// A generated business: customer CSV text and event lines, each sorted by time.
#[derive(Debug)]
pub struct SampleBusiness {
    /// `customers.csv` content.
    pub customers_csv: String,
    /// `events.jsonl` lines.
    pub events: Vec<String>,
}

/// A year of a coffee roaster's customers, ending at `now`.
pub fn business(seed: u64, customers: usize, now: Timestamp) -> SampleBusiness {
    let mut rng = fastrand::Rng::with_seed(seed);
    // Newsletters draw from their own stream, so adding them left the rest of the
    // business (and every figure derived from it) as it was.
    let mut news = fastrand::Rng::with_seed(seed ^ 0x6e65_7773);
    let year_ago = now - SignedDuration::from_hours(365 * 24);
    let mut csv = String::from("id,name,email,phone,kind,tz,birthday,business_hours\n");
    let mut events: Vec<(Timestamp, Value)> = Vec::new();
    for n in 1..=customers {
        let id = format!("c-{n:05}");
        let business = rng.u32(0..100) < 15;
        let name = if business {
            format!(
                "{}{}",
                SURNAMES[rng.usize(..SURNAMES.len())],
                COMPANIES[rng.usize(..COMPANIES.len())]
            )
        } else {
            format!(
                "{} {}",
                SURNAMES[rng.usize(..SURNAMES.len())],
                GIVEN[rng.usize(..GIVEN.len())]
            )
        };
        let tz = pick_zone(&mut rng);
        let birthday = if business {
            String::new()
        } else {
            format!(
                "{}-{:02}-{:02}",
                rng.i32(1950..2006),
                rng.u8(1..13),
                rng.u8(1..29)
            )
        };
        let hours = if business { "Mon-Fri 09:00-18:00" } else { "" };
        let _ = writeln!(
            csv,
            "{id},{name},{id}@example.jp,+81 90-{:04}-{:04},{},{tz},{birthday},{hours}",
            rng.u16(0..10_000),
            rng.u16(0..10_000),
            if business { "business" } else { "personal" },
        );

        let joined = year_ago + SignedDuration::from_hours(rng.i64(0..24 * 120));
        let mut add = |at: Timestamp, v: Value| events.push((at, v));
        let email_ok = rng.u32(0..100) < 70;
        if email_ok {
            add(
                joined,
                json!({"customer": id, "type": "opt_in", "at": at_text(joined), "channel": "email"}),
            );
            // A monthly newsletter; some readers click, a few write back.
            for month in 1..12 {
                let day = year_ago + SignedDuration::from_hours(24 * 30 * month);
                if day < joined || news.u32(0..100) >= 60 {
                    continue;
                }
                let at = shop_hours(&mut news, day);
                add(
                    at,
                    json!({"customer": id, "type": "message_sent", "at": at_text(at), "channel": "email", "template": "newsletter", "class": "marketing", "campaign": "newsletter"}),
                );
                let roll = news.u32(0..100);
                let later = at + SignedDuration::from_hours(news.i64(2..72));
                if roll < 25 {
                    add(
                        later,
                        json!({"customer": id, "type": "click", "at": at_text(later), "link": "newsletter"}),
                    );
                } else if roll < 29 {
                    add(
                        later,
                        json!({"customer": id, "type": "customer_reply", "at": at_text(later), "channel": "email"}),
                    );
                }
            }
        }
        if rng.u32(0..100) < 40 {
            add(
                joined,
                json!({"customer": id, "type": "opt_in", "at": at_text(joined), "channel": "sms"}),
            );
        }
        let persona = match rng.u32(0..100) {
            0..20 => Persona::Regular,
            20..55 => Persona::Occasional,
            55..78 => Persona::OneOff,
            78..93 => Persona::Lapsed,
            _ => Persona::Prospect,
        };
        let mut purchase_times = Vec::new();
        let (gap_days, until) = match persona {
            Persona::Regular => (14..42, now),
            Persona::Occasional => (60..120, now),
            Persona::Lapsed => (
                14..40,
                year_ago + SignedDuration::from_hours(24 * rng.i64(100..200)),
            ),
            Persona::OneOff | Persona::Prospect => (0..1, now),
        };
        let mut t = joined + SignedDuration::from_hours(rng.i64(1..24 * 14));
        match persona {
            Persona::Prospect => {}
            Persona::OneOff => purchase_times.push(t.min(now)),
            _ => {
                while t < until {
                    purchase_times.push(t);
                    t += SignedDuration::from_hours(24 * rng.i64(gap_days.clone()));
                }
            }
        }
        for (k, &day) in purchase_times.iter().enumerate() {
            let at = shop_hours(&mut rng, day).min(now);
            let count = rng.usize(1..4);
            let mut items = Vec::new();
            let mut amount = 0;
            for _ in 0..count {
                let (item, price) = CATALOGUE[rng.usize(..CATALOGUE.len())];
                if !items.contains(&item) {
                    items.push(item);
                    amount += price;
                }
            }
            let id_text = format!("o-{n:05}-{k:03}");
            add(
                at,
                json!({"id": id_text, "customer": id, "type": "purchase", "at": at_text(at), "amount": amount, "items": items}),
            );
        }
        // Inquiries, most answered within hours, some still open.
        for q in 0..rng.usize(0..3) {
            if rng.u32(0..100) >= 30 {
                continue;
            }
            let at = year_ago + SignedDuration::from_hours(rng.i64(0..24 * 364));
            let kind = if rng.u32(0..100) < 20 {
                "complaint"
            } else {
                "inquiry"
            };
            let qid = format!("q-{n:05}-{q}");
            add(
                at,
                json!({"id": qid, "customer": id, "type": kind, "at": at_text(at), "topic": "order"}),
            );
            if rng.u32(0..100) < 85 {
                let answered = (at + SignedDuration::from_hours(rng.i64(1..40))).min(now);
                add(
                    answered,
                    json!({"customer": id, "type": "reply", "at": at_text(answered), "in_reply_to": qid}),
                );
            }
        }
        if rng.u32(0..100) < 10 {
            let at = year_ago + SignedDuration::from_hours(rng.i64(24 * 180..24 * 364));
            add(
                at,
                json!({"customer": id, "type": "decline", "at": at_text(at), "offer": "gift-set"}),
            );
        }
        if rng.u32(0..100) < 8 {
            let at = year_ago + SignedDuration::from_hours(rng.i64(24 * 200..24 * 364));
            add(
                at,
                json!({"customer": id, "type": "opt_out", "at": at_text(at), "channel": "email"}),
            );
        }
        if business && rng.u32(0..100) < 50 {
            let at = year_ago + SignedDuration::from_hours(rng.i64(0..24 * 364));
            add(
                at,
                json!({"customer": id, "type": "contact", "at": at_text(at), "mode": "visit"}),
            );
        }
    }
    events.sort_by_key(|(at, _)| *at);
    SampleBusiness {
        customers_csv: csv,
        events: events.into_iter().map(|(_, v)| v.to_string()).collect(),
    }
}

/// A time on `day`'s UTC date between 10:00 and 20:00 Japan time, when the shop is open.
fn shop_hours(rng: &mut fastrand::Rng, day: Timestamp) -> Timestamp {
    let midnight =
        Timestamp::from_second(day.as_second().div_euclid(86_400) * 86_400).unwrap_or(day);
    midnight + SignedDuration::from_mins(rng.i64(60..660))
}

fn pick_zone(rng: &mut fastrand::Rng) -> &'static str {
    let mut roll = rng.u32(0..100);
    for (zone, share) in ZONES {
        if roll < share {
            return zone;
        }
        roll -= share;
    }
    ZONES[0].0
}

/// Event times are written in Japan time, as a Japanese shop system would.
fn at_text(t: Timestamp) -> String {
    let jst = jiff::tz::Offset::constant(9);
    t.display_with_offset(jst).to_string()
}

/// The benchmark stream: `n` events over `customers` customers across one year before
/// `now`, in time order, with explicit ids; a mix of kinds with purchases the majority.
pub fn bench_events(
    seed: u64,
    n: usize,
    customers: usize,
    now: Timestamp,
) -> impl Iterator<Item = String> {
    bench_events_over(
        seed,
        n,
        customers,
        now,
        SignedDuration::from_hours(365 * 24),
    )
}

/// [`bench_events`] spread over `span` before `now` instead of a year: a short span is
/// live traffic, whose timers fall due after the run rather than during it.
pub fn bench_events_over(
    seed: u64,
    n: usize,
    customers: usize,
    now: Timestamp,
    span: SignedDuration,
) -> impl Iterator<Item = String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = now - span;
    let step = span / (n.max(1) as i32);
    (0..n).map(move |i| {
        let at = at_text(start + step * (i as i32));
        let customer = format!("c-{:07}", rng.usize(..customers.max(1)));
        let id = format!("b-{i:09}");
        let v = match rng.u32(0..100) {
            0..55 => {
                let (item, price) = CATALOGUE[rng.usize(..CATALOGUE.len())];
                json!({"id": id, "customer": customer, "type": "purchase", "at": at, "amount": price, "items": [item]})
            }
            55..65 => json!({"id": id, "customer": customer, "type": "inquiry", "at": at}),
            65..73 => json!({"id": id, "customer": customer, "type": "reply", "at": at}),
            73..78 => json!({"id": id, "customer": customer, "type": "opt_in", "at": at, "channel": "email"}),
            78..88 => json!({"id": id, "customer": customer, "type": "message_sent", "at": at, "channel": "email", "template": "newsletter"}),
            _ => json!({"id": id, "customer": customer, "type": "page_view", "at": at, "path": "/beans"}),
        };
        v.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_core::Event;

    #[test]
    fn same_seed_same_business_and_all_of_it_is_valid() {
        let now: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let a = business(7, 50, now);
        let b = business(7, 50, now);
        assert_eq!(a.customers_csv, b.customers_csv);
        assert_eq!(a.events, b.events);
        assert_ne!(a.events, business(8, 50, now).events);
        assert_eq!(a.customers_csv.lines().count(), 51);
        for line in &a.events {
            Event::from_json_str(line).unwrap();
        }
        for line in bench_events(1, 200, 10, now) {
            Event::from_json_str(&line).unwrap();
        }
    }
}
