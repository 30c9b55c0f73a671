//! Thread-safety stress (one shared Predictor, per-thread Encoders and ErrorFeedbacks, results
//! identical to the single-threaded run) and crash-safe saves / typed load errors.

use std::path::{Path, PathBuf};

use alcm::{read_npy_f32, Encoder, EncoderConfig, ErrorFeedback, ErrorKind, Mode, Predictor};

fn tensors() -> Vec<(Vec<f32>, Vec<usize>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gradients");
    [
        "grad_step00001_fc3.weight.npy",
        "grad_step00010_fc2.bias.npy",
        "adam_exp_avg_step02000_fc3.weight.npy",
        "grad_step00500_fc3.bias.npy",
    ]
    .iter()
    .map(|f| read_npy_f32(&root.join(f)).unwrap())
    .collect()
}

/// One worker's job: for `steps` steps, predict an allocation with the shared predictor,
/// compress every tensor with its own encoder (mode by worker) and its own error feedback.
fn work(
    p: &Predictor,
    worker: usize,
    steps: usize,
    data: &[(Vec<f32>, Vec<usize>)],
) -> Vec<Vec<u8>> {
    let modes = [
        Mode::Adaptive,
        Mode::RelativeL2(1e-2),
        Mode::MaxAbs(1e-5),
        Mode::Lossless,
    ];
    let enc = Encoder::new(EncoderConfig::default().with_mode(modes[worker % 4])).unwrap();
    let mut fb: Vec<ErrorFeedback> = data
        .iter()
        .map(|(_, s)| ErrorFeedback::new(s).unwrap())
        .collect();
    let mut out = Vec::new();
    for step in 0..steps {
        for ((x, shape), ef) in data.iter().zip(&mut fb) {
            let g: Vec<f32> = x.iter().map(|v| v * (1.0 + 0.1 * step as f32)).collect();
            let alloc = p.predict_channels(&g, shape).unwrap();
            out.push(ef.compress(&enc, &g, Some(&alloc)).unwrap().bytes);
            out.push(
                enc.compress(&g, shape, Some(&[p.predict_tensor(&g)]))
                    .unwrap()
                    .bytes,
            );
        }
    }
    out
}

