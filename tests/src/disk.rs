//! A small file system for full-disk tests: a tmpfs of a given size, mounted over a test
//! home's directory, unmounted when dropped.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::TestHome;

/// A tmpfs mounted at `path`; unmounted (lazily, so a process still inside it does not
/// keep it) when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    path: PathBuf,
}

/// Whether the tmpfs tests are to be skipped: only where told (`KIZUNA_TESTS_NO_MOUNT=1`,
/// for a machine that cannot mount), never by guessing; the fail-point tests in
/// `e2e/faults.rs` cover the same paths there. Says so on stderr.
pub fn mounting_skipped() -> bool {
    let skip = std::env::var_os("KIZUNA_TESTS_NO_MOUNT").is_some_and(|v| v == "1");
    if skip {
        eprintln!("KIZUNA_TESTS_NO_MOUNT=1: skipping a test on a real full file system");
    }
    skip
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`"16m"`) at `path`, which must exist. Panics with the
    /// reason when mounting is not allowed: a full-disk test that cannot make a full disk
    /// must fail, not pass without testing anything.
    pub fn mount(path: &Path, size: &str) -> Self {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs for the full-disk test (run the tests as root, as CI does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Resizes it: more room, or less.
    pub fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .expect("running mount")
            .success();
        assert!(ok, "cannot resize the tmpfs at {}", self.path.display());
    }

    /// Fills it up to `leave` bytes free with a file `name`, and returns that file.
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let free = free_bytes(&self.path);
        let path = self.path.join(name);
        let file = std::fs::File::create(&path).unwrap();
        // tmpfs has no holes to fake: write the bytes.
        let mut left = free.saturating_sub(leave);
        let chunk = vec![0u8; 1 << 20];
        let mut file = std::io::BufWriter::new(file);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if std::io::Write::write_all(&mut file, &chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = std::io::Write::flush(&mut file);
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Bytes free on the file system holding `path`, from df.
pub fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("running df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

impl TestHome {
    /// A home on a tmpfs of `size`: the disk is mounted where the home goes, then `init`
    /// runs on it. Keep the disk until everything using the home (a daemon) is gone.
    pub fn on_small_disk(size: &str) -> (Self, SmallDisk) {
        let h = Self::new_empty();
        std::fs::create_dir(h.home()).unwrap();
        let disk = SmallDisk::mount(&h.home(), size);
        h.run(&["init"]).ok();
        (h, disk)
    }
}
