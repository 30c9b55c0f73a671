//! Golden frames of the element types other than float32 (tests/data/golden/v4_{bf16,f16,f64}_*,
//! written once by `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin
//! make_golden_dtype`) must decode bit-exactly to their `.decoded.bin` forever, and cover every
//! mode of every type. A failure means a change altered how existing frames decode: fix the
//! change, never the golden files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use alcm::{decompress, decompress_bytes, peek, Dtype, ErrorKind};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

#[test]
fn typed_golden_frames_decode_bit_exactly() {
    let mut seen = BTreeSet::new();
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().map_or(true, |x| x != "alcm") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let info = peek(&bytes).unwrap();
        if info.element_type() == Dtype::F32 {
            continue; // tests/golden.rs
        }
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let want = std::fs::read(dir().join(format!("{name}.decoded.bin"))).unwrap();
        let d = decompress_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.dtype, info.element_type(), "{name}");
        assert!(
            d.bytes == want,
            "{name}: decoded bytes differ from the golden ones"
        );
        // The float32 API refuses them rather than returning something else.
        assert_eq!(
            decompress(&bytes).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{name}"
        );
        seen.insert((info.dtype, info.mode.id()));
    }
    for dtype in [Dtype::BF16, Dtype::F16, Dtype::F64] {
        for mode in 0..4u8 {
            assert!(
                seen.contains(&(dtype.id(), mode)),
                "no golden frame of {dtype} in mode {mode}"
            );
        }
    }
}
