//! The on-disk format of one cache entry: a fixed 60-byte header, then the body.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "VCE1" (format version 1)
//!      4     8  created-at, milliseconds since the Unix epoch, little endian
//!     12     8  expires-at, milliseconds since the Unix epoch (0: never), little endian
//!     20     8  body length in bytes, little endian
//!     28    32  SHA-256 over bytes 0..28 and the body
//!     60     …  body
//! ```
//!
//! The checksum covers the header fields too, so a flipped bit in an expiry cannot make an
//! entry live longer, and a truncated or half-written file never decodes.

use sha2::{Digest as _, Sha256};

/// Magic and format version at the start of every entry file.
const MAGIC: &[u8; 4] = b"VCE1";
/// Length of the fixed header.
pub const HEADER_LEN: usize = 60;
/// Offset of the checksum in the header.
const SUM_AT: usize = 28;

/// A decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the entry was written, ms since the Unix epoch.
    pub created_ms: u64,
    /// When it stops being valid, ms since the Unix epoch; `None` for immutable content.
    pub expires_ms: Option<u64>,
    /// The cached bytes.
    pub body: Vec<u8>,
}

impl Entry {
    /// Whether the entry is still valid at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_ms.is_none_or(|e| now_ms < e)
    }

    /// Whole seconds since the entry was written (0 if the clock went backwards).
    pub fn age_secs(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.created_ms) / 1000
    }
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the header, or shorter than the length the header declares.
    #[error("truncated cache entry")]
    Truncated,
    /// Not this format or version.
    #[error("not a version 1 cache entry")]
    BadMagic,
    /// The checksum does not match.
    #[error("cache entry checksum mismatch")]
    Checksum,
}

/// Serialises an entry.
pub fn encode(created_ms: u64, expires_ms: Option<u64>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&created_ms.to_le_bytes());
    out.extend_from_slice(&expires_ms.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let sum = checksum(&out, body);
    out.extend_from_slice(&sum);
    out.extend_from_slice(body);
    out
}

/// Parses and checks an entry.
pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
    let header = Header::parse(bytes)?;
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != header.len {
        return Err(DecodeError::Truncated);
    }
    if checksum(&bytes[..SUM_AT], body) != bytes[SUM_AT..HEADER_LEN] {
        return Err(DecodeError::Checksum);
    }
    Ok(Entry { created_ms: header.created_ms, expires_ms: header.expires_ms, body: body.to_vec() })
}

/// The header fields alone (for pruning without reading bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Created-at, ms since the epoch.
    pub created_ms: u64,
    /// Expires-at, ms since the epoch.
    pub expires_ms: Option<u64>,
    /// Declared body length.
    pub len: u64,
}

impl Header {
    /// Parses the fixed header (the checksum is not verified).
    pub fn parse(bytes: &[u8]) -> Result<Header, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated);
        }
        if &bytes[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let created_ms = le_u64(&bytes[4..12]);
        let expires = le_u64(&bytes[12..20]);
        let len = le_u64(&bytes[20..28]);
        Ok(Header { created_ms, expires_ms: (expires != 0).then_some(expires), len })
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

fn checksum(header: &[u8], body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(header);
    h.update(body);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode(1_000, Some(61_000), b"hello");
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        let e = decode(&bytes).unwrap();
        assert_eq!((e.created_ms, e.expires_ms, e.body.as_slice()), (1_000, Some(61_000), &b"hello"[..]));
        assert!(e.is_live(60_999) && !e.is_live(61_000));
        assert_eq!(e.age_secs(3_500), 2);
        assert_eq!(decode(&encode(5, None, b"")).unwrap().expires_ms, None);
    }

    #[test]
    fn damage_is_detected() {
        let good = encode(1, Some(2), b"some body bytes");
        for cut in [0, 10, HEADER_LEN - 1, HEADER_LEN, good.len() - 1] {
            assert_eq!(decode(&good[..cut]), Err(DecodeError::Truncated), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::Truncated));
        for i in [0, 5, 13, 30, HEADER_LEN + 3] {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {i}");
        }
    }
}
