//! Model files in and out of archives: `.safetensors` (its JSON header is kept verbatim in the
//! archive's metadata, so a lossless round trip gives back the identical file, and a lossy one
//! the same header, names, shapes and dtypes), `.npz` and `.npy`.

use std::ops::Range;
use std::path::Path;

use alcm::archive::{
    plan_bytes, plan_rel_l2, ArchiveOptions, ArchiveReader, ArchiveWriter, Bound, BudgetMethod,
    BudgetTensor, Dtype, EntryInfo, ReadOptions,
};
use alcm::NpyData;

use crate::policy::Policy;

/// A bfloat16 bit pattern's value (the upper half of a binary32).
fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// A binary16 bit pattern's value (1 sign, 5 exponent bits of bias 15, 10 mantissa bits); exact
/// in binary32.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h >> 15 == 1 { -1.0f32 } else { 1.0 };
    let (e, m) = ((h >> 10) & 31, (h & 1023) as f32);
    match e {
        0 => sign * m * 2f32.powi(-24),
        31 if m == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + m / 1024.0) * 2f32.powi(e as i32 - 15),
    }
}

/// Tag at the start of the archive metadata when it holds a safetensors header.
pub const SAFETENSORS_TAG: &[u8] = b"safetensors-header\n";

/// The kinds of file the tool reads and writes, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.safetensors`
    Safetensors,
    /// `.npz`
    Npz,
    /// `.npy` (one tensor)
    Npy,
    /// an alcm archive (`.alcm`)
    Archive,
}

/// The kind of `path`, from its extension.
pub fn kind_of(path: &Path) -> Result<Kind, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Ok(Kind::Safetensors),
        Some("npz") => Ok(Kind::Npz),
        Some("npy") => Ok(Kind::Npy),
        Some("alcm") => Ok(Kind::Archive),
        _ => Err(format!(
            "{}: unknown file type (expected .safetensors, .npz, .npy or .alcm)",
            path.display()
        )),
    }
}

/// One tensor of a model file: where its little-endian bytes are in `Model::bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTensor {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// Its bytes in [`Model::bytes`].
    pub range: Range<usize>,
}

/// The tensors of a model file, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// The data (a safetensors file whole; the concatenated arrays of an npz/npy).
    pub bytes: Vec<u8>,
    /// The tensors.
    pub tensors: Vec<ModelTensor>,
    /// A safetensors file's JSON header, verbatim.
    pub safetensors_header: Option<Vec<u8>>,
}

impl Model {
    /// The bytes of tensor `t`.
    pub fn data(&self, t: &ModelTensor) -> &[u8] {
        &self.bytes[t.range.clone()]
    }
    /// The values of a float32 tensor.
    /// A float tensor's values, exactly, as f64.
    pub fn values_f64(&self, t: &ModelTensor) -> Vec<f64> {
        let b = self.data(t);
        let u16s = || b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
        match t.dtype {
            Dtype::BF16 => u16s().map(|h| bf16_to_f32(h) as f64).collect(),
            Dtype::F16 => u16s().map(|h| f16_to_f32(h) as f64).collect(),
            Dtype::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            _ => self.f32s(t).iter().map(|&v| v as f64).collect(),
        }
    }

    /// A float tensor's values as float32 (exact for bfloat16 and float16, rounded for
    /// float64): what a model budget computes statistics on.
    pub fn values_f32(&self, t: &ModelTensor) -> Vec<f32> {
        match t.dtype {
            Dtype::F32 => self.f32s(t),
            _ => self.values_f64(t).iter().map(|&v| v as f32).collect(),
        }
    }

