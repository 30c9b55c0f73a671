//! Any bytes → ErrorFeedback::from_bytes: a typed error or a state that serialises back to the
//! same bytes.
#![no_main]
use alcm::ErrorFeedback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ErrorFeedback::from_bytes(data) {
        let n: usize = s.shape().iter().product();
        assert_eq!(n, s.residual().len());
        assert!(s.residual().iter().all(|v| v.is_finite()));
        assert_eq!(s.to_bytes(), data);
    }
});
