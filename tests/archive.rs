//! The archive (src/archive/): round trips of the real tensors of tests/data in every mode,
//! the size targets, random access that reads only the asked-for bytes (counted), and a reader
//! that refuses corruption, bombs and duplicate names. Hostile archives are written here byte
//! by byte from docs/FORMAT.md ("Archive"), independently of the writer.

#[path = "common/data.rs"]
mod data;

use std::io::{Cursor, Read, Seek, SeekFrom};

use alcm::archive::{ArchiveOptions, ArchiveReader, ArchiveWriter, Bound, Dtype, ReadOptions};
use alcm::ErrorKind;

fn tensors() -> Vec<(String, Vec<f32>, Vec<usize>)> {
    data::data_files()
        .iter()
        .map(|p| {
            let a = alcm::read_npy_f32(p).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, a.0, a.1)
        })
        .collect()
}

fn write(ts: &[(String, Vec<f32>, Vec<usize>)], bound: Bound, opts: ArchiveOptions) -> Vec<u8> {
    let mut w = ArchiveWriter::new(Vec::new(), opts).unwrap();
    for (n, d, s) in ts {
        w.add_f32(n, d, s, bound).unwrap();
    }
    w.finish().unwrap()
}

fn reader(bytes: &[u8]) -> alcm::Result<ArchiveReader<Cursor<&[u8]>>> {
    ArchiveReader::new(Cursor::new(bytes), ReadOptions::default())
}

fn l2(a: &[f32]) -> f64 {
    a.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt()
}

#[test]
fn real_tensors_round_trip_in_every_mode() {
    let ts = tensors();
    let opts = ArchiveOptions::default().with_block_values(4096); // several blocks per large tensor
    for bound in [
        Bound::Lossless,
        Bound::RelativeL2(1e-2),
        Bound::RelativeL2(1e-3),
        Bound::MaxAbs(1e-4),
    ] {
        let bytes = write(&ts, bound, opts.clone());
        let mut r = reader(&bytes).unwrap();
        assert_eq!(r.verify().unwrap(), ts.len());
        assert!(ts
            .iter()
            .any(|(n, ..)| r.entry(n).unwrap().blocks.len() > 1));
        for (name, x, shape) in &ts {
            let e = r.entry(name).unwrap().clone();
            assert_eq!(e.shape, *shape);
            assert_eq!(e.dtype, Dtype::F32);
            let y = r.read_f32(name).unwrap();
            assert_eq!(y.len(), x.len());
            let diff: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
            match bound {
                Bound::Lossless => assert!(
                    x.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}"
                ),
                Bound::RelativeL2(eps) => {
                    let rel = l2(&diff) / l2(x);
                    assert!(rel <= eps, "{name}: {rel} > {eps}");
                    // Recorded as a 16-bit fraction of the bound, rounded up.
                    let slack = 1e-6 * rel;
                    assert!(
                        e.achieved >= rel - slack && e.achieved <= rel + eps / 65535.0 + slack,
                        "{name}: recorded {} measured {rel}",
                        e.achieved
                    );
                }
                Bound::MaxAbs(t) => {
                    let m = diff.iter().fold(0f32, |m, d| m.max(d.abs())) as f64;
                    assert!(m <= t, "{name}: {m} > {t}");
                }
            }
            // No tensor is stored larger than its raw bytes.
            assert!(e.stored_bytes() <= e.raw_bytes(), "{name}");
        }
    }
}

