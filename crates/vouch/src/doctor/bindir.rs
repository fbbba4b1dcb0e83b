//! The bindir image-verifier plugin: its section, `bin_dir` and every entry in it,
//! `max_verifiers` and `per_verifier_timeout` against vouch's `timeout`.

use super::containerd_toml::{key_subject, Layers, BINDIR_PLUGIN};
use super::Finding;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// containerd's default `bin_dir`.
pub const DEFAULT_BIN_DIR: &str = "/opt/containerd/image-verifier/bin";
/// containerd's default `max_verifiers`.
const DEFAULT_MAX_VERIFIERS: i64 = 10;
/// containerd's default `per_verifier_timeout`.
const DEFAULT_PER_VERIFIER_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks the plugin's configuration and its directory.
pub fn check(layers: &Layers, vouch_timeout: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(disabled(layers));
    if !layers.is_default() && layers.get(&["plugins", BINDIR_PLUGIN]).is_none() {
        out.push(Finding::warning(
            key_subject(layers.main_path(), &["plugins", BINDIR_PLUGIN]),
            "is not set, so containerd's defaults apply (bin_dir /opt/containerd/image-verifier/bin, max_verifiers 10, per_verifier_timeout 10s)",
            "add the section with bin_dir, max_verifiers and per_verifier_timeout (docs/install.md) so the setup is explicit",
        ));
    }
    out.extend(timeout(layers, vouch_timeout));
    let (dir, dir_subject) = bin_dir(layers);
    let entries = match entries(&dir, &dir_subject) {
        Ok(e) => e,
        Err(f) => return [out, vec![f]].concat(),
    };
    out.extend(no_vouch(&entries, &dir_subject));
    out.extend(entries.iter().filter_map(|e| check_entry(e)));
    out.extend(max_verifiers(layers, entries.len(), &dir));
    out
}

fn disabled(layers: &Layers) -> Option<Finding> {
    let found = layers.get(&["disabled_plugins"])?;
    let listed = found.value.as_array()?.iter().any(|v| v.as_str() == Some(BINDIR_PLUGIN));
    listed.then(|| {
        Finding::error(
            key_subject(found.file, &["disabled_plugins"]),
            format!("lists {BINDIR_PLUGIN}: containerd calls no verifier and allows every pull"),
            format!("remove {BINDIR_PLUGIN} from disabled_plugins and restart containerd"),
        )
    })
}

fn bin_dir(layers: &Layers) -> (PathBuf, String) {
    let keys = ["plugins", BINDIR_PLUGIN, "bin_dir"];
    match layers.get(&keys) {
        Some(f) => (PathBuf::from(f.value.as_str().unwrap_or_default()), format!("{} = {}", key_subject(f.file, &keys), f.value)),
        None => (PathBuf::from(DEFAULT_BIN_DIR), format!("{DEFAULT_BIN_DIR} (the default bin_dir)")),
    }
}

/// The directory's entries (every entry counts, hidden ones too), sorted as containerd runs them.
fn entries(dir: &Path, subject: &str) -> Result<Vec<PathBuf>, Finding> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(_) => return Err(Finding::error(subject, "does not exist: containerd allows every pull unverified", "install vouch there: `vouch install --bin-dir <bin_dir>`")),
    };
    if !meta.is_dir() {
        return Err(Finding::error(subject, "is not a directory: containerd blocks every pull (failed to list directory contents)", "remove the file and create the directory, then `vouch install --bin-dir <bin_dir>`"));
    }
    let list = std::fs::read_dir(dir).map_err(|e| Finding::error(subject, format!("cannot be listed: {e}"), "make the directory readable by root"))?;
    let mut paths: Vec<PathBuf> = list.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Finding::error(subject, "is empty: containerd allows every pull unverified", "install vouch there: `vouch install --bin-dir <bin_dir>`"));
    }
    Ok(paths)
}

fn no_vouch(paths: &[PathBuf], subject: &str) -> Option<Finding> {
    let found = paths.iter().any(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("vouch")));
    (!found).then(|| Finding::error(subject, "holds no vouch executable: pulls are not verified by vouch", "install vouch there: `vouch install --bin-dir <bin_dir>`"))
}

