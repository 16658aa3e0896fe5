//! A real headless Chromium (Debian's `chromium`), driven over WebDriver by its
//! `chromedriver` through fantoccini, for the console's tests.
//!
//! `dev/install-test-deps` installs both. On a machine without them the browser tests say
//! they are skipped and why, on stderr, in capitals; under CI (`CI` set) a missing browser
//! fails the test instead, so CI always runs them.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element, key::Key};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session; chromedriver and Chromium stop when it drops.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("shots", &self.shots)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose screenshots go to `shots`; `None`
    /// (said loudly) where neither is installed and this is not CI.
    pub fn start(shots: &Path) -> Option<Self> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            let why = format!(
                "{CHROMIUM} or {CHROMEDRIVER} is not installed (Debian: chromium chromium-driver; \
                 dev/install-test-deps installs them)"
            );
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the browser tests: {why}"
            );
            eprintln!("SKIPPED: BROWSER TEST NOT RUN: {why}");
            return None;
        }
        // The build holds two TLS providers (ring, aws-lc-rs): say which (none is used on
        // chromedriver's plain loopback HTTP, but the client wants one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = crate::smtp::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let profile = tempfile::tempdir().expect("a browser profile");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connecting = rt.block_on(
                ClientBuilder::rustls()
                    .expect("rustls")
                    .capabilities(caps.clone())
                    .connect(&url),
            );
            match connecting {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("chromedriver did not start Chromium: {e}"),
            }
        };
        std::fs::create_dir_all(shots).expect("the screenshot folder");
        Some(Self {
            rt,
            client: Some(client),
            driver,
            _profile: profile,
            shots: shots.to_path_buf(),
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a live client")
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.client().goto(url)).expect("goto");
    }

    /// The page's current URL.
    pub fn url(&self) -> String {
        self.rt
            .block_on(self.client().current_url())
            .expect("url")
            .to_string()
    }

    fn find(&self, css: &str) -> Element {
        self.rt
            .block_on(self.client().wait().for_element(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    /// How many elements match `css` now.
    pub fn count(&self, css: &str) -> usize {
        self.rt
            .block_on(self.client().find_all(Locator::Css(css)))
            .map_or(0, |all| all.len())
    }

    /// Types `text` into the element `css`.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.rt.block_on(el.send_keys(text)).expect("typing");
    }

    /// Clicks the element `css`.
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.rt.block_on(el.click()).expect("click");
    }

    /// Presses keys on whatever has the focus (keyboard-only use).
    pub fn keys(&self, keys: &[Key]) {
        let text: String = keys.iter().map(|k| char::from(*k)).collect();
        let active = self
            .rt
            .block_on(self.client().active_element())
            .expect("a focused element");
        self.rt.block_on(active.send_keys(&text)).expect("keys");
    }

    /// Types `text` on whatever has the focus.
    pub fn type_text(&self, text: &str) {
        let active = self
            .rt
            .block_on(self.client().active_element())
            .expect("a focused element");
        self.rt.block_on(active.send_keys(text)).expect("typing");
    }

    /// An attribute of the focused element (`name`, `href`, …).
    pub fn focused_attr(&self, attr: &str) -> Option<String> {
        let active = self
            .rt
            .block_on(self.client().active_element())
            .expect("a focused element");
        self.rt.block_on(active.attr(attr)).expect("attribute")
    }

    /// The text of the element `css`.
    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.rt.block_on(el.text()).expect("text")
    }

    /// Waits up to 15 s for the element `css` to contain `needle`; its text.
    #[track_caller]
    pub fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self
                .rt
                .block_on(self.client().find(Locator::Css(css)))
                .ok()
                .and_then(|el| self.rt.block_on(el.text()).ok())
                .unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{css} never showed {needle:?}; it shows {text:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Saves a screenshot of the page as `<name>.png` in the test's folder.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .rt
            .block_on(self.client().screenshot())
            .expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