#[test]
fn small_tensors_cost_at_most_16_bytes_plus_their_name() {
    // Biases and norms of tests/data (and the small gradients and moments), in every mode.
    // Overhead is everything the archive stores besides the names and what a frame of the same
    // tensor holds as content: for a coded tensor the frame's parameter, exception and payload
    // sections (its 16 + 8·rank + 52 header bytes and 4 CRC bytes are not content), for a raw
    // one its raw bytes. The frames are made here with the encoder the writer documents.
    let small: Vec<_> = tensors()
        .into_iter()
        .filter(|t| t.1.len() <= 1280)
        .collect();
    assert!(small.len() >= 20);
    for bound in [
        Bound::Lossless,
        Bound::RelativeL2(1e-2),
        Bound::RelativeL2(1e-3),
        Bound::MaxAbs(1e-4),
    ] {
        let mode = match bound {
            Bound::Lossless => alcm::Mode::Lossless,
            Bound::RelativeL2(e) => alcm::Mode::RelativeL2(e),
            Bound::MaxAbs(e) => alcm::Mode::MaxAbs(e),
        };
        let config = alcm::EncoderConfig::default()
            .with_non_finite(alcm::NonFinitePolicy::Keep)
            .with_mode(mode);
        let enc = alcm::Encoder::new(config).unwrap();
        let bytes = write(&small, bound, ArchiveOptions::default());
        let r = reader(&bytes).unwrap();
        let (mut content, mut coded, mut worst) = (0u64, 0, 0u64);
        for (name, x, shape) in &small {
            let e = r.entry(name).unwrap();
            assert_eq!(e.blocks.len(), 1);
            let c = if e.blocks[0].raw {
                4 * x.len() as u64
            } else {
                coded += 1;
                let frame = enc.compress(x, shape, None).unwrap().bytes;
                // docs/FORMAT.md: a frame header is 16 + 8·rank + 52 bytes, the CRC 4.
                (frame.len() - (16 + 8 * shape.len() + 52) - 4) as u64
            };
            content += c;
            worst = worst.max(e.stored_bytes() - c);
        }
        let names: u64 = small.iter().map(|t| t.0.len() as u64).sum();
        // Fixed per archive: header 8, footer 16; in the index its version, the frames'
        // version, the tensor count (1 byte below 128 tensors) and the metadata length.
        let per_tensor =
            (bytes.len() as u64 - 8 - 16 - 4 - content - names) as f64 / small.len() as f64;
        let raw: u64 = small.iter().map(|t| 4 * t.1.len() as u64).sum();
        println!(
            "{bound:?}: {per_tensor:.2} bytes per tensor besides name and content ({} tensors, {coded} coded; data section at most {worst} bytes above the content of a tensor); stored {} of raw {raw}",
            small.len(),
            r.entries().iter().map(|e| e.stored_bytes()).sum::<u64>()
        );
        assert!(coded >= 5, "{bound:?}: the coded path is measured too");
        assert!(per_tensor <= 16.0, "{bound:?}: {per_tensor}");
        // No tensor is stored larger than its raw bytes.
        assert!(r
            .entries()
            .iter()
            .all(|e| e.stored_bytes() <= e.raw_bytes()));
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: u64,
}
impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}
impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn reading_one_of_100_tensors_reads_only_its_bytes_and_the_index() {
    let ts = tensors();
    let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
    let mut stored = Vec::new();
    for i in 0..100 {
        let (n, d, s) = &ts[i % ts.len()];
        let e = w
            .add_f32(&format!("{i:03}/{n}"), d, s, Bound::RelativeL2(1e-3))
            .unwrap();
        stored.push(e.stored_bytes());
    }
    let bytes = w.finish().unwrap();
    let index_len = bytes.len() as u64 - 8 - 16 - stored.iter().sum::<u64>();
    let r = ArchiveReader::new(
        Counting {
            inner: Cursor::new(&bytes),
            read: 0,
        },
        ReadOptions::default(),
    )
    .unwrap();
    let opened = r.into_inner().read;
    assert_eq!(
        opened,
        8 + 16 + index_len,
        "opening reads the header, footer and index only"
    );
    for pick in [0usize, 57, 99] {
        let mut r = ArchiveReader::new(
            Counting {
                inner: Cursor::new(&bytes),
                read: 0,
            },
            ReadOptions::default(),
        )
        .unwrap();
        let name = r.entries()[pick].name.clone();
        let x = &ts[pick % ts.len()].1;
        assert_eq!(r.read_f32(&name).unwrap().len(), x.len());
        let read = r.into_inner().read;
        assert_eq!(read, opened + stored[pick], "tensor {pick}");
        assert!(read * 4 < bytes.len() as u64);
    }
}

