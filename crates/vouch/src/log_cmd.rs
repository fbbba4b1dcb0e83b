//! `vouch log`: the recent decisions from the audit log, as a table or JSON.

use crate::audit_log::{files_oldest_first, Entry};
use crate::config;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use vouch_core::{Digest, ImagePattern, ImageRef};

/// Options of `vouch log`.
#[derive(clap::Args, Debug, Clone)]
pub struct LogOptions {
    /// Only denies (including audit-mode and break-glass "would deny" decisions).
    #[arg(long)]
    pub denied: bool,
    /// Only decisions newer than this: a duration (`1h`, `30m`, `2d`) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only images matching this pattern (the `[allow] images` syntax, e.g. `ghcr.io/acme/**`).
    #[arg(long, value_name = "PATTERN")]
    pub image: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub output: LogFormat,
    /// Show at most this many of the most recent matching decisions (0: all).
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Read this log file instead of `audit_log` from the configuration.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// How `vouch log` prints.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Aligned columns: time, verdict, image, reason.
    Table,
    /// A JSON array of decisions, as logged.
    Json,
}

/// The filters, parsed.
struct Filter {
    denied: bool,
    since: Option<OffsetDateTime>,
    image: Option<ImagePattern>,
}

/// Runs `vouch log`; errors go to stderr with exit 1.
pub fn run(config_flag: Option<&Path>, opts: &LogOptions) -> u8 {
    match show(config_flag, opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("vouch log: {e:#}");
            1
        }
    }
}

fn show(config_flag: Option<&Path>, opts: &LogOptions) -> Result<()> {
    let path = log_path(config_flag, opts)?;
    let filter = Filter::parse(opts, OffsetDateTime::now_utc())?;
    let mut entries: Vec<Entry> = read_all(&path)?.into_iter().filter(|e| filter.keeps(e)).collect();
    if opts.limit > 0 && entries.len() > opts.limit {
        entries.drain(..entries.len() - opts.limit);
    }
    let text = match opts.output {
        LogFormat::Json => serde_json::to_string_pretty(&entries)? + "\n",
        LogFormat::Table => table(&entries),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).context("cannot write to stdout")
}

/// `--file`, else `audit_log` from the configuration.
fn log_path(config_flag: Option<&Path>, opts: &LogOptions) -> Result<PathBuf> {
    if let Some(f) = &opts.file {
        return Ok(f.clone());
    }
    let cfg_path = config::path(config_flag);
    let cfg = config::load(&cfg_path).map_err(anyhow::Error::msg).context("pass the log file with --file, or fix the configuration")?;
    match cfg.audit_log {
        Some(a) => Ok(a.path),
        None => bail!(
            "audit_log is not set in {} (set audit_log = \"/var/log/vouch/decisions.jsonl\" there, or pass --file PATH)",
            cfg_path.display()
        ),
    }
}

impl Filter {
    fn parse(opts: &LogOptions, now: OffsetDateTime) -> Result<Filter> {
        let since = opts.since.as_deref().map(|s| parse_since(s, now)).transpose()?;
        let image = opts
            .image
            .as_deref()
            .map(|p| ImagePattern::parse(p).with_context(|| format!("--image {p:?}")))
            .transpose()?;
        Ok(Filter { denied: opts.denied, since, image })
    }

    fn keeps(&self, e: &Entry) -> bool {
        if self.denied && e.is_success {
            return false;
        }
        if let Some(since) = self.since {
            if OffsetDateTime::parse(&e.time, &Rfc3339).map_or(true, |t| t < since) {
                return false;
            }
        }
        match &self.image {
            None => true,
            Some(p) => ImageRef::parse(&e.reference).is_ok_and(|r| p.matches(&r, Digest::parse(&e.digest).ok().as_ref())),
        }
    }
}

