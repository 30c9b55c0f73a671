//! Any bytes → parse_npy: a typed error or an array whose length matches its shape.
#![no_main]
use alcm::parse_npy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = parse_npy(data) {
        let n: usize = a.shape.iter().product();
        assert_eq!(n, a.len());
        let _ = a.to_f32();
    }
});
