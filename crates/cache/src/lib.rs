//! vouch's on-disk cache, shared by the short-lived vouch processes containerd starts.
//!
//! Layout under the cache directory (mode 0700; every file 0600):
//!
//! | path | what |
//! | --- | --- |
//! | `content/<alg>-<hex>` | manifests and blobs by digest; re-hashed on every read |
//! | `referrers/<key>` | referrers lists, with a short time to live |
//! | `verdicts/<key>` | reports, keyed by image and everything that can change the answer |
//! | `locks/<key>.lock` | `flock` files for single-flight verification across processes |
//! | `counters/<kind>.{hit,miss}` | one byte appended per lookup, for `vouch cache stats` |
//!
//! Every entry file has a checksummed header ([`entry`]), and is written to a temporary file
//! in the same directory, synced and renamed into place, so readers never see half a file and
//! a crash at any point leaves entries that either decode or are discarded as a miss.
//!
//! The cache never decides anything: a damaged entry is deleted and reported as a miss, and
//! the first I/O failure (read-only or full file system, missing permissions) logs one warning
//! and turns the cache off for the rest of the process, which then runs uncached.

pub mod entry;
mod key;
mod lock;
mod maintain;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vouch_core::Digest;

pub use entry::Entry;
pub use key::KeyBuilder;
pub use lock::FlightLock;
pub use maintain::{KindStats, PruneReport, Stats};

/// Default `[cache] max_size`: 256 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;

/// What went wrong opening or maintaining the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory is missing and cannot be created.
    #[error("cannot create cache directory {path}: {source} (create it with mode 0700 for the user vouch runs as, point cache_dir elsewhere, or set [cache] enabled = false)")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The cache directory can be written by others, who could forge verdicts.
    #[error("cache directory {path} is not private ({reason}); vouch runs without it (chown it to the user vouch runs as and chmod 0700)")]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Who else can write.
        reason: String,
    },
    /// The cache path exists but is not a directory.
    #[error("cache directory {path} exists but is not a directory (remove it or point cache_dir elsewhere)")]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Reading or changing the cache during maintenance failed.
    #[error("cannot {action} {path}: {source} (check that it is readable and writable by the user vouch runs as)")]
    Io {
        /// What was being done (`read`, `remove`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The kinds of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Immutable content by digest.
    Content,
    /// Referrers lists (mutable: short TTL).
    Referrers,
    /// Verdicts (reports).
    Verdicts,
    /// Verified OCSP responses and CRLs, until their `nextUpdate`.
    Revocation,
    /// Registry Bearer tokens, until they expire (keyed by registry, scope and credential).
    Tokens,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Kind; 5] = [Kind::Content, Kind::Referrers, Kind::Verdicts, Kind::Revocation, Kind::Tokens];

    /// The subdirectory (and display name) of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Content => "content",
            Kind::Referrers => "referrers",
            Kind::Verdicts => "verdicts",
            Kind::Revocation => "revocation",
            Kind::Tokens => "tokens",
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An open cache directory. Cheap to open: nothing but the root is touched until used.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    max_size: u64,
    /// Set by the first I/O failure; every later operation is a no-op.
    broken: AtomicBool,
    /// Whether this process wrote an entry (only then can the cache have grown over its cap).
    wrote: AtomicBool,
}

impl Cache {
    /// Opens `root`, creating it (mode 0700) when missing. `max_size` caps the bytes of all
    /// entries; [`Cache::finish`] evicts the least recently used ones above it.
    pub fn open(root: &Path, max_size: u64) -> Result<Cache, CacheError> {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => check_private(root, &m)?,
            Ok(_) => return Err(CacheError::NotADirectory { path: root.to_path_buf() }),
            Err(_) => DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .map_err(|source| CacheError::CreateDir { path: root.to_path_buf(), source })?,
        }
        Ok(Cache { root: root.to_path_buf(), max_size, broken: AtomicBool::new(false), wrote: AtomicBool::new(false) })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The size cap in bytes.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// False once an I/O failure turned the cache off for this process.
    pub fn is_usable(&self) -> bool {
        !self.broken.load(Ordering::Relaxed)
    }

    /// The live entry of `kind` under `key` (64 hex characters or a digest name), or `None`
    /// on a miss. A damaged entry is deleted; an expired one is left for `prune`.
    pub fn get(&self, kind: Kind, key: &str) -> Option<Entry> {
        let found = self.read_entry(kind, key).filter(|e| e.is_live(now_ms()));
        self.count(kind, found.is_some());
        found
    }

    /// As [`Cache::get`] for a second look at a key whose miss was already counted (after
    /// taking its lock): counted only when found.
    pub fn recheck(&self, kind: Kind, key: &str) -> Option<Entry> {
        let found = self.read_entry(kind, key).filter(|e| e.is_live(now_ms()));
        if found.is_some() {
            self.count(kind, true);
        }
        found
    }

    /// Stores `body` under `key`, valid for `ttl` (`None`: until evicted). Returns whether
    /// the entry was written.
    pub fn put(&self, kind: Kind, key: &str, body: &[u8], ttl: Option<Duration>) -> bool {
        let now = now_ms();
        let expires = ttl.map(|t| now.saturating_add(t.as_millis() as u64).max(now + 1));
        self.write_entry(kind, key, &entry::encode(now, expires, body))
    }

    /// Content by digest, re-hashed: bytes that do not match the digest are deleted and
    /// reported as a miss.
    pub fn get_content(&self, digest: &Digest) -> Option<Vec<u8>> {
        let name = content_name(digest);
        let found = self.read_entry(Kind::Content, &name).and_then(|e| {
            if digest.matches(&e.body) {
                return Some(e.body);
            }
            log::warn!("cache: content {} does not match its digest; deleted, fetching it again", digest.short());
            self.remove(Kind::Content, &name);
            None
        });
        self.count(Kind::Content, found.is_some());
        found
    }

