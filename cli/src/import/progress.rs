//! A progress bar on a terminal, nothing otherwise (logs and pipes stay clean).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Byte-based progress for a multi-file import.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr if stderr is a terminal, else a hidden one.
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            Self::visible()
        } else {
            Self::hidden()
        }
    }

    /// A bar that is never drawn.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    fn visible() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Self { bar }
    }

    /// Starts a phase over `total` bytes.
    pub fn start(&self, phase: &'static str, total: u64) {
        self.bar.set_message(phase);
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    /// Records `bytes` more processed.
    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
