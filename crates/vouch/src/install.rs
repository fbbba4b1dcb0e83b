//! `vouch install --bin-dir DIR`: puts the running vouch binary into containerd's `bin_dir`
//! atomically.
//!
//! containerd executes every entry of `bin_dir` on each pull, and a partial or non-executable
//! entry blocks every pull. So the copy is written outside `bin_dir` (beside it, in its parent
//! directory, on the same filesystem), made executable (0755) and synced, and only then renamed
//! into `bin_dir`: the entry appears whole or not at all.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `vouch install` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct InstallArgs {
    /// containerd's bin_dir, e.g. /opt/containerd/image-verifier/bin (created when missing).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: PathBuf,
    /// The file name inside bin_dir.
    #[arg(long, default_value = "vouch", value_name = "NAME")]
    pub name: String,
}

/// What `install` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A new or different binary was renamed into place.
    Installed,
    /// The same bytes were already there, executable.
    Unchanged,
}

/// Installs the running binary; prints one line and returns the exit code.
pub fn run(a: InstallArgs) -> u8 {
    let result = File::open("/proc/self/exe").or_else(|_| std::env::current_exe().and_then(File::open));
    let outcome = result.map_err(|e| format!("cannot open the running binary: {e}")).and_then(|mut src| install(&mut src, &a.bin_dir, &a.name));
    let target = a.bin_dir.join(&a.name);
    match outcome {
        Ok(Status::Installed) => println!("vouch install: installed {}", target.display()),
        Ok(Status::Unchanged) => println!("vouch install: {} is already this binary", target.display()),
        Err(e) => {
            eprintln!("vouch install: {e}");
            return 1;
        }
    }
    0
}

/// Copies `source` to `bin_dir/name` through a temporary file in `bin_dir`'s parent.
pub fn install(source: &mut File, bin_dir: &Path, name: &str) -> Result<Status, String> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(format!("--name {name:?} must be a plain file name"));
    }
    let bin_dir = prepare_dir(bin_dir)?;
    let target = bin_dir.join(name);
    let bytes = read_all(source)?;
    if is_same(&target, &bytes) {
        return Ok(Status::Unchanged);
    }
    let parent = bin_dir.parent().ok_or_else(|| format!("{} has no parent directory for the temporary copy", bin_dir.display()))?;
    let temp = parent.join(format!(".{name}.install-{}", std::process::id()));
    let result = write_executable(&temp, &bytes).and_then(|()| rename_into(&temp, &target));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| Status::Installed)
}

/// Creates `bin_dir` (0755) when missing; refuses a path that is not a directory.
fn prepare_dir(bin_dir: &Path) -> Result<PathBuf, String> {
    if !bin_dir.exists() {
        fs::DirBuilder::new().recursive(true).mode(0o755).create(bin_dir).map_err(|e| format!("cannot create {}: {e}", bin_dir.display()))?;
    }
    if !bin_dir.is_dir() {
        return Err(format!("{} is not a directory (containerd blocks every pull while bin_dir is a file)", bin_dir.display()));
    }
    bin_dir.canonicalize().map_err(|e| format!("{}: {e}", bin_dir.display()))
}

fn read_all(source: &mut File) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    source.read_to_end(&mut bytes).map_err(|e| format!("cannot read the running binary: {e}"))?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err("the running binary is not an ELF executable".into());
    }
    Ok(bytes)
}

fn is_same(target: &Path, bytes: &[u8]) -> bool {
    let executable = fs::symlink_metadata(target).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o777 == 0o755);
    executable && fs::read(target).is_ok_and(|b| b == bytes)
}

/// Writes the whole file, 0755, and syncs it to disk before anyone can see it in bin_dir.
fn write_executable(temp: &Path, bytes: &[u8]) -> Result<(), String> {
    let err = |e: io::Error| format!("cannot write {}: {e}", temp.display());
    let _ = fs::remove_file(temp);
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o700).open(temp).map_err(err)?;
    io::Write::write_all(&mut file, bytes).map_err(err)?;
    file.set_permissions(fs::Permissions::from_mode(0o755)).map_err(err)?;
    file.sync_all().map_err(err)
}

/// Renames the finished file into place and syncs the directory entry.
fn rename_into(temp: &Path, target: &Path) -> Result<(), String> {
    fs::rename(temp, target).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::EXDEV) {
            " (bin_dir and its parent are on different filesystems: mount bin_dir's parent, not bin_dir itself)"
        } else {
            ""
        };
        format!("cannot rename {} to {}: {e}{hint}", temp.display(), target.display())
    })?;
    if let Some(dir) = target.parent() {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
