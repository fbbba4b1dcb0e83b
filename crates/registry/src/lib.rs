//! vouch-registry
