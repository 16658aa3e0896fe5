//! kizuna-sms: the SMS channel over HTTP (Kannel's `sendsms`, Twilio-style REST APIs).
//!
//! **Not implemented yet.** This crate holds the place the design gives it (`plugins/sms`) so
//! the workspace layout is settled; the channel itself arrives with the channel-plugins
//! issue, once core has its channel trait and outbox. Until then kizuna sends no SMS.
