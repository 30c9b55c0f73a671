//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) through the same checks as the
//! fuzz targets, without libFuzzer: the CI side of fuzzing ("the corpora still pass").
//! A short live smoke run needs cargo-fuzz: `fuzz/run.sh 30`.

#[path = "common/bounds.rs"]
mod bounds;
#[path = "common/loader_case.rs"]
#[allow(dead_code)] // each user needs only part of it
mod loader_case;
#[path = "common/roundtrip_case.rs"]
mod roundtrip_case;

use std::path::Path;

use alcm::{parse_npy, peek, DecodeOptions, ErrorFeedback, ErrorKind, Predictor};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "empty corpus {target}");
    v
}

#[test]
fn decompress_and_peek_corpora() {
    let mut decoded = 0;
    for (name, b) in corpus("decompress") {
        if let Ok(d) = DecodeOptions::default()
            .with_max_values(1 << 24)
            .decompress(&b)
        {
            decoded += 1;
            assert_eq!(peek(&b).unwrap().shape, d.shape, "{name}");
            let mut out = vec![0f32; d.data.len()];
            DecodeOptions::default()
                .decompress_into(&b, &mut out)
                .unwrap();
            assert!(
                out.iter()
                    .zip(&d.data)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name}"
            );
        }
    }
    assert!(decoded >= 50, "the seed frames must decode ({decoded})");
    for (name, b) in corpus("peek") {
        if let Ok(info) = peek(&b) {
            assert_eq!(
                info.shape.iter().product::<usize>() as u64,
                info.n_values,
                "{name}"
            );
        }
    }
}

#[test]
fn parser_corpora() {
    for (name, b) in corpus("yaml_config") {
        if let Some(text) = loader_case::yaml_text(&b) {
            loader_case::check_yaml(&text).unwrap_or_else(|m| panic!("{name}: {m}"));
        }
    }
    for (name, b) in corpus("predictor_model") {
        match Predictor::from_npz_bytes(&b) {
            Ok(p) => assert!(
                p.forward(&[0.1, 1e-4, 1e-2, 0.5, 3.0, 0.2]).is_finite(),
                "{name}"
            ),
            Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidModel, "{name}"),
        }
    }
    for (name, b) in corpus("feedback_state") {
        if let Ok(s) = ErrorFeedback::from_bytes(&b) {
            assert_eq!(s.to_bytes(), b, "{name}");
        }
    }
    for (name, b) in corpus("npy") {
        if let Ok(a) = parse_npy(&b) {
            assert_eq!(a.shape.iter().product::<usize>(), a.len(), "{name}");
        }
    }
}

#[test]
fn file_loaders_corpus() {
    let dir = std::env::temp_dir().join(format!("alcm_fuzz_corpus_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, b) in corpus("file_loaders") {
        loader_case::check_file_loaders(&b, &dir, b == [0xFE])
            .unwrap_or_else(|m| panic!("{name}: {m}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roundtrip_corpus() {
    for (name, b) in corpus("roundtrip") {
        if let Some(case) = roundtrip_case::decode(&b) {
            if let Err(m) = roundtrip_case::run(&case) {
                panic!("{name}: {m}");
            }
        }
    }
}

/// The lossless_float target's checks: decode fills the buffer or errs; accepted payloads
/// re-encode to the same bytes.
#[test]
fn lossless_float_corpus() {
    let mut decoded = 0;
    for (name, raw) in corpus("lossless_float") {
        if raw.len() < 3 {
            continue;
        }
        let w = [2usize, 4, 8][raw[0] as usize % 3];
        let n = u16::from_le_bytes([raw[1], raw[2]]) as usize;
        let mut out = vec![0u8; n * w];
        if alcm::internals::lossless::decode(&raw[3..], w, &mut out).is_ok() {
            decoded += 1;
            let again = alcm::internals::lossless::encode(&out, w, &[n]);
            let mut back = vec![0u8; n * w];
            alcm::internals::lossless::decode(&again, w, &mut back).unwrap();
            assert!(back == out, "{name}");
        }
    }
    assert!(decoded >= 9, "only {decoded} seeds decode");
}

#[test]
fn exchange_message_corpus() {
    // The seeds are stage-1 messages of a [64, 40] tensor's first [32, 40] shard on 2 ranks
    // (rel-L2 0.4, max-abs 1e-2, lossless), as the fuzz target reads them.
    use alcm::collective::{message_len, ShardedExchange};
    let mut decoded = 0;
    for (name, raw) in corpus("exchange_message") {
        assert_eq!(message_len(&raw).unwrap(), raw.len(), "{name}");
        let mut ex = ShardedExchange::new(&[64, 40], 2, 0).unwrap();
        let mut acc = vec![0.0f32; 32 * 40];
        ex.accumulate(&raw, 0.5, &mut acc).unwrap();
        let mut full = vec![0.0f32; 64 * 40];
        ex.decode_shard(&raw, 0, &mut full).unwrap();
        // out += 0.5 · decode: exact in f32 for a halving.
        assert!(
            acc.iter().zip(&full[..32 * 40]).all(|(a, d)| *a == 0.5 * d),
            "{name}"
        );
        assert!(full[..32 * 40].iter().any(|&v| v != 0.0), "{name}");
        decoded += 1;
    }
    assert_eq!(decoded, 3);
}
