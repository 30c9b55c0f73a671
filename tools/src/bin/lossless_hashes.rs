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
#[path = "../raw_list.rs"]
mod raw_list;

use alcm::internals::lossless;

fn main() {
    for raw_list::RawTensor {
        width: w,
        path,
        shape,
        bytes,
    } in raw_list::stdin_tensors()
    {
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
