//! Rate and concurrency limits around any channel.
//!
//! A provider may accept 10 messages a second, or 2 connections; a small shop's own mail
//! server may fall over with more. The limits live here, once, as a wrapper
//! ([`Limited`]) in the style of a tower layer, rather than inside each plugin.
//!
//! A concurrency slot is a [`Permit`], freed when it is dropped: on return, on an early
//! return, and when the channel panics (the dispatcher catches a send's panic, and the
//! unwinding drops the permit). With `enter`/`leave` calls, a panicking channel kept its
//! slot, and with `concurrency = 1` every later send waited for ever.

use std::{
    sync::{Condvar, Mutex},
    time::{Duration, Instant},
};

use crate::{Channel, Delivery, OutgoingMessage};

/// How hard a channel may be driven. Zero means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Messages per second, spread evenly (0: as fast as the channel goes).
    pub per_second: f64,
    /// Messages being sent at once (0: as many as the channel asks for).
    pub concurrency: usize,
}

/// A channel with [`Limits`].
pub struct Limited {
    inner: Box<dyn Channel>,
    limits: Limits,
    /// When the next message may start.
    next_slot: Mutex<Instant>,
    /// Sends in progress, and the condition waiters wait on.
    in_flight: Mutex<usize>,
    freed: Condvar,
}

impl std::fmt::Debug for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited")
            .field("channel", &self.inner.describe())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Limited {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Channel>, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            next_slot: Mutex::new(Instant::now()),
            in_flight: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits for this message's slot in the rate: slots are handed out `1/rate` apart, in
    /// the order callers arrive, so the average never exceeds the rate.
    fn wait_for_rate(&self) {
        if self.limits.per_second <= 0.0 {
            return;
        }
        let gap = Duration::from_secs_f64(1.0 / self.limits.per_second);
        let slot = {
            let mut next = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + gap;
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }

    /// Waits for a concurrency slot; it is held until the permit is dropped.
    fn enter(&self) -> Permit<'_> {
        if self.limits.concurrency == 0 {
            return Permit(None);
        }
        let mut n = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *n >= self.limits.concurrency {
            n = self
                .freed
                .wait(n)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *n += 1;
        Permit(Some(self))
    }
}

#[derive(Debug)]
/// One send's concurrency slot of a [`Limited`] channel (none when it has no limit).
#[must_use]
pub struct Permit<'a>(Option<&'a Limited>);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let Some(limited) = self.0 else {
            return;
        };
        let mut n = limited
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n = n.saturating_sub(1);
        limited.freed.notify_one();
    }
}

impl Channel for Limited {
    fn send(&self, message: &OutgoingMessage) -> Delivery {
        let _slot = self.enter();
        self.wait_for_rate();
        self.inner.send(message)
    }

    fn check(&self) -> Result<(), String> {
        self.inner.check()
    }

    fn address_key(&self, address: &str) -> Option<String> {
        self.inner.address_key(address)
    }

    fn describe(&self) -> String {
        let mut text = self.inner.describe();
        if self.limits.per_second > 0.0 {
            text.push_str(&format!(", at most {}/s", self.limits.per_second));
        }
        if self.limits.concurrency > 0 {
            text.push_str(&format!(", {} at once", self.limits.concurrency));
        }
        text
    }

    fn concurrency(&self) -> usize {
        match self.limits.concurrency {
            0 => self.inner.concurrency(),
            n => n.min(self.inner.concurrency()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::{CustomerId, MessageClass, MessageId};

    /// Counts calls and the most that overlapped.
    #[derive(Default)]
    struct Probe {
        now: AtomicUsize,
        most: AtomicUsize,
        calls: AtomicUsize,
    }

    struct Slow(Arc<Probe>);

    impl Channel for Slow {
        fn describe(&self) -> String {
            "probe".into()
        }
        fn send(&self, _: &OutgoingMessage) -> Delivery {
            let n = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.0.most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            self.0.now.fetch_sub(1, Ordering::SeqCst);
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            Delivery::Sent {
                receipt: String::new(),
            }
        }
        fn concurrency(&self) -> usize {
            8
        }
    }

    fn message() -> OutgoingMessage {
        OutgoingMessage {
            id: MessageId { seq: 1, n: 0 },
            customer: CustomerId::new("c-1").unwrap(),
            to: "a@b.jp".into(),
            subject: None,
            body: String::new(),
            class: MessageClass::Marketing,
            template: "t".into(),
            html: None,
            unsubscribe: None,
        }
    }

    fn drive(channel: &Limited, threads: usize, each: usize) {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..each {
                        channel.send(&message());
                    }
                });
            }
        });
    }

    #[test]
    fn concurrency_is_capped_across_threads() {
        let probe = Arc::new(Probe::default());
        let limits = Limits {
            per_second: 0.0,
            concurrency: 2,
        };
        let channel = Limited::new(Box::new(Slow(Arc::clone(&probe))), limits);
        assert_eq!(channel.concurrency(), 2);
        drive(&channel, 6, 4);
        assert_eq!(probe.calls.load(Ordering::SeqCst), 24);
        assert_eq!(probe.most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_rate_spreads_sends_out() {
        let probe = Arc::new(Probe::default());
        let limits = Limits {
            per_second: 100.0,
            concurrency: 0,
        };
        let channel = Limited::new(Box::new(Slow(Arc::clone(&probe))), limits);
        let started = Instant::now();
        drive(&channel, 4, 5);
        // 20 sends at 100/s: the last may start no sooner than 19 gaps of 10 ms in.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(probe.calls.load(Ordering::SeqCst), 20);
        assert_eq!(
            channel.concurrency(),
            8,
            "no concurrency limit: the channel's own"
        );
    }

    /// Panics on its first send, then sends.
    struct PanicsOnce(AtomicUsize);

    impl Channel for PanicsOnce {
        fn describe(&self) -> String {
            "panics".into()
        }
        fn send(&self, _: &OutgoingMessage) -> Delivery {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("the channel broke");
            }
            Delivery::Sent {
                receipt: "ok".into(),
            }
        }
    }

    #[test]
    fn a_panicking_send_frees_its_slot() {
        let limits = Limits {
            per_second: 0.0,
            concurrency: 1,
        };
        let channel = Arc::new(Limited::new(
            Box::new(PanicsOnce(AtomicUsize::new(0))),
            limits,
        ));
        let first =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| channel.send(&message())));
        assert!(first.is_err(), "the first send panics");
        // The next send gets the one slot; a leaked slot would make it wait for ever.
        let (done, wait) = std::sync::mpsc::channel();
        let sender = Arc::clone(&channel);
        std::thread::spawn(move || {
            let _ = done.send(sender.send(&message()));
        });
        let second = wait
            .recv_timeout(Duration::from_secs(5))
            .expect("the second send waited for the slot the panic leaked");
        assert!(matches!(second, Delivery::Sent { .. }), "{second:?}");
    }
}
