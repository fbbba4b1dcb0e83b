//! vouch-pipeline
