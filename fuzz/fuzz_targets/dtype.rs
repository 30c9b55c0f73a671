//! Element types: frames of any type decoded (typed error or consistent values), and
//! bfloat16 / float16 / float64 / float32 values round-tripped in every mode with the bound
//! checked on the decoded values (tests/common/dtype_case.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/dtype_case.rs"]
mod dtype_case;

fuzz_target!(|raw: &[u8]| dtype_case::check(raw));
