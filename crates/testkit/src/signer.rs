//! Development signer (filled in below).