#[test]
fn a_row_range_reads_only_its_blocks() {
    let (name, x, shape) = tensors().into_iter().max_by_key(|t| t.1.len()).unwrap();
    let row = shape[1..].iter().product::<usize>();
    let opts = ArchiveOptions::default().with_block_values(16 * row); // 16 rows per block
    let bytes = write(
        &[(name.clone(), x.clone(), shape.clone())],
        Bound::MaxAbs(1e-5),
        opts,
    );
    let open_cost = {
        let r = ArchiveReader::new(
            Counting {
                inner: Cursor::new(&bytes),
                read: 0,
            },
            ReadOptions::default(),
        )
        .unwrap();
        r.into_inner().read
    };
    let mut r = ArchiveReader::new(
        Counting {
            inner: Cursor::new(&bytes),
            read: 0,
        },
        ReadOptions::default(),
    )
    .unwrap();
    let full = r.read_f32(&name).unwrap();
    let e = r.entry(&name).unwrap().clone();
    assert_eq!(e.blocks.len(), shape[0].div_ceil(16));
    for (a, b) in [
        (0usize, 1usize),
        (15, 17),
        (20, 20),
        (shape[0] - 3, shape[0]),
    ] {
        let mut r = ArchiveReader::new(
            Counting {
                inner: Cursor::new(&bytes),
                read: 0,
            },
            ReadOptions::default(),
        )
        .unwrap();
        let part = r.read_f32_rows(&name, a..b).unwrap();
        assert_eq!(part, full[a * row..b * row], "rows {a}..{b}");
        // Blocks 16 rows wide: rows a..b touch blocks a/16 ..= (b-1)/16.
        let expect: u64 = if a == b {
            0
        } else {
            (a / 16..=(b - 1) / 16).map(|i| e.blocks[i].len).sum()
        };
        assert_eq!(r.into_inner().read, open_cost + expect, "rows {a}..{b}");
    }
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 3..2;
    assert!(r.read_f32_rows(&name, reversed).is_err());
    assert!(r.read_f32_rows(&name, 0..shape[0] + 1).is_err());
}

