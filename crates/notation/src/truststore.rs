//! The notation trust store: `<root>/x509/{ca,signingAuthority,tsa}/<name>/` holding
//! certificates (PEM or DER, one or more per file). Stores are read when a statement first
//! needs them, and kept for the rest of the process.

use crate::cert::{parse_pem_or_der, Cert};
use crate::trustpolicy::StoreRef;
use crate::NotationError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Files larger than this are not certificates.
const MAX_FILE: u64 = 1024 * 1024;
/// A store holds at most this many files.
const MAX_FILES: usize = 1000;

/// A trust store root.
#[derive(Debug, Clone)]
pub struct TrustStore {
    root: PathBuf,
    loaded: Arc<Mutex<HashMap<StoreRef, Arc<Vec<Cert>>>>>,
}

impl TrustStore {
    /// A trust store rooted at `root` (the directory that contains `x509/`). Nothing is read yet.
    pub fn open(root: &Path) -> TrustStore {
        TrustStore { root: root.to_path_buf(), loaded: Arc::default() }
    }

    /// The directory of one named store.
    pub fn dir(&self, store: &StoreRef) -> PathBuf {
        self.root.join("x509").join(store.kind.name()).join(&store.name)
    }

    /// The certificates of `store`; a missing, empty or unreadable store is an error naming it.
    pub fn certificates(&self, store: &StoreRef) -> Result<Arc<Vec<Cert>>, NotationError> {
        if let Some(c) = self.loaded.lock().ok().and_then(|m| m.get(store).cloned()) {
            return Ok(c);
        }
        let certs = Arc::new(self.read(store)?);
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(store.clone(), certs.clone());
        }
        Ok(certs)
    }

    fn read(&self, store: &StoreRef) -> Result<Vec<Cert>, NotationError> {
        let dir = self.dir(store);
        let err = |reason: String| NotationError::TrustStore { store: store.to_string(), reason };
        let entries = std::fs::read_dir(&dir).map_err(|e| err(format!("cannot read {}: {e}", dir.display())))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        if paths.len() > MAX_FILES {
            return Err(err(format!("{} holds more than {MAX_FILES} files", dir.display())));
        }
        let mut certs = Vec::new();
        for path in paths {
            let meta = std::fs::metadata(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            if !meta.is_file() {
                return Err(err(format!("{} is not a regular file", path.display())));
            }
            if meta.len() > MAX_FILE {
                return Err(err(format!("{} is larger than {MAX_FILE} bytes", path.display())));
            }
            let bytes = std::fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            certs.extend(parse_pem_or_der(&bytes).map_err(|e| err(format!("{}: {e}", path.display())))?);
        }
        if certs.is_empty() {
            return Err(err(format!("{} holds no certificate", dir.display())));
        }
        Ok(certs)
    }
}
