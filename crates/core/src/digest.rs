//! Content digests as the OCI image spec defines them (`algorithm:hex`).

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;

/// A digest algorithm vouch accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `sha256`, 64 hex characters.
    Sha256,
    /// `sha512`, 128 hex characters.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as it appears before the colon.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }
}

/// Why a string is not a digest vouch accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm prefix (expected sha256:<hex> or sha512:<hex>)")]
    MissingAlgorithm(String),
    /// The algorithm is not sha256 or sha512.
    #[error("digest {0:?} uses an unsupported algorithm (expected sha256 or sha512)")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length or characters.
    #[error("digest {0:?} is not {1} lowercase hex characters after the colon")]
    BadHex(String, usize),
}

/// A validated content digest such as `sha256:4515…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex`, accepting only sha256 and sha512 with lowercase hex.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let shown: String = s.chars().take(150).collect();
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::MissingAlgorithm(shown.clone()))?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => return Err(DigestError::UnsupportedAlgorithm(shown)),
        };
        let ok = hex.len() == algorithm.hex_len()
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::BadHex(shown, algorithm.hex_len()));
        }
        Ok(Digest { algorithm, hex: hex.to_string() })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest { algorithm: DigestAlgorithm::Sha256, hex: hex_encode(&Sha256::digest(bytes)) }
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn compute(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
        let hex = match algorithm {
            DigestAlgorithm::Sha256 => hex_encode(&Sha256::digest(bytes)),
            DigestAlgorithm::Sha512 => hex_encode(&Sha512::digest(bytes)),
        };
        Digest { algorithm, hex }
    }

    /// True when `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::compute(self.algorithm, bytes) == *self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// A short form for messages: `sha256:` and the first 12 hex characters, then `…`.
    pub fn short(&self) -> String {
        format!("{}:{}…", self.algorithm.name(), &self.hex[..12])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let d = Digest::sha256_of(b"hello");
        assert_eq!(d.to_string(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hellO"));
        assert_eq!(d.short(), "sha256:2cf24dba5fb0…");
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(Digest::parse("2cf24d"), Err(DigestError::MissingAlgorithm(_))));
        assert!(matches!(Digest::parse("md5:abcd"), Err(DigestError::UnsupportedAlgorithm(_))));
        assert!(matches!(Digest::parse("sha256:ABCD"), Err(DigestError::BadHex(_, 64))));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(matches!(Digest::parse(&upper), Err(DigestError::BadHex(_, 64))));
        let short512 = format!("sha512:{}", "a".repeat(64));
        assert!(matches!(Digest::parse(&short512), Err(DigestError::BadHex(_, 128))));
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(128))).is_ok());
    }
}
