//! Arbitrary small tensor of finite values + arbitrary valid configuration built from the fuzz
//! bytes → compress → decompress → the shape comes back and the mode's bound holds exactly.
//! The byte layout and the check live in tests/common/ so tests/regressions.rs replays findings.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common {
    #[path = "../../../tests/common/bounds.rs"]
    pub mod bounds;
    #[path = "../../../tests/common/roundtrip_case.rs"]
    pub mod roundtrip_case;
}
use common::roundtrip_case;

fuzz_target!(|data: &[u8]| {
    if let Some(case) = roundtrip_case::decode(data) {
        if let Err(m) = roundtrip_case::run(&case) {
            panic!("{m}\nconfig {:?}\nshape {:?}\nvalues {:?}", case.cfg, case.shape, case.values);
        }
    }
});
