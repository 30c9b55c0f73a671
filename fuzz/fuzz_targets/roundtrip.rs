//! Arbitrary small tensor of finite values + arbitrary valid configuration built from the fuzz
//! bytes → compress → decompress → the shape comes back and the mode's bound holds exactly.
//! The byte layout and the check live in tests/common/ so tests/regressions.rs replays findings.
#![no_main]
use libfuzzer_sys::fuzz_target;

// (Top-level #[path] modules: a path through a non-existent inline-module directory does not
// resolve.) roundtrip_case refers to bounds as `super::bounds`.
#[path = "../../tests/common/bounds.rs"]
mod bounds;
#[path = "../../tests/common/roundtrip_case.rs"]
mod roundtrip_case;

fuzz_target!(|data: &[u8]| {
    if let Some(case) = roundtrip_case::decode(data) {
        if let Err(m) = roundtrip_case::run(&case) {
            panic!("{m}\nconfig {:?}\nshape {:?}\nvalues {:?}", case.cfg, case.shape, case.values);
        }
    }
});
