//! Cache keys: SHA-256 over length-prefixed fields, so that no two different field lists hash
//! the same input (`"ab","c"` and `"a","bc"` differ).

use sha2::{Digest as _, Sha256};
use std::path::Path;
use vouch_core::digest::hex_encode;

/// Builds a key from fields; [`KeyBuilder::finish`] gives 64 hex characters.
#[derive(Clone, Default)]
pub struct KeyBuilder {
    hash: Sha256,
}

impl KeyBuilder {
    /// An empty key.
    pub fn new() -> KeyBuilder {
        KeyBuilder::default()
    }

    /// Adds one field.
    pub fn field(mut self, bytes: impl AsRef<[u8]>) -> KeyBuilder {
        self.push(bytes.as_ref());
        self
    }

    /// Adds the bytes of a file; a file that cannot be read adds a marker naming the error
    /// kind, so a missing file and an empty file give different keys.
    pub fn file(self, path: &Path) -> KeyBuilder {
        match std::fs::read(path) {
            Ok(bytes) => self.field(b"file").field(bytes),
            Err(e) => self.field(b"unreadable").field(format!("{:?}", e.kind())),
        }
    }

    /// Adds every regular file below `dir` (path relative to `dir`, then bytes), in sorted
    /// path order, following symbolic links. A missing directory adds a marker.
    pub fn tree(mut self, dir: &Path) -> KeyBuilder {
        let mut files = Vec::new();
        if collect_files(dir, Path::new(""), &mut files, 0).is_err() {
            return self.field(b"tree-unreadable");
        }
        files.sort();
        self.push(b"tree");
        for rel in files {
            self = self.field(rel.to_string_lossy().as_bytes()).file(&dir.join(&rel));
        }
        self
    }

    /// The key: 64 lowercase hex characters.
    pub fn finish(self) -> String {
        hex_encode(&self.hash.finalize())
    }

    fn push(&mut self, bytes: &[u8]) {
        self.hash.update((bytes.len() as u64).to_le_bytes());
        self.hash.update(bytes);
    }
}

/// Deeper trees than this are not trust stores; stop rather than loop on a symlink cycle.
const MAX_DEPTH: usize = 8;

fn collect_files(root: &Path, rel: &Path, out: &mut Vec<std::path::PathBuf>, depth: usize) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        // metadata() follows symlinks, as the trust store reader does.
        match std::fs::metadata(root.join(&child)) {
            Ok(m) if m.is_dir() => collect_files(root, &child, out, depth + 1)?,
            _ => out.push(child),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_delimited() {
        let a = KeyBuilder::new().field("ab").field("c").finish();
        let b = KeyBuilder::new().field("a").field("bc").finish();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(a, KeyBuilder::new().field("ab").field("c").finish());
    }

    #[test]
    fn trees_change_with_content_and_names() {
        let dir = std::env::temp_dir().join(format!("vouch-cache-key-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("x509/ca/test")).unwrap();
        std::fs::write(dir.join("x509/ca/test/a.pem"), "one").unwrap();
        let k1 = KeyBuilder::new().tree(&dir).finish();
        std::fs::write(dir.join("x509/ca/test/a.pem"), "two").unwrap();
        let k2 = KeyBuilder::new().tree(&dir).finish();
        std::fs::rename(dir.join("x509/ca/test/a.pem"), dir.join("x509/ca/test/b.pem")).unwrap();
        let k3 = KeyBuilder::new().tree(&dir).finish();
        let missing = KeyBuilder::new().tree(&dir.join("nope")).finish();
        std::fs::remove_dir_all(&dir).ok();
        assert!(k1 != k2 && k2 != k3 && k1 != k3 && missing != k1);
    }
}
