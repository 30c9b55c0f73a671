//! Calibration of the lossless float coder's choice (`codec/lossless.rs`): for each
//! `WIDTH PATH [DIM...]` line on stdin (raw little-endian elements, as `lossless_raw` reads
//! them), the payload size of every method coded in full, the method `encode` chose and its
//! size, and the share of repeated elements, as CSV:
//! `PATH,WIDTH,raw_bytes,deflate,shuffled,split,compact,chosen_method,chosen_bytes,repeats_per_1024,
//! window_repeats_per_1024,compact_predicted,shuffled_predicted,deflate_prefix,predicted,
//! predicted_flags` (the small tensors' deflate gate, `lossless/lz_gate.rs`: the window test and
//! deflate-6 of the first `SCREEN_BYTES`, empty when the tensor is no longer; the predicted
//! sizes their choice compares; and the predicted split, method 6, with its flags, 1 signs and
//! 2 heads, empty where its predictions do not pay).
//!
//! ```sh
//! printf '2 a.bf16 128 256\n' | cargo run --release -p alcm-tools --bin lossless_trials
//! ```

#[path = "../raw_list.rs"]
mod raw_list;

use alcm::internals::lossless;

fn main() {
    println!("path,width,raw_bytes,deflate,shuffled,split,compact,chosen_method,chosen_bytes,repeats_per_1024,window_repeats_per_1024,compact_predicted,shuffled_predicted,deflate_prefix,predicted,predicted_flags");
    for raw_list::RawTensor {
        width: w,
        path,
        shape,
        bytes,
    } in raw_list::stdin_tensors()
    {
        let size = |m: u8| {
            lossless::trial(&bytes, w, &shape, m).map_or(String::new(), |p| p.len().to_string())
        };
        let chosen = lossless::encode(&bytes, w, &shape);
        let (pc, ps) = lossless::predicted_sizes(&bytes, w, &shape);
        let predicted = lossless::trial(&bytes, w, &shape, 6);
        println!(
            "{path},{w},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            bytes.len(),
            size(1),
            size(2),
            size(3),
            size(5),
            chosen[0],
            chosen.len(),
            lossless::repeats_per_1024(&bytes, w),
            lossless::lz_gate::window_repeats_per_1024(&bytes, w),
            pc.map_or(String::new(), |p| p.to_string()),
            ps,
            (bytes.len() > lossless::lz_gate::SCREEN_BYTES)
                .then(|| lossless::trial(&bytes[..lossless::lz_gate::SCREEN_BYTES], w, &[], 1))
                .flatten()
                .map_or(String::new(), |p| (p.len() - 1).to_string()),
            predicted
                .as_ref()
                .map_or(String::new(), |p| p.len().to_string()),
            predicted
                .as_ref()
                .map_or(String::new(), |p| p[1].to_string()),
        );
    }
}
