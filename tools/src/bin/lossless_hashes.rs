//! The lossless float coder's payload bytes per raw tensor file, for checking that a speed
//! change left them alone in every element width (`frame_hashes` covers float32 frames only).
//! For each `WIDTH PATH [DIM...]` line on stdin (the lines `lossless_raw` reads), prints
//! `PATH,WIDTH,payload_bytes,method,hash` — the hash of the whole payload. Diff the output of
//! two builds:
//!
//! ```sh
//! cargo run --release -p alcm-tools --bin lossless_hashes < list.txt > after.txt
//! ```

use std::hash::{Hash, Hasher};
use std::io::BufRead;

use alcm::internals::lossless;

fn main() {
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let mut f = line.split_whitespace();
        let (Some(w), Some(path)) = (f.next(), f.next()) else {
            continue;
        };
        let w: usize = w.parse().expect("width");
        let shape: Vec<usize> = f.map(|d| d.parse().expect("dimension")).collect();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let payload = lossless::encode(&bytes, w, &shape);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        payload.hash(&mut h);
        println!(
            "{path},{w},{},{},{:016x}",
            payload.len(),
            payload.first().copied().unwrap_or(0),
            h.finish()
        );
    }
}
