//! vouch-notation
