//! A configuration directory read into memory: relative path → bytes.
//!
//! A mounted ConfigMap or Secret (a kubelet projected volume) holds its files in a timestamped
//! directory `..2026_01_02_03_04_05.123456789`, a symlink `..data` to it, and one top-level
//! symlink per key into `..data/`. The kubelet updates it by writing a new timestamped
//! directory and renaming a new `..data` link over the old one. Reading through the directory
//! `..data` names, and checking that `..data` still names it afterwards, gives one consistent
//! version of the files.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The kubelet's (and `vouch sync`'s) link to the current version.
pub const DATA_LINK: &str = "..data";
/// At most this many bytes are read from a source directory.
const MAX_BYTES: u64 = 64 << 20;
/// At most this many files.
const MAX_FILES: usize = 10_000;
/// At most this deep.
const MAX_DEPTH: usize = 16;

/// Files by path relative to the directory.
pub type Tree = BTreeMap<PathBuf, Vec<u8>>;

/// Reads one consistent version of `dir`, following the kubelet's `..data` link when present.
pub fn snapshot(dir: &Path) -> Result<Tree, String> {
    let link = dir.join(DATA_LINK);
    if std::fs::symlink_metadata(&link).is_err() {
        return read_tree(dir);
    }
    for _ in 0..5 {
        let before = std::fs::read_link(&link).map_err(|e| format!("cannot read {}: {e}", link.display()))?;
        match read_tree(&dir.join(&before)) {
            Ok(tree) if std::fs::read_link(&link).ok().as_ref() == Some(&before) => return Ok(tree),
            Ok(_) => continue,
            Err(e) if e.contains("No such file") => continue,
            Err(e) => return Err(e),
        }
    }
    Err(format!("{} kept changing while being read; trying again later", dir.display()))
}

/// Every regular file below `root` (symlinks followed), skipping `..`-prefixed entries.
pub fn read_tree(root: &Path) -> Result<Tree, String> {
    let mut tree = Tree::new();
    let mut budget = MAX_BYTES;
    walk(root, Path::new(""), 0, &mut tree, &mut budget)?;
    Ok(tree)
}

fn walk(root: &Path, rel: &Path, depth: usize, tree: &mut Tree, budget: &mut u64) -> Result<(), String> {
    let dir = root.join(rel);
    if depth > MAX_DEPTH {
        return Err(format!("{} is nested more than {MAX_DEPTH} levels deep", dir.display()));
    }
    let list = std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<_> = list.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
    names.sort();
    for name in names.into_iter().filter(|n| !n.to_string_lossy().starts_with("..")) {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(root, &rel, depth + 1, tree, budget)?;
        } else if meta.is_file() {
            add_file(&path, rel, meta.len(), tree, budget)?;
        }
    }
    Ok(())
}

fn add_file(path: &Path, rel: PathBuf, len: u64, tree: &mut Tree, budget: &mut u64) -> Result<(), String> {
    if len > *budget || tree.len() >= MAX_FILES {
        return Err(format!("{} is too large a configuration (at most {MAX_FILES} files, {MAX_BYTES} bytes)", path.display()));
    }
    *budget -= len;
    let bytes = std::fs::read(path).map_err(|e| {
        let kind = if e.kind() == ErrorKind::NotFound { "No such file" } else { "cannot read" };
        format!("{kind}: {}: {e}", path.display())
    })?;
    tree.insert(rel, bytes);
    Ok(())
}

/// The top-level names of a tree (files and directories).
pub fn top_level(tree: &Tree) -> Vec<String> {
    let mut names: Vec<String> =
        tree.keys().filter_map(|p| p.components().next()).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    names.dedup();
    names
}
