//! Element types an archive records (the index's dtype byte), and the one place that maps them
//! to and from the names used by safetensors and numpy. The float types the codec knows
//! (float32, bfloat16, float16, float64: [`Dtype::is_coded`]) go through it and keep the
//! frame's `ALCM_DTYPE_*` ids (`crate::abi`); every other type is stored losslessly as its raw
//! little-endian bytes.

use crate::abi;
use crate::error::{Error, Result};

/// The element type of an archived tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// IEEE 754 binary32 (compressed by the codec, as are the three types below).
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE 754 binary64.
    F64,
    /// Signed integers of 8, 16, 32 and 64 bits.
    I8,
    /// See [`Dtype::I8`].
    I16,
    /// See [`Dtype::I8`].
    I32,
    /// See [`Dtype::I8`].
    I64,
    /// Unsigned integers of 8, 16, 32 and 64 bits.
    U8,
    /// See [`Dtype::U8`].
    U16,
    /// See [`Dtype::U8`].
    U32,
    /// See [`Dtype::U8`].
    U64,
    /// One byte, 0 or 1.
    Bool,
    /// 8-bit float, 5 exponent bits (safetensors `F8_E5M2`).
    F8E5M2,
    /// 8-bit float, 4 exponent bits (safetensors `F8_E4M3`).
    F8E4M3,
}

// (type, id in the index, bytes per element, safetensors name, numpy descr without byte order)
const TABLE: [(Dtype, u8, usize, &str, &str); 15] = [
    (Dtype::F32, abi::ALCM_DTYPE_F32 as u8, 4, "F32", "f4"),
    (Dtype::F16, abi::ALCM_DTYPE_F16 as u8, 2, "F16", "f2"),
    (Dtype::BF16, abi::ALCM_DTYPE_BF16 as u8, 2, "BF16", ""),
    (Dtype::F64, abi::ALCM_DTYPE_F64 as u8, 8, "F64", "f8"),
    (Dtype::I8, 16, 1, "I8", "i1"),
    (Dtype::I16, 17, 2, "I16", "i2"),
    (Dtype::I32, 18, 4, "I32", "i4"),
    (Dtype::I64, 19, 8, "I64", "i8"),
    (Dtype::U8, 20, 1, "U8", "u1"),
    (Dtype::U16, 21, 2, "U16", "u2"),
    (Dtype::U32, 22, 4, "U32", "u4"),
    (Dtype::U64, 23, 8, "U64", "u8"),
    (Dtype::Bool, 24, 1, "BOOL", "b1"),
    (Dtype::F8E5M2, 32, 1, "F8_E5M2", ""),
    (Dtype::F8E4M3, 33, 1, "F8_E4M3", ""),
];

impl Dtype {
    fn row(self) -> &'static (Dtype, u8, usize, &'static str, &'static str) {
        // Every variant has a row (tested below).
        TABLE.iter().find(|r| r.0 == self).unwrap_or(&TABLE[0])
    }
    /// The id stored in the archive index.
    pub fn id(self) -> u8 {
        self.row().1
    }
    /// The type of a stored id.
    pub fn from_id(id: u8) -> Option<Dtype> {
        TABLE.iter().find(|r| r.1 == id).map(|r| r.0)
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        self.row().2
    }
    /// The safetensors name (`"F32"`, `"BF16"`, ...).
    pub fn safetensors_name(self) -> &'static str {
        self.row().3
    }
    /// The type of a safetensors name.
    pub fn from_safetensors_name(name: &str) -> Result<Dtype> {
        TABLE
            .iter()
            .find(|r| r.3 == name)
            .map(|r| r.0)
            .ok_or_else(|| Error::invalid_argument(format!("unsupported safetensors dtype {name}")))
    }
    /// The numpy type string without its byte order (`"f4"`), `None` where numpy has none.
    pub fn numpy_descr(self) -> Option<&'static str> {
        Some(self.row().4).filter(|s| !s.is_empty())
    }
    /// Whether tensors of this type go through the codec (lossy modes possible); the others
    /// are stored as raw bytes, losslessly, whatever bound is asked for.
    pub fn is_coded(self) -> bool {
        self.element_type().is_some()
    }

    /// The codec's element type of a coded type (its id is this type's id).
    pub fn element_type(self) -> Option<crate::format::Dtype> {
        match self {
            Dtype::F32 => Some(crate::format::Dtype::F32),
            Dtype::BF16 => Some(crate::format::Dtype::BF16),
            Dtype::F16 => Some(crate::format::Dtype::F16),
            Dtype::F64 => Some(crate::format::Dtype::F64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        for (i, r) in TABLE.iter().enumerate() {
            assert_eq!(Dtype::from_id(r.1), Some(r.0));
            assert_eq!(r.0.id(), r.1);
            assert_eq!(Dtype::from_safetensors_name(r.3).unwrap(), r.0);
            assert!(TABLE[i + 1..].iter().all(|o| o.0 != r.0 && o.1 != r.1));
        }
        assert_eq!(Dtype::F32.id(), 1);
        assert_eq!(Dtype::BF16.size(), 2);
        // The float types keep the frame format's ids: 1 f32, 2 bf16, 3 f16, 4 f64.
        assert_eq!(
            [Dtype::F32, Dtype::BF16, Dtype::F16, Dtype::F64].map(Dtype::id),
            [1, 2, 3, 4]
        );
        for r in &TABLE {
            match r.0.element_type() {
                Some(t) => assert_eq!((t.id(), t.width()), (r.1, r.2)),
                None => assert!(!r.0.is_coded() && r.1 > 4),
            }
        }
        assert!(Dtype::from_id(0).is_none());
        assert!(Dtype::from_safetensors_name("F4").is_err());
    }
}
