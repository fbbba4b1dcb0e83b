//! vouch-policy
