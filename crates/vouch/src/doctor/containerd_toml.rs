//! containerd's configuration as containerd reads it: the main file, then every file its
//! `imports` name (globs allowed, relative paths taken from the importing file's directory),
//! merged so that a later file's value for a key wins.

use super::Finding;
use std::path::{Path, PathBuf};

/// The bindir plugin's section name.
pub const BINDIR_PLUGIN: &str = "io.containerd.image-verifier.v1.bindir";

/// One parsed file.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub table: toml::Table,
}

/// The main file and its imports, in merge order.
#[derive(Debug, Clone)]
pub struct Layers {
    /// Files, main first.
    pub layers: Vec<Layer>,
    /// Problems found while reading (unreadable imports, old config versions).
    pub findings: Vec<Finding>,
}

/// A value and the file that set it.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// The value.
    pub value: &'a toml::Value,
    /// The file that set it (the last one in merge order).
    pub file: &'a Path,
}

impl Layers {
    /// Reads `path` and its imports. A missing file that was not named explicitly means
    /// containerd runs on its defaults (a warning); a named one that is missing is an error.
    pub fn load(path: &Path, named: bool) -> Result<Layers, Finding> {
        if !path.exists() {
            return missing(path, named);
        }
        let main = read(path)?;
        let mut layers = Layers { layers: Vec::new(), findings: Vec::new() };
        layers.check_version(&main);
        let mut seen = vec![path.to_path_buf()];
        layers.add_with_imports(main, &mut seen, 0);
        Ok(layers)
    }

    fn add_with_imports(&mut self, layer: Layer, seen: &mut Vec<PathBuf>, depth: usize) {
        let imports = imports(&layer);
        let dir = layer.path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let from = layer.path.clone();
        self.layers.push(layer);
        for pattern in imports {
            let full = if Path::new(&pattern).is_absolute() { PathBuf::from(&pattern) } else { dir.join(&pattern) };
            for file in expand_glob(&full) {
                if seen.contains(&file) || depth > 8 {
                    continue;
                }
                seen.push(file.clone());
                match read(&file) {
                    Ok(l) => self.add_with_imports(l, seen, depth + 1),
                    Err(f) => self.findings.push(Finding { subject: format!("{}: imports ({})", from.display(), f.subject), ..f }),
                }
            }
        }
    }

    fn check_version(&mut self, main: &Layer) {
        let version = main.table.get("version").and_then(|v| v.as_integer()).unwrap_or(1);
        if version < 2 {
            self.findings.push(Finding::warning(
                format!("{}: version", main.path.display()),
                format!("version = {version} (or missing): the oldest format, whose plugin names vouch does not check"),
                "write the file in version 3 (`containerd config migrate`) and run doctor again",
            ));
        }
    }

    /// The value at `keys` (e.g. `["plugins", BINDIR_PLUGIN, "bin_dir"]`) from the last file that sets it.
    pub fn get(&self, keys: &[&str]) -> Option<Found<'_>> {
        self.layers.iter().rev().find_map(|l| lookup(&l.table, keys).map(|value| Found { value, file: &l.path }))
    }

    /// The main file.
    pub fn main_path(&self) -> &Path {
        self.layers.first().map_or(Path::new(super::DEFAULT_CONTAINERD_CONFIG), |l| &l.path)
    }

    /// True when no file was read (containerd's defaults apply).
    pub fn is_default(&self) -> bool {
        self.layers.is_empty()
    }
}

/// `<file>: plugins."io.containerd.cri.v1.images".key`: a TOML key as written, and where.
pub fn key_subject(file: &Path, keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| if k.contains('.') { format!("{k:?}") } else { k.to_string() }).collect();
    format!("{}: {}", file.display(), quoted.join("."))
}

fn missing(path: &Path, named: bool) -> Result<Layers, Finding> {
    if named {
        return Err(Finding::error(path.display().to_string(), "does not exist", "pass the file containerd runs with (`containerd --config`), or omit --containerd-config"));
    }
    let note = Finding::warning(
        path.display().to_string(),
        "does not exist: containerd runs on its defaults (bin_dir /opt/containerd/image-verifier/bin, per_verifier_timeout 10s)",
        "create it with the bindir plugin section from docs/install.md, or pass --containerd-config",
    );
    Ok(Layers { layers: Vec::new(), findings: vec![note] })
}

fn read(path: &Path) -> Result<Layer, Finding> {
    let subject = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Finding::error(subject.clone(), format!("cannot be read: {e}"), "make it readable; containerd refuses to start otherwise"))?;
    let table = text.parse::<toml::Table>().map_err(|e| {
        Finding::error(subject.clone(), format!("is not valid TOML: {}", e.message()), "fix the syntax; containerd refuses to start otherwise")
    })?;
    Ok(Layer { path: path.to_path_buf(), table })
}

fn imports(layer: &Layer) -> Vec<String> {
    let list = layer.table.get("imports").and_then(|v| v.as_array());
    list.map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn lookup<'a>(table: &'a toml::Table, keys: &[&str]) -> Option<&'a toml::Value> {
    let (last, parents) = keys.split_last()?;
    let mut t = table;
    for k in parents {
        t = t.get(*k)?.as_table()?;
    }
    t.get(*last)
}

/// The files matching `pattern` (`*`, `?` in any component), sorted as Go's filepath.Glob does.
pub fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.components().skip(1) {
        let part = part.as_os_str().to_string_lossy();
        found = found.iter().flat_map(|dir| expand_part(dir, &part)).collect();
    }
    found.retain(|p| p.is_file());
    found
}

fn expand_part(dir: &Path, part: &str) -> Vec<PathBuf> {
    if !part.contains(['*', '?']) {
        return vec![dir.join(part)];
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names.into_iter().filter(|n| wildcard(part.as_bytes(), n.as_bytes())).map(|n| dir.join(n)).collect()
}

/// `*` matches any run of characters, `?` one character.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.toml", b"a.toml"));
        assert!(!wildcard(b"*.toml", b"a.toml.bak"));
        assert!(wildcard(b"vouch-?.toml", b"vouch-1.toml"));
    }

    #[test]
    fn imports_follow_globs_and_later_files_win() {
        let dir = std::env::temp_dir().join(format!("vouch-doctor-imports-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("config.toml"), "version = 3\nimports = [\"conf.d/*.toml\"]\n[plugins.a]\nx = 1\ny = 1\n").unwrap();
        std::fs::write(dir.join("conf.d/10-b.toml"), "version = 3\n[plugins.a]\nx = 2\n").unwrap();
        std::fs::write(dir.join("conf.d/ignored.txt"), "[plugins.a]\nx = 3\n").unwrap();
        let l = Layers::load(&dir.join("config.toml"), true).unwrap();
        assert_eq!(l.layers.len(), 2);
        let x = l.get(&["plugins", "a", "x"]).unwrap();
        assert_eq!((x.value.as_integer(), x.file.ends_with("10-b.toml")), (Some(2), true));
        assert_eq!(l.get(&["plugins", "a", "y"]).unwrap().value.as_integer(), Some(1));
        std::fs::remove_dir_all(&dir).ok();
    }
}
