//! The containerd version: 2.1 is the first whose Kubernetes (CRI) pulls call image verifiers.

use super::Finding;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `containerd --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `<bin> --version` (or `containerd` found on PATH) and checks the version.
pub fn check(bin: Option<&Path>) -> Option<Finding> {
    let bin = match bin.map(Path::to_path_buf).or_else(|| on_path("containerd")) {
        Some(b) => b,
        None => return Some(Finding::warning("containerd", "not found on PATH, so its version is unknown", "pass --containerd-bin /usr/bin/containerd (or wherever it is)")),
    };
    let subject = format!("{} --version", bin.display());
    let text = match run(&bin) {
        Ok(t) => t,
        Err(e) => return Some(Finding::warning(subject, format!("gave no version ({e})"), "check that the path is the containerd binary; vouch needs containerd 2.1 or later")),
    };
    match parse(&text) {
        None => Some(Finding::warning(subject, format!("printed no version vouch understands ({:?})", text.trim()), "make sure containerd is 2.1 or later")),
        Some((major, minor)) => old(subject, major, minor),
    }
}

fn old(subject: String, major: u64, minor: u64) -> Option<Finding> {
    if (major, minor) >= (2, 1) {
        return None;
    }
    let problem = if major < 2 {
        format!("containerd {major}.{minor} has no image-verifier plugin: nothing calls vouch")
    } else {
        format!("containerd {major}.{minor}: Kubernetes (CRI) pulls skip image verifiers (only ctr and transfer-service clients are verified)")
    };
    Some(Finding::error(subject, problem, "upgrade containerd to 2.1 or later"))
}

/// `(major, minor)` from output like `containerd github.com/containerd/containerd/v2 v2.1.0 abc`
/// or `containerd containerd.io 1.7.27 05044ec`.
pub fn parse(text: &str) -> Option<(u64, u64)> {
    text.split_whitespace().find_map(|word| {
        let w = word.strip_prefix('v').unwrap_or(word);
        let mut parts = w.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor_text = parts.next()?;
        let digits: String = minor_text.chars().take_while(char::is_ascii_digit).collect();
        Some((major, digits.parse().ok()?))
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// stdout and stderr of `bin --version`, killed after [`VERSION_TIMEOUT`].
fn run(bin: &Path) -> Result<String, String> {
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return reader.join().map_err(|_| "reader failed".to_string());
        }
        if start.elapsed() > VERSION_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no answer within {VERSION_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn versions() {
        assert_eq!(parse("containerd github.com/containerd/containerd/v2 v2.1.0 abc"), Some((2, 1)));
        assert_eq!(parse("containerd containerd.io 1.7.27 05044ec"), Some((1, 7)));
        assert_eq!(parse("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1"), Some((1, 6)));
        assert_eq!(parse("who knows"), None);
    }
}
