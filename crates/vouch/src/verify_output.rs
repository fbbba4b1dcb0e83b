//! How `vouch verify` prints its reports: a table for people at a terminal, JSON for programs
//! (one report object for one image, an array for several).

use std::io::Write;
use vouch_core::Report;

/// `--output`: how verify prints its results.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Columns: image, digest, verdict, signer, reason.
    Table,
    /// The report object (one image) or an array of reports (several).
    Json,
}

impl Format {
    /// `forced`, else a table when stdout is a terminal and JSON otherwise.
    pub fn choose(forced: Option<Format>) -> Format {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1;
        forced.unwrap_or(if tty { Format::Table } else { Format::Json })
    }
}

/// One image's outcome: the name asked for and its report.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The reference as given on the command line.
    pub name: String,
    /// The (possibly combined) report.
    pub report: Report,
}

/// Prints the outcomes in `format` on stdout.
pub fn print(outcomes: &[Outcome], format: Format) {
    let text = match format {
        Format::Json => json(outcomes),
        Format::Table => table(outcomes),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end());
    let _ = out.flush();
}

fn json(outcomes: &[Outcome]) -> String {
    let text = match outcomes {
        [one] => serde_json::to_string_pretty(&one.report),
        many => serde_json::to_string_pretty(&many.iter().map(|o| &o.report).collect::<Vec<_>>()),
    };
    text.unwrap_or_default()
}

/// The table: one row per image, plus one per verified platform manifest.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut rows = vec![["IMAGE".to_string(), "DIGEST".into(), "VERDICT".into(), "SIGNER".into(), "REASON".into()]];
    for o in outcomes {
        rows.push(row(&o.name, &o.report));
        if let Some(p) = platform_report(&o.report) {
            let name = format!("{} [{}]", o.name, o.report.extra["platform"]["name"].as_str().unwrap_or("?"));
            rows.push(row(&name, &p));
        }
    }
    render(&rows)
}

fn row(name: &str, r: &Report) -> [String; 5] {
    let digest = r.subject.rsplit_once('@').map_or("-", |(_, d)| d);
    let digest = digest.get(..19).unwrap_or(digest).to_string();
    let verdict = if r.is_success { "pass" } else { "FAIL" };
    [name.to_string(), digest, verdict.into(), signer(r), reason(r)]
}

/// The platform manifest's report nested under `platform.report`, when there is one.
fn platform_report(r: &Report) -> Option<Report> {
    serde_json::from_value(r.extra.get("platform")?.get("report")?.clone()).ok()
}

/// The subject DN of the first verified signature, else of the first examined one.
pub fn signer(r: &Report) -> String {
    let results: Vec<_> = r.verifier_reports.iter().flat_map(|n| n.verifier_reports.iter()).collect();
    let pick = results.iter().find(|v| v.is_success).or(results.first());
    pick.and_then(|v| v.extensions.get("SN")).and_then(|s| s.as_str()).unwrap_or("-").to_string()
}

/// The reason without its `allow|deny <subject>: ` prefix, which the other columns show.
fn reason(r: &Report) -> String {
    let text = r.reason.as_str();
    let rest = ["allow ", "deny ", "audit: would deny "].iter().find_map(|p| text.strip_prefix(p));
    match rest.and_then(|t| t.split_once(": ")) {
        Some((_, why)) => why.to_string(),
        None => text.to_string(),
    }
}

fn render(rows: &[[String; 5]]) -> String {
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..4).map(width).collect();
    let mut out = String::new();
    for r in rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[i], w = *w));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ok: bool, reason: &str) -> Report {
        Report {
            is_success: ok,
            mode: "enforce".into(),
            subject: "r.io/a@sha256:0123456789abcdef0123".into(),
            reason: reason.into(),
            verifier_reports: vec![],
            extra: Default::default(),
        }
    }

    #[test]
    fn table_has_one_row_per_image() {
        let o = vec![
            Outcome { name: "r.io/a:1".into(), report: report(true, "allow r.io/a@sha256:01: signature 1 of 1 verified") },
            Outcome { name: "r.io/b:1".into(), report: report(false, "deny r.io/b@sha256:01: no signature") },
        ];
        let t = table(&o);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("IMAGE") && lines[0].contains("SIGNER"));
        assert!(lines[1].contains("pass") && lines[1].ends_with("signature 1 of 1 verified"), "{t}");
        assert!(lines[2].contains("FAIL") && lines[2].ends_with("no signature") && lines[2].contains("sha256:0123456789a"), "{t}");
    }
}
