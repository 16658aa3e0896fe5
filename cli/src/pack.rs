//! The default rule pack, embedded in the binary from `scripts/` and copied by `init`.
//!
//! Embedding keeps `kizuna init` working from an installed binary with no source tree next
//! to it; the files stay ordinary files in `scripts/` so they are read, edited and tested
//! like code.

use std::path::Path;

use anyhow::Context;

/// Every file of the pack: path relative to the rules directory, and content.
pub const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../scripts/README.md")),
    ("birthday.rhai", include_str!("../../scripts/birthday.rhai")),
    (
        "birthday.test.json",
        include_str!("../../scripts/birthday.test.json"),
    ),
    ("points.rhai", include_str!("../../scripts/points.rhai")),
    (
        "points.test.json",
        include_str!("../../scripts/points.test.json"),
    ),
    ("silence.rhai", include_str!("../../scripts/silence.rhai")),
    (
        "silence.test.json",
        include_str!("../../scripts/silence.test.json"),
    ),
    ("tiers.rhai", include_str!("../../scripts/tiers.rhai")),
    (
        "tiers.test.json",
        include_str!("../../scripts/tiers.test.json"),
    ),
];

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

#[cfg(test)]
mod tests {
    /// Every file in `scripts/` is embedded, so `init` never ships a partial pack.
    #[test]
    fn every_pack_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = super::FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, embedded);
    }
}
