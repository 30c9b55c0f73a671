//! Any text → both YAML configuration parsers: a config that validates, `InvalidConfig`, or
//! `TooLarge` exactly for text over the 64 KiB cap or a document whose aliases expand past
//! the budget. Inputs starting with 0xFF are structure-aware (a head, a fragment repeated up
//! to 128 KiB and a tail: anchors and aliases, nesting, many keys; tests/common/loader_case.rs).
//! Run with `-malloc_limit_mb=64` to also hold the parser to bounded memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/loader_case.rs"]
#[allow(dead_code)] // each user needs only part of it
mod loader_case;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = loader_case::yaml_text(data) {
        if let Err(m) = loader_case::check_yaml(&text) {
            panic!("{m}");
        }
    }
});
