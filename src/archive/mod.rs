//! Archives: many named tensors in one file (docs/FORMAT.md, "Archive"). Each tensor is
//! stored as one or more independently readable blocks — compact codec frames whose shape,
//! element type, mode and bound live in the index, or the raw bytes where those are not
//! larger — followed by an index (name, dtype, shape, mode, bound, achieved error, block
//! lengths and CRCs) and a fixed footer. A reader needs the footer and index only, then reads
//! exactly the blocks of the tensor (or rows) it is asked for.
//!
//! ```
//! use alcm::archive::{ArchiveReader, ArchiveWriter, ArchiveOptions, Bound, ReadOptions};
//! let w = 0.01f32;
//! let weights: Vec<f32> = (0..64 * 32).map(|i| (i as f32 * 0.37).sin() * w).collect();
//! let mut writer = ArchiveWriter::new(Vec::new(), ArchiveOptions::default())?;
//! writer.add_f32("fc.weight", &weights, &[64, 32], Bound::RelativeL2(1e-3))?;
//! writer.add_f32("fc.bias", &[0.5, -0.25], &[2], Bound::Lossless)?;
//! let bytes = writer.finish()?;
//! let mut reader = ArchiveReader::new(std::io::Cursor::new(bytes), ReadOptions::default())?;
//! assert_eq!(reader.read_f32("fc.bias")?, [0.5, -0.25]);
//! assert_eq!(reader.entry("fc.weight").unwrap().shape, [64, 32]);
//! # Ok::<(), alcm::Error>(())
//! ```

mod budget;
mod dtype;
mod index;
mod predict;
mod reader;
mod writer;

pub use crate::util::fsutil::AtomicFile;
pub use budget::{plan_bytes, plan_rel_l2, BudgetMethod, BudgetTensor};
pub use dtype::Dtype;
pub use index::{
    BlockInfo, Bound, EntryInfo, ARCHIVE_MAGIC, ARCHIVE_VERSION, FOOTER_LEN, HEADER_LEN,
    OLDEST_ARCHIVE_VERSION,
};
pub use predict::{CurveModel, CURVE_FEATURES};
pub use reader::{ArchiveReader, ReadOptions};
pub use writer::{ArchiveOptions, ArchiveWriter, DEFAULT_BLOCK_VALUES};