#[test]
fn eight_threads_share_one_predictor_with_identical_results() {
    let data = tensors();
    let p = Predictor::new(16, 0.2, 0.9, 0.01, 7).unwrap();
    const THREADS: usize = 8;
    const STEPS: usize = 6;
    let single: Vec<Vec<Vec<u8>>> = (0..THREADS).map(|w| work(&p, w, STEPS, &data)).collect();
    for _round in 0..2 {
        let parallel: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|w| {
                    let (p, data) = (&p, &data);
                    s.spawn(move || work(p, w, STEPS, data))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for w in 0..THREADS {
            assert_eq!(parallel[w].len(), single[w].len());
            for (k, (a, b)) in parallel[w].iter().zip(&single[w]).enumerate() {
                assert!(
                    a == b,
                    "worker {w} call {k}: frame differs from the single-threaded run"
                );
            }
        }
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("alcm-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// The temp name fsutil::write_atomic uses on this thread (see src/util/fsutil.rs).
fn temp_name_for(file: &str) -> String {
    let thread =
        format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_digit(), "");
    format!(".{file}.tmp.{}.{thread}", std::process::id())
}

#[test]
fn failed_saves_leave_the_old_file_intact() {
    let dir = scratch_dir("saves");
    let model = dir.join("model.npz");
    let state = dir.join("state.bin");
    let p = Predictor::new(4, 0.2, 0.9, 0.01, 1).unwrap();
    p.save(&model).unwrap();
    let mut ef = ErrorFeedback::new(&[3, 2]).unwrap();
    ef.compress(
        &Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.1))).unwrap(),
        &[0.1, -0.4, 0.9, 1.3, -2.0, 0.05],
        None,
    )
    .unwrap();
    ef.save(&state).unwrap();
    let (good_model, good_state) = (
        std::fs::read(&model).unwrap(),
        std::fs::read(&state).unwrap(),
    );
    assert_eq!(
        leftovers(&dir, &["model.npz", "state.bin"]),
        Vec::<String>::new(),
        "temp files left behind"
    );

    // 1. The temp file cannot be created (works as root too): a directory squats its name.
    let other = Predictor::new(8, 0.2, 0.9, 0.01, 2).unwrap();
    for (path, file) in [(&model, "model.npz"), (&state, "state.bin")] {
        let squat = dir.join(temp_name_for(file));
        std::fs::create_dir(&squat).unwrap();
        let e = if file == "model.npz" {
            other.save(path)
        } else {
            ErrorFeedback::new(&[7]).unwrap().save(path)
        }
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        std::fs::remove_dir(&squat).unwrap();
    }
    assert_eq!(std::fs::read(&model).unwrap(), good_model);
    assert_eq!(std::fs::read(&state).unwrap(), good_state);
    assert_eq!(
        leftovers(&dir, &["model.npz", "state.bin"]),
        Vec::<String>::new()
    );

    // 2. A read-only directory (only meaningful when not root: root ignores the mode bits).
    #[cfg(unix)]
    if unsafe { libc_geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        assert_eq!(other.save(&model).unwrap_err().kind(), ErrorKind::Io);
        assert_eq!(
            ErrorFeedback::new(&[7])
                .unwrap()
                .save(&state)
                .unwrap_err()
                .kind(),
            ErrorKind::Io
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(std::fs::read(&model).unwrap(), good_model);
        assert_eq!(std::fs::read(&state).unwrap(), good_state);
        assert_eq!(
            leftovers(&dir, &["model.npz", "state.bin"]),
            Vec::<String>::new()
        );
    }
    // 3. A save to a missing directory fails with Io and creates nothing.
    assert_eq!(
        p.save(&dir.join("missing/model.npz")).unwrap_err().kind(),
        ErrorKind::Io
    );
    // The good files still load.
    assert_eq!(Predictor::load(&model).unwrap(), p);
    assert_eq!(ErrorFeedback::load(&state).unwrap(), ef);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
unsafe fn libc_geteuid() -> u32 {
    extern "C" {
        fn geteuid() -> u32;
    }
    geteuid()
}

#[test]
fn truncated_or_foreign_files_give_typed_errors() {
    let dir = scratch_dir("loads");
    let model = Predictor::new(4, 0.2, 0.9, 0.01, 1).unwrap().to_npz_bytes();
    let mut ef = ErrorFeedback::new(&[5]).unwrap();
    ef.compress(
        &Encoder::new(EncoderConfig::default()).unwrap(),
        &[0.1, 0.2, -0.3, 0.4, 0.5],
        None,
    )
    .unwrap();
    let state = ef.to_bytes();
    let frame = Encoder::new(EncoderConfig::default())
        .unwrap()
        .compress(&[1.0, 2.0], &[2], None)
        .unwrap()
        .bytes;
    let foreign: Vec<Vec<u8>> = vec![
        vec![],
        b"quantization: {base_precision: 8}\n".to_vec(),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
        frame.clone(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/f4_3x4.npy"))
            .unwrap(),
    ];
    // Predictor: every truncation and every foreign file is InvalidModel (Io only if unreadable).
    for len in (0..model.len()).step_by(7) {
        assert_eq!(
            Predictor::from_npz_bytes(&model[..len]).unwrap_err().kind(),
            ErrorKind::InvalidModel,
            "len {len}"
        );
    }
    for (i, f) in foreign.iter().chain([&state]).enumerate() {
        let path = dir.join(format!("foreign{i}.npz"));
        std::fs::write(&path, f).unwrap();
        assert_eq!(
            Predictor::load(&path).unwrap_err().kind(),
            ErrorKind::InvalidModel,
            "foreign file {i}"
        );
    }
    assert_eq!(
        Predictor::load(&dir.join("nope.npz")).unwrap_err().kind(),
        ErrorKind::Io
    );
    // Error-feedback state: truncations are caught (checksum or structure), foreign files too.
    for len in 0..state.len() {
        let k = ErrorFeedback::from_bytes(&state[..len]).unwrap_err().kind();
        assert!(
            matches!(
                k,
                ErrorKind::InvalidModel | ErrorKind::Checksum | ErrorKind::Truncated
            ),
            "len {len}: {k:?}"
        );
    }
    for (i, f) in foreign.iter().chain([&model]).enumerate() {
        let path = dir.join(format!("foreign{i}.state"));
        std::fs::write(&path, f).unwrap();
        assert_eq!(
            ErrorFeedback::load(&path).unwrap_err().kind(),
            ErrorKind::InvalidModel,
            "foreign file {i}"
        );
    }
    assert_eq!(
        ErrorFeedback::load(&dir.join("nope.state"))
            .unwrap_err()
            .kind(),
        ErrorKind::Io
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state file with a valid checksum but a NaN/Inf residual (never written by alcm) is refused:
/// loaded, it would make every following step fail with NonFinite.
#[test]
fn state_with_non_finite_residual_is_refused() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut b = ErrorFeedback::new(&[2]).unwrap().to_bytes();
        let n = b.len();
        b[n - 8..n - 4].copy_from_slice(&bad.to_le_bytes());
        let crc = crc32fast::hash(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_le_bytes());
        let e = ErrorFeedback::from_bytes(&b).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "{e}");
        assert!(e.message().contains("residual value 1"), "{e}");
    }
}
