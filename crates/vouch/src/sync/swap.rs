//! Installing a validated tree into the target directory, the way the kubelet updates a
//! projected volume: the files go into a new version directory `..vouch_<time>` inside the
//! target, the link `..data` is renamed over to name it (one atomic step), and every
//! top-level name is a link `<name> → ..data/<name>`. Files in the target that are not
//! managed this way (such as the break-glass file) are left alone.
//!
//! The target itself is never renamed, so it may be a mount point (a hostPath volume).

use super::tree::{top_level, Tree, DATA_LINK};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Prefix of version directories inside the target.
pub const VERSION_PREFIX: &str = "..vouch_";

/// Writes `tree` into a new version directory in `to` and returns its path (not yet current).
pub fn stage(to: &Path, tree: &Tree) -> Result<PathBuf, String> {
    fs::DirBuilder::new().recursive(true).mode(0o755).create(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = to.join(format!("{VERSION_PREFIX}{nanos}_{}", std::process::id()));
    let result = write_tree(&dir, tree);
    if result.is_err() {
        let _ = fs::remove_dir_all(&dir);
    }
    result.map(|()| dir)
}

fn write_tree(dir: &Path, tree: &Tree) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    fs::DirBuilder::new().mode(0o755).create(dir).map_err(|e| err(dir, e))?;
    for (rel, bytes) in tree {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(|e| err(parent, e))?;
        }
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&path).map_err(|e| err(&path, e))?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| err(&path, e))?;
    }
    sync_dir(dir);
    Ok(())
}

/// Makes `version` current: renames a new `..data` link over the old one, links the top-level
/// names, removes links to names the new version lacks, and removes older versions.
pub fn activate(to: &Path, version: &Path, tree: &Tree) -> Result<(), String> {
    let name = version.file_name().ok_or("version directory has no name")?;
    replace_with_link(&to.join(DATA_LINK), Path::new(name))?;
    let names = top_level(tree);
    for n in &names {
        let link = to.join(n);
        let want = Path::new(DATA_LINK).join(n);
        if fs::read_link(&link).ok().as_deref() != Some(want.as_path()) {
            replace_with_link(&link, &want)?;
        }
    }
    remove_stale(to, &names, name.to_string_lossy().as_ref());
    sync_dir(to);
    Ok(())
}

/// Points `link` at `target` atomically: a temporary link renamed over it.
fn replace_with_link(link: &Path, target: &Path) -> Result<(), String> {
    let file_name = link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = link.with_file_name(format!("..tmp_{file_name}_{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    symlink(target, &temp).map_err(|e| format!("cannot create link {}: {e}", temp.display()))?;
    fs::rename(&temp, link).map_err(|e| {
        let _ = fs::remove_file(&temp);
        format!("cannot replace {} (move it away if it is a directory): {e}", link.display())
    })
}

/// Removes links into `..data/` for names no longer present, and old version directories.
fn remove_stale(to: &Path, names: &[String], current: &str) {
    let Ok(list) = fs::read_dir(to) else { return };
    for entry in list.filter_map(|e| e.ok()) {
        let n = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if n.starts_with(VERSION_PREFIX) && n != current {
            let _ = fs::remove_dir_all(&path);
        } else if !names.contains(&n) && fs::read_link(&path).is_ok_and(|t| t.starts_with(DATA_LINK)) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// The tree currently installed in `to` (through its `..data` link), if any.
pub fn current(to: &Path) -> Option<Tree> {
    fs::symlink_metadata(to.join(DATA_LINK)).ok()?;
    super::tree::read_tree(&to.join(DATA_LINK)).ok()
}

fn sync_dir(dir: &Path) {
    let _ = File::open(dir).and_then(|d| d.sync_all());
}
