//! Single-flight across processes: `flock(2)` on one lock file per key.
//!
//! The kernel releases the lock when the holder's file descriptor closes, including when the
//! process is killed, so a crashed verifier never blocks the others for longer than it ran.
//! `flock` is called through `libc` (already a dependency) rather than a locking crate: it is
//! one call, and the polling loop below is needed anyway to bound the wait by the deadline.

use crate::{Cache, LOCKS};
use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

/// An exclusive lock on one key, held until dropped.
#[derive(Debug)]
pub struct FlightLock {
    _file: File,
    waited: bool,
}

impl FlightLock {
    /// Whether another process held the lock when it was asked for (and so may have written
    /// the entry meanwhile).
    pub fn waited(&self) -> bool {
        self.waited
    }
}

/// Shortest and longest pause between attempts.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(8);

impl Cache {
    /// Takes the lock for `key`, waiting at most `wait`. `None` when the wait ran out or the
    /// lock file cannot be used (the caller then works without it).
    pub fn lock(&self, key: &str, wait: Duration) -> Option<FlightLock> {
        if !self.is_usable() || !crate::valid_name(key) {
            return None;
        }
        let path = self.root.join(LOCKS).join(format!("{key}.lock"));
        let file = match self.open_lock_file(&path) {
            Ok(f) => f,
            Err(e) => return self.fail("creating a lock file", &e),
        };
        let give_up = Instant::now() + wait;
        let mut pause = FIRST_PAUSE;
        let mut waited = false;
        loop {
            match try_lock(&file) {
                Ok(true) => return Some(FlightLock { _file: file, waited }),
                Ok(false) => {}
                Err(e) => return self.fail("locking", &e),
            }
            waited = true;
            let now = Instant::now();
            if now >= give_up {
                log::info!("cache: waited {wait:?} for another vouch verifying the same image; verifying here too");
                return None;
            }
            std::thread::sleep(pause.min(give_up - now));
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    fn open_lock_file(&self, path: &std::path::Path) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = || std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path);
        match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => crate::ensure_dir(&self.root.join(LOCKS)).and_then(|()| open()),
            other => other,
        }
    }
}

/// `Ok(true)` when locked, `Ok(false)` when another process holds it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor this process owns; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}