/// `1h` (ago) or an RFC 3339 time.
fn parse_since(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let d = humantime::parse_duration(s)
        .with_context(|| format!("--since {s:?} is neither a duration like \"1h\" nor an RFC 3339 time like \"2025-01-31T08:00:00Z\""))?;
    let d = time::Duration::try_from(d).context("--since is too long")?;
    Ok(now.checked_sub(d).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Every entry of the log and its rotated files, oldest first. Lines that are not entries
/// (a torn write after a crash) are skipped with one warning.
fn read_all(path: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut found = false;
    let mut skipped = 0usize;
    for file in files_oldest_first(path) {
        let f = match std::fs::File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
        };
        found = true;
        for line in BufReader::new(f).lines() {
            let line = line.with_context(|| format!("cannot read {}", file.display()))?;
            match serde_json::from_str::<Entry>(&line) {
                Ok(e) => entries.push(e),
                Err(_) if line.trim().is_empty() => {}
                Err(_) => skipped += 1,
            }
        }
    }
    if !found {
        bail!("no audit log at {} yet (vouch writes it on the first decision after audit_log is set)", path.display());
    }
    if skipped > 0 {
        log::warn!("skipped {skipped} lines of {} that are not decisions", path.display());
    }
    Ok(entries)
}

/// Aligned columns; the reason is last and not padded.
fn table(entries: &[Entry]) -> String {
    let rows: Vec<[String; 4]> = entries.iter().map(|e| [short_time(&e.time), verdict(e), image(e), e.reason.clone()]).collect();
    let header = ["TIME", "VERDICT", "IMAGE", "REASON"].map(String::from);
    let width = |i: usize| rows.iter().chain(std::iter::once(&header)).map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        out += &format!("{:w0$}  {:w1$}  {:w2$}  {}\n", r[0], r[1], r[2], r[3], w0 = widths[0], w1 = widths[1], w2 = widths[2]);
    }
    out
}

/// `2025-01-31T08:00:00Z`, without fractions of a second.
fn short_time(t: &str) -> String {
    match OffsetDateTime::parse(t, &Rfc3339) {
        Ok(p) => p.replace_nanosecond(0).ok().and_then(|p| p.format(&Rfc3339).ok()).unwrap_or_else(|| t.to_string()),
        Err(_) => t.to_string(),
    }
}

fn verdict(e: &Entry) -> String {
    if e.verdict == "allow" && !e.is_success {
        "allow*".to_string()
    } else {
        e.verdict.clone()
    }
}

fn image(e: &Entry) -> String {
    if e.reference.is_empty() {
        e.digest.clone()
    } else {
        e.reference.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: &str, reference: &str, ok: bool) -> Entry {
        Entry {
            time: time.into(),
            reference: reference.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            verdict: if ok { "allow" } else { "deny" }.into(),
            is_success: ok,
            mode: "enforce".into(),
            reason: "r".into(),
            cached: false,
            duration_ms: 1.0,
            signer: None,
            error_class: None,
            allowlisted: None,
            break_glass: None,
        }
    }

    fn opts() -> LogOptions {
        LogOptions { denied: false, since: None, image: None, output: LogFormat::Table, limit: 50, file: None }
    }

    #[test]
    fn filters() {
        let now = OffsetDateTime::parse("2025-01-31T12:00:00Z", &Rfc3339).unwrap();
        let old = entry("2025-01-31T10:00:00Z", "ghcr.io/acme/app:1", false);
        let new = entry("2025-01-31T11:30:00.5Z", "docker.io/library/nginx:1", true);
        let f = Filter::parse(&LogOptions { since: Some("1h".into()), ..opts() }, now).unwrap();
        assert!(!f.keeps(&old) && f.keeps(&new));
        let f = Filter::parse(&LogOptions { denied: true, ..opts() }, now).unwrap();
        assert!(f.keeps(&old) && !f.keeps(&new));
        let f = Filter::parse(&LogOptions { image: Some("nginx:*".into()), ..opts() }, now).unwrap();
        assert!(!f.keeps(&old) && f.keeps(&new));
        let f = Filter::parse(&LogOptions { since: Some("2025-01-31T09:00:00Z".into()), ..opts() }, now).unwrap();
        assert!(f.keeps(&old));
        assert!(Filter::parse(&LogOptions { since: Some("soon".into()), ..opts() }, now).is_err());
        assert!(Filter::parse(&LogOptions { image: Some("Bad//x".into()), ..opts() }, now).is_err());
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&[entry("2025-01-31T11:30:00.123Z", "a.io/x:1", true), entry("2025-01-31T11:31:00Z", "a.io/longer/name:1", false)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TIME "));
        assert!(lines[1].starts_with("2025-01-31T11:30:00Z  allow "), "{t}");
        let col = lines[0].find("REASON").unwrap();
        assert!(lines.iter().skip(1).all(|l| &l[col..] == "r"), "{t}");
    }
}
