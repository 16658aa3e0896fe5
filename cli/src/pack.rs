//! The default rule pack, embedded in the binary from `scripts/` and copied by `init`.
//!
//! Embedding keeps `kizuna init` working from an installed binary with no source tree next
//! to it; the files stay ordinary files in `scripts/` so they are read, edited and tested
//! like code.

use std::path::Path;

use anyhow::Context;

/// Every file of the pack: path relative to the rules directory, and content.
pub const FILES: &[(&str, &str)] = &[("README.md", include_str!("../../scripts/README.md"))];

/// Writes the pack into `dir`, creating it.
pub fn install(dir: &Path) -> anyhow::Result<()> {
    for (name, content) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
