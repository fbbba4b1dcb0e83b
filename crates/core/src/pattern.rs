//! Image patterns: globs over normalised image references, for allowlists and log filters.
//!
//! A pattern is `name[:tag][@digest]`, normalised as an [`ImageRef`] is (`nginx` means
//! `docker.io/library/nginx`). In the name, `*` matches any characters within one path segment
//! and a segment that is exactly `**` matches any number of whole segments (at least one when it
//! is the last segment, so `myreg.io/platform/**` covers `myreg.io/platform/x` but not
//! `myreg.io/platform` itself). A pattern whose first segment is `**` is not normalised: it
//! matches any registry. As in image references, a `:` is a tag separator only after the last
//! `/`, so `127.0.0.1:5000/x:*` is host and port, repository `x`, any tag.
//!
//! Without a tag part any tag (or none) matches; with one, the image's tag (the empty string
//! when it has none) must match it, so `:*` also covers references by digest alone. A digest
//! part must equal the image's digest exactly.

use crate::reference::DOCKER_HUB;
use crate::{Digest, DigestError, ImageRef};
use std::fmt;
use std::str::FromStr;

/// Why a string is not an image pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Empty input.
    #[error("image pattern is empty (write e.g. \"registry.k8s.io/pause:*\")")]
    Empty,
    /// Two slashes in a row, or a slash at either end.
    #[error("image pattern {pattern:?} has an empty path segment (remove the extra \"/\")")]
    EmptySegment {
        /// The whole pattern.
        pattern: String,
    },
    /// `**` mixed with other characters in one segment.
    #[error("image pattern {pattern:?}: \"**\" must be a whole path segment, not part of {segment:?} (use \"*\" within a segment)")]
    PartialDoubleStar {
        /// The whole pattern.
        pattern: String,
        /// The offending segment.
        segment: String,
    },
    /// A segment with characters no image reference has there.
    #[error("image pattern {pattern:?} has an invalid segment {segment:?} ({why})")]
    BadSegment {
        /// The whole pattern.
        pattern: String,
        /// The offending segment.
        segment: String,
        /// What is allowed there.
        why: &'static str,
    },
    /// The tag part has characters no tag has.
    #[error("image pattern {pattern:?} has an invalid tag part {tag:?} (letters, digits, _ . - and * only, at most 128)")]
    BadTag {
        /// The whole pattern.
        pattern: String,
        /// The tag part.
        tag: String,
    },
    /// The digest part does not parse.
    #[error("image pattern {pattern:?}: {source}")]
    BadDigest {
        /// The whole pattern.
        pattern: String,
        /// Why the digest is invalid.
        source: DigestError,
    },
}

/// One segment of a pattern's name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of whole segments.
    Any,
    /// A glob within one segment (`*` matches any characters).
    Glob(String),
}

/// A parsed image pattern; see the module documentation for the syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    text: String,
    segments: Vec<Segment>,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImagePattern {
    /// Parses and validates a pattern.
    pub fn parse(input: &str) -> Result<ImagePattern, PatternError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let pattern = text.to_string();
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d).map_err(|source| PatternError::BadDigest { pattern: pattern.clone(), source })?;
                (rest, Some(digest))
            }
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag_glob(t) {
                return Err(PatternError::BadTag { pattern, tag: t.clone() });
            }
        }
        let segments = parse_name(&pattern, name)?;
        Ok(ImagePattern { text: pattern, segments, tag, digest })
    }

    /// The pattern as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `image`, whose content digest is `digest` (else the reference's own digest),
    /// matches this pattern.
    pub fn matches(&self, image: &ImageRef, digest: Option<&Digest>) -> bool {
        if let Some(want) = &self.digest {
            if digest.or(image.digest.as_ref()) != Some(want) {
                return false;
            }
        }
        if let Some(t) = &self.tag {
            if !glob(t, image.tag.as_deref().unwrap_or("")) {
                return false;
            }
        }
        let host = image.registry.to_ascii_lowercase();
        let name: Vec<&str> = std::iter::once(host.as_str()).chain(image.repository.split('/')).collect();
        match_segments(&self.segments, &name)
    }
}

impl FromStr for ImagePattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImagePattern::parse(s)
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits, normalises (Docker Hub names) and validates the name part.
fn parse_name(pattern: &str, name: &str) -> Result<Vec<Segment>, PatternError> {
    let raw: Vec<&str> = name.split('/').collect();
    if raw.iter().any(|s| s.is_empty()) {
        return Err(PatternError::EmptySegment { pattern: pattern.to_string() });
    }
    let normalised = normalise(&raw);
    let has_host = raw[0] != "**";
    let mut segments = Vec::with_capacity(normalised.len());
    for (i, s) in normalised.iter().enumerate() {
        segments.push(segment(pattern, s, has_host && i == 0)?);
    }
    Ok(segments)
}

