use super::*;
use std::os::unix::fs::PermissionsExt;

/// A fresh directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("vouch-cache-unit-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(s: &str) -> String {
    KeyBuilder::new().field(s).finish()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn round_trip_with_private_modes() {
    let d = Dir::new("modes");
    let c = Cache::open(&d.0.join("nested/cache"), DEFAULT_MAX_SIZE).unwrap();
    assert_eq!(mode(c.root()), 0o700);
    assert!(c.get(Kind::Verdicts, &key("a")).is_none());
    assert!(c.put(Kind::Verdicts, &key("a"), b"report", Some(Duration::from_secs(60))));
    let e = c.get(Kind::Verdicts, &key("a")).unwrap();
    assert_eq!(e.body, b"report");
    assert_eq!(mode(&c.root().join("verdicts")), 0o700);
    assert_eq!(mode(&c.root().join("verdicts").join(key("a"))), 0o600);
    let leftovers: Vec<_> = fs::read_dir(c.root().join("verdicts")).unwrap().filter_map(|e| e.ok()).filter(|e| is_temp(&e.path())).collect();
    assert!(leftovers.is_empty());
}

fn is_temp(p: &Path) -> bool {
    p.file_name().unwrap().to_string_lossy().starts_with(TEMP_PREFIX)
}

#[test]
fn expired_entries_miss() {
    let d = Dir::new("expired");
    let c = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    c.put(Kind::Referrers, &key("r"), b"list", Some(Duration::ZERO));
    std::thread::sleep(Duration::from_millis(3));
    assert!(c.get(Kind::Referrers, &key("r")).is_none());
    assert_eq!(c.stats().unwrap().kinds[1].expired, 1);
    let p = c.prune().unwrap();
    assert_eq!(p.expired, 1);
    assert_eq!(c.stats().unwrap().kinds[1].entries, 0);
}

#[test]
fn damaged_entries_miss_and_are_deleted() {
    let d = Dir::new("damaged");
    let c = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    let path = c.root().join("verdicts").join(key("v"));
    let good = entry::encode(now_ms(), Some(now_ms() + 60_000), b"a verdict body");
    let mut flipped = good.clone();
    flipped[HEADER_OFFSET_BODY] ^= 1;
    for bad in [&good[..good.len() - 3], &good[..10], &flipped[..], b"garbage".as_slice(), b"".as_slice()] {
        c.put(Kind::Verdicts, &key("v"), b"x", None);
        fs::write(&path, bad).unwrap();
        assert!(c.get(Kind::Verdicts, &key("v")).is_none());
        assert!(!path.exists(), "damaged entry was not deleted");
    }
    assert!(c.is_usable());
}

const HEADER_OFFSET_BODY: usize = entry::HEADER_LEN + 2;

#[test]
fn content_is_rehashed() {
    let d = Dir::new("content");
    let c = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    let body = b"{\"schemaVersion\":2}";
    let digest = Digest::sha256_of(body);
    assert!(c.put_content(&digest, body));
    assert_eq!(c.get_content(&digest).as_deref(), Some(&body[..]));
    // A well-formed entry whose body is other bytes: the checksum passes, the digest does not.
    let path = c.root().join("content").join(content_name(&digest));
    fs::write(&path, entry::encode(now_ms(), None, b"other bytes")).unwrap();
    assert!(c.get_content(&digest).is_none());
    assert!(!path.exists());
}

#[test]
fn keys_that_are_not_names_are_refused() {
    let d = Dir::new("names");
    let c = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    for k in ["../escape", "", ".tmp-1", "UPPER", "a/b"] {
        assert!(!c.put(Kind::Verdicts, k, b"x", None), "{k}");
        assert!(c.get(Kind::Verdicts, k).is_none());
    }
}

