//! Finding an erased customer in the files kizuna wrote outside its store.
//!
//! The store forgets a customer in one atomic write and a compaction ([`crate::store`]),
//! but kizuna also writes files that name customers: the file channels' `.eml` files and
//! SMS log, an import's rejects, an export. An erase gathers everything that names the
//! customer first ([`PersonalData`], from the record and every event) and then removes the
//! files, or the lines, that mention any of it. A line that names two customers goes: an
//! erasure errs on the side of removing too much from a diagnostic file, never too little.

use std::{
    collections::BTreeSet,
    fs,
    io::{self, BufRead, Write},
    path::Path,
};

use crate::ids::CustomerId;

/// What names a customer: the id and every name, e-mail and phone number it was known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalData {
    /// The customer's id.
    pub id: CustomerId,
    /// Names, as written.
    pub names: BTreeSet<String>,
    /// E-mail addresses, as written.
    pub emails: BTreeSet<String>,
    /// Phone numbers, as written and as normalised.
    pub phones: BTreeSet<String>,
}

impl PersonalData {
    /// Nothing known but the id.
    pub fn new(id: CustomerId) -> Self {
        Self {
            id,
            names: BTreeSet::new(),
            emails: BTreeSet::new(),
            phones: BTreeSet::new(),
        }
    }

    /// Whether `text` mentions the customer: any e-mail (in any case), phone or name, or
    /// the id as a whole word (so `c-1` is not found in `c-10`).
    pub fn mentioned_in(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.emails
            .iter()
            .any(|e| lower.contains(&e.to_lowercase()))
            || self.phones.iter().any(|p| text.contains(p.as_str()))
            || self.names.iter().any(|n| text.contains(n.as_str()))
            || has_word(text, self.id.as_str())
    }

    /// The values worth looking for: a one-character name would match half a file.
    pub(crate) fn keep_meaningful(&mut self) {
        for set in [&mut self.names, &mut self.emails, &mut self.phones] {
            set.retain(|v| v.trim().chars().count() >= 2);
        }
    }
}

/// Whether `word` occurs in `text` with no id character either side.
fn has_word(text: &str, word: &str) -> bool {
    let is_id_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_id_char) && !after.is_some_and(is_id_char)
    })
}

/// Rewrites the text file at `path` without the lines that mention `who`; returns how
/// many went. The new content replaces the old atomically (a temporary file renamed over
/// it, synced first), so a crash leaves one or the other. A missing file has none.
pub fn scrub_lines(path: &Path, who: &PersonalData) -> io::Result<usize> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut kept = tempfile::NamedTempFile::new_in(dir)?;
    let mut removed = 0;
    {
        let mut out = io::BufWriter::new(kept.as_file_mut());
        for line in io::BufReader::new(file).split(b'\n') {
            let line = line?;
            if who.mentioned_in(&String::from_utf8_lossy(&line)) {
                removed += 1;
            } else {
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
    }
    if removed > 0 {
        if let Ok(meta) = fs::metadata(path) {
            kept.as_file().set_permissions(meta.permissions())?;
        }
        kept.as_file().sync_all()?;
        kept.persist(path).map_err(|e| e.error)?;
    }
    Ok(removed)
}

/// Files read between two calls of [`remove_files_mentioning`]'s `between`.
pub const FILES_PER_STEP: usize = 500;

/// Removes the files in `dir` ending in `.{ext}` that mention `who`; returns how many.
/// A missing directory has none. Calls `between` after every [`FILES_PER_STEP`] files: an
/// outbox of 100,000 messages takes seconds to read, and a daemon stores events meanwhile.
pub fn remove_files_mentioning(
    dir: &Path,
    ext: &str,
    who: &PersonalData,
    between: &mut dyn FnMut(),
) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for (n, entry) in entries.enumerate() {
        if n > 0 && n % FILES_PER_STEP == 0 {
            between();
        }
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != ext) {
            continue;
        }
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            // Gone meanwhile (a re-send replaced it): nothing to remove.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if who.mentioned_in(&String::from_utf8_lossy(&bytes)) {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hanako() -> PersonalData {
        let mut who = PersonalData::new(CustomerId::new("c-1").unwrap());
        who.names.insert("佐藤 花子".into());
        who.emails.insert("Hanako@Example.jp".into());
        who.phones.insert("+819012345678".into());
        who
    }

    #[test]
    fn the_id_is_found_as_a_word_and_addresses_in_any_case() {
        let who = hanako();
        assert!(who.mentioned_in(r#"{"customer":"c-1"}"#));
        assert!(who.mentioned_in("c-1,purchase,2026-03-01"));
        assert!(!who.mentioned_in(r#"{"customer":"c-10"}"#));
        assert!(!who.mentioned_in("abc-1"));
        assert!(who.mentioned_in("To: hanako@example.JP"));
        assert!(who.mentioned_in("sent to +819012345678"));
        assert!(who.mentioned_in("佐藤 花子様"));
        assert!(!who.mentioned_in("佐藤 太郎 c-2 taro@example.jp"));
    }

    #[test]
    fn scrubbing_keeps_every_other_line_and_removes_the_files_that_mention() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sms.jsonl");
        fs::write(
            &log,
            "{\"to\":\"+819012345678\"}\n{\"to\":\"+819000000000\"}\n",
        )
        .unwrap();
        assert_eq!(scrub_lines(&log, &hanako()).unwrap(), 1);
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "{\"to\":\"+819000000000\"}\n"
        );
        assert_eq!(scrub_lines(&log, &hanako()).unwrap(), 0);
        assert_eq!(scrub_lines(&dir.path().join("none"), &hanako()).unwrap(), 0);

        fs::write(dir.path().join("1.eml"), "To: hanako@example.jp\r\n").unwrap();
        fs::write(dir.path().join("2.eml"), "To: taro@example.jp\r\n").unwrap();
        fs::write(dir.path().join("3.txt"), "To: hanako@example.jp\r\n").unwrap();
        assert_eq!(
            remove_files_mentioning(dir.path(), "eml", &hanako(), &mut || {}).unwrap(),
            1
        );
        for n in 0..1_200 {
            fs::write(dir.path().join(format!("m{n}.eml")), "To: x@example.jp").unwrap();
        }
        let mut steps = 0;
        remove_files_mentioning(dir.path(), "eml", &hanako(), &mut || steps += 1).unwrap();
        assert_eq!(steps, 2, "a step every {FILES_PER_STEP} files");
        assert!(!dir.path().join("1.eml").exists());
        assert!(dir.path().join("2.eml").exists() && dir.path().join("3.txt").exists());
    }
}
