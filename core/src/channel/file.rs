//! The file channels: e-mail as `.eml` files, SMS as JSON lines, under the home.
//!
//! They make kizuna useful with no mail server (a shop can read, print or forward its
//! outbox) and they are what tests and the demo send through. Files are named after the
//! message id, so re-sending the same message rewrites the same file: delivery is
//! idempotent per outbox id.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    path::PathBuf,
};

use super::{Channel, Delivery, OutgoingMessage};
use crate::forget::PersonalData;

/// E-mail written as RFC 5322 `.eml` files into a directory.
#[derive(Debug)]
pub struct FileEmailChannel {
    dir: PathBuf,
    from: String,
    /// Set once the directory is known to exist (saves a syscall per message).
    dir_ready: std::sync::atomic::AtomicBool,
}

impl FileEmailChannel {
    /// Writes into `dir` (created on first send), with `from` as the sender.
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            from: from.into(),
            dir_ready: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// A directory the channel can write to, created if needed.
fn writable(dir: &std::path::Path) -> Result<(), String> {
    fs::create_dir_all(dir)
        .and_then(|()| tempfile::tempfile_in(dir).map(drop))
        .map_err(|e| format!("{} is not writable: {e}", dir.display()))
}

impl Channel for FileEmailChannel {
    fn check(&self) -> Result<(), String> {
        writable(&self.dir)
    }

    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }

    fn send(&self, m: &OutgoingMessage) -> Delivery {
        if m.to.contains(['\r', '\n']) || !m.to.contains('@') {
            return Delivery::Permanent {
                reason: format!("not an e-mail address: {:?}", m.to),
            };
        }
        let subject = m
            .subject
            .as_deref()
            .unwrap_or("")
            .replace(['\r', '\n'], " ");
        let text = format!(
            "From: {}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@kizuna>\r\nX-Kizuna-Class: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            self.from,
            m.to,
            m.id,
            m.class.as_str(),
            m.body.replace('\n', "\r\n"),
        );
        let path = self.dir.join(format!("{}.eml", m.id));
        let ready = if self.dir_ready.load(std::sync::atomic::Ordering::Relaxed) {
            Ok(())
        } else {
            fs::create_dir_all(&self.dir).map(|()| {
                self.dir_ready
                    .store(true, std::sync::atomic::Ordering::Relaxed)
            })
        };
        let written = ready.and_then(|()| publish(&self.dir, &path, text.as_bytes()));
        match written {
            Ok(()) => Delivery::Sent {
                receipt: path.display().to_string(),
            },
            Err(e) => Delivery::Transient {
                reason: format!("{}: {e}", path.display()),
            },
        }
    }
}