/// An entry containerd can execute: a regular file (after symlinks), executable, starting with
/// an ELF header or a `#!` line whose interpreter exists.
fn check_entry(path: &Path) -> Option<Finding> {
    let subject = path.display().to_string();
    let block = |problem: String, fix: &str| Some(Finding::error(subject.clone(), format!("{problem}: containerd blocks every pull"), fix));
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return block("is a dangling symlink (no such file or directory)".into(), "remove it or point it at an existing executable"),
    };
    if meta.is_dir() {
        return block("is a directory (permission denied)".into(), "move it out of bin_dir; only verifier executables belong there");
    }
    if !meta.is_file() {
        return block("is not a regular file".into(), "move it out of bin_dir; only verifier executables belong there");
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return block("is not executable (permission denied)".into(), "move it out of bin_dir (configuration belongs in /etc/vouch), or chmod 0755 it if it is a verifier");
    }
    header(path).and_then(|problem| block(problem, "move it out of bin_dir, or give the script a `#!` interpreter line"))
}

/// What is wrong with the file's first bytes, if anything.
fn header(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(256).read_to_end(&mut head));
    if let Err(e) = read {
        return Some(format!("cannot be read ({e})"));
    }
    if head.starts_with(b"\x7fELF") {
        return None;
    }
    let Some(line) = head.strip_prefix(b"#!") else {
        return Some("has neither an ELF header nor a `#!` line (exec format error)".into());
    };
    let line = String::from_utf8_lossy(line);
    let interpreter = line.lines().next().unwrap_or("").split_whitespace().next().unwrap_or("");
    let exists = !interpreter.is_empty() && std::fs::metadata(interpreter).is_ok_and(|m| m.is_file());
    (!exists).then(|| format!("names interpreter {interpreter:?}, which does not exist (no such file or directory)"))
}

fn max_verifiers(layers: &Layers, count: usize, dir: &Path) -> Option<Finding> {
    let keys = ["plugins", BINDIR_PLUGIN, "max_verifiers"];
    let found = layers.get(&keys);
    let max = found.map_or(Some(DEFAULT_MAX_VERIFIERS), |f| f.value.as_integer())?;
    if max < 0 || max as usize >= count {
        return None;
    }
    let subject = match found {
        Some(f) => key_subject(f.file, &keys),
        None => format!("{} (default 10)", key_subject(layers.main_path(), &keys)),
    };
    let problem = if max == 0 {
        "is 0: containerd runs no verifier and allows every pull".to_string()
    } else {
        format!("is {max} but {} holds {count} entries: containerd skips the entries past {max} (in name order)", dir.display())
    };
    Some(Finding::error(subject, problem, format!("set max_verifiers = {count} or more (-1 for no limit), or remove entries from bin_dir")))
}

fn timeout(layers: &Layers, vouch_timeout: Duration) -> Option<Finding> {
    let keys = ["plugins", BINDIR_PLUGIN, "per_verifier_timeout"];
    let found = layers.get(&keys);
    let subject = found.map_or_else(|| format!("{} (default 10s)", key_subject(layers.main_path(), &keys)), |f| key_subject(f.file, &keys));
    let value = match found {
        None => Some(DEFAULT_PER_VERIFIER_TIMEOUT),
        Some(f) => f.value.as_str().and_then(vouch_core::go_duration::parse),
    };
    let Some(value) = value else {
        return Some(Finding::error(subject, "is not a duration like \"10s\": containerd refuses the plugin configuration", "set per_verifier_timeout = \"10s\""));
    };
    let need = vouch_timeout + Duration::from_secs(1);
    (value < need).then(|| {
        Finding::error(
            subject,
            format!("is {value:?}, less than vouch's timeout ({vouch_timeout:?}) + 1s: containerd kills vouch and blocks the pull before vouch can answer"),
            format!("set per_verifier_timeout = \"{}s\" or more, or lower vouch's timeout", need.as_secs_f64().ceil()),
        )
    })
}
