//! The console under load, for `kizuna bench http --console N`: N staff browsers polling
//! the inbox every 3 s (as the page's script does) while events are posted, and then the
//! inbox, a customer page and the outbox page timed one after another, with their weight.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde::Serialize;

use super::bench_http::{Millis, millis};

/// How often a console page polls its inbox.
const POLL_EVERY: Duration = Duration::from_secs(3);

/// Browsers polling the inbox until [`Pollers::stop`].
pub struct Pollers {
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
    count: usize,
}

/// What the pollers did.
#[derive(Debug, Serialize)]
pub struct Polled {
    /// Browsers.
    pub browsers: usize,
    /// Inbox refreshes answered 200.
    pub polls: u64,
    /// Refreshes that failed.
    pub failures: u64,
}

/// One page, timed.
#[derive(Debug, Serialize)]
pub struct PageFigures {
    /// Which page.
    pub page: String,
    /// Latency.
    pub ms: Option<Millis>,
    /// Its size, bytes (the last answer).
    pub bytes: usize,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Logs in at `base` with `token`: the session cookie.
pub fn login(base: &str, token: &str) -> anyhow::Result<String> {
    let response = agent()
        .post(format!("{base}/console/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}"))?;
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .context("the console gave no session")
}

impl Pollers {
    /// Starts `n` browsers, each logged in, polling the inbox.
    pub fn start(base: &str, token: &str, n: usize) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let cookie = login(base, token)?;
            let url = format!("{base}/console/inbox/list");
            let (stop, polls, failures) = (stop.clone(), polls.clone(), failures.clone());
            threads.push(std::thread::spawn(move || {
                let agent = agent();
                // Spread over the period, as browsers opened at different times are.
                let mut next = Instant::now() + POLL_EVERY.mul_f64(i as f64 / n.max(1) as f64);
                while !stop.load(Relaxed) {
                    std::thread::sleep(
                        next.saturating_duration_since(Instant::now())
                            .min(Duration::from_millis(100)),
                    );
                    if Instant::now() < next {
                        continue;
                    }
                    next += POLL_EVERY;
                    let ok = agent
                        .get(&url)
                        .header("Cookie", &cookie)
                        .call()
                        .is_ok_and(|mut r| {
                            r.status() == 200 && r.body_mut().read_to_string().is_ok()
                        });
                    if ok { &polls } else { &failures }.fetch_add(1, Relaxed);
                }
            }));
        }
        Ok(Self {
            stop,
            polls,
            failures,
            threads,
            count: n,
        })
    }

    /// Stops them; what they did.
    pub fn stop(self) -> Polled {
        self.stop.store(true, Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        Polled {
            browsers: self.count,
            polls: self.polls.load(Relaxed),
            failures: self.failures.load(Relaxed),
        }
    }
}

/// Times `n` loads each of the inbox, a customer page (a different customer each time) and
/// the outbox's first page.
pub fn pages(base: &str, token: &str, n: usize) -> anyhow::Result<Vec<PageFigures>> {
    let cookie = login(base, token)?;
    let mut listed = agent()
        .get(format!("{base}/v1/customers?limit=200"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()?;
    let ids = super::bench_http::customer_ids(&listed.body_mut().read_to_string()?)?;
    let agent = agent();
    let time = |page: &str, path: &dyn Fn(usize) -> String| -> anyhow::Result<PageFigures> {
        let mut samples = Vec::with_capacity(n);
        let mut bytes = 0;
        for i in 0..n {
            let t0 = Instant::now();
            let mut r = agent
                .get(format!("{base}{}", path(i)))
                .header("Cookie", &cookie)
                .call()?;
            let body = r.body_mut().read_to_string()?;
            samples.push(t0.elapsed());
            if r.status() != 200 {
                bail!(
                    "{page}: {} {}",
                    r.status(),
                    body.chars().take(200).collect::<String>()
                );
            }
            bytes = body.len();
        }
        Ok(PageFigures {
            page: page.into(),
            ms: millis(samples),
            bytes,
        })
    };
    Ok(vec![
        time("inbox", &|_| "/console/inbox".into())?,
        time("customer", &|i| {
            format!("/console/customers/{}", ids[i * 7919 % ids.len()])
        })?,
        time("outbox", &|_| "/console/outbox".into())?,
    ])
}