    /// Stores content under its digest (the caller has checked it). Returns whether written.
    pub fn put_content(&self, digest: &Digest, body: &[u8]) -> bool {
        self.write_entry(Kind::Content, &content_name(digest), &entry::encode(now_ms(), None, body))
    }

    /// Ends the process's use of the cache: when this process wrote entries and the cache is
    /// over its size cap, evicts the least recently used entries.
    pub fn finish(&self) {
        if !self.wrote.load(Ordering::Relaxed) || !self.is_usable() {
            return;
        }
        if let Err(e) = self.evict_over_cap() {
            log::warn!("cache: size cap not enforced: {e}");
        }
    }

    fn path(&self, kind: Kind, key: &str) -> Option<PathBuf> {
        valid_name(key).then(|| self.root.join(kind.name()).join(key))
    }

    fn read_entry(&self, kind: Kind, key: &str) -> Option<Entry> {
        if !self.is_usable() {
            return None;
        }
        let path = self.path(kind, key)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => return self.fail("reading an entry", &e),
        };
        match entry::decode(&bytes) {
            Ok(e) => {
                touch(&path);
                Some(e)
            }
            Err(why) => {
                log::warn!("cache: {} is damaged ({why}); deleted", path.display());
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    fn write_entry(&self, kind: Kind, key: &str, bytes: &[u8]) -> bool {
        if !self.is_usable() {
            return false;
        }
        let Some(path) = self.path(kind, key) else { return false };
        match self.write_atomic(&path, bytes) {
            Ok(()) => {
                self.wrote.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => self.fail("writing an entry", &e).unwrap_or(false),
        }
    }

    fn remove(&self, kind: Kind, key: &str) {
        if let Some(p) = self.path(kind, key) {
            let _ = fs::remove_file(p);
        }
    }

    /// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
    ///
    /// No fsync: readers never see half a file (rename is atomic), and after a crash or power
    /// loss a file whose data did not reach the disk fails its header checksum and is a miss.
    /// An fsync would cost ~0.6 ms per entry on every cold pull to protect nothing more.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!("{TEMP_PREFIX}{}-{}-{name}", std::process::id(), next_serial()));
        let result = self.create_private(&tmp).and_then(|mut f| f.write_all(bytes));
        let result = result.and_then(|()| fs::rename(&tmp, path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Creates a new file with mode 0600, creating its directory (0700) when missing.
    fn create_private(&self, path: &Path) -> io::Result<File> {
        let open = || OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
        match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                ensure_dir(path.parent().unwrap_or(&self.root))?;
                open()
            }
            other => other,
        }
    }

    /// Appends one byte to the kind's hit or miss counter (atomic with `O_APPEND`).
    fn count(&self, kind: Kind, hit: bool) {
        if !self.is_usable() {
            return;
        }
        let path = self.root.join(COUNTERS).join(format!("{}.{}", kind.name(), if hit { "hit" } else { "miss" }));
        let append = || OpenOptions::new().append(true).create(true).mode(0o600).open(&path);
        let file = match append() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => ensure_dir(&self.root.join(COUNTERS)).and_then(|()| append()),
            other => other,
        };
        if let Err(e) = file.and_then(|mut f| f.write_all(b".")) {
            self.fail::<()>("updating the hit counters", &e);
        }
    }

    /// Logs the first failure once and turns the cache off. Always `None`, for chaining.
    fn fail<T>(&self, what: &str, e: &io::Error) -> Option<T> {
        if !self.broken.swap(true, Ordering::Relaxed) {
            log::warn!("cache {}: {what} failed: {e}; verifying without the cache ({})", self.root.display(), fix_for(e));
        }
        None
    }
}

/// Name prefix of temporary files; readers and stats skip them, prune removes stale ones.
const TEMP_PREFIX: &str = ".tmp-";
/// Directory of the hit/miss counters.
const COUNTERS: &str = "counters";
/// Directory of the single-flight lock files.
const LOCKS: &str = "locks";

fn next_serial() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `sha256:ab…` → `sha256-ab…`.
fn content_name(d: &Digest) -> String {
    format!("{}-{}", d.algorithm().name(), d.hex())
}

/// Entry names are lowercase hex, digits and `-` (never a path, never a temporary file).
fn valid_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('.')
        && key.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// Creates `dir` (mode 0700) unless it already exists.
/// A cache directory must belong to the user vouch runs as and be writable by nobody else:
/// whoever can write there can plant an allow verdict.
fn check_private(root: &Path, m: &fs::Metadata) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let reason = if m.uid() != euid {
        Some(format!("owned by uid {}, vouch runs as uid {euid}", m.uid()))
    } else if m.mode() & 0o022 != 0 {
        Some(format!("mode {:o} lets group or others write", m.mode() & 0o7777))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CacheError::NotPrivate { path: root.to_path_buf(), reason }),
        None => Ok(()),
    }
}

fn ensure_dir(dir: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if !dir.is_dir() => Err(e),
        _ => Ok(()),
    }
}

/// Sets a file's modification time to now: the least-recently-used order for eviction.
/// Failures (a read-only file system) are ignored.
fn touch(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return };
    // SAFETY: `c` is a valid NUL-terminated path; a null `times` sets both times to now.
    unsafe {
        libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0);
    }
}

/// What to do about an I/O failure, for the warning line.
fn fix_for(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            "free space on its file system, or lower [cache] max_size"
        }
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => {
            "make cache_dir writable by the user vouch runs as, or set [cache] enabled = false"
        }
        _ => "check cache_dir, or set [cache] enabled = false",
    }
}

#[cfg(test)]
mod tests;