/// Applies docker's normalisation to the raw segments: a first segment that is not a host
/// (no `.` or `:`, not `localhost`) means Docker Hub, and a single Docker Hub name lives under
/// `library/`.
fn normalise(raw: &[&str]) -> Vec<String> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if raw[0] == "**" {
        return owned(raw);
    }
    let first = raw[0];
    let is_host = raw.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('['));
    let (host, repo) = if is_host { (first.to_ascii_lowercase(), &raw[1..]) } else { (DOCKER_HUB.to_string(), raw) };
    let host = if host == "index.docker.io" { DOCKER_HUB.to_string() } else { host };
    let mut out = vec![host.clone()];
    if host == DOCKER_HUB && repo.len() == 1 && repo[0] != "**" {
        out.push("library".to_string());
    }
    out.extend(owned(repo));
    out
}

/// Validates one segment of the normalised name.
fn segment(pattern: &str, s: &str, is_host: bool) -> Result<Segment, PatternError> {
    if s == "**" {
        return Ok(Segment::Any);
    }
    if s.contains("**") {
        return Err(PatternError::PartialDoubleStar { pattern: pattern.to_string(), segment: s.to_string() });
    }
    let (ok, why): (fn(char) -> bool, &'static str) = if is_host {
        (|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '*'), "a host[:port]: letters, digits, . - : and *")
    } else {
        (|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '*'), "repository paths are lowercase letters, digits, . _ - and *")
    };
    if !s.chars().all(ok) {
        return Err(PatternError::BadSegment { pattern: pattern.to_string(), segment: s.to_string(), why });
    }
    Ok(Segment::Glob(s.to_string()))
}

fn valid_tag_glob(t: &str) -> bool {
    !t.is_empty() && t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*'))
}