#[test]
fn other_dtypes_round_trip_as_raw_bytes() {
    let mut w =
        ArchiveWriter::new(Vec::new(), ArchiveOptions::default().with_block_values(5)).unwrap();
    let b16: Vec<u8> = (0u8..24).collect();
    w.add_bytes("h", Dtype::BF16, &[3, 4], &b16).unwrap();
    w.add_bytes("i", Dtype::I64, &[], &(-7i64).to_le_bytes())
        .unwrap();
    w.add_bytes("f", Dtype::F32, &[2], &[0, 0, 128, 63, 0, 0, 0, 192])
        .unwrap();
    assert_eq!(
        w.add_bytes("z", Dtype::U8, &[0, 4], &[])
            .unwrap()
            .n_values(),
        0
    );
    assert!(w.add_bytes("bad", Dtype::I32, &[2], &[0; 7]).is_err());
    assert_eq!(
        w.add_bytes("h", Dtype::U8, &[1], &[1]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    w.set_metadata(b"{\"k\":\"v\"}");
    let bytes = w.finish().unwrap();
    let mut r = reader(&bytes).unwrap();
    assert_eq!(r.read_bytes("h").unwrap(), b16);
    assert!(r.entry("h").unwrap().blocks.len() > 1);
    assert_eq!(r.read_bytes("i").unwrap(), (-7i64).to_le_bytes());
    assert_eq!(r.read_f32("f").unwrap(), [1.0, -2.0]);
    assert_eq!(r.read_bytes("z").unwrap(), Vec::<u8>::new());
    assert!(r.read_f32("h").is_err());
    assert!(r.read_f32("missing").is_err());
    assert_eq!(r.metadata(), b"{\"k\":\"v\"}");
    assert_eq!(r.verify().unwrap(), 4);
}

#[test]
fn output_is_deterministic_across_threads() {
    let ts: Vec<_> = tensors().into_iter().take(8).collect();
    let a = write(&ts, Bound::RelativeL2(1e-2), ArchiveOptions::default());
    let b = write(
        &ts,
        Bound::RelativeL2(1e-2),
        ArchiveOptions::default().with_threads(2),
    );
    assert_eq!(a, b);
}

#[test]
fn every_flipped_byte_and_every_truncation_is_refused() {
    let ts: Vec<_> = tensors()
        .into_iter()
        .filter(|t| t.1.len() <= 1280)
        .take(3)
        .collect();
    let bytes = write(&ts, Bound::RelativeL2(1e-2), ArchiveOptions::default());
    let check = |b: &[u8]| reader(b).and_then(|mut r| r.verify());
    check(&bytes).unwrap();
    for i in 0..bytes.len() {
        for flip in [1u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            assert!(
                check(&b).is_err(),
                "flip {flip:#x} at byte {i} of {} was accepted",
                bytes.len()
            );
        }
    }
    for n in 0..bytes.len() {
        assert!(check(&bytes[..n]).is_err(), "truncation to {n}");
    }
}

// ---- Archives written by hand from docs/FORMAT.md -------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// An archive of raw blocks: (name, dtype id, shape, rows_per_block, blocks' stored bytes).
type HandEntry<'a> = (&'a str, u8, &'a [u64], u64, Vec<Vec<u8>>);

fn hand_archive(entries: &[HandEntry]) -> Vec<u8> {
    let mut out = b"ALCA\x01\0\0\0".to_vec();
    let mut index = vec![1u8];
    varint(&mut index, entries.len() as u64);
    for (name, dtype, shape, rpb, blocks) in entries {
        varint(&mut index, name.len() as u64);
        index.extend_from_slice(name.as_bytes());
        // Mode byte: lossless (3), plus 0x20 for a single block (no rows-per-block field).
        let one = if *rpb == 0 { 0x20 } else { 0 };
        index.extend_from_slice(&[*dtype, 3 | one, shape.len() as u8]);
        for &d in *shape {
            varint(&mut index, d);
        }
        if *rpb != 0 {
            varint(&mut index, *rpb);
        }
        for b in blocks {
            out.extend_from_slice(b);
            varint(&mut index, (b.len() as u64) << 1 | 1);
            index.extend_from_slice(&crc32fast::hash(b).to_le_bytes());
        }
    }
    index.push(0); // no metadata
    out.extend_from_slice(&index);
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
    out.extend_from_slice(b"ALCA");
    out
}

#[test]
fn the_documented_layout_reads() {
    let b = hand_archive(&[
        (
            "a",
            1,
            &[2],
            0,
            vec![[1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect()],
        ),
        ("b", 20, &[3, 1], 2, vec![vec![7, 8], vec![9]]),
        // Ids 2 and 3 are bfloat16 and float16, as in frames; raw blocks hold their bytes.
        ("c", 2, &[1], 0, vec![vec![0x80, 0x3f]]),
        ("d", 3, &[1], 0, vec![vec![0x00, 0x3c]]),
    ]);
    let mut r = reader(&b).unwrap();
    assert_eq!(r.entry("c").unwrap().dtype, Dtype::BF16);
    assert_eq!(r.entry("d").unwrap().dtype, Dtype::F16);
    assert_eq!(r.read_bytes("c").unwrap(), [0x80, 0x3f]);
    assert_eq!(r.read_f32("a").unwrap(), [1.0, 2.0]);
    assert_eq!(r.read_bytes("b").unwrap(), [7, 8, 9]);
    assert_eq!(r.entry("b").unwrap().blocks[1].offset, 8 + 8 + 2);
}

#[test]
fn the_documented_version_2_layout_reads() {
    // A coded block made by hand from a frame at the offsets of docs/FORMAT.md: the head byte
    // (backend | flags << 3 | lossless << 5 | log2 code width << 6), then the frame's sections.
    let x: Vec<f32> = (0..500).map(|i| (i as f32 * 0.37).sin()).collect();
    let enc =
        alcm::Encoder::new(alcm::EncoderConfig::default().with_mode(alcm::Mode::RelativeL2(1e-2)))
            .unwrap();
    let frame = enc.compress(&x, &[500], None).unwrap().bytes;
    let (version, mode, backend, flags, code_width) =
        (frame[4], frame[5], frame[6], frame[7], frame[10]);
    assert_eq!(
        (mode, flags & 1),
        (1, 0),
        "a relative-L2 frame without exceptions"
    );
    let mut block = vec![backend | flags << 3 | (code_width.trailing_zeros() as u8) << 6];
    block.extend_from_slice(&frame[16 + 8 + 52..frame.len() - 4]);
    let raw: Vec<u8> = vec![7, 8, 9];
    let mut out = b"ALCA\x02\0\0\0".to_vec();
    let mut index = vec![2u8, version, 2];
    // "w": float32, head: rank 1 << 4 | one block 0x08 | relative L2 1; shape 500; bound;
    // achieved (any u16); the block.
    varint(&mut index, 1);
    index.extend_from_slice(b"w");
    index.extend_from_slice(&[1, 0x10 | 0x08 | 1]);
    varint(&mut index, 500);
    index.extend_from_slice(&1e-2f32.to_le_bytes());
    index.extend_from_slice(&65535u16.to_le_bytes());
    varint(&mut index, (block.len() as u64) << 1);
    index.extend_from_slice(&crc32fast::hash(&block).to_le_bytes());
    out.extend_from_slice(&block);
    // "b": uint8 [3, 1], lossless 3, rank 2, 2 rows per block: raw blocks of 2 and 1 bytes.
    varint(&mut index, 1);
    index.extend_from_slice(b"b");
    index.extend_from_slice(&[20, 0x20 | 3, 3, 1, 2]);
    for b in [&raw[..2], &raw[2..]] {
        varint(&mut index, (b.len() as u64) << 1 | 1);
        index.extend_from_slice(&crc32fast::hash(b).to_le_bytes());
        out.extend_from_slice(b);
    }
    index.push(0);
    out.extend_from_slice(&index);
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
    out.extend_from_slice(b"ALCA");
    let mut r = reader(&out).unwrap();
    assert_eq!(
        r.read_f32("w").unwrap(),
        alcm::decompress(&frame).unwrap().data
    );
    assert_eq!(
        r.entry("w").unwrap().bound,
        Bound::RelativeL2(1e-2f32 as f64)
    );
    assert_eq!(r.read_bytes("b").unwrap(), raw);
    assert_eq!(r.entry("b").unwrap().shape, [3, 1]);
    // The head byte flagging a lossless frame in a lossless tensor is required: a "lossy"
    // block of a lossless tensor is refused. Mode 0 is no mode.
    let at = out.len() - 16 - index.len();
    for (pos, byte) in [(5, 0x10 | 0x08 | 3), (5, 0x10 | 0x08)] {
        let mut bad_index = index.clone();
        bad_index[pos] = byte;
        let mut bad = out[..at].to_vec();
        bad.extend_from_slice(&bad_index);
        bad.extend_from_slice(&(bad_index.len() as u64).to_le_bytes());
        bad.extend_from_slice(&crc32fast::hash(&bad_index).to_le_bytes());
        bad.extend_from_slice(b"ALCA");
        let read = reader(&bad).and_then(|mut r| r.read_f32("w"));
        assert!(read.is_err(), "head {byte:#x}");
    }
}

#[test]
fn an_empty_tensor_with_overflowing_rows_is_refused() {
    // Found by fuzzing: a first dimension of 0 makes the product 0, but the row length
    // 2^40 · 2^40 overflows; reader and writer refuse it instead of overflowing.
    let huge: &[u64] = &[0, 1 << 40, 1 << 40];
    let b = hand_archive(&[("z", 1, huge, 0, vec![vec![]])]);
    assert_eq!(
        reader(&b).err().map(|e| e.kind()),
        Some(ErrorKind::TooLarge)
    );
    let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
    let e = w.add_bytes("z", Dtype::U8, &[0, 1 << 40, 1 << 40], &[]);
    assert_eq!(e.err().map(|e| e.kind()), Some(ErrorKind::InvalidArgument));
    // Within range, an empty tensor is fine.
    w.add_bytes("e", Dtype::U8, &[0, 1 << 20, 1 << 20], &[])
        .unwrap();
}

#[test]
fn duplicate_names_bombs_and_inconsistent_indexes_are_refused() {
    let dup = hand_archive(&[
        ("w", 20, &[1], 0, vec![vec![1]]),
        ("w", 20, &[1], 0, vec![vec![2]]),
    ]);
    assert_eq!(reader(&dup).err().unwrap().kind(), ErrorKind::Corrupt);
    // A shape of 2^62 raw bytes in a tiny file: refused when the index is read.
    let bomb = hand_archive(&[("w", 20, &[1 << 62], 0, vec![vec![1]])]);
    assert!(reader(&bomb).is_err());
    // A shape overflowing 64 bits.
    let over = hand_archive(&[("w", 19, &[1 << 40, 1 << 40], 0, vec![vec![1]])]);
    assert_eq!(reader(&over).err().unwrap().kind(), ErrorKind::TooLarge);
    // Rows per block of 1 on 2^40 rows: more blocks than the index could hold.
    let blocks = hand_archive(&[("w", 20, &[1 << 40], 1, vec![vec![1]])]);
    assert_eq!(reader(&blocks).err().unwrap().kind(), ErrorKind::Corrupt);
    // Unknown dtype, rank 9, bytes the index does not account for.
    assert!(reader(&hand_archive(&[("w", 99, &[1], 0, vec![vec![1]])])).is_err());
    assert!(reader(&hand_archive(&[("w", 20, &[1; 9], 0, vec![vec![1]])])).is_err());
    let mut gap = hand_archive(&[("w", 20, &[1], 0, vec![vec![1]])]);
    gap.insert(8, 0);
    assert!(reader(&gap).is_err());
}

#[test]
fn a_coded_block_declaring_a_huge_shape_is_refused_before_allocating() {
    // A real 2-value frame body, but the index says 2^31 values: the frame's expansion bound
    // (or the reader's value limit) refuses it with no 8 GiB allocation.
    let x: Vec<f32> = (0..4096).map(|i| (i as f32).sin()).collect();
    let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
    w.add_f32("x", &x, &[4096], Bound::RelativeL2(1e-2))
        .unwrap();
    let bytes = w.finish().unwrap();
    let r = reader(&bytes).unwrap();
    let e = r.entry("x").unwrap().clone();
    assert!(!e.blocks[0].raw);
    // Patch the dimension varint 4096 (0x80 0x20) to 2^31 (5 bytes) and re-checksum the index.
    // It follows the version-2 head byte: rank 1 << 4 | one block 0x08 | relative L2 1.
    let index_len =
        u64::from_le_bytes(bytes[bytes.len() - 16..bytes.len() - 8].try_into().unwrap()) as usize;
    let start = bytes.len() - 16 - index_len;
    let mut index = bytes[start..bytes.len() - 16].to_vec();
    let pos = index
        .windows(3)
        .position(|w| w == [0x19, 0x80, 0x20])
        .unwrap()
        + 1;
    index.splice(pos..pos + 2, [0x80, 0x80, 0x80, 0x80, 0x08]);
    let mut b = bytes[..start].to_vec();
    b.extend_from_slice(&index);
    b.extend_from_slice(&(index.len() as u64).to_le_bytes());
    b.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
    b.extend_from_slice(b"ALCA");
    let mut r = reader(&b).unwrap();
    assert_eq!(r.entry("x").unwrap().shape, [1usize << 31]);
    assert!(r.read_f32("x").is_err());
    let mut r = ArchiveReader::new(
        Cursor::new(&b),
        ReadOptions::default().with_max_values(1 << 20),
    )
    .unwrap();
    assert_eq!(r.read_f32("x").unwrap_err().kind(), ErrorKind::TooLarge);
}

#[test]
fn fuzz_seed_archives_open_and_verify() {
    // fuzz/corpus/archive: one mode byte, then an archive written by the CLI.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/archive");
    let mut n = 0;
    for p in std::fs::read_dir(dir).unwrap() {
        let b = std::fs::read(p.unwrap().path()).unwrap();
        if let Ok(mut r) = reader(&b[1..]) {
            n += (r.verify().unwrap() > 0) as usize;
        }
    }
    assert!(n >= 3);
}
