//! Golden frames of the element types other than float32 (tests/data/golden/v4_{bf16,f16,f64}_*,
//! written once by `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin
//! make_golden_dtype`; the version-5 ones by `make_golden_v5`) must decode bit-exactly to their
//! `.decoded.bin` (or the CRC-32 in `.decoded.crc32`) forever, and cover every
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
        let d = decompress_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.dtype, info.element_type(), "{name}");
        match std::fs::read(dir().join(format!("{name}.decoded.bin"))) {
            Ok(want) => assert!(
                d.bytes == want,
                "{name}: decoded bytes differ from the golden ones"
            ),
            // Larger frames record the value count and the CRC-32 of the decoded bytes.
            Err(_) => {
                let text = std::fs::read_to_string(dir().join(format!("{name}.decoded.crc32")))
                    .unwrap_or_else(|_| panic!("{name}: neither .decoded.bin nor .decoded.crc32"));
                let mut it = text.split_whitespace();
                let n: usize = it.next().unwrap().parse().unwrap();
                let crc = u32::from_str_radix(it.next().unwrap(), 16).unwrap();
                assert_eq!(d.bytes.len(), n * info.element_type().width(), "{name}");
                assert_eq!(
                    crc32fast::hash(&d.bytes),
                    crc,
                    "{name}: decoded bytes differ from the golden ones"
                );
            }
        }
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