    /// A float32 tensor's values.
    pub fn f32s(&self, t: &ModelTensor) -> Vec<f32> {
        self.data(t)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
    /// Total raw bytes of the tensors.
    pub fn raw_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.range.len() as u64).sum()
    }
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Reads a `.safetensors`, `.npz` or `.npy` file.
pub fn read_model(path: &Path) -> Result<Model, String> {
    match kind_of(path)? {
        Kind::Safetensors => {
            let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
            safetensors_model(bytes).map_err(|e| err(path, e))
        }
        Kind::Npz => {
            let arrays = alcm::read_npz_file(path).map_err(|e| e.to_string())?;
            Ok(npy_model(arrays))
        }
        Kind::Npy => {
            let a = alcm::read_npy(path).map_err(|e| e.to_string())?;
            let name = path
                .file_stem()
                .map_or("array".into(), |s| s.to_string_lossy().into_owned());
            Ok(npy_model(vec![(name, a)]))
        }
        Kind::Archive => Err(err(path, "is an archive already (use decompress)")),
    }
}

/// Parses safetensors file bytes (checked by the safetensors crate).
pub fn safetensors_model(bytes: Vec<u8>) -> Result<Model, String> {
    let (n, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| format!("not a valid safetensors file: {e:?}"))?;
    let mut infos: Vec<_> = meta.tensors().into_iter().collect();
    infos.sort_by_key(|(_, i)| i.data_offsets);
    let mut tensors = Vec::with_capacity(infos.len());
    for (name, info) in infos {
        let dtype = Dtype::from_safetensors_name(&format!("{:?}", info.dtype))
            .map_err(|e| format!("{name}: {}", e.message()))?;
        let (a, b) = info.data_offsets;
        tensors.push(ModelTensor {
            name,
            dtype,
            shape: info.shape.clone(),
            range: 8 + n + a..8 + n + b,
        });
    }
    let header = bytes[8..8 + n].to_vec();
    Ok(Model {
        bytes,
        tensors,
        safetensors_header: Some(header),
    })
}

fn npy_model(arrays: Vec<(String, alcm::NpyArray)>) -> Model {
    let mut m = Model::default();
    for (name, a) in arrays {
        let start = m.bytes.len();
        let dtype = match &a.data {
            NpyData::F32(v) => {
                m.bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                Dtype::F32
            }
            NpyData::F64(v) => {
                m.bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                Dtype::F64
            }
            NpyData::I32(v) => {
                m.bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                Dtype::I32
            }
            NpyData::I64(v) => {
                m.bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                Dtype::I64
            }
            NpyData::U8(v) => {
                m.bytes.extend_from_slice(v);
                Dtype::U8
            }
            NpyData::Bool(v) => {
                m.bytes.extend(v.iter().map(|&b| b as u8));
                Dtype::Bool
            }
        };
        let name = name.strip_suffix(".npy").unwrap_or(&name).to_owned();
        m.tensors.push(ModelTensor {
            name,
            dtype,
            shape: a.shape,
            range: start..m.bytes.len(),
        });
    }
    m
}

/// Writes `model` into an archive with the bounds of `policy`; `progress` is called after each
/// tensor with its index. Float tensors (float32, bfloat16, float16, float64) are compressed,
/// other types stored raw.
pub fn compress_model(
    model: &Model,
    policy: &Policy,
    options: ArchiveOptions,
    progress: impl FnMut(usize),
) -> Result<Vec<u8>, String> {
    let bounds: Vec<Bound> = model
        .tensors
        .iter()
        .map(|t| policy.bound_for(&t.name))
        .collect();
    compress_with_bounds(model, &bounds, options, progress)
}

