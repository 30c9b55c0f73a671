//! Bounded memory on hostile input: a "decompression bomb" (a tiny payload declaring 2^40
//! values, valid checksum) is refused for every backend id and mode before anything of that
//! size is allocated, and `DecodeLimits { max_values }` is honoured exactly. A counting global
//! allocator measures the peak heap of each decode attempt (one #[test] only, so no other test
//! of this binary allocates concurrently).

use alcm::{decompress, peek, DecodeOptions, Encoder, EncoderConfig, ErrorKind, Mode};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{peak_of, Counting};

#[global_allocator]
static A: Counting = Counting;

/// A frame header declaring `shape`, with the given mode/backend/width, section lengths and
/// payload, and a valid CRC.
fn frame(
    mode: u8,
    backend: u8,
    width: u8,
    shape: &[u64],
    raw_len: u64,
    params: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"ALCM");
    f.extend_from_slice(&[1, mode, backend, 0, 1, shape.len() as u8, width, 0]);
    let channels = if shape.contains(&0) {
        0
    } else if shape.len() >= 2 {
        shape[0]
    } else {
        1
    };
    f.extend_from_slice(&(channels as u32).to_le_bytes());
    for d in shape {
        f.extend_from_slice(&d.to_le_bytes());
    }
    f.extend_from_slice(&0.01f64.to_le_bytes()); // target
    f.extend_from_slice(&0u64.to_le_bytes()); // pruned
    f.extend_from_slice(&(params.len() as u32).to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // exceptions
    f.extend_from_slice(&0u64.to_le_bytes()); // exception bytes
    f.extend_from_slice(&raw_len.to_le_bytes());
    f.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    f.extend_from_slice(params);
    f.extend_from_slice(payload);
    let crc = crc32fast::hash(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn bombs_and_limits_never_allocate_what_they_declare() {
    const BUDGET: usize = 1 << 20; // 1 MiB: nothing near the declared 4 TiB
    let n = 1u64 << 40;
    // A deflate stream of 64 KiB of zeros: the best a real bomb can do with a tiny payload.
    let zeros = miniz_deflate(&vec![0u8; 1 << 16]);
    for backend in 0..=255u8 {
        for (mode, width) in [(0u8, 1u8), (1, 1), (2, 2), (3, 4)] {
            for shape in [
                vec![n],
                vec![1 << 20, 1 << 20],
                vec![1, 1, 1, 1, 1, 1, 1, n],
            ] {
                let params: Vec<u8> = match mode {
                    0 => vec![
                        0;
                        8 * (if shape.len() >= 2 {
                            shape[0] as usize
                        } else {
                            1
                        })
                        .min(1 << 16)
                    ],
                    1 | 2 => [1e-3f64.to_le_bytes().to_vec(), vec![0; 1]].concat(),
                    _ => vec![],
                };
                let f = frame(
                    mode,
                    backend,
                    width,
                    &shape,
                    n * width as u64,
                    &params,
                    &zeros,
                );
                for limits in [
                    DecodeOptions::default(),
                    DecodeOptions::default().with_max_values(u64::MAX),
                ] {
                    let (r, peak) = peak_of(|| limits.decompress(&f));
                    let e = r.expect_err("a bomb must not decode");
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::TooLarge | ErrorKind::Corrupt | ErrorKind::Truncated
                        ),
                        "backend {backend} mode {mode} shape {shape:?}: {e}"
                    );
                    assert!(
                        peak < BUDGET,
                        "backend {backend} mode {mode}: {peak} bytes allocated for a bomb"
                    );
                }
                let (r, peak) = peak_of(|| peek(&f));
                assert!(peak < BUDGET);
                if backend <= 1 {
                    // peek reads the header only: it reports the bomb's claim, decoding refuses.
                    if let Ok(info) = r {
                        assert_eq!(info.n_values, n);
                    }
                }
            }
        }
    }
    // Overflowing shapes: refused with TooLarge, whatever the backend.
    for backend in 0..2u8 {
        let f = frame(3, backend, 4, &[1 << 33, 1 << 33], 0, &[], &[]);
        assert_eq!(decompress(&f).unwrap_err().kind(), ErrorKind::TooLarge);
    }

    // DecodeLimits is honoured exactly, before allocating.
    let x: Vec<f32> = (0..4096).map(|i| (i as f32 * 0.01).sin()).collect();
    for mode in [
        Mode::Adaptive,
        Mode::RelativeL2(1e-3),
        Mode::MaxAbs(1e-4),
        Mode::Lossless,
    ] {
        let c = Encoder::new(EncoderConfig::default().with_mode(mode))
            .unwrap()
            .compress(&x, &[64, 64], None)
            .unwrap();
        assert!(DecodeOptions::default()
            .with_max_values(4096)
            .decompress(&c.bytes)
            .is_ok());
        let (r, peak) = peak_of(|| {
            DecodeOptions::default()
                .with_max_values(4095)
                .decompress(&c.bytes)
        });
        assert_eq!(r.unwrap_err().kind(), ErrorKind::TooLarge);
        assert!(peak < 4096, "{peak} bytes allocated before refusing");
        assert_eq!(
            DecodeOptions::default()
                .with_max_values(0)
                .decompress(&c.bytes)
                .unwrap_err()
                .kind(),
            ErrorKind::TooLarge
        );
        // decompress_into: the caller's buffer is the limit.
        let mut small = vec![0f32; 10];
        assert_eq!(
            DecodeOptions::default()
                .decompress_into(&c.bytes, &mut small)
                .unwrap_err()
                .kind(),
            ErrorKind::BufferTooSmall
        );
        // Decoding a real frame allocates about the output plus the code stream, plus fixed-size
        // decoding tables (the rANS slot tables, 16 KiB), no more.
        let (d, peak) = peak_of(|| decompress(&c.bytes).unwrap());
        assert_eq!(d.data.len(), 4096);
        assert!(
            peak <= 4096 * (4 + 4 + 4) + 64 * 16 + 4096 + 16384,
            "mode {mode:?}: decode peak {peak} bytes"
        );
    }
}

fn miniz_deflate(b: &[u8]) -> Vec<u8> {
    // The library's own deflate backend, through a lossless frame of zeros: its payload.
    let x = vec![0f32; b.len() / 4];
    let c = Encoder::new(
        EncoderConfig::default()
            .with_mode(Mode::Lossless)
            .with_backend(alcm::BackendKind::Deflate),
    )
    .unwrap()
    .compress(&x, &[x.len()], None)
    .unwrap();
    let info = peek(&c.bytes).unwrap();
    c.bytes[c.bytes.len() - 4 - info.payload_len as usize..c.bytes.len() - 4].to_vec()
}
