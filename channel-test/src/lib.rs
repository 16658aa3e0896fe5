//! kizuna-channel-test: the conformance suite every channel plugin passes.
//!
//! A plugin author runs [`conforms`] from their own tests against the real far side (a mail
//! server, a gateway, a test server that speaks the provider's API), as kizuna runs it for
//! each of its own plugins. The suite checks what the dispatcher relies on:
//!
//! 1. **Sent, with a receipt.** A good message is `Sent`, with a non-empty receipt, and the
//!    far side has it exactly once.
//! 2. **Transient, then delivered once.** With trouble on the way (the case's `break_it`,
//!    or an address the far side fails once), the send is `Transient`; sent again, the same
//!    message is `Sent`, and the far side has it once.
//! 3. **Permanent, nothing delivered.** A message the far side refuses for good is
//!    `Permanent`, and nothing more arrives.
//! 4. **A panic frees the channel.** Behind a concurrency limit of one, a send that panics
//!    after the channel did its work leaves the slot free: the next send goes through
//!    rather than waiting for ever.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kizuna_channel_test::{Case, conforms};
//! # fn channel() -> Arc<dyn kizuna_channel::Channel> { unimplemented!() }
//! # fn delivered() -> usize { 0 }
//! conforms("mine", &Case {
//!     channel: channel(),
//!     ok: "a@example.jp",
//!     flaky: "busy@example.jp",
//!     refused: "reject@example.jp",
//!     break_it: &|| {},
//!     heal: &|| {},
//!     delivered: &delivered,
//! });
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use kizuna_channel::{
    Channel, CustomerId, Delivery, Limited, Limits, MessageClass, MessageId, OutgoingMessage,
};

/// What a case needs from the channel's world.
pub struct Case<'a> {
    /// The channel under test.
    pub channel: Arc<dyn Channel>,
    /// An address the far side accepts.
    pub ok: &'a str,
    /// An address refused once, then accepted (or any address, when `break_it` brings the
    /// trouble).
    pub flaky: &'a str,
    /// An address refused for good.
    pub refused: &'a str,
    /// Brings trouble before the flaky send, for channels whose far side has no "fail
    /// once" address of its own.
    pub break_it: &'a dyn Fn(),
    /// Takes the trouble away before the retry.
    pub heal: &'a dyn Fn(),
    /// How many messages the far side has accepted so far.
    pub delivered: &'a dyn Fn() -> usize,
}

impl std::fmt::Debug for Case<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("channel", &self.channel.describe())
            .field("ok", &self.ok)
            .field("flaky", &self.flaky)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// A message of the suite: the `n`th, to `to`.
pub fn message(n: u32, to: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: MessageId { seq: 90, n },
        customer: CustomerId::new("c-1").unwrap_or_else(|_| unreachable!("a valid id")),
        to: to.into(),
        subject: Some("conformance".into()),
        body: "同じ結果になること".into(),
        class: MessageClass::Service,
        template: "notice".into(),
        html: None,
        unsubscribe: None,
    }
}

/// Waits up to 15 seconds for `f` (a far side may take a moment to show what it got).
fn wait_until(f: &dyn Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Runs the suite on `case`, panicking with `name` and what failed.
pub fn conforms(name: &str, c: &Case<'_>) {
    let before = (c.delivered)();
    let sent = c.channel.send(&message(0, c.ok));
    let Delivery::Sent { receipt } = &sent else {
        panic!("{name}: expected sent, got {sent:?}")
    };
    assert!(!receipt.is_empty(), "{name}: a receipt is recorded");
    assert!(
        wait_until(&|| (c.delivered)() == before + 1),
        "{name}: delivered once"
    );

    let flaky = message(1, c.flaky);
    (c.break_it)();
    let first = c.channel.send(&flaky);
    assert!(
        matches!(first, Delivery::Transient { .. }),
        "{name}: transient first, got {first:?}"
    );
    (c.heal)();
    let again = c.channel.send(&flaky);
    assert!(
        matches!(again, Delivery::Sent { .. }),
        "{name}: then sent, got {again:?}"
    );
    assert!(
        wait_until(&|| (c.delivered)() == before + 2),
        "{name}: the retry delivered once"
    );

    let refused = c.channel.send(&message(2, c.refused));
    // A refused address is permanent too, said more precisely.
    assert!(
        matches!(
            refused,
            Delivery::Permanent { .. } | Delivery::AddressRefused { .. }
        ),
        "{name}: permanent, got {refused:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        (c.delivered)(),
        before + 2,
        "{name}: nothing more delivered"
    );

    a_panic_frees_the_slot(name, c, before + 2);
}

/// The channel, panicking once right after its first send.
struct PanicsOnce {
    inner: Arc<dyn Channel>,
    armed: AtomicBool,
}

impl Channel for PanicsOnce {
    fn send(&self, message: &OutgoingMessage) -> Delivery {
        let delivery = self.inner.send(message);
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("conformance: a panic after the channel sent");
        }
        delivery
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn a_panic_frees_the_slot(name: &str, c: &Case<'_>, delivered: usize) {
    let limited = Arc::new(Limited::new(
        Box::new(PanicsOnce {
            inner: Arc::clone(&c.channel),
            armed: AtomicBool::new(true),
        }),
        Limits {
            per_second: 0.0,
            concurrency: 1,
        },
    ));
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        limited.send(&message(3, c.ok))
    }));
    assert!(first.is_err(), "{name}: the first send panicked");
    let (done, wait) = std::sync::mpsc::channel();
    let sender = Arc::clone(&limited);
    let to = c.ok.to_owned();
    std::thread::spawn(move || {
        let _ = done.send(sender.send(&message(4, &to)));
    });
    let second = wait.recv_timeout(Duration::from_secs(30));
    assert!(
        matches!(second, Ok(Delivery::Sent { .. })),
        "{name}: after a panic the next send goes through, got {second:?}"
    );
    assert!(
        wait_until(&|| (c.delivered)() == delivered + 2),
        "{name}: both sends around the panic delivered"
    );
}