#[test]
fn over_the_cap_evicts_least_recently_used() {
    let d = Dir::new("evict");
    let c = Cache::open(&d.0, 3 * 1024).unwrap();
    let body = vec![7u8; 1000];
    for i in 0..3 {
        c.put(Kind::Verdicts, &key(&i.to_string()), &body, None);
        std::thread::sleep(Duration::from_millis(15));
    }
    // Reading entry 0 makes it the most recently used.
    assert!(c.get(Kind::Verdicts, &key("0")).is_some());
    std::thread::sleep(Duration::from_millis(15));
    c.put(Kind::Verdicts, &key("3"), &body, None);
    c.finish();
    let present: Vec<bool> = (0..4).map(|i| c.root().join("verdicts").join(key(&i.to_string())).exists()).collect();
    assert_eq!(present, [true, false, false, true]);
    assert!(c.stats().unwrap().bytes <= 3 * 1024);
}

#[test]
fn stats_count_hits_and_clear_empties() {
    let d = Dir::new("stats");
    let c = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    c.get(Kind::Verdicts, &key("s"));
    c.put(Kind::Verdicts, &key("s"), b"body", None);
    c.get(Kind::Verdicts, &key("s"));
    c.get(Kind::Verdicts, &key("s"));
    let s = c.stats().unwrap();
    let v = &s.kinds[2];
    assert_eq!((v.kind, v.entries, v.hits, v.misses), ("verdicts", 1, 2, 1));
    let cleared = c.clear().unwrap();
    assert_eq!(cleared.evicted, 1);
    let s = c.stats().unwrap();
    assert_eq!((s.bytes, s.kinds[2].hits), (0, 0));
}

#[test]
fn a_cache_path_that_is_a_file_is_refused() {
    let d = Dir::new("file");
    fs::create_dir_all(&d.0).unwrap();
    let f = d.0.join("plain");
    fs::write(&f, "x").unwrap();
    assert!(matches!(Cache::open(&f, 1), Err(CacheError::NotADirectory { .. })));
    let under = Cache::open(&f.join("sub"), 1).unwrap_err().to_string();
    assert!(under.contains("cannot create cache directory") && under.contains("enabled = false"), "{under}");
}

#[test]
fn single_flight_lock_excludes_and_times_out() {
    let d = Dir::new("lock");
    let a = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    let b = Cache::open(&d.0, DEFAULT_MAX_SIZE).unwrap();
    let held = a.lock(&key("img"), Duration::ZERO).unwrap();
    assert!(!held.waited());
    // flock locks belong to the open file description, so a second open conflicts even
    // within one process.
    let started = std::time::Instant::now();
    assert!(b.lock(&key("img"), Duration::from_millis(30)).is_none());
    assert!(started.elapsed() >= Duration::from_millis(30));
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
    });
    let second = b.lock(&key("img"), Duration::from_secs(5)).unwrap();
    assert!(second.waited());
    release.join().unwrap();
}

#[test]
fn concurrent_writers_leave_one_whole_entry() {
    let d = Dir::new("writers");
    let root = d.0.clone();
    let threads: Vec<_> = (0..8u8)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let c = Cache::open(&root, DEFAULT_MAX_SIZE).unwrap();
                for _ in 0..50 {
                    c.put(Kind::Verdicts, &key("same"), &vec![i; 4096], None);
                    if let Some(e) = c.get(Kind::Verdicts, &key("same")) {
                        assert!(e.body.len() == 4096 && e.body.iter().all(|b| *b == e.body[0]));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = Cache::open(&root, DEFAULT_MAX_SIZE).unwrap();
    assert!(c.get(Kind::Verdicts, &key("same")).is_some());
    assert_eq!(c.stats().unwrap().kinds[2].entries, 1);
}

#[test]
fn a_cache_dir_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("vouch-cache-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Cache::open(&dir, 1 << 20).expect_err("a world-writable cache dir is refused");
    assert!(err.to_string().contains("not private") && err.to_string().contains("777"), "{err}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Cache::open(&dir, 1 << 20).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}