/// Per-tensor bounds within a model-level budget over every float tensor (float32, bfloat16,
/// float16, float64, each counted in its own type; the other types are written lossless and do
/// not count): `policy`'s overrides are kept fixed, the rest planned.
pub fn plan_budget(
    model: &Model,
    policy: &Policy,
    budget: Budget,
    options: &ArchiveOptions,
) -> Result<Vec<Bound>, String> {
    let values: Vec<(usize, Vec<f32>)> = model
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| t.dtype.is_coded())
        .map(|(i, t)| (i, model.values_f32(t)))
        .collect();
    let bt: Vec<BudgetTensor> = values
        .iter()
        .map(|(i, v)| {
            let t = &model.tensors[*i];
            let fixed = policy
                .overrides
                .iter()
                .any(|(g, _)| crate::policy::glob_match(g, &t.name))
                .then(|| policy.bound_for(&t.name));
            BudgetTensor {
                name: &t.name,
                data: v,
                shape: &t.shape,
                fixed,
                stored: (t.dtype != Dtype::F32).then(|| (t.dtype, model.data(t))),
            }
        })
        .collect();
    let planned = match budget {
        Budget::RelL2(e, m) => plan_rel_l2(&bt, e, m, options),
        Budget::Bytes(b) => plan_bytes(&bt, b, options),
    }
    .map_err(|e| e.to_string())?;
    let mut bounds = vec![Bound::Lossless; model.tensors.len()];
    for ((i, _), b) in values.iter().zip(planned) {
        bounds[*i] = b;
    }
    Ok(bounds)
}

/// A model-level budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// ‖X − X̂‖ ≤ ε‖X‖ over all float tensors, planned by the method.
    RelL2(f64, BudgetMethod),
    /// Stored tensor bytes at most this.
    Bytes(u64),
}

/// The whole model's relative L2 error as the archive records it (every float tensor, in its
/// own type).
pub fn model_rel_l2(model: &Model, entries: &[EntryInfo]) -> f64 {
    let (mut e2, mut n2) = (0f64, 0f64);
    for (t, e) in model
        .tensors
        .iter()
        .zip(entries)
        .filter(|(t, _)| t.dtype.is_coded())
    {
        let x2: f64 = model
            .values_f64(t)
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v * v)
            .sum();
        n2 += x2;
        let n = (t.range.len() / t.dtype.size()) as f64;
        e2 += match e.bound {
            Bound::RelativeL2(_) => e.achieved * e.achieved * x2,
            Bound::MaxAbs(_) => e.achieved * e.achieved * n,
            _ => 0.0,
        };
    }
    if n2 > 0.0 {
        (e2 / n2).sqrt()
    } else {
        0.0
    }
}

/// Writes `model` into an archive with one bound per tensor.
pub fn compress_with_bounds(
    model: &Model,
    bounds: &[Bound],
    options: ArchiveOptions,
    progress: impl FnMut(usize),
) -> Result<Vec<u8>, String> {
    let w = ArchiveWriter::new(Vec::new(), options).map_err(|e| e.to_string())?;
    Ok(write_archive(model, bounds, w, progress)?.0)
}

/// Writes `model` with one bound per tensor through `w` (tensor by tensor: only one tensor's
/// blocks are in memory besides the model); returns the writer's output and the index entries.
pub fn write_archive<W: std::io::Write>(
    model: &Model,
    bounds: &[Bound],
    mut w: ArchiveWriter<W>,
    mut progress: impl FnMut(usize),
) -> Result<(W, Vec<EntryInfo>), String> {
    if let Some(h) = &model.safetensors_header {
        w.set_metadata(&[SAFETENSORS_TAG, h].concat());
    }
    for (i, t) in model.tensors.iter().enumerate() {
        let r = if t.dtype == Dtype::F32 {
            w.add_f32(&t.name, &model.f32s(t), &t.shape, bounds[i])
        } else {
            // The other float types are coded with their bound; the rest stored raw.
            w.add_typed(&t.name, t.dtype, &t.shape, model.data(t), bounds[i])
        };
        r.map_err(|e| format!("{}: {}", t.name, e.message()))?;
        progress(i);
    }
    let entries = w.entries().to_vec();
    Ok((w.finish().map_err(|e| e.to_string())?, entries))
}

/// Opens archive bytes.
pub fn open_archive(
    bytes: &[u8],
    threads: usize,
) -> Result<ArchiveReader<std::io::Cursor<&[u8]>>, String> {
    ArchiveReader::new(
        std::io::Cursor::new(bytes),
        ReadOptions::default().with_threads(threads),
    )
    .map_err(|e| e.to_string())
}

