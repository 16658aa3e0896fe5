//! kizuna-email: the SMTP channel.
//!
//! **Not implemented yet.** This crate holds the place the design gives it
//! (`plugins/email`, built on lettre) so the workspace layout is settled; the channel itself
//! arrives with the channel-plugins issue, once core has its channel trait and outbox. Until
//! then kizuna sends nothing by e-mail.
