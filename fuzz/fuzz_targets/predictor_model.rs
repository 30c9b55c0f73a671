//! Any bytes → Predictor::from_npz_bytes: InvalidModel or a model whose prediction is finite.
#![no_main]
use alcm::{ErrorKind, Predictor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Predictor::from_npz_bytes(data) {
        Ok(p) => {
            let y = p.forward(&[0.1, 1e-4, 1e-2, 0.5, 3.0, 0.2]);
            assert!(y.is_finite(), "prediction {y}");
            assert!(y >= p.min_bits() && y <= p.max_bits());
            // What it saves, it loads back identically.
            let again = Predictor::from_npz_bytes(&p.to_npz_bytes()).expect("re-load");
            assert_eq!(again, p);
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidModel, "{e}"),
    }
});
