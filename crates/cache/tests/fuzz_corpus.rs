//! Replays the `cache_entry` fuzzing corpus (`fuzz/corpus/cache_entry`, see docs/fuzzing.md):
//! every damaged entry file must decode to an error or an entry, never panic.

#[test]
fn cache_entry_corpus() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/cache_entry");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    assert!(!files.is_empty(), "fuzz/corpus/cache_entry is empty");
    for f in files {
        let _ = vouch_cache::entry::decode(&std::fs::read(&f).unwrap());
    }
}
