//! Replays the committed corpus of the `dtype` fuzz target (fuzz/corpus/dtype/) through the
//! target's own checks (tests/common/dtype_case.rs), without libFuzzer.

#[path = "common/dtype_case.rs"]
mod dtype_case;

#[test]
fn dtype_corpus_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dtype");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        dtype_case::check(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n >= 20, "{n} seeds in {}", dir.display());
}
