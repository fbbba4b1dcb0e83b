//! Statistics, pruning, eviction and clearing (`vouch cache stats|prune|clear`).

use crate::entry::{Header, HEADER_LEN};
use crate::{now_ms, Cache, CacheError, Kind, COUNTERS, LOCKS, TEMP_PREFIX};
use serde::Serialize;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A temporary file older than this belongs to a writer that died.
const STALE_TEMP: Duration = Duration::from_secs(60);
/// An unlocked lock file untouched for this long is removed by prune.
const STALE_LOCK: Duration = Duration::from_secs(600);
/// Eviction frees down to this share of the cap, so the next writes do not evict again.
const EVICT_TO_PERCENT: u64 = 90;

/// Entries, bytes and lookups of one kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct KindStats {
    /// `content`, `referrers` or `verdicts`.
    pub kind: &'static str,
    /// Entry files.
    pub entries: u64,
    /// Their bytes on disk (headers included).
    pub bytes: u64,
    /// Entries past their expiry (removed by prune).
    pub expired: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
}

/// The whole cache's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// The cache directory.
    pub dir: PathBuf,
    /// The size cap.
    pub max_size: u64,
    /// Bytes of all entries.
    pub bytes: u64,
    /// Per kind.
    pub kinds: Vec<KindStats>,
}

/// What prune or clear removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PruneReport {
    /// Expired entries.
    pub expired: u64,
    /// Damaged entries (bad header or wrong length).
    pub damaged: u64,
    /// Entries evicted to get under the size cap (or, for clear, every entry).
    pub evicted: u64,
    /// Leftover temporary and lock files.
    pub leftovers: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// One entry file as listed.
struct Listed {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

impl Cache {
    /// Counts entries, bytes and lookups per kind.
    pub fn stats(&self) -> Result<Stats, CacheError> {
        let now = now_ms();
        let mut kinds = Vec::new();
        for kind in Kind::ALL {
            let mut s = KindStats { kind: kind.name(), ..KindStats::default() };
            for e in list(&self.root.join(kind.name()))? {
                s.entries += 1;
                s.bytes += e.size;
                if matches!(read_header(&e.path), Some(h) if h.expires_ms.is_some_and(|x| now >= x)) {
                    s.expired += 1;
                }
            }
            s.hits = self.counter(kind, "hit");
            s.misses = self.counter(kind, "miss");
            kinds.push(s);
        }
        let bytes = kinds.iter().map(|k| k.bytes).sum();
        Ok(Stats { dir: self.root.clone(), max_size: self.max_size, bytes, kinds })
    }

    /// Removes expired and damaged entries and stale leftovers, then evicts the least
    /// recently used entries while the cache is over its cap.
    pub fn prune(&self) -> Result<PruneReport, CacheError> {
        let mut report = PruneReport::default();
        let now = now_ms();
        for kind in Kind::ALL {
            for e in list(&self.root.join(kind.name()))? {
                let slot = match read_header(&e.path) {
                    Some(h) if h.len + HEADER_LEN as u64 != e.size => &mut report.damaged,
                    Some(h) if h.expires_ms.is_some_and(|x| now >= x) => &mut report.expired,
                    Some(_) => continue,
                    None => &mut report.damaged,
                };
                remove(&e.path)?;
                *slot += 1;
                report.bytes += e.size;
            }
        }
        self.remove_leftovers(&mut report)?;
        let (n, bytes) = self.evict_over_cap()?;
        report.evicted += n;
        report.bytes += bytes;
        Ok(report)
    }

    /// Removes every entry, lock file and counter (the directory itself stays).
    pub fn clear(&self) -> Result<PruneReport, CacheError> {
        let mut report = PruneReport::default();
        for kind in Kind::ALL {
            let dir = self.root.join(kind.name());
            for e in list(&dir)?.into_iter().chain(temp_files(&dir)?) {
                remove(&e.path)?;
                report.evicted += 1;
                report.bytes += e.size;
            }
        }
        for dir in [LOCKS, COUNTERS] {
            for e in all_files(&self.root.join(dir))? {
                remove(&e.path)?;
                report.leftovers += 1;
            }
        }
        Ok(report)
    }

    /// When the entries exceed the cap, removes the least recently used (oldest mtime: reads
    /// touch it) until they take at most 90 % of it. Returns entries and bytes removed.
    pub(crate) fn evict_over_cap(&self) -> Result<(u64, u64), CacheError> {
        let mut all = Vec::new();
        for kind in Kind::ALL {
            all.extend(list(&self.root.join(kind.name()))?);
        }
        let mut total: u64 = all.iter().map(|e| e.size).sum();
        if total <= self.max_size {
            return Ok((0, 0));
        }
        let target = self.max_size / 100 * EVICT_TO_PERCENT;
        all.sort_by_key(|e| e.modified);
        let (mut n, mut freed) = (0, 0);
        for e in all {
            if total <= target {
                break;
            }
            remove(&e.path)?;
            total -= e.size;
            freed += e.size;
            n += 1;
        }
        log::info!("cache: evicted {n} entries ({freed} bytes) to stay under max_size {}", self.max_size);
        Ok((n, freed))
    }

    fn remove_leftovers(&self, report: &mut PruneReport) -> Result<(), CacheError> {
        let now = SystemTime::now();
        let older = |e: &Listed, age: Duration| now.duration_since(e.modified).is_ok_and(|a| a >= age);
        for kind in Kind::ALL {
            for e in temp_files(&self.root.join(kind.name()))?.into_iter().filter(|e| older(e, STALE_TEMP)) {
                remove(&e.path)?;
                report.leftovers += 1;
                report.bytes += e.size;
            }
        }
        for e in all_files(&self.root.join(LOCKS))?.into_iter().filter(|e| older(e, STALE_LOCK)) {
            let unlocked = fs::File::open(&e.path).and_then(|f| crate::lock::try_lock(&f)).unwrap_or(false);
            if unlocked {
                remove(&e.path)?;
                report.leftovers += 1;
            }
        }
        Ok(())
    }

    /// A counter's value: the length of its file.
    fn counter(&self, kind: Kind, which: &str) -> u64 {
        fs::metadata(self.root.join(COUNTERS).join(format!("{}.{which}", kind.name()))).map_or(0, |m| m.len())
    }
}

/// Entry files of one kind's directory (temporary files excluded); a missing directory is empty.
fn list(dir: &Path) -> Result<Vec<Listed>, CacheError> {
    Ok(all_files(dir)?.into_iter().filter(|e| !is_temp(&e.path)).collect())
}

/// Temporary files in a kind's directory.
fn temp_files(dir: &Path) -> Result<Vec<Listed>, CacheError> {
    Ok(all_files(dir)?.into_iter().filter(|e| is_temp(&e.path)).collect())
}

fn is_temp(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX))
}

fn all_files(dir: &Path) -> Result<Vec<Listed>, CacheError> {
    let io_err = |source| CacheError::Io { action: "list", path: dir.to_path_buf(), source };
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(io_err)?;
        let Ok(m) = entry.metadata() else { continue };
        if m.is_file() {
            out.push(Listed { path: entry.path(), size: m.len(), modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH) });
        }
    }
    Ok(out)
}

fn read_header(path: &Path) -> Option<Header> {
    let mut buf = [0u8; HEADER_LEN];
    fs::File::open(path).and_then(|mut f| f.read_exact(&mut buf)).ok()?;
    Header::parse(&buf).ok()
}

fn remove(path: &Path) -> Result<(), CacheError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(CacheError::Io { action: "remove", path: path.to_path_buf(), source: e })
        }
        _ => Ok(()),
    }
}
