//! `vouch cache stats|prune|clear`: maintenance of the on-disk cache, for people and scripts.
//! Output goes to stdout (human lines, or one JSON object with `--output json`); errors go to
//! stderr with exit 1.

use crate::cli::{CacheAction, CacheArgs, OutputFormat};
use crate::config;
use serde_json::json;
use std::io::Write;
use vouch_cache::{Cache, PruneReport, Stats};

/// Runs one maintenance action and returns the exit code.
pub fn run(a: CacheArgs) -> u8 {
    match act(&a) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            0
        }
        Err(reason) => {
            eprintln!("vouch cache {}: {reason}", action_name(a.action));
            1
        }
    }
}

fn act(a: &CacheArgs) -> Result<String, String> {
    let cfg = config::load(&config::path(a.config.as_deref()))?;
    let cache = Cache::open(&cfg.cache_dir, cfg.cache_max_size).map_err(|e| e.to_string())?;
    let json = a.output == OutputFormat::Json;
    match a.action {
        CacheAction::Stats => cache.stats().map(|s| if json { stats_json(&s) } else { stats_human(&s) }),
        CacheAction::Prune | CacheAction::Clear => {
            let r = if a.action == CacheAction::Prune { cache.prune() } else { cache.clear() };
            r.map(|r| if json { removed_json(a.action, &r) } else { removed_human(a.action, &cache, &r) })
        }
    }
    .map_err(|e| e.to_string())
}

fn action_name(a: CacheAction) -> &'static str {
    match a {
        CacheAction::Stats => "stats",
        CacheAction::Prune => "prune",
        CacheAction::Clear => "clear",
    }
}

fn ratio(hits: u64, misses: u64) -> Option<f64> {
    let total = hits + misses;
    (total > 0).then(|| hits as f64 / total as f64)
}

fn stats_json(s: &Stats) -> String {
    let kinds: Vec<_> = s
        .kinds
        .iter()
        .map(|k| {
            let mut v = serde_json::to_value(k).unwrap_or_default();
            v["hitRatio"] = json!(ratio(k.hits, k.misses));
            v
        })
        .collect();
    json!({ "dir": s.dir, "maxSize": s.max_size, "bytes": s.bytes, "kinds": kinds }).to_string()
}

fn stats_human(s: &Stats) -> String {
    let mut out = format!("cache {} ({} of {} used)\n", s.dir.display(), size(s.bytes), size(s.max_size));
    out.push_str(&format!("{:<10} {:>8} {:>11} {:>8} {:>8} {:>8} {:>6}\n", "kind", "entries", "size", "expired", "hits", "misses", "hit %"));
    for k in &s.kinds {
        let pct = ratio(k.hits, k.misses).map_or_else(|| "-".to_string(), |r| format!("{:.0}", r * 100.0));
        out.push_str(&format!(
            "{:<10} {:>8} {:>11} {:>8} {:>8} {:>8} {:>6}\n",
            k.kind,
            k.entries,
            size(k.bytes),
            k.expired,
            k.hits,
            k.misses,
            pct
        ));
    }
    out.trim_end().to_string()
}

fn removed_json(action: CacheAction, r: &PruneReport) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["action"] = json!(action_name(action));
    v.to_string()
}

fn removed_human(action: CacheAction, cache: &Cache, r: &PruneReport) -> String {
    let dir = cache.root().display();
    match action {
        CacheAction::Clear => format!("cleared {dir}: {} entries removed ({})", r.evicted, size(r.bytes)),
        _ => format!(
            "pruned {dir}: {} expired, {} damaged, {} evicted over max_size, {} leftover files; {} freed",
            r.expired,
            r.damaged,
            r.evicted,
            r.leftovers,
            size(r.bytes)
        ),
    }
}

/// `1536` → `1.5 KiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(256 << 20), "256.0 MiB");
    }
}