/// Puts `bytes` at `path` so that a reader never sees half a message.
///
/// On Linux the file is written unnamed (`O_TMPFILE`) and then linked into place: one
/// directory entry per message instead of create + rename, which halves the time spent
/// holding the directory's lock — the dominant cost of this channel on ext4. A message that
/// is already there (a re-send after a crash) is replaced by write + rename instead, as on
/// systems without `O_TMPFILE`.
fn publish(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{AtFlags, CWD, Mode, OFlags};
        let unnamed = rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        );
        if let Ok(fd) = unnamed {
            let mut file = fs::File::from(fd);
            file.write_all(bytes)?;
            let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
            match rustix::fs::linkat(CWD, fd_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => return Ok(()),
                // Already sent once: fall through and replace it atomically.
                Err(rustix::io::Errno::EXIST) => {}
                // No /proc (a minimal container): the portable path below still works.
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// SMS appended as JSON lines to `sms.jsonl` in a directory.
#[derive(Debug, Clone)]
pub struct FileSmsChannel {
    dir: PathBuf,
}

/// Held while a line is appended to an SMS log and while an erase rewrites one, so that
/// no line sent meanwhile is lost with the old file.
static SMS_LOG: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl FileSmsChannel {
    /// Removes the lines about `who` from the log (an erase); returns how many went.
    pub fn forget(&self, who: &PersonalData) -> std::io::Result<usize> {
        let _log = SMS_LOG
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::forget::scrub_lines(&self.dir.join("sms.jsonl"), who)
    }
}

impl FileEmailChannel {
    /// Removes the messages that mention `who` (an erase); returns how many went. Calls
    /// `between` every so many files ([`crate::forget::remove_files_mentioning`]).
    pub fn forget(&self, who: &PersonalData, between: &mut dyn FnMut()) -> std::io::Result<usize> {
        crate::forget::remove_files_mentioning(&self.dir, "eml", who, between)
    }
}

/// Whether `to` reads as a phone number: an optional `+`, then 7 to 15 digits, with spaces,
/// hyphens, dots and parentheses between them allowed (`090-1234-5678`, `+81 90 1234 5678`).
fn is_phone_number(to: &str) -> bool {
    let to = to.trim();
    let rest = to.strip_prefix('+').unwrap_or(to);
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
}

impl FileSmsChannel {
    /// Appends to `dir/sms.jsonl` (created on first send).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl Channel for FileSmsChannel {
    fn check(&self) -> Result<(), String> {
        writable(&self.dir)
    }

    fn describe(&self) -> String {
        format!("lines in {}", self.dir.join("sms.jsonl").display())
    }

    fn send(&self, m: &OutgoingMessage) -> Delivery {
        if !is_phone_number(&m.to) {
            // As a gateway would: no retry makes this a number.
            return Delivery::Permanent {
                reason: "the recipient is not a phone number (7 to 15 digits, an optional +)"
                    .into(),
            };
        }
        let line = serde_json::json!({
            "id": m.id.to_string(), "to": m.to, "text": m.body, "class": m.class,
            "chars": m.body.chars().count(),
        });
        let path = self.dir.join("sms.jsonl");
        let _log = SMS_LOG
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = fs::create_dir_all(&self.dir).and_then(|()| {
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            writeln!(f, "{line}")?;
            f.sync_data()
        });
        match written {
            Ok(()) => Delivery::Sent {
                receipt: format!("{}#{}", path.display(), m.id),
            },
            Err(e) => Delivery::Transient {
                reason: format!("{}: {e}", path.display()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ids::CustomerId, rules::MessageClass, store::MessageId};

    fn message(to: &str) -> OutgoingMessage {
        OutgoingMessage {
            id: MessageId { seq: 7, n: 0 },
            customer: CustomerId::new("c-1").unwrap(),
            to: to.into(),
            subject: Some("ようこそ".into()),
            body: "本文\nline 2".into(),
            class: MessageClass::Transactional,
            template: "welcome".into(),
            html: None,
            unsubscribe: None,
        }
    }

    #[test]
    fn email_files_are_named_by_id_and_rewritten_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let ch = FileEmailChannel::new(dir.path().join("email"), "shop@example.jp");
        let Delivery::Sent { receipt } = ch.send(&message("a@b.jp")) else {
            panic!()
        };
        assert!(receipt.ends_with("m-7-0.eml"));
        ch.send(&message("a@b.jp"));
        let files: Vec<_> = fs::read_dir(dir.path().join("email")).unwrap().collect();
        assert_eq!(files.len(), 1, "same id, same file");
        let text = fs::read_to_string(&receipt).unwrap();
        assert!(
            text.contains("Subject: ようこそ\r\n") && text.contains("本文\r\nline 2"),
            "{text}"
        );
        assert!(matches!(
            ch.send(&message("no-at-sign")),
            Delivery::Permanent { .. }
        ));
        assert!(matches!(
            ch.send(&message("a@b.jp\r\nBcc: x@y")),
            Delivery::Permanent { .. }
        ));
    }

    #[test]
    fn sms_lines_carry_the_text_intact() {
        let dir = tempfile::tempdir().unwrap();
        let ch = FileSmsChannel::new(dir.path());
        assert!(matches!(
            ch.send(&message("+81 90-1111-2222")),
            Delivery::Sent { .. }
        ));
        let line = fs::read_to_string(dir.path().join("sms.jsonl")).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["text"], "本文\nline 2");
        assert_eq!(v["chars"], 9);
    }
}
