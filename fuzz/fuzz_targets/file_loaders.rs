//! Any bytes written to a file → every file loader (`Predictor::load`, `ErrorFeedback::load`,
//! both `from_yaml_file`s, `read_npy`, `read_npz_file`): the same outcome as its in-memory
//! parser, never a stall or a file-level error on a small regular file. The one-byte input
//! 0xFE gives the loaders `/dev/zero`, a FIFO and a directory instead: `Io` at once.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/loader_case.rs"]
#[allow(dead_code)] // each user needs only part of it
mod loader_case;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("alcm_fuzz_loaders_{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(m) = loader_case::check_file_loaders(data, dir(), data == [0xFE]) {
        panic!("{m}");
    }
});
