//! Any text → both YAML configuration parsers: a typed InvalidConfig error or a config that
//! validates.
#![no_main]
use alcm::{EncoderConfig, ErrorKind, PredictorConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match EncoderConfig::from_yaml_str(s) {
        Ok(c) => c.validate().expect("a parsed encoder config validates"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}"),
    }
    match PredictorConfig::from_yaml_str(s) {
        Ok(c) => c.validate().expect("a parsed predictor config validates"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}"),
    }
});
