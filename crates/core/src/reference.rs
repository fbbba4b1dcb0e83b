//! Image references (`host/repo:tag@digest`), normalised as containerd and docker do.

use crate::{Digest, DigestError};
use std::fmt;

/// The registry name docker uses for Docker Hub in normalised references.
pub const DOCKER_HUB: &str = "docker.io";

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Empty input.
    #[error("image reference is empty")]
    Empty,
    /// Longer than the 255 characters the distribution spec allows for a name.
    #[error("image reference name is longer than 255 characters")]
    TooLong,
    /// The registry host is not a valid host[:port].
    #[error("image reference {reference:?} has an invalid registry host {host:?}")]
    BadHost {
        /// The whole reference.
        reference: String,
        /// The host part.
        host: String,
    },
    /// A repository path component has characters the distribution spec forbids.
    #[error("image reference {reference:?} has an invalid repository path component {component:?} (lowercase letters, digits and . _ - only)")]
    BadRepository {
        /// The whole reference.
        reference: String,
        /// The component.
        component: String,
    },
    /// The tag is not `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("image reference {reference:?} has an invalid tag {tag:?}")]
    BadTag {
        /// The whole reference.
        reference: String,
        /// The tag.
        tag: String,
    },
    /// The digest part does not parse.
    #[error("image reference {reference:?}: {source}")]
    BadDigest {
        /// The whole reference.
        reference: String,
        /// Why the digest is invalid.
        source: DigestError,
    },
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host with optional port, e.g. `ghcr.io` or `127.0.0.1:5000`; `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path, e.g. `acme/app` or `library/nginx`.
    pub repository: String,
    /// Tag, when given.
    pub tag: Option<String>,
    /// Digest, when given.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference the way docker's reference grammar does, normalising Docker Hub names
    /// (`nginx` → `docker.io/library/nginx`).
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let reference = input.chars().take(300).collect::<String>();
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d)
                    .map_err(|source| ReferenceError::BadDigest { reference: reference.clone(), source })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A ':' is a tag separator only after the last '/', so `host:5000/repo` keeps its port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if name.len() > 255 {
            return Err(ReferenceError::TooLong);
        }
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(ReferenceError::BadTag { reference, tag: t.clone() });
            }
        }
        let (registry, repository) = split_registry(name);
        if !valid_host(&registry) {
            return Err(ReferenceError::BadHost { reference, host: registry });
        }
        for component in repository.split('/') {
            if !valid_component(component) {
                return Err(ReferenceError::BadRepository { reference, component: component.to_string() });
            }
        }
        Ok(ImageRef { registry, repository, tag, digest })
    }

    /// `host/repository`, the form notation trust-policy scopes use.
    pub fn scope(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository at `digest`, without a tag.
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef { registry: self.registry.clone(), repository: self.repository.clone(), tag: None, digest: Some(digest) }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn split_registry(name: &str) -> (String, String) {
    if let Some((first, rest)) = name.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[') {
            let host = if first == "index.docker.io" { DOCKER_HUB } else { first };
            let repo = if host == DOCKER_HUB && !rest.contains('/') { format!("library/{rest}") } else { rest.to_string() };
            return (host.to_string(), repo);
        }
        return (DOCKER_HUB.to_string(), name.to_string());
    }
    (DOCKER_HUB.to_string(), format!("library/{name}"))
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // [ipv6]:port
        let Some((addr, after)) = rest.split_once(']') else { return false };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn normalises_docker_hub() {
        assert_eq!(p("nginx").to_string(), "docker.io/library/nginx");
        assert_eq!(p("nginx:1.27").scope(), "docker.io/library/nginx");
        assert_eq!(p("acme/app").scope(), "docker.io/acme/app");
        assert_eq!(p("docker.io/library/nginx:1.27").to_string(), "docker.io/library/nginx:1.27");
        assert_eq!(p("index.docker.io/nginx").scope(), "docker.io/library/nginx");
    }

    #[test]
    fn keeps_host_ports_and_digests() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let r = p(&format!("127.0.0.1:5000/acme/app:v1@{d}"));
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "acme/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_ref().unwrap().to_string(), d);
        let r = p("localhost:5000/x");
        assert_eq!((r.registry.as_str(), r.tag), ("localhost:5000", None));
        assert_eq!(p("[::1]:5000/a/b:t").registry, "[::1]:5000");
        assert_eq!(p("localhost/a").registry, "localhost");
    }

    #[test]
    fn rejects_bad_references() {
        assert_eq!(ImageRef::parse(""), Err(ReferenceError::Empty));
        assert!(matches!(ImageRef::parse("Acme/App"), Err(ReferenceError::BadRepository { .. })));
        assert!(matches!(ImageRef::parse("ghcr.io/acme//app"), Err(ReferenceError::BadRepository { .. })));
        assert!(matches!(ImageRef::parse("ghcr.io/acme/app:"), Err(ReferenceError::BadTag { .. })));
        assert!(matches!(ImageRef::parse("ghcr.io/acme/app:-x"), Err(ReferenceError::BadTag { .. })));
        assert!(matches!(ImageRef::parse("ghcr.io/acme/app@sha256:zz"), Err(ReferenceError::BadDigest { .. })));
        assert!(matches!(ImageRef::parse("gh_cr.io/acme/app"), Err(ReferenceError::BadHost { .. })));
        assert!(matches!(ImageRef::parse("ghcr.io:99999x/a"), Err(ReferenceError::BadHost { .. })));
        assert!(matches!(ImageRef::parse(&"a".repeat(300)), Err(ReferenceError::TooLong)));
    }
}
