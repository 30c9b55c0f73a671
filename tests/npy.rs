//! .npy reader/writer against files written by real numpy (tests/fixtures_gen/gen_npy_fixtures.py).

use std::path::PathBuf;

use alcm::{
    npy_bytes_f32, npy_bytes_f64, npy_bytes_i64, parse_npy, read_npy, read_npy_f32, ErrorKind,
    NpyData,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

#[test]
fn reads_numpy_f4() {
    let a = read_npy(&fixture("f4_3x4.npy")).unwrap();
    assert_eq!(a.shape, vec![3, 4]);
    let expect: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 3.0).collect();
    assert_eq!(a.data, NpyData::F32(expect));
    assert_eq!(a.len(), 12);
}

#[test]
fn reads_numpy_f8_i8_i4_u1_b1() {
    let a = read_npy(&fixture("f8_5.npy")).unwrap();
    assert_eq!(a.shape, vec![5]);
    match &a.data {
        NpyData::F64(v) => {
            assert_eq!(&v[..4], &[1.0, -2.5, 1e-300, std::f64::consts::PI]);
            assert!(v[4] == 0.0 && v[4].is_sign_negative());
        }
        other => panic!("wrong dtype {other:?}"),
    }
    let a = read_npy(&fixture("i8_2x3.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(
        a.data,
        NpyData::I64(vec![0, -1, 2, 9007199254740993, i64::MIN, i64::MAX])
    );
    let a = read_npy(&fixture("i4_4.npy")).unwrap();
    assert_eq!(a.data, NpyData::I32(vec![1, -2, i32::MAX, i32::MIN]));
    let a = read_npy(&fixture("u1_3.npy")).unwrap();
    assert_eq!(a.data, NpyData::U8(vec![0, 7, 255]));
    let a = read_npy(&fixture("b1_4.npy")).unwrap();
    assert_eq!(a.data, NpyData::Bool(vec![true, false, false, true]));
    assert_eq!(a.to_f32(), vec![1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn reads_numpy_0d_scalars() {
    let a = read_npy(&fixture("f8_0d.npy")).unwrap();
    assert!(a.shape.is_empty());
    assert_eq!(a.scalar_f64().unwrap(), 0.75);
    let a = read_npy(&fixture("i8_0d.npy")).unwrap();
    assert!(a.shape.is_empty());
    assert_eq!(a.data, NpyData::I64(vec![64]));
    assert_eq!(a.scalar_f64().unwrap(), 64.0);
}

#[test]
fn reads_versions_2_and_3_big_endian_and_empty() {
    for name in ["f4_v2_2x2.npy", "f4_v3_2x2.npy"] {
        let a = read_npy(&fixture(name)).unwrap();
        assert_eq!(a.shape, vec![2, 2], "{name}");
        assert_eq!(a.data, NpyData::F32(vec![1.0, 2.0, 3.0, 4.0]), "{name}");
    }
    let a = read_npy(&fixture("f4_big_endian_3.npy")).unwrap();
    assert_eq!(a.data, NpyData::F32(vec![1.0, -2.0, 0.25]));
    let a = read_npy(&fixture("f4_empty_0x5.npy")).unwrap();
    assert_eq!(a.shape, vec![0, 5]);
    assert!(a.is_empty());
}

#[test]
fn fortran_order_is_a_clear_error() {
    let e = read_npy(&fixture("f4_fortran_2x3.npy")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.message().contains("Fortran"), "{e}");
}

#[test]
fn reads_a_real_gradient() {
    let (data, shape) = read_npy_f32(&fixture("grad_step00001_fc3.bias.npy")).unwrap();
    assert_eq!(shape, vec![10]);
    let text = std::fs::read_to_string(fixture("grad_step00001_fc3.bias.txt")).unwrap();
    let expect: Vec<f32> = text
        .split_whitespace()
        .map(|t| t.parse::<f64>().unwrap() as f32)
        .collect();
    assert_eq!(data, expect);
}

#[test]
fn read_npy_f32_converts_other_dtypes() {
    let (d, s) = read_npy_f32(&fixture("f8_5.npy")).unwrap();
    assert_eq!(s, vec![5]);
    assert_eq!(d[1], -2.5f32);
    let (d, _) = read_npy_f32(&fixture("i4_4.npy")).unwrap();
    assert_eq!(d[1], -2.0f32);
}

#[test]
fn writer_is_byte_identical_to_numpy_save() {
    let f4: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 3.0).collect();
    assert_eq!(npy_bytes_f32(&[3, 4], &f4), bytes("f4_3x4.npy"));
    let f8 = [1.0, -2.5, 1e-300, std::f64::consts::PI, -0.0];
    assert_eq!(npy_bytes_f64(&[5], &f8), bytes("f8_5.npy"));
    assert_eq!(npy_bytes_f64(&[], &[0.75]), bytes("f8_0d.npy"));
    assert_eq!(npy_bytes_i64(&[], &[64]), bytes("i8_0d.npy"));
    let i8 = [0, -1, 2, 9007199254740993, i64::MIN, i64::MAX];
    assert_eq!(npy_bytes_i64(&[2, 3], &i8), bytes("i8_2x3.npy"));
    assert_eq!(npy_bytes_f32(&[0, 5], &[]), bytes("f4_empty_0x5.npy"));
    let real = read_npy_f32(&fixture("grad_step00001_fc3.bias.npy")).unwrap();
    assert_eq!(
        npy_bytes_f32(&real.1, &real.0),
        bytes("grad_step00001_fc3.bias.npy")
    );
}

#[test]
fn truncated_fixtures_fail_cleanly() {
    for name in ["f4_3x4.npy", "f4_v3_2x2.npy", "i8_0d.npy"] {
        let b = bytes(name);
        for n in 0..b.len() {
            let e = parse_npy(&b[..n]).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Truncated | ErrorKind::Corrupt),
                "{name}[..{n}]: {e}"
            );
        }
    }
}
