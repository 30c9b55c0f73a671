//! .npz reader/writer against archives written by numpy.savez / numpy.savez_compressed.

use std::path::PathBuf;

use alcm::{
    npy_bytes_f32, npy_bytes_f64, npy_bytes_i64, npz_bytes, read_npz, read_npz_file,
    write_npz_file, ErrorKind, NpyArray, NpyData,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name)
}

fn check_members(m: &[(String, NpyArray)]) {
    let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["weights", "count", "scale"]);
    assert_eq!(m[0].1.shape, vec![3, 4]);
    assert_eq!(
        m[0].1.data,
        NpyData::F32((0..12).map(|i| i as f32 * 0.5 - 3.0).collect())
    );
    assert!(m[1].1.shape.is_empty());
    assert_eq!(m[1].1.data, NpyData::I64(vec![64]));
    assert_eq!(m[2].1.data, NpyData::F64(vec![0.2, 0.9]));
}

#[test]
fn reads_numpy_savez_stored_with_zip64_local_headers() {
    check_members(&read_npz_file(&fixture("savez_stored.npz")).unwrap());
}

#[test]
fn reads_numpy_savez_compressed() {
    check_members(&read_npz_file(&fixture("savez_compressed.npz")).unwrap());
}

#[test]
fn corrupted_numpy_archives_fail_cleanly() {
    for name in ["savez_stored.npz", "savez_compressed.npz"] {
        let b = std::fs::read(fixture(name)).unwrap();
        for n in (0..b.len()).step_by(7) {
            assert!(read_npz(&b[..n]).is_err(), "{name}[..{n}]");
        }
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x5a;
            let _ = read_npz(&c); // must not panic
        }
    }
    // A flipped byte inside deflated data is caught (inflate error or CRC).
    let mut b = std::fs::read(fixture("savez_compressed.npz")).unwrap();
    b[80] ^= 0x01; // local header (30) + "weights.npy" (11) + ZIP64 extra (20) = 61: data
    assert!(read_npz(&b).is_err());
}

#[test]
fn writer_round_trips_and_is_deterministic() {
    let entries = [
        (
            "weights",
            npy_bytes_f32(
                &[3, 4],
                &(0..12).map(|i| i as f32 * 0.5 - 3.0).collect::<Vec<_>>(),
            ),
        ),
        ("count", npy_bytes_i64(&[], &[64])),
        ("scale", npy_bytes_f64(&[2], &[0.2, 0.9])),
    ];
    let b = npz_bytes(&entries);
    assert_eq!(b, npz_bytes(&entries));
    check_members(&read_npz(&b).unwrap());
    let path = std::env::temp_dir().join(format!(
        "alcm_npz_written_by_rust_{}.npz",
        std::process::id()
    ));
    write_npz_file(&path, &entries).unwrap();
    check_members(&read_npz_file(&path).unwrap());
    if std::env::var_os("ALCM_KEEP_NPZ").is_none() {
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read_npz_file(&path).unwrap_err().kind(), ErrorKind::Io);
    }
}