/// Whether the pattern segments match the name segments (host first).
fn match_segments(pat: &[Segment], name: &[&str]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((Segment::Any, [])) => !name.is_empty(),
        Some((Segment::Any, rest)) => (0..=name.len()).any(|k| match_segments(rest, &name[k..])),
        Some((Segment::Glob(g), rest)) => name.split_first().is_some_and(|(first, tail)| glob(g, first) && match_segments(rest, tail)),
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn pat(s: &str) -> ImagePattern {
        ImagePattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn hit(p: &str, image: &str) -> bool {
        let r = ImageRef::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
        pat(p).matches(&r, None)
    }

    #[test]
    fn plain_names_match_whole_repositories() {
        assert!(hit("ghcr.io/acme/app", "ghcr.io/acme/app"));
        assert!(hit("ghcr.io/acme/app", "ghcr.io/acme/app:1.0"));
        assert!(hit("ghcr.io/acme/app", &format!("ghcr.io/acme/app@{D1}")));
        assert!(!hit("ghcr.io/acme/app", "ghcr.io/acme/app2"));
        assert!(!hit("ghcr.io/acme/app", "ghcr.io/acme/app/sub"));
        assert!(!hit("ghcr.io/acme/app", "ghcr.io/acme"));
        assert!(!hit("ghcr.io/acme/app", "docker.io/acme/app"));
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        assert!(hit("nginx", "nginx:1.27"));
        assert!(hit("nginx", "docker.io/library/nginx"));
        assert!(hit("docker.io/library/nginx:*", "nginx:latest"));
        assert!(hit("index.docker.io/nginx", "nginx"));
        assert!(hit("acme/app", "docker.io/acme/app:v1"));
        assert!(!hit("acme/app", "ghcr.io/acme/app"));
        assert!(hit("*", "redis"));
        assert!(!hit("*", "acme/redis"));
        assert!(hit("docker.io/**", "acme/redis"));
        assert!(hit("docker.io/**", "redis"));
    }

    #[test]
    fn single_star_stays_within_a_segment() {
        assert!(hit("ghcr.io/acme/*", "ghcr.io/acme/app"));
        assert!(!hit("ghcr.io/acme/*", "ghcr.io/acme/team/app"));
        assert!(hit("ghcr.io/acme/app-*", "ghcr.io/acme/app-web"));
        assert!(!hit("ghcr.io/acme/app-*", "ghcr.io/acme/app"));
        assert!(hit("ghcr.io/*/app", "ghcr.io/acme/app"));
        assert!(!hit("ghcr.io/*/app", "ghcr.io/a/b/app"));
        assert!(hit("*.gcr.io/proj/img", "eu.gcr.io/proj/img"));
        assert!(!hit("*.gcr.io/proj/img", "gcr.io/proj/img"));
        assert!(hit("ghcr.io/a*c/x", "ghcr.io/abbbc/x"));
        assert!(!hit("ghcr.io/a*c/x", "ghcr.io/abbbcd/x"));
    }

    #[test]
    fn double_star_spans_segments() {
        assert!(hit("myreg.io/platform/**", "myreg.io/platform/x"));
        assert!(hit("myreg.io/platform/**", "myreg.io/platform/a/b/c:1"));
        assert!(!hit("myreg.io/platform/**", "myreg.io/platform"));
        assert!(!hit("myreg.io/platform/**", "myreg.io/platformx/a"));
        assert!(!hit("myreg.io/platform/**", "other.io/platform/a"));
        assert!(hit("myreg.io/**/agent", "myreg.io/agent"));
        assert!(hit("myreg.io/**/agent", "myreg.io/a/b/agent"));
        assert!(!hit("myreg.io/**/agent", "myreg.io/a/b/agent2"));
        assert!(hit("**/pause:*", "registry.k8s.io/pause:3.10"));
        assert!(hit("**/pause", "pause"));
        assert!(hit("**", "anything.io/a/b/c"));
        assert!(hit("**:v1", "ghcr.io/x:v1"));
        assert!(!hit("**:v1", "ghcr.io/x:v2"));
    }

    #[test]
    fn tags_and_ports() {
        assert!(hit("registry.k8s.io/pause:*", "registry.k8s.io/pause:3.10"));
        assert!(hit("registry.k8s.io/pause:*", &format!("registry.k8s.io/pause@{D1}")));
        assert!(!hit("registry.k8s.io/pause:3.*", &format!("registry.k8s.io/pause@{D1}")));
        assert!(hit("registry.k8s.io/pause:3.*", "registry.k8s.io/pause:3.9"));
        assert!(!hit("registry.k8s.io/pause:3.*", "registry.k8s.io/pause:latest"));
        assert!(hit("127.0.0.1:5000/x:*", "127.0.0.1:5000/x:v1"));
        assert!(!hit("127.0.0.1:5000/x:*", "127.0.0.1:5001/x:v1"));
        assert!(!hit("127.0.0.1:5000/x:*", "127.0.0.1:5000/y:v1"));
        assert!(hit("127.0.0.1:*/x", "127.0.0.1:5001/x"));
        assert!(hit("localhost:5000/**", "localhost:5000/a/b"));
        let p = pat("127.0.0.1:5000/x:*");
        assert_eq!(p.tag.as_deref(), Some("*"));
        assert_eq!(p.segments.len(), 2);
        assert!(hit("GHCR.io/acme/app", "ghcr.io/acme/app"));
    }

    #[test]
    fn digests_must_be_equal() {
        let image = ImageRef::parse("ghcr.io/acme/app:1.0").unwrap();
        let (d1, d2) = (Digest::parse(D1).unwrap(), Digest::parse(D2).unwrap());
        let p = pat(&format!("ghcr.io/acme/app@{D1}"));
        assert!(p.matches(&image, Some(&d1)));
        assert!(!p.matches(&image, Some(&d2)));
        assert!(!p.matches(&image, None));
        assert!(p.matches(&ImageRef::parse(&format!("ghcr.io/acme/app@{D1}")).unwrap(), None));
        let tagged = pat(&format!("ghcr.io/acme/app:1.0@{D1}"));
        assert!(tagged.matches(&image, Some(&d1)));
        assert!(!tagged.matches(&ImageRef::parse("ghcr.io/acme/app:2.0").unwrap(), Some(&d1)));
        assert!(pat(&format!("**@{D1}")).matches(&image, Some(&d1)));
    }

    #[test]
    fn invalid_patterns_say_why() {
        assert_eq!(ImagePattern::parse(" "), Err(PatternError::Empty));
        assert!(matches!(ImagePattern::parse("ghcr.io//app"), Err(PatternError::EmptySegment { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/app/"), Err(PatternError::EmptySegment { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/a**/b"), Err(PatternError::PartialDoubleStar { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/Acme/app"), Err(PatternError::BadSegment { .. })));
        assert!(matches!(ImagePattern::parse("gh_cr.io/acme/app"), Err(PatternError::BadSegment { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/app:"), Err(PatternError::BadTag { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/app:a/b"), Err(PatternError::EmptySegment { .. }) | Err(PatternError::BadSegment { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/app:v!"), Err(PatternError::BadTag { .. })));
        assert!(matches!(ImagePattern::parse("ghcr.io/app@sha256:zz"), Err(PatternError::BadDigest { .. })));
        let e = ImagePattern::parse("ghcr.io/a**/b").unwrap_err().to_string();
        assert!(e.contains("whole path segment"), "{e}");
    }

    #[test]
    fn glob_basics() {
        assert!(glob("*", ""));
        assert!(glob("a*", "a"));
        assert!(glob("*b*", "abc"));
        assert!(!glob("a", "ab"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
    }
}