/// The file bytes of an archive's tensors written as `kind`.
pub fn decompress_archive<R: std::io::Read + std::io::Seek>(
    r: &mut ArchiveReader<R>,
    kind: Kind,
    mut progress: impl FnMut(usize),
) -> Result<Vec<u8>, String> {
    let entries: Vec<EntryInfo> = r.entries().to_vec();
    let mut tensors = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        tensors.push(
            r.read_bytes(&e.name)
                .map_err(|err| format!("{}: {}", e.name, err.message()))?,
        );
        progress(i);
    }
    match kind {
        Kind::Safetensors => match r.metadata().strip_prefix(SAFETENSORS_TAG) {
            Some(header) => safetensors_with_header(header, &entries, &tensors),
            None => {
                let views = entries
                    .iter()
                    .zip(&tensors)
                    .map(|(e, d)| {
                        let dt: safetensors::Dtype = serde_json::from_value(
                            serde_json::Value::String(e.dtype.safetensors_name().into()),
                        )
                        .map_err(|x| x.to_string())?;
                        safetensors::tensor::TensorView::new(dt, e.shape.clone(), d)
                            .map(|v| (e.name.clone(), v))
                            .map_err(|x| format!("{}: {x:?}", e.name))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                safetensors::serialize(views, &None).map_err(|e| format!("{e:?}"))
            }
        },
        Kind::Npz => {
            let members = entries
                .iter()
                .zip(&tensors)
                .map(|(e, d)| Ok((e.name.as_str(), npy_bytes(e, d)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(alcm::npz_bytes(&members))
        }
        Kind::Npy => match (entries.as_slice(), tensors.as_slice()) {
            ([e], [d]) => npy_bytes(e, d),
            _ => Err(format!(
                "the archive holds {} tensors: .npy holds one (use .npz or .safetensors)",
                entries.len()
            )),
        },
        Kind::Archive => Err("the output must be .safetensors, .npz or .npy".into()),
    }
}

/// The original file: its header verbatim, then each tensor at the offsets it declares.
fn safetensors_with_header(
    header: &[u8],
    entries: &[EntryInfo],
    tensors: &[Vec<u8>],
) -> Result<Vec<u8>, String> {
    let meta: safetensors::tensor::Metadata = serde_json::from_slice(header)
        .map_err(|e| format!("the archive's safetensors header is invalid: {e}"))?;
    let infos = meta.tensors();
    if infos.len() != entries.len() {
        return Err("the archive's safetensors header does not list its tensors".into());
    }
    let data_len = infos.values().map(|i| i.data_offsets.1).max().unwrap_or(0);
    let start = 8 + header.len();
    let mut out = Vec::with_capacity(start + data_len);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header);
    out.resize(start + data_len, 0);
    for (e, d) in entries.iter().zip(tensors) {
        let i = infos
            .get(&e.name)
            .ok_or_else(|| format!("{}: not in the safetensors header", e.name))?;
        let (a, b) = i.data_offsets;
        if b - a != d.len()
            || i.shape != e.shape
            || format!("{:?}", i.dtype) != e.dtype.safetensors_name()
        {
            return Err(format!("{}: does not match the safetensors header", e.name));
        }
        out[start + a..start + b].copy_from_slice(d);
    }
    safetensors::SafeTensors::deserialize(&out)
        .map_err(|e| format!("rebuilt safetensors file is invalid: {e:?}"))?;
    Ok(out)
}

/// A `.npy` file of raw little-endian bytes (format 1.0; 64-byte aligned header).
pub fn npy_bytes(e: &EntryInfo, data: &[u8]) -> Result<Vec<u8>, String> {
    let descr = e
        .dtype
        .numpy_descr()
        .ok_or_else(|| format!("{}: numpy has no {:?}: write .safetensors", e.name, e.dtype))?;
    let order = if e.dtype.size() == 1 { '|' } else { '<' };
    let shape = match e.shape.as_slice() {
        [d] => format!("({d},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h =
        format!("{{'descr': '{order}{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| err(path, e))
}
