//! Any bytes → peek: a typed error or a header whose fields are consistent.
#![no_main]
use alcm::{compress_bound, peek};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = peek(data) {
        let n = info.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).expect("shape product");
        assert_eq!(n, info.n_values);
        assert!(info.shape.len() <= 8);
        assert!(info.n_pruned <= info.n_values);
        assert!(info.n_exceptions <= info.n_values);
        assert!(info.target.is_finite() && info.target >= 0.0);
        assert!(info.frame_len >= info.payload_len + 4);
        let _ = compress_bound(info.n_values as usize);
    }
});
